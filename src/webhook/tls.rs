//! TLS of the webhook's HTTPS listener: rustls with the ring provider, TLS 1.2 and 1.3
//! only, and a certificate resolver that follows the PEM files as they are renewed.
//!
//! [`CertWatch::check`] notices a renewal of the files (see [`crate::certs`]) with two
//! `stat` calls, reads the pair again and, when it is valid, swaps the [`CertifiedKey`]
//! that [`CertResolver`] hands to new handshakes. Connections already open keep the certificate they were made with. A new
//! pair that is not valid is reported once and the old one stays in service.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::ring;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

pub use crate::certs::{CertFiles, TlsError};
use crate::certs::{Pem, Stamp};

/// The configuration keys of the listener's two files.
pub const KEYS: (&str, &str) = ("webhook.tls_cert", "webhook.tls_key");

/// Hands the current certificate to every new handshake.
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver").finish_non_exhaustive()
    }
}

impl CertResolver {
    fn new(key: CertifiedKey) -> Self {
        CertResolver {
            current: RwLock::new(Arc::new(key)),
        }
    }

    /// The certificate that new connections get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// What one look at the files found.
#[derive(Debug)]
pub enum Check {
    /// Neither file changed (or they changed back to the bytes in service).
    Unchanged,
    /// A new valid pair is now served.
    Reloaded,
    /// The files changed but the new pair cannot be served; the old one stays. Reported
    /// once per change of the files.
    Rejected(TlsError),
}

/// Follows the files and swaps the resolver's certificate when they change.
pub struct CertWatch {
    files: CertFiles,
    stamp: [Option<Stamp>; 2],
    serving: Pem,
    resolver: Arc<CertResolver>,
}

impl fmt::Debug for CertWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertWatch")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl CertWatch {
    /// Loads the pair for the first time; any problem is an error naming the file.
    pub fn load(files: CertFiles) -> Result<CertWatch, TlsError> {
        let stamp = files.stamp();
        let pem = files.read()?;
        let key = files.certified_key(&pem)?;
        Ok(CertWatch {
            files,
            stamp,
            serving: pem,
            resolver: Arc::new(CertResolver::new(key)),
        })
    }

    /// The resolver to put in the server configuration.
    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// The files followed.
    pub fn files(&self) -> &CertFiles {
        &self.files
    }

    /// Looks at the files: cheap when nothing changed (two `stat` calls).
    pub fn check(&mut self) -> Check {
        let stamp = self.files.stamp();
        if stamp == self.stamp {
            return Check::Unchanged;
        }
        // Remember this version whatever it holds, so a bad pair is reported only once.
        self.stamp = stamp;
        let loaded = self.files.read().and_then(|pem| {
            if pem == self.serving {
                return Ok(None);
            }
            let key = self.files.certified_key(&pem)?;
            Ok(Some((pem, key)))
        });
        match loaded {
            Ok(None) => Check::Unchanged,
            Ok(Some((pem, key))) => {
                self.resolver.replace(key);
                self.serving = pem;
                Check::Reloaded
            }
            Err(e) => Check::Rejected(e),
        }
    }
}

