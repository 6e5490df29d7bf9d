//! The mediator in the chart: its Deployment, Service, RBAC and configuration, the probes
//! pointed at it, node pods watching their own node, and its values checked.

use super::*;

const MEDIATOR: &str = "pf-podflow-mediator";
const AT_MEDIATOR: &str = "tcp://pf-podflow-mediator.flows.svc:4739";

/// The rendered mediator configuration through podflow's strict loader, started as the
/// Deployment starts it: with its view from a file that does not exist, it must stop at
/// that file (exit 2) rather than at a key.
fn assert_mediator_config_loads(config_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("podflow.yaml");
    std::fs::write(&path, config_text).unwrap();
    let out = podflow()
        .args(["--mode", "mediator", "--config"])
        .arg(&path)
        .env("PODFLOW_MEDIATOR__SOURCE", "file:/nonexistent/view.json")
        .env("PODFLOW_TELEMETRY__LISTEN", "")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("podflow --mode mediator exits by itself");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "--mode mediator:\n{stderr}");
    assert!(
        !stderr.contains("invalid configuration") && stderr.contains("/nonexistent/view.json"),
        "--mode mediator did not stop at its view file:\n{stderr}"
    );
}

#[test]
fn the_mediator_between_the_probes_and_the_collector() {
    let objects = rendered(&["mediator.yaml"]);

    // The Deployment: non-root, nothing added, restricted.
    let deployment = named(&objects, "Deployment", MEDIATOR);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], MEDIATOR);
    assert_eq!(
        pss::levels(pod),
        [Level::Baseline, Level::Restricted],
        "the mediator pods meet restricted: {:?}",
        pss::violations(pod, Level::Restricted)
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["args"],
        json!([
            "--mode",
            "mediator",
            "--config",
            "/etc/podflow/podflow.yaml"
        ])
    );
    let ports: BTreeSet<(String, i64, String)> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["containerPort"].as_i64().unwrap(),
                p["protocol"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("ipfix-tcp".into(), 4739, "TCP".into()),
            ("ipfix-udp".into(), 4739, "UDP".into()),
            ("podflow-metrics".into(), 9477, "TCP".into())
        ]
        .into()
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    // It alone holds the collector's CA.
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["config", "collector-tls"]);

    // The Service: TCP and UDP, each probe kept on one replica.
    let service = named(&objects, "Service", MEDIATOR);
    assert_eq!(service["spec"]["sessionAffinity"], "ClientIP");
    let selector = &service["spec"]["selector"];
    assert!(node::selects(
        selector,
        &deployment["spec"]["template"]["metadata"]["labels"]
    ));
    assert!(!node::selects(
        selector,
        &webhook(&objects)["metadata"]["labels"]
    ));
    let pdb = named(&objects, "PodDisruptionBudget", MEDIATOR);
    assert_eq!(pdb["spec"]["minAvailable"], 1);

    // RBAC: list and watch of the four kinds, nothing else.
    let role = named(&objects, "ClusterRole", MEDIATOR);
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["pods", "services", "nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}
        ])
    );
    let binding = named(&objects, "ClusterRoleBinding", MEDIATOR);
    assert_eq!(binding["subjects"][0]["name"], MEDIATOR);

    // Its configuration: from the probes, to the collector over TLS.
    let (text, config) = config_of(&objects, MEDIATOR);
    assert_eq!(
        config["export"]["collector"],
        "tls://collector.monitoring:4739"
    );
    assert_eq!(
        config["export"]["tls_ca"],
        "/etc/podflow/collector-tls/ca.crt"
    );
    assert_eq!(
        config["mediator"]["listen"],
        json!(["udp://0.0.0.0:4739", "tcp://0.0.0.0:4739"])
    );
    assert_eq!(config["mediator"]["source"], "kube");
    assert_eq!(config["mediator"]["cluster_cidrs"], json!(["10.96.0.0/12"]));
    assert_mediator_config_loads(&text);

    // The sidecars and the node pods send to the mediator, in the clear inside the
    // cluster: no collector Secret for them; node pods watch their own node only.
    let (webhook_text, webhook_config) = podflow_config(&objects);
    assert_eq!(webhook_config["export"]["collector"], AT_MEDIATOR);
    assert_eq!(
        webhook_config["webhook"]["sidecar"]["collector_tls_secret"],
        ""
    );
    let patched = inject_with(&webhook_text);
    let spec = &patched["spec"]["template"]["spec"];
    let sidecar = &spec["initContainers"][0];
    let env = sidecar["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "PODFLOW_EXPORT__COLLECTOR" && e["value"] == AT_MEDIATOR),
        "{sidecar}"
    );
    assert!(
        !spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "podflow-collector-tls"),
        "no collector Secret for the sidecars"
    );
    let (node_text, node_config) = config_of(&objects, NODE_NAME);
    assert_eq!(node_config["export"]["collector"], AT_MEDIATOR);
    assert_eq!(node_config["k8s"]["own_node_only"], true);
    node::assert_node_config_loads(&node_text);
    let (_, node_c) = node::node_pod(&objects);
    assert!(
        !node_c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "collector-tls"),
        "node pods need no collector Secret"
    );
}

