//! The Kustomize component: the committed files are what the code generates, the example
//! overlay renders with `kubectl kustomize` into objects that validate against Kubernetes
//! 1.33, and its sidecar is the container that `podflow inject` and the webhook add; a
//! component generated for the `baseline` security profile meets Pod Security baseline.

mod common;
#[path = "common/kubernetes.rs"]
mod kubernetes;
#[path = "common/pss.rs"]
mod pss;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use kubernetes::validate;
use podflow::config::Config;
use podflow::webhook::kustomize::{self, COLLECTOR_VAR};
use podflow::webhook::sidecar::Template;
use podflow::webhook::{Decision, Injector};
use serde::Deserialize;
use serde_json::{json, Value};

const COMPONENT: &str = "config/kustomize/podflow-sidecar";
const EXAMPLE: &str = "config/kustomize/example";
const WORKLOAD_VARS: [&str; 2] = ["PODFLOW_K8S__WORKLOAD_NAME", "PODFLOW_K8S__WORKLOAD_KIND"];

fn docs(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The files of a directory by name.
fn files_of(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// `kubectl kustomize DIR`, parsed.
fn kustomize_build(dir: &Path) -> Vec<Value> {
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl (with its built-in kustomize) on PATH");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    docs(&String::from_utf8(out.stdout).unwrap())
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {objects:#?}"))
}

/// The one ConfigMap whose name is the generated `podflow-sidecar-<hash>`.
fn config_map(objects: &[Value]) -> &Value {
    let prefix = format!("{}-", kustomize::CONFIG_MAP);
    let maps: Vec<_> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .filter(|o| o["metadata"]["name"].as_str().unwrap().starts_with(&prefix))
        .collect();
    assert_eq!(maps.len(), 1, "{maps:#?}");
    maps[0]
}

/// What a pod (or pod template) holds of podflow: the sidecar, where it is, its volume
/// and the status annotation.
#[derive(Debug)]
struct Added {
    container: Value,
    init_index: usize,
    volume: Value,
    status: Value,
}

fn added(pod: &Value) -> Added {
    let spec = &pod["spec"];
    let named = |list: &str, name: &str| -> Vec<(usize, Value)> {
        spec[list]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, c)| c["name"] == name)
            .map(|(i, c)| (i, c.clone()))
            .collect()
    };
    let inits = named("initContainers", "podflow");
    assert_eq!(inits.len(), 1, "one native sidecar in {pod:#}");
    assert!(named("containers", "podflow").is_empty(), "{pod:#}");
    let volumes = named("volumes", "podflow-podinfo");
    assert_eq!(volumes.len(), 1, "one podinfo volume in {pod:#}");
    let (init_index, container) = inits.into_iter().next().unwrap();
    Added {
        container,
        init_index,
        volume: volumes[0].1.clone(),
        status: pod["metadata"]["annotations"]["podflow.io/status"].clone(),
    }
}

/// The environment variable `name` of a container, removed.
fn take_env(container: &mut Value, name: &str) -> Option<Value> {
    let env = container["env"].as_array_mut()?;
    let at = env.iter().position(|v| v["name"] == name)?;
    Some(env.remove(at))
}

/// Replaces each `configMapKeyRef` of the container's environment by the literal value
/// the kubelet would give it from `maps`.
fn resolve_config_map_refs(container: &mut Value, maps: &[Value]) -> usize {
    let mut resolved = 0;
    for var in container["env"].as_array_mut().unwrap() {
        let Some(reference) = var.pointer("/valueFrom/configMapKeyRef").cloned() else {
            continue;
        };
        let map = find(maps, "ConfigMap", reference["name"].as_str().unwrap());
        let value = map["data"][reference["key"].as_str().unwrap()].clone();
        assert!(value.is_string(), "{reference} resolves in {map:#}");
        *var = json!({ "name": var["name"], "value": value });
        resolved += 1;
    }
    resolved
}

/// The pod the ReplicaSet controller creates for `deployment`, as the API server sends
/// it to the webhook at CREATE, and that pod after the webhook's patch, with its name.
fn webhook_pod(deployment: &Value, namespace: &str, collector: &str, hash: &str) -> Value {
    let name = deployment["metadata"]["name"].as_str().unwrap();
    let template = &deployment["spec"]["template"];
    let replica_set = format!("{name}-{hash}");
    let mut labels = template["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!(hash);
    let mut metadata = template["metadata"].clone();
    metadata["generateName"] = json!(format!("{replica_set}-"));
    metadata["namespace"] = json!(namespace);
    metadata["labels"] = labels;
    metadata["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
        "uid": "6f1b2c3d-0000-4000-8000-000000000001",
        "controller": true, "blockOwnerDeletion": true,
    }]);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"],
    });
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0c5e3f7a-1111-4222-8333-444455556666",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod, "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    });
    let mut config = Config::default();
    config.export.collector = collector.parse().unwrap();
    config.webhook.matching.deployments = vec![format!("{namespace}/{name}")];
    let reviewed = Injector::new(&config)
        .review(&serde_json::to_vec(&review).unwrap())
        .unwrap();
    assert_eq!(reviewed.decision, Decision::Injected);
    let response: Value = serde_json::from_slice(&reviewed.body).unwrap();
    assert_eq!(response["response"]["patchType"], "JSONPatch");
    let patch: json_patch::Patch = serde_json::from_slice(&base64_decode(
        response["response"]["patch"].as_str().unwrap(),
    ))
    .unwrap();
    let mut pod = review["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).unwrap();
    pod["metadata"]["name"] = json!(format!("{replica_set}-x2x9k"));
    pod
}

