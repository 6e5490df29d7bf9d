//! The Mutating Admission Webhook Server and the sidecar it adds.
//!
//! The pure core is here: [`Injector::review`] answers an AdmissionReview body,
//! [`inject::manifests`] patches manifests offline, and both build the sidecar through
//! the one function [`sidecar::build`]. The HTTPS server calls the former.

pub mod server;
mod tls;

mod config;
pub mod inject;
pub mod kustomize;
mod pod;
mod review;
pub mod sidecar;

pub use config::{
    Config, Match, MatchMode, PullPolicy, Quantity, ResourceList, Resources, SecurityProfile,
    Sidecar,
};
pub use pod::{INJECT_ANNOTATION, STATUS_ANNOTATION, STATUS_INJECTED};
pub use review::{BadRequest, Decision, Injector, Reviewed};
