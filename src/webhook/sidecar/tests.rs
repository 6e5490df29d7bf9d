//! Tests of the sidecar builder: the environment as the kubelet hands it to the process
//! (then loaded as podflow's configuration), the probe, native or regular.

use super::kubelet;
use super::*;
use crate::config::{Config, EnvLayer};
use crate::webhook::config::SecurityProfile;

/// The container's variables as written: a literal value, or `fieldRef:PATH`.
fn env_of(sidecar: &Sidecar) -> Vec<(String, String)> {
    sidecar
        .container
        .env
        .iter()
        .flatten()
        .map(|e| {
            let v = e.value.clone().unwrap_or_else(|| {
                let path = &e.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
                format!("fieldRef:{}", path.field_path)
            });
            (e.name.clone(), v)
        })
        .collect()
}

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

/// The facts of a pod whose owner is not known, with the telemetry port free.
fn unknown_owner() -> PodFacts {
    PodFacts {
        owner: Owner::Unknown,
        telemetry: true,
    }
}

fn workload(name: &str, kind: &str) -> Owner {
    Owner::Workload {
        name: name.into(),
        kind: kind.into(),
    }
}

#[test]
fn injected_environment_is_a_valid_sidecar_configuration() {
    let mut config = Config::default();
    config.k8s.cluster_name = Some("prod".into());
    config.export.collector = "udp://10.0.0.5:4739".parse().unwrap();
    let template = Template::from_config(&config);
    let sidecar = build(
        &template,
        &PodFacts {
            owner: workload("shop-web", "Deployment"),
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
    let template = Template::from_config(&config);
    for (name, kind) in [
        ("$(PODFLOW_EXPORT__COLLECTOR)", "Deployment"),
        ("$(POD_IPS)", "$(POD_IPS)"),
        ("a$$b", "$"),
    ] {
        let sidecar = build(
            &template,
            &PodFacts {
                owner: workload(name, kind),
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
fn only_the_pod_ips_reference_is_left_for_the_kubelet() {
    let mut config = Config::default();
    config.k8s.cluster_name = Some("$(X)".into());
    let sidecar = build(
        &Template::from_config(&config),
        &PodFacts {
            owner: workload("$(Y)", "Deployment"),
            telemetry: true,
        },
    );
    let unescaped: Vec<(String, String)> = env_of(&sidecar)
        .into_iter()
        .filter(|(_, v)| v.replace("$$", "").contains('$'))
        .collect();
    assert_eq!(
        unescaped,
        [(
            "PODFLOW_K8S__POD_IPS".to_string(),
            "[$(POD_IPS)]".to_string()
        )]
    );
}

#[test]
fn single_stack_and_bare_pod() {
    let template = Template::from_config(&Config::default());
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

#[test]
fn native_or_regular() {
    let mut config = Config::default();
    let facts = unknown_owner();
    let native = build(&Template::from_config(&config), &facts);
    assert!(native.native);
    assert_eq!(native.container.restart_policy.as_deref(), Some("Always"));
    config.webhook.sidecar.native = false;
    let regular = build(&Template::from_config(&config), &facts);
    assert!(!regular.native);
    assert_eq!(regular.container.restart_policy, None);
    assert!(
        regular.container.startup_probe.is_none(),
        "it gates nothing"
    );
    assert!(!env_of(&regular)
        .iter()
        .any(|(k, _)| k.starts_with("PODFLOW_K8S__WORKLOAD")));
}

#[test]
fn a_native_sidecar_with_telemetry_has_a_bounded_startup_probe_and_no_readiness() {
    let facts = unknown_owner();
    let sidecar = build(&Template::from_config(&Config::default()), &facts);
    let probe = serde_json::to_value(sidecar.container.startup_probe.as_ref().unwrap()).unwrap();
    assert_eq!(
        probe,
        serde_json::json!({
            "httpGet": {"path": "/startupz", "port": "podflow-metrics"},
            "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 10,
        })
    );
    let ports = sidecar.container.ports.as_ref().unwrap();
    assert_eq!(ports[0].name.as_deref(), Some(TELEMETRY_PORT_NAME));
    assert!(sidecar.container.readiness_probe.is_none());
    assert!(sidecar.container.liveness_probe.is_none());
}

#[test]
fn the_profile_shapes_the_security_context() {
    let mut config = Config::default();
    let facts = unknown_owner();
    for (profile, user, added) in [
        (
            SecurityProfile::Default,
            65532,
            Some(vec!["NET_RAW".into()]),
        ),
        (SecurityProfile::Root, 0, Some(vec!["NET_RAW".into()])),
        (SecurityProfile::Baseline, 0, None),
    ] {
        config.webhook.sidecar.security_profile = profile;
        let sidecar = build(&Template::from_config(&config), &facts);
        let sc = sidecar.container.security_context.unwrap();
        assert_eq!(sc.run_as_user, Some(user), "{profile:?}");
        assert_eq!(sc.capabilities.unwrap().add, added, "{profile:?}");
    }
}

fn expand_with_a(input: &str) -> String {
    kubelet::expand(input, |name| (name == "A").then(|| "x".to_string()))
}

#[test]
fn the_kubelet_expands_as_documented() {
    let cases = [
        ("plain", "plain"),
        ("$(A)", "x"),
        ("[$(A)]", "[x]"),
        ("$(A)$(A)", "xx"),
        ("$(B)", "$(B)"),
        ("$()", "$()"),
        ("$$", "$"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$x"),
        ("$$$$", "$$"),
        ("$(A", "$(A"),
        ("$(", "$("),
        ("a$", "a$"),
        ("$", "$"),
        ("$A", "$A"),
        ("$é(A)", "$é(A)"),
        ("é$(A)é", "éxé"),
        ("$(A)$", "x$"),
        ("$($(A))", "$($(A))"),
    ];
    for (input, expanded) in cases {
        assert_eq!(expand_with_a(input), expanded, "{input}");
    }
}

#[test]
fn kubelet_variables_see_those_before_them() {
    let container = serde_json::json!({"env": [
        {"name": "A", "value": "one"},
        {"name": "B", "value": "$(A)-$(C)"},
        {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "D", "value": "$(C)$$(A)"},
        {"name": "E"},
    ]});
    let env = kubelet::environment(&container, &[("metadata.name", "$(A)")]);
    let got: Vec<(&str, &str)> = env.iter().map(|(n, v)| (&**n, &**v)).collect();
    assert_eq!(
        got,
        [
            ("A", "one"),
            ("B", "one-$(C)"),
            ("C", "$(A)"),
            ("D", "$(A)$(A)"),
            ("E", "")
        ]
    );
}
