//! `charm-tracing view`: traces as indented trees, or one JSON object per span.

use charm_tracing_runtime::testing::{CapturedSpan, SpanStatus, Trace, TreeStyle};
use serde_json::{Map, Value, json};

/// Which traces to show.
#[derive(Debug, Default)]
pub struct Filter {
    /// Only traces with a failed span.
    pub errors: bool,
    /// Only traces of this event kind (`install`, `config_changed`; `config-changed` too).
    pub event: Option<String>,
}

impl Filter {
    /// Whether `trace` passes.
    pub fn keeps(&self, trace: &Trace) -> bool {
        if self.errors
            && !trace
                .spans
                .iter()
                .any(|s| matches!(s.status, SpanStatus::Error(_)))
        {
            return false;
        }
        match &self.event {
            Some(kind) => {
                let wanted = format!("event: {}", kind.replace('-', "_"));
                trace.spans.iter().any(|s| s.name == wanted)
            }
            None => true,
        }
    }
}

/// A trace as text: its summary line, then its tree with durations, statuses and events.
pub fn text(trace: &Trace) -> String {
    let mut out = trace.summary();
    out.push('\n');
    for line in trace.render(TreeStyle::Detailed).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn attributes(pairs: &[(String, String)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Value::Object(map)
}

/// One span as one JSON object (one line).
pub fn json_line(span: &CapturedSpan) -> String {
    let (status, message) = match &span.status {
        SpanStatus::Unset => ("UNSET", None),
        SpanStatus::Ok => ("OK", None),
        SpanStatus::Error(message) => ("ERROR", Some(message.as_str())),
    };
    let events: Vec<Value> = span
        .events
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "attributes": attributes(&e.attributes),
            })
        })
        .collect();
    json!({
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_unix_nano": span.start_unix_nano,
        "end_unix_nano": span.end_unix_nano,
        "status": status,
        "status_message": message,
        "attributes": attributes(&span.attributes),
        "events": events,
    })
    .to_string()
}
