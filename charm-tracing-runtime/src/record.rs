//! The in-memory form of a span while its hook runs.

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, SpanKind};
use std::borrow::Cow;

/// A point in time: clock ticks (ours, cheap) or Unix nanoseconds (given through the
/// OpenTelemetry API). Ticks become Unix nanoseconds when the record is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stamp {
    Ticks(u64),
    Unix(u64),
}

impl Stamp {
    #[inline(always)]
    pub fn now() -> Self {
        Stamp::Ticks(crate::clock::ticks())
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
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StatusRecord {
    Unset,
    Ok,
    Error(String),
}

/// One span: open while `end` is `None`.
#[derive(Debug)]
pub(crate) struct SpanRecord {
    pub name: Cow<'static, str>,
    pub span_id: SpanId,
    pub parent_id: SpanId,
    pub kind: SpanKind,
    pub start: Stamp,
    pub end: Option<(Stamp, u64)>,
    pub status: StatusRecord,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<EventRecord>,
}

impl SpanRecord {
    #[inline]
    pub fn open(name: Cow<'static, str>, span_id: SpanId, parent_id: SpanId) -> Self {
        SpanRecord {
            name,
            span_id,
            parent_id,
            kind: SpanKind::Internal,
            start: Stamp::now(),
            end: None,
            status: StatusRecord::Unset,
            attributes: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Marks the span failed, with the `exception` event OpenTelemetry prescribes.
    pub fn record_error(&mut self, error: &ErrorInfo) {
        self.status = StatusRecord::Error(error.description());
        let mut attributes = vec![
            KeyValue::new("exception.type", error.type_name.clone()),
            KeyValue::new("exception.message", error.message.clone()),
        ];
        if let Some(stacktrace) = &error.stacktrace {
            attributes.push(KeyValue::new("exception.stacktrace", stacktrace.clone()));
        }
        self.events.push(EventRecord {
            name: Cow::Borrowed("exception"),
            time: Stamp::now(),
            attributes,
        });
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
