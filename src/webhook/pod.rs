//! Decisions about one pod (or pod template) and the JSON Patch that adds the sidecar.
//! Shared by the admission webhook and `podflow inject`.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{json, Value};

use super::config::{Match, MatchMode};
use super::sidecar::{Owner, Sidecar, CONTAINER_NAME};
use crate::quote::quote;

/// Annotation that opts a pod in (`"true"`) or out (`"false"`), whatever the match rules.
pub const INJECT_ANNOTATION: &str = "podflow.io/inject";
/// Annotation set on the pods that got the sidecar.
pub const STATUS_ANNOTATION: &str = "podflow.io/status";
/// Value of [`STATUS_ANNOTATION`].
pub const STATUS_INJECTED: &str = "injected";
/// The label the Deployment controller puts on its ReplicaSets' pods.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Why a pod did not get the sidecar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// It has it already.
    AlreadyInjected,
    /// `podflow.io/inject: "false"`.
    OptedOut,
    /// Neither the match rules nor the annotation select it.
    NotSelected,
    /// It uses the node's network: a sidecar would capture the node's traffic.
    HostNetwork,
}

impl Skip {
    /// A short reason, also the metrics label.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::AlreadyInjected => "already injected",
            Skip::OptedOut => "opted out",
            Skip::NotSelected => "not selected",
            Skip::HostNetwork => "hostNetwork pod",
        }
    }

    /// Whether the user should be told (the pod was meant to get the sidecar).
    pub fn warns(self) -> bool {
        matches!(self, Skip::HostNetwork)
    }
}

/// The pod's metadata and spec, as the admission request or a pod template has them.
pub struct PodView<'a> {
    /// `metadata`; a pod template may have none.
    pub meta: Option<&'a ObjectMeta>,
    /// `spec`.
    pub spec: &'a PodSpec,
    /// The pod's namespace (at CREATE it is in the request, not always in the object).
    pub namespace: Option<&'a str>,
}

