//! The `export` and `ipfix` configuration sections.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ipfix::{ElementIds, FLOWMON_PEN, REVERSE_PEN};
use crate::section::{at_least_one, Invalid, Section};

/// Where flow records go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT`, `file:PATH` (an IPFIX file,
    /// RFC 5655) or `stdout` (JSON lines, one flow a line).
    pub collector: Collector,
    /// How often templates and the options record are sent again over UDP.
    pub template_refresh_secs: u64,
    /// Largest IPFIX message. Unset: 1400 bytes over UDP (fits a 1500-byte MTU with
    /// IP/UDP headers and tunnel overhead), 65000 for TCP and files.
    pub max_message_bytes: Option<usize>,
    /// At shutdown of a live probe, how long the exporter may take to send what is left.
    /// A capture file is a batch job and ends when every record is written instead.
    pub drain_timeout_secs: u64,
    /// Records kept while a TCP or TLS collector is unreachable; older ones are dropped
    /// and counted as not sent when this fills.
    pub buffer_records: usize,
    /// Records waiting between the flow table and the exporter. A live probe drops (and
    /// counts) what does not fit when the exporter is behind; reading a capture file waits.
    pub queue_records: usize,
    /// How long writing one message (or one line to stdout) may take in all: a TCP or TLS
    /// connection that takes longer is dropped and its records kept for the next one; a
    /// blocked stdout drops and counts the records that wait. Also bounds a TLS handshake.
    pub write_timeout_secs: u64,
    /// Upper bound of the reconnect backoff (it starts at 1 s and doubles).
    pub reconnect_max_backoff_secs: u64,
    /// How often a UDP collector's name is resolved again, so that records follow a
    /// Service that moves.
    pub resolve_interval_secs: u64,
    /// TLS: the CA bundle (PEM) that signs the collector's certificate. Required with
    /// `tls://`.
    pub tls_ca: Option<PathBuf>,
    /// TLS: a client certificate chain (PEM) for collectors that require one (mutual
    /// TLS); with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// TLS: the private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            collector: Collector::Stdout,
            template_refresh_secs: 60,
            max_message_bytes: None,
            drain_timeout_secs: 5,
            buffer_records: 65_536,
            queue_records: 65_536,
            write_timeout_secs: 5,
            reconnect_max_backoff_secs: 30,
            resolve_interval_secs: 30,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Section for Config {
    fn check(&self) -> Result<(), Invalid> {
        at_least_one("template_refresh_secs", self.template_refresh_secs)?;
        if let Some(n) = self.max_message_bytes {
            if !(512..=65_535).contains(&n) {
                return Err(Invalid::new(
                    "max_message_bytes",
                    "must be between 512 and 65535",
                ));
            }
        }
        at_least_one("buffer_records", self.buffer_records as u64)?;
        at_least_one("queue_records", self.queue_records as u64)?;
        at_least_one("write_timeout_secs", self.write_timeout_secs)?;
        at_least_one("resolve_interval_secs", self.resolve_interval_secs)?;
        if matches!(self.collector, Collector::Tls(_)) && self.tls_ca.is_none() {
            return Err(Invalid::new(
                "tls_ca",
                "a tls:// collector needs the CA bundle that signs its certificate",
            ));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => Err(Invalid::new("tls_key", "tls_cert needs its key")),
            (None, Some(_)) => Err(Invalid::new("tls_cert", "tls_key needs its certificate")),
            _ => Ok(()),
        }
    }
}

impl Section for IpfixConfig {
    /// The Kubernetes elements need a number of their own: under 0 they would read as IANA
    /// elements, under 29305 as RFC 5103 reverse elements, both of which podflow exports.
    fn check(&self) -> Result<(), Invalid> {
        let why = match self.enterprise_number {
            0 => "0 numbers IANA's elements: use a Private Enterprise Number",
            REVERSE_PEN => "29305 numbers the RFC 5103 reverse elements: use another",
            FLOWMON_PEN => "39499 numbers Flowmon's elements: use another (see element_ids)",
            _ => return Ok(()),
        };
        Err(Invalid::new("enterprise_number", why))
    }
}

impl Config {
    /// The message size limit in force for this collector.
    pub fn message_bytes(&self) -> usize {
        self.max_message_bytes.unwrap_or(match self.collector {
            Collector::Udp(_) => 1400,
            _ => 65_000,
        })
    }
}

/// The `ipfix` section: header and element numbering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpfixConfig {
    /// Private Enterprise Number of the Kubernetes elements. 32473 is the documentation
    /// PEN of RFC 5612: operators should use their own.
    pub enterprise_number: u32,
    /// Observation Domain ID written in every message header.
    pub observation_domain_id: u32,
    /// `podflow`: every podflow element under `enterprise_number`. `flowmon`: the network
    /// performance and application elements that Flowmon probes also export go under
    /// Flowmon's ids (PEN 39499, as CESNET libfds `flowmon.xml` lists them), so that
    /// Flowmon collectors and ipfixcol2 decode them with the definitions they have; the
    /// others stay podflow's.
    pub element_ids: ElementIds,
}

