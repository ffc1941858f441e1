//! One OTLP/HTTP POST under one deadline that covers DNS, connect, TLS and the response.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::Uri;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where records are POSTed.
#[derive(Debug)]
pub(crate) struct Target {
    uri: Uri,
    url: String,
    secure: bool,
    #[allow(dead_code)] // read by the TLS transport
    cert: Option<PathBuf>,
}

impl Target {
    /// `url` is `{endpoint}/v1/traces` with an http or https scheme.
    pub(crate) fn parse(url: &str, cert: Option<PathBuf>) -> Option<Self> {
        let uri: Uri = url.parse().ok()?;
        let secure = uri.scheme_str()?.eq_ignore_ascii_case("https");
        uri.host()?;
        Some(Target {
            uri,
            url: url.to_owned(),
            secure,
            cert,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn port(&self) -> u16 {
        self.uri
            .port_u16()
            .unwrap_or(if self.secure { 443 } else { 80 })
    }
}

/// Why a POST did not get an answer.
#[derive(Debug)]
pub(crate) enum PostError {
    Runtime(std::io::Error),
    Connect(std::io::Error),
    Http(hyper::Error),
    Request(hyper::http::Error),
    TlsUnavailable,
    Timeout(Duration),
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Runtime(e) => write!(f, "could not start the network runtime: {e}"),
            PostError::Connect(e) => write!(f, "could not connect: {e}"),
            PostError::Http(e) => write!(f, "HTTP error: {e}"),
            PostError::Request(e) => write!(f, "could not build the request: {e}"),
            PostError::TlsUnavailable => f.write_str("https delivery is not supported yet"),
            PostError::Timeout(d) => write!(f, "no answer within {} ms", d.as_millis()),
        }
    }
}

/// POSTs `body` to `target` as `application/x-protobuf`; returns the HTTP status. All of it,
/// name resolution included, ends within `deadline`.
pub(crate) fn post(target: &Target, body: Vec<u8>, deadline: Duration) -> Result<u16, PostError> {
    if target.secure {
        return Err(PostError::TlsUnavailable);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(PostError::Runtime)?;
    let outcome =
        runtime.block_on(async { tokio::time::timeout(deadline, send(target, body)).await });
    // A resolver thread stuck in getaddrinfo must not hold the hook: do not wait for it.
    runtime.shutdown_background();
    outcome.unwrap_or(Err(PostError::Timeout(deadline)))
}

async fn send(target: &Target, body: Vec<u8>) -> Result<u16, PostError> {
    let host = target.uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::net::TcpStream::connect((host, target.port()))
        .await
        .map_err(PostError::Connect)?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(PostError::Http)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let authority = target
        .uri
        .authority()
        .map_or_else(String::new, |a| a.to_string());
    let path = target
        .uri
        .path_and_query()
        .map_or("/v1/traces", |p| p.as_str());
    let request = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(body)))
        .map_err(PostError::Request)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(PostError::Http)?;
    Ok(response.status().as_u16())
}
