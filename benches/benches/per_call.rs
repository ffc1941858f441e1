//! The cost of one traced call, side by side with its peers, flat and nested (depth 10).
//!
//! Benchmarks that record spans use a fixed sample size (100 samples of 50 calls flat, of 10
//! chains nested), so that a session holds a few thousand spans, as a large hook does, rather
//! than the million that auto-tuning would pile into one never-ending session.
//!
//! ```text
//! cargo bench -p charm-tracing-benches --bench per_call
//! ```

use charm_tracing::testing::run_hook;
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use divan::Bencher;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
#[allow(unused_imports)]
use opentelemetry_sdk as _;
use std::hint::black_box;

fn main() {
    divan::main();
}

// ---- the same trivial body under every instrumentation -------------------------------

#[inline(never)]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[trace]
#[inline(never)]
fn charm_traced(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[trace]
#[inline(never)]
fn charm_nested(depth: u32, x: u64) -> u64 {
    if depth == 0 {
        black_box(x).wrapping_mul(3)
    } else {
        charm_nested(depth - 1, x)
    }
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tracing_instrumented(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tracing_nested(depth: u32, x: u64) -> u64 {
    if depth == 0 {
        black_box(x).wrapping_mul(3)
    } else {
        tracing_nested(depth - 1, x)
    }
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_traced(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_nested(depth: u32, x: u64) -> u64 {
    if depth == 0 {
        black_box(x).wrapping_mul(3)
    } else {
        fastrace_nested(depth - 1, x)
    }
}

/// Eleven real calls, like the traced chains (the compiler may not fold them into one).
#[inline(never)]
fn plain_nested(depth: u32, x: u64) -> u64 {
    if depth == 0 {
        plain(x)
    } else {
        black_box(plain_nested(depth - 1, x))
    }
}

// ---- a charm whose handler runs the benchmark inside a live session -------------------

/// Runs `f` inside a real hook session (the testing harness: same hot path, no delivery).
fn in_session<'a, F: FnOnce() + 'a>(f: F) {
    struct BenchCharm<'a>(Option<Box<dyn FnOnce() + 'a>>);
    #[trace_charm(tracing_endpoint = "endpoint")]
    impl<'a> BenchCharm<'a> {
        fn new(_ctx: JujuContext) -> Self {
            BenchCharm(None)
        }
        fn endpoint(&self) -> Option<&str> {
            None
        }
    }
    impl Charm for BenchCharm<'_> {
        fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
            if let Some(f) = self.0.take() {
                f();
            }
            Ok(())
        }
    }
    let mut slot = Some(Box::new(f) as Box<dyn FnOnce() + 'a>);
    let run = run_hook(JujuContext::new("bench/0", "hooks/start"), move |ctx| {
        let mut charm = BenchCharm::new(ctx);
        charm.0 = slot.take();
        charm
    });
    assert!(run.trace.is_some(), "the benchmark ran in a session");
}

/// Runs `f` inside a hook session whose trace budget (64 KiB) is already spent, so that
/// every traced call is folded.
fn in_spent_session<'a, F: FnOnce() + 'a>(f: F) {
    struct SmallCharm<'a>(Option<Box<dyn FnOnce() + 'a>>);
    #[trace_charm(tracing_endpoint = "endpoint", trace_max_size_kib = 64)]
    impl<'a> SmallCharm<'a> {
        fn new(_ctx: JujuContext) -> Self {
            SmallCharm(None)
        }
        fn endpoint(&self) -> Option<&str> {
            None
        }
    }
    impl Charm for SmallCharm<'_> {
        fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
            // Far more calls than 64 KiB holds: the budget is spent.
            for x in 0..5_000 {
                charm_traced(black_box(x));
            }
            if let Some(f) = self.0.take() {
                f();
            }
            Ok(())
        }
    }
    let mut slot = Some(Box::new(f) as Box<dyn FnOnce() + 'a>);
    let run = run_hook(JujuContext::new("bench/0", "hooks/start"), move |ctx| {
        let mut charm = SmallCharm::new(ctx);
        charm.0 = slot.take();
        charm
    });
    let trace = run.trace();
    assert!(
        trace
            .spans
            .iter()
            .any(|s| s.attribute("charm_tracing.folded_calls").is_some()),
        "the benchmark's calls were folded"
    );
}

const DEPTH: u32 = 10;

#[divan::bench_group(name = "flat")]
mod flat {
    use super::*;

    #[divan::bench]
    fn plain_call(bencher: Bencher) {
        bencher.bench_local(|| plain(black_box(7)));
    }

    #[divan::bench(sample_size = 50)]
    fn charm_tracing_enabled(bencher: Bencher) {
        // Spans accumulate in the session; divan's sample count bounds them.
        in_session(move || bencher.bench_local(|| charm_traced(black_box(7))));
    }

    #[divan::bench(sample_size = 50)]
    fn charm_tracing_folded(bencher: Bencher) {
        // The trace's budget is spent: each call is counted in its fold span.
        in_spent_session(move || bencher.bench_local(|| charm_traced(black_box(7))));
    }

    #[divan::bench]
    fn charm_tracing_off(bencher: Bencher) {
        in_session(move || {
            let _off = charm_tracing::disabled();
            bencher.bench_local(|| charm_traced(black_box(7)));
        });
    }

    #[divan::bench]
    fn charm_tracing_no_session(bencher: Bencher) {
        bencher.bench_local(|| charm_traced(black_box(7)));
    }

    #[divan::bench(sample_size = 50)]
    fn otel_sdk_start_end(bencher: Bencher) {
        let provider = sdk_provider();
        let tracer = provider.tracer("bench");
        bencher.bench_local(|| {
            let mut span = tracer.start("function call: raw");
            let out = plain(black_box(7));
            span.end();
            out
        });
    }

    #[divan::bench(sample_size = 50)]
    fn otel_sdk_in_span(bencher: Bencher) {
        let provider = sdk_provider();
        let tracer = provider.tracer("bench");
        bencher.bench_local(|| tracer.in_span("function call: raw", |_| plain(black_box(7))));
    }

    #[divan::bench(sample_size = 50)]
    fn tracing_opentelemetry_instrument(bencher: Bencher) {
        let _guard = tracing_subscriber_guard();
        bencher.bench_local(|| tracing_instrumented(black_box(7)));
    }

    #[divan::bench(sample_size = 50)]
    fn fastrace_under_root(bencher: Bencher) {
        fastrace_setup();
        let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
        let _guard = root.set_local_parent();
        bencher.bench_local(|| fastrace_traced(black_box(7)));
    }
}

#[divan::bench_group(name = "nested_depth_10")]
mod nested {
    use super::*;

    #[divan::bench]
    fn plain_call(bencher: Bencher) {
        bencher.bench_local(|| plain_nested(black_box(DEPTH), black_box(7)));
    }

    #[divan::bench(sample_size = 10)]
    fn charm_tracing_enabled(bencher: Bencher) {
        in_session(move || bencher.bench_local(|| charm_nested(DEPTH, black_box(7))));
    }

    #[divan::bench]
    fn charm_tracing_off(bencher: Bencher) {
        in_session(move || {
            let _off = charm_tracing::disabled();
            bencher.bench_local(|| charm_nested(DEPTH, black_box(7)));
        });
    }

    #[divan::bench(sample_size = 10)]
    fn otel_sdk_in_span(bencher: Bencher) {
        let provider = sdk_provider();
        let tracer = provider.tracer("bench");
        fn nest(tracer: &opentelemetry_sdk::trace::SdkTracer, depth: u32) -> u64 {
            tracer.in_span("function call: raw", |_| {
                if depth == 0 {
                    plain(black_box(7))
                } else {
                    nest(tracer, depth - 1)
                }
            })
        }
        bencher.bench_local(|| nest(&tracer, DEPTH));
    }

    #[divan::bench(sample_size = 10)]
    fn tracing_opentelemetry_instrument(bencher: Bencher) {
        let _guard = tracing_subscriber_guard();
        bencher.bench_local(|| tracing_nested(DEPTH, black_box(7)));
    }

    #[divan::bench(sample_size = 10)]
    fn fastrace_under_root(bencher: Bencher) {
        fastrace_setup();
        let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
        let _guard = root.set_local_parent();
        bencher.bench_local(|| fastrace_nested(DEPTH, black_box(7)));
    }
}

// ---- peers' setup: each records into memory, as charm-tracing does --------------------

/// Keeps ended spans in memory, as charm-tracing does until the hook ends.
#[derive(Debug, Default)]
struct CollectInMemory(std::sync::Mutex<Vec<opentelemetry_sdk::trace::SpanData>>);

impl opentelemetry_sdk::trace::SpanProcessor for CollectInMemory {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        if let Ok(mut spans) = self.0.lock()
            && spans.len() < 1_000_000
        {
            spans.push(span);
        }
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(
        &self,
        _timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// An SDK provider whose spans are kept in memory.
fn sdk_provider() -> opentelemetry_sdk::trace::SdkTracerProvider {
    opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(CollectInMemory::default())
        .build()
}

fn tracing_subscriber_guard() -> tracing::subscriber::DefaultGuard {
    use tracing_subscriber::layer::SubscriberExt;
    let provider = sdk_provider();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
}

fn fastrace_setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        struct Discard;
        impl fastrace::collector::Reporter for Discard {
            fn report(&mut self, _spans: Vec<fastrace::collector::SpanRecord>) {}
        }
        fastrace::set_reporter(Discard, fastrace::collector::Config::default());
    });
}

