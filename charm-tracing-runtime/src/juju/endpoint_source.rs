//! Where a hook's tracing endpoint comes from, first match wins:
//!
//! 1. the charm's `tracing_endpoint` member, when it gives a non-empty endpoint (its
//!    certificate: the charm's `server_cert`);
//! 2. `JUJU_CHARM_TRACE_CONFIG_HTTP` (Juju 4 sets it on every hook, empty when unset), with
//!    `/v1/traces` appended unless its path already ends so; its certificate:
//!    `JUJU_CHARM_TRACE_CONFIG_CA_CERT`, PEM text (parsed in memory) or an absolute path;
//!    `JUJU_CHARM_TRACE_CONFIG_GRPC` is not used (this crate speaks OTLP/HTTP only);
//! 3. `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used verbatim, or else `OTEL_EXPORTER_OTLP_ENDPOINT`
//!    with `/v1/traces` appended; their certificate: `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`,
//!    else `OTEL_EXPORTER_OTLP_CERTIFICATE` (a path).
//!
//! An empty variable counts as unset. The certificate always comes from the source of the
//! endpoint, never from another one. The https rules are the same for every source.

pub(crate) use crate::export::endpoint::{ResolvedEndpoint, Source};
use crate::export::tls::CaCert;
use std::path::PathBuf;

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Juju's CA variable: PEM text when it looks like PEM, else a path.
fn juju_ca(value: &str) -> CaCert {
    if value.trim_start().starts_with("-----BEGIN") {
        CaCert::Pem(value.to_owned())
    } else {
        CaCert::Path(PathBuf::from(value.trim()))
    }
}

/// Juju's endpoint with `/v1/traces` unless it already ends with it.
fn juju_endpoint(endpoint: &str) -> (String, bool) {
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.ends_with("/v1/traces") {
        (trimmed.to_owned(), true)
    } else {
        (endpoint.trim().to_owned(), false)
    }
}

