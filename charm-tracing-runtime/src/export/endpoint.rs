//! The endpoint a hook's record goes to, with its certificate and where both came from.

use crate::export::tls::CaCert;

/// Which source gave the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Charm,
    JujuTraceConfig,
    OtelTraces,
    Otel,
}

impl Source {
    /// What the source is called in log lines.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Source::Charm => "the charm's tracing_endpoint",
            Source::JujuTraceConfig => "JUJU_CHARM_TRACE_CONFIG_HTTP",
            Source::OtelTraces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Source::Otel => "OTEL_EXPORTER_OTLP_ENDPOINT",
        }
    }
}

/// The endpoint a hook sends to, with its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResolvedEndpoint {
    /// The endpoint as configured.
    pub endpoint: String,
    /// Whether `endpoint` is the full URL to POST to (no `/v1/traces` appended).
    pub verbatim: bool,
    pub cert: Option<CaCert>,
    /// The setting the certificate comes from, for error lines.
    pub cert_name: &'static str,
    pub source: Source,
}
