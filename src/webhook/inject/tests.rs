//! Tests of `podflow inject` on small manifests.

use super::*;
use crate::webhook::sidecar::Template;
use crate::webhook::{Match, Sidecar};
use serde_json::json;

const MANIFESTS: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  answer: '42'
  flag: 'true'
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-web
  namespace: shop
spec:
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  schedule: '0 3 * * *'
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          hostNetwork: true
          containers: [{name: b, image: busybox}]
";

fn injector() -> Injector {
    injector_with(Sidecar::default())
}

fn injector_with(settings: Sidecar) -> Injector {
    Injector::with_rules(Match::default(), Template::for_tests(settings))
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

#[test]
fn adds_the_sidecar_to_templates_and_passes_the_rest() {
    let out = manifests(MANIFESTS, &injector()).unwrap();
    let before = docs(MANIFESTS);
    let after = docs(&out.yaml);
    assert_eq!(after.len(), 3);
    assert_eq!(after[0], before[0], "a ConfigMap passes through");
    assert_eq!(after[0]["data"]["answer"], "42");
    let template = &after[1]["spec"]["template"];
    assert_eq!(template["spec"]["initContainers"][0]["name"], "podflow");
    assert_eq!(
        template["metadata"]["annotations"]["podflow.io/status"],
        "injected"
    );
    let env = template["spec"]["initContainers"][0]["env"]
        .as_array()
        .unwrap();
    let var = |n: &str| {
        env.iter()
            .find(|e| e["name"] == n)
            .map(|e| e["value"].clone())
    };
    assert_eq!(var("PODFLOW_K8S__WORKLOAD_NAME"), Some(json!("shop-web")));
    assert_eq!(var("PODFLOW_K8S__WORKLOAD_KIND"), Some(json!("Deployment")));
    assert_eq!(after[2], before[2], "a hostNetwork CronJob is left alone");
    assert!(
        out.notes.iter().any(|n| n.contains("hostNetwork")),
        "{:?}",
        out.notes
    );
}

#[test]
fn every_document_gets_one_line() {
    let text =
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n\
        ---\nkind: Deployment\nmetadata: {name: edge}\nspec:\n  template:\n    spec: \
        {hostNetwork: true, containers: [{name: a, image: x}]}\n\
        ---\nkind: Deployment\nmetadata: {name: shop}\nspec:\n  template:\n    spec: \
        {containers: [{name: a, image: x}]}\n\
        ---\nkind: List\nitems:\n- {kind: ConfigMap, metadata: {name: settings}}\n\
        - {kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: x}]}}\n\
        ---\n{a: 1}\n";
    let notes = manifests(text, &injector()).unwrap().notes;
    assert_eq!(
        notes[..6],
        [
            "document 1: Service \"web\": no pod template, left as is",
            "document 2: Deployment \"edge\": sidecar not added: hostNetwork pod",
            "document 3: Deployment \"shop\": sidecar added",
            "document 4: ConfigMap \"settings\": no pod template, left as is",
            "document 4: Pod \"p\": sidecar added",
            "document 5: a document without a kind: no pod template, left as is",
        ],
        "{notes:?}"
    );
    // What concerns every document comes after, once.
    assert_eq!(notes.len(), 7, "{notes:?}");
    assert!(
        notes[6].starts_with("export.collector is stdout"),
        "{notes:?}"
    );
}

#[test]
fn twice_is_once() {
    let once = manifests(MANIFESTS, &injector()).unwrap().yaml;
    let twice = manifests(&once, &injector()).unwrap().yaml;
    assert_eq!(once, twice);
}

#[test]
fn lists_and_templates_without_metadata() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: DaemonSet\n  \
                metadata: {name: agent}\n  spec:\n    template:\n      spec:\n        \
                containers: [{name: a, image: x}]\n";
    let out = docs(&manifests(list, &injector()).unwrap().yaml);
    let template = &out[0]["items"][0]["spec"]["template"];
    assert_eq!(
        template["metadata"]["annotations"]["podflow.io/status"],
        "injected"
    );
    assert_eq!(template["spec"]["volumes"][0]["name"], "podflow-podinfo");
}

#[test]
fn bad_yaml_names_the_document() {
    let text = "kind: ConfigMap\n---\nkind: [unclosed\n";
    let e = manifests(text, &injector()).unwrap_err().to_string();
    assert!(e.starts_with("document 2: not valid YAML"), "{e}");
    let text =
        "kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec: {containers: 3}\n";
    let e = manifests(text, &injector()).unwrap_err().to_string();
    assert!(
        e.starts_with("document 1: Deployment \"d\": not a pod template"),
        "{e}"
    );
}

/// A Namespace with this enforce label, then a Deployment in it and one elsewhere.
fn enforcing(level: &str) -> String {
    let app = |name: &str, ns: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\n\
             spec:\n  selector: {{matchLabels: {{app: a}}}}\n  template:\n    metadata: \
             {{labels: {{app: a}}}}\n    spec: {{containers: [{{name: a, image: x}}]}}\n"
        )
    };
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: locked\n  labels:\n    \
         pod-security.kubernetes.io/enforce: {level}\n---\n{}---\n{}",
        app("inside", "locked"),
        app("outside", "open")
    )
}

fn refusals(level: &str, profile: crate::webhook::SecurityProfile) -> Vec<String> {
    let settings = Sidecar {
        security_profile: profile,
        ..Sidecar::default()
    };
    manifests(&enforcing(level), &injector_with(settings))
        .unwrap()
        .notes
        .into_iter()
        .filter(|n| n.contains("enforces Pod Security"))
        .collect()
}

#[test]
fn namespaces_whose_pod_security_refuses_the_sidecar_are_named() {
    use crate::webhook::SecurityProfile::{Baseline, Default, Root};
    let notes = refusals("baseline", Default);
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = &notes[0];
    assert!(
        note.starts_with("document 2: Deployment \"inside\": sidecar added; namespace \"locked\""),
        "{note}"
    );
    assert!(note.contains("security_profile \"default\""), "{note}");
    assert!(note.contains("use security_profile \"baseline\""), "{note}");
    assert_eq!(refusals("baseline", Root).len(), 1);
    assert!(refusals("baseline", Baseline).is_empty());
    for profile in [Default, Root, Baseline] {
        let notes = refusals("restricted", profile);
        assert_eq!(notes.len(), 1, "{profile:?}: {notes:?}");
        assert!(notes[0].ends_with("use node mode there"), "{notes:?}");
        assert!(refusals("privileged", profile).is_empty());
    }
}

#[test]
fn long_names_are_cut_in_notes() {
    let name = "w".repeat(300);
    let text = format!(
        "kind: Pod\nmetadata: {{name: {name}}}\nspec: {{hostNetwork: true, containers: [{{name: a}}]}}\n"
    );
    let out = manifests(&text, &injector()).unwrap();
    assert!(!out.notes.is_empty());
    for note in &out.notes {
        assert!(note.contains("(300 bytes)"), "{note}");
        assert!(note.len() < 200, "{note}");
    }
}