/// The endpoint from the first source that gives one; `env` reads the environment.
pub(crate) fn resolve(
    charm_endpoint: Option<String>,
    charm_cert: Option<PathBuf>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<ResolvedEndpoint> {
    if let Some(endpoint) = non_empty(charm_endpoint) {
        return Some(ResolvedEndpoint {
            endpoint,
            verbatim: false,
            cert: charm_cert.map(CaCert::Path),
            cert_name: "server_cert",
            source: Source::Charm,
        });
    }
    if let Some(endpoint) = non_empty(env("JUJU_CHARM_TRACE_CONFIG_HTTP")) {
        let (endpoint, verbatim) = juju_endpoint(&endpoint);
        return Some(ResolvedEndpoint {
            endpoint,
            verbatim,
            cert: non_empty(env("JUJU_CHARM_TRACE_CONFIG_CA_CERT")).map(|ca| juju_ca(&ca)),
            cert_name: "JUJU_CHARM_TRACE_CONFIG_CA_CERT",
            source: Source::JujuTraceConfig,
        });
    }
    let otel_cert = || {
        non_empty(env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"))
            .map(|p| ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", p))
            .or_else(|| {
                non_empty(env("OTEL_EXPORTER_OTLP_CERTIFICATE"))
                    .map(|p| ("OTEL_EXPORTER_OTLP_CERTIFICATE", p))
            })
    };
    let otel = non_empty(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .map(|e| (e, true, Source::OtelTraces))
        .or_else(|| {
            non_empty(env("OTEL_EXPORTER_OTLP_ENDPOINT")).map(|e| (e, false, Source::Otel))
        });
    if let Some((endpoint, verbatim, source)) = otel {
        let cert = otel_cert();
        return Some(ResolvedEndpoint {
            endpoint: endpoint.trim().to_owned(),
            verbatim,
            cert_name: cert
                .as_ref()
                .map_or("OTEL_EXPORTER_OTLP_CERTIFICATE", |(name, _)| name),
            cert: cert.map(|(_, path)| CaCert::Path(PathBuf::from(path.trim()))),
            source,
        });
    }
    if non_empty(env("JUJU_CHARM_TRACE_CONFIG_GRPC")).is_some() {
        log::debug!(
            "charm-tracing: Juju gives only a gRPC trace endpoint (JUJU_CHARM_TRACE_CONFIG_GRPC); \
             charm-tracing sends OTLP/HTTP and does not use it"
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const ALL: &[(&str, &str)] = &[
        ("JUJU_CHARM_TRACE_CONFIG_HTTP", "http://juju:4318"),
        ("JUJU_CHARM_TRACE_CONFIG_CA_CERT", "/juju-ca.pem"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://otel:4318/custom",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-base:4318"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/otel-ca.pem"),
    ];

    #[test]
    fn the_charm_comes_first_with_its_own_cert() {
        let resolved = resolve(
            Some("https://charm:4318".into()),
            Some("/charm-ca.pem".into()),
            env(ALL),
        )
        .unwrap();
        assert_eq!(resolved.source, Source::Charm);
        assert_eq!(resolved.endpoint, "https://charm:4318");
        assert_eq!(resolved.cert, Some(CaCert::Path("/charm-ca.pem".into())));
        // No charm certificate: none, never Juju's.
        let resolved = resolve(Some("https://charm:4318".into()), None, env(ALL)).unwrap();
        assert_eq!(resolved.cert, None);
    }

    #[test]
    fn an_empty_charm_endpoint_falls_through_to_juju() {
        let resolved = resolve(Some("  ".into()), Some("/charm-ca.pem".into()), env(ALL)).unwrap();
        assert_eq!(resolved.source, Source::JujuTraceConfig);
        assert_eq!(resolved.endpoint, "http://juju:4318");
        assert!(!resolved.verbatim);
        assert_eq!(resolved.cert, Some(CaCert::Path("/juju-ca.pem".into())));
    }

    #[test]
    fn juju_ca_may_be_pem_text() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let resolved = resolve(
            None,
            None,
            env(&[
                (
                    "JUJU_CHARM_TRACE_CONFIG_HTTP",
                    "https://juju:4318/v1/traces",
                ),
                ("JUJU_CHARM_TRACE_CONFIG_CA_CERT", pem),
            ]),
        )
        .unwrap();
        assert_eq!(resolved.cert, Some(CaCert::Pem(pem.to_owned())));
        assert_eq!(resolved.endpoint, "https://juju:4318/v1/traces");
        assert!(resolved.verbatim);
    }

    #[test]
    fn empty_juju_variables_are_unset() {
        let resolved = resolve(
            None,
            None,
            env(&[
                ("JUJU_CHARM_TRACE_CONFIG_HTTP", ""),
                ("JUJU_CHARM_TRACE_CONFIG_GRPC", ""),
                ("JUJU_CHARM_TRACE_CONFIG_CA_CERT", ""),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-base:4318"),
            ]),
        )
        .unwrap();
        assert_eq!(resolved.source, Source::Otel);
        assert!(!resolved.verbatim);
        assert_eq!(resolved.cert, None);
        let juju_https = resolve(
            None,
            None,
            env(&[
                ("JUJU_CHARM_TRACE_CONFIG_HTTP", "https://juju:4318"),
                ("JUJU_CHARM_TRACE_CONFIG_CA_CERT", ""),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/otel-ca.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(juju_https.cert, None, "never another source's certificate");
    }

    #[test]
    fn otel_traces_endpoint_is_verbatim_and_wins_over_the_base() {
        let resolved = resolve(None, None, env(&ALL[2..])).unwrap();
        assert_eq!(resolved.source, Source::OtelTraces);
        assert_eq!(resolved.endpoint, "http://otel:4318/custom");
        assert!(resolved.verbatim);
        assert_eq!(resolved.cert, Some(CaCert::Path("/otel-ca.pem".into())));
        assert_eq!(resolved.cert_name, "OTEL_EXPORTER_OTLP_CERTIFICATE");
    }

    #[test]
    fn nothing_configured_is_no_endpoint() {
        assert_eq!(resolve(None, None, env(&[])), None);
        assert_eq!(
            resolve(
                None,
                None,
                env(&[("JUJU_CHARM_TRACE_CONFIG_GRPC", "juju:4317")])
            ),
            None
        );
    }
}
