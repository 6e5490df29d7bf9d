//! AdmissionReview bodies in, the answer and the patched pod out, as the tests read them.

use podflow::config::Config;
use podflow::webhook::{Decision, Injector};
use serde_json::Value;

use crate::common::{base64_decode, fixture, shop_webhook_config};

pub fn review_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("admission/{name}"))).unwrap()
}

/// The test configuration: pods labelled app.kubernetes.io/name=shop get the sidecar.
pub fn test_config(native: bool) -> Config {
    let mut config = shop_webhook_config("udp://collector.monitoring:4739");
    config.webhook.sidecar.native = native;
    config
}

pub fn injector(native: bool) -> Injector {
    Injector::new(&test_config(native))
}

/// The answer to `body`, checked for the fields every answer must carry.
pub fn answer(injector: &Injector, body: &[u8]) -> (Decision, Value) {
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
pub fn patched(body: &[u8], response: &Value) -> Value {
    let request: Value = serde_json::from_slice(body).unwrap();
    let mut pod = request["request"]["object"].clone();
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64_decode(response["patch"].as_str().unwrap());
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    json_patch::patch(&mut pod, &patch).unwrap();
    pod
}

pub fn sidecars(pod: &Value) -> usize {
    ["containers", "initContainers"]
        .iter()
        .flat_map(|list| pod["spec"][list].as_array().into_iter().flatten())
        .filter(|c| c["name"] == "podflow")
        .count()
}

/// The pod with the name the API server generates after admission.
pub fn named(mut pod: Value) -> Value {
    if pod["metadata"].get("name").is_none() {
        let prefix = pod["metadata"]["generateName"]
            .as_str()
            .unwrap()
            .to_string();
        pod["metadata"]["name"] = Value::String(prefix + "x2x9k");
    }
    pod
}
