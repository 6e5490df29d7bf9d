//! The Helm chart (`chart/podflow`): `helm lint`, then `helm template` with the values files
//! of `it/fixtures/chart/`; every rendered object validates against the Kubernetes 1.33
//! schema (`kubernetes-validate --strict`), the objects say what the chart promises (the
//! webhook, and with `node.enabled` the node-mode DaemonSet and its RBAC), the rendered
//! podflow configurations are accepted by podflow itself, the sidecar's security profile
//! and the namespaces left out for Pod Security follow the values, and values that cannot
//! work fail with a message naming the value.
//!
//! helm comes from `$HELM` or `.tools/helm/package/bin/helm`, kubernetes-validate from
//! `$IPFIX_PYTHON` or `.venv/bin/python`; `scripts/test.sh` installs both.

mod common;
#[path = "common/helm.rs"]
mod helm;
#[path = "common/kubernetes.rs"]
mod kubernetes;
#[path = "common/pss.rs"]
mod pss;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use helm::{chart_dir, helm};
use pss::Level;
use serde_json::{json, Value};

const RELEASE: &str = "pf";
const NAMESPACE: &str = "flows";
const FULLNAME: &str = "pf-podflow";
const NODE_NAME: &str = "pf-podflow-node";
const KUBE_VERSION: &str = "1.33.0";

/// `helm template` of the chart with these values files (under it/fixtures/chart) and
/// `--set` pairs: the objects, or helm's error output.
fn render(files: &[&str], sets: &[&str]) -> Result<Vec<Value>, String> {
    render_for(KUBE_VERSION, files, sets)
}

/// `render` for a cluster of this Kubernetes version.
fn render_for(kube_version: &str, files: &[&str], sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut args: Vec<OsString> = ["--namespace", NAMESPACE, "--kube-version", kube_version]
        .map(OsString::from)
        .into();
    for file in files {
        args.push("--values".into());
        args.push(fixture(&format!("chart/{file}")).into());
    }
    for set in sets {
        args.extend(["--set", set].map(OsString::from));
    }
    helm::template(RELEASE, args)
}

fn rendered(files: &[&str]) -> Vec<Value> {
    let objects = render(files, &[]).unwrap_or_else(|e| panic!("helm template {files:?}:\n{e}"));
    validate(&objects);
    objects
}

/// Groups whose kinds are CustomResourceDefinitions: kubernetes-validate has no schema for
/// them (it warns and passes them), so they are checked here against the fields of their
/// APIs that the chart uses.
const CRD_GROUPS: [&str; 2] = ["cert-manager.io/v1", "monitoring.coreos.com/v1"];

