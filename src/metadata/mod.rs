//! Who the observed pod is: its identity from the `k8s` configuration and the
//! Downward-API files.

mod config;
mod downward;
mod identity;

pub use config::Config;
pub use identity::{from_config, json_object, MetadataError, PodIdentity};
