//! A TLS collector from a Secret: the webhook's configuration makes sidecars that mount
//! it and point `export.tls_*` at it, the node DaemonSet mounts it from the release
//! namespace, and podflow itself loads both configurations.

use super::node::{assert_node_config_loads, node_pod};
use super::*;

const SECRET: &str = "podflow-collector-tls";
const DIR: &str = "/etc/podflow/collector-tls";

#[test]
fn a_tls_collector_reads_its_ca_and_client_certificate_from_a_secret() {
    let objects = rendered(&["collector-tls.yaml"]);

    // The sidecars: podflow inject with the webhook's configuration gives the sidecar
    // the webhook would add.
    let (text, config) = podflow_config(&objects);
    assert_eq!(
        config["export"]["collector"],
        "tls://ipfix.collectors.svc.cluster.local:4739"
    );
    assert_eq!(config["webhook"]["sidecar"]["collector_tls_secret"], SECRET);
    let patched = inject_with(&text);
    let spec = &patched["spec"]["template"]["spec"];
    assert_eq!(
        volume(spec, "podflow-collector-tls")["secret"],
        json!({"secretName": SECRET, "optional": true})
    );
    let sidecar = &spec["initContainers"][0];
    let env: Vec<(&str, &str)> = sidecar["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .filter(|(k, _)| k.starts_with("PODFLOW_EXPORT__TLS"))
        .collect();
    assert_eq!(
        env,
        [
            ("PODFLOW_EXPORT__TLS_CA", &*format!("{DIR}/ca.crt")),
            ("PODFLOW_EXPORT__TLS_CERT", &*format!("{DIR}/tls.crt")),
            ("PODFLOW_EXPORT__TLS_KEY", &*format!("{DIR}/tls.key")),
        ]
    );
    assert!(sidecar["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mountPath"] == DIR && m["readOnly"] == true));

    // The node pods mount the Secret of the release namespace.
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(config["export"]["tls_ca"], format!("{DIR}/ca.crt"));
    assert_eq!(config["export"]["tls_key"], format!("{DIR}/tls.key"));
    assert_node_config_loads(&text);
    let (pod, container) = node_pod(&objects);
    assert_eq!(volume(pod, "collector-tls")["secret"]["secretName"], SECRET);
    assert!(container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "collector-tls" && m["mountPath"] == DIR));
    validate(&objects);

    // Without a client certificate only the CA is named.
    let objects = render(
        &["collector-tls.yaml"],
        &["collector.tls.clientCertificate=false"],
    )
    .unwrap();
    let (_, config) = config_of(&objects, NODE_NAME);
    assert!(config["export"]["tls_cert"].is_null());
    assert!(
        config["webhook"].is_null(),
        "the node pods have no webhook section"
    );
    let (_, config) = podflow_config(&objects);
    assert_eq!(
        config["webhook"]["sidecar"]["collector_tls_client_cert"],
        false
    );
}