/// Every object through `kubernetes-validate --strict` for 1.33: built-in kinds must pass
/// against their schema; a missing schema is accepted only for the CRD kinds, which get
/// the checks of `check_custom`.
fn validate(objects: &[Value]) {
    let (_dir, files, out) = kubernetes::run_validator(objects, true);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (object, path) in objects.iter().zip(&files) {
        let lines: Vec<&str> = report
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(&*path.display().to_string()))
            .collect();
        let api = object["apiVersion"].as_str().unwrap();
        if CRD_GROUPS.contains(&api) {
            assert!(
                lines.len() == 1
                    && lines[0].starts_with("WARN ")
                    && lines[0].contains("Couldn't find schema"),
                "{} {api}: expected no schema in kubernetes-validate, got {lines:?}",
                object["kind"]
            );
            check_custom(object);
        } else {
            assert!(
                lines.len() == 1 && lines[0].starts_with("INFO ") && lines[0].contains(" passed "),
                "{} {api} did not pass against the 1.33 schema: {lines:?}",
                object["kind"]
            );
        }
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn assert_keys_within(v: &Value, allowed: &[&str], what: &str) {
    let unknown: Vec<_> = keys(v)
        .into_iter()
        .filter(|k| !allowed.contains(k))
        .collect();
    assert!(unknown.is_empty(), "{what}: unknown fields {unknown:?}");
}

/// The CRD kinds, checked against the fields of cert-manager.io/v1 and
/// monitoring.coreos.com/v1 that the chart writes (strictly: no other field).
fn check_custom(object: &Value) {
    assert_keys_within(
        object,
        &["apiVersion", "kind", "metadata", "spec"],
        "custom object",
    );
    assert_keys_within(
        &object["metadata"],
        &["name", "namespace", "labels", "annotations"],
        "metadata",
    );
    assert_eq!(object["metadata"]["namespace"], NAMESPACE);
    let spec = &object["spec"];
    match object["kind"].as_str().unwrap() {
        "Issuer" => {
            assert_keys_within(spec, &["selfSigned", "ca"], "Issuer.spec");
            assert_eq!(keys(spec).len(), 1, "an Issuer has one type: {spec}");
            if let Some(ca) = spec.get("ca") {
                assert!(ca["secretName"].is_string(), "Issuer.spec.ca.secretName");
            } else {
                assert_eq!(spec["selfSigned"], json!({}));
            }
        }
        "Certificate" => {
            assert_keys_within(
                spec,
                &[
                    "secretName",
                    "duration",
                    "renewBefore",
                    "commonName",
                    "dnsNames",
                    "usages",
                    "privateKey",
                    "issuerRef",
                    "isCA",
                ],
                "Certificate.spec",
            );
            assert!(
                spec["secretName"].is_string(),
                "Certificate.spec.secretName"
            );
            let issuer = &spec["issuerRef"];
            assert_keys_within(issuer, &["name", "kind", "group"], "issuerRef");
            assert!(issuer["name"].is_string());
            assert!(["Issuer", "ClusterIssuer"].contains(&issuer["kind"].as_str().unwrap()));
            for d in ["duration", "renewBefore"] {
                if let Some(v) = spec.get(d) {
                    let v = v.as_str().unwrap();
                    assert!(
                        v.ends_with('h') && v[..v.len() - 1].parse::<u64>().is_ok(),
                        "{d} {v}"
                    );
                }
            }
            assert_keys_within(
                &spec["privateKey"],
                &["algorithm", "size", "rotationPolicy"],
                "privateKey",
            );
            for usage in spec["usages"].as_array().into_iter().flatten() {
                assert!(
                    ["server auth", "digital signature", "key encipherment"]
                        .contains(&usage.as_str().unwrap()),
                    "usage {usage}"
                );
            }
        }
        "ServiceMonitor" => {
            assert_keys_within(
                spec,
                &["selector", "namespaceSelector", "endpoints"],
                "ServiceMonitor.spec",
            );
            assert!(spec["selector"]["matchLabels"].is_object());
            assert_keys_within(
                &spec["namespaceSelector"],
                &["matchNames"],
                "namespaceSelector",
            );
            for endpoint in spec["endpoints"].as_array().unwrap() {
                assert_keys_within(
                    endpoint,
                    &["port", "path", "scheme", "interval"],
                    "ServiceMonitor endpoint",
                );
            }
        }
        other => panic!("unexpected custom kind {other}"),
    }
}

fn all<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = all(objects, kind);
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn webhook(objects: &[Value]) -> &Value {
    let config = one(objects, "MutatingWebhookConfiguration");
    let hooks = config["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    &hooks[0]
}

fn container(objects: &[Value]) -> &Value {
    let deployment = one(objects, "Deployment");
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn tls_secret_name(objects: &[Value]) -> String {
    let volumes = one(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    let tls = volumes.iter().find(|v| v["name"] == "tls").unwrap();
    tls["secret"]["secretName"].as_str().unwrap().to_string()
}

/// The webhook's podflow configuration in its ConfigMap, as JSON.
fn podflow_config(objects: &[Value]) -> (String, Value) {
    config_of(objects, FULLNAME)
}

/// The podflow configuration (podflow.yaml) of the ConfigMap `name`: text and JSON.
fn config_of(objects: &[Value], name: &str) -> (String, Value) {
    let map = named(objects, "ConfigMap", name);
    let text = map["data"]["podflow.yaml"].as_str().unwrap().to_string();
    let value: Value = serde_norway::from_str(&text).expect("podflow.yaml is YAML");
    (text, value)
}

/// `podflow inject` with the rendered configuration, on a one-Deployment manifest: the
/// configuration must load (every key known, every value good) and give this sidecar.
fn inject_with(config_text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("podflow.yaml");
    std::fs::write(&path, config_text).unwrap();
    let manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
        spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n\
        \x20   spec: {containers: [{name: web, image: nginx}]}\n";
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("podflow"))
        .args(["inject", "--config"])
        .arg(&path)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "podflow refused the chart's configuration:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_norway::from_slice(&out.stdout).unwrap()
}

fn sidecar_of(deployment: &Value, native: bool) -> &Value {
    let list = if native {
        "initContainers"
    } else {
        "containers"
    };
    deployment["spec"]["template"]["spec"][list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "podflow")
        .unwrap_or_else(|| panic!("no podflow container in {list}"))
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?
        .get("value")?
        .as_str()
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let data: Vec<u32> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in data.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &v)| n | (v << (18 - 6 * i)));
        out.extend((0..chunk.len() - 1).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    out
}

fn b64_text(v: &Value) -> String {
    String::from_utf8(decode_base64(v.as_str().expect("base64 string"))).unwrap()
}

/// `openssl verify` of the serving certificate against the CA, for the Service's name.
fn assert_cert_serves(ca: &str, cert: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir.path())
        .args(["verify", "-CAfile", "ca.pem", "-purpose", "sslserver"])
        .args(["-verify_hostname", &format!("{FULLNAME}.{NAMESPACE}.svc")])
        .arg("cert.pem")
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "the serving certificate does not verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn namespace_expressions(hook: &Value) -> &Vec<Value> {
    hook["namespaceSelector"]["matchExpressions"]
        .as_array()
        .unwrap()
}

/// The namespaceSelector entry that leaves out namespaces enforcing these levels.
fn pod_security_exclusion(levels: &[&str]) -> Value {
    json!({"key": "pod-security.kubernetes.io/enforce", "operator": "NotIn", "values": levels})
}

#[test]
fn lint() {
    let out = Command::new(helm())
        .arg("lint")
        .arg(chart_dir())
        .args(["--set", "collector.address=collector.monitoring"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The kinds of the rendered objects.
fn kinds(objects: &[Value]) -> BTreeSet<&str> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect()
}

#[test]
fn defaults() {
    let objects = rendered(&["defaults.yaml"]);
    assert_eq!(
        kinds(&objects),
        BTreeSet::from([
            "ConfigMap",
            "Deployment",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount"
        ]),
        "no RBAC, no custom kinds by default"
    );
    for o in &objects {
        if o["kind"] != "MutatingWebhookConfiguration" {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", o["kind"]);
        }
    }

    // The webhook configuration.
    let hook = webhook(&objects);
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(hook["reinvocationPolicy"], "IfNeeded");
    assert_eq!(hook["timeoutSeconds"], 5);
    assert_eq!(
        hook["rules"],
        json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["pods"], "scope": "Namespaced"}])
    );
    assert_eq!(
        hook["clientConfig"]["service"],
        json!({"name": FULLNAME, "namespace": NAMESPACE, "path": "/mutate", "port": 443})
    );
    let expressions = namespace_expressions(hook);
    assert!(
        expressions.contains(&json!({"key": "kubernetes.io/metadata.name",
        "operator": "NotIn", "values": ["kube-system", NAMESPACE]}))
    );
    assert!(expressions.contains(
        &json!({"key": "podflow.io/inject", "operator": "NotIn", "values": ["disabled"]})
    ));
    assert!(expressions.contains(&pod_security_exclusion(&["baseline", "restricted"])));
    assert_eq!(expressions.len(), 3);
    assert!(hook["namespaceSelector"].get("matchLabels").is_none());

    // auto TLS: the caBundle is the Secret's CA, and the certificate is for the Service.
    let secret = named(&objects, "Secret", &format!("{FULLNAME}-tls"));
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(tls_secret_name(&objects), format!("{FULLNAME}-tls"));
    let ca = b64_text(&hook["clientConfig"]["caBundle"]);
    assert!(
        ca.starts_with("-----BEGIN CERTIFICATE-----"),
        "caBundle: {ca}"
    );
    assert_eq!(b64_text(&secret["data"]["ca.crt"]), ca);
    assert!(b64_text(&secret["data"]["tls.key"]).contains("PRIVATE KEY"));
    assert_cert_serves(&ca, &b64_text(&secret["data"]["tls.crt"]));
    assert!(one(&objects, "MutatingWebhookConfiguration")["metadata"]
        .get("annotations")
        .is_none());

    // The Deployment.
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["serviceAccountName"], FULLNAME);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pss::levels(pod),
        [Level::Baseline, Level::Restricted],
        "the webhook pods meet restricted: {:?}",
        pss::violations(pod, Level::Restricted)
    );
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            ["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert!(pod["topologySpreadConstraints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["topologyKey"] == "kubernetes.io/hostname"
            && c["labelSelector"]["matchLabels"] == *selector));
    let c = container(&objects);
    assert_eq!(c["image"], "ghcr.io/podflow/podflow:0.1.0");
    assert_eq!(
        c["args"],
        json!(["--mode", "webhook", "--config", "/etc/podflow/podflow.yaml"])
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"], json!({"drop": ["ALL"]}));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let ports = c["ports"].as_array().unwrap();
    assert!(ports.contains(&json!({"name": "metrics", "containerPort": 9477, "protocol": "TCP"})));
    assert!(ports.contains(&json!({"name": "https", "containerPort": 8443, "protocol": "TCP"})));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            c[probe]["httpGet"]["port"], "https",
            "through the HTTPS listener"
        );
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS");
    }
    assert!(c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object());

    // The PodDisruptionBudget keeps one of the two.
    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], *selector);

    // The Service: 443 to the container's https port (8443), selecting the webhook pods.
    let service = one(&objects, "Service");
    assert_eq!(service["spec"]["selector"], *selector);
    assert!(service["spec"]["ports"].as_array().unwrap().contains(
        &json!({"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"})
    ));
    assert_eq!(
        one(&objects, "ServiceAccount")["automountServiceAccountToken"],
        false
    );

    // The configuration: the collector, and podflow accepts it and injects with it.
    let (text, config) = podflow_config(&objects);
    assert_eq!(
        config["export"]["collector"],
        "udp://collector.monitoring:4739"
    );
    assert_eq!(config["webhook"]["match"]["mode"], "any");
    assert_eq!(config["webhook"]["sidecar"]["security_profile"], "default");
    assert_eq!(config["webhook"]["tls_cert"], "/etc/podflow/tls/tls.crt");
    assert!(config.get("k8s").is_none(), "no cluster name by default");
    let injected = inject_with(&text);
    let sidecar = sidecar_of(&injected, true);
    assert_eq!(sidecar["image"], "ghcr.io/podflow/podflow:0.1.0");
    assert_eq!(
        env_value(sidecar, "PODFLOW_EXPORT__COLLECTOR"),
        Some("udp://collector.monitoring:4739")
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_IPFIX__ENTERPRISE_NUMBER"),
        Some("32473")
    );
    assert_eq!(sidecar["securityContext"]["runAsUser"], 65532);
    assert_eq!(sidecar["startupProbe"]["httpGet"]["path"], "/startupz");
}

