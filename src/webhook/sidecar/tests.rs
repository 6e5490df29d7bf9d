//! Tests of the sidecar builder: the environment as the kubelet hands it to the process,
//! the probe, native or regular. That environment loaded as podflow's configuration is
//! tested with the configuration (`config/tests/sidecar.rs`).

use super::kubelet;
use super::*;
use crate::webhook::config::{SecurityProfile, Sidecar as Settings};

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
fn only_the_pod_ips_reference_is_left_for_the_kubelet() {
    let template = Template {
        cluster_name: Some("$(X)".into()),
        ..Template::for_tests(Settings::default())
    };
    let sidecar = build(
        &template,
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
fn native_or_regular() {
    let mut settings = Settings::default();
    let facts = unknown_owner();
    let native = build(&Template::for_tests(settings.clone()), &facts);
    assert!(native.native);
    assert_eq!(native.container.restart_policy.as_deref(), Some("Always"));
    settings.native = false;
    let regular = build(&Template::for_tests(settings), &facts);
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
    let sidecar = build(&Template::for_tests(Settings::default()), &facts);
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
    let mut settings = Settings::default();
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
        settings.security_profile = profile;
        let sidecar = build(&Template::for_tests(settings.clone()), &facts);
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

#[test]
fn a_collector_tls_secret_is_mounted_optional_and_named_in_the_environment() {
    let none = build(&Template::for_tests(Settings::default()), &unknown_owner());
    assert_eq!(none.volumes.len(), 1, "no Secret unless configured");
    assert!(!env_of(&none)
        .iter()
        .any(|(k, _)| k.starts_with("PODFLOW_EXPORT__TLS")));

    for client in [false, true] {
        let settings = Settings {
            collector_tls_secret: "collector-tls".into(),
            collector_tls_client_cert: client,
            ..Settings::default()
        };
        let s = build(&Template::for_tests(settings), &unknown_owner());
        let secret = s.volumes[1].secret.as_ref().unwrap();
        assert_eq!(s.volumes[1].name, "podflow-collector-tls");
        assert_eq!(secret.secret_name.as_deref(), Some("collector-tls"));
        assert_eq!(
            secret.optional,
            Some(true),
            "a namespace without it keeps starting pods"
        );
        let mount = &s.container.volume_mounts.as_ref().unwrap()[1];
        assert_eq!(
            (
                mount.name.as_str(),
                mount.mount_path.as_str(),
                mount.read_only
            ),
            (
                "podflow-collector-tls",
                "/etc/podflow/collector-tls",
                Some(true)
            )
        );
        let tls: Vec<(String, String)> = env_of(&s)
            .into_iter()
            .filter(|(k, _)| k.starts_with("PODFLOW_EXPORT__TLS"))
            .collect();
        let mut want = vec![(
            "PODFLOW_EXPORT__TLS_CA".to_string(),
            "/etc/podflow/collector-tls/ca.crt".to_string(),
        )];
        if client {
            want.push((
                "PODFLOW_EXPORT__TLS_CERT".into(),
                "/etc/podflow/collector-tls/tls.crt".into(),
            ));
            want.push((
                "PODFLOW_EXPORT__TLS_KEY".into(),
                "/etc/podflow/collector-tls/tls.key".into(),
            ));
        }
        assert_eq!(tls, want);
    }
}
