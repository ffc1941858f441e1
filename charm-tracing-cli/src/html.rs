//! `charm-tracing html`: one self-contained page (no script, no network asset) with a
//! waterfall per trace: bars on a time axis, nesting by indent, failed spans in red, the
//! details of a span on hover (its title) and on click (it opens).

use charm_tracing_runtime::testing::{CapturedSpan, SpanStatus, Trace};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::fmt::Write as _;

const STYLE: &str = "
body { font: 13px/1.35 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; }
h1 { font-size: 18px; } h2 { font-size: 14px; margin: 1.6em 0 .4em; font-family: monospace; }
.axis, summary { display: grid; grid-template-columns: 34em 1fr 7em; align-items: center; }
.axis { color: #666; border-bottom: 1px solid #ccc; }
.ticks { position: relative; height: 1.4em; }
.ticks span { position: absolute; transform: translateX(-50%); font-size: 11px; white-space: nowrap; }
details { border-bottom: 1px solid #f0f0f0; }
summary { list-style: none; cursor: pointer; padding: 1px 0; }
summary::-webkit-details-marker { display: none; }
summary:hover { background: #f5f7ff; }
.name { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-family: monospace; }
.lane { position: relative; height: 12px; background: #fafafa; }
.bar { position: absolute; top: 1px; bottom: 1px; min-width: 2px; background: #4f7fd9; border-radius: 2px; }
.error > summary .bar { background: #d93b3b; }
.error > summary .name { color: #b00020; }
.dur { text-align: right; font-variant-numeric: tabular-nums; color: #444; }
.more { margin: .2em 0 .6em 2em; font-family: monospace; color: #333; white-space: pre-wrap; }
";

/// The page for `traces`, read from `source`.
pub fn page(traces: &[Trace], source: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>charm traces: {}</title><style>{STYLE}</style></head><body>\n\
         <h1>{} trace(s) from {}</h1>\n",
        text(source),
        traces.len(),
        text(source)
    );
    for trace in traces {
        waterfall(trace, &mut out);
    }
    out.push_str("</body></html>\n");
    out
}

fn waterfall(trace: &Trace, out: &mut String) {
    let start = trace
        .spans
        .iter()
        .map(|s| s.start_unix_nano)
        .min()
        .unwrap_or(0);
    let end = trace
        .spans
        .iter()
        .map(|s| s.end_unix_nano.max(s.start_unix_nano))
        .max()
        .unwrap_or(start);
    let total = end.saturating_sub(start).max(1) as f64;
    let _ = write!(
        out,
        "<section class=\"trace\" id=\"trace-{}\"><h2>{}</h2>\n<div class=\"axis\"><span>span</span><div class=\"ticks\">",
        attr(&trace.trace_id),
        text(&trace.summary())
    );
    for step in 0..=4 {
        let at = f64::from(step) / 4.0;
        let _ = write!(
            out,
            "<span style=\"left:{:.1}%\">{}</span>",
            at * 100.0,
            millis(at * total)
        );
    }
    out.push_str("</div><span class=\"dur\">duration</span></div>\n");
    for (depth, span) in trace.walk() {
        row(span, depth, start, total, out);
    }
    out.push_str("</section>\n");
}

fn row(span: &CapturedSpan, depth: usize, start: u64, total: f64, out: &mut String) {
    let offset = span.start_unix_nano.saturating_sub(start) as f64 / total * 100.0;
    let length = span.end_unix_nano.saturating_sub(span.start_unix_nano) as f64;
    let width = length / total * 100.0;
    let failed = matches!(span.status, SpanStatus::Error(_));
    let details = details(span, length);
    let _ = writeln!(
        out,
        "<details class=\"span{}\" title=\"{}\"><summary><span class=\"name\" style=\"padding-left:{}em\">{}</span>\
         <span class=\"lane\"><span class=\"bar\" style=\"left:{offset:.3}%;width:{width:.3}%\"></span></span>\
         <span class=\"dur\">{}</span></summary><div class=\"more\">{}</div></details>",
        if failed { " error" } else { "" },
        attr(&details),
        depth,
        text(&span.name),
        millis(length),
        text(&details)
    );
}

/// Everything about a span, as plain lines (the hover text and the opened details).
fn details(span: &CapturedSpan, length: f64) -> String {
    let mut lines = vec![format!(
        "{}  ({}, {})",
        span.name,
        millis(length),
        span.kind
    )];
    match &span.status {
        SpanStatus::Error(description) => lines.push(format!("status: ERROR {description}")),
        SpanStatus::Ok => lines.push("status: OK".to_owned()),
        SpanStatus::Unset => {}
    }
    for (key, value) in &span.attributes {
        lines.push(format!("{key} = {value}"));
    }
    for event in &span.events {
        let at = event.time_unix_nano.saturating_sub(span.start_unix_nano) as f64;
        lines.push(format!("event at +{}: {}", millis(at), event.name));
        for (key, value) in &event.attributes {
            let value: String = value.lines().take(8).collect::<Vec<_>>().join("\n      ");
            lines.push(format!("    {key} = {value}"));
        }
    }
    lines.join("\n")
}

fn millis(nanos: f64) -> String {
    if nanos < 1e4 {
        format!("{:.1} µs", nanos / 1e3)
    } else if nanos < 1e6 {
        format!("{:.0} µs", nanos / 1e3)
    } else {
        format!("{:.2} ms", nanos / 1e6)
    }
}
