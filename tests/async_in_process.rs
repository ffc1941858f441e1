//! Async hooks in-process with `charm_tracing::testing::run_hook_async` on real tokio
//! runtimes: the same trees as the hook processes give, worker-thread spans captured in
//! parallel tests, the `tracing` bridge in both nesting directions, and traced futures that
//! are dropped early or panic.

#[path = "../examples/async_charm.rs"]
#[allow(dead_code)] // its `main` and `init`
mod async_charm;

use async_charm::AsyncShop;
use charm_tracing::testing::{HookOutcome, HookRun, SpanStatus, run_hook, run_hook_async};
use charm_tracing::{AsyncCharm, Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use std::future::Future;
use std::sync::Once;
use std::task::{Context, Poll};
use tracing_subscriber::prelude::*;

/// The bridge, installed once for the whole test binary (worker threads need the global
/// subscriber), composed with a `fmt` layer writing to a sink.
fn install_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::registry()
            .with(charm_tracing::tracing_layer())
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
            .init();
    });
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn install_of_async_shop(runtime: &tokio::runtime::Runtime) -> HookRun {
    runtime.block_on(run_hook_async(
        JujuContext::new("shop/0", "hooks/install"),
        AsyncShop::new,
    ))
}

/// The tree `tests/async_hooks.rs` asserts for the same hook run as a process.
const INSTALL_TREE: &str = "\
shop/0: install event
  event: install
    method call: AsyncShop.on_install
      function call: fetch_setting
      function call: fetch_setting
      function call: warm_cache
        function call: warm_entry
        function call: warm_entry
      method call: AsyncShop.render
      apply
        function call: count_replicas
";

#[test]
fn run_hook_async_sees_the_tree_production_delivers_on_both_flavors() {
    install_tracing();
    for runtime in [multi_thread(), current_thread()] {
        let run = install_of_async_shop(&runtime);
        assert!(matches!(run.outcome, HookOutcome::Succeeded));
        assert_eq!(run.trace().tree(), INSTALL_TREE);
    }
}

#[test]
fn parallel_async_hooks_capture_their_own_worker_thread_spans() {
    install_tracing();
    let runs: Vec<HookRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| install_of_async_shop(&multi_thread())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hook thread"))
            .collect()
    });
    let mut ids: Vec<&str> = runs.iter().map(|r| r.trace().trace_id.as_str()).collect();
    for run in &runs {
        // All 11 spans, the spawned task's too, and no span of another run.
        assert_eq!(run.trace().tree(), INSTALL_TREE);
        assert_eq!(run.trace().spans.len(), INSTALL_TREE.lines().count());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), runs.len(), "one trace per run");
}

#[test]
fn failing_and_crashing_async_hooks_have_the_process_outcomes() {
    install_tracing();
    let runtime = multi_thread();
    let stop = runtime.block_on(run_hook_async(
        JujuContext::new("shop/0", "hooks/stop"),
        AsyncShop::new,
    ));
    assert!(matches!(stop.outcome, HookOutcome::Failed(_)));
    assert_eq!(
        stop.trace().root().expect("root").status,
        SpanStatus::Error("Error: the workload did not stop".to_owned())
    );
    let changed = runtime.block_on(run_hook_async(
        JujuContext::new("shop/0", "hooks/config-changed"),
        AsyncShop::new,
    ));
    assert!(matches!(changed.outcome, HookOutcome::Succeeded));
    assert_eq!(
        changed
            .trace()
            .span("function call: flaky_worker")
            .expect("crashed task")
            .status,
        SpanStatus::Error("panic: worker crashed".to_owned())
    );
}

/// A charm for the cases below.
pub struct Probe {
    case: String,
}