/// `podflow inject -f FILE` with the collector set through the environment.
fn inject(file: &Path, collector: &str) -> Vec<Value> {
    let out = podflow()
        .arg("inject")
        .arg("-f")
        .arg(file)
        .env("PODFLOW_EXPORT__COLLECTOR", collector)
        .output()
        .unwrap();
    assert_success(&out);
    docs(&String::from_utf8(out.stdout).unwrap())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

#[test]
fn committed_component_is_what_the_code_generates() {
    let committed = files_of(&root().join(COMPONENT));
    let generated: BTreeMap<String, String> =
        kustomize::component(&Template::from(&Config::default()))
            .into_iter()
            .map(|f| (f.name.to_string(), f.text))
            .collect();
    let stale = "config/kustomize/podflow-sidecar differs from what the code generates: \
                 run scripts/gen-kustomize.sh";
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "{stale}"
    );
    for (name, text) in &generated {
        assert_eq!(&committed[name], text, "{name}: {stale}");
    }

    // The command writes the same files.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("component");
    podflow()
        .args(["kustomize-component", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(files_of(&out), generated);
}

#[test]
fn example_carries_the_sidecar_of_the_webhook_and_of_inject() {
    let example = root().join(EXAMPLE);
    let rendered = kustomize_build(&example);
    validate(&rendered);

    let collector = config_map(&rendered)["data"][kustomize::COLLECTOR_KEY]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(collector, "stdout", "the example sets its collector");
    let source_file = example.join("deployment.yaml");
    let source = &docs(&std::fs::read_to_string(&source_file).unwrap())[0];
    let name = source["metadata"]["name"].as_str().unwrap();
    let kustomized = find(&rendered, "Deployment", name);
    let namespace = kustomized["metadata"]["namespace"].as_str().unwrap();

    let injected_docs = inject(&source_file, &collector);
    validate(&injected_docs);
    let injected = find(&injected_docs, "Deployment", name);
    let hash = "5d8f7c6b9";
    let pod = webhook_pod(source, namespace, &collector, hash);
    validate(std::slice::from_ref(&pod));

    let mut from_kustomize = added(&kustomized["spec"]["template"]);
    let mut from_inject = added(&injected["spec"]["template"]);
    let mut from_webhook = added(&pod);

    // The collector: a reference to the generated ConfigMap in the component, a literal
    // in the other two. Resolved the way the kubelet does, it must be the same value.
    assert_eq!(
        from_kustomize.container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == COLLECTOR_VAR)
            .unwrap()["valueFrom"]["configMapKeyRef"]["name"],
        config_map(&rendered)["metadata"]["name"],
        "the reference follows the ConfigMap's hashed name"
    );
    assert_eq!(
        resolve_config_map_refs(&mut from_kustomize.container, &rendered),
        1
    );

    // The workload: the webhook and inject name it; the component leaves it to the
    // sidecar, which derives it from the pod name and labels. Both must give the same.
    let labels: BTreeMap<String, String> =
        serde_json::from_value(pod["metadata"]["labels"].clone()).unwrap();
    let derived =
        podflow::metadata::derive_workload(pod["metadata"]["name"].as_str().unwrap(), &labels);
    assert_eq!(
        (derived.name.as_str(), derived.kind.as_str()),
        (name, "Deployment")
    );
    for sidecar in [&mut from_inject, &mut from_webhook] {
        let told: Vec<Value> = WORKLOAD_VARS
            .iter()
            .map(|var| take_env(&mut sidecar.container, var).unwrap()["value"].clone())
            .collect();
        assert_eq!(told, [json!(derived.name), json!(derived.kind)]);
    }
    for var in WORKLOAD_VARS {
        assert!(take_env(&mut from_kustomize.container, var).is_none());
    }

    // Everything else is the same: image, pull policy, args, every other variable and
    // its source in the same order, ports, resources, restartPolicy, securityContext,
    // volumeMounts; the volume, the annotation and the first place in initContainers.
    for (who, other) in [("podflow inject", &from_inject), ("webhook", &from_webhook)] {
        assert_eq!(
            pretty(&from_kustomize.container),
            pretty(&other.container),
            "kustomize and {who} differ"
        );
        assert_eq!(from_kustomize.volume, other.volume, "{who}");
        assert_eq!(from_kustomize.status, other.status, "{who}");
        assert_eq!(from_kustomize.init_index, other.init_index, "{who}");
    }
    assert_eq!(from_kustomize.status, "injected");
    assert_eq!(from_kustomize.init_index, 0);
    let c = &from_kustomize.container;
    assert_eq!(c["restartPolicy"], "Always");
    assert_eq!(
        c["securityContext"]["capabilities"]["add"],
        json!(["NET_RAW"])
    );
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/podinfo");
}

/// An overlay of other Deployments next to the example: one with its own init container
/// and volume, one that opts out, and no collector set.
fn scratch_overlay() -> (tempfile::TempDir, PathBuf) {
    // Kustomize takes only relative paths to components: a copy of the committed one.
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("podflow-sidecar");
    std::fs::create_dir(&component).unwrap();
    for (name, text) in files_of(&root().join(COMPONENT)) {
        std::fs::write(component.join(name), text).unwrap();
    }
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         namespace: batch\nresources:\n- apps.yaml\ncomponents:\n- podflow-sidecar\n",
    )
    .unwrap();
    let app = |name: &str, annotations: &str, extra: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n{annotations}\
             spec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    \
             metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      \
             - {{name: main, image: busybox:1.36}}\n{extra}"
        )
    };
    let with_init = "      initContainers:\n      - {name: migrate, image: busybox:1.36}\n      \
                     volumes:\n      - {name: scratch, emptyDir: {}}\n";
    let opted_out = "  annotations:\n    podflow.io/inject: \"false\"\n";
    let apps = [
        app("worker", "", with_init),
        app("legacy", opted_out, ""),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: worker\nspec:\n  selector: \
         {app: worker}\n  ports:\n  - {port: 80}\n"
            .to_string(),
    ]
    .join("---\n");
    std::fs::write(dir.path().join("apps.yaml"), &apps).unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn targets_deployments_first_in_init_containers_unless_opted_out() {
    let (_dir, overlay) = scratch_overlay();
    let rendered = kustomize_build(&overlay);
    validate(&rendered);

    let worker = &find(&rendered, "Deployment", "worker")["spec"]["template"];
    let sidecar = added(worker);
    assert_eq!(
        sidecar.init_index, 0,
        "before the application's init container"
    );
    let inits: Vec<_> = worker["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(inits, ["podflow", "migrate"]);
    let volumes: Vec<_> = worker["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(volumes.len(), 2);
    assert!(volumes.contains(&"scratch") && volumes.contains(&"podflow-podinfo"));

    // Without a patch of the ConfigMap, the collector is the component's default.
    let map = config_map(&rendered);
    assert_eq!(map["metadata"]["namespace"], "batch");
    assert_eq!(map["data"][kustomize::COLLECTOR_KEY], "stdout");

    let legacy = &find(&rendered, "Deployment", "legacy")["spec"]["template"];
    assert!(legacy["spec"].get("initContainers").is_none(), "{legacy:#}");
    assert!(
        legacy["metadata"].get("annotations").is_none(),
        "{legacy:#}"
    );
    assert!(legacy["spec"].get("volumes").is_none(), "{legacy:#}");
    assert!(find(&rendered, "Service", "worker")["spec"]
        .get("template")
        .is_none());
}

/// The scratch overlay rendered with a component generated with `var=value`, validated.
fn render_with_component_of(var: &str, value: &str) -> Vec<Value> {
    let (dir, overlay) = scratch_overlay();
    let component = dir.path().join("podflow-sidecar");
    std::fs::remove_dir_all(&component).unwrap();
    podflow()
        .args(["kustomize-component", "--out"])
        .arg(&component)
        .env(var, value)
        .assert()
        .success();
    let rendered = kustomize_build(&overlay);
    validate(&rendered);
    rendered
}

#[test]
fn regular_sidecar_is_the_last_container() {
    let rendered = render_with_component_of("PODFLOW_WEBHOOK__SIDECAR__NATIVE", "false");

    let worker = &find(&rendered, "Deployment", "worker")["spec"]["template"]["spec"];
    let names = |list: &str| -> Vec<String> {
        worker[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("containers"), ["main", "podflow"]);
    assert_eq!(names("initContainers"), ["migrate"]);
    let sidecar = &worker["containers"][1];
    assert!(sidecar.get("restartPolicy").is_none());
    let collector = sidecar["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == COLLECTOR_VAR)
        .unwrap();
    assert_eq!(
        collector["valueFrom"]["configMapKeyRef"]["name"],
        config_map(&rendered)["metadata"]["name"]
    );
    let legacy = &find(&rendered, "Deployment", "legacy")["spec"]["template"]["spec"];
    assert_eq!(legacy["containers"].as_array().unwrap().len(), 1);
}

#[test]
fn a_baseline_profile_component_meets_pod_security_baseline() {
    let rendered =
        render_with_component_of("PODFLOW_WEBHOOK__SIDECAR__SECURITY_PROFILE", "baseline");
    let worker = &find(&rendered, "Deployment", "worker")["spec"]["template"]["spec"];
    assert_eq!(
        pss::levels(worker),
        [pss::Level::Baseline],
        "{:?}",
        pss::violations(worker, pss::Level::Baseline)
    );
    let sidecar = &worker["initContainers"][0];
    assert_eq!(sidecar["name"], "podflow");
    assert_eq!(sidecar["securityContext"]["runAsUser"], 0);
    assert!(sidecar["securityContext"]["capabilities"]
        .get("add")
        .is_none());
    // The committed (default) component adds NET_RAW, which baseline refuses.
    let (_dir, overlay) = scratch_overlay();
    let rendered = kustomize_build(&overlay);
    let worker = &find(&rendered, "Deployment", "worker")["spec"]["template"]["spec"];
    assert!(pss::levels(worker).is_empty());
    assert!(pss::violations(worker, pss::Level::Baseline)
        .iter()
        .any(|v| v.contains("adds NET_RAW")));
}