impl PodView<'_> {
    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.meta.and_then(|m| m.labels.as_ref())
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.meta
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }

    /// Whether the sidecar is there already, by its container name or the annotation.
    fn has_sidecar(&self) -> bool {
        let named = |list: &[k8s_openapi::api::core::v1::Container]| {
            list.iter().any(|c| c.name == CONTAINER_NAME)
        };
        self.annotation(STATUS_ANNOTATION).is_some()
            || named(&self.spec.containers)
            || self.spec.init_containers.as_deref().is_some_and(named)
    }

    /// Whether the sidecar should be added; `selected` says whether the match rules (or
    /// the caller, for `podflow inject`) want it. Warnings for the user go to `warnings`.
    pub fn decide(&self, selected: bool, warnings: &mut Vec<String>) -> Result<(), Skip> {
        if self.has_sidecar() {
            return Err(Skip::AlreadyInjected);
        }
        let wanted = match self.annotation(INJECT_ANNOTATION) {
            Some("false") => return Err(Skip::OptedOut),
            Some("true") => true,
            Some(other) => {
                warnings.push(format!(
                    "podflow: annotation {INJECT_ANNOTATION} must be \"true\" or \"false\", not {}; ignored",
                    quote(other)
                ));
                selected
            }
            None => selected,
        };
        if !wanted {
            return Err(Skip::NotSelected);
        }
        if self.spec.host_network == Some(true) {
            return Err(Skip::HostNetwork);
        }
        Ok(())
    }

    /// Whether the match rules select this pod.
    pub fn matches(&self, rules: &Match) -> bool {
        let labels = (!rules.labels.is_empty()).then(|| {
            let have = self.labels();
            rules
                .labels
                .iter()
                .all(|(k, v)| have.and_then(|l| l.get(k)) == Some(v))
        });
        let deployments = (!rules.deployments.is_empty()).then(|| {
            let Some(name) = self.deployment() else {
                return false;
            };
            rules.deployments.iter().any(|d| match d.split_once('/') {
                Some((ns, n)) => n == name && self.namespace == Some(ns),
                None => d == name,
            })
        });
        match (labels, deployments, rules.mode) {
            (None, None, _) => false,
            (Some(l), None, _) => l,
            (None, Some(d), _) => d,
            (Some(l), Some(d), MatchMode::Any) => l || d,
            (Some(l), Some(d), MatchMode::All) => l && d,
        }
    }

    /// The Deployment of a pod of one of its ReplicaSets: the ReplicaSet's name minus the
    /// `-<pod-template-hash>` the Deployment controller appended.
    pub fn deployment(&self) -> Option<&str> {
        let hash = self.labels()?.get(POD_TEMPLATE_HASH)?;
        let rs = self.controller("ReplicaSet")?;
        rs.strip_suffix(hash.as_str())?
            .strip_suffix('-')
            .filter(|d| !d.is_empty())
    }

    /// The name of the controlling owner if it is of `kind`.
    fn controller(&self, kind: &str) -> Option<&str> {
        let owners = self.meta?.owner_references.as_ref()?;
        let owner = owners
            .iter()
            .find(|o| o.controller == Some(true))
            .or_else(|| owners.first())?;
        (owner.kind == kind).then_some(owner.name.as_str())
    }

    /// The top owner as far as the pod itself tells.
    pub fn owner(&self) -> Owner {
        let owners = self.meta.and_then(|m| m.owner_references.as_ref());
        let Some(owner) = owners.and_then(|o| {
            o.iter()
                .find(|o| o.controller == Some(true))
                .or_else(|| o.first())
        }) else {
            return Owner::ThePod;
        };
        let named = |name: &str, kind: &str| Owner::Workload {
            name: name.into(),
            kind: kind.into(),
        };
        match owner.kind.as_str() {
            "ReplicaSet" => match self.deployment() {
                Some(d) => named(d, "Deployment"),
                None => named(&owner.name, "ReplicaSet"),
            },
            "Job" => {
                let labels = BTreeMap::from([("job-name".to_string(), owner.name.clone())]);
                let w = crate::metadata::derive_workload("", &labels);
                named(&w.name, &w.kind)
            }
            _ => named(&owner.name, &owner.kind),
        }
    }

    /// Whether some container of the pod declares `port`.
    pub fn uses_port(&self, port: u16) -> bool {
        let spec = self.spec;
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .flat_map(|c| c.ports.iter().flatten())
            .any(|p| p.container_port == i32::from(port))
    }

    /// The JSON Patch that adds `sidecar` and the status annotation.
    pub fn patch(&self, sidecar: &Sidecar) -> Patch {
        let mut ops = Vec::new();
        let add = |ops: &mut Vec<PatchOperation>, path: &[&str], value: Value| {
            ops.push(PatchOperation::Add(AddOperation {
                path: PointerBuf::from_tokens(path.iter().copied()),
                value,
            }));
        };
        let container = json_value(&sidecar.container);
        if sidecar.native {
            // First, so that it also sees the traffic of the other init containers.
            match &self.spec.init_containers {
                Some(_) => add(&mut ops, &["spec", "initContainers", "0"], container),
                None => add(&mut ops, &["spec", "initContainers"], json!([container])),
            }
        } else {
            add(&mut ops, &["spec", "containers", "-"], container);
        }
        let volumes: Vec<Value> = sidecar.volumes.iter().map(json_value).collect();
        match &self.spec.volumes {
            Some(_) => {
                for volume in volumes {
                    add(&mut ops, &["spec", "volumes", "-"], volume);
                }
            }
            None => add(&mut ops, &["spec", "volumes"], json!(volumes)),
        }
        let status = json!({ STATUS_ANNOTATION: STATUS_INJECTED });
        match self.meta {
            None => add(&mut ops, &["metadata"], json!({ "annotations": status })),
            Some(m) if m.annotations.is_none() => {
                add(&mut ops, &["metadata", "annotations"], status)
            }
            Some(_) => add(
                &mut ops,
                &["metadata", "annotations", STATUS_ANNOTATION],
                json!(STATUS_INJECTED),
            ),
        }
        Patch(ops)
    }
}

/// A k8s-openapi value as JSON; these types always serialize.
fn json_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
