//! TLS collectors (IPFIX over TLS, RFC 7011 §10.4): rustls with the ring provider, TLS
//! 1.3 and 1.2, the collector's certificate checked against `export.tls_ca` for the host
//! name of the collector's address, and a client certificate when one is configured
//! (mutual TLS). Nothing is written before the handshake has succeeded.
//!
//! The PEM files are read again when they change (a Secret's `..data` swap): new files
//! that can be used close the session in service, with the withdrawal of its templates,
//! and the next connection uses them; files that cannot be used are reported once and the
//! previous ones stay. Files that cannot be used at start do not stop podflow: every
//! connect says what is wrong with them, and records wait in the buffer.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, ProtocolVersion};

use super::deadline::{timed_out, Deadlined};
use super::tcp::{connect, peer_state};
use super::{Connect, MessageSink, Peer};
use crate::certs::{self, CertFiles, Stamp, TlsError};
use crate::export::events::{TlsFilesRejected, TlsFilesReloaded};
use crate::export::stats::ExportStats;

/// How often an open session looks at its files.
const FILES_CHECK: Duration = Duration::from_secs(2);
/// After a TLS 1.3 handshake, how long to wait for the collector's verdict on the client
/// (its session tickets, or an alert).
const CLIENT_VERDICT: Duration = Duration::from_secs(1);

/// The PEM files of the collector TLS, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// `export.tls_ca`.
    pub ca: PathBuf,
    /// `export.tls_cert` and `export.tls_key`.
    pub client: Option<CertFiles>,
}

impl TlsFiles {
    fn stamps(&self) -> Vec<Option<Stamp>> {
        let mut stamps = vec![Stamp::of(&self.ca)];
        if let Some(c) = &self.client {
            stamps.extend(c.stamp());
        }
        stamps
    }

    /// A client configuration from the files as they are now.
    fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let roots = certs::root_store("export.tls_ca", &self.ca)?;
        let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some(files) => {
                let pem = files.read()?;
                // Checks the pair (and that the key matches) with errors naming the file.
                let key = files.certified_key(&pem)?;
                let key_der = files.private_key(&pem)?;
                builder
                    .with_client_auth_cert(key.cert.clone(), key_der)
                    .map_err(|e| TlsError {
                        key: files.keys.1,
                        path: files.key.clone(),
                        problem: certs::Problem::BadKey(e),
                    })?
            }
        };
        Ok(Arc::new(config))
    }
}

/// Connects to a TLS collector at `HOST:PORT`; the server name checked is `HOST`.
pub struct Tls {
    addr: String,
    name: ServerName<'static>,
    files: TlsFiles,
    /// The versions of the files `config` was made from (or last rejected).
    stamps: Vec<Option<Stamp>>,
    config: Option<Arc<ClientConfig>>,
    checked: Instant,
    write_timeout: Duration,
}

impl Tls {
    /// A connector for `addr` (`HOST:PORT`, as `export.collector` checked it). Files that
    /// cannot be used now are not an error here: each connect reports them until they can.
    pub fn new(addr: &str, files: TlsFiles, write_timeout: Duration) -> io::Result<Tls> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a host name or address a certificate can name"),
            )
        })?;
        Ok(Tls {
            addr: addr.to_owned(),
            name,
            stamps: Vec::new(),
            files,
            config: None,
            checked: Instant::now(),
            write_timeout,
        })
    }

    /// The configuration to connect with, made again when the files changed.
    fn config(&mut self) -> Result<Arc<ClientConfig>, TlsError> {
        let stamps = self.files.stamps();
        if let Some(config) = self.config.as_ref().filter(|_| stamps == self.stamps) {
            return Ok(config.clone());
        }
        let config = self.files.client_config()?;
        self.stamps = stamps;
        self.config = Some(config.clone());
        Ok(config)
    }

    /// Connects and completes the handshake by the deadline.
    fn handshake(&self, config: Arc<ClientConfig>) -> io::Result<TlsSink> {
        let mut tcp = connect(&self.addr)?;
        let mut conn = ClientConnection::new(config, self.name.clone())
            .map_err(|e| self.failed(io::Error::other(e)))?;
        let deadline = Instant::now() + self.write_timeout;
        let mut io = Deadlined {
            stream: &mut tcp,
            deadline,
        };
        while conn.is_handshaking() {
            conn.complete_io(&mut io).map_err(|e| self.failed(e))?;
        }
        // TLS 1.3 ends the handshake before the collector has looked at our certificate
        // (or at its absence): wait a moment for its tickets, or for the alert that
        // refuses it, so that no record is written into a session about to be refused.
        if conn.protocol_version() == Some(ProtocolVersion::TLSv1_3) {
            let mut io = Deadlined {
                stream: &mut tcp,
                deadline: Instant::now() + CLIENT_VERDICT.min(self.write_timeout),
            };
            match conn.read_tls(&mut io) {
                Ok(0) => {
                    return Err(self.failed(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the collector closed the connection after the handshake",
                    )))
                }
                Ok(_) => {
                    conn.process_new_packets()
                        .map_err(|e| self.failed(io::Error::new(io::ErrorKind::InvalidData, e)))?;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => return Err(self.failed(e)),
            }
        }
        Ok(TlsSink {
            conn,
            tcp,
            write_timeout: self.write_timeout,
        })
    }

    /// A handshake error that says who refused what, with a hint for the usual causes.
    fn failed(&self, e: io::Error) -> io::Error {
        let hint = match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                " (its certificate is not signed by a CA of export.tls_ca)"
            }
            Some(rustls::Error::InvalidCertificate(CertificateError::BadSignature)) => {
                " (its certificate is not signed by a CA of export.tls_ca)"
            }
            Some(rustls::Error::AlertReceived(_)) if self.files.client.is_some() => {
                " (the collector refused the connection; does it trust export.tls_cert?)"
            }
            Some(rustls::Error::AlertReceived(_)) => {
                " (the collector refused the connection; does it require a client certificate?)"
            }
            Some(rustls::Error::InvalidMessage(_)) => " (is it a TLS endpoint?)",
            _ if e.kind() == io::ErrorKind::UnexpectedEof => " (is it a TLS endpoint?)",
            _ => "",
        };
        let e = if e.kind() == io::ErrorKind::TimedOut {
            timed_out("the TLS handshake")
        } else {
            e
        };
        io::Error::new(
            e.kind(),
            format!("TLS handshake with {} failed: {e}{hint}", self.addr),
        )
    }
}