impl Default for IpfixConfig {
    fn default() -> Self {
        IpfixConfig {
            enterprise_number: 32473,
            observation_domain_id: 1,
            element_ids: ElementIds::Podflow,
        }
    }
}

/// A parsed `export.collector` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Collector {
    Udp(String),
    Tcp(String),
    Tls(String),
    File(PathBuf),
    Stdout,
}

const COLLECTOR_FORMS: &str =
    "udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT, file:PATH or stdout";

impl FromStr for Collector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "stdout" {
            return Ok(Collector::Stdout);
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err("file: needs a path".into());
            }
            return Ok(Collector::File(PathBuf::from(path)));
        }
        let (scheme, addr) = s
            .split_once("://")
            .ok_or_else(|| format!("expected {COLLECTOR_FORMS}"))?;
        let collector: fn(String) -> Collector = match scheme {
            "udp" => Collector::Udp,
            "tcp" => Collector::Tcp,
            "tls" => Collector::Tls,
            _ => {
                return Err(format!(
                    "unknown scheme {scheme:?}, expected {COLLECTOR_FORMS}"
                ))
            }
        };
        check_host_port(addr)?;
        Ok(collector(addr.to_string()))
    }
}

/// `HOST:PORT` or `[V6]:PORT` with a port in 1..=65535.
fn check_host_port(addr: &str) -> Result<(), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?} has no :PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{addr:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("port {port:?} is not a number in 1..65535")),
    }
}

impl fmt::Display for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Collector::Udp(a) => write!(f, "udp://{a}"),
            Collector::Tcp(a) => write!(f, "tcp://{a}"),
            Collector::Tls(a) => write!(f, "tls://{a}"),
            Collector::File(p) => write!(f, "file:{}", p.display()),
            Collector::Stdout => f.write_str("stdout"),
        }
    }
}

impl Serialize for Collector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::section::as_str::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Collector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::section::as_str::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_forms() {
        assert_eq!("stdout".parse(), Ok(Collector::Stdout));
        assert_eq!(
            "udp://10.0.0.5:4739".parse(),
            Ok(Collector::Udp("10.0.0.5:4739".into()))
        );
        assert_eq!(
            "tcp://[::1]:4739".parse(),
            Ok(Collector::Tcp("[::1]:4739".into()))
        );
        assert_eq!(
            "file:/tmp/x.ipfix".parse(),
            Ok(Collector::File("/tmp/x.ipfix".into()))
        );
        for bad in [
            "udp://host",
            "udp://:4739",
            "sctp://h:1",
            "udp://h:0",
            "h:4739",
            "file:",
        ] {
            assert!(bad.parse::<Collector>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn message_size_and_buffer_are_checked() {
        let mut c = Config::default();
        assert_eq!(c.check(), Ok(()));
        for (n, ok) in [(511, false), (512, true), (65_535, true), (65_536, false)] {
            c.max_message_bytes = Some(n);
            assert_eq!(c.check().is_ok(), ok, "{n}");
        }
        c.max_message_bytes = None;
        c.buffer_records = 0;
        assert_eq!(c.check().unwrap_err().key, "buffer_records");
    }

    #[test]
    fn enterprise_numbers_of_other_elements_are_refused() {
        // Under 0 the fuzzer's round trip read the Kubernetes elements back as IANA ones.
        for (n, ok) in [(0, false), (29305, false), (1, true), (32473, true)] {
            let c = IpfixConfig {
                enterprise_number: n,
                ..IpfixConfig::default()
            };
            assert_eq!(c.check().is_ok(), ok, "{n}");
            if let Err(e) = c.check() {
                assert_eq!(e.key, "enterprise_number");
                assert!(e.why.starts_with(&n.to_string()), "{}", e.why);
            }
        }
    }

    #[test]
    fn tls_needs_a_ca_and_a_certificate_needs_its_key() {
        let mut c = Config {
            collector: "tls://collector.example:4739".parse().unwrap(),
            ..Config::default()
        };
        assert_eq!(c.check().unwrap_err().key, "tls_ca");
        c.tls_ca = Some("/ca.crt".into());
        assert_eq!(c.check(), Ok(()));
        c.tls_cert = Some("/tls.crt".into());
        assert_eq!(c.check().unwrap_err().key, "tls_key");
        c.tls_key = Some("/tls.key".into());
        assert_eq!(c.check(), Ok(()));
        c.tls_cert = None;
        assert_eq!(c.check().unwrap_err().key, "tls_cert");
    }

    #[test]
    fn message_size_follows_transport() {
        let mut c = Config::default();
        assert_eq!(c.message_bytes(), 65_000);
        c.collector = Collector::Udp("h:1".into());
        assert_eq!(c.message_bytes(), 1400);
        c.max_message_bytes = Some(9000);
        assert_eq!(c.message_bytes(), 9000);
    }
}