#[test]
fn tcp_collector_labels_and_deployments() {
    let objects = rendered(&["tcp-match.yaml"]);
    let hook = webhook(&objects);
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["timeoutSeconds"], 3);
    // The user's selector, plus the exclusions that always apply.
    assert_eq!(
        hook["namespaceSelector"]["matchLabels"],
        json!({"team": "shop"})
    );
    let expressions = namespace_expressions(hook);
    assert_eq!(expressions.len(), 4);
    assert_eq!(
        expressions[3],
        json!({"key": "environment", "operator": "In", "values": ["prod", "staging"]}),
        "the user's expressions come after the chart's"
    );
    assert!(expressions.contains(&pod_security_exclusion(&["baseline", "restricted"])));
    assert!(expressions
        .iter()
        .any(|e| e["key"] == "kubernetes.io/metadata.name"
            && e["values"] == json!(["kube-system", NAMESPACE])));

    assert_eq!(one(&objects, "Deployment")["spec"]["replicas"], 3);
    let c = container(&objects);
    assert_eq!(c["image"], "registry.example.com/podflow:0.1.0-rc1");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        c["env"],
        json!([{"name": "PODFLOW_LOG__LEVEL", "value": "debug"}])
    );

    let (text, config) = podflow_config(&objects);
    assert_eq!(
        config["export"]["collector"],
        "tcp://ipfix.collectors.svc.cluster.local:4740"
    );
    assert_eq!(
        config["webhook"]["match"],
        json!({"labels": {"app.kubernetes.io/part-of": "shop", "tier": "1"},
               "deployments": ["shop-web", "payments/checkout"], "mode": "all"})
    );
    assert_eq!(config["ipfix"]["enterprise_number"], 64512);
    assert_eq!(config["k8s"]["cluster_name"], "prod-eu-1");
    let injected = inject_with(&text);
    let sidecar = sidecar_of(&injected, false);
    assert_eq!(sidecar["image"], "registry.example.com/podflow:0.1.0-rc1");
    assert_eq!(sidecar["imagePullPolicy"], "Always");
    assert_eq!(config["webhook"]["sidecar"]["security_profile"], "root");
    assert_eq!(sidecar["securityContext"]["runAsUser"], 0);
    assert_eq!(sidecar["securityContext"]["runAsNonRoot"], false);
    assert!(sidecar.get("startupProbe").is_none(), "a regular container");
    assert_eq!(
        sidecar["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}})
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_EXPORT__COLLECTOR"),
        Some("tcp://ipfix.collectors.svc.cluster.local:4740")
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_K8S__CLUSTER_NAME"),
        Some("prod-eu-1")
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_IPFIX__ENTERPRISE_NUMBER"),
        Some("64512")
    );

    // The ServiceMonitor scrapes the Service's metrics port.
    let monitor = one(&objects, "ServiceMonitor");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    let service = one(&objects, "Service");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][k], v);
    }
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert!(service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "metrics" && p["port"] == 9477));
}

