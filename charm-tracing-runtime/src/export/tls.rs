//! TLS for https endpoints: verification always on, against the charm's CA bundle only,
//! TLS 1.2 or newer.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the CA bundle of an https endpoint is: a file, or PEM text (Juju's
/// `JUJU_CHARM_TRACE_CONFIG_CA_CERT` may hold either).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CaCert {
    Path(PathBuf),
    Pem(String),
}

/// Why the CA certificate cannot be used. `name` (in [`CertProblem::describe`]) says where
/// it was configured: `server_cert`, an environment variable.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CertProblem {
    Missing,
    Relative(String),
    Unreadable(String),
    Unparsable(String),
}

impl CertProblem {
    /// The problem, naming the setting the certificate came from.
    pub(crate) fn describe(&self, name: &str) -> String {
        match self {
            CertProblem::Missing => format!("no {name} is set"),
            CertProblem::Relative(path) if name.starts_with("JUJU_") => {
                format!("{name} {path:?} is neither PEM text nor an absolute path")
            }
            CertProblem::Relative(path) => format!("{name} {path:?} is not an absolute path"),
            CertProblem::Unreadable(why) => format!("{name} cannot be read: {why}"),
            CertProblem::Unparsable(why) => format!("{name} is not a PEM CA bundle: {why}"),
        }
    }
}

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe("server_cert"))
    }
}

/// A client configuration trusting exactly the certificates of `cert`: the PEM bundle at
/// that path, or that PEM text (parsed in memory, never written to disk).
pub(crate) fn client_config(cert: Option<&CaCert>) -> Result<Arc<ClientConfig>, CertProblem> {
    let (pem, origin) = match cert.ok_or(CertProblem::Missing)? {
        CaCert::Path(path) => {
            if !path.is_absolute() {
                return Err(CertProblem::Relative(path.display().to_string()));
            }
            let pem = std::fs::read(path)
                .map_err(|e| CertProblem::Unreadable(format!("{}: {e}", path.display())))?;
            (pem, path.display().to_string())
        }
        CaCert::Pem(text) => (text.as_bytes().to_vec(), "the PEM text".to_owned()),
    };
    client_config_from_pem(&pem, &origin)
}

fn client_config_from_pem(pem: &[u8], origin: &str) -> Result<Arc<ClientConfig>, CertProblem> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertProblem::Unparsable(format!("{origin}: {e}")))?;
    if certificates.is_empty() {
        return Err(CertProblem::Unparsable(format!(
            "{origin}: no certificate in it"
        )));
    }
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| CertProblem::Unparsable(format!("{origin}: {e}")))?;
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
        let path = |p: &str| CaCert::Path(PathBuf::from(p));
        assert!(matches!(
            client_config(Some(&path("ca.pem"))),
            Err(CertProblem::Relative(_))
        ));
        assert!(matches!(
            client_config(Some(&path("/nonexistent/ca.pem"))),
            Err(CertProblem::Unreadable(_))
        ));
        assert!(matches!(
            client_config(Some(&CaCert::Pem(
                "-----BEGIN CERTIFICATE-----\nnope".into()
            ))),
            Err(CertProblem::Unparsable(_))
        ));
        assert!(
            CertProblem::Missing
                .describe("JUJU_CHARM_TRACE_CONFIG_CA_CERT")
                .contains("JUJU_CHARM_TRACE_CONFIG_CA_CERT")
        );
        let garbage = std::env::temp_dir().join(format!("ct-garbage-{}.pem", std::process::id()));
        std::fs::write(&garbage, b"not a certificate").unwrap();
        assert!(matches!(
            client_config(Some(&CaCert::Path(garbage.clone()))),
            Err(CertProblem::Unparsable(_))
        ));
        let _ = std::fs::remove_file(garbage);
    }
}
