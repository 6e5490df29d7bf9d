//! `podflow inject`: the sidecar added to the pod templates of manifests, offline, for
//! clusters where an admission webhook is not allowed. Pure: YAML text in, YAML text out.
//!
//! Every workload kind with a pod template gets the sidecar (Deployment, StatefulSet,
//! DaemonSet, ReplicaSet, Job, CronJob), as do Pods and the items of a List; the match
//! rules do not apply (naming the file is the choice), the annotations and the hostNetwork
//! rule do. Other documents pass through with the same content. Running it on its own
//! output changes nothing. A Namespace of the same input whose Pod Security label
//! enforces a level that refuses the sidecar gets a note for each workload injected there.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::Deserialize;
use serde_json::Value;

use super::pod::PodView;
use super::review::Injector;
use super::sidecar::Owner;
use crate::quote::quote;

/// Manifests that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// A document is not YAML.
    #[error("document {number}: not valid YAML: {message}")]
    Yaml {
        /// 1-based number of the document in the stream.
        number: usize,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A pod template that does not parse as one.
    #[error("document {number}: {what}: {message}")]
    Template {
        /// 1-based number of the document in the stream.
        number: usize,
        /// Kind and name of the object.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// The result could not be written as YAML.
    #[error("cannot write YAML: {0}")]
    Write(String),
}

/// Manifests with the sidecar added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    /// The documents, `---`-separated.
    pub yaml: String,
    /// One line per document (per item of a List), saying what was done with it; then
    /// what concerns them all.
    pub notes: Vec<String>,
}

/// The kinds whose pod template is at `path`.
const TEMPLATES: &[(&str, &[&str])] = &[
    ("Deployment", &["spec", "template"]),
    ("StatefulSet", &["spec", "template"]),
    ("DaemonSet", &["spec", "template"]),
    ("ReplicaSet", &["spec", "template"]),
    ("Job", &["spec", "template"]),
    ("CronJob", &["spec", "jobTemplate", "spec", "template"]),
    ("Pod", &[]),
];

const ADDED: &str = "sidecar added";
/// The label of a Namespace that makes Pod Security Admission refuse pods below a level.
const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// What every document is patched with.
struct Context<'a> {
    injector: &'a Injector,
    /// The enforced Pod Security level of each Namespace object of the input.
    enforced: BTreeMap<String, String>,
}

/// Adds the sidecar to every pod template of the multi-document YAML `text`.
pub fn manifests(text: &str, injector: &Injector) -> Result<Injected, InjectError> {
    let mut out = Vec::new();
    for (i, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let number = i + 1;
        let doc = Value::deserialize(document).map_err(|e| InjectError::Yaml {
            number,
            message: e.to_string(),
        })?;
        if !doc.is_null() {
            out.push((number, doc));
        }
    }
    let mut enforced = BTreeMap::new();
    for (_, doc) in &out {
        enforced_levels(doc, &mut enforced);
    }
    let context = Context { injector, enforced };
    let (mut notes, mut added) = (Vec::new(), 0);
    for (number, doc) in &mut out {
        added += object(doc, &context, *number, &mut notes)?;
    }
    let out: Vec<Value> = out.into_iter().map(|(_, doc)| doc).collect();
    if added > 0 && injector.template().collector == "stdout" {
        notes.push(
            "export.collector is stdout: the sidecars will print their flows to their logs \
             (set PODFLOW_EXPORT__COLLECTOR or --config)"
                .into(),
        );
    }
    let mut yaml = String::new();
    for (i, doc) in out.iter().enumerate() {
        if i > 0 {
            yaml.push_str("---\n");
        }
        yaml.push_str(
            &serde_norway::to_string(doc).map_err(|e| InjectError::Write(e.to_string()))?,
        );
    }
    Ok(Injected { yaml, notes })
}

fn kind_of(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn is_list(kind: &str) -> bool {
    kind.ends_with("List")
}

/// Collects the enforced Pod Security level of a Namespace object (or of those in a List).
fn enforced_levels(doc: &Value, levels: &mut BTreeMap<String, String>) {
    match kind_of(doc) {
        "Namespace" => {
            let name = doc.pointer("/metadata/name").and_then(Value::as_str);
            let label = doc
                .pointer("/metadata/labels")
                .and_then(|l| l.get(ENFORCE_LABEL))
                .and_then(Value::as_str);
            if let (Some(name), Some(level)) = (name, label) {
                levels.insert(name.to_string(), level.to_string());
            }
        }
        kind if is_list(kind) => {
            for item in doc
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                enforced_levels(item, levels);
            }
        }
        _ => {}
    }
}

