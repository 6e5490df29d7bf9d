//! The `mediator` section: where exporters send, how much of them is held, and the view
//! of the cluster the records are named from. Where the records go is the `export`
//! section, as in every mode.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cluster::Cidr;
use crate::collect::Listen;
use crate::section::{as_str, at_least_one, Invalid, Section};

/// The mediator's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where exporters send IPFIX: `udp://ADDR:PORT`, `tcp://ADDR:PORT`, `tls://ADDR:PORT`.
    #[serde(with = "listens")]
    pub listen: Vec<Listen>,
    /// TLS: the mediator's certificate chain and key (PEM), for `tls://` listeners.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// TLS: the CA (PEM) that exporters' client certificates must chain to; unset, no
    /// client certificate is asked for.
    pub tls_client_ca: Option<PathBuf>,
    /// Where the view of the cluster comes from: `kube` (watches of Pods, Services,
    /// EndpointSlices and Nodes through the API server) or `file:PATH` (a `v1` List, e.g.
    /// `kubectl get pods,services,endpointslices,nodes -A -o json`).
    #[serde(with = "as_str")]
    pub source: crate::metadata::PodSource,
    /// Address ranges of the cluster that no pod, Service or node holds an address of
    /// (`10.96.0.0/12` for the Services, say): an end in them is not the world.
    #[serde(with = "cidrs")]
    pub cluster_cidrs: Vec<Cidr>,
    /// How long a deleted pod, and an address a pod let go, are kept: a record that
    /// arrives this much later still names the pod that held the address.
    pub deleted_pod_grace_secs: u64,
    /// How far a probe's clock and the API server's may differ: a flow within this of a
    /// pod's tenure is still the pod's.
    pub clock_skew_ms: u64,
    /// Exporter sessions held at once (TCP and TLS connections, UDP exporter addresses);
    /// a new one beyond this closes the longest idle.
    pub max_sessions: usize,
    /// Templates one exporter session may define; more are refused and counted.
    pub max_templates_per_session: usize,
    /// How long a message may take to arrive once its first byte has, and a TLS
    /// handshake; an exporter that stalls longer is dropped.
    pub message_timeout_secs: u64,
    /// How long `/readyz` answers 503 at the start while the first list of a kind has not
    /// come (`source = kube`); after it, ready all the same, records going out with what the
    /// view knows, and `/readyz` says what is missing.
    pub sync_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec!["udp://0.0.0.0:4739".parse().expect("a listen address")],
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            source: crate::metadata::PodSource::Kube,
            cluster_cidrs: Vec::new(),
            deleted_pod_grace_secs: 300,
            clock_skew_ms: 2000,
            max_sessions: 10_000,
            // A podflow probe uses about 25 (two families, the groups of fields, type
            // and statistics records); softflowd 2.
            max_templates_per_session: 256,
            message_timeout_secs: 10,
            sync_grace_secs: 60,
        }
    }
}

impl Section for Config {
    fn check(&self) -> Result<(), Invalid> {
        if self.listen.is_empty() {
            return Err(Invalid::new("listen", "needs at least one address"));
        }
        let tls = self.listen.iter().any(|l| matches!(l, Listen::Tls(_)));
        if tls && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(Invalid::new(
                "listen",
                "a tls:// listener needs mediator.tls_cert and mediator.tls_key",
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Invalid::new("tls_cert", "needs mediator.tls_key too"));
        }
        at_least_one("max_sessions", self.max_sessions as u64)?;
        at_least_one(
            "max_templates_per_session",
            self.max_templates_per_session as u64,
        )?;
        at_least_one("message_timeout_secs", self.message_timeout_secs)
    }
}

/// Serde for a list of values written as strings and parsed with `FromStr`.
macro_rules! string_list {
    ($name:ident, $t:ty) => {
        mod $name {
            use serde::de::Error;
            use serde::{Deserialize, Deserializer, Serializer};

            pub fn serialize<S: Serializer>(v: &[$t], s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(v.iter().map(|x| x.to_string()))
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<$t>, D::Error> {
                Vec::<String>::deserialize(d)?
                    .iter()
                    .map(|s| {
                        s.parse()
                            .map_err(|why: String| D::Error::custom(format!("{s:?}: {why}")))
                    })
                    .collect()
            }
        }
    };
}

string_list!(listens, crate::collect::Listen);
string_list!(cidrs, crate::cluster::Cidr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_combinations_are_named() {
        assert_eq!(Config::default().check(), Ok(()));
        let tls = Config {
            listen: vec!["tls://0.0.0.0:4740".parse().unwrap()],
            ..Config::default()
        };
        assert_eq!(tls.check().unwrap_err().key, "listen");
        let none = Config {
            listen: Vec::new(),
            ..Config::default()
        };
        assert_eq!(none.check().unwrap_err().key, "listen");
        let zero = Config {
            max_sessions: 0,
            ..Config::default()
        };
        assert_eq!(zero.check().unwrap_err().key, "max_sessions");
    }
}
