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
//!
//! Here: rendering, schema validation and the helpers every subject shares; the subjects
//! in `it/chart/`: the webhook's install, its certificates, node mode and its variants,
//! the mediator, a TLS collector from a Secret, values refused, the notes.

#[path = "chart/certificates.rs"]
mod certificates;
#[path = "chart/collector_tls.rs"]
mod collector_tls;
mod common;
#[path = "common/helm.rs"]
mod helm;
#[path = "common/kubernetes.rs"]
mod kubernetes;
#[path = "chart/mediator.rs"]
mod mediator;
#[path = "chart/node.rs"]
mod node;
#[path = "chart/node_variants.rs"]
mod node_variants;
#[path = "chart/notes.rs"]
mod notes;
#[path = "common/pss.rs"]
mod pss;
#[path = "chart/values.rs"]
mod values;
#[path = "chart/webhook_install.rs"]
mod webhook_install;

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

fn b64_text(v: &Value) -> String {
    String::from_utf8(base64_decode(v.as_str().expect("base64 string"))).unwrap()
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

/// The webhook's podflow configuration in its ConfigMap, as JSON.
/// The volume `name` of a pod spec.
fn volume<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name} in {pod}"))
}

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
