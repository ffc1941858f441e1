//! The in-memory form of a span while its hook runs.

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, SpanKind};
use std::borrow::Cow;

/// A point in time in one `u64`: clock ticks (ours, cheap), or Unix nanoseconds (given
/// through the OpenTelemetry API) when the top bit is set. Ticks become Unix nanoseconds when
/// the record is encoded. Zero means "not yet" (an open span's end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

const UNIX_BIT: u64 = 1 << 63;

impl Stamp {
    pub const UNSET: Stamp = Stamp(0);

    #[inline(always)]
    pub fn now() -> Self {
        Stamp(crate::collect::clock::ticks().max(1) & !UNIX_BIT)
    }

    pub fn unix(nanos: u64) -> Self {
        Stamp((nanos & !UNIX_BIT) | UNIX_BIT)
    }

    pub fn is_set(self) -> bool {
        self != Stamp::UNSET
    }

    /// The stamp as one `u64` (for atomics).
    #[inline(always)]
    pub fn raw(self) -> u64 {
        self.0
    }

    /// A stamp from [`Stamp::raw`].
    #[inline(always)]
    pub fn from_raw(raw: u64) -> Self {
        Stamp(raw)
    }

    /// `Ok(ticks)` or `Err(unix_nanos)`.
    pub fn ticks_or_unix(self) -> Result<u64, u64> {
        if self.0 & UNIX_BIT == 0 {
            Ok(self.0)
        } else {
            Err(self.0 & !UNIX_BIT)
        }
    }
}

/// A span event (`add_event`), kept until the hook's record is encoded.
#[derive(Clone, Debug)]
pub(crate) struct EventRecord {
    pub name: Cow<'static, str>,
    pub time: Stamp,
    pub attributes: Vec<KeyValue>,
}

/// The status of a finished span.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum StatusRecord {
    #[default]
    Unset,
    Ok,
    Error(String),
}

/// What most spans never have: kept out of line so a record stays small (every traced call
/// writes one, and fresh memory costs page faults).
#[derive(Clone, Debug, Default)]
pub(crate) struct Details {
    pub status: StatusRecord,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<EventRecord>,
    pub links: Vec<LinkRecord>,
    /// Attributes left out: the trace had no room for them.
    pub dropped_attributes: u32,
    /// Events left out: the trace had no room for them.
    pub dropped_events: u32,
}

/// A link to a span of another trace (Juju's, with `join_juju_trace = false`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LinkRecord {
    pub trace_id: opentelemetry::trace::TraceId,
    pub span_id: SpanId,
    pub flags: u8,
}

/// One span: open while `end` is unset. 72 bytes.
#[derive(Clone, Debug)]
pub(crate) struct SpanRecord {
    pub name: Cow<'static, str>,
    pub span_id: SpanId,
    pub parent_id: SpanId,
    pub start: Stamp,
    pub end: Stamp,
    pub kind: SpanKind,
    pub details: Option<Box<Details>>,
}

impl SpanRecord {
    #[inline]
    pub fn open(name: Cow<'static, str>, span_id: SpanId, parent_id: SpanId) -> Self {
        Self::open_at(name, span_id, parent_id, Stamp::now())
    }

    /// A span that started at `start`.
    #[inline(always)]
    pub fn open_at(
        name: Cow<'static, str>,
        span_id: SpanId,
        parent_id: SpanId,
        start: Stamp,
    ) -> Self {
        SpanRecord {
            name,
            span_id,
            parent_id,
            start,
            end: Stamp::UNSET,
            kind: SpanKind::Internal,
            details: None,
        }
    }

    /// At most what this span takes in the encoded record.
    pub fn encoded_bytes_bound(&self) -> u64 {
        span_bytes(&self.name)
            + self
                .details
                .as_deref()
                .map_or(0, Details::encoded_bytes_bound)
    }

    /// The status, attributes and events, created on first use.
    pub fn details_mut(&mut self) -> &mut Details {
        self.details.get_or_insert_with(Box::default)
    }