#[test]
fn security_profiles_shape_the_sidecar_and_the_namespaces_left_out() {
    for (profile, refusing, levels) in [
        ("default", vec!["baseline", "restricted"], vec![]),
        ("root", vec!["baseline", "restricted"], vec![]),
        ("baseline", vec!["restricted"], vec![Level::Baseline]),
    ] {
        let set = format!("sidecar.securityProfile={profile}");
        let objects = render(&["defaults.yaml"], &[&set])
            .unwrap_or_else(|e| panic!("helm template {set}:\n{e}"));
        validate(&objects);
        let expressions = namespace_expressions(webhook(&objects));
        assert_eq!(expressions.len(), 3, "{profile}");
        assert_eq!(
            expressions[2],
            pod_security_exclusion(&refusing),
            "{profile}"
        );

        let (text, config) = podflow_config(&objects);
        assert_eq!(config["webhook"]["sidecar"]["security_profile"], profile);
        let injected = inject_with(&text);
        let pod = &injected["spec"]["template"]["spec"];
        assert_eq!(
            pss::levels(pod),
            levels,
            "{profile}: {:?}",
            pss::violations(pod, Level::Baseline)
        );
        let sc = &sidecar_of(&injected, true)["securityContext"];
        let uid = if profile == "default" { 65532 } else { 0 };
        assert_eq!(sc["runAsUser"], uid, "{profile}");
        // A namespace is left out exactly when its level refuses the patched pod.
        let meets = |level: &str| match level {
            "baseline" => levels.contains(&Level::Baseline),
            "restricted" => levels.contains(&Level::Restricted),
            _ => true,
        };
        for level in ["privileged", "baseline", "restricted"] {
            assert_eq!(
                refusing.contains(&level),
                !meets(level),
                "{profile} in a namespace enforcing {level}"
            );
        }
    }

    // Turned off: only the fixed exclusions.
    let objects = render(
        &["defaults.yaml"],
        &["sidecar.skipEnforcingNamespaces=false"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    validate(&objects);
    let expressions = namespace_expressions(webhook(&objects));
    assert_eq!(expressions.len(), 2, "{expressions:?}");
    assert!(expressions
        .iter()
        .all(|e| e["key"] != "pod-security.kubernetes.io/enforce"));
}

#[test]
fn a_user_namespace_selector_is_merged_with_the_exclusions() {
    let objects = render(
        &["defaults.yaml"],
        &[
            "sidecar.securityProfile=baseline",
            "namespaceSelector.matchLabels.team=payments",
            "namespaceSelector.matchExpressions[0].key=tier",
            "namespaceSelector.matchExpressions[0].operator=Exists",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    validate(&objects);
    let selector = &webhook(&objects)["namespaceSelector"];
    assert_eq!(selector["matchLabels"], json!({"team": "payments"}));
    let expressions = namespace_expressions(webhook(&objects));
    assert_eq!(
        expressions[1..],
        [
            json!({"key": "podflow.io/inject", "operator": "NotIn", "values": ["disabled"]}),
            pod_security_exclusion(&["restricted"]),
            json!({"key": "tier", "operator": "Exists"}),
        ]
    );
}

#[test]
fn cert_manager_self_signed() {
    let objects = rendered(&["cert-manager.yaml"]);
    assert!(
        all(&objects, "Secret").is_empty(),
        "cert-manager writes the Secret"
    );
    let config = one(&objects, "MutatingWebhookConfiguration");
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        format!("{NAMESPACE}/{FULLNAME}-tls")
    );
    assert!(webhook(&objects)["clientConfig"].get("caBundle").is_none());

    let serving = named(&objects, "Certificate", &format!("{FULLNAME}-tls"));
    assert_eq!(serving["spec"]["secretName"], tls_secret_name(&objects));
    assert!(serving["spec"]["dnsNames"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("{FULLNAME}.{NAMESPACE}.svc"))));
    // serving <- CA issuer <- CA certificate <- self-signed issuer
    let ca_issuer = named(
        &objects,
        "Issuer",
        serving["spec"]["issuerRef"]["name"].as_str().unwrap(),
    );
    let ca_secret = ca_issuer["spec"]["ca"]["secretName"].as_str().unwrap();
    let ca_cert = all(&objects, "Certificate")
        .into_iter()
        .find(|c| c["spec"]["secretName"] == ca_secret)
        .expect("a Certificate for the CA issuer's Secret");
    assert_eq!(ca_cert["spec"]["isCA"], true);
    let root = named(
        &objects,
        "Issuer",
        ca_cert["spec"]["issuerRef"]["name"].as_str().unwrap(),
    );
    assert_eq!(root["spec"]["selfSigned"], json!({}));
}

#[test]
fn cert_manager_given_issuer() {
    let objects = rendered(&["cert-manager-issuer.yaml"]);
    assert!(all(&objects, "Issuer").is_empty());
    let certificate = one(&objects, "Certificate");
    assert_eq!(
        certificate["spec"]["issuerRef"],
        json!({"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "internal-ca"})
    );
    assert_eq!(
        one(&objects, "MutatingWebhookConfiguration")["metadata"]["annotations"]
            ["cert-manager.io/inject-ca-from"],
        format!(
            "{NAMESPACE}/{}",
            certificate["metadata"]["name"].as_str().unwrap()
        )
    );
}

fn provided_pem(name: &str) -> String {
    let text = std::fs::read_to_string(fixture("chart/provided.yaml")).unwrap();
    let values: Value = serde_norway::from_str(&text).unwrap();
    values["tls"]["provided"][name]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn provided_certificate() {
    let objects = rendered(&["provided.yaml"]);
    let secret = one(&objects, "Secret");
    assert_eq!(secret["metadata"]["name"], tls_secret_name(&objects));
    assert_eq!(b64_text(&secret["data"]["tls.crt"]), provided_pem("cert"));
    assert_eq!(b64_text(&secret["data"]["tls.key"]), provided_pem("key"));
    let ca = b64_text(&webhook(&objects)["clientConfig"]["caBundle"]);
    assert_eq!(ca, provided_pem("ca"));
    assert_cert_serves(&ca, &provided_pem("cert"));
    assert_eq!(
        podflow_config(&objects).1["export"]["collector"],
        "udp://10.0.0.5:4739"
    );

    let objects = rendered(&["provided-secret.yaml"]);
    assert!(all(&objects, "Secret").is_empty());
    assert_eq!(tls_secret_name(&objects), "webhook-cert");
    assert_eq!(
        b64_text(&webhook(&objects)["clientConfig"]["caBundle"]),
        provided_pem("ca")
    );
}

/// The node DaemonSet's pod spec and its one container.
fn node_pod(objects: &[Value]) -> (&Value, &Value) {
    let daemonset = named(objects, "DaemonSet", NODE_NAME);
    let pod = &daemonset["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    (pod, &containers[0])
}

/// Whether `selector` (matchLabels) selects an object with `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .unwrap()
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

fn field_ref<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"])
}

/// A podflow failure that is about the configuration itself: the loader names the key
/// ("invalid configuration: ... key ...") or the file it could not parse.
fn assert_no_config_error(stderr: &str, what: &str) {
    assert!(
        !stderr.contains("invalid configuration") && !stderr.contains("cannot parse config file"),
        "{what}: podflow refused the chart's node configuration:\n{stderr}"
    );
}

/// The rendered node configuration through podflow's strict loader (every key known,
/// every value good), started as the DaemonSet starts it. Node mode reads its pods from a
/// file that does not exist, so it must stop at that file (exit 2) rather than at a key.
fn assert_node_config_loads(config_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("podflow.yaml");
    std::fs::write(&path, config_text).unwrap();

    let out = podflow()
        .args(["--mode", "node", "--config"])
        .arg(&path)
        .env("PODFLOW_K8S__SOURCE", "file:/nonexistent/pods.json")
        .env("PODFLOW_TELEMETRY__LISTEN", "")
        .env("PODFLOW_K8S__NODE_NAME", "node-1")
        .env("PODFLOW_K8S__NODE_IP", "192.0.2.10")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("podflow --mode node exits by itself");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "--mode node:\n{stderr}");
    assert_no_config_error(&stderr, "--mode node");
    assert!(
        stderr.contains("/nonexistent/pods.json"),
        "--mode node did not stop at its pod list:\n{stderr}"
    );
}

/// What the process scan costs, and only the process scan: the node's PID namespace and
/// SYS_PTRACE, on top of NET_RAW and SYS_ADMIN (drop ALL first).
fn assert_process_scan_access(objects: &[Value], scan: bool) {
    let (pod, c) = node_pod(objects);
    assert_eq!(pod["hostNetwork"], true);
    if scan {
        assert_eq!(pod["hostPID"], true);
    } else {
        assert!(pod.get("hostPID").is_none(), "no host PID without the scan");
    }
    let capabilities = &c["securityContext"]["capabilities"];
    assert_eq!(capabilities["drop"], json!(["ALL"]));
    let mut expected = vec!["NET_RAW", "SYS_ADMIN"];
    if scan {
        expected.push("SYS_PTRACE");
    }
    assert_eq!(
        capabilities["add"],
        json!(expected),
        "exactly these capabilities"
    );
    let (_, config) = config_of(objects, NODE_NAME);
    assert_eq!(config["node"]["scan_processes"], scan);
}

/// The netns directories: each a read-only hostPath mount at the same path, with
/// HostToContainer propagation, and nothing else from the host but these.
fn assert_netns_mounts(objects: &[Value], dirs: &[&str]) {
    let (pod, c) = node_pod(objects);
    let volumes = pod["volumes"].as_array().unwrap();
    let host_paths: Vec<&Value> = volumes
        .iter()
        .filter(|v| v.get("hostPath").is_some())
        .collect();
    assert_eq!(
        host_paths.len(),
        dirs.len(),
        "hostPath volumes: {volumes:?}"
    );
    for dir in dirs {
        let volume = host_paths
            .iter()
            .find(|v| v["hostPath"]["path"] == *dir)
            .unwrap_or_else(|| panic!("no hostPath volume for {dir}: {volumes:?}"));
        assert_eq!(volume["hostPath"]["type"], "DirectoryOrCreate");
        let mounts: Vec<&Value> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] == volume["name"])
            .collect();
        assert_eq!(mounts.len(), 1, "{dir} is mounted once");
        assert_eq!(mounts[0]["mountPath"], *dir);
        assert_eq!(mounts[0]["mountPropagation"], "HostToContainer", "{dir}");
        assert_eq!(mounts[0]["readOnly"], true, "{dir}");
    }
}

/// The ClusterRole of the node pods grants get, list and watch on pods and nothing else;
/// the binding gives it to the node ServiceAccount of the release namespace, and only to
/// it.
fn assert_node_rbac(objects: &[Value]) {
    let role = one(objects, "ClusterRole");
    assert_eq!(role["metadata"]["name"], NODE_NAME);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}])
    );
    assert!(role.get("aggregationRule").is_none());
    let binding = one(objects, "ClusterRoleBinding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODE_NAME})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": NODE_NAME, "namespace": NAMESPACE}])
    );
    assert!(all(objects, "Role").is_empty() && all(objects, "RoleBinding").is_empty());
    let account = named(objects, "ServiceAccount", NODE_NAME);
    assert_eq!(account["metadata"]["namespace"], NAMESPACE);
    assert_eq!(account["automountServiceAccountToken"], true);
    let (pod, _) = node_pod(objects);
    assert_eq!(pod["serviceAccountName"], NODE_NAME);
    assert_eq!(pod["automountServiceAccountToken"], true);
}

