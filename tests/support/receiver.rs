//! A real OTLP/HTTP receiver on 127.0.0.1 for tests and the demo: it records every request
//! and answers with the status it is told to, late, or never; over plain HTTP or TLS.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The `Host` header.
    pub host: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The status it was answered with; 0 if it never was (black hole).
    pub status: u16,
}

impl ReceivedRequest {
    /// The body, decoded with the official OTLP proto types.
    pub fn decode(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(self.body.as_slice()).expect("OTLP protobuf")
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<ReceivedRequest>>,
    arrived: Condvar,
    status: AtomicU16,
    /// Statuses for the next requests, before `status` applies again.
    script: Mutex<VecDeque<u16>>,
    black_hole: AtomicBool,
    delay_ms: AtomicU64,
    connections: AtomicU64,
}

/// The receiver; it stops with the process.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Receiver {
    /// Starts listening on an ephemeral loopback port, answering 200.
    pub fn start() -> Receiver {
        Receiver::start_with(None)
    }

    /// Like `start`, over TLS with this server configuration.
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> Receiver {
        Receiver::start_with(Some(config))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            status: AtomicU16::new(200),
            ..State::default()
        });
        let served = Arc::clone(&state);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("receiver runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    served.connections.fetch_add(1, Ordering::SeqCst);
                    let state = Arc::clone(&served);
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |request| handle(Arc::clone(&state), request));
                        match tls {
                            None => {
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                            Some(config) => {
                                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    let _ = http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), service)
                                        .await;
                                }
                            }
                        }
                    });
                }
            });
        });
        Receiver { addr, state }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://localhost:{port}` (the name the test certificate is for).
    pub fn https_endpoint(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Answers the next requests with these statuses, then with `set_status`'s again.
    pub fn script(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    /// Takes requests and never answers them.
    pub fn set_black_hole(&self, on: bool) {
        self.state.black_hole.store(on, Ordering::SeqCst);
    }

    /// Answers only after `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many connections were accepted (TCP level).
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// The bodies of the requests answered 2xx, decoded.
    pub fn accepted_traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .map(ReceivedRequest::decode)
            .collect()
    }

    /// The status later requests are answered with.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Every request body, decoded with the official OTLP proto types.
    pub fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.requests()
            .iter()
            .map(ReceivedRequest::decode)
            .collect()
    }

    /// Waits until `count` requests arrived, at most `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut requests = self.state.requests.lock().unwrap();
        while requests.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            requests = self.state.arrived.wait_timeout(requests, left).unwrap().0;
        }
        true
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let host = header(hyper::header::HOST);
    let authorization = header(hyper::header::AUTHORIZATION);
    let body = request.into_body().collect().await?.to_bytes().to_vec();
    let black_hole = state.black_hole.load(Ordering::SeqCst);
    // Strict, as Go servers (Tempo, the Collector) are: userinfo in Host is a bad request.
    let malformed_host = host.as_deref().is_some_and(|h| h.contains('@'));
    let status = if black_hole {
        0
    } else if malformed_host {
        400
    } else {
        let scripted = state.script.lock().unwrap().pop_front();
        scripted.unwrap_or_else(|| state.status.load(Ordering::SeqCst))
    };
    state.requests.lock().unwrap().push(ReceivedRequest {
        method,
        path,
        content_type,
        body,
        host,
        authorization,
        status,
    });
    state.arrived.notify_all();
    if black_hole {
        std::future::pending::<()>().await;
    }
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    Ok(response)
}
