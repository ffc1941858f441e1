//! One hook's spans as one OTLP `ExportTraceServiceRequest` (protobuf): the record that is
//! delivered and buffered.

use crate::collect::clock::Converter;
use crate::collect::record::{EventRecord, SpanRecord, Stamp, StatusRecord};
use crate::collect::session::SealedTrace;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as proto;
use opentelemetry_proto::transform::common::tonic::Attributes;
use prost::Message;

/// The version of the OpenTelemetry crates this runtime is built on, for
/// `telemetry.sdk.version`.
const OPENTELEMETRY_VERSION: &str = "0.33.1";

/// The resource attributes of every span of the hook: `explicit` (the charm's), over
/// `OTEL_RESOURCE_ATTRIBUTES`, over `telemetry.sdk.*`; a later source's key replaces an
/// earlier one's, as in Python's `Resource.create`.
pub(crate) fn resource_attributes(explicit: Vec<KeyValue>) -> Vec<KeyValue> {
    let env = env_resource_attributes(
        std::env::var("OTEL_RESOURCE_ATTRIBUTES")
            .ok()
            .as_deref()
            .unwrap_or(""),
    );
    merged_resource(env, explicit)
}

/// `telemetry.sdk.*`, then `env`, then `explicit`, each replacing the keys of those before.
fn merged_resource(env: Vec<KeyValue>, explicit: Vec<KeyValue>) -> Vec<KeyValue> {
    let sdk = [
        KeyValue::new("telemetry.sdk.name", "opentelemetry"),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.version", OPENTELEMETRY_VERSION),
    ];
    let mut merged: Vec<KeyValue> = Vec::new();
    for kv in sdk.into_iter().chain(env).chain(explicit) {
        match merged.iter_mut().find(|have| have.key == kv.key) {
            Some(have) => *have = kv,
            None => merged.push(kv),
        }
    }
    merged
}

/// `OTEL_RESOURCE_ATTRIBUTES` parsed as Python's `OTELResourceDetector` does: `key=value`
/// pairs split on `,`, both trimmed, the value percent-decoded; an entry without `=` is
/// skipped.
pub(crate) fn env_resource_attributes(raw: &str) -> Vec<KeyValue> {
    raw.split(',')
        .filter_map(|item| item.split_once('='))
        .map(|(key, value)| KeyValue::new(key.trim().to_owned(), percent_decode(value.trim())))
        .filter(|kv| !kv.key.as_str().is_empty())
        .collect()
}

/// `urllib.parse.unquote`: `%XX` escapes decoded as UTF-8 (invalid bytes replaced), a
/// malformed escape kept as written.
fn percent_decode(text: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(text)).into_owned()
}

/// `%XX` escapes decoded; a malformed escape kept as written.
pub(crate) fn percent_decode_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn unix_nanos(stamp: Stamp, clock: &Converter) -> u64 {
    match stamp.ticks_or_unix() {
        Ok(ticks) => clock.unix_nanos(ticks),
        Err(nanos) => nanos,
    }
}

fn proto_attributes(
    attributes: &[KeyValue],
) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    Attributes::from(attributes.to_vec()).0
}

fn proto_kind(kind: &SpanKind) -> proto::span::SpanKind {
    match kind {
        SpanKind::Client => proto::span::SpanKind::Client,
        SpanKind::Server => proto::span::SpanKind::Server,
        SpanKind::Producer => proto::span::SpanKind::Producer,
        SpanKind::Consumer => proto::span::SpanKind::Consumer,
        SpanKind::Internal => proto::span::SpanKind::Internal,
    }
}

fn proto_event(event: &EventRecord, clock: &Converter) -> proto::span::Event {
    proto::span::Event {
        time_unix_nano: unix_nanos(event.time, clock),
        name: event.name.clone().into_owned(),
        attributes: proto_attributes(&event.attributes),
        ..Default::default()
    }
}

fn proto_status(status: &StatusRecord) -> proto::Status {
    let (code, message) = match status {
        StatusRecord::Unset => (proto::status::StatusCode::Unset, String::new()),
        StatusRecord::Ok => (proto::status::StatusCode::Ok, String::new()),
        StatusRecord::Error(message) => (proto::status::StatusCode::Error, message.clone()),
    };
    proto::Status {
        code: code as i32,
        message,
    }
}

fn proto_span(trace: &SealedTrace<'_>, span: &SpanRecord) -> proto::Span {
    let clock = &trace.clock;
    let parent_span_id = if span.parent_id == SpanId::INVALID {
        Vec::new()
    } else {
        span.parent_id.to_bytes().to_vec()
    };
    let end = if span.end.is_set() {
        span.end
    } else {
        span.start
    };
    let details = span.details.as_deref();
    let start_time_unix_nano = unix_nanos(span.start, clock);
    // Never an end before its start, whatever the clock did; events lie within the span.
    let end_time_unix_nano = unix_nanos(end, clock).max(start_time_unix_nano);
    proto::Span {
        trace_id: trace.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_bytes().to_vec(),
        parent_span_id,
        name: span.name.clone().into_owned(),
        kind: proto_kind(&span.kind) as i32,
        start_time_unix_nano,
        end_time_unix_nano,
        attributes: details.map_or_else(Vec::new, |d| proto_attributes(&d.attributes)),
        events: details.map_or_else(Vec::new, |d| {
            d.events
                .iter()
                .map(|e| {
                    let mut event = proto_event(e, clock);
                    event.time_unix_nano = event
                        .time_unix_nano
                        .clamp(start_time_unix_nano, end_time_unix_nano);
                    event
                })
                .collect()
        }),
        links: details.map_or_else(Vec::new, |d| {
            d.links
                .iter()
                .map(|link| proto::span::Link {
                    trace_id: link.trace_id.to_bytes().to_vec(),
                    span_id: link.span_id.to_bytes().to_vec(),
                    // Bits 8 and 9: whether the linked span is remote is known, and it is (Juju's).
                    flags: u32::from(link.flags) | 0x300,
                    ..Default::default()
                })
                .collect()
        }),
        status: Some(proto_status(
            details.map_or(&StatusRecord::Unset, |d| &d.status),
        )),
        dropped_attributes_count: details.map_or(0, |d| d.dropped_attributes),
        dropped_events_count: details.map_or(0, |d| d.dropped_events),
        ..Default::default()
    }
}