#[trace_charm(tracing_endpoint = "endpoint")]
impl Probe {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        Probe {
            case: ctx.event().kind().to_owned(),
        }
    }

    fn endpoint(&self) -> Option<String> {
        None
    }

    async fn dropped_early(&self) {
        // Polled once, then dropped while pending.
        let mut pending = std::pin::pin!(never_ready());
        let waker = std::task::Waker::noop();
        let _ = pending.as_mut().poll(&mut Context::from_waker(waker));
        step();
    }

    async fn nested_in_tracing(&self) {
        let outer = tracing::info_span!("outer", attempt = 1_u64);
        let _entered = outer.enter();
        tracing::warn!(code = 7_i64, "inside outer");
        step();
        tracing::info_span!("inner").in_scope(|| {
            step();
            tracing::error!("inner failed");
        });
    }

    async fn event_outside_tracing_spans(&self) {
        tracing::info!("in a charm span");
        step();
    }

    #[tracing::instrument(skip_all)]
    async fn instrumented(&self) {
        step();
    }

    async fn early_span(&self) {
        let early = EARLY.lock().unwrap().take().expect("made before the hook");
        early.in_scope(step);
    }

    async fn panicking_future(&self) {
        let caught = std::panic::catch_unwind(|| {
            let mut crash = std::pin::pin!(crash());
            let waker = std::task::Waker::noop();
            let _ = crash.as_mut().poll(&mut Context::from_waker(waker));
        });
        assert!(caught.is_err());
        step();
    }
}

/// A `tracing` span made before the hook that is entered during it.
static EARLY: std::sync::Mutex<Option<tracing::Span>> = std::sync::Mutex::new(None);

#[trace]
async fn never_ready() {
    std::future::pending::<()>().await;
}

#[trace]
async fn crash() {
    panic!("crash in a future");
}

#[trace]
fn step() {}

impl AsyncCharm for Probe {
    async fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        match self.case.as_str() {
            "dropped_early" => self.dropped_early().await,
            "nested" => self.nested_in_tracing().await,
            "event" => self.event_outside_tracing_spans().await,
            "panicking" => self.panicking_future().await,
            "instrumented" => self.instrumented().await,
            "early" => self.early_span().await,
            _ => {}
        }
        Ok(())
    }
}

fn probe(kind: &str) -> HookRun {
    install_tracing();
    current_thread().block_on(run_hook_async(
        JujuContext::new("probe/0", format!("hooks/{kind}")),
        Probe::new,
    ))
}

#[test]
fn a_future_dropped_while_pending_ends_its_span_and_leaves_no_frame() {
    let run = probe("dropped_early");
    assert_eq!(
        run.trace().tree(),
        "\
probe/0: dropped_early event
  event: dropped_early
    method call: Probe.dropped_early
      function call: never_ready
      function call: step
"
    );
    let dropped = run.trace().span("function call: never_ready").unwrap();
    assert!(dropped.end_unix_nano >= dropped.start_unix_nano);
}

#[test]
fn a_future_that_panics_is_marked_and_leaves_no_frame() {
    let run = probe("panicking");
    assert_eq!(
        run.trace().tree(),
        "\
probe/0: panicking event
  event: panicking
    method call: Probe.panicking_future
      function call: crash  [ERROR panic: crash in a future]
      function call: step
"
    );
}

#[test]
fn tracing_spans_and_charm_spans_nest_both_ways() {
    let run = probe("nested");
    assert_eq!(
        run.trace().tree(),
        "\
probe/0: nested event
  event: nested
    method call: Probe.nested_in_tracing
      outer
        function call: step
        inner  [ERROR inner failed]
          function call: step
"
    );
    // A WARN event fails nothing; an ERROR event fails its span, as tracing-opentelemetry
    // does.
    let outer = run.trace().span("outer").unwrap();
    assert_eq!(outer.status, SpanStatus::Unset);
    assert_eq!(outer.attribute("attempt"), Some("1"));
    assert_eq!(outer.events.len(), 1);
    assert_eq!(outer.events[0].name, "inside outer");
    assert!(
        outer.events[0]
            .attributes
            .contains(&("level".to_owned(), "WARN".to_owned()))
    );
    assert!(
        outer.events[0]
            .attributes
            .contains(&("code".to_owned(), "7".to_owned()))
    );
}

#[test]
fn a_tracing_event_outside_tracing_spans_goes_to_the_innermost_charm_span() {
    let run = probe("event");
    let method = run
        .trace()
        .span("method call: Probe.event_outside_tracing_spans")
        .unwrap();
    let names: Vec<_> = method.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["in a charm span"]);
    assert_eq!(
        method.status,
        SpanStatus::Unset,
        "an INFO event fails nothing"
    );
}

