//! `podflow inject` through the real binary on sample manifests: the output validates
//! against the Kubernetes 1.33 schema, other documents keep their content, and a second
//! run changes nothing; names reach the sidecar as written; the security profile comes
//! from the configuration, and a Namespace that would refuse it is named.

mod common;
#[path = "../src/webhook/sidecar/kubelet.rs"]
mod kubelet;
#[path = "common/kubernetes.rs"]
mod kubernetes;

use common::*;
use kubernetes::validate;
use predicates::str::contains;
use serde::Deserialize;
use serde_json::Value;

fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// `podflow inject` with `args`, `stdin` and the collector set through the environment.
fn inject(args: &[&str], stdin: &str) -> String {
    let out = podflow()
        .arg("inject")
        .args(args)
        .env(
            "PODFLOW_EXPORT__COLLECTOR",
            "udp://collector.monitoring:4739",
        )
        .write_stdin(stdin)
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

fn template(doc: &Value) -> Option<&Value> {
    match doc["kind"].as_str()? {
        "Pod" => Some(doc),
        "CronJob" => doc.pointer("/spec/jobTemplate/spec/template"),
        _ => doc.pointer("/spec/template"),
    }
}

fn sidecars(doc: &Value) -> usize {
    let Some(t) = template(doc) else { return 0 };
    ["containers", "initContainers"]
        .iter()
        .flat_map(|l| t["spec"][l].as_array().into_iter().flatten())
        .filter(|c| c["name"] == "podflow")
        .count()
}

#[test]
fn sample_manifests_get_the_sidecar_and_validate() {
    let file = fixture("manifests/shop.yaml");
    let input = std::fs::read_to_string(&file).unwrap();
    let out = inject(&["-f", file.to_str().unwrap()], "");
    let (before, after) = (docs(&input), docs(&out));
    assert_eq!(before.len(), after.len());
    let kinds: Vec<(&str, usize)> = after
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), sidecars(d)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Namespace", 0),
            ("ConfigMap", 0),
            ("Service", 0),
            ("Deployment", 1),
            ("StatefulSet", 1),
            ("DaemonSet", 0),
            ("ReplicaSet", 0),
            ("Job", 1),
            ("CronJob", 1),
            ("Pod", 1),
        ]
    );
    for (b, a) in before.iter().zip(&after) {
        if sidecars(a) == 0 {
            assert_eq!(a, b, "left alone, same content");
        }
    }
    assert_eq!(after[1]["data"]["RETRIES"], "3");
    let env = &template(&after[8]).unwrap()["spec"]["initContainers"][0]["env"];
    let kind = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "PODFLOW_K8S__WORKLOAD_KIND")
        .unwrap();
    assert_eq!(kind["value"], "CronJob");
    validate(&after);
}

#[test]
fn twice_changes_nothing_and_stdin_works() {
    let input = std::fs::read_to_string(fixture("manifests/shop.yaml")).unwrap();
    let once = inject(&[], &input);
    let twice = inject(&["-f", "-"], &once);
    assert_eq!(once, twice);
}

#[test]
fn lists_are_walked() {
    let input = std::fs::read_to_string(fixture("manifests/list.yaml")).unwrap();
    let out = docs(&inject(&[], &input));
    let items = out[0]["items"].as_array().unwrap();
    assert_eq!(sidecars(&items[0]), 1);
    assert_eq!(sidecars(&items[1]), 0);
    validate(items);
}