/// The hook's record: its spans, in end order, under one resource and one scope named after
/// the service (the whole message at once: what [`encode_request`] writes span by span).
#[cfg(test)]
pub(crate) fn build_request(
    trace: &SealedTrace<'_>,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use proto::{ResourceSpans, ScopeSpans};
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: proto_attributes(trace.resource),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: trace.service_name.to_owned(),
                    ..Default::default()
                }),
                spans: trace
                    .spans
                    .iter()
                    .map(|span| proto_span(trace, span))
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The hook's record, encoded once, span by span: only one span's protobuf form exists at a
/// time, so encoding takes little more memory than the encoded record itself.
///
/// The spans are written first, after a gap left for the message headers in front of them
/// (their lengths are known only once the spans are written); the headers are then written at
/// the end of the gap and the unused start of the gap is dropped.
pub(crate) fn encode_request(trace: &SealedTrace<'_>) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
    let resource = Resource {
        attributes: proto_attributes(trace.resource),
        ..Default::default()
    };
    let scope = InstrumentationScope {
        name: trace.service_name.to_owned(),
        ..Default::default()
    };
    let field_len = |len: usize| key_len(1) + encoded_len_varint(len as u64) + len;
    let resource_field = field_len(resource.encoded_len());
    let scope_field = field_len(scope.encoded_len());
    // Room for the headers: the resource and scope fields, two keys and two lengths.
    let gap = resource_field + scope_field + 2 * (key_len(2) + 10);
    let mut out = Vec::with_capacity(gap + trace.size_hint.max(trace.spans.len() * 128));
    out.resize(gap, 0);
    for span in trace.spans.iter() {
        prost::encoding::message::encode(2, &proto_span(trace, span), &mut out);
    }
    let scope_spans_len = scope_field + (out.len() - gap);
    let resource_spans_len =
        resource_field + key_len(2) + encoded_len_varint(scope_spans_len as u64) + scope_spans_len;
    let mut header = Vec::with_capacity(gap);
    // ExportTraceServiceRequest.resource_spans (1) = ResourceSpans { resource (1),
    // scope_spans (2) = ScopeSpans { scope (1), spans (2)... } }
    encode_key(1, WireType::LengthDelimited, &mut header);
    encode_varint(resource_spans_len as u64, &mut header);
    prost::encoding::message::encode(1, &resource, &mut header);
    encode_key(2, WireType::LengthDelimited, &mut header);
    encode_varint(scope_spans_len as u64, &mut header);
    prost::encoding::message::encode(1, &scope, &mut header);
    let start = gap - header.len();
    out[start..gap].copy_from_slice(&header);
    out.drain(..start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::clock::Anchor;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use std::borrow::Cow;

    #[test]
    fn the_charm_s_attributes_win_over_the_environment_s_which_win_over_the_sdk_s() {
        let env = env_resource_attributes("telemetry.sdk.language=python,service.name=env,a=1");
        let explicit = vec![KeyValue::new("service.name", "charm")];
        let merged: Vec<(String, String)> = merged_resource(env, explicit)
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("telemetry.sdk.name", "opentelemetry"),
            ("telemetry.sdk.language", "python"),
            ("telemetry.sdk.version", OPENTELEMETRY_VERSION),
            ("service.name", "charm"),
            ("a", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(merged, expected);
    }

    #[test]
    fn the_record_written_span_by_span_is_the_whole_message() {
        let mut spans = Vec::new();
        for n in 0..300u64 {
            let id = SpanId::from_bytes((n + 1).to_be_bytes());
            let mut span = SpanRecord::open(Cow::Owned(format!("span {n}")), id, SpanId::INVALID);
            span.end = Stamp::now();
            if n % 7 == 0 {
                span.details_mut()
                    .attributes
                    .push(KeyValue::new("n", n as i64));
            }
            spans.push(span);
        }
        let resource = vec![KeyValue::new("service.name", "x".repeat(300))];
        let trace = SealedTrace {
            trace_id: opentelemetry::trace::TraceId::from_bytes([7; 16]),
            service_name: "svc",
            resource: &resource,
            spans: crate::collect::sealed::SealedSpans::from_vec(spans),
            clock: Converter::new(Anchor::now(), Anchor::now()),
            size_hint: 0,
        };
        let written = encode_request(&trace);
        assert_eq!(written, build_request(&trace).encode_to_vec());
        assert_eq!(
            ExportTraceServiceRequest::decode(written.as_slice()).unwrap(),
            build_request(&trace)
        );
    }

    #[test]
    fn otel_resource_attributes_parse_as_python_does() {
        let parsed = env_resource_attributes(" a = 1 ,b=x%20y%2Cz,novalue, =v,c=100%,d=e=f");
        let pairs: Vec<(String, String)> = parsed
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        let expected: Vec<(String, String)> =
            [("a", "1"), ("b", "x y,z"), ("c", "100%"), ("d", "e=f")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        assert_eq!(pairs, expected);
    }
}
