//! OTLP/HTTP POSTs of buffered records, oldest first, over one connection, all under one
//! deadline that covers name resolution, connect, TLS and every response. The sockets are in
//! [`wire`](crate::export::wire).

use crate::export::wire::{Deadline, Driver, Failure, Wire};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::Uri;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST};
use rustls::ClientConfig;
use std::fmt;
use std::pin::Pin;
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

/// Whether the network work can run on the calling thread: not inside a tokio runtime (its
/// worker is not ours to do socket work on: SPEC §8), not at exit (thread-locals may be
/// gone), not in a panic hook.
fn runs_here() -> bool {
    !EXITING.load(Ordering::SeqCst)
        && !std::thread::panicking()
        && tokio::runtime::Handle::try_current().is_err()
}

/// Connects, then POSTs the records `load` gives, in order, until one must be kept or `end`
/// passes (`deadline` is the hook's deadline, for messages). `load` runs only once a
/// connection is up, so an unreachable backend never costs a read of the buffer.
///
/// The work runs right here, on a non-blocking socket driven in place (no async runtime).
/// Inside a tokio runtime, at process exit or in a panic hook it runs on a thread of its own,
/// and the calling thread never waits longer than the deadline (plus a few ms): an export
/// thread stuck past it is left behind rather than waited for.
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
    take_late_fates(&mut report, &from_exporter);
    (report, records)
}

