//! What happens to a hook's record at shutdown: written ahead to the disk buffer,
//! then the buffer delivered oldest first, one POST per record, under one deadline.

use crate::export::buffer::BufferFile;
use crate::export::endpoint::ResolvedEndpoint;
use crate::export::tls;
use crate::export::transport::{self, Fate, Report, Stop, Target};
use bytes::Bytes;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Time allowed, past the lock holder's export deadline, for its rewrite of the buffer.
const REWRITE_ALLOWANCE: Duration = Duration::from_millis(500);

/// How long a hook waits for another process's buffer lock: longer than the holder may keep
/// it (its export deadline, the transport's grace, then a rewrite), so a hook never skips the
/// write-ahead because an earlier hook is still delivering.
pub(crate) fn lock_wait(timeout: Duration) -> Duration {
    timeout + transport::GRACE + REWRITE_ALLOWANCE
}

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
    /// What a session does with its record: `buffer` (`None`: no buffer), `timeout` for all
    /// network work, `endpoint` (`None`: none yet).
    pub(crate) fn new(
        buffer: Option<BufferFile>,
        timeout: Duration,
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
        let (cert, cert_name) = endpoint.map_or((None, "server_cert"), |e| (e.cert, e.cert_name));
        DeliveryPlan {
            target,
            cert,
            cert_name,
            timeout,
            buffer,
        }
    }

    /// The target and its TLS configuration: `Ok(None)` without an endpoint, `Err` with the
    /// problem when the endpoint is https without a usable certificate (nothing may be sent).
    #[allow(clippy::type_complexity)]
    fn connection(
        &self,
    ) -> Result<Option<(&Target, Option<std::sync::Arc<rustls::ClientConfig>>)>, String> {
        let Some(target) = self.target.as_ref() else {
            return Ok(None);
        };
        if !target.is_secure() {
            return Ok(Some((target, None)));
        }
        match tls::client_config(self.cert.as_ref()) {
            Ok(config) => Ok(Some((target, Some(config)))),
            Err(problem) => Err(format!(
                "the tracing endpoint {} is https but {}; nothing is sent (never over \
                 plain http)",
                target.url(),
                problem.describe(self.cert_name)
            )),
        }
    }
}

impl crate::collect::session::Sink for DeliveryPlan {
    /// The network and buffer path: the record encoded once, written ahead, delivered.
    fn accept(&self, trace: crate::collect::session::SealedTrace<'_>) {
        let record = crate::export::encode::encode_request(&trace);
        // The spans are freed before delivery, which reuses their memory.
        drop(trace);
        deliver(self, record);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Where the hook's own record is, for an honest line if delivery panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Whereabouts {
    /// Only in memory.
    Memory,
    /// Written ahead to the buffer.
    Buffered,
}

/// Delivers (or buffers) the hook's record. Never fails the hook; every wait is bounded.
pub(crate) fn deliver(plan: &DeliveryPlan, record: Vec<u8>) {
    let whereabouts = Cell::new(Whereabouts::Memory);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &plan.buffer {
        Some(buffer) => deliver_buffered(plan, buffer, Some(record), &whereabouts),
        None => deliver_unbuffered(plan, record, None, plan.timeout),
    }));
    if run.is_err() {
        log_panic(plan, whereabouts.get());
    }
}

fn log_panic(plan: &DeliveryPlan, whereabouts: Whereabouts) {
    match (whereabouts, &plan.buffer) {
        (Whereabouts::Buffered, Some(buffer)) => log::error!(
            "charm-tracing: delivery failed unexpectedly; this hook's trace is in the buffer {} \
             and a later hook sends it",
            buffer.path().display()
        ),
        _ => log::error!(
            "charm-tracing: delivery failed unexpectedly before this hook's trace was buffered; \
             it is lost"
        ),
    }
}

/// A record that is not in the buffer: buffering off (`why` is `None`), or the buffer could
/// not be used (`why` says why). One attempt within `budget`; one line says what became of it.
fn deliver_unbuffered(plan: &DeliveryPlan, record: Vec<u8>, why: Option<String>, budget: Duration) {
    let outcome = match plan.connection() {
        Ok(Some((target, tls))) => {
            let (report, _) = transport::send_all(
                target,
                tls,
                || vec![Bytes::from(record)],
                budget,
                Instant::now() + budget,
            );
            match report.fates.first() {
                Some(Fate::Delivered) => Ok(target.url().to_owned()),
                Some(Fate::Rejected(status)) => {
                    Err(format!("{} rejected it with HTTP {status}", target.url()))
                }
                None => Err(format!(
                    "{} did not take it ({})",
                    target.url(),
                    report
                        .stop
                        .as_ref()
                        .map_or_else(|| "no answer".to_owned(), ToString::to_string)
                )),
            }
        }
        // Buffering off and no endpoint: nothing to attempt, nothing to say.
        Ok(None) if why.is_none() => return,
        Ok(None) => Err("there is no tracing endpoint".to_owned()),
        Err(problem) if why.is_none() => {
            // A configuration mistake is loud.
            log::error!("charm-tracing: {problem}; with buffering off the trace is dropped");
            return;
        }
        Err(problem) => Err(problem),
    };
    match (why, outcome) {
        (None, Ok(_)) => {}
        (None, Err(failure)) => log::warn!(
            "charm-tracing: the trace was not delivered: {failure}; with buffering off it is \
             dropped"
        ),
        (Some(why), Ok(url)) => log::error!(
            "charm-tracing: {why}; this hook's trace was not buffered and was sent directly: \
             delivered to {url}"
        ),
        (Some(why), Err(failure)) => log::error!(
            "charm-tracing: {why}; this hook's trace was not buffered and is dropped: {failure}"
        ),
    }
}

