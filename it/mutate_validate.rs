//! The admission mutate logic on AdmissionReview bodies written as the API server sends
//! them: each patch is applied to the pod with a JSON Patch implementation, the result
//! holds the sidecar exactly once and validates against the Kubernetes 1.33 schema
//! (`kubernetes-validate --strict`, from IPFIX_PYTHON's or .venv's Python); the patched
//! pod meets the Pod Security levels its security profile promises; names reach the
//! sidecar's process as written, whatever `$(...)` they hold.

mod common;
#[path = "../src/webhook/sidecar/kubelet.rs"]
mod kubelet;
#[path = "common/kubernetes.rs"]
mod kubernetes;
#[path = "common/pss.rs"]
mod pss;

use common::*;
use kubernetes::validate;
use podflow::config::Config;
use podflow::webhook::{Decision, Injector, SecurityProfile};
use pss::Level;
use serde_json::{json, Value};

fn review_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("admission/{name}"))).unwrap()
}

/// The test configuration: pods labelled app.kubernetes.io/name=shop get the sidecar.
fn test_config(native: bool) -> Config {
    let mut config = shop_webhook_config("udp://collector.monitoring:4739");
    config.webhook.sidecar.native = native;
    config
}

fn injector(native: bool) -> Injector {
    Injector::new(&test_config(native))
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let data: Vec<u8> = chunk
            .iter()
            .copied()
            .filter(|&c| c != b'=')
            .map(value)
            .collect();
        let n = data
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &v)| n | u32::from(v) << (18 - 6 * i));
        out.extend((0..data.len() - 1).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    out
}

/// The answer to `body`, checked for the fields every answer must carry.
fn answer(injector: &Injector, body: &[u8]) -> (Decision, Value) {
    let reviewed = injector.review(body).unwrap();
    let v: Value = serde_json::from_slice(&reviewed.body).unwrap();
    let request: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], request["request"]["uid"]);
    assert_eq!(v["response"]["allowed"], true);
    (reviewed.decision, v["response"].clone())
}

/// The pod of `body` with the patch of `response` applied.
fn patched(body: &[u8], response: &Value) -> Value {
    let request: Value = serde_json::from_slice(body).unwrap();
    let mut pod = request["request"]["object"].clone();
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = decode_base64(response["patch"].as_str().unwrap());
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    json_patch::patch(&mut pod, &patch).unwrap();
    pod
}

fn sidecars(pod: &Value) -> usize {
    ["containers", "initContainers"]
        .iter()
        .flat_map(|list| pod["spec"][list].as_array().into_iter().flatten())
        .filter(|c| c["name"] == "podflow")
        .count()
}

/// The pod with the name the API server generates after admission.
fn named(mut pod: Value) -> Value {
    if pod["metadata"].get("name").is_none() {
        let prefix = pod["metadata"]["generateName"]
            .as_str()
            .unwrap()
            .to_string();
        pod["metadata"]["name"] = Value::String(prefix + "x2x9k");
    }
    pod
}

#[test]
fn patched_pods_hold_one_sidecar_and_validate() {
    let mut pods = Vec::new();
    for native in [true, false] {
        let injector = injector(native);
        for name in [
            "deployment-pod.json",
            "bare-pod.json",
            "statefulset-pod.json",
            "minimal-pod.json",
        ] {
            let body = review_fixture(name);
            let (decision, response) = answer(&injector, &body);
            assert_eq!(decision, Decision::Injected, "{name}");
            let pod = patched(&body, &response);
            assert_eq!(sidecars(&pod), 1, "{name}");
            assert_eq!(
                pod["metadata"]["annotations"]["podflow.io/status"],
                "injected"
            );
            // Reinvocation: the API server sends the patched pod again; nothing is added.
            let mut again: Value = serde_json::from_slice(&body).unwrap();
            again["request"]["object"] = pod.clone();
            let (decision, response) = answer(&injector, again.to_string().as_bytes());
            assert_eq!(decision, Decision::Skipped("already injected"), "{name}");
            assert!(response.get("patch").is_none());
            pods.push(named(pod));
        }
    }
    validate(&pods);
}

