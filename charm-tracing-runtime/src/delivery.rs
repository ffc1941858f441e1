//! What happens to a hook's record at shutdown (SPEC §6): written ahead to the disk buffer,
//! then the buffer delivered oldest first, one POST per record, under one deadline.

use crate::buffer::BufferFile;
use crate::config::CharmConfig;
use crate::context::JujuContext;
use crate::endpoint_source::ResolvedEndpoint;
use crate::tls;
use crate::transport::{self, Fate, Report, Stop, Target};
use bytes::Bytes;
use std::time::Duration;

/// How long a hook waits for another process's buffer lock.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// What the session does with its record at shutdown, decided when it starts.
#[derive(Debug)]
pub(crate) struct DeliveryPlan {
    target: Option<Target>,
    cert: Option<tls::CaCert>,
    /// The setting the certificate comes from, for the error line.
    cert_name: &'static str,
    timeout: Duration,
    /// `None` when `buffer_max_events = 0`.
    buffer: Option<BufferFile>,
}

/// Why an endpoint cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EndpointError {
    UnsupportedScheme(String),
    Invalid(String),
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointError::UnsupportedScheme(endpoint) => write!(
                f,
                "tracing endpoint {endpoint:?} is neither http:// nor https://; traces are not sent"
            ),
            EndpointError::Invalid(endpoint) => {
                write!(
                    f,
                    "tracing endpoint {endpoint:?} is not a valid URL; traces are not sent"
                )
            }
        }
    }
}

/// `{endpoint}/v1/traces`, without a double slash; `None` for an empty endpoint.
pub(crate) fn traces_url(endpoint: &str) -> Result<Option<String>, EndpointError> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Ok(None);
    }
    let lower = endpoint.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(EndpointError::UnsupportedScheme(endpoint.to_owned()));
    }
    Ok(Some(format!(
        "{}/v1/traces",
        endpoint.trim_end_matches('/')
    )))
}

/// A full URL to POST to (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), used as given; `None` for
/// an empty one.
pub(crate) fn full_url(endpoint: &str) -> Result<Option<String>, EndpointError> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Ok(None);
    }
    let lower = endpoint.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(EndpointError::UnsupportedScheme(endpoint.to_owned()));
    }
    Ok(Some(endpoint.to_owned()))
}

impl DeliveryPlan {
    pub(crate) fn new(
        config: &CharmConfig,
        ctx: &JujuContext,
        endpoint: Option<ResolvedEndpoint>,
    ) -> Self {
        let url = endpoint.as_ref().map(|e| {
            if e.verbatim {
                full_url(&e.endpoint)
            } else {
                traces_url(&e.endpoint)
            }
        });
        let target = match url {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(url))) => match Target::parse(&url) {
                Some(target) => Some(target),
                None => {
                    log::error!("charm-tracing: {}", EndpointError::Invalid(url));
                    None
                }
            },
            Some(Err(error)) => {
                log::error!("charm-tracing: {error}");
                None
            }
        };
        let buffer = (config.buffer_max_events > 0).then(|| {
            BufferFile::new(
                config.buffer_file(ctx.charm_dir()),
                config.buffer_max_events,
                config.buffer_max_size_mib,
            )
        });
        let (cert, cert_name) = endpoint.map_or((None, "server_cert"), |e| (e.cert, e.cert_name));
        DeliveryPlan {
            target,
            cert,
            cert_name,
            timeout: config.export_timeout(),
            buffer,
        }
    }

    /// The target and its TLS configuration, if records can be sent now. An https endpoint
    /// without a usable certificate is one error line and no network at all.
    fn connection(&self) -> Option<(&Target, Option<std::sync::Arc<rustls::ClientConfig>>)> {
        let target = self.target.as_ref()?;
        if !target.is_secure() {
            return Some((target, None));
        }
        match tls::client_config(self.cert.as_ref()) {
            Ok(config) => Some((target, Some(config))),
            Err(problem) => {
                log::error!(
                    "charm-tracing: the tracing endpoint {} is https but {}; nothing is \
                     sent (never over plain http) and the trace {}",
                    target.url(),
                    problem.describe(self.cert_name),
                    if self.buffer.is_some() {
                        "stays in the buffer"
                    } else {
                        "is dropped"
                    }
                );
                None
            }
        }
    }
}

/// Delivers (or buffers) the hook's record. Never fails the hook; every wait is bounded.
pub(crate) fn deliver(plan: &DeliveryPlan, record: Vec<u8>) {
    match &plan.buffer {
        Some(buffer) => deliver_buffered(plan, buffer, record),
        None => deliver_direct(plan, record),
    }
}

