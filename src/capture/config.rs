//! The `capture` configuration section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::section::Section;

/// What to capture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Interfaces to capture live; empty means every non-loopback interface that is up.
    pub interfaces: Vec<String>,
    /// Read this pcap or pcapng file instead of capturing live. Packet timestamps drive
    /// the flow clock; at the end of the file every flow is ended and podflow exits.
    pub pcap: Option<PathBuf>,
}

impl Section for Config {}