/// Delivers the buffer at `path` (a copy taken off a unit) to `endpoint`, trusting `ca` for
/// https, under `timeout`, as a hook delivers its backlog; what happened is logged.
pub(crate) fn send_file(
    path: &std::path::Path,
    endpoint: &str,
    ca: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<(), String> {
    let path = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // A copy is sent as it is: nothing evicted, nothing moved aside for its size.
    let buffer = BufferFile::new(path, u32::MAX, 1024);
    let resolved = ResolvedEndpoint {
        endpoint: endpoint.to_owned(),
        verbatim: false,
        cert: ca.map(|ca| crate::export::tls::CaCert::Path(ca.to_path_buf())),
        cert_name: "--ca",
        source: crate::export::endpoint::Source::Charm,
    };
    let plan = DeliveryPlan::new(
        Some(buffer),
        timeout.max(Duration::from_millis(1)),
        Some(resolved),
    );
    if plan.target.is_none() {
        return Err(format!(
            "{endpoint:?} is not an http:// or https:// endpoint"
        ));
    }
    deliver_backlog(&plan);
    Ok(())
}

/// Delivers what a buffer holds, with no record of this process's own: `charm-tracing send`
/// for a buffer copied off a unit. Every outcome is one log line, as for a hook.
pub(crate) fn deliver_backlog(plan: &DeliveryPlan) {
    if let Some(buffer) = &plan.buffer {
        deliver_buffered(plan, buffer, None, &Cell::new(Whereabouts::Memory));
    }
}

fn deliver_buffered(
    plan: &DeliveryPlan,
    buffer: &BufferFile,
    record: Option<Vec<u8>>,
    whereabouts: &Cell<Whereabouts>,
) {
    let end = Instant::now() + plan.timeout;
    let locked = match buffer.lock(lock_wait(plan.timeout)) {
        Ok(locked) => locked,
        Err(error) => {
            let why = format!(
                "cannot use the buffer {} ({error})",
                buffer.path().display()
            );
            match record {
                // The wait may have used the deadline: the direct attempt gets one of its own.
                Some(record) => return deliver_unbuffered(plan, record, Some(why), plan.timeout),
                None => {
                    log::error!("charm-tracing: {why}; nothing is sent");
                    return;
                }
            }
        }
    };
    // Write-ahead: the record is on disk before any network I/O.
    let (in_buffer, own) = match record.map(|record| (locked.append(&record), record)) {
        None => (locked.count(), None),
        Some((Ok(count), record)) => {
            whereabouts.set(Whereabouts::Buffered);
            drop(record);
            (count, None)
        }
        Some((Err(error), record)) => {
            let why = format!(
                "could not buffer this hook's trace in {} ({error})",
                buffer.path().display()
            );
            (locked.count(), Some((Bytes::from(record), why)))
        }
    };
    let own_why = own.as_ref().map(|(_, why)| why.as_str());
    let (target, tls) = match plan.connection() {
        Ok(Some(connection)) => connection,
        Ok(None) => {
            if let Some(why) = own_why {
                log::error!(
                    "charm-tracing: {why}; there is no tracing endpoint: it is dropped; \
                     {in_buffer} trace(s) kept in the buffer"
                );
            }
            return;
        }
        Err(problem) => {
            let own = own_why.map_or_else(String::new, |why| format!("; {why}: it is dropped"));
            log::error!("charm-tracing: {problem}; {in_buffer} trace(s) kept in the buffer{own}");
            return;
        }
    };
    let budget = end.saturating_duration_since(Instant::now());
    if budget.is_zero() {
        let own = own_why.map_or_else(String::new, |why| format!("; {why}: it is dropped"));
        log::info!(
            "charm-tracing: waiting for the buffer lock used the export deadline; nothing sent \
             to {}: 0 delivered, {} dropped, {in_buffer} trace(s) kept in the buffer{own}",
            target.url(),
            usize::from(own_why.is_some()),
        );
        return;
    }
    // A backend that ran into the deadline recently is left alone until its backoff ends,
    // unless this hook's own trace is not in the buffer (then it must try now).
    let outage = locked
        .read_sidecar(crate::export::outage::SUFFIX)
        .and_then(|text| crate::export::outage::Outage::parse(&text));
    let now_ms = crate::export::outage::now_unix_ms();
    if own.is_none()
        && let Some(outage) = outage.as_ref().filter(|o| o.holds(target.url(), now_ms))
    {
        log::info!(
            "charm-tracing: {} did not answer within the deadline recently ({}); not trying \
             again for {} s: 0 delivered, 0 dropped, {in_buffer} trace(s) kept in the buffer",
            target.url(),
            outage.error,
            (outage.until_unix_ms - now_ms).div_ceil(1000)
        );
        return;
    }
    let loaded_backlog = Cell::new(None);
    let load = || {
        let mut records: Vec<Bytes> = match locked.read_all() {
            Ok(records) => records,
            Err(error) => {
                log::error!(
                    "charm-tracing: cannot read the buffer {} ({error}); its traces are not sent",
                    buffer.path().display()
                );
                Vec::new()
            }
        };
        loaded_backlog.set(Some(records.len()));
        // This hook's record, if it is not in the buffer, goes last: oldest first.
        records.extend(own.as_ref().map(|(record, _)| record.clone()));
        records
    };
    // The hook's one deadline, counted from the start of its delivery (the lock wait in it).
    let (report, records) = transport::send_all(target, tls, load, plan.timeout, end);
    let backlog = loaded_backlog.get().unwrap_or(in_buffer);
    let tally = Tally::of(&report, backlog, own.is_some());
    log_report(target, &report, &tally, own_why);
    record_outage(&locked, target, &report, outage.as_ref());
    if tally.backlog_done == 0 {
        return;
    }
    if let Err(error) = locked.rewrite(&records[tally.backlog_done..backlog]) {
        log::error!(
            "charm-tracing: could not update the buffer {} ({error}); the {} trace(s) just \
             delivered or dropped may be sent again",
            buffer.path().display(),
            tally.backlog_done
        );
    }
}

/// What became of the records of one delivery run.
#[derive(Debug, PartialEq, Eq)]
struct Tally {
    delivered: usize,
    dropped: usize,
    kept: usize,
    /// Buffered records that were delivered or dropped (the first ones).
    backlog_done: usize,
    /// What became of this hook's record when it was not buffered.
    own: Option<Option<Fate>>,
}

impl Tally {
    fn of(report: &Report, backlog: usize, own: bool) -> Tally {
        let backlog_done = report.fates.len().min(backlog);
        let own = own.then(|| report.fates.get(backlog).copied());
        let delivered = report
            .fates
            .iter()
            .filter(|f| **f == Fate::Delivered)
            .count();
        let dropped =
            report.fates.len() - delivered + usize::from(own.is_some_and(|fate| fate.is_none()));
        Tally {
            delivered,
            dropped,
            kept: backlog - backlog_done,
            backlog_done,
            own,
        }
    }
}

/// After an attempt: a timeout starts (or lengthens) an outage; an attempt that reached the
/// backend ends it; a quick failure (refused, a 5xx, TLS) leaves it as it was.
fn record_outage(
    locked: &crate::export::buffer::LockedBuffer<'_>,
    target: &Target,
    report: &Report,
    previous: Option<&crate::export::outage::Outage>,
) {
    use crate::export::outage::{Outage, SUFFIX};
    match &report.stop {
        Some(stop @ Stop::Timeout(_)) => {
            let outage = Outage::after_timeout(
                previous,
                target.url(),
                stop.to_string(),
                crate::export::outage::now_unix_ms(),
            );
            if let Err(error) = locked.write_sidecar(SUFFIX, &outage.render()) {
                log::debug!("charm-tracing: could not record the outage ({error})");
            }
        }
        None | Some(Stop::Unavailable(_) | Stop::Refused(_)) if previous.is_some() => {
            locked.remove_sidecar(SUFFIX);
        }
        _ => {}
    }
}

fn log_report(target: &Target, report: &Report, tally: &Tally, own_why: Option<&str>) {
    for fate in &report.fates {
        if let Fate::Rejected(status) = fate {
            log::error!(
                "charm-tracing: {} rejected a trace with HTTP {status}; it can never be \
                 accepted and is dropped",
                target.url()
            );
        }
    }
    let Tally {
        delivered,
        dropped,
        kept,
        ..
    } = tally;
    let counts = format!("{delivered} delivered, {dropped} dropped, {kept} kept in the buffer");
    let url = target.url();
    let stop = report
        .stop
        .as_ref()
        .map_or_else(String::new, |stop| format!(" ({stop})"));
    if let (Some(why), Some(fate)) = (own_why, tally.own) {
        let fate = match fate {
            Some(Fate::Delivered) => "it was sent after the buffered ones and delivered",
            Some(Fate::Rejected(_)) => "it was sent after the buffered ones and rejected",
            None => "it could not be sent and is dropped",
        };
        log::error!("charm-tracing: {why}; {fate}; {url}{stop}: {counts}");
        return;
    }
    match &report.stop {
        None => log::debug!("charm-tracing: {url}: {counts}"),
        Some(Stop::Refused(_)) => {
            log::error!("charm-tracing: {url}{stop}: check the tracing endpoint; {counts}")
        }
        Some(_) => log::info!("charm-tracing: {url} unavailable{stop}; {counts}"),
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
