//! Bounded traces for every kind of span, in-process under `charm_tracing::testing`: traced
//! `async fn`s, `tracing` spans through the bridge and spans started through the
//! OpenTelemetry API fold like synchronous calls once a 64 KiB budget is spent, and every one
//! is counted; events past the budget are left out and counted as dropped, never grow the
//! record past its bound.

use charm_tracing::testing::{HookRun, Trace, run_hook, run_hook_async};
use charm_tracing::{AsyncCharm, Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use opentelemetry::trace::{Span as _, Tracer as _};
use std::sync::Once;
use tracing_subscriber::prelude::*;

const CALLS: usize = 5000;
const FOLDED_CALLS: &str = "charm_tracing.folded_calls";

fn install_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::registry()
            .with(charm_tracing::tracing_layer())
            .init();
    });
}

/// The spans named `name`, recorded one per call plus the calls their fold spans count.
fn counted(trace: &Trace, name: &str) -> (usize, usize) {
    let mut recorded = 0;
    let mut folded = 0;
    for span in trace.spans.iter().filter(|s| s.name == name) {
        match span.attribute(FOLDED_CALLS) {
            Some(n) => folded += n.parse::<usize>().expect("an integer"),
            None => recorded += 1,
        }
    }
    (recorded, folded)
}

/// A charm with a 64 KiB budget whose hook does `work`.
struct Small {
    work: fn(),
}

#[trace_charm(tracing_endpoint = "endpoint", trace_max_size_kib = 64)]
impl Small {
    fn new(_ctx: JujuContext) -> Self {
        Small { work: || {} }
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
}

impl Charm for Small {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        (self.work)();
        Ok(())
    }
}

fn run_small(work: fn()) -> HookRun {
    run_hook(JujuContext::new("small/0", "hooks/update-status"), |ctx| {
        let mut charm = Small::new(ctx);
        charm.work = work;
        charm
    })
}

fn record_size(run: &HookRun) -> usize {
    run.record.as_ref().expect("the hook's record").len()
}

#[test]
fn tracing_spans_past_the_budget_fold_and_every_one_is_counted() {
    install_tracing();
    let run = run_small(|| {
        for item in 0..CALLS {
            let _span = tracing::info_span!("tracing item", item).entered();
        }
    });
    let trace = run.trace();
    let (recorded, folded) = counted(trace, "tracing item");
    assert!(
        recorded > 0 && folded > 0,
        "{recorded} recorded, {folded} folded"
    );
    assert_eq!(recorded + folded, CALLS);
    assert!(record_size(&run) <= 64 * 1024, "{}", record_size(&run));
}

#[test]
fn spans_of_the_opentelemetry_api_past_the_budget_fold_and_every_one_is_counted() {
    let run = run_small(|| {
        let tracer = opentelemetry::global::tracer("bounded");
        for _ in 0..CALLS {
            let mut span = tracer.start("api item");
            span.end();
        }
    });
    let trace = run.trace();
    let (recorded, folded) = counted(trace, "api item");
    assert!(
        recorded > 0 && folded > 0,
        "{recorded} recorded, {folded} folded"
    );
    assert_eq!(recorded + folded, CALLS);
    assert!(record_size(&run) <= 64 * 1024);
}

#[test]
fn events_past_the_budget_are_left_out_and_counted_as_dropped() {
    install_tracing();
    let run = run_small(|| {
        let _span = tracing::info_span!("chatty").entered();
        for item in 0..CALLS {
            tracing::info!(item, "step done");
        }
    });
    let trace = run.trace();
    let chatty = trace.span("chatty").expect("the span");
    assert!(!chatty.events.is_empty());
    assert!(chatty.events.len() < CALLS, "not all of them fit");
    assert!(record_size(&run) <= 64 * 1024, "{}", record_size(&run));
    let request = run.request();
    let span = request.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .find(|s| s.name == "chatty")
        .unwrap();
    assert_eq!(
        span.events.len() + span.dropped_events_count as usize,
        CALLS,
        "every event kept or counted as dropped"
    );
}

#[trace]
async fn async_item(item: usize) -> usize {
    tokio::task::yield_now().await;
    item * 2
}

/// An async charm with a 64 KiB budget whose hook fans `CALLS` calls out to tasks; with
/// `failing`, every call is open at once (a barrier), then every one fails.
struct SmallAsync {
    failing: bool,
}

#[trace_charm(tracing_endpoint = "endpoint", trace_max_size_kib = 64)]
impl SmallAsync {
    fn new(_ctx: JujuContext) -> Self {
        SmallAsync { failing: false }
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
}

impl AsyncCharm for SmallAsync {
    async fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        let gate = std::sync::Arc::new(tokio::sync::Barrier::new(CALLS));
        let mut handles = Vec::new();
        for item in 0..CALLS {
            handles.push(if self.failing {
                tokio::spawn(failing_item(item, gate.clone()))
            } else {
                // Called here, in the hook's task: its span opens under the handler.
                let call = async_item(item);
                tokio::spawn(async move {
                    call.await;
                    Ok(())
                })
            });
        }
        for handle in handles {
            let _ = handle.await;
        }
        Ok(())
    }
}

fn run_small_async(failing: bool) -> HookRun {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_hook_async(
        JujuContext::new("small/0", "hooks/update-status"),
        |ctx| {
            let mut charm = SmallAsync::new(ctx);
            charm.failing = failing;
            charm
        },
    ))
}

#[test]
fn async_calls_on_worker_threads_past_the_budget_fold_and_every_one_is_counted() {
    let run = run_small_async(false);
    let trace = run.trace();
    let (recorded, folded) = counted(trace, "function call: async_item");
    assert!(
        recorded > 0 && folded > 0,
        "{recorded} recorded, {folded} folded"
    );
    assert_eq!(recorded + folded, CALLS);
    assert!(record_size(&run) <= 64 * 1024);
}

#[trace]
async fn failing_item(
    item: usize,
    gate: std::sync::Arc<tokio::sync::Barrier>,
) -> Result<(), String> {
    gate.wait().await;
    Err(format!("item {item} failed: {}", "x".repeat(500)))
}

#[test]
fn spans_that_fail_after_the_budget_is_spent_stay_failed_within_the_bound() {
    let run = run_small_async(true);
    assert!(record_size(&run) <= 64 * 1024, "{}", record_size(&run));
    let trace = run.trace();
    let (recorded, folded) = counted(trace, "function call: failing_item");
    assert_eq!(recorded + folded, CALLS);
    let failed = trace
        .spans
        .iter()
        .filter(|s| s.name == "function call: failing_item" && s.attribute(FOLDED_CALLS).is_none())
        .filter(|s| matches!(s.status, charm_tracing::testing::SpanStatus::Error(_)))
        .count();
    assert_eq!(failed, recorded, "every recorded call is marked failed");
}

#[test]
fn renames_and_attributes_after_the_budget_is_spent_stay_within_the_bound() {
    let run = run_small(|| {
        let tracer = opentelemetry::global::tracer("bounded");
        let mut early: Vec<_> = (0..200).map(|_| tracer.start("early")).collect();
        // Spend the budget.
        for _ in 0..CALLS {
            let mut span = tracer.start("filler");
            span.end();
        }
        for span in &mut early {
            span.update_name("renamed ".repeat(100));
            span.set_attribute(opentelemetry::KeyValue::new("big", "y".repeat(1000)));
            span.end();
        }
    });
    assert!(record_size(&run) <= 64 * 1024, "{}", record_size(&run));
    let (recorded, folded) = counted(run.trace(), "filler");
    assert_eq!(recorded + folded, CALLS);
}