/// A sync charm whose handler runs traced async code on a runtime of its own.
pub struct BlockingProbe;

#[trace_charm(tracing_endpoint = "endpoint")]
impl BlockingProbe {
    /// The constructor.
    pub fn new(_ctx: JujuContext) -> Self {
        BlockingProbe
    }

    fn endpoint(&self) -> Option<String> {
        None
    }

    fn on_install(&mut self) {
        let span = tracing::info_span!("before tasks");
        let runtime = multi_thread();
        runtime.block_on(async {
            let task = tokio::spawn(never_ready_with_timeout());
            let _ = task.await;
        });
        drop(span);
    }
}

#[trace]
async fn never_ready_with_timeout() {
    let _ = tokio::time::timeout(std::time::Duration::from_millis(1), never_ready()).await;
    step();
}

impl Charm for BlockingProbe {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        self.on_install();
        Ok(())
    }
}

#[test]
fn run_hook_captures_tasks_a_sync_handler_spawns_on_a_runtime_of_its_own() {
    install_tracing();
    let run = run_hook(
        JujuContext::new("probe/0", "hooks/install"),
        BlockingProbe::new,
    );
    assert_eq!(
        run.trace().tree(),
        "\
probe/0: install event
  event: install
    method call: BlockingProbe.on_install
      before tasks
      function call: never_ready_with_timeout
        function call: never_ready
        function call: step
"
    );
}

/// Keeps the unused-`Poll` import honest: `Poll` is named in the probes' polls.
#[allow(dead_code)]
fn is_pending<T>(poll: &Poll<T>) -> bool {
    poll.is_pending()
}

/// A sync charm that logs an error through `tracing` outside any `tracing` span.
pub struct ErrorLogger;

#[trace_charm(tracing_endpoint = "endpoint")]
impl ErrorLogger {
    /// The constructor.
    pub fn new(_ctx: JujuContext) -> Self {
        ErrorLogger
    }

    fn endpoint(&self) -> Option<String> {
        None
    }

    fn on_start(&mut self) {
        tracing::error!("logged, then handled");
    }
}

impl Charm for ErrorLogger {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        self.on_start();
        Ok(())
    }
}

#[test]
fn an_error_event_in_a_charm_span_is_an_event_not_a_failure() {
    install_tracing();
    let run = run_hook(JujuContext::new("probe/0", "hooks/start"), ErrorLogger::new);
    let method = run
        .trace()
        .span("method call: ErrorLogger.on_start")
        .unwrap();
    assert_eq!(method.events.len(), 1);
    assert_eq!(method.events[0].name, "logged, then handled");
    assert_eq!(
        method.status,
        SpanStatus::Unset,
        "only the charm's Err fails it"
    );
}

#[test]
fn a_traced_future_keeps_every_argument_until_it_ends() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DROPPED: AtomicBool = AtomicBool::new(false);
    struct Permit;
    impl Drop for Permit {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::SeqCst);
        }
    }
    #[trace]
    async fn with_permit(_: Permit, (first, _): (u8, u8)) -> u8 {
        first
    }
    let future = with_permit(Permit, (1, 2));
    assert!(
        !DROPPED.load(Ordering::SeqCst),
        "an `async fn` holds its `_` argument"
    );
    assert_eq!(current_thread().block_on(future), 1);
    assert!(DROPPED.load(Ordering::SeqCst));
}

#[test]
fn tracing_instrument_on_a_traced_async_method_still_covers_its_body() {
    // `#[trace_charm]` leaves this `async fn` an `async fn`, so `#[tracing::instrument]`
    // (which expands after it) still wraps the body, and the charm span nests inside.
    let run = probe("instrumented");
    assert_eq!(
        run.trace().tree(),
        "\
probe/0: instrumented event
  event: instrumented
    instrumented
      method call: Probe.instrumented
        function call: step
"
    );
}

#[test]
fn a_tracing_span_made_before_the_hook_is_recorded_when_entered_in_it() {
    install_tracing();
    *EARLY.lock().unwrap() = Some(tracing::info_span!("early client"));
    let run = probe("early");
    assert_eq!(
        run.trace().tree(),
        "\
probe/0: early event
  event: early
    method call: Probe.early_span
      early client
        function call: step
"
    );
}