/// `HOST` of `HOST:PORT` or `[V6]:PORT`.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl Connect for Tls {
    type Stream = TlsSink;

    fn addr(&self) -> &str {
        &self.addr
    }

    fn connect(&mut self) -> io::Result<TlsSink> {
        let config = self.config().map_err(io::Error::other)?;
        self.handshake(config)
    }

    fn peer(stream: &mut TlsSink) -> Peer {
        let conn = &mut stream.conn;
        peer_state(&mut stream.tcp, |tcp, buf| {
            if conn.read_tls(tcp)? == 0 {
                return Ok(0);
            }
            conn.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            // Session tickets and the like leave no plaintext: that reads as WouldBlock.
            conn.reader().read(buf)
        })
    }

    fn renewed(&mut self, stats: &ExportStats) -> bool {
        if self.checked.elapsed() < FILES_CHECK {
            return false;
        }
        self.checked = Instant::now();
        let stamps = self.files.stamps();
        if stamps == self.stamps {
            return false;
        }
        self.stamps = stamps;
        match self.files.client_config() {
            Ok(config) => {
                self.config = Some(config);
                TlsFilesReloaded.emit();
                true
            }
            Err(error) => {
                TlsFilesRejected { error: &error }.emit(stats);
                false
            }
        }
    }
}

/// A TLS session with a collector.
pub struct TlsSink {
    conn: ClientConnection,
    tcp: TcpStream,
    write_timeout: Duration,
}

impl MessageSink for TlsSink {
    fn send_message(&mut self, mut msg: &[u8]) -> io::Result<()> {
        let mut io = Deadlined {
            stream: &mut self.tcp,
            deadline: Instant::now() + self.write_timeout,
        };
        loop {
            // rustls takes plaintext up to its buffer limit; what it took is written out
            // before the rest is given.
            let n = self.conn.writer().write(msg)?;
            msg = &msg[n..];
            while self.conn.wants_write() {
                self.conn.write_tls(&mut io)?;
            }
            if msg.is_empty() {
                return Ok(());
            }
        }
    }

    fn close(&mut self) {
        self.conn.send_close_notify();
        let mut io = Deadlined {
            stream: &mut self.tcp,
            deadline: Instant::now() + Duration::from_millis(500),
        };
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut io).is_err() {
                break;
            }
        }
        let _ = self.tcp.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_host_of_the_address() {
        assert_eq!(host_of("collector.monitoring:4739"), "collector.monitoring");
        assert_eq!(host_of("[fd00::5]:4739"), "fd00::5");
        assert_eq!(host_of("10.0.0.5:4739"), "10.0.0.5");
        let files = TlsFiles {
            ca: "/nonexistent/ca.crt".into(),
            client: None,
        };
        let mut tls = Tls::new("collector.example:4739", files, Duration::from_secs(1)).unwrap();
        // Unusable files are an error at each connect, naming the key and the file.
        let Err(e) = tls.connect() else {
            panic!("connected without a CA")
        };
        let e = e.to_string();
        assert!(
            e.starts_with("export.tls_ca = /nonexistent/ca.crt: cannot read it"),
            "{e}"
        );
    }
}
