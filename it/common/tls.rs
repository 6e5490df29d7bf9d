//! TLS fixtures of the export tests: test CAs and the certificates they sign (rcgen), a
//! TLS endpoint of OpenSSL's (socat's OPENSSL-LISTEN), and a tap that keeps what crossed
//! the wire.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair,
};

use crate::common::Background;

/// A test CA.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

/// A certificate and its key, PEM.
pub struct Pair {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for `names`.
    pub fn server(&self, names: &[&str]) -> Pair {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A server certificate for `names` that expired in 2020.
    pub fn expired_server(&self, names: &[&str]) -> Pair {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate.
    pub fn client(&self, name: &str) -> Pair {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth, false)
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose, expired: bool) -> Pair {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        params.extended_key_usages = vec![usage];
        if expired {
            params.not_before = date_time_ymd(2019, 1, 1);
            params.not_after = date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Writes `text` through a temporary file and a rename, as certificate writers do.
pub fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// OpenSSL behind socat: a TLS listener on `port` with the certificate in `dir`
/// (`server.crt`, `server.key`) that requires a client certificate signed by
/// `client_ca` when given, and writes what each connection carries into its own file
/// `conn.<pid>` of `out` (a directory). `options` are more OPENSSL-LISTEN options
/// (",opt=value..."); socat's log (the TLS version of each session) goes to `socat.log`
/// in `dir`.
pub fn socat_tls(
    port: u16,
    dir: &Path,
    client_ca: Option<&Path>,
    out: &Path,
    options: &str,
) -> Background {
    std::fs::create_dir_all(out).unwrap();
    let verify = match client_ca {
        Some(ca) => format!("cafile={},verify=1", ca.display()),
        None => "verify=0".to_owned(),
    };
    let listen = format!(
        "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},{verify}{options}",
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    );
    let sink = format!("SYSTEM:cat > {}/conn.$$", out.display());
    let log = std::fs::File::create(dir.join("socat.log")).unwrap();
    let child = Command::new("socat")
        .args(["-d", "-d", "-u", &listen, &sink])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("socat runs: run scripts/test.sh, which installs it");
    crate::common::wait_for_listener("tcp", port);
    Background(child)
}

/// The files socat wrote, one per connection, oldest first.
pub fn connections(out: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (std::fs::metadata(&p).unwrap().created().unwrap(), p))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect()
}

/// Forwards connections from a port of its own to `to` on 127.0.0.1, keeping every byte
/// the clients sent.
pub struct Tap {
    pub port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    pub fn new(to: u16) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let (mut back_from, mut back_to) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut back_from, &mut back_to);
                    let _ = back_to.shutdown(Shutdown::Write);
                });
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = client.read(&mut buf) {
                        if n == 0 || server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        kept.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = server.shutdown(Shutdown::Write);
                });
            }
        });
        Tap { port, seen }
    }

    /// Everything the clients sent so far.
    pub fn seen(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

/// True when `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
