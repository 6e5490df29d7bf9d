//! PEM files that TLS reads (a certificate chain and its key, a CA bundle), followed as
//! they are renewed: the webhook's serving certificate and the exporter's collector TLS.
//!
//! cert-manager rewrites the files in place, and a Secret volume swaps its `..data`
//! symlink: either way the resolved path, inode, size or modification time of a file
//! changes. A [`Stamp`] of each file tells that with one `stat` call per file; the files
//! are read and parsed again only then. Errors name the configuration key and the file.
#![forbid(unsafe_code)]

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls::crypto::ring;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What is wrong with one file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file cannot be read (missing, no permission, a directory, ...).
    #[error("cannot read it: {0}")]
    Read(io::Error),
    /// The PEM text is malformed.
    #[error("not valid PEM: {0}")]
    Pem(pem::Error),
    /// No `CERTIFICATE` block.
    #[error("no PEM CERTIFICATE block in it")]
    NoCertificate,
    /// No private-key block of a known kind.
    #[error("no PEM private key in it (PKCS#8, PKCS#1 RSA or SEC1 EC)")]
    NoKey,
    /// The certificate does not parse as X.509.
    #[error("not a usable X.509 certificate ({0})")]
    BadCertificate(rustls::Error),
    /// The key is of a kind or size that cannot sign.
    #[error("not a usable private key ({0})")]
    BadKey(rustls::Error),
    /// The key is not the one of the leaf certificate.
    #[error("this private key does not match the certificate in {0}")]
    Mismatch(&'static str),
}

/// A certificate, key or CA file that cannot be used, naming the key and the file.
#[derive(Debug, thiserror::Error)]
#[error("{key} = {}: {problem}", path.display())]
pub struct TlsError {
    /// The configuration key, e.g. `webhook.tls_cert` or `export.tls_ca`.
    pub key: &'static str,
    /// The file as configured.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: Problem,
}

/// A certificate chain and its key, as configured, with the keys that name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key of the leaf.
    pub key: PathBuf,
    /// The configuration keys of the two files, for errors.
    pub keys: (&'static str, &'static str),
}

/// The bytes of both files of a [`CertFiles`].
#[derive(PartialEq, Eq)]
pub struct Pem {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl CertFiles {
    fn cert_error(&self, problem: Problem) -> TlsError {
        TlsError {
            key: self.keys.0,
            path: self.cert.clone(),
            problem,
        }
    }

    fn key_error(&self, problem: Problem) -> TlsError {
        TlsError {
            key: self.keys.1,
            path: self.key.clone(),
            problem,
        }
    }

    /// Reads both files as they are now.
    pub fn read(&self) -> Result<Pem, TlsError> {
        let cert = std::fs::read(&self.cert).map_err(|e| self.cert_error(Problem::Read(e)))?;
        let key = std::fs::read(&self.key).map_err(|e| self.key_error(Problem::Read(e)))?;
        Ok(Pem { cert, key })
    }

    /// Identifies the version of both files on disk now, with two `stat` calls.
    pub fn stamp(&self) -> [Option<Stamp>; 2] {
        [Stamp::of(&self.cert), Stamp::of(&self.key)]
    }

    /// Parses `pem` (read from these files) and checks that the key belongs to the leaf
    /// certificate.
    pub fn certified_key(&self, pem: &Pem) -> Result<CertifiedKey, TlsError> {
        let chain = self.chain(pem)?;
        let key = self.private_key(pem)?;
        CertifiedKey::from_der(chain, key, &ring::default_provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => self.key_error(Problem::Mismatch(self.keys.0)),
            rustls::Error::General(_) => self.key_error(Problem::BadKey(e)),
            other => self.cert_error(Problem::BadCertificate(other)),
        })
    }

    /// The certificate chain of `pem`, leaf first.
    pub fn chain(&self, pem: &Pem) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        certificates(&pem.cert).map_err(|p| self.cert_error(p))
    }

    /// The private key of `pem`.
    pub fn private_key(&self, pem: &Pem) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(&pem.key).map_err(|e| {
            self.key_error(match e {
                pem::Error::NoItemsFound => Problem::NoKey,
                other => Problem::Pem(other),
            })
        })
    }
}

/// Every `CERTIFICATE` block of PEM text; none is a problem.
fn certificates(text: &[u8]) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let certs = CertificateDer::pem_slice_iter(text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(Problem::Pem)?;
    if certs.is_empty() {
        return Err(Problem::NoCertificate);
    }
    Ok(certs)
}

/// The CA bundle at `path` (configuration key `key`) as trust anchors. Every certificate
/// in it must parse.
pub fn root_store(key: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let error = |problem| TlsError {
        key,
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read(path).map_err(|e| error(Problem::Read(e)))?;
    let mut store = RootCertStore::empty();
    for cert in certificates(&text).map_err(error)? {
        store
            .add(cert)
            .map_err(|e| error(Problem::BadCertificate(e)))?;
    }
    Ok(store)
}

/// One version of a file: where its path leads, and that target's identity and age.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    target: PathBuf,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    /// The version of `path` now; `None` when it cannot be seen.
    pub fn of(path: &Path) -> Option<Stamp> {
        let target = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&target).ok()?;
        Some(Stamp {
            target,
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> CertFiles {
        CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            keys: ("export.tls_cert", "export.tls_key"),
        }
    }

    #[test]
    fn errors_name_the_configured_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        std::fs::write(&f.cert, a.cert.pem()).unwrap();
        std::fs::write(&f.key, b.signing_key.serialize_pem()).unwrap();
        let e = f.certified_key(&f.read().unwrap()).unwrap_err().to_string();
        assert!(e.starts_with("export.tls_key = "), "{e}");
        assert!(
            e.ends_with("does not match the certificate in export.tls_cert"),
            "{e}"
        );

        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "junk\n").unwrap();
        let e = root_store("export.tls_ca", &ca).unwrap_err().to_string();
        assert!(e.starts_with("export.tls_ca = "), "{e}");
        assert!(e.ends_with("ca.crt: no PEM CERTIFICATE block in it"), "{e}");
        std::fs::write(&ca, a.cert.pem() + &b.cert.pem()).unwrap();
        assert_eq!(root_store("export.tls_ca", &ca).unwrap().len(), 2);
        let e = root_store("export.tls_ca", &dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none: cannot read it"), "{e}");
    }
}