/// With `mediator.protocol=tls` the probes dial the mediator over mutual TLS: the
/// mediator mounts its own Secret and asks for client certificates, the probes mount the
/// one that trusts it (never the mediator's key), UDP stays open for other exporters.
#[test]
fn the_probes_reach_the_mediator_over_mutual_tls() {
    const PROBES: &str = "mediator-trust";
    const DIR: &str = "/etc/podflow/collector-tls";
    let objects = render(
        &["mediator.yaml"],
        &[
            "mediator.protocol=tls",
            "mediator.tls.secretName=mediator-tls",
            "mediator.tls.probeSecretName=mediator-trust",
            "mediator.tls.clientCertificates=true",
        ],
    )
    .unwrap();
    validate(&objects);

    let (text, config) = config_of(&objects, MEDIATOR);
    assert_eq!(
        config["mediator"]["listen"],
        json!(["udp://0.0.0.0:4739", "tls://0.0.0.0:4739"])
    );
    for (key, file) in [
        ("tls_cert", "tls.crt"),
        ("tls_key", "tls.key"),
        ("tls_client_ca", "ca.crt"),
    ] {
        assert_eq!(
            config["mediator"][key],
            format!("/etc/podflow/mediator-tls/{file}")
        );
    }
    assert_mediator_config_loads(&text);
    let deployment = named(&objects, "Deployment", MEDIATOR);
    let pod = &deployment["spec"]["template"]["spec"];
    let own = volume(pod, "mediator-tls");
    assert_eq!(own["secret"]["secretName"], "mediator-tls");

    // The node pods: tls:// to the mediator, the probes' Secret, their certificate.
    let (node_text, node_config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        node_config["export"]["collector"],
        "tls://pf-podflow-mediator.flows.svc:4739"
    );
    assert_eq!(node_config["export"]["tls_ca"], format!("{DIR}/ca.crt"));
    assert_eq!(node_config["export"]["tls_cert"], format!("{DIR}/tls.crt"));
    node::assert_node_config_loads(&node_text);
    let (node_pod, _) = node::node_pod(&objects);
    let secrets: Vec<&Value> = node_pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["secret"]["secretName"].as_str().map(|_| &v["secret"]))
        .collect();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(secrets[0]["secretName"], PROBES);

    // The sidecars: the same, from a Secret of their own namespace.
    let (webhook_text, webhook_config) = podflow_config(&objects);
    let sidecar = &webhook_config["webhook"]["sidecar"];
    assert_eq!(sidecar["collector_tls_secret"], PROBES);
    assert_eq!(sidecar["collector_tls_client_cert"], true);
    let patched = inject_with(&webhook_text);
    let spec = &patched["spec"]["template"]["spec"];
    let volume = volume(spec, "podflow-collector-tls");
    assert_eq!(
        volume["secret"],
        json!({"secretName": PROBES, "optional": true})
    );
    let env = spec["initContainers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "PODFLOW_EXPORT__COLLECTOR"
        && e["value"] == "tls://pf-podflow-mediator.flows.svc:4739"));
    assert!(env
        .iter()
        .any(|e| e["name"] == "PODFLOW_EXPORT__TLS_KEY" && e["value"] == format!("{DIR}/tls.key")));
}

#[test]
fn the_mediator_alone_over_udp_and_without_it_nothing_changes() {
    let objects = render(
        &[],
        &[
            "collector.address=collector.monitoring",
            "webhook.enabled=false",
            "mediator.enabled=true",
            "mediator.protocol=udp",
            "mediator.replicas=1",
        ],
    )
    .unwrap();
    validate(&objects);
    assert_eq!(
        kinds(&objects),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Service",
            "ServiceAccount"
        ]
        .into()
    );
    let (_, config) = config_of(&objects, MEDIATOR);
    assert_eq!(
        config["export"]["collector"],
        "udp://collector.monitoring:4739"
    );
    // Without the mediator the probes send to the collector, and node pods watch every pod.
    let objects = rendered(&["node.yaml"]);
    let (_, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["export"]["collector"],
        "udp://collector.monitoring:4739"
    );
    assert!(config["k8s"].get("own_node_only").is_none());
    assert!(all(&objects, "Deployment")
        .iter()
        .all(|d| d["metadata"]["name"] != MEDIATOR));
}

#[test]
fn bad_mediator_values_fail_naming_the_value() {
    for (set, said) in [
        (
            "mediator.enabled=yes",
            "mediator.enabled=yes must be true or false",
        ),
        ("mediator.protocol=sctp", "mediator.protocol=\"sctp\""),
        ("mediator.port=0", "mediator.port=0"),
        (
            "mediator.telemetryPort=4739",
            "mediator.port and mediator.telemetryPort are both 4739",
        ),
        ("mediator.replicas=0", "mediator.replicas=0"),
        (
            "mediator.deletedPodGraceSecs=soon",
            "mediator.deletedPodGraceSecs=soon",
        ),
        (
            "mediator.clusterCIDRs[0]=everything",
            "mediator.clusterCIDRs: \"everything\"",
        ),
        ("mediator.logFormat=xml", "mediator.logFormat=\"xml\""),
        (
            "mediator.protocol=tls",
            "mediator.protocol=tls needs mediator.tls.secretName",
        ),
        (
            "mediator.tls.secretName=mediator-tls",
            "is set but mediator.protocol=tcp",
        ),
        (
            "mediator.tls.clientCertificates=maybe",
            "mediator.tls.clientCertificates=maybe must be true or false",
        ),
    ] {
        let sets = [
            "collector.address=collector.monitoring",
            "mediator.enabled=true",
            set,
        ];
        let err = render(&[], &sets).expect_err(set);
        assert!(err.contains(said), "{set}: {err}");
    }
    let err = render(&[], &["collector.address=c", "webhook.enabled=false"]).unwrap_err();
    assert!(err.contains("nothing to install"), "{err}");
}
