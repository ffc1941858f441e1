//! TLS for https endpoints: verification always on, against the charm's CA bundle only,
//! TLS 1.2 or newer.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// Why `server_cert` cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CertProblem {
    Missing,
    Relative(String),
    Unreadable(String),
    Unparsable(String),
}

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertProblem::Missing => f.write_str("no server_cert is set"),
            CertProblem::Relative(path) => {
                write!(f, "server_cert {path:?} is not an absolute path")
            }
            CertProblem::Unreadable(why) => write!(f, "server_cert cannot be read: {why}"),
            CertProblem::Unparsable(why) => {
                write!(f, "server_cert is not a PEM CA bundle: {why}")
            }
        }
    }
}

/// A client configuration trusting exactly the certificates in the PEM bundle at `cert`.
pub(crate) fn client_config(cert: Option<&Path>) -> Result<Arc<ClientConfig>, CertProblem> {
    let path = cert.ok_or(CertProblem::Missing)?;
    if !path.is_absolute() {
        return Err(CertProblem::Relative(path.display().to_string()));
    }
    let pem = std::fs::read(path)
        .map_err(|e| CertProblem::Unreadable(format!("{}: {e}", path.display())))?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertProblem::Unparsable(format!("{}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(CertProblem::Unparsable(format!(
            "{}: no certificate in it",
            path.display()
        )));
    }
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| CertProblem::Unparsable(format!("{}: {e}", path.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CertProblem::Unparsable(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_certificates_are_named() {
        assert_eq!(client_config(None).err(), Some(CertProblem::Missing));
        assert!(matches!(
            client_config(Some(Path::new("ca.pem"))),
            Err(CertProblem::Relative(_))
        ));
        assert!(matches!(
            client_config(Some(Path::new("/nonexistent/ca.pem"))),
            Err(CertProblem::Unreadable(_))
        ));
        let garbage = std::env::temp_dir().join(format!("ct-garbage-{}.pem", std::process::id()));
        std::fs::write(&garbage, b"not a certificate").unwrap();
        assert!(matches!(
            client_config(Some(&garbage)),
            Err(CertProblem::Unparsable(_))
        ));
        let _ = std::fs::remove_file(garbage);
    }
}
