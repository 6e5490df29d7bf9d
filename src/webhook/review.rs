//! AdmissionReview in, AdmissionReview out: the pure core of `POST /mutate`.
//!
//! Every review that can be read is answered `allowed: true`: podflow observes, it never
//! stands in the way of a pod. What did not go as asked is said in `warnings`.

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, Operation, META_API_VERSION_V1, META_KIND,
};
use serde_json::Value;

use super::config::Match;
use super::pod::{PodView, Skip};
use super::sidecar::{self, Owner, PodFacts, Template};
use crate::quote::quote;

/// Adds the sidecar to the pods the configuration selects.
#[derive(Clone, Debug)]
pub struct Injector {
    rules: Match,
    template: Template,
}

/// A review answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Reviewed {
    /// The AdmissionReview response, JSON.
    pub body: Vec<u8>,
    /// What was decided, for metrics and logs.
    pub decision: Decision,
}

/// What the webhook did with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The pod gets the sidecar.
    Injected,
    /// A pod CREATE that does not get it, and why.
    Skipped(&'static str),
    /// Not a pod CREATE: allowed unchanged.
    NotApplicable,
}

/// A body that cannot be answered: HTTP 400 with this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

/// The outcome of planning one pod: the patch, or why there is none, and what the user
/// should know about the pod either way.
pub(super) struct Plan {
    pub patch: Result<json_patch::Patch, Skip>,
    pub warnings: Vec<String>,
}

impl Injector {
    /// The injector `settings` describe: the process's configuration (`&Config`, whose
    /// `webhook`, `export.collector`, `ipfix.enterprise_number` and `k8s.cluster_name`
    /// it takes) is one.
    pub fn new(settings: impl Into<Injector>) -> Injector {
        settings.into()
    }

    /// Adds the sidecar of `template` to the pods `rules` select.
    pub fn with_rules(rules: Match, template: Template) -> Injector {
        Injector { rules, template }
    }

    /// Answers one AdmissionReview request body.
    pub fn review(&self, body: &[u8]) -> Result<Reviewed, BadRequest> {
        let (req, object) = parse(body)?;
        let mut response = AdmissionResponse::from(&req);
        let decision = match object {
            None => Decision::NotApplicable,
            Some((pod, spec)) => {
                let view = PodView {
                    meta: Some(&pod.metadata),
                    spec: &spec,
                    namespace: req
                        .namespace
                        .as_deref()
                        .or(pod.metadata.namespace.as_deref()),
                };
                let selected = view.matches(&self.rules);
                let mut plan = self.plan(&view, selected);
                if let Err(skip) = &plan.patch {
                    if skip.warns() {
                        // The API server shows warnings to whoever created the pod.
                        let why = skip.reason();
                        plan.warnings
                            .push(format!("podflow sidecar not injected: {why}"));
                    }
                }
                if !plan.warnings.is_empty() {
                    response.warnings = Some(plan.warnings);
                }
                match plan.patch {
                    Ok(patch) => {
                        response = response
                            .with_patch(patch)
                            .map_err(|e| BadRequest(format!("cannot encode the patch: {e}")))?;
                        Decision::Injected
                    }
                    Err(skip) => Decision::Skipped(skip.reason()),
                }
            }
        };
        let body = encode(response)?;
        Ok(Reviewed { body, decision })
    }

    /// The sidecar patch for a pod whose owner its metadata tells.
    pub(super) fn plan(&self, view: &PodView, selected: bool) -> Plan {
        self.plan_with_owner(view, selected, view.owner())
    }

    /// The sidecar patch for a pod (or pod template) of a known owner; `selected` says
    /// whether the match rules (or the caller) want it.
    pub(super) fn plan_with_owner(&self, view: &PodView, selected: bool, owner: Owner) -> Plan {
        let mut warnings = Vec::new();
        let patch = view.decide(selected, &mut warnings).map(|()| {
            let port = self.template.settings.telemetry_port;
            let clash = port != 0 && view.uses_port(port);
            if clash {
                warnings.push(format!(
                    "podflow sidecar without telemetry: port {port} is used by the pod"
                ));
            }
            let facts = PodFacts {
                owner,
                telemetry: !clash,
            };
            view.patch(&sidecar::build(&self.template, &facts))
        });
        Plan { patch, warnings }
    }

    /// The shared part of every sidecar this injector adds.
    pub fn template(&self) -> &Template {
        &self.template
    }
}