#[test]
fn workload_and_the_downward_api_reach_the_sidecar() {
    let body = review_fixture("deployment-pod.json");
    let (_, response) = answer(&injector(true), &body);
    let pod = patched(&body, &response);
    let sidecar = &pod["spec"]["initContainers"][0];
    assert_eq!(sidecar["name"], "podflow");
    assert_eq!(sidecar["restartPolicy"], "Always");
    assert_eq!(sidecar["args"], json!(["--mode", "sidecar"]));
    let env = sidecar["env"].as_array().unwrap();
    let var = |n: &str| env.iter().find(|e| e["name"] == n).cloned().unwrap();
    assert_eq!(var("PODFLOW_K8S__WORKLOAD_NAME")["value"], "shop-web");
    assert_eq!(var("PODFLOW_K8S__WORKLOAD_KIND")["value"], "Deployment");
    assert_eq!(
        var("PODFLOW_EXPORT__COLLECTOR")["value"],
        "udp://collector.monitoring:4739"
    );
    assert_eq!(var("PODFLOW_K8S__CLUSTER_NAME")["value"], "test");
    assert_eq!(
        var("PODFLOW_K8S__POD_UID")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.uid"
    );
    let caps = &sidecar["securityContext"]["capabilities"];
    assert_eq!(caps["drop"], json!(["ALL"]));
    assert_eq!(caps["add"], json!(["NET_RAW"]));
    // The token volume stays first; the Downward-API volume comes after it.
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 2);
    assert_eq!(volumes[1]["name"], "podflow-podinfo");
    // The existing annotation is kept beside the new one.
    assert_eq!(
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2025-05-14T09:12:30Z"
    );

    let body = review_fixture("statefulset-pod.json");
    let (_, response) = answer(&injector(true), &body);
    let pod = patched(&body, &response);
    let init = pod["spec"]["initContainers"].as_array().unwrap();
    assert_eq!(
        (init[0]["name"].as_str(), init[1]["name"].as_str()),
        (Some("podflow"), Some("init-perms"))
    );
    let env = init[0]["env"].as_array().unwrap();
    assert!(env
        .iter()
        .any(|e| e["name"] == "PODFLOW_K8S__WORKLOAD_KIND" && e["value"] == "StatefulSet"));
    assert_eq!(
        pod["metadata"]["annotations"]["example.com/owner~team"],
        "storage"
    );
}

#[test]
fn a_clashing_telemetry_port_is_left_out_with_a_warning() {
    let body = review_fixture("minimal-pod.json");
    let (decision, response) = answer(&injector(true), &body);
    assert_eq!(decision, Decision::Injected);
    let warnings = response["warnings"].as_array().unwrap();
    assert!(
        warnings[0].as_str().unwrap().contains("9477"),
        "{warnings:?}"
    );
    let pod = patched(&body, &response);
    let sidecar = &pod["spec"]["initContainers"][0];
    assert!(sidecar.get("ports").is_none());
}

#[test]
fn pods_left_alone() {
    let injector = injector(true);
    for (name, reason, warns) in [
        ("opted-out-pod.json", "opted out", false),
        ("hostnetwork-pod.json", "hostNetwork pod", true),
        ("injected-pod.json", "already injected", false),
    ] {
        let (decision, response) = answer(&injector, &review_fixture(name));
        assert_eq!(decision, Decision::Skipped(reason), "{name}");
        assert!(response.get("patch").is_none(), "{name}");
        let warning = response["warnings"][0].as_str().unwrap_or("");
        assert_eq!(warning.contains(reason), warns, "{name}: {response}");
    }
    // Not selected: the labels do not match and nothing opts in.
    let mut config = Config::default();
    config
        .webhook
        .matching
        .labels
        .insert("app.kubernetes.io/name".into(), "other".into());
    let (decision, _) = answer(
        &Injector::new(&config),
        &review_fixture("deployment-pod.json"),
    );
    assert_eq!(decision, Decision::Skipped("not selected"));
}