#[test]
fn node_mode_next_to_the_webhook() {
    let objects = rendered(&["node.yaml"]);
    let mut kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "ConfigMap",
            "DaemonSet",
            "Deployment",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
            "ServiceAccount"
        ],
        "the webhook's objects, and the node's; no node Service without a ServiceMonitor"
    );
    for o in &objects {
        if ![
            "MutatingWebhookConfiguration",
            "ClusterRole",
            "ClusterRoleBinding",
        ]
        .contains(&o["kind"].as_str().unwrap())
        {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", o["kind"]);
        }
    }

    // The DaemonSet: the node's network and processes, on every node, one node at a time.
    let daemonset = named(&objects, "DaemonSet", NODE_NAME);
    assert_eq!(
        daemonset["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
    );
    let (pod, c) = node_pod(&objects);
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(
        pod["securityContext"]["seccompProfile"],
        json!({"type": "RuntimeDefault"})
    );
    for absent in [
        "priorityClassName",
        "nodeSelector",
        "affinity",
        "imagePullSecrets",
    ] {
        assert!(pod.get(absent).is_none(), "{absent} by default: {pod}");
    }

    // The container: node mode with the rendered configuration, and the node's identity.
    assert_eq!(c["image"], "ghcr.io/podflow/podflow:0.1.0");
    assert_eq!(
        c["args"],
        json!(["--mode", "node", "--config", "/etc/podflow/podflow.yaml"])
    );
    assert_eq!(
        field_ref(c, "PODFLOW_K8S__NODE_NAME"),
        Some(&json!("spec.nodeName"))
    );
    assert_eq!(
        field_ref(c, "PODFLOW_K8S__NODE_IP"),
        Some(&json!("status.hostIP"))
    );
    assert_eq!(c["env"].as_array().unwrap().len(), 2);
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsUser"], 0);
    assert_eq!(sc["runAsNonRoot"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_process_scan_access(&objects, true);
    assert!(
        sc.get("allowPrivilegeEscalation").is_none(),
        "Kubernetes refuses allowPrivilegeEscalation: false with SYS_ADMIN: {sc}"
    );
    assert!(sc.get("privileged").is_none(), "not privileged: {sc}");
    assert_eq!(sc["appArmorProfile"], json!({"type": "Unconfined"}));
    let annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .unwrap();
    assert!(
        annotations.keys().all(|k| !k.contains("apparmor")),
        "the field, not the annotation, on 1.33: {annotations:?}"
    );
    assert!(annotations.contains_key("checksum/config"));
    assert_eq!(
        c["ports"],
        json!([{"name": "podflow-metrics", "containerPort": 9477, "protocol": "TCP"}])
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "podflow-metrics");
    }
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}),
        "no CPU limit by default"
    );
    assert_netns_mounts(&objects, &["/var/run/netns"]);
    assert!(c["volumeMounts"].as_array().unwrap().contains(&json!({
        "name": "config", "mountPath": "/etc/podflow/podflow.yaml",
        "subPath": "podflow.yaml", "readOnly": true
    })));
    let config_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(config_volume["configMap"]["name"], NODE_NAME);

    // Webhook and node selectors never select each other's pods.
    let node_selector = &daemonset["spec"]["selector"]["matchLabels"];
    let node_labels = &daemonset["spec"]["template"]["metadata"]["labels"];
    assert_eq!(node_selector["app.kubernetes.io/component"], "node");
    assert!(selects(node_selector, node_labels));
    let deployment = one(&objects, "Deployment");
    let webhook_selector = &deployment["spec"]["selector"]["matchLabels"];
    let webhook_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(!selects(webhook_selector, node_labels));
    assert!(!selects(node_selector, webhook_labels));
    for kind in ["Service", "PodDisruptionBudget"] {
        let o = one(&objects, kind);
        let selector = o["spec"]["selector"]
            .get("matchLabels")
            .unwrap_or(&o["spec"]["selector"]);
        assert!(!selects(selector, node_labels), "the webhook's {kind}");
    }

    // RBAC: pods, read-only; the webhook keeps its token-less account.
    assert_node_rbac(&objects);
    assert_eq!(
        named(&objects, "ServiceAccount", FULLNAME)["automountServiceAccountToken"],
        false
    );
    assert_eq!(
        one(&objects, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );

    // The node configuration: the sidecars' collector, the node defaults, and podflow
    // loads it; the webhook's is still its own.
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config,
        json!({
            "export": {"collector": "udp://collector.monitoring:4739"},
            "ipfix": {"enterprise_number": 32473},
            "k8s": {"source": "kube"},
            "telemetry": {"listen": "0.0.0.0:9477"},
            "node": {
                "netns_dirs": ["/var/run/netns"], "scan_processes": true, "proc_dir": "/proc",
                "rescan_secs": 5, "pod_interfaces": [], "capture_host": true,
                "host_interfaces": [], "host_pod_veths": false
            },
            "log": {"format": "json", "level": "info"}
        })
    );
    assert_node_config_loads(&text);
    let (webhook_text, webhook_config) = podflow_config(&objects);
    assert!(webhook_config.get("node").is_none());
    inject_with(&webhook_text);
}