/// The response as JSON, its patch in base64 as the API server's Go types write a byte
/// slice (kube-core writes an array of numbers, which is also read, at four times the size).
fn encode(response: AdmissionResponse) -> Result<Vec<u8>, BadRequest> {
    let failed = |e: serde_json::Error| BadRequest(format!("cannot encode the response: {e}"));
    let mut review = serde_json::to_value(response.into_review()).map_err(failed)?;
    if let Some(patch) = review.pointer_mut("/response/patch") {
        let bytes: Vec<u8> = serde_json::from_value(patch.take()).map_err(failed)?;
        *patch = Value::String(base64(&bytes));
    }
    serde_json::to_vec(&review).map_err(failed)
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The request, and the pod when it is a pod CREATE.
type PodAndSpec = (Pod, PodSpec);

fn parse(body: &[u8]) -> Result<(AdmissionRequest<Pod>, Option<PodAndSpec>), BadRequest> {
    let mut review: Value =
        serde_json::from_slice(body).map_err(|e| BadRequest(format!("body is not JSON: {e}")))?;
    let field = |name: &str| review.get(name).and_then(Value::as_str).unwrap_or("");
    let (kind, version) = (field("kind"), field("apiVersion"));
    if kind != META_KIND || version != META_API_VERSION_V1 {
        return Err(BadRequest(format!(
            "not an AdmissionReview {META_API_VERSION_V1}: kind {}, apiVersion {}",
            quote(kind),
            quote(version)
        )));
    }
    let Some(request) = review.get_mut("request").filter(|r| !r.is_null()) else {
        return Err(BadRequest("AdmissionReview has no request".into()));
    };
    // The objects are read apart, so that a broken object is named as such.
    let object = request.get_mut("object").map(Value::take);
    if let Some(old) = request.get_mut("oldObject") {
        *old = Value::Null;
    }
    let review: AdmissionReview<Pod> = serde_json::from_value(review)
        .map_err(|e| BadRequest(format!("not an AdmissionReview {META_API_VERSION_V1}: {e}")))?;
    let req: AdmissionRequest<Pod> = review
        .try_into()
        .map_err(|_| BadRequest("AdmissionReview has no request".into()))?;
    let is_pod = req.kind.group.is_empty()
        && req.kind.kind == "Pod"
        && req.sub_resource.as_deref().unwrap_or("").is_empty();
    if !is_pod || req.operation != Operation::Create {
        return Ok((req, None));
    }
    let mut pod: Pod = match object {
        None | Some(Value::Null) => return Err(BadRequest("pod CREATE without an object".into())),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| BadRequest(format!("object is not a Pod: {e}")))?,
    };
    let Some(spec) = pod.spec.take() else {
        return Err(BadRequest("object is not a Pod: it has no spec".into()));
    };
    Ok((req, Some((pod, spec))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn injector() -> Injector {
        Injector::with_rules(Match::default(), Template::for_tests(Default::default()))
    }

    const POD_CREATE: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
      "request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind":{"group":"","version":"v1","kind":"Pod"},
        "resource":{"group":"","version":"v1","resource":"pods"},
        "namespace":"shop","operation":"CREATE",
        "userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller"},
        "object":{"apiVersion":"v1","kind":"Pod",
          "metadata":{"generateName":"web-","namespace":"shop",
                      "annotations":{"podflow.io/inject":"true"}},
          "spec":{"containers":[{"name":"web","image":"nginx"}]}},
        "oldObject":null,"dryRun":false}}"#;

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        let e = |body: &str| injector().review(body.as_bytes()).unwrap_err().0;
        assert!(e("{").starts_with("body is not JSON"));
        assert!(
            e(r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#)
                .starts_with("not an AdmissionReview admission.k8s.io/v1")
        );
        assert_eq!(
            e(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
            "AdmissionReview has no request"
        );
        let not_a_pod = POD_CREATE.replace(
            r#""containers":[{"name":"web","image":"nginx"}]"#,
            r#""containers":7"#,
        );
        assert!(
            e(&not_a_pod).starts_with("object is not a Pod"),
            "{}",
            e(&not_a_pod)
        );
        let no_uid = POD_CREATE.replace(r#""uid":"705ab4f5-6393-11e8-b7cc-42010a800002","#, "");
        assert!(
            e(&no_uid).starts_with("not an AdmissionReview"),
            "{}",
            e(&no_uid)
        );
    }

    #[test]
    fn answers_with_the_uid_and_a_patch() {
        let r = injector().review(POD_CREATE.as_bytes()).unwrap();
        assert_eq!(r.decision, Decision::Injected);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(v["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(v["response"]["allowed"], true);
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        assert!(v["response"]["patch"].is_string(), "{v}");
    }

    #[test]
    fn base64_of_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn other_operations_pass_unchanged() {
        let update = POD_CREATE.replace("CREATE", "UPDATE");
        let r = injector().review(update.as_bytes()).unwrap();
        assert_eq!(r.decision, Decision::NotApplicable);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["response"]["allowed"], true);
        assert!(v["response"].get("patch").is_none());
    }

    #[test]
    fn never_panics_on_truncated_or_garbled_bodies() {
        let body = POD_CREATE.as_bytes();
        for end in 0..body.len() {
            let _ = injector().review(&body[..end]);
        }
        let mut garbled = body.to_vec();
        for i in (0..garbled.len()).step_by(7) {
            garbled[i] = garbled[i].wrapping_add(13);
            let _ = injector().review(&garbled);
        }
        for odd in ["null", "[]", "7", "\"x\"", "{\"request\":{}}", "\u{0}"] {
            assert!(injector().review(odd.as_bytes()).is_err(), "{odd}");
        }
    }
}