    /// Marks the span failed, with the `exception` event OpenTelemetry prescribes.
    pub fn record_error(&mut self, error: &ErrorInfo) {
        self.record_error_at(error, Stamp::now());
    }

    /// Marks the span failed, its `exception` event stamped at `time`.
    pub fn record_error_at(&mut self, error: &ErrorInfo, time: Stamp) {
        let mut attributes = vec![
            KeyValue::new("exception.type", error.type_name.clone()),
            KeyValue::new("exception.message", error.message.clone()),
        ];
        if let Some(stacktrace) = &error.stacktrace {
            attributes.push(KeyValue::new("exception.stacktrace", stacktrace.clone()));
        }
        let details = self.details_mut();
        details.status = StatusRecord::Error(error.description());
        details.events.push(EventRecord {
            name: Cow::Borrowed("exception"),
            time,
            attributes,
        });
    }
}

/// At most what a span without attributes, events or status message takes in the encoded
/// record: ids, name, kind, times, status code, dropped counts and the framing of each.
#[inline(always)]
pub(crate) fn span_bytes(name: &str) -> u64 {
    92 + name.len() as u64
}

/// At most what an attribute takes encoded.
pub(crate) fn attribute_bytes(kv: &KeyValue) -> u64 {
    12 + kv.key.as_str().len() as u64 + value_bytes(&kv.value)
}

fn value_bytes(value: &opentelemetry::Value) -> u64 {
    use opentelemetry::{Array, Value};
    let strings = |items: &[opentelemetry::StringValue]| {
        items
            .iter()
            .map(|s| 8 + s.as_str().len() as u64)
            .sum::<u64>()
    };
    6 + match value {
        Value::Bool(_) => 2,
        Value::I64(_) => 11,
        Value::F64(_) => 9,
        Value::String(s) => 6 + s.as_str().len() as u64,
        Value::Array(Array::Bool(items)) => 4 * items.len() as u64,
        Value::Array(Array::I64(items)) => 13 * items.len() as u64,
        Value::Array(Array::F64(items)) => 11 * items.len() as u64,
        Value::Array(Array::String(items)) => strings(items),
        // Anything newer: as its text, generously.
        other => 16 + 2 * other.as_str().len() as u64,
    }
}

/// At most what a status's description adds to a span's encoding (the code is in
/// [`span_bytes`]).
pub(crate) fn status_bytes(status: &StatusRecord) -> u64 {
    match status {
        StatusRecord::Error(message) => 8 + message.len() as u64,
        _ => 0,
    }
}

/// At most what an event takes encoded.
pub(crate) fn event_bytes(event: &EventRecord) -> u64 {
    24 + event.name.len() as u64 + event.attributes.iter().map(attribute_bytes).sum::<u64>()
}

impl Details {
    /// At most what these details add to a span's encoding.
    pub(crate) fn encoded_bytes_bound(&self) -> u64 {
        status_bytes(&self.status)
            + 12
            + self.attributes.iter().map(attribute_bytes).sum::<u64>()
            + self.events.iter().map(event_bytes).sum::<u64>()
            + 64 * self.links.len() as u64
    }
}

/// What went wrong in a span: an `Err` it returned or a panic that crossed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The error's short type name, or `panic`.
    pub type_name: String,
    /// The error's message (`Display`), or the panic payload.
    pub message: String,
    /// A backtrace, for panics.
    pub stacktrace: Option<String>,
}

impl ErrorInfo {
    /// The status description: `{Type}: {message}`.
    pub(crate) fn description(&self) -> String {
        format!("{}: {}", self.type_name, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_record_stays_small() {
        // Every traced call writes one; fresh memory costs page faults.
        assert!(
            std::mem::size_of::<SpanRecord>() <= 72,
            "{}",
            std::mem::size_of::<SpanRecord>()
        );
    }

    #[test]
    fn stamps_keep_ticks_and_unix_times_apart() {
        assert_eq!(Stamp::unix(42).ticks_or_unix(), Err(42));
        assert!(Stamp::now().ticks_or_unix().is_ok());
        assert!(Stamp::now().is_set());
        assert!(!Stamp::UNSET.is_set());
    }
}
