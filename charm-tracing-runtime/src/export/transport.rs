//! OTLP/HTTP POSTs of buffered records, oldest first, over one connection, all under one
//! deadline that covers name resolution, connect, TLS and every response.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::Uri;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Where records are POSTed.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    uri: Uri,
    /// The URL for log lines: any userinfo replaced by `***`.
    url: String,
    /// The `Host` header: the authority without userinfo.
    host_header: String,
    /// `Basic …` from the endpoint's userinfo, if it has one (as Python's `requests` does).
    authorization: Option<String>,
    secure: bool,
}

impl Target {
    /// `url` is `{endpoint}/v1/traces` with an http or https scheme. Userinfo
    /// (`http://user:pass@host`) becomes HTTP Basic auth: it never goes into `Host`.
    pub(crate) fn parse(url: &str) -> Option<Self> {
        let uri: Uri = url.parse().ok()?;
        let secure = uri.scheme_str()?.eq_ignore_ascii_case("https");
        uri.host()?;
        let authority = uri.authority()?.as_str();
        let (userinfo, host_header) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host.to_owned()),
            None => (None, authority.to_owned()),
        };
        let authorization = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let credentials = [
                crate::export::encode::percent_decode_bytes(user),
                b":".to_vec(),
                crate::export::encode::percent_decode_bytes(password),
            ]
            .concat();
            format!("Basic {}", base64(&credentials))
        });
        let url = match userinfo {
            Some(userinfo) => url.replacen(&format!("{userinfo}@"), "***@", 1),
            None => url.to_owned(),
        };
        Some(Target {
            uri,
            url,
            host_header,
            authorization,
            secure,
        })
    }

    /// The URL, without credentials: for log lines.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn is_secure(&self) -> bool {
        self.secure
    }

    fn host(&self) -> &str {
        let host = self.uri.host().unwrap_or_default();
        host.trim_start_matches('[').trim_end_matches(']')
    }

    fn port(&self) -> u16 {
        self.uri
            .port_u16()
            .unwrap_or(if self.secure { 443 } else { 80 })
    }
}

/// What became of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Accepted (2xx): remove it.
    Delivered,
    /// Refused for good (400, 413): drop it.
    Rejected(u16),
}

/// Why delivery stopped before the last record.
#[derive(Debug)]
pub(crate) enum Stop {
    /// 408, 429, 5xx: the backend is busy or down.
    Unavailable(u16),
    /// Another 4xx (or an unexpected status): a misconfiguration.
    Refused(u16),
    Connect(std::io::Error),
    Tls(std::io::Error),
    Http(hyper::Error),
    Timeout(Duration),
    Setup(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Unavailable(status) => write!(f, "the backend answered HTTP {status}"),
            Stop::Refused(status) => write!(f, "the backend refused the trace with HTTP {status}"),
            Stop::Connect(e) => write!(f, "could not connect: {e}"),
            Stop::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            Stop::Http(e) => write!(f, "HTTP error: {e}"),
            Stop::Timeout(d) => write!(f, "no answer within {} ms", d.as_millis()),
            Stop::Setup(e) => write!(f, "{e}"),
        }
    }
}

/// The outcome of one delivery run: the fates of the first records, and why it stopped early.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub fates: Vec<Fate>,
    pub stop: Option<Stop>,
}

type Sender = SendRequest<Full<Bytes>>;

/// What the export thread tells the hook's thread, in order.
enum Progress {
    /// A connection is up: the records to send are wanted now.
    Connected,
    /// What became of the next record.
    Fate(Fate),
    /// The run is over; why it stopped early, if it did.
    Done(Option<Stop>),
}

/// How long the hook's thread waits past the deadline for the export thread's last word
/// (it normally comes at the deadline, from the export thread's own timeout).
pub(crate) const GRACE: Duration = Duration::from_millis(50);

/// Set when the process is exiting (the `atexit` handler delivers): the network work then
/// runs on a thread of its own, never on the exiting one.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Marks the process as exiting.
pub(crate) fn exiting() {
    EXITING.store(true, Ordering::SeqCst);
}