/// A rustls server configuration: ring provider, TLS 1.3 and 1.2, no client certificate,
/// the certificate from `resolver`, HTTP/1.1 only (set by actix-web through ALPN).
pub fn server_config(resolver: Arc<CertResolver>) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A self-signed pair for `name`: (certificate PEM, key PEM).
    fn pair(name: &str) -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    /// Writes through a temporary file and a rename, as cert-manager's writers do.
    fn put(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    fn files(dir: &Path, (cert, key): &(String, String)) -> CertFiles {
        let files = CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            keys: KEYS,
        };
        put(&files.cert, cert);
        put(&files.key, key);
        files
    }

    fn leaf(resolver: &CertResolver) -> Vec<u8> {
        resolver.current().cert[0].to_vec()
    }

    #[test]
    fn loads_a_valid_pair_and_builds_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let watch = CertWatch::load(files(dir.path(), &pair("a.example"))).unwrap();
        let config = server_config(watch.resolver()).unwrap();
        assert!(config.alpn_protocols.is_empty());
    }

    #[test]
    fn errors_name_the_key_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let good = pair("a.example");
        let files = files(dir.path(), &good);

        let missing = CertFiles {
            cert: dir.path().join("nope.crt"),
            ..files.clone()
        };
        let e = CertWatch::load(missing).unwrap_err().to_string();
        assert!(e.starts_with("webhook.tls_cert = "), "{e}");
        assert!(e.contains("nope.crt: cannot read it"), "{e}");

        put(&files.key, "not a key\n");
        let e = CertWatch::load(files.clone()).unwrap_err().to_string();
        assert!(e.starts_with("webhook.tls_key = "), "{e}");
        assert!(e.contains("no PEM private key"), "{e}");

        put(&files.key, &good.1);
        put(&files.cert, "hello\n");
        let e = CertWatch::load(files.clone()).unwrap_err().to_string();
        assert!(e.contains("tls.crt: no PEM CERTIFICATE block"), "{e}");

        put(
            &files.cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let e = CertWatch::load(files.clone()).unwrap_err().to_string();
        assert!(e.starts_with("webhook.tls_cert = "), "{e}");
        assert!(e.contains("not a usable X.509 certificate"), "{e}");

        put(&files.cert, &good.0);
        put(&files.key, &pair("b.example").1);
        let e = CertWatch::load(files).unwrap_err().to_string();
        assert!(e.starts_with("webhook.tls_key = "), "{e}");
        assert!(
            e.ends_with("does not match the certificate in webhook.tls_cert"),
            "{e}"
        );
    }

    #[test]
    fn a_renewed_pair_is_served_and_a_bad_one_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = pair("a.example");
        let files = files(dir.path(), &first);
        let mut watch = CertWatch::load(files.clone()).unwrap();
        let resolver = watch.resolver();
        let before = leaf(&resolver);
        assert!(matches!(watch.check(), Check::Unchanged));

        // Rewritten with the same bytes: nothing to swap.
        put(&files.cert, &first.0);
        assert!(matches!(watch.check(), Check::Unchanged));

        let second = pair("b.example");
        put(&files.cert, &second.0);
        put(&files.key, &second.1);
        assert!(matches!(watch.check(), Check::Reloaded));
        let after = leaf(&resolver);
        assert_ne!(before, after);

        // Half-written: a new certificate with the old key. Reported once, old pair kept.
        put(&files.cert, &pair("c.example").0);
        assert!(matches!(watch.check(), Check::Rejected(_)));
        assert!(matches!(watch.check(), Check::Unchanged));
        assert_eq!(leaf(&resolver), after);

        std::fs::remove_file(&files.key).unwrap();
        assert!(matches!(watch.check(), Check::Rejected(_)));
        assert_eq!(leaf(&resolver), after);
    }

    #[test]
    fn follows_a_secret_volume_symlink_swap() {
        // Kubelet's layout: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/
        let dir = tempfile::tempdir().unwrap();
        let version = |name: &str, p: &(String, String)| {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("tls.crt"), &p.0).unwrap();
            std::fs::write(d.join("tls.key"), &p.1).unwrap();
        };
        let swap = |name: &str| {
            let tmp = dir.path().join("..data_tmp");
            std::os::unix::fs::symlink(name, &tmp).unwrap();
            std::fs::rename(&tmp, dir.path().join("..data")).unwrap();
        };
        version("..v1", &pair("a.example"));
        swap("..v1");
        for f in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{f}"), dir.path().join(f)).unwrap();
        }
        let files = CertFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            keys: KEYS,
        };
        let mut watch = CertWatch::load(files).unwrap();
        let before = leaf(&watch.resolver());

        version("..v2", &pair("b.example"));
        swap("..v2");
        assert!(matches!(watch.check(), Check::Reloaded));
        assert_ne!(leaf(&watch.resolver()), before);
    }
}