/// Adds the sidecar to the pod template of one object (or of each item of a List), and
/// says in one note per object what was done with it. How many sidecars it added.
fn object(
    doc: &mut Value,
    context: &Context,
    number: usize,
    notes: &mut Vec<String>,
) -> Result<usize, InjectError> {
    let kind = kind_of(doc).to_string();
    if is_list(&kind) {
        let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) else {
            notes.push(format!(
                "document {number}: {kind} without items, left as is"
            ));
            return Ok(0);
        };
        if items.is_empty() {
            notes.push(format!("document {number}: empty {kind}, left as is"));
        }
        let mut added = 0;
        for item in items {
            added += object(item, context, number, notes)?;
        }
        return Ok(added);
    }
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let what = match kind.as_str() {
        "" => "a document without a kind".to_string(),
        _ => format!("{kind} {}", quote(&name)),
    };
    let outcome = pod_template(doc, context, &kind, &name, number, &what)?;
    notes.push(format!("document {number}: {what}: {}", outcome.join("; ")));
    Ok(usize::from(outcome[0] == ADDED))
}

/// Adds the sidecar to the pod template of `doc` when its kind has one: what was done,
/// then what the user should know.
fn pod_template(
    doc: &mut Value,
    context: &Context,
    kind: &str,
    name: &str,
    number: usize,
    what: &str,
) -> Result<Vec<String>, InjectError> {
    let Some((_, path)) = TEMPLATES.iter().find(|(k, _)| *k == kind) else {
        return Ok(vec!["no pod template, left as is".into()]);
    };
    let namespace = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut template = doc;
    for key in path.iter() {
        match template.get_mut(*key) {
            Some(t) => template = t,
            None => return Ok(vec!["no pod template, left as is".into()]),
        }
    }
    let bad = |message: String| InjectError::Template {
        number,
        what: what.to_string(),
        message,
    };
    let parsed = PodTemplateSpec::deserialize(&*template)
        .map_err(|e| bad(format!("not a pod template: {e}")))?;
    let Some(spec) = parsed.spec.as_ref() else {
        return Err(bad("the pod template has no spec".into()));
    };
    let view = PodView {
        meta: parsed.metadata.as_ref(),
        spec,
        namespace: namespace.as_deref(),
    };
    let plan = context.injector.plan_for(&view, kind, name);
    let mut outcome = match plan.patch {
        Ok(patch) => {
            json_patch::patch(template, &patch).map_err(|e| bad(format!("cannot patch: {e}")))?;
            let mut added = vec![ADDED.to_string()];
            added.extend(namespace.as_deref().and_then(|ns| context.refusal(ns)));
            added
        }
        Err(skip) => vec![format!("sidecar not added: {}", skip.reason())],
    };
    outcome.extend(plan.warnings);
    Ok(outcome)
}

impl Context<'_> {
    /// Why Pod Security Admission will refuse pods with the sidecar in `namespace`, when
    /// the input's Namespace object enforces a level that the profile does not meet.
    fn refusal(&self, namespace: &str) -> Option<String> {
        let level = self.enforced.get(namespace)?;
        let profile = self.injector.template().settings.security_profile;
        if !profile.refused_by(level) {
            return None;
        }
        let instead = if level == "baseline" {
            "security_profile \"baseline\" (containerd) or node mode"
        } else {
            "node mode"
        };
        Some(format!(
            "namespace {} enforces Pod Security {} ({ENFORCE_LABEL}), which refuses pods with \
             the sidecar of webhook.sidecar.security_profile {:?}; use {instead} there",
            quote(namespace),
            quote(level),
            profile.as_str()
        ))
    }
}

impl Injector {
    /// The plan for the pod template of a `kind` object named `name`: its owner is the
    /// object itself, except for a Pod.
    fn plan_for(&self, view: &PodView, kind: &str, name: &str) -> super::review::Plan {
        let owner = match kind {
            "Pod" => view.owner(),
            _ if name.is_empty() => Owner::Unknown,
            _ => Owner::Workload {
                name: name.into(),
                kind: kind.into(),
            },
        };
        self.plan_with_owner(view, true, owner)
    }
}

#[cfg(test)]
mod tests;
