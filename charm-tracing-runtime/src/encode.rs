//! One hook's spans as one OTLP `ExportTraceServiceRequest` (protobuf): the record that is
//! delivered and buffered.

use crate::clock::Converter;
use crate::config::CharmConfig;
use crate::context::JujuContext;
use crate::record::{EventRecord, SpanRecord, Stamp, StatusRecord};
use crate::session::Session;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{self as proto, ResourceSpans, ScopeSpans};
use opentelemetry_proto::transform::common::tonic::Attributes;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use prost::Message;

/// The resource attributes of every span of the hook (SPEC §4), with the SDK's
/// `telemetry.sdk.*`.
pub(crate) fn resource_attributes(
    service_name: &str,
    config: &CharmConfig,
    ctx: &JujuContext,
) -> Vec<KeyValue> {
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes([
            KeyValue::new("service.name", service_name.to_owned()),
            KeyValue::new("compose_service", service_name.to_owned()),
            KeyValue::new("charm_type", config.charm_type),
            KeyValue::new("juju_unit", ctx.unit_name().to_owned()),
            KeyValue::new("juju_application", ctx.app_name().to_owned()),
            KeyValue::new("juju_model", ctx.model_name().to_owned()),
            KeyValue::new("juju_model_uuid", ctx.model_uuid().to_owned()),
        ])
        .build();
    resource
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
        .collect()
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

fn proto_span(session: &Session, span: &SpanRecord, clock: &Converter) -> proto::Span {
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
    proto::Span {
        trace_id: session.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_bytes().to_vec(),
        parent_span_id,
        name: span.name.clone().into_owned(),
        kind: proto_kind(&span.kind) as i32,
        start_time_unix_nano: unix_nanos(span.start, clock),
        end_time_unix_nano: unix_nanos(end, clock),
        attributes: details.map_or_else(Vec::new, |d| proto_attributes(&d.attributes)),
        events: details.map_or_else(Vec::new, |d| {
            d.events.iter().map(|e| proto_event(e, clock)).collect()
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
        ..Default::default()
    }
}

/// The hook's record: its spans, in end order, under one resource and one scope named after
/// the service.
pub(crate) fn build_request(
    session: &Session,
    spans: &[SpanRecord],
    clock: &Converter,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: proto_attributes(&session.resource),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: session.service_name.clone(),
                    ..Default::default()
                }),
                spans: spans
                    .iter()
                    .map(|span| proto_span(session, span, clock))
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The hook's record, encoded once.
pub(crate) fn encode_request(
    session: &Session,
    spans: &[SpanRecord],
    clock: &Converter,
) -> Vec<u8> {
    build_request(session, spans, clock).encode_to_vec()
}