/// Whether the network work can run on the calling thread: not inside a tokio runtime
/// (blocking there would stall it, or panic), not at exit (thread-locals may be gone), not in
/// a panic hook.
fn runs_here() -> bool {
    !EXITING.load(Ordering::SeqCst)
        && !std::thread::panicking()
        && tokio::runtime::Handle::try_current().is_err()
}

/// Connects, then POSTs the records `load` gives, in order, until one must be kept or `end`
/// passes (`deadline` is the hook's deadline, for messages). `load` runs only once a
/// connection is up, so an unreachable backend never costs a read of the buffer.
///
/// From a plain thread (a synchronous charm's `main`), the work runs right here on a small
/// runtime of its own. From inside a tokio runtime, at process exit, or in a panic hook, it
/// runs on a thread of its own with its own runtime, and the calling thread never waits
/// longer than the deadline (plus a few ms): an export thread stuck past it (a resolver in
/// `getaddrinfo`, say) is left behind rather than waited for.
pub(crate) fn send_all(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    load: impl FnOnce() -> Vec<Bytes>,
    deadline: Duration,
    end: Instant,
) -> (Report, Vec<Bytes>) {
    if runs_here() {
        return send_here(target, tls, load, deadline, end);
    }
    let mut records = Vec::new();
    let mut report = Report::default();
    let (progress, from_exporter) = mpsc::channel();
    let (to_exporter, records_in) = mpsc::sync_channel(1);
    let exporter_target = target.clone();
    let spawned = std::thread::Builder::new()
        .name("charm-tracing-export".to_owned())
        .spawn(move || export(exporter_target, tls, end, deadline, progress, records_in));
    if let Err(error) = spawned {
        report.stop = Some(Stop::Setup(format!(
            "cannot start the export thread: {error}"
        )));
        return (report, records);
    }
    let mut load = Some(load);
    report.stop = loop {
        let wait = end.saturating_duration_since(Instant::now()) + GRACE;
        match from_exporter.recv_timeout(wait) {
            Ok(Progress::Connected) => {
                records = load.take().map(|load| load()).unwrap_or_default();
                // `Bytes` clones share the buffer: nothing is copied.
                let _ = to_exporter.send(records.clone());
            }
            Ok(Progress::Fate(fate)) => report.fates.push(fate),
            Ok(Progress::Done(stop)) => break stop,
            Err(RecvTimeoutError::Timeout) => break Some(Stop::Timeout(deadline)),
            Err(RecvTimeoutError::Disconnected) => {
                break Some(Stop::Setup("the export thread ended early".to_owned()));
            }
        }
    };
    (report, records)
}

/// [`send_all`] on the calling thread.
fn send_here(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    load: impl FnOnce() -> Vec<Bytes>,
    deadline: Duration,
    end: Instant,
) -> (Report, Vec<Bytes>) {
    let mut records = Vec::new();
    let fates = std::cell::RefCell::new(Vec::new());
    let stop = run_export(
        target,
        tls,
        end,
        deadline,
        || {
            records = load();
            Some(records.clone())
        },
        |fate| fates.borrow_mut().push(fate),
    );
    let report = Report {
        fates: fates.into_inner(),
        stop,
    };
    (report, records)
}

/// The export thread: the run, its progress streamed to the hook's thread.
fn export(
    target: Target,
    tls: Option<Arc<ClientConfig>>,
    end: Instant,
    deadline: Duration,
    progress: mpsc::Sender<Progress>,
    records_in: mpsc::Receiver<Vec<Bytes>>,
) {
    let connected = || {
        let _ = progress.send(Progress::Connected);
        // The hook's thread answers at once (it reads the buffer); bounded all the same.
        records_in
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .ok()
    };
    let fate = |fate| {
        let _ = progress.send(Progress::Fate(fate));
    };
    let stop = run_export(&target, tls, end, deadline, connected, fate);
    let _ = progress.send(Progress::Done(stop));
}