#[test]
fn node_mode_alone_with_its_service_monitor() {
    let objects = rendered(&["node-only.yaml"]);
    assert_eq!(
        kinds(&objects),
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet",
            "Service",
            "ServiceAccount",
            "ServiceMonitor"
        ]),
        "no webhook object with webhook.enabled=false"
    );
    assert_eq!(objects.len(), kinds(&objects).len(), "one of each");
    for o in &objects {
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/component"], "node",
            "{} belongs to node mode",
            o["kind"]
        );
        assert_eq!(o["metadata"]["name"], NODE_NAME, "{}", o["kind"]);
    }
    assert_node_rbac(&objects);

    let daemonset = one(&objects, "DaemonSet");
    assert_eq!(
        daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        "10%"
    );
    let template = &daemonset["spec"]["template"];
    assert_eq!(template["metadata"]["labels"]["team"], "netops");
    assert_eq!(
        template["metadata"]["annotations"]["example.com/team"],
        "netops"
    );
    let (pod, c) = node_pod(&objects);
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Equal", "value": "flows", "effect": "NoSchedule"}])
    );
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(
        c["env"].as_array().unwrap()[2],
        json!({"name": "PODFLOW_FLOW__BIFLOW", "value": "false"}),
        "node.env after the Downward API"
    );
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": 2, "memory": "1Gi"}})
    );
    assert_eq!(c["ports"][0]["containerPort"], 19477);

    // The headless Service selects the node pods on their metrics port, and the
    // ServiceMonitor selects that Service.
    let service = one(&objects, "Service");
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(
        service["spec"]["selector"],
        daemonset["spec"]["selector"]["matchLabels"]
    );
    assert!(selects(
        &service["spec"]["selector"],
        &template["metadata"]["labels"]
    ));
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "podflow-metrics", "port": 19477, "targetPort": "podflow-metrics", "protocol": "TCP"}])
    );
    let monitor = one(&objects, "ServiceMonitor");
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "podflow-metrics");
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([NAMESPACE])
    );

    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["export"]["collector"],
        "tcp://ipfix.collectors.svc.cluster.local:4740"
    );
    assert_eq!(config["ipfix"]["enterprise_number"], 64512);
    assert_eq!(
        config["k8s"],
        json!({"source": "kube", "cluster_name": "prod-eu-1"})
    );
    assert_eq!(config["telemetry"]["listen"], "0.0.0.0:19477");
    assert_eq!(
        config["log"],
        json!({"format": "text", "level": "podflow=debug"})
    );
    assert_eq!(config["node"]["rescan_secs"], 10);
    assert_eq!(config["node"]["pod_interfaces"], json!(["eth0"]));
    assert_eq!(config["node"]["host_interfaces"], json!(["ens5", "bond0"]));
    assert_eq!(config["node"]["host_pod_veths"], true);
    assert_node_config_loads(&text);
}

#[test]
fn node_mode_privileged() {
    let objects = rendered(&["node-privileged.yaml"]);
    let (_, c) = node_pod(&objects);
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], true);
    assert!(
        sc.get("capabilities").is_none(),
        "privileged replaces the capability set: {sc}"
    );
    assert!(sc.get("allowPrivilegeEscalation").is_none());
    assert!(
        sc.get("appArmorProfile").is_none(),
        "node.appArmorUnconfined=false: {sc}"
    );
    assert_eq!(sc["runAsUser"], 0);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    // Privileged holds every capability, but not the node's PID namespace: the process
    // scan still asks for it.
    assert_eq!(node_pod(&objects).0["hostPID"], true);
    assert_netns_mounts(&objects, &["/var/run/netns"]);
    assert_node_config_loads(&config_of(&objects, NODE_NAME).0);
    let objects = render(&["node-privileged.yaml"], &["node.scanProcesses=false"])
        .unwrap_or_else(|e| panic!("node.scanProcesses=false:\n{e}"));
    validate(&objects);
    assert!(node_pod(&objects).0.get("hostPID").is_none());
}

#[test]
fn node_mode_second_netns_dir() {
    let objects = rendered(&["node-netns-dirs.yaml"]);
    assert_netns_mounts(&objects, &["/var/run/netns", "/var/run/docker/netns"]);
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["node"]["netns_dirs"],
        json!(["/var/run/netns", "/var/run/docker/netns"])
    );
    assert_process_scan_access(&objects, false);
    assert_node_config_loads(&text);

    // No directory at all: the namespaces are found through the processes alone.
    let objects = render(&["node.yaml"], &["node.netnsDirs=null"])
        .unwrap_or_else(|e| panic!("node.netnsDirs=null:\n{e}"));
    validate(&objects);
    assert_netns_mounts(&objects, &[]);
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(config["node"]["netns_dirs"], json!([]));
    assert_process_scan_access(&objects, true);
    assert_node_config_loads(&text);
}

