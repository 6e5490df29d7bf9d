//! The whole admission function: an AdmissionReview body as the API server sends it, in;
//! the AdmissionReview answer, out. It must never panic; every body it answers is
//! answered `allowed: true` with the request's uid; a body refused (HTTP 400) is one that
//! kube's own types cannot read as a review podflow must answer; and a patch, when there
//! is one, must apply to the pod that was sent and leave a pod with one podflow container.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use kube::core::admission::{AdmissionRequest, AdmissionReview, Operation};
use libfuzzer_sys::fuzz_target;
use podflow::config::Config;
use podflow::webhook::{Decision, Injector};
use serde_json::Value;

/// The webhook as configured with both match rules, so that both are exercised.
static INJECTOR: LazyLock<Injector> = LazyLock::new(|| {
    let mut config = Config::default();
    let rules = &mut config.webhook.matching;
    rules.labels.insert("app".into(), "web".into());
    rules.deployments = vec!["shop/web".into(), "api".into()];
    Injector::new(&config)
});

/// Whether `body` is JSON (what the API server sends: no invalid UTF-8 or lone surrogate
/// even in fields nobody reads) that kube's own types read as an AdmissionReview v1 podflow
/// must answer: anything but a pod CREATE, or a pod CREATE with a pod that has a spec.
fn answerable(body: &[u8]) -> bool {
    if serde_json::from_slice::<Value>(body).is_err() {
        return false;
    }
    let Ok(review) = serde_json::from_slice::<AdmissionReview<Pod>>(body) else {
        return false;
    };
    if review.types.kind != "AdmissionReview" || review.types.api_version != "admission.k8s.io/v1" {
        return false;
    }
    let Ok(request): Result<AdmissionRequest<Pod>, _> = review.try_into() else {
        return false;
    };
    let pod_create = request.kind.group.is_empty()
        && request.kind.kind == "Pod"
        && request.sub_resource.as_deref().unwrap_or("").is_empty()
        && request.operation == Operation::Create;
    !pod_create || request.object.is_some_and(|pod| pod.spec.is_some())
}

fuzz_target!(|body: &[u8]| {
    let reviewed = match INJECTOR.review(body) {
        Ok(reviewed) => reviewed,
        Err(refused) => {
            assert!(
                !answerable(body),
                "a review kube reads was refused: {refused}"
            );
            return;
        }
    };
    let answer: Value = serde_json::from_slice(&reviewed.body).expect("the answer is JSON");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{answer}");
    let request: Value = serde_json::from_slice(body).expect("an answered body is JSON");
    assert_eq!(response["uid"], request["request"]["uid"]);
    let Some(patch) = response.get("patch").and_then(Value::as_str) else {
        assert_ne!(reviewed.decision, Decision::Injected);
        return;
    };
    assert_eq!(reviewed.decision, Decision::Injected);
    assert_eq!(response["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .expect("the patch is base64");
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("the patch is JSON Patch");
    let mut pod = request["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).expect("the patch applies to the pod it was made for");
    let pod: Pod = serde_json::from_value(pod).expect("the patched object is a pod");
    let spec = pod.spec.expect("the patched pod has a spec");
    let sidecars = spec
        .init_containers
        .iter()
        .chain(&Some(spec.containers))
        .flatten()
        .filter(|c| c.name == "podflow")
        .count();
    assert_eq!(sidecars, 1, "one podflow container");
});
