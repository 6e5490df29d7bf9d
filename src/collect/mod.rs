//! `podflow collect`: a small IPFIX collector that prints every data record as a JSON
//! line, fields named after their elements (enterprise elements by podflow's own table or
//! by the RFC 5610 type records the exporter sent). It is how an operator checks what a
//! probe sends, and what the tests read beside the independent decoders.
//!
//! It listens on UDP, TCP or TLS (each connection its own session, RFC 7011 §10.4) and
//! reads IPFIX files (RFC 5655). SIGTERM or SIGINT stops it gracefully: listeners close,
//! each connection is half-closed so that the exporter sees the collector go and stops
//! writing, and what was already sent is read to the end before the totals are printed.
#![forbid(unsafe_code)]

mod listen;
mod record;

use std::io::{BufWriter, Stdout, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use crate::certs::TlsError;
use crate::ipfix::{split_messages, Session};
pub use listen::ServerTls;
pub use record::to_json;

/// What `podflow collect` was asked to do.
#[derive(Clone, Debug)]
pub struct Args {
    /// Where to listen.
    pub listen: Vec<Listen>,
    /// IPFIX files to read.
    pub files: Vec<PathBuf>,
    /// The certificate (and, for mutual TLS, the client CA) of `tls://` listeners.
    pub tls: Option<ServerTls>,
    /// PEN of podflow's Kubernetes elements, named from podflow's own table.
    pub enterprise_number: u32,
}

/// One listener: `udp://ADDR:PORT`, `tcp://ADDR:PORT` or `tls://ADDR:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Tls(SocketAddr),
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, addr) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?}: expected udp://, tcp:// or tls:// ADDR:PORT"))?;
        let listen: fn(SocketAddr) -> Listen = match scheme {
            "udp" => Listen::Udp,
            "tcp" => Listen::Tcp,
            "tls" => Listen::Tls,
            _ => {
                return Err(format!(
                    "unknown scheme {scheme:?}: expected udp, tcp or tls"
                ))
            }
        };
        addr.parse()
            .map(listen)
            .map_err(|_| format!("{addr:?} is not an IP address and port"))
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Udp(a) => write!(f, "udp://{a}"),
            Listen::Tcp(a) => write!(f, "tcp://{a}"),
            Listen::Tls(a) => write!(f, "tls://{a}"),
        }
    }
}

/// Why `podflow collect` could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: String, error: std::io::Error },
    #[error("cannot read {}: {error}", path.display())]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("tls:// needs --tls-cert and --tls-key")]
    NoCertificate,
    #[error("nothing to do: give --listen or -f")]
    Nothing,
}

/// What was received, over the whole run.
#[derive(Debug, Default)]
pub struct Totals {
    pub messages: AtomicU64,
    pub records: AtomicU64,
    pub options: AtomicU64,
    /// Messages that did not decode, and connections that spoke something else.
    pub errors: AtomicU64,
}

/// The JSON lines on stdout and the totals, shared by every listener.
pub struct Output {
    out: Mutex<BufWriter<Stdout>>,
    pub totals: Totals,
}

impl Output {
    fn new() -> Output {
        Output {
            out: Mutex::new(BufWriter::with_capacity(1 << 16, std::io::stdout())),
            totals: Totals::default(),
        }
    }

    /// Decodes one message from `exporter` in its `session` and prints its records.
    pub fn message(&self, exporter: &str, session: &mut Session, msg: &[u8]) -> bool {
        let m = match session.decode(msg) {
            Ok(m) => m,
            Err(e) => {
                self.totals.errors.fetch_add(1, Relaxed);
                eprintln!("podflow collect: {exporter}: a message that does not decode: {e}");
                return false;
            }
        };
        self.totals.messages.fetch_add(1, Relaxed);
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        for r in &m.records {
            let counter = if r.is_options() {
                &self.totals.options
            } else {
                &self.totals.records
            };
            counter.fetch_add(1, Relaxed);
            let line = to_json(exporter, &m.header, r, session);
            let _ = serde_json::to_writer(&mut *out, &line);
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
        true
    }
}

/// Runs until the files are read and, with listeners, until SIGTERM or SIGINT.
pub fn run(args: &Args) -> Result<(), CollectError> {
    if args.listen.is_empty() && args.files.is_empty() {
        return Err(CollectError::Nothing);
    }
    let output = Output::new();
    for path in &args.files {
        let bytes = std::fs::read(path).map_err(|error| CollectError::File {
            path: path.clone(),
            error,
        })?;
        let mut session = Session::new(args.enterprise_number);
        let name = path.display().to_string();
        for msg in split_messages(&bytes) {
            match msg {
                Ok(msg) => {
                    output.message(&name, &mut session, msg);
                }
                Err(e) => {
                    output.totals.errors.fetch_add(1, Relaxed);
                    eprintln!("podflow collect: {name}: {e}");
                }
            }
        }
    }
    if !args.listen.is_empty() {
        listen::serve(args, &output)?;
    }
    let t = &output.totals;
    eprintln!(
        "podflow collect: {} messages, {} data records, {} options records, {} errors",
        t.messages.load(Relaxed),
        t.records.load(Relaxed),
        t.options.load(Relaxed),
        t.errors.load(Relaxed)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            "udp://127.0.0.1:4739".parse(),
            Ok(Listen::Udp("127.0.0.1:4739".parse().unwrap()))
        );
        assert_eq!(
            "tls://[::1]:0".parse(),
            Ok(Listen::Tls("[::1]:0".parse().unwrap()))
        );
        for bad in ["127.0.0.1:4739", "sctp://127.0.0.1:1", "tcp://host:1"] {
            assert!(bad.parse::<Listen>().is_err(), "{bad}");
        }
    }
}