/// The values `it/cri_node.rs` runs under containerd: no process scan, and the pod index
/// from a PodList file that an extra hostPath volume brings in.
#[test]
fn node_mode_with_a_pod_list_file_and_no_process_scan() {
    let objects = rendered(&["node-cri.yaml"]);
    assert_eq!(
        kinds(&objects),
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet",
            "ServiceAccount"
        ])
    );
    assert_process_scan_access(&objects, false);
    let (pod, c) = node_pod(&objects);
    // From the host: the namespace directory, and the extra volume after the chart's own.
    let volumes = pod["volumes"].as_array().unwrap();
    let host_paths: Vec<&Value> = volumes.iter().map(|v| &v["hostPath"]["path"]).collect();
    assert_eq!(
        host_paths,
        [
            &Value::Null,
            &json!("/var/run/netns"),
            &json!("/var/lib/podflow")
        ]
    );
    assert_eq!(
        volumes.last().unwrap(),
        &json!({"name": "pod-list", "hostPath": {"path": "/var/lib/podflow", "type": "Directory"}})
    );
    assert_eq!(
        c["volumeMounts"].as_array().unwrap().last().unwrap(),
        &json!({"name": "pod-list", "mountPath": "/var/lib/podflow", "readOnly": true})
    );
    assert_eq!(
        c["env"].as_array().unwrap()[2],
        json!({"name": "PODFLOW_K8S__SOURCE", "value": "file:/var/lib/podflow/pods.json"})
    );
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["k8s"],
        json!({"source": "kube", "cluster_name": "lab"}),
        "node.env overrides the file's source"
    );
    assert_node_config_loads(&text);
}

#[test]
fn node_mode_app_armor_annotation_before_1_30() {
    let objects = render_for("1.29.0", &["node.yaml"], &[])
        .unwrap_or_else(|e| panic!("helm template for 1.29:\n{e}"));
    validate(&objects);
    let daemonset = named(&objects, "DaemonSet", NODE_NAME);
    assert_eq!(
        daemonset["spec"]["template"]["metadata"]["annotations"]
            ["container.apparmor.security.beta.kubernetes.io/podflow"],
        "unconfined"
    );
    let (_, c) = node_pod(&objects);
    assert_eq!(c["name"], "podflow");
    assert!(c["securityContext"].get("appArmorProfile").is_none());
}

