//! Where a hook's record goes at shutdown: the endpoint plan and one bounded delivery.
//!
//! The disk buffer (write-ahead, retries, limits) plugs in here: `deliver` is the only
//! place that decides what happens to a record.

use crate::config::CharmConfig;
use crate::context::JujuContext;
use crate::http::{self, Target};
use std::path::PathBuf;
use std::time::Duration;

/// What the session does with its record at shutdown, decided when it starts.
#[derive(Debug)]
pub(crate) struct DeliveryPlan {
    target: Option<Target>,
    timeout: Duration,
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

impl DeliveryPlan {
    pub(crate) fn new(
        config: &CharmConfig,
        _ctx: &JujuContext,
        endpoint: Option<String>,
        cert: Option<PathBuf>,
    ) -> Self {
        let target = match endpoint.as_deref().map(traces_url) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(url))) => match Target::parse(&url, cert) {
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
        DeliveryPlan {
            target,
            timeout: config.export_timeout(),
        }
    }
}

/// Sends the hook's record: one POST, bounded by the export deadline. Never fails the hook.
pub(crate) fn deliver(plan: &DeliveryPlan, record: Vec<u8>) {
    let Some(target) = &plan.target else {
        log::debug!("charm-tracing: no tracing endpoint; the trace is not sent");
        return;
    };
    match http::post(target, record, plan.timeout) {
        Ok(status) if (200..300).contains(&status) => {
            log::debug!("charm-tracing: trace delivered to {}", target.url());
        }
        Ok(status) => log::warn!(
            "charm-tracing: {} answered HTTP {status}; the trace was not accepted",
            target.url()
        ),
        Err(error) => log::warn!(
            "charm-tracing: could not deliver the trace to {}: {error}",
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