/// After the hook's thread stopped waiting: fates already sent count (a record the backend
/// took is not kept to be sent again), and so does the run's end if it came with them.
fn take_late_fates(report: &mut Report, from_exporter: &mpsc::Receiver<Progress>) {
    if !matches!(report.stop, Some(Stop::Timeout(_))) {
        return;
    }
    while let Ok(progress) = from_exporter.try_recv() {
        match progress {
            Progress::Fate(fate) => report.fates.push(fate),
            Progress::Done(stop) => {
                report.stop = stop;
                return;
            }
            Progress::Connected => {}
        }
    }
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

/// One run of the network work on this thread, the whole run under the deadline: connect,
/// get the records (`connected`), send them in order.
fn run_export(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    end: Instant,
    deadline: Duration,
    connected: impl FnOnce() -> Option<Vec<Bytes>>,
    fate: impl Fn(Fate),
) -> Option<Stop> {
    let deadline = Deadline {
        end,
        length: deadline,
    };
    send_in_order(target, tls, deadline, connected, fate).err()
}

fn send_in_order(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    deadline: Deadline,
    connected: impl FnOnce() -> Option<Vec<Bytes>>,
    fate: impl Fn(Fate),
) -> Result<(), Stop> {
    let mut link = Link::open(target, tls.clone(), deadline)?;
    let records = connected().ok_or(Stop::Timeout(deadline.length))?;
    for record in &records {
        if !link.ready() {
            link = Link::open(target, tls.clone(), deadline)?;
        }
        let status = match link.post(target, record.clone())? {
            Posted::Answered(status) => status,
            // The backend closed the connection before it took the request (an idle
            // connection it had just closed): one new connection, one more try.
            Posted::Unsent => {
                link = Link::open(target, tls.clone(), deadline)?;
                match link.post(target, record.clone())? {
                    Posted::Answered(status) => status,
                    Posted::Unsent => {
                        return Err(Stop::Setup(
                            "the backend closed two connections before taking the trace".to_owned(),
                        ));
                    }
                }
            }
        };
        match status {
            200..=299 => fate(Fate::Delivered),
            status @ (400 | 413) => fate(Fate::Rejected(status)),
            status @ (408 | 429 | 500..=599) => return Err(Stop::Unavailable(status)),
            status => return Err(Stop::Refused(status)),
        }
    }
    Ok(())
}

impl Stop {
    fn from_failure(failure: Failure, deadline: Deadline) -> Stop {
        match failure {
            Failure::Connect(e) => Stop::Connect(e),
            Failure::Tls(e) => Stop::Tls(e),
            Failure::Http(e) => Stop::Http(e),
            Failure::Timeout => Stop::Timeout(deadline.length),
            Failure::Setup(e) => Stop::Setup(e),
        }
    }
}

type Connection = hyper::client::conn::http1::Connection<Wire, Full<Bytes>>;

/// What became of one POST.
enum Posted {
    /// The backend answered with this status.
    Answered(u16),
    /// The connection closed before any of the request was sent: it may be sent again.
    Unsent,
}

/// One HTTP/1.1 connection: hyper's request side, and its connection, run by the driver.
struct Link {
    sender: Sender,
    /// `None` once it has ended.
    connection: Option<Pin<Box<Connection>>>,
    driver: Driver,
    deadline: Deadline,
}

impl Link {
    fn open(
        target: &Target,
        tls: Option<Arc<ClientConfig>>,
        deadline: Deadline,
    ) -> Result<Link, Stop> {
        let tls = match (target.secure, tls) {
            (false, _) => None,
            (true, Some(config)) => Some(config),
            (true, None) => {
                return Err(Stop::Setup("https without a TLS configuration".to_owned()));
            }
        };
        let wire = Wire::connect(target.host(), target.port(), tls, deadline)
            .map_err(|failure| Stop::from_failure(failure, deadline))?;
        let driver = wire.driver();
        // An HTTP/1.1 handshake does no I/O: it sets up the two halves.
        let (sender, connection) = driver
            .poll_once(hyper::client::conn::http1::handshake(wire))
            .ok_or_else(|| Stop::Setup("the HTTP handshake did not complete".to_owned()))?
            .map_err(Stop::Http)?;
        Ok(Link {
            sender,
            connection: Some(Box::pin(connection)),
            driver,
            deadline,
        })
    }

    /// Whether the connection can take another request soon (the backend may have closed
    /// it, or still be taking the last body after answering early); if not, it is dropped.
    fn ready(&mut self) -> bool {
        let until = Instant::now() + RESPONSE_BODY_WAIT;
        let ready = matches!(
            self.driver
                .drive_until(&mut self.connection, self.sender.ready(), until),
            Ok(Ok(()))
        );
        if !ready {
            self.connection = None;
        }
        ready
    }

    /// POSTs one record; its status. The response's body is read (up to a bound) and
    /// dropped, so that the connection can be used again.
    fn post(&mut self, target: &Target, body: Bytes) -> Result<Posted, Stop> {
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
        let deadline = self.deadline;
        let response = match self
            .driver
            .drive(&mut self.connection, self.sender.try_send_request(request))
        {
            Ok(Ok(response)) => response,
            Ok(Err(unsent)) if unsent.message().is_some() => return Ok(Posted::Unsent),
            Ok(Err(e)) => {
                return Err(Stop::from_failure(
                    self.driver.failure(e.into_error()),
                    deadline,
                ));
            }
            Err(failure) => return Err(Stop::from_failure(failure, deadline)),
        };
        let status = response.status().as_u16();
        if response
            .headers()
            .get(CONNECTION)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"))
        {
            // The backend closes it (perhaps while the body is still being sent, after an
            // early answer): nothing more to read or write on it.
            self.connection = None;
            return Ok(Posted::Answered(status));
        }
        // The body, so that the connection can take the next request; one that is not all
        // there soon is not waited for: the connection is dropped and the next record gets
        // a new one.
        let body = Limited::new(response.into_body(), RESPONSE_BODY_LIMIT).collect();
        let until = Instant::now() + RESPONSE_BODY_WAIT;
        if !matches!(
            self.driver.drive_until(&mut self.connection, body, until),
            Ok(Ok(_))
        ) {
            self.connection = None;
        }
        Ok(Posted::Answered(status))
    }
}

/// The most of a response's body that is read (an OTLP answer is a few bytes).
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

/// How long the rest of a response's body is waited for, once its status is in.
const RESPONSE_BODY_WAIT: Duration = Duration::from_millis(200);

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
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    /// A plain HTTP/1.1 server on 127.0.0.1, each connection on a thread: counts the
    /// connections, keeps the bodies, and answers each request with the pieces of `answer`,
    /// 20 ms apart.
    struct Server {
        port: u16,
        connections: Arc<AtomicUsize>,
        bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Server {
        fn start(answer: &'static [&'static [u8]]) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let connections = Arc::new(AtomicUsize::new(0));
            let bodies = Arc::new(Mutex::new(Vec::new()));
            let (counted, kept) = (connections.clone(), bodies.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let kept = kept.clone();
                    std::thread::spawn(move || serve(stream, answer, &kept));
                }
            });
            Server {
                port,
                connections,
                bodies,
            }
        }

        fn target(&self, host: &str) -> Target {
            Target::parse(&format!("http://{host}:{}/v1/traces", self.port)).unwrap()
        }
    }

    fn serve(stream: TcpStream, answer: &[&[u8]], bodies: &Mutex<Vec<Vec<u8>>>) {
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        while let Some(length) = read_head(&mut reader) {
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            bodies.lock().unwrap().push(body);
            for (i, piece) in answer.iter().enumerate() {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
                writer.write_all(piece).unwrap();
            }
        }
    }

    fn records(n: usize) -> Vec<Bytes> {
        (0..n)
            .map(|i| Bytes::from(format!("record {i}").into_bytes()))
            .collect()
    }

    fn send(target: &Target, records: Vec<Bytes>, deadline: Duration) -> (Report, Duration) {
        let started = Instant::now();
        let (report, _) = send_all(target, None, || records, deadline, started + deadline);
        (report, started.elapsed())
    }

    #[test]
    fn records_go_over_one_connection_their_answers_read_to_the_end() {
        // The body comes after the head: a connection whose answer was not read to its end
        // cannot take the next request.
        let server = Server::start(&[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"hello"]);
        let sent = records(3);
        let (report, _) = send(
            &server.target("127.0.0.1"),
            sent.clone(),
            Duration::from_secs(5),
        );
        assert!(report.stop.is_none(), "{:?}", report.stop);
        assert_eq!(report.fates, vec![Fate::Delivered; 3]);
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
        let bodies = server.bodies.lock().unwrap().clone();
        assert_eq!(bodies, sent.iter().map(|b| b.to_vec()).collect::<Vec<_>>());
    }

    #[test]
    fn an_answer_whose_body_never_ends_costs_a_new_connection_not_the_deadline() {
        let server =
            Server::start(&[b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this much"]);
        let (report, took) = send(
            &server.target("127.0.0.1"),
            records(2),
            Duration::from_secs(5),
        );
        assert!(report.stop.is_none(), "{:?}", report.stop);
        assert_eq!(report.fates, vec![Fate::Delivered; 2]);
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }

    #[test]
    fn a_host_name_is_resolved_and_each_address_tried() {
        // `localhost` may resolve to ::1 first, where nothing listens: 127.0.0.1 is next.
        let server = Server::start(&[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
        let (report, _) = send(
            &server.target("localhost"),
            records(1),
            Duration::from_secs(5),
        );
        assert!(report.stop.is_none(), "{:?}", report.stop);
        assert_eq!(report.fates, vec![Fate::Delivered]);
        assert_eq!(server.bodies.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_backend_that_never_reads_holds_a_large_write_no_longer_than_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts, then neither reads nor answers.
        let held = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
        let target = Target::parse(&format!("http://127.0.0.1:{port}/v1/traces")).unwrap();
        let big = vec![Bytes::from(vec![7u8; 64 << 20])];
        let (report, took) = send(&target, big, Duration::from_millis(500));
        assert!(
            matches!(report.stop, Some(Stop::Timeout(_))),
            "{:?}",
            report.stop
        );
        assert!(report.fates.is_empty());
        assert!(took < Duration::from_millis(900), "took {took:?}");
        drop(held.join());
    }

    /// Reads a request's head; its Content-Length.
    fn read_head(reader: &mut BufReader<TcpStream>) -> Option<usize> {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line == "\r\n" {
                return Some(length);
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok()?;
            }
        }
    }

    #[test]
    fn an_early_413_is_read_while_the_body_is_still_being_sent() {
        // Answers a large request at once, then reads nothing more for 3 s (past the 2 s
        // deadline): only a client that reads while it writes sees the answer.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    while let Some(length) = read_head(&mut reader) {
                        if length > 1 << 20 {
                            let answer = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                            writer.write_all(answer).unwrap();
                            std::thread::sleep(Duration::from_secs(3));
                            return;
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        writer
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                            .unwrap();
                    }
                });
            }
        });
        let target = Target::parse(&format!("http://127.0.0.1:{port}/v1/traces")).unwrap();
        let sent = vec![
            Bytes::from(vec![1u8; 32 << 20]),
            Bytes::from_static(b"small"),
        ];
        let (report, took) = send(&target, sent, Duration::from_secs(2));
        assert!(report.stop.is_none(), "{:?}", report.stop);
        assert_eq!(report.fates, vec![Fate::Rejected(413), Fate::Delivered]);
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }

    #[test]
    fn a_connection_the_backend_closed_before_the_request_is_replaced() {
        // Closes every connection right after its answer, without saying so.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                if let Some(length) = read_head(&mut reader) {
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    writer
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                }
                let _ = writer.shutdown(std::net::Shutdown::Both);
            }
        });
        let target = Target::parse(&format!("http://127.0.0.1:{port}/v1/traces")).unwrap();
        let (report, _) = send(&target, records(3), Duration::from_secs(5));
        assert!(report.stop.is_none(), "{:?}", report.stop);
        assert_eq!(report.fates, vec![Fate::Delivered; 3]);
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_tls_handshake_fed_a_byte_at_a_time_ends_at_the_deadline() {
        // The start of a TLS record whose 16 KiB never come: a byte every 100 ms, each well
        // within any one read's timeout.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            for byte in [0x16u8, 0x03, 0x03, 0x40, 0x00]
                .into_iter()
                .chain(std::iter::repeat(0))
            {
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let target = Target::parse(&format!("https://127.0.0.1:{port}/v1/traces")).unwrap();
        let deadline = Duration::from_millis(700);
        let started = Instant::now();
        let (report, _) = send_all(
            &target,
            Some(Arc::new(config)),
            || records(1),
            deadline,
            started + deadline,
        );
        let took = started.elapsed();
        assert!(
            matches!(report.stop, Some(Stop::Timeout(_))),
            "{:?}",
            report.stop
        );
        assert!(took < Duration::from_millis(1000), "took {took:?}");
    }

    #[test]
    fn a_status_is_read_from_an_answer_in_several_pieces() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.ends_with("\r\n\r\n") {}
            for piece in [
                &b"HTTP/1.1 50"[..],
                b"3 Busy\r\nContent-",
                b"Length: 0\r\n\r\n",
            ] {
                writer.write_all(piece).unwrap();
                writer.flush().unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let target = Target::parse(&format!("http://127.0.0.1:{port}/v1/traces")).unwrap();
        let (report, _) = send(&target, records(2), Duration::from_secs(5));
        assert!(
            matches!(report.stop, Some(Stop::Unavailable(503))),
            "{:?}",
            report.stop
        );
        assert!(report.fates.is_empty());
    }

    #[test]
    fn inside_a_tokio_runtime_the_network_work_gets_a_thread_of_its_own() {
        assert!(runs_here(), "a plain thread does the work itself");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(
                !runs_here(),
                "a runtime's thread hands it to a thread of its own"
            );
        });
    }

    #[test]
    fn fates_that_came_after_the_wait_ended_still_count() {
        let (progress, from_exporter) = mpsc::channel();
        progress.send(Progress::Fate(Fate::Delivered)).unwrap();
        progress.send(Progress::Fate(Fate::Rejected(400))).unwrap();
        let mut report = Report {
            fates: vec![Fate::Delivered],
            stop: Some(Stop::Timeout(Duration::from_secs(1))),
        };
        take_late_fates(&mut report, &from_exporter);
        assert_eq!(
            report.fates,
            [Fate::Delivered, Fate::Delivered, Fate::Rejected(400)]
        );
        assert!(matches!(report.stop, Some(Stop::Timeout(_))));
        progress.send(Progress::Fate(Fate::Delivered)).unwrap();
        progress.send(Progress::Done(None)).unwrap();
        take_late_fates(&mut report, &from_exporter);
        assert_eq!(report.fates.len(), 4);
        assert!(
            report.stop.is_none(),
            "the run's own end replaces the timeout"
        );
    }

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
