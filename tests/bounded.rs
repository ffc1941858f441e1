//! Bounded traces: however many traced calls a hook makes, its record stays within
//! `trace_max_size_kib` and its memory bounded; calls past the budget are folded into fold
//! spans, and every call is counted, recorded or folded. Real hook processes of
//! `examples/loop_charm.rs` against a real OTLP/HTTP receiver.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use support::receiver::Receiver;
use support::{Hook, HookOutput, fresh_charm_dir};

const STEP: &str = "method call: Work.step";
const INNER: &str = "method call: Work.inner";
const FOLDED_CALLS: &str = "charm_tracing.folded_calls";
const SMALL_BUDGET: usize = 64 * 1024;
const DEFAULT_BUDGET: usize = 4096 * 1024;

fn loop_hook(calls: u64, env: &[(&str, &str)]) -> Hook {
    let mut hook = Hook::in_dir("loop_charm", "hooks/update-status", &fresh_charm_dir())
        .env("LOOP_CALLS", calls.to_string());
    for (key, value) in env {
        hook = hook.env(key, value);
    }
    hook
}

/// Runs the hook against a fresh receiver; its one accepted trace.
fn traced(hook: Hook) -> (ExportTraceServiceRequest, HookOutput) {
    let receiver = Receiver::start();
    let output = hook.env("LOOP_TRACING_ENDPOINT", receiver.endpoint()).run();
    assert_eq!(output.code(), 0, "{}", output.stderr());
    let mut accepted = receiver.accepted_traces();
    assert_eq!(accepted.len(), 1, "{}", output.stderr());
    (accepted.remove(0), output)
}

fn spans(trace: &ExportTraceServiceRequest) -> &[Span] {
    &trace.resource_spans[0].scope_spans[0].spans
}

fn int_attribute(span: &Span, key: &str) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::IntValue(n) => Some(*n),
            _ => None,
        })
}

/// The spans named `name`: those recorded one per call, and the fold spans.
fn calls(trace: &ExportTraceServiceRequest, name: &str) -> (Vec<Span>, Vec<Span>) {
    spans(trace)
        .iter()
        .filter(|s| s.name == name)
        .cloned()
        .partition(|s| int_attribute(s, FOLDED_CALLS).is_none())
}

fn folded_total(folds: &[Span], key: &str) -> i64 {
    folds.iter().map(|f| int_attribute(f, key).unwrap()).sum()
}

/// The recorded calls plus the folded ones.
fn counted(trace: &ExportTraceServiceRequest, name: &str) -> i64 {
    let (recorded, folds) = calls(trace, name);
    recorded.len() as i64 + folded_total(&folds, FOLDED_CALLS)
}

#[test]
fn ten_million_calls_make_a_bounded_trace_in_bounded_memory_with_every_call_counted() {
    const CALLS: u64 = 10_000_000;
    let receiver = Receiver::start();
    // Both hooks run before this process holds any trace: a child's peak RSS starts from
    // its parent's when it is spawned.
    let (off, off_rss) = loop_hook(CALLS, &[("LOOP_OFF", "1")])
        .env("LOOP_TRACING_ENDPOINT", receiver.endpoint())
        .run_measured();
    assert_eq!(off.code(), 0, "{}", off.stderr());
    let (output, traced_rss) = loop_hook(CALLS, &[])
        .env("LOOP_TRACING_ENDPOINT", receiver.endpoint())
        .run_measured();
    assert_eq!(output.code(), 0, "{}", output.stderr());
    let accepted = receiver.accepted_traces();
    assert_eq!(
        accepted.len(),
        2,
        "delivered and accepted: {}",
        output.stderr()
    );
    let trace = accepted.iter().max_by_key(|t| t.encoded_len()).unwrap();
    let size = trace.encoded_len();
    assert!(size <= DEFAULT_BUDGET, "the record takes {size} bytes");
    assert!(
        size > DEFAULT_BUDGET / 2,
        "the budget is used: {size} bytes"
    );
    assert_eq!(counted(trace, STEP), CALLS as i64, "every call is counted");
    let (recorded, folds) = calls(trace, STEP);
    assert!(!recorded.is_empty() && !folds.is_empty());
    eprintln!(
        "10M calls: traced {:?}, {traced_rss} KiB peak, record {size} bytes; off {:?}, \
         {off_rss} KiB peak",
        output.elapsed, off.elapsed
    );
    assert!(
        traced_rss - off_rss <= 64 * 1024,
        "peak RSS {traced_rss} KiB traced against {off_rss} KiB off"
    );
}