#[test]
fn deployment_rule_and_mode_all() {
    let mut config = Config::default();
    let rules = &mut config.webhook.matching;
    rules.deployments = vec!["shop/shop-web".into()];
    let body = review_fixture("deployment-pod.json");
    assert_eq!(answer(&Injector::new(&config), &body).0, Decision::Injected);
    config
        .webhook
        .matching
        .labels
        .insert("app.kubernetes.io/component".into(), "db".into());
    config.webhook.matching.mode = podflow::webhook::MatchMode::All;
    assert_eq!(
        answer(&Injector::new(&config), &body).0,
        Decision::Skipped("not selected")
    );
    config.webhook.matching.mode = podflow::webhook::MatchMode::Any;
    assert_eq!(answer(&Injector::new(&config), &body).0, Decision::Injected);
    // The StatefulSet pod is not a Deployment's.
    config.webhook.matching.labels.clear();
    let sts = review_fixture("statefulset-pod.json");
    assert_eq!(
        answer(&Injector::new(&config), &sts).0,
        Decision::Skipped("not selected")
    );
}

#[test]
fn garbage_never_panics() {
    let injector = injector(true);
    for name in ["deployment-pod.json", "statefulset-pod.json"] {
        let body = review_fixture(name);
        for end in (0..body.len()).step_by(3) {
            let _ = injector.review(&body[..end]);
        }
        let mut flipped = body.clone();
        for i in (0..flipped.len()).step_by(11) {
            flipped[i] ^= 0x20;
            let _ = injector.review(&flipped);
        }
    }
}

/// The sidecar container of a patched pod.
fn sidecar_of(pod: &Value) -> &Value {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|list| pod["spec"][list].as_array().into_iter().flatten())
        .find(|c| c["name"] == "podflow")
        .expect("a podflow container")
}

#[test]
fn each_profile_meets_the_pod_security_levels_it_promises() {
    let body = review_fixture("restricted-pod.json");
    let request: Value = serde_json::from_slice(&body).unwrap();
    let before = &request["request"]["object"]["spec"];
    assert_eq!(
        pss::levels(before),
        [Level::Baseline, Level::Restricted],
        "the application alone meets restricted: {:?}",
        pss::violations(before, Level::Restricted)
    );
    let mut pods = Vec::new();
    for (profile, levels) in [
        (SecurityProfile::Default, vec![]),
        (SecurityProfile::Root, vec![]),
        (SecurityProfile::Baseline, vec![Level::Baseline]),
    ] {
        for native in [true, false] {
            let mut config = Config::default();
            config.webhook.sidecar.security_profile = profile;
            config.webhook.sidecar.native = native;
            config.webhook.matching.deployments = vec!["checkout".into()];
            let (decision, response) = answer(&Injector::new(&config), &body);
            assert_eq!(decision, Decision::Injected);
            let pod = patched(&body, &response);
            assert_eq!(
                pss::levels(&pod["spec"]),
                levels,
                "{profile:?}, native {native}: baseline {:?}, restricted {:?}",
                pss::violations(&pod["spec"], Level::Baseline),
                pss::violations(&pod["spec"], Level::Restricted)
            );
            let sc = &sidecar_of(&pod)["securityContext"];
            let root = profile != SecurityProfile::Default;
            assert_eq!(sc["runAsUser"], if root { 0 } else { 65532 }, "{profile:?}");
            assert_eq!(sc["runAsNonRoot"], !root, "{profile:?}");
            pods.push(named(pod));
        }
    }
    validate(&pods);
}

