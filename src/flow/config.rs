//! The `flow` configuration section.

use serde::{Deserialize, Serialize};

use super::key::{Nanos, NANOS_PER_SEC};
use super::table::FlowTableConfig;
use crate::section::{at_least_one, Invalid, Section};

/// How packets are metered into flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// End a flow after this many seconds without packets.
    pub idle_timeout_secs: u64,
    /// Export a long flow in pieces: one record each time it has been alive this long.
    pub active_timeout_secs: u64,
    /// Upper bound on live flows; when full, the oldest are ended early and counted.
    /// 262144 flows take roughly 40 MiB.
    pub max_flows: usize,
    /// RFC 5103 bidirectional records (true) or one record per direction (false).
    pub biflow: bool,
    /// After both FINs or a RST, wait this long without packets before ending the flow, so
    /// the last ACK of the teardown is counted in the flow it closes.
    pub tcp_end_linger_secs: u64,
    /// How often (wall-clock milliseconds) the sweeper looks for flows to end.
    pub sweep_interval_ms: u64,
    /// Ended records that may wait for the next sweep (flows evicted from a full table,
    /// or ended by a packet that found them due); past it they go to the exporter's queue
    /// at once. A flood ends flows far faster than the sweeper runs: without this bound
    /// they would pile up for a whole `sweep_interval_ms`.
    pub max_ended_records: usize,
    /// Network performance of each TCP flow: the handshake's round trip split into client
    /// and server network delay, the server's response time, retransmitted, out-of-order
    /// and zero-window segments (and the response time of DNS flows, with `l7`).
    pub npm: bool,
    /// Application identity from the first payload packets of a flow: the DNS question
    /// and answer, the HTTP/1.x request and status, the TLS server name, version, ALPN,
    /// JA4 and JA3.
    pub l7: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout_secs: 15,
            active_timeout_secs: 60,
            max_flows: 262_144,
            biflow: true,
            tcp_end_linger_secs: 1,
            sweep_interval_ms: 1000,
            max_ended_records: 16_384,
            npm: true,
            l7: true,
        }
    }
}

impl Section for Config {
    fn check(&self) -> Result<(), Invalid> {
        at_least_one("idle_timeout_secs", self.idle_timeout_secs)?;
        at_least_one("active_timeout_secs", self.active_timeout_secs)?;
        at_least_one("max_flows", self.max_flows as u64)?;
        at_least_one("max_ended_records", self.max_ended_records as u64)?;
        at_least_one("sweep_interval_ms", self.sweep_interval_ms)
    }
}

impl Config {
    pub fn idle_timeout(&self) -> Nanos {
        self.idle_timeout_secs.saturating_mul(NANOS_PER_SEC)
    }

    pub fn active_timeout(&self) -> Nanos {
        self.active_timeout_secs.saturating_mul(NANOS_PER_SEC)
    }

    pub fn tcp_end_linger(&self) -> Nanos {
        self.tcp_end_linger_secs.saturating_mul(NANOS_PER_SEC)
    }

    /// The flow table these settings describe.
    pub fn table(&self) -> FlowTableConfig {
        FlowTableConfig {
            idle_timeout: self.idle_timeout(),
            active_timeout: self.active_timeout(),
            tcp_end_linger: self.tcp_end_linger(),
            max_flows: self.max_flows,
            max_backlog: self.max_ended_records,
            biflow: self.biflow,
            npm: self.npm,
            l7: self.l7,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_durations_and_an_empty_table_are_refused() {
        assert_eq!(Config::default().check(), Ok(()));
        let c = Config {
            sweep_interval_ms: 0,
            ..Config::default()
        };
        assert_eq!(c.check().unwrap_err().key, "sweep_interval_ms");
        let c = Config {
            max_flows: 0,
            idle_timeout_secs: 0,
            ..Config::default()
        };
        let refused = c.check().unwrap_err();
        assert_eq!(
            (refused.key, refused.why.as_str()),
            ("idle_timeout_secs", "must be at least 1")
        );
    }
}
