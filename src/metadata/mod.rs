//! Who the observed pod is.

mod identity;

pub use identity::{json_object, PodIdentity};
