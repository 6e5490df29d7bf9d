//! The Mutating Admission Webhook Server: its configuration.

pub mod server;
mod tls;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `webhook` section: the HTTPS server that receives AdmissionReviews.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the HTTPS listener.
    pub listen: String,
    /// PEM certificate chain served to the API server.
    pub tls_cert: PathBuf,
    /// PEM private key of that certificate.
    pub tls_key: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8443".into(),
            tls_cert: PathBuf::from("/etc/podflow/tls/tls.crt"),
            tls_key: PathBuf::from("/etc/podflow/tls/tls.key"),
        }
    }
}