#[test]
fn the_pod_security_check_refuses_what_the_levels_refuse() {
    let compliant = || {
        json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
        })
    };
    assert_eq!(
        pss::levels(&compliant()),
        [Level::Baseline, Level::Restricted]
    );
    let mut cases: Vec<(&str, Value, Vec<Level>)> = Vec::new();
    let mut with = |what: &'static str, pointer: &str, value: Value, levels: Vec<Level>| {
        let mut spec = compliant();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let object = spec
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{parent}"));
        object[key] = value;
        cases.push((what, spec, levels));
    };
    let c = "/containers/0/securityContext";
    with("hostNetwork", "/hostNetwork", json!(true), vec![]);
    with("hostPID", "/hostPID", json!(true), vec![]);
    with("hostIPC", "/hostIPC", json!(true), vec![]);
    with(
        "add NET_RAW",
        &format!("{c}/capabilities"),
        json!({"drop": ["ALL"], "add": ["NET_RAW"]}),
        vec![],
    );
    with(
        "add CHOWN",
        &format!("{c}/capabilities"),
        json!({"drop": ["ALL"], "add": ["CHOWN"]}),
        vec![Level::Baseline],
    );
    with(
        "add NET_BIND_SERVICE",
        &format!("{c}/capabilities"),
        json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
        vec![Level::Baseline, Level::Restricted],
    );
    with(
        "drop some",
        &format!("{c}/capabilities"),
        json!({"drop": ["NET_RAW"]}),
        vec![Level::Baseline],
    );
    with(
        "escalation",
        &format!("{c}/allowPrivilegeEscalation"),
        json!(true),
        vec![Level::Baseline],
    );
    with(
        "root allowed",
        "/securityContext/runAsNonRoot",
        json!(false),
        vec![Level::Baseline],
    );
    with(
        "uid 0",
        "/securityContext",
        json!({"runAsNonRoot": true, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}),
        vec![Level::Baseline],
    );
    with(
        "no seccomp",
        "/securityContext",
        json!({"runAsNonRoot": true}),
        vec![Level::Baseline],
    );
    with(
        "unconfined",
        "/securityContext/seccompProfile/type",
        json!("Unconfined"),
        vec![],
    );
    with(
        "localhost",
        "/securityContext/seccompProfile",
        json!({"type": "Localhost", "localhostProfile": "p.json"}),
        vec![Level::Baseline, Level::Restricted],
    );
    let mut privileged = compliant();
    privileged["containers"][0]["securityContext"]["privileged"] = json!(true);
    cases.push(("privileged: true", privileged, vec![]));
    let mut host_port = compliant();
    host_port["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 80}]);
    cases.push(("hostPort", host_port, vec![]));
    let mut init = compliant();
    init["initContainers"] = json!([{"name": "sidecar", "securityContext": {"runAsNonRoot": false,
        "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]);
    cases.push(("a root init container", init, vec![Level::Baseline]));
    for (what, spec, levels) in cases {
        assert_eq!(pss::levels(&spec), levels, "{what}: {spec}");
    }
}

/// A review of the Deployment pod with its ReplicaSet (and so its Deployment) renamed.
fn review_owned_by(replica_set: &str) -> Vec<u8> {
    let mut review: Value = serde_json::from_slice(&review_fixture("deployment-pod.json")).unwrap();
    let meta = &mut review["request"]["object"]["metadata"];
    let hash = meta["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_string();
    meta["ownerReferences"][0]["name"] = json!(format!("{replica_set}-{hash}"));
    meta["generateName"] = json!(format!("{replica_set}-{hash}-"));
    serde_json::to_vec(&review).unwrap()
}

/// What the Downward API gives the sidecar of the patched deployment pod.
const FIELDS: &[(&str, &str)] = &[
    ("metadata.name", "web-7c9d8f6b5-x2x9k"),
    ("metadata.namespace", "shop"),
    ("metadata.uid", "0b1c6f3e-1111-2222-3333-444455556666"),
    ("spec.nodeName", "node-1"),
    ("status.hostIP", "192.168.1.10"),
    ("status.podIPs", "10.1.2.3,fd00::3"),
];

#[test]
fn names_and_settings_with_dollar_signs_reach_the_sidecar_as_written() {
    let mut config = test_config(true);
    let collector = "file:/var/flows/$(POD_IPS)$";
    config.export.collector = collector.parse().unwrap();
    config.k8s.cluster_name = Some("$$(PODFLOW_K8S__POD_NAME)".into());
    let injector = Injector::new(&config);
    for deployment in ["$(PODFLOW_EXPORT__COLLECTOR)", "$(POD_IPS)", "a$b$$c$("] {
        let body = review_owned_by(deployment);
        let (decision, response) = answer(&injector, &body);
        assert_eq!(decision, Decision::Injected);
        let pod = patched(&body, &response);
        let env = kubelet::environment(sidecar_of(&pod), FIELDS);
        let var = |n: &str| env.iter().find(|(k, _)| k == n).unwrap().1.as_str();
        assert_eq!(var("PODFLOW_K8S__WORKLOAD_NAME"), deployment);
        assert_eq!(var("PODFLOW_K8S__WORKLOAD_KIND"), "Deployment");
        assert_eq!(var("PODFLOW_EXPORT__COLLECTOR"), collector);
        assert_eq!(
            var("PODFLOW_K8S__CLUSTER_NAME"),
            "$$(PODFLOW_K8S__POD_NAME)"
        );
        assert_eq!(var("PODFLOW_K8S__POD_IPS"), "[10.1.2.3,fd00::3]");
        assert_eq!(var("PODFLOW_K8S__POD_NAME"), "web-7c9d8f6b5-x2x9k");
    }

    // A bare pod named with a reference: its workload is its own name, from the Downward
    // API; a Job's pod: its CronJob, named after the Job.
    let name = "$(PODFLOW_EXPORT__COLLECTOR)";
    let mut bare: Value = serde_json::from_slice(&review_fixture("bare-pod.json")).unwrap();
    bare["request"]["name"] = json!(name);
    bare["request"]["object"]["metadata"]["name"] = json!(name);
    let mut job = bare.clone();
    job["request"]["object"]["metadata"]["ownerReferences"] = json!([{"apiVersion": "batch/v1",
        "kind": "Job", "name": "$(POD_IPS)-28437120", "uid": "u", "controller": true}]);
    for (review, workload, kind) in [(bare, name, "Pod"), (job, "$(POD_IPS)", "CronJob")] {
        let body = review.to_string().into_bytes();
        let (decision, response) = answer(&injector, &body);
        assert_eq!(decision, Decision::Injected);
        let pod = patched(&body, &response);
        let mut fields = FIELDS.to_vec();
        fields[0] = ("metadata.name", name);
        let env = kubelet::environment(sidecar_of(&pod), &fields);
        let var = |n: &str| env.iter().find(|(k, _)| k == n).unwrap().1.as_str();
        assert_eq!(var("PODFLOW_K8S__POD_NAME"), name);
        assert_eq!(var("PODFLOW_K8S__WORKLOAD_NAME"), workload);
        assert_eq!(var("PODFLOW_K8S__WORKLOAD_KIND"), kind);
    }
}

#[test]
fn a_huge_annotation_value_is_cut_in_the_warning() {
    let mut review: Value = serde_json::from_slice(&review_fixture("deployment-pod.json")).unwrap();
    let value = "y".repeat(256 * 1024);
    review["request"]["object"]["metadata"]["annotations"]["podflow.io/inject"] = json!(value);
    let (decision, response) = answer(&injector(true), review.to_string().as_bytes());
    assert_eq!(
        decision,
        Decision::Injected,
        "the match rules still select it"
    );
    let warnings = response["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.contains("podflow.io/inject"), "{warning}");
    assert!(warning.contains("(262144 bytes)"), "{warning}");
    assert!(warning.len() < 250, "{warning}");
}