#[test]
fn bad_values_fail_naming_the_value() {
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&[], &[], "collector.address is required"),
        (
            &["defaults.yaml"],
            &["collector.address=udp://10.0.0.5:4739"],
            "collector.address=",
        ),
        (&["defaults.yaml"], &["collector.port=0"], "collector.port"),
        (
            &["defaults.yaml"],
            &["collector.protocol=sctp"],
            "collector.protocol=\"sctp\"",
        ),
        (
            &["defaults.yaml"],
            &["collector.protocol=tls"],
            "collector.protocol=tls",
        ),
        (
            &["defaults.yaml"],
            &["tls.mode=vault"],
            "tls.mode=\"vault\"",
        ),
        (
            &["defaults.yaml"],
            &["match.mode=most"],
            "match.mode=\"most\"",
        ),
        (
            &["defaults.yaml"],
            &["match.mode=all", "match.labels.app=shop"],
            "match.mode=all",
        ),
        (
            &["defaults.yaml"],
            &["match.deployments[0]=shop/web/x"],
            "match.deployments",
        ),
        (
            &["defaults.yaml"],
            &["match.labels.app=not a value"],
            "match.labels.app",
        ),
        (
            &["defaults.yaml"],
            &["namespaceSelector.names[0]=x"],
            "namespaceSelector.names",
        ),
        (
            &["defaults.yaml"],
            &["webhook.failurePolicy=Never"],
            "webhook.failurePolicy",
        ),
        (
            &["defaults.yaml"],
            &["webhook.timeoutSeconds=60"],
            "webhook.timeoutSeconds",
        ),
        (
            &["defaults.yaml"],
            &["webhook.replicas=0"],
            "webhook.replicas",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.resources.limits.ephemeral-storage=1Gi"],
            "sidecar.resources.limits.ephemeral-storage",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.resources.requests.cpu=lots"],
            "sidecar.resources.requests.cpu",
        ),
        (
            &["defaults.yaml"],
            &["image.pullPolicy=Sometimes"],
            "image.pullPolicy",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.securityProfile=privileged"],
            "sidecar.securityProfile=\"privileged\" is not one of default, root, baseline",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.runAsUser=0"],
            "set sidecar.securityProfile=root for UID 0",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.runAsUser=-5"],
            "sidecar.runAsUser=-5",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.runAsUser=4294967296"],
            "sidecar.runAsUser=4294967296",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.skipEnforcingNamespaces=maybe"],
            "sidecar.skipEnforcingNamespaces=maybe",
        ),
        (
            &["defaults.yaml"],
            &["ipfix.enterpriseNumber=-1"],
            "ipfix.enterpriseNumber",
        ),
        (
            &["defaults.yaml"],
            &["tls.mode=provided"],
            "tls.provided.cert",
        ),
        (
            &["defaults.yaml"],
            &["tls.mode=provided", "tls.provided.existingSecret=mine"],
            "tls.provided.ca",
        ),
        (
            &["defaults.yaml"],
            &[
                "tls.mode=certManager",
                "tls.certManager.issuerRef.kind=Issuer",
            ],
            "tls.certManager.issuerRef.name",
        ),
        (
            &["defaults.yaml"],
            &["webhook.enabled=false"],
            "nothing to install",
        ),
        (
            &[],
            &["webhook.enabled=false", "node.enabled=true"],
            "collector.address is required",
        ),
        (&["node.yaml"], &["node.rescanSecs=0"], "node.rescanSecs=0"),
        (
            &["node.yaml"],
            &["node.netnsDirs=null", "node.scanProcesses=false"],
            "node.netnsDirs is empty and node.scanProcesses=false",
        ),
        (
            &["node.yaml"],
            &["node.netnsDirs[0]=var/run/netns"],
            "node.netnsDirs: \"var/run/netns\"",
        ),
        (
            &["node.yaml"],
            &[
                "node.netnsDirs[0]=/run/netns",
                "node.netnsDirs[1]=/run/netns/",
            ],
            "node.netnsDirs: \"/run/netns\" is listed twice",
        ),
        (&["node.yaml"], &["node.netnsDirs[0]=/"], "node.netnsDirs"),
        (
            &["node.yaml"],
            &["node.netnsDirs[0]=/proc/1/ns"],
            "node.netnsDirs: \"/proc/1/ns\"",
        ),
        (&["node.yaml"], &["node.procDir=proc"], "node.procDir"),
        (
            &["node.yaml"],
            &["node.scanProcesses=yes"],
            "node.scanProcesses=yes",
        ),
        (&["node.yaml"], &["node.privileged=1"], "node.privileged"),
        (
            &["node.yaml"],
            &["node.podInterfaces[0]=eth0/1"],
            "node.podInterfaces: \"eth0/1\"",
        ),
        (
            &["node.yaml"],
            &["node.hostInterfaces[0]=a-very-long-interface"],
            "node.hostInterfaces",
        ),
        (
            &["node.yaml"],
            &["node.telemetryPort=0"],
            "node.telemetryPort=0",
        ),
        (
            &["node.yaml"],
            &["node.logFormat=xml"],
            "node.logFormat=\"xml\"",
        ),
        (
            &["node.yaml"],
            &["node.maxUnavailable=0"],
            "node.maxUnavailable=0",
        ),
        (
            &["node.yaml"],
            &["node.maxUnavailable=150%"],
            "node.maxUnavailable=150%",
        ),
        (
            &["node.yaml"],
            &["node.resources.limits.memory=lots"],
            "node.resources.limits.memory",
        ),
        (&["node.yaml"], &["node.enabled=yes"], "node.enabled=yes"),
        (
            &["node.yaml"],
            &["node.extraVolumes=pods"],
            "node.extraVolumes must be a list",
        ),
        (
            &["node.yaml"],
            &["node.extraVolumes[0].hostPath.path=/var/lib/podflow"],
            "node.extraVolumes: map[hostPath:map[path:/var/lib/podflow]] has no name",
        ),
        (
            &["node.yaml"],
            &["node.extraVolumes[0].name=netns-0"],
            "node.extraVolumes: the name \"netns-0\" is the chart's own",
        ),
        (
            &["node-cri.yaml"],
            &["node.extraVolumes[1].name=pod-list"],
            "node.extraVolumes: \"pod-list\" is listed twice",
        ),
        (
            &["node-cri.yaml"],
            &["node.extraVolumeMounts[0].name=pods"],
            "node.extraVolumeMounts: \"pods\" names no volume of node.extraVolumes",
        ),
        (
            &["node-cri.yaml"],
            &["node.extraVolumeMounts[0].mountPath=var/lib/podflow"],
            "node.extraVolumeMounts: \"pod-list\" needs an absolute mountPath",
        ),
    ];
    for (files, sets, named) in cases {
        match render(files, sets) {
            Ok(_) => panic!("{files:?} {sets:?} rendered; expected a failure naming {named}"),
            Err(err) => assert!(
                err.contains(named),
                "{files:?} {sets:?}: the error does not name {named}:\n{err}"
            ),
        }
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// NOTES.txt as `helm install` would print it: `helm template` leaves NOTES out, so a copy
/// of the chart renders it into a ConfigMap with `tpl`.
fn notes(values: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("podflow");
    copy_dir(&chart_dir(), &chart);
    std::fs::copy(chart.join("templates/NOTES.txt"), chart.join("notes.txt")).unwrap();
    std::fs::write(
        chart.join("templates/zz-notes.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n\
         data:\n  notes: {{ tpl (.Files.Get \"notes.txt\") . | quote }}\n",
    )
    .unwrap();
    let out = Command::new(helm())
        .args(["template", RELEASE])
        .arg(&chart)
        .args(["--namespace", NAMESPACE, "--kube-version", KUBE_VERSION])
        .arg("--values")
        .arg(fixture(&format!("chart/{values}")))
        .args(["--show-only", "templates/zz-notes.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "NOTES.txt with {values}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let map: Value = serde_norway::from_slice(&out.stdout).unwrap();
    map["data"]["notes"].as_str().unwrap().to_string()
}

#[test]
fn notes_say_what_was_installed_and_how_to_inject() {
    let text = notes("defaults.yaml");
    for expected in [
        &format!("Deployment/{FULLNAME} (2 replicas)"),
        "udp://collector.monitoring:4739",
        "when they\n  are annotated podflow.io/inject: \"true\".",
        "podflow.io/inject=disabled",
        &format!("kube-system and {NAMESPACE} are never touched"),
        "securityProfile default: as UID 65532 with drop ALL, add NET_RAW",
        "set sidecar.securityProfile=root",
        "pod-security.kubernetes.io/enforce=baseline or restricted are left out",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    let text = notes("tcp-match.yaml");
    for expected in [
        "tcp://ipfix.collectors.svc.cluster.local:4740",
        "carry the labels app.kubernetes.io/part-of=shop, tier=1\n  and\n  belong to one of the Deployments shop-web, payments/checkout",
        "failurePolicy Fail",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    assert!(
        text.contains("securityProfile root: as UID 0 with drop ALL, add NET_RAW"),
        "{text}"
    );
    assert!(!text.contains("set sidecar.securityProfile=root"), "{text}");
}

#[test]
fn notes_say_what_node_mode_installed() {
    let text = notes("node.yaml");
    for expected in [
        &format!("Deployment/{FULLNAME} (2 replicas)"),
        &format!("DaemonSet/{NODE_NAME} (a pod on every node)"),
        &format!("ConfigMap/{NODE_NAME} (podflow.yaml)"),
        &format!("ClusterRole/{NODE_NAME} (get, list and watch on pods,\n    nothing else)"),
        "with NET_RAW, SYS_ADMIN and SYS_PTRACE",
        "(in /var/run/netns and through\nthe node's processes) and on the node's own interfaces",
        "exports to udp://collector.monitoring:4739",
        "Pods that also got the sidecar are observed by both.",
        &format!(
            "kubectl label namespace {NAMESPACE} pod-security.kubernetes.io/enforce=privileged"
        ),
        &format!("kubectl -n {NAMESPACE} logs daemonset/{NODE_NAME}"),
        "curl -s http://NODE_IP:9477/metrics",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }

    let text = notes("node-only.yaml");
    for expected in [
        &format!("DaemonSet/{NODE_NAME}"),
        &format!("Service/{NODE_NAME} (headless) and ServiceMonitor/{NODE_NAME}"),
        "exports to tcp://ipfix.collectors.svc.cluster.local:4740",
        "curl -s http://NODE_IP:19477/metrics",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    for absent in [
        "admission webhook",
        "get the sidecar",
        "securityProfile",
        "observed by both",
        &format!("deployment/{FULLNAME}"),
    ] {
        assert!(
            !text.contains(absent),
            "NOTES without the webhook mention {absent:?}:\n{text}"
        );
    }

    let text = notes("node-privileged.yaml");
    assert!(text.contains("privileged (node.privileged)"), "{text}");
    assert!(!text.contains("SYS_ADMIN"), "{text}");

    let text = notes("node-cri.yaml");
    for expected in [
        "root in the node's network namespace, with NET_RAW and SYS_ADMIN.",
        "(in /var/run/netns) and on the node's own interfaces",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    assert!(!text.contains("SYS_PTRACE"), "{text}");
}
