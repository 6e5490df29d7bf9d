//! The listeners of `podflow collect`: one thread per listener, one per TCP or TLS
//! connection, each connection its own IPFIX session; UDP sessions per exporter address.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Scope;
use std::time::{Duration, Instant};

use rustls::crypto::ring;
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tokio::signal::unix::{signal, SignalKind};

use super::{Args, CollectError, Listen, Output};
use crate::certs::{self, CertFiles};
use crate::ipfix::{peek_header, Session};

/// How often idle loops look whether to stop.
const POLL: Duration = Duration::from_millis(100);
/// After a signal, how long connections may take to end.
const LINGER: Duration = Duration::from_secs(10);

/// The certificate of `tls://` listeners, and the CA that client certificates must chain
/// to (mutual TLS) when given.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    fn config(&self) -> Result<Arc<ServerConfig>, CollectError> {
        self.config_for(("--tls-cert", "--tls-key", "--tls-client-ca"))
    }

    /// The server configuration, its files named in errors by `keys` (the settings or
    /// flags of the certificate, the key and the client CA).
    pub fn config_for(
        &self,
        keys: (&'static str, &'static str, &'static str),
    ) -> Result<Arc<ServerConfig>, CollectError> {
        let files = CertFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
            keys: (keys.0, keys.1),
        };
        let pem = files.read()?;
        let key = files.certified_key(&pem)?;
        let provider = Arc::new(ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("ring supports TLS 1.2 and 1.3");
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let roots = certs::root_store(keys.2, ca)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| CollectError::Listen {
                        addr: ca.display().to_string(),
                        error: io::Error::other(e),
                    })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(key.cert.clone(), files.private_key(&pem)?)
            .map_err(|e| CollectError::Listen {
                addr: self.cert.display().to_string(),
                error: io::Error::other(e),
            })?;
        Ok(Arc::new(config))
    }
}

/// A bound listener.
enum Bound {
    Udp(UdpSocket),
    Tcp(TcpListener, Option<Arc<ServerConfig>>),
}

/// Binds every listener, then serves them until SIGTERM or SIGINT.
pub fn serve(args: &Args, output: &Output) -> Result<(), CollectError> {
    let tls = match (
        &args.tls,
        args.listen.iter().any(|l| matches!(l, Listen::Tls(_))),
    ) {
        (Some(t), true) => Some(t.config()?),
        (None, true) => return Err(CollectError::NoCertificate),
        (_, false) => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CollectError::Listen {
            addr: "signals".into(),
            error,
        })?;
    // Signals are caught from here on: a SIGTERM right after "listening" is not lost.
    let (mut term, mut int) = runtime.block_on(async {
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    });
    let mut bound = Vec::new();
    for l in &args.listen {
        let (scheme, addr) = match l {
            Listen::Udp(a) => ("udp", a),
            Listen::Tcp(a) => ("tcp", a),
            Listen::Tls(a) => ("tls", a),
        };
        let error = |error| CollectError::Listen {
            addr: format!("{scheme}://{addr}"),
            error,
        };
        let b = match l {
            Listen::Udp(a) => Bound::Udp(UdpSocket::bind(a).map_err(error)?),
            Listen::Tcp(a) => Bound::Tcp(TcpListener::bind(a).map_err(error)?, None),
            Listen::Tls(a) => Bound::Tcp(TcpListener::bind(a).map_err(error)?, tls.clone()),
        };
        let local = match &b {
            Bound::Udp(s) => s.local_addr(),
            Bound::Tcp(s, _) => s.local_addr(),
        }
        .map_err(error)?;
        eprintln!("podflow collect: listening on {scheme}://{local}");
        bound.push(b);
    }
    let stop = AtomicBool::new(false);
    let conns = Connections::default();
    let enterprise_number = args.enterprise_number;
    std::thread::scope(|scope| {
        for b in bound {
            let (stop, conns) = (&stop, &conns);
            scope.spawn(move || match b {
                Bound::Udp(sock) => udp(sock, enterprise_number, output, stop),
                Bound::Tcp(listener, tls) => {
                    accept(scope, listener, tls, enterprise_number, output, stop, conns)
                }
            });
        }
        let name = runtime.block_on(async {
            match (term.as_mut(), int.as_mut()) {
                (Ok(term), Ok(int)) => tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                },
                _ => std::future::pending().await,
            }
        });
        eprintln!("podflow collect: {name}: closing connections once read to the end");
        stop.store(true, Relaxed);
        conns.shutdown(Shutdown::Write);
        let started = Instant::now();
        while started.elapsed() < LINGER && conns.open.load(Relaxed) > 0 {
            std::thread::sleep(POLL);
        }
        conns.shutdown(Shutdown::Both);
    });
    Ok(())
}

/// The TCP and TLS connections, to close them at the end.
#[derive(Default)]
struct Connections {
    streams: Mutex<Vec<TcpStream>>,
    /// Connections still being read.
    open: AtomicUsize,
}

impl Connections {
    fn shutdown(&self, how: Shutdown) {
        let streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        for s in streams.iter() {
            let _ = s.shutdown(how);
        }
    }
}

fn udp(sock: UdpSocket, enterprise_number: u32, output: &Output, stop: &AtomicBool) {
    let _ = sock.set_read_timeout(Some(POLL));
    let mut sessions: HashMap<SocketAddr, Session> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let session = sessions
            .entry(from)
            .or_insert_with(|| Session::new(enterprise_number));
        output.message(&from.to_string(), session, &buf[..n]);
    }
}

fn accept<'scope>(
    scope: &'scope Scope<'scope, '_>,
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    enterprise_number: u32,
    output: &'scope Output,
    stop: &'scope AtomicBool,
    conns: &'scope Connections,
) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Relaxed) {
        let (stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(_) => continue,
        };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        if let Ok(clone) = stream.try_clone() {
            conns
                .streams
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(clone);
        }
        conns.open.fetch_add(1, Relaxed);
        let tls = tls.clone();
        scope.spawn(move || {
            let _done = Done(&conns.open);
            let name = peer.to_string();
            let session = Session::new(enterprise_number);
            match tls {
                None => read_stream(stream, &name, session, output),
                Some(config) => match ServerConnection::new(config) {
                    Ok(conn) => read_stream(StreamOwned::new(conn, stream), &name, session, output),
                    Err(e) => eprintln!("podflow collect: {name}: {e}"),
                },
            }
        });
    }
}

/// Counts a connection as ended when its thread ends, however it ends.
struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Reads whole messages from one connection until it ends.
fn read_stream(mut reader: impl Read, name: &str, mut session: Session, output: &Output) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                output.totals.errors.fetch_add(1, Relaxed);
                eprintln!("podflow collect: {name}: {e}");
                break;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        loop {
            match peek_header(&buf[at..]) {
                Ok(Some(h)) if buf.len() - at >= usize::from(h.length) => {
                    let end = at + usize::from(h.length);
                    output.message(name, &mut session, &buf[at..end]);
                    at = end;
                }
                Ok(_) => break,
                Err(e) => {
                    output.totals.errors.fetch_add(1, Relaxed);
                    eprintln!("podflow collect: {name} does not speak IPFIX: {e}");
                    return;
                }
            }
        }
        buf.drain(..at);
    }
    if !buf.is_empty() {
        eprintln!(
            "podflow collect: {name}: the connection ended inside a message ({} bytes left)",
            buf.len()
        );
    }
}
