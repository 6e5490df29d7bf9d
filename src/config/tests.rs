//! The root configuration: defaults, layers, and errors that name key, value and source.

use super::*;
use figment::Jail;

use std::path::PathBuf;

fn load(jail: &Jail, file: Option<&str>) -> Result<Config> {
    let path = file.map(|f| jail.directory().join(f));
    Config::from_figment(Config::figment(path.as_deref(), EnvLayer::from_process())?)
}

#[test]
fn shipped_config_file_documents_the_defaults() {
    Jail::expect_with(|_| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/podflow.toml");
        let c =
            Config::from_figment(Config::figment(Some(&path), EnvLayer::from_process()).unwrap())
                .map_err(|e| e.to_string())?;
        assert_eq!(c, Config::default());
        Ok(())
    });
}

#[test]
fn defaults_match_the_contract() {
    let c = Config::default();
    assert!(c.capture.interfaces.is_empty());
    assert_eq!(c.capture.pcap, None);
    assert_eq!(
        (c.flow.idle_timeout_secs, c.flow.active_timeout_secs),
        (15, 60)
    );
    assert_eq!(c.flow.max_flows, 262_144);
    assert!(c.flow.biflow);
    assert_eq!(c.export.collector, crate::export::Collector::Stdout);
    assert_eq!(c.export.template_refresh_secs, 60);
    assert_eq!(c.ipfix.enterprise_number, 32473);
    assert_eq!(c.ipfix.observation_domain_id, 1);
    assert_eq!(c.k8s.labels_file, PathBuf::from("/etc/podinfo/labels"));
    assert_eq!(
        c.k8s.annotations_file,
        PathBuf::from("/etc/podinfo/annotations")
    );
    assert_eq!(c.telemetry.listen, "0.0.0.0:9477");
    assert_eq!(c.webhook.listen, "0.0.0.0:8443");
}

#[test]
fn layers_file_then_env() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "p.toml",
            "[flow]\nidle_timeout_secs = 30\nactive_timeout_secs = 90\n[k8s]\npod_name = \"web-1\"\n",
        )?;
        jail.set_env("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "45");
        jail.set_env("PODFLOW_EXPORT__COLLECTOR", "udp://127.0.0.1:4739");
        let c = load(jail, Some("p.toml")).map_err(|e| e.to_string())?;
        assert_eq!(c.flow.idle_timeout_secs, 45);
        assert_eq!(c.flow.active_timeout_secs, 90);
        assert_eq!(c.k8s.pod_name.as_deref(), Some("web-1"));
        assert_eq!(
            c.export.collector,
            crate::export::Collector::Udp("127.0.0.1:4739".into())
        );
        Ok(())
    });
}

#[test]
fn yaml_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "p.yaml",
            "flow:\n  biflow: false\nk8s:\n  pod_ips: [10.0.0.7]\n",
        )?;
        let c = load(jail, Some("p.yaml")).map_err(|e| e.to_string())?;
        assert!(!c.flow.biflow);
        assert_eq!(
            c.k8s.pod_ips,
            vec!["10.0.0.7".parse::<std::net::IpAddr>().unwrap()]
        );
        Ok(())
    });
}

#[test]
fn numeric_looking_strings_stay_strings() {
    Jail::expect_with(|jail| {
        jail.set_env("PODFLOW_K8S__POD_NAME", "1234");
        let c = load(jail, None).map_err(|e| e.to_string())?;
        assert_eq!(c.k8s.pod_name.as_deref(), Some("1234"));
        Ok(())
    });
}

#[test]
fn errors_name_key_value_and_source() {
    Jail::expect_with(|jail| {
        jail.set_env("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "soon");
        let e = load(jail, None).unwrap_err().to_string();
        assert!(e.contains("flow.idle_timeout_secs"), "{e}");
        assert!(e.contains("soon"), "{e}");
        assert!(e.contains("PODFLOW_FLOW__IDLE_TIMEOUT_SECS"), "{e}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.create_file("p.toml", "[flow]\nidle_timeout_sec = 3\n")?;
        let e = load(jail, Some("p.toml")).unwrap_err().to_string();
        assert!(
            e.contains("unknown key flow.idle_timeout_sec = 3 from file"),
            "{e}"
        );
        assert!(e.contains("p.toml"), "{e}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("PODFLOW_EXPORT__COLLECTOR", "udp://collector");
        let e = load(jail, None).unwrap_err().to_string();
        assert!(e.contains("export.collector"), "{e}");
        assert!(e.contains("udp://collector"), "{e}");
        assert!(e.contains("PODFLOW_EXPORT__COLLECTOR"), "{e}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.create_file("p.toml", "[flow]\nmax_flows = 0\n")?;
        let e = load(jail, Some("p.toml")).unwrap_err().to_string();
        assert!(e.contains("flow.max_flows = 0"), "{e}");
        assert!(e.contains("p.toml"), "{e}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("PODFLOW_BOGUS__KEY", "1");
        let e = load(jail, None).unwrap_err().to_string();
        assert!(e.contains("unknown key bogus"), "{e}");
        assert!(e.contains("PODFLOW_BOGUS"), "{e}");
        Ok(())
    });
}

mod sidecar;