/// `buffer_max_events = 0`: one attempt; on failure the spans are dropped with one warning.
fn deliver_direct(plan: &DeliveryPlan, record: Vec<u8>) {
    let Some((target, tls)) = plan.connection() else {
        return;
    };
    let (report, _) = transport::send_all(target, tls, || vec![Bytes::from(record)], plan.timeout);
    if report.fates.first() != Some(&Fate::Delivered) {
        let why = report
            .stop
            .as_ref()
            .map_or_else(|| "the backend rejected it".to_owned(), ToString::to_string);
        log::warn!(
            "charm-tracing: the trace was not delivered to {} ({why}); with buffering off it \
             is dropped",
            target.url()
        );
    }
}

fn deliver_buffered(plan: &DeliveryPlan, buffer: &BufferFile, record: Vec<u8>) {
    let locked = match buffer.lock(LOCK_WAIT) {
        Ok(locked) => locked,
        Err(error) => {
            log::error!(
                "charm-tracing: cannot use the buffer {} ({error}); sending this trace directly",
                buffer.path().display()
            );
            return deliver_direct(plan, record);
        }
    };
    // Write-ahead: the record is on disk before any network I/O.
    if let Err(error) = locked.append(&record) {
        log::error!(
            "charm-tracing: could not buffer the trace in {} ({error}); sending it directly",
            buffer.path().display()
        );
        drop(locked);
        return deliver_direct(plan, record);
    }
    drop(record);
    let Some((target, tls)) = plan.connection() else {
        return;
    };
    let load = || match locked.read_all() {
        Ok(records) => records.into_iter().map(Bytes::from).collect(),
        Err(error) => {
            log::error!(
                "charm-tracing: cannot read the buffer {} ({error}); nothing is sent",
                buffer.path().display()
            );
            Vec::new()
        }
    };
    let (report, records) = transport::send_all(target, tls, load, plan.timeout);
    log_report(target, &report, records.len());
    if report.fates.is_empty() {
        return;
    }
    let kept: Vec<Vec<u8>> = records[report.fates.len()..]
        .iter()
        .map(|r| r.to_vec())
        .collect();
    if let Err(error) = locked.rewrite(&kept) {
        log::error!(
            "charm-tracing: could not update the buffer {} ({error}); delivered traces may be \
             sent again",
            buffer.path().display()
        );
    }
}

fn log_report(target: &Target, report: &Report, total: usize) {
    for fate in &report.fates {
        if let Fate::Rejected(status) = fate {
            log::error!(
                "charm-tracing: {} rejected a trace with HTTP {status}; it can never be \
                 accepted and is dropped",
                target.url()
            );
        }
    }
    let delivered = report
        .fates
        .iter()
        .filter(|f| **f == Fate::Delivered)
        .count();
    let kept = total - report.fates.len();
    match &report.stop {
        None => log::debug!(
            "charm-tracing: {delivered} trace(s) delivered to {}",
            target.url()
        ),
        Some(stop @ Stop::Refused(_)) => log::error!(
            "charm-tracing: {} ({stop}): check the tracing endpoint; {kept} trace(s) kept in \
             the buffer",
            target.url()
        ),
        Some(stop) => log::info!(
            "charm-tracing: {} unavailable ({stop}); {delivered} delivered, {kept} trace(s) kept \
             in the buffer",
            target.url()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_url_appends_the_otlp_path_once() {
        assert_eq!(
            traces_url("http://tempo:4318").unwrap().as_deref(),
            Some("http://tempo:4318/v1/traces")
        );
        assert_eq!(
            traces_url("http://tempo:4318/").unwrap().as_deref(),
            Some("http://tempo:4318/v1/traces")
        );
        assert_eq!(
            traces_url("https://tempo:4318//").unwrap().as_deref(),
            Some("https://tempo:4318/v1/traces")
        );
        assert_eq!(traces_url("").unwrap(), None);
        assert_eq!(traces_url("   ").unwrap(), None);
    }

    #[test]
    fn only_http_and_https_are_endpoints() {
        assert!(matches!(
            traces_url("grpc://tempo:4317"),
            Err(EndpointError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            traces_url("tempo:4318"),
            Err(EndpointError::UnsupportedScheme(_))
        ));
        assert!(traces_url("HTTP://tempo:4318").unwrap().is_some());
    }
}