/// One run of the network work on this thread, on a current-thread runtime of its own, the
/// whole run under the deadline: connect, get the records (`connected`), send them in order.
fn run_export(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    end: Instant,
    deadline: Duration,
    connected: impl FnOnce() -> Option<Vec<Bytes>>,
    fate: impl Fn(Fate),
) -> Option<Stop> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Some(Stop::Setup(format!("no network runtime: {e}"))),
    };
    let remaining = || end.saturating_duration_since(Instant::now());
    let run = runtime.block_on(async {
        let work = async {
            let sender = connect(target, tls.clone()).await?;
            let records = connected().ok_or(Stop::Timeout(deadline))?;
            match send_in_order(target, tls, sender, &records, fate).await {
                Some(stop) => Err(stop),
                None => Ok(()),
            }
        };
        tokio::time::timeout(remaining(), work).await
    });
    // A resolver thread stuck in getaddrinfo must not hold this thread: do not wait for it.
    runtime.shutdown_background();
    match run {
        Ok(Ok(())) => None,
        Ok(Err(stop)) => Some(stop),
        Err(_) => Some(Stop::Timeout(deadline)),
    }
}

async fn send_in_order(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    first: Sender,
    records: &[Bytes],
    fate: impl Fn(Fate),
) -> Option<Stop> {
    let mut sender: Option<Sender> = Some(first);
    for record in records {
        let ready = match &mut sender {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            sender = match connect(target, tls.clone()).await {
                Ok(s) => Some(s),
                Err(stop) => return Some(stop),
            };
        }
        let Some(s) = sender.as_mut() else {
            return Some(Stop::Setup("no connection".to_owned()));
        };
        let status = match post(s, target, record.clone()).await {
            Ok(status) => status,
            Err(stop) => return Some(stop),
        };
        match status {
            200..=299 => fate(Fate::Delivered),
            400 | 413 => fate(Fate::Rejected(status)),
            408 | 429 | 500..=599 => return Some(Stop::Unavailable(status)),
            _ => return Some(Stop::Refused(status)),
        }
    }
    None
}

async fn connect(target: &Target, tls: Option<Arc<ClientConfig>>) -> Result<Sender, Stop> {
    let tcp = tokio::net::TcpStream::connect((target.host(), target.port()))
        .await
        .map_err(Stop::Connect)?;
    let _ = tcp.set_nodelay(true);
    match (target.secure, tls) {
        (false, _) => handshake(TokioIo::new(tcp)).await,
        (true, Some(config)) => {
            let name = ServerName::try_from(target.host().to_owned())
                .map_err(|e| Stop::Setup(format!("bad server name: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(Stop::Tls)?;
            handshake(TokioIo::new(stream)).await
        }
        (true, None) => Err(Stop::Setup("https without a TLS configuration".to_owned())),
    }
}

async fn handshake<IO>(io: TokioIo<IO>) -> Result<Sender, Stop>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(Stop::Http)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn post(sender: &mut Sender, target: &Target, body: Bytes) -> Result<u16, Stop> {
    let path = target
        .uri
        .path_and_query()
        .map_or("/v1/traces", |p| p.as_str());
    let mut request = Request::post(path)
        .header(HOST, target.host_header.as_str())
        .header(CONTENT_TYPE, "application/x-protobuf");
    if let Some(authorization) = &target.authorization {
        request = request.header(AUTHORIZATION, authorization.as_str());
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| Stop::Setup(format!("bad request: {e}")))?;
    let response = sender.send_request(request).await.map_err(Stop::Http)?;
    Ok(response.status().as_u16())
}

/// Standard base64, padded.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:p@ss", "dXNlcjpwQHNz"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn userinfo_becomes_basic_auth_and_never_reaches_host_or_logs() {
        let target = Target::parse("http://user:p%40ss@127.0.0.1:4318/v1/traces").unwrap();
        assert_eq!(target.host_header, "127.0.0.1:4318");
        assert_eq!(target.authorization.as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert_eq!(target.url(), "http://***@127.0.0.1:4318/v1/traces");
        let plain = Target::parse("http://tempo:4318/v1/traces").unwrap();
        assert_eq!(plain.host_header, "tempo:4318");
        assert_eq!(plain.authorization, None);
    }
}