#[test]
fn the_configuration_file_shapes_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("podflow.toml");
    std::fs::write(
        &config,
        "[export]\ncollector = \"tcp://10.0.0.5:4739\"\n[webhook.sidecar]\nnative = false\nimage = \"registry.example/podflow:dev\"\n",
    )
    .unwrap();
    let input = std::fs::read_to_string(fixture("manifests/list.yaml")).unwrap();
    let out = podflow()
        .args(["inject", "--config", config.to_str().unwrap()])
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = docs(&String::from_utf8(out.stdout).unwrap());
    let containers = &out[0]["items"][0]["spec"]["template"]["spec"]["containers"];
    let sidecar = &containers[1];
    assert_eq!(sidecar["image"], "registry.example/podflow:dev");
    assert!(sidecar["env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["value"] == "tcp://10.0.0.5:4739"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    podflow()
        .arg("inject")
        .write_stdin("kind: ConfigMap\n---\nkind: [unclosed\n")
        .assert()
        .code(2)
        .stderr(contains("document 2: not valid YAML"));
    podflow()
        .args(["inject", "-f", "/nonexistent/app.yaml"])
        .assert()
        .code(2)
        .stderr(contains("cannot read /nonexistent/app.yaml"));
    podflow()
        .arg("inject")
        .env(
            "PODFLOW_WEBHOOK__SIDECAR__RESOURCES__LIMITS__MEMORY",
            "lots",
        )
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(contains("webhook.sidecar.resources.limits.memory"))
        .stderr(contains("lots"));
}

fn sidecar_of(doc: &Value) -> &Value {
    template(doc).unwrap()["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "podflow")
        .unwrap()
}

#[test]
fn names_with_dollar_signs_reach_the_sidecar_as_written() {
    let manifest = "apiVersion: apps/v1\nkind: Deployment\n\
        metadata: {name: '$(PODFLOW_EXPORT__COLLECTOR)', namespace: shop}\n\
        spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    \
        metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n\
        ---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: lone\n  ownerReferences:\n  \
        - {apiVersion: apps/v1, kind: StatefulSet, name: 'db$$(POD_IPS)$', uid: u, controller: true}\n\
        spec: {containers: [{name: db, image: postgres}]}\n";
    let collector = "file:/var/flows/$(POD_IPS)";
    let out = podflow()
        .arg("inject")
        .env("PODFLOW_EXPORT__COLLECTOR", collector)
        .write_stdin(manifest)
        .output()
        .unwrap();
    assert_success(&out);
    let docs = docs(&String::from_utf8(out.stdout).unwrap());
    let fields = [
        ("metadata.name", "pod-1"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "u-1"),
        ("spec.nodeName", "node-1"),
        ("status.hostIP", "192.0.2.1"),
        ("status.podIPs", "10.1.2.3"),
    ];
    for (doc, name, kind) in [
        (&docs[0], "$(PODFLOW_EXPORT__COLLECTOR)", "Deployment"),
        (&docs[1], "db$$(POD_IPS)$", "StatefulSet"),
    ] {
        let env = kubelet::environment(sidecar_of(doc), &fields);
        let var = |n: &str| env.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(var("PODFLOW_K8S__WORKLOAD_NAME"), name);
        assert_eq!(var("PODFLOW_K8S__WORKLOAD_KIND"), kind);
        assert_eq!(var("PODFLOW_EXPORT__COLLECTOR"), collector);
        assert_eq!(var("PODFLOW_K8S__POD_IPS"), "[10.1.2.3]");
    }
}

/// `podflow inject` with `env`, on `manifest`: (exit code, stdout documents, stderr).
fn inject_with_env(env: &[(&str, &str)], manifest: &str) -> (Option<i32>, Vec<Value>, String) {
    let mut cmd = podflow();
    cmd.arg("inject");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.write_stdin(manifest).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (out.status.code(), docs(&stdout), stderr)
}

const LOCKED_NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: locked\n  \
    labels: {pod-security.kubernetes.io/enforce: baseline}\n---\napiVersion: v1\nkind: Pod\n\
    metadata: {name: web, namespace: locked}\nspec: {containers: [{name: web, image: nginx}]}\n";

#[test]
fn the_profile_comes_from_the_configuration_and_refusing_namespaces_are_named() {
    let (code, docs, stderr) = inject_with_env(&[], LOCKED_NAMESPACE);
    assert_eq!(code, Some(0), "{stderr}");
    let sc = &sidecar_of(&docs[1])["securityContext"];
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["capabilities"]["add"], serde_json::json!(["NET_RAW"]));
    assert!(
        stderr.contains(
            "document 2: Pod \"web\": sidecar added; namespace \"locked\" enforces Pod Security \"baseline\""
        ),
        "{stderr}"
    );

    let profile = [("PODFLOW_WEBHOOK__SIDECAR__SECURITY_PROFILE", "baseline")];
    let (code, docs, stderr) = inject_with_env(&profile, LOCKED_NAMESPACE);
    assert_eq!(code, Some(0), "{stderr}");
    let sc = &sidecar_of(&docs[1])["securityContext"];
    assert_eq!(sc["runAsUser"], 0);
    assert!(sc["capabilities"].get("add").is_none(), "{sc}");
    assert_eq!(sc["capabilities"]["drop"].as_array().unwrap().len(), 13);
    assert!(!stderr.contains("enforces Pod Security"), "{stderr}");
    validate(&docs);
}

#[test]
fn a_bad_profile_or_uid_is_a_configuration_error() {
    for (var, value, expected) in [
        (
            "PODFLOW_WEBHOOK__SIDECAR__RUN_AS_USER",
            "0",
            [
                "webhook.sidecar.run_as_user = 0 from environment variable",
                "webhook.sidecar.security_profile = \"root\"",
            ],
        ),
        (
            "PODFLOW_WEBHOOK__SIDECAR__SECURITY_PROFILE",
            "nobody",
            [
                "webhook.sidecar.security_profile = \"nobody\"",
                "default, root, baseline",
            ],
        ),
    ] {
        let (code, _, stderr) = inject_with_env(&[(var, value)], LOCKED_NAMESPACE);
        assert_eq!(code, Some(2), "{stderr}");
        for text in expected {
            assert!(
                stderr.contains(text),
                "{var}={value}: no {text:?} in {stderr}"
            );
        }
    }
    // With the root profile, UID 0 is what it means.
    let (code, docs, stderr) = inject_with_env(
        &[
            ("PODFLOW_WEBHOOK__SIDECAR__RUN_AS_USER", "0"),
            ("PODFLOW_WEBHOOK__SIDECAR__SECURITY_PROFILE", "root"),
        ],
        LOCKED_NAMESPACE,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(sidecar_of(&docs[1])["securityContext"]["runAsUser"], 0);
}
