//! The environment the injected sidecar gets, as the kubelet hands it to the process,
//! loaded as podflow's configuration: every value arrives as written.

use crate::config::{Config, EnvLayer};
use crate::webhook::sidecar::kubelet;
use crate::webhook::sidecar::{build, Owner, PodFacts, Sidecar, Template};

/// The podflow configuration the sidecar of a pod with these field values loads, from
/// the environment the kubelet gives it.
fn sidecar_config(sidecar: &Sidecar, fields: &[(&str, &str)]) -> Config {
    let container = serde_json::to_value(&sidecar.container).unwrap();
    let env = kubelet::environment(&container, fields)
        .into_iter()
        .filter(|(k, _)| k.starts_with("PODFLOW_"));
    Config::from_figment(Config::figment(None, EnvLayer::from_vars(env)).unwrap()).unwrap()
}

const FIELDS: &[(&str, &str)] = &[
    ("metadata.name", "shop-web-7c9d8f6b5-x2x9k"),
    ("metadata.namespace", "shop"),
    ("metadata.uid", "0b1c6f3e-1111-2222-3333-444455556666"),
    ("spec.nodeName", "node-1"),
    ("status.hostIP", "192.168.1.10"),
    ("status.podIPs", "10.1.2.3,fd00::3"),
];

#[test]
fn injected_environment_is_a_valid_sidecar_configuration() {
    let mut config = Config::default();
    config.k8s.cluster_name = Some("prod".into());
    config.export.collector = "udp://10.0.0.5:4739".parse().unwrap();
    let template = Template::from(&config);
    let sidecar = build(
        &template,
        &PodFacts {
            owner: Owner::Workload {
                name: "shop-web".into(),
                kind: "Deployment".into(),
            },
            telemetry: true,
        },
    );
    let c = sidecar_config(&sidecar, FIELDS);
    assert_eq!(c.k8s.pod_name.as_deref(), Some("shop-web-7c9d8f6b5-x2x9k"));
    assert_eq!(
        c.k8s.pod_ips,
        vec![
            "10.1.2.3".parse::<std::net::IpAddr>().unwrap(),
            "fd00::3".parse().unwrap()
        ]
    );
    assert_eq!(c.k8s.node_ip, Some("192.168.1.10".parse().unwrap()));
    assert_eq!(c.k8s.workload_name.as_deref(), Some("shop-web"));
    assert_eq!(c.k8s.workload_kind.as_deref(), Some("Deployment"));
    assert_eq!(c.k8s.cluster_name.as_deref(), Some("prod"));
    assert_eq!(c.export.collector, config.export.collector);
    assert_eq!(c.telemetry.listen, "0.0.0.0:9477");
    assert_eq!(c.k8s.labels_file.to_str(), Some("/etc/podinfo/labels"));
}

#[test]
fn dollar_signs_in_names_and_settings_arrive_as_written() {
    let mut config = Config::default();
    // A collector whose path holds a reference and lone dollar signs.
    let collector = "file:/var/flows/$(POD_IPS)/$$a$b$(";
    config.export.collector = collector.parse().unwrap();
    config.k8s.cluster_name = Some("$(PODFLOW_K8S__POD_NAME)$".into());
    let template = Template::from(&config);
    for (name, kind) in [
        ("$(PODFLOW_EXPORT__COLLECTOR)", "Deployment"),
        ("$(POD_IPS)", "$(POD_IPS)"),
        ("a$$b", "$"),
    ] {
        let sidecar = build(
            &template,
            &PodFacts {
                owner: Owner::Workload {
                    name: name.into(),
                    kind: kind.into(),
                },
                telemetry: true,
            },
        );
        let c = sidecar_config(&sidecar, FIELDS);
        assert_eq!(c.k8s.workload_name.as_deref(), Some(name));
        assert_eq!(c.k8s.workload_kind.as_deref(), Some(kind));
        assert_eq!(c.export.collector.to_string(), collector);
        assert_eq!(
            c.k8s.cluster_name.as_deref(),
            Some("$(PODFLOW_K8S__POD_NAME)$")
        );
        // The one intended reference is still expanded.
        assert_eq!(c.k8s.pod_ips.len(), 2, "{name}");
    }
}

#[test]
fn single_stack_and_bare_pod() {
    let template = Template::from(&Config::default());
    let sidecar = build(
        &template,
        &PodFacts {
            owner: Owner::ThePod,
            telemetry: false,
        },
    );
    let mut fields = FIELDS.to_vec();
    fields[5] = ("status.podIPs", "10.1.2.3");
    // A pod named with a reference: a field's value is never expanded.
    fields[0] = ("metadata.name", "$(POD_IPS)");
    let c = sidecar_config(&sidecar, &fields);
    assert_eq!(c.k8s.pod_ips.len(), 1);
    assert_eq!(c.k8s.workload_name.as_deref(), Some("$(POD_IPS)"));
    assert_eq!(c.k8s.workload_kind.as_deref(), Some("Pod"));
    assert_eq!(c.telemetry.listen, "");
    assert!(sidecar.container.ports.is_none());
    assert!(
        sidecar.container.startup_probe.is_none(),
        "no port to probe"
    );
}
