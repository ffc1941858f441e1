//! `charm-tracing receive`: an OTLP/HTTP trace receiver (protobuf and JSON, gzip or not)
//! that prints each trace as it arrives, answering as a real OTLP receiver does.

use crate::view;
use bytes::Bytes;
use charm_tracing_runtime::testing::Trace;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use regex::Regex;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The largest request body accepted (after gzip too).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// What `receive` was asked to do.
#[derive(Debug)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where to save each accepted body.
    pub out: Option<PathBuf>,
    /// Exit 0 at the first span whose name matches.
    pub wait_for: Option<Regex>,
    /// Give up (exit 1) after this long.
    pub timeout: Option<Duration>,
}

struct State {
    options: Options,
    saved: AtomicU64,
    matched: tokio::sync::Notify,
}

/// How the receiver ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A span matched `--await`.
    Matched,
    /// `--timeout` passed first.
    TimedOut,
}

/// Runs the receiver until `--await` matches or `--timeout` passes (or forever).
pub fn run(options: Options) -> Result<Ended, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> Result<Ended, String> {
    if let Some(dir) = &options.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    say!("charm-tracing: receiving OTLP/HTTP traces on http://{address}/v1/traces");
    let timeout = options.timeout;
    let state = Arc::new(State {
        options,
        saved: AtomicU64::new(0),
        matched: tokio::sync::Notify::new(),
    });
    let deadline = async move {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return Ok(Ended::TimedOut),
            () = state.matched.notified() => {
                // Let the answer to the matching request go out first.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(Ended::Matched);
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

fn answer(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn refuse(status: StatusCode, why: &str) -> Response<Full<Bytes>> {
    answer(status, "text/plain", format!("{why}\n").into_bytes())
}

/// The two encodings OTLP/HTTP has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/v1/traces" {
        return refuse(StatusCode::NOT_FOUND, "only /v1/traces is served");
    }
    if request.method() != Method::POST {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
    };
    let encoding = match header(CONTENT_TYPE).as_deref() {
        Some("application/x-protobuf") => Encoding::Protobuf,
        Some("application/json") => Encoding::Json,
        _ => {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/x-protobuf or application/json",
            );
        }
    };
    let gzip = match header(CONTENT_ENCODING).as_deref() {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(_) => {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding must be gzip or none",
            );
        }
    };
    let body = match Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
    };
    let body = if gzip {
        let mut plain = Vec::new();
        let read = flate2::read::GzDecoder::new(body.as_ref())
            .take(BODY_LIMIT as u64 + 1)
            .read_to_end(&mut plain);
        match read {
            Ok(n) if n <= BODY_LIMIT => Bytes::from(plain),
            Ok(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
            Err(_) => return refuse(StatusCode::BAD_REQUEST, "the body is not valid gzip"),
        }
    } else {
        body
    };
    let decoded = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body.as_ref()).ok(),
        Encoding::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&body).ok(),
    };
    let Some(request) = decoded else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body is not an OTLP ExportTraceServiceRequest",
        );
    };
    accept(state, &request, &body, encoding);
    match encoding {
        Encoding::Protobuf => answer(
            StatusCode::OK,
            "application/x-protobuf",
            ExportTraceServiceResponse::default().encode_to_vec(),
        ),
        Encoding::Json => answer(StatusCode::OK, "application/json", b"{}".to_vec()),
    }
}

/// Prints, saves and watches one accepted request.
fn accept(state: &State, request: &ExportTraceServiceRequest, body: &[u8], encoding: Encoding) {
    let traces = Trace::all_from_request(request);
    let mut stdout = std::io::stdout().lock();
    for trace in &traces {
        let _ = writeln!(stdout, "{}", view::text(trace));
    }
    let _ = stdout.flush();
    if let Some(dir) = &state.options.out {
        let n = state.saved.fetch_add(1, Ordering::Relaxed) + 1;
        let extension = match encoding {
            Encoding::Protobuf => "pb",
            Encoding::Json => "json",
        };
        let path = dir.join(format!("{n:05}.{extension}"));
        if let Err(error) = std::fs::write(&path, body) {
            say!("charm-tracing: cannot save {}: {error}", path.display());
        }
    }
    if let Some(pattern) = &state.options.wait_for
        && traces
            .iter()
            .flat_map(|t| &t.spans)
            .any(|span| pattern.is_match(&span.name))
    {
        state.matched.notify_one();
    }
}