// ---- the `tracing` bridge and async spans ----------------------------------------------

#[trace]
#[inline(never)]
async fn charm_traced_async(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
async fn plain_async(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// Polls a future that is ready at once, as an executor would.
fn poll_once<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => unreachable!("the benchmarked futures are ready at once"),
    }
}

fn charm_tracing_layer_guard() -> tracing::subscriber::DefaultGuard {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::subscriber::set_default(
        tracing_subscriber::registry().with(charm_tracing::tracing_layer()),
    )
}

#[divan::bench_group(name = "bridge_and_async")]
mod bridge_and_async {
    use super::*;

    #[divan::bench(sample_size = 50)]
    fn tracing_instrument_into_charm_tracing(bencher: Bencher) {
        let _guard = charm_tracing_layer_guard();
        in_session(move || bencher.bench_local(|| tracing_instrumented(black_box(7))));
    }

    #[divan::bench(sample_size = 50)]
    fn tracing_instrument_no_session(bencher: Bencher) {
        let _guard = charm_tracing_layer_guard();
        bencher.bench_local(|| tracing_instrumented(black_box(7)));
    }

    /// The registry alone: what `tracing` costs before any layer does anything.
    #[divan::bench(sample_size = 50)]
    fn tracing_instrument_bare_registry(bencher: Bencher) {
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry());
        bencher.bench_local(|| tracing_instrumented(black_box(7)));
    }

    #[divan::bench(sample_size = 50)]
    fn tracing_opentelemetry_instrument(bencher: Bencher) {
        let _guard = tracing_subscriber_guard();
        bencher.bench_local(|| tracing_instrumented(black_box(7)));
    }

    #[divan::bench]
    fn plain_async_fn(bencher: Bencher) {
        bencher.bench_local(|| poll_once(plain_async(black_box(7))));
    }

    #[divan::bench(sample_size = 50)]
    fn charm_tracing_async_fn(bencher: Bencher) {
        in_session(move || bencher.bench_local(|| poll_once(charm_traced_async(black_box(7)))));
    }

    #[divan::bench(sample_size = 50)]
    fn charm_tracing_sync_fn(bencher: Bencher) {
        in_session(move || bencher.bench_local(|| charm_traced(black_box(7))));
    }
}