#[test]
fn a_hook_just_under_the_budget_keeps_every_span_and_one_call_more_folds_exactly_that_call() {
    let (over, _) = traced(loop_hook(5000, &[("LOOP_SMALL", "1")]));
    assert!(over.encoded_len() <= SMALL_BUDGET, "{}", over.encoded_len());
    let (recorded, folds) = calls(&over, STEP);
    assert_eq!(counted(&over, STEP), 5000);
    assert!(!folds.is_empty(), "5000 calls do not fit 64 KiB");
    let fit = recorded.len() as u64;

    let folded_line = "trace reached its size bound (64 KiB)";
    let (under, output) = traced(loop_hook(fit, &[("LOOP_SMALL", "1")]));
    assert!(under.encoded_len() <= SMALL_BUDGET);
    assert!(
        !output.stderr().contains(folded_line),
        "{}",
        output.stderr()
    );
    let (recorded, folds) = calls(&under, STEP);
    assert_eq!(recorded.len() as u64, fit, "every call recorded");
    assert!(folds.is_empty(), "nothing folded");
    assert!(
        spans(&under)
            .iter()
            .all(|s| int_attribute(s, FOLDED_CALLS).is_none()),
        "no fold span at all"
    );

    let (just_over, output) = traced(loop_hook(fit + 1, &[("LOOP_SMALL", "1")]));
    assert!(just_over.encoded_len() <= SMALL_BUDGET);
    assert!(
        output.stderr().contains(&format!(
            "{folded_line}; 1 call(s) past it are counted in 1 fold span(s)"
        )),
        "one true line says so: {}",
        output.stderr()
    );
    let (recorded, folds) = calls(&just_over, STEP);
    assert_eq!(recorded.len() as u64, fit);
    assert_eq!(folds.len(), 1);
    assert_eq!(int_attribute(&folds[0], FOLDED_CALLS), Some(1));
    // The fold span stands under the calls' parent.
    assert_eq!(folds[0].parent_span_id, recorded[0].parent_span_id);
    assert!(int_attribute(&folds[0], "charm_tracing.folded_duration_total_ns").unwrap() > 0);
}

#[test]
fn calls_nested_in_folded_calls_fold_under_their_fold_span() {
    let (trace, _) = traced(loop_hook(
        5000,
        &[("LOOP_SMALL", "1"), ("LOOP_NESTED", "1")],
    ));
    assert!(trace.encoded_len() <= SMALL_BUDGET);
    assert_eq!(counted(&trace, STEP), 5000);
    assert_eq!(counted(&trace, INNER), 5000);
    let (_, step_folds) = calls(&trace, STEP);
    let (_, inner_folds) = calls(&trace, INNER);
    assert_eq!(step_folds.len(), 1, "one parent, one name: one fold");
    let step_fold = &step_folds[0];
    let under_fold: Vec<&Span> = inner_folds
        .iter()
        .filter(|f| f.parent_span_id == step_fold.span_id)
        .collect();
    assert_eq!(under_fold.len(), 1, "the inner calls of folded steps");
    assert_eq!(
        int_attribute(under_fold[0], FOLDED_CALLS),
        int_attribute(step_fold, FOLDED_CALLS),
        "one inner call per folded step"
    );
    // Every span's parent is in the trace (a fold span for the folded calls' children).
    let ids: std::collections::HashSet<&[u8]> =
        spans(&trace).iter().map(|s| s.span_id.as_slice()).collect();
    for span in spans(&trace) {
        assert!(span.parent_span_id.is_empty() || ids.contains(span.parent_span_id.as_slice()));
    }
}

#[test]
fn failures_inside_folded_calls_are_counted_on_their_fold_span() {
    let (trace, _) = traced(loop_hook(
        5000,
        &[("LOOP_SMALL", "1"), ("LOOP_FAIL_EVERY", "10")],
    ));
    let (recorded, folds) = calls(&trace, STEP);
    let failed_recorded = recorded
        .iter()
        .filter(|s| s.status.as_ref().unwrap().code == StatusCode::Error as i32)
        .count() as i64;
    let failed_folded = folded_total(&folds, "charm_tracing.folded_failures");
    assert!(failed_recorded > 0 && failed_folded > 0);
    assert_eq!(
        failed_recorded + failed_folded,
        500,
        "every 10th of 5000 calls"
    );
    let fold = folds
        .iter()
        .find(|f| int_attribute(f, "charm_tracing.folded_failures") > Some(0))
        .unwrap();
    let status = fold.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(
        status.message.contains("folded calls failed"),
        "{}",
        status.message
    );
}
