//! Hooks run in-process with `charm_tracing::testing`: every form the macros accept, the
//! OpenTelemetry API interop, async fns, errors, and isolation between parallel tests.

use charm_tracing::testing::{HookOutcome, HookRun, SpanStatus, run_hook};
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, get_active_span};
use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;

/// Polls a future to completion on this thread, yielding once per `Yield`.
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// A future that is pending once.
struct Yield(bool);
impl Future for Yield {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

#[derive(Debug)]
struct Oops;
impl Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}
impl std::error::Error for Oops {}

/// Every signature form under `#[trace]`.
struct Forms<T> {
    items: Vec<T>,
    name: String,
}

#[trace]
impl<T: Clone + std::fmt::Debug> Forms<T> {
    fn by_ref(&self) -> usize {
        self.items.len()
    }
    fn by_mut(&mut self, item: T) {
        self.items.push(item);
    }
    fn by_value(self) -> Vec<T> {
        self.items
    }
    fn borrowed_str(&self) -> &str {
        &self.name
    }
    fn borrowed_mut(&mut self) -> &mut Vec<T> {
        &mut self.items
    }
    fn with_lifetime<'a>(&'a self, other: &'a str) -> &'a str {
        if self.name.is_empty() {
            other
        } else {
            &self.name
        }
    }
    fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.items.iter()
    }
    fn generic<U: Display>(&self, value: U) -> String {
        format!("{value}{}", self.items.len())
    }
    fn early_return(&self, flag: bool) -> Result<u8, Oops> {
        if flag {
            return Err(Oops);
        }
        let parsed: u8 = "7".parse().map_err(|_| Oops)?;
        Ok(parsed)
    }
    fn associated() -> &'static str {
        "assoc"
    }
    /// # Safety
    /// None needed; checks that `unsafe fn` keeps working.
    unsafe fn unsafe_method(&self) -> usize {
        self.items.len()
    }
    const fn constant() -> u8 {
        3
    }
    #[trace(skip)]
    fn skipped(&self) -> usize {
        0
    }
    #[trace(name = "custom name")]
    fn renamed(&self) {}
    fn boxed_error(&self) -> Result<(), HandlerError> {
        Err(Box::new(Oops))
    }
    fn boxed_self(self: Box<Self>) -> usize {
        self.items.len()
    }
    fn mut_self(mut self) -> usize {
        self.items.clear();
        self.items.len()
    }
    async fn async_method(&self) -> usize {
        Yield(false).await;
        self.by_ref()
    }
}

trait Greeter {
    fn greet(&self) -> String;
}

#[trace]
impl Greeter for Forms<u8> {
    fn greet(&self) -> String {
        "hi".to_owned()
    }
}

/// A method under a lone `#[trace]`.
struct Lone;
impl Lone {
    #[trace]
    fn alone(&self) -> u8 {
        1
    }
}

#[trace]
fn free<'a, T: AsRef<str> + ?Sized>(value: &'a T) -> &'a str {
    value.as_ref()
}

#[trace]
async fn fetch(n: u8) -> Result<u8, Oops> {
    Yield(false).await;
    inner_after_await();
    if n == 0 { Err(Oops) } else { Ok(n) }
}

#[trace]
fn inner_after_await() {}

#[trace(name = "renamed fn")]
fn renamed_fn() {}

#[trace]
fn never_returns_err() -> impl Display {
    5
}

/// The test charm.
struct TestCharm {
    ctx: JujuContext,
    forms: Option<Forms<u8>>,
    endpoint: Option<String>,
    cert: Option<PathBuf>,
}

#[trace_charm(
    tracing_endpoint = "endpoint",
    server_cert = "cert",
    buffer_max_events = 42,
    buffer_max_size_mib = 42,
    buffer_path = "/charm-traces/buffer",
    export_timeout_ms = 500
)]
impl TestCharm {
    fn new(ctx: JujuContext) -> Self {
        TestCharm {
            ctx,
            forms: Some(Forms {
                items: vec![1],
                name: "forms".into(),
            }),
            endpoint: None,
            cert: None,
        }
    }

    fn on_forms(&mut self) -> Result<(), HandlerError> {
        let mut forms = self.forms.take().unwrap();
        forms.by_mut(2);
        assert_eq!(forms.by_ref(), 2);
        assert_eq!(forms.borrowed_str(), "forms");
        forms.borrowed_mut().push(3);
        assert_eq!(forms.with_lifetime("x"), "forms");
        assert_eq!(forms.iter().count(), 3);
        assert_eq!(forms.generic("n"), "n3");
        assert!(forms.early_return(true).is_err());
        assert_eq!(forms.early_return(false).unwrap(), 7);
        assert_eq!(Forms::<u8>::associated(), "assoc");
        // SAFETY: `unsafe_method` has no safety requirements.
        assert_eq!(unsafe { forms.unsafe_method() }, 3);
        assert_eq!(Forms::<u8>::constant(), 3);
        assert_eq!(forms.skipped(), 0);
        forms.renamed();
        assert!(forms.boxed_error().is_err());
        assert_eq!(block_on(forms.async_method()), 3);
        assert_eq!(forms.greet(), "hi");
        assert_eq!(Lone.alone(), 1);
        assert_eq!(free("abc"), "abc");
        renamed_fn();
        assert_eq!(never_returns_err().to_string(), "5");
        let copy = Forms {
            items: forms.items.clone(),
            name: String::new(),
        };
        assert_eq!(Box::new(copy).boxed_self(), 3);
        let copy = Forms {
            items: forms.items.clone(),
            name: String::new(),
        };
        assert_eq!(copy.mut_self(), 0);
        assert_eq!(forms.by_value().len(), 3);
        Ok(())
    }

    fn on_async(&mut self) -> Result<(), HandlerError> {
        assert_eq!(block_on(fetch(4)).unwrap(), 4);
        assert!(block_on(fetch(0)).is_err());
        Ok(())
    }

    fn on_interop(&mut self) -> Result<(), HandlerError> {
        get_active_span(|span| span.add_event("from get_active_span", vec![]));
        let tracer = opentelemetry::global::tracer("manual");
        tracer.in_span("manual work", |cx| {
            cx.span().set_attribute(KeyValue::new("rows", 3));
            self.helper_in_manual();
        });
        if let Some(mut span) = charm_tracing::current_span() {
            span.set_attribute(KeyValue::new("handler", "interop"));
        }
        Ok(())
    }

    fn helper_in_manual(&self) {}

    fn on_fail(&mut self) -> Result<(), HandlerError> {
        self.step_that_fails()?;
        Ok(())
    }

    fn step_that_fails(&self) -> Result<(), Oops> {
        Err(Oops)
    }

    fn on_panic(&mut self) -> Result<(), HandlerError> {
        panic!("handler exploded");
    }

    fn on_nested_emit(&mut self) -> Result<(), HandlerError> {
        charm_tracing::emit("reconcile", || self.reconcile())
    }

    fn reconcile(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn on_unit(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }
}

impl Charm for TestCharm {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        match event.kind() {
            "forms_action" => self.on_forms(),
            "async_action" => self.on_async(),
            "interop_action" => self.on_interop(),
            "fail_action" => self.on_fail(),
            "panic_action" => self.on_panic(),
            "emit_action" => self.on_nested_emit(),
            _ => self.on_unit(),
        }
    }
}

fn run(dispatch_path: &str) -> HookRun {
    run_hook(
        JujuContext::new("test-app/7", dispatch_path).with_model("m", "uuid-1"),
        TestCharm::new,
    )
}

#[test]
fn every_signature_form_is_traced() {
    let run = run("actions/forms");
    assert!(
        matches!(run.outcome, HookOutcome::Succeeded),
        "{:?}",
        run.outcome
    );
    let tree = run.trace().tree();
    assert_eq!(
        tree,
        "\
test-app/7: forms event
  event: forms_action
    method call: TestCharm.on_forms
      method call: Forms.by_mut
      method call: Forms.by_ref
      method call: Forms.borrowed_str
      method call: Forms.borrowed_mut
      method call: Forms.with_lifetime
      method call: Forms.iter
      method call: Forms.generic
      method call: Forms.early_return  [ERROR Oops: oops]
      method call: Forms.early_return
      method call: Forms.associated
      method call: Forms.unsafe_method
      custom name
      method call: Forms.boxed_error  [ERROR Oops: oops]
      method call: Forms.async_method
        method call: Forms.by_ref
      method call: Forms.greet
      method call: Lone.alone
      function call: free
      renamed fn
      function call: never_returns_err
      method call: Forms.boxed_self
      method call: Forms.mut_self
      method call: Forms.by_value
"
    );
}

#[test]
fn async_fns_are_traced_across_awaits() {
    let run = run("actions/async");
    let trace = run.trace();
    assert_eq!(
        trace.tree(),
        "\
test-app/7: async event
  event: async_action
    method call: TestCharm.on_async
      function call: fetch
        function call: inner_after_await
      function call: fetch  [ERROR Oops: oops]
        function call: inner_after_await
"
    );
}

#[test]
fn opentelemetry_api_joins_the_charm_trace() {
    let run = run("actions/interop");
    let trace = run.trace();
    assert_eq!(
        trace.tree(),
        "\
test-app/7: interop event
  event: interop_action
    method call: TestCharm.on_interop
      manual work
        method call: TestCharm.helper_in_manual
"
    );
    let handler = trace.span("method call: TestCharm.on_interop").unwrap();
    assert_eq!(handler.events[0].name, "from get_active_span");
    assert_eq!(handler.attribute("handler"), Some("interop"));
    let manual = trace.span("manual work").unwrap();
    assert_eq!(manual.attribute("rows"), Some("3"));
    assert_eq!(manual.kind, "INTERNAL");
}

#[test]
fn errors_mark_every_span_they_cross_and_the_root() {
    let run = run("actions/fail");
    assert!(matches!(run.outcome, HookOutcome::Failed(_)));
    let trace = run.trace();
    for name in [
        "test-app/7: fail event",
        "event: fail_action",
        "method call: TestCharm.on_fail",
        "method call: TestCharm.step_that_fails",
    ] {
        let span = trace.span(name).unwrap();
        assert_eq!(
            span.status,
            SpanStatus::Error("Oops: oops".into()),
            "{name}"
        );
        let exception = span.events.iter().find(|e| e.name == "exception").unwrap();
        assert!(
            exception
                .attributes
                .contains(&("exception.type".into(), "Oops".into()))
        );
        assert!(
            exception
                .attributes
                .contains(&("exception.message".into(), "oops".into()))
        );
    }
}

#[test]
fn panics_mark_spans_and_are_reported() {
    let run = run("actions/panic");
    match &run.outcome {
        HookOutcome::Panicked(message) => assert_eq!(message, "handler exploded"),
        other => panic!("expected a panic, got {other:?}"),
    }
    let trace = run.trace();
    for name in [
        "test-app/7: panic event",
        "event: panic_action",
        "method call: TestCharm.on_panic",
    ] {
        let span = trace.span(name).unwrap();
        assert_eq!(
            span.status,
            SpanStatus::Error("panic: handler exploded".into()),
            "{name}"
        );
        let exception = span.events.iter().find(|e| e.name == "exception").unwrap();
        let has_stacktrace = exception
            .attributes
            .iter()
            .any(|(k, _)| k == "exception.stacktrace");
        // Once, on the span where the panic started.
        assert_eq!(
            has_stacktrace,
            name == "method call: TestCharm.on_panic",
            "{name}"
        );
    }
}

#[test]
fn custom_events_nest_under_the_emitting_method() {
    let run = run("actions/emit");
    let trace = run.trace();
    assert_eq!(
        trace.tree(),
        "\
test-app/7: emit event
  event: emit_action
    method call: TestCharm.on_nested_emit
      event: reconcile
        method call: TestCharm.reconcile
"
    );
    assert_eq!(
        trace.span("event: reconcile").unwrap().events[0].name,
        "reconcile"
    );
}

#[test]
fn resource_defaults_follow_the_app_name() {
    let run = run("hooks/update-status");
    let trace = run.trace();
    assert_eq!(
        trace.resource_attribute("service.name"),
        Some("test-app-charm")
    );
    assert_eq!(
        trace.resource_attribute("compose_service"),
        Some("test-app-charm")
    );
    assert_eq!(trace.resource_attribute("charm_type"), Some("TestCharm"));
    assert_eq!(
        trace.resource_attribute("juju_application"),
        Some("test-app")
    );
    assert_eq!(trace.resource_attribute("juju_model"), Some("m"));
    assert_eq!(trace.resource_attribute("juju_model_uuid"), Some("uuid-1"));
    assert_eq!(trace.scope, "test-app-charm");
    assert_eq!(
        trace.root().unwrap().name,
        "test-app/7: update-status event"
    );
    assert_eq!(
        trace.root().unwrap().attribute("juju.dispatch_path"),
        Some("hooks/update-status")
    );
    assert_eq!(
        trace.spans.last().unwrap().name,
        "test-app/7: update-status event"
    );
}

#[test]
fn parallel_hooks_never_see_each_others_spans() {
    // Each hook run alone first: the trees the parallel runs must give, span for span.
    let alone = |path: &str| {
        run_hook(JujuContext::new("alone/0", path), TestCharm::new)
            .trace()
            .tree()
    };
    let expected_forms = alone("actions/forms");
    let expected_emit = alone("actions/emit");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let unit = format!("app{i}/0");
                let path = if i % 2 == 0 {
                    "actions/forms"
                } else {
                    "actions/emit"
                };
                let run = run_hook(JujuContext::new(unit.clone(), path), TestCharm::new);
                let trace = run.trace.expect("a trace");
                (unit, path, trace)
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for handle in handles {
        let (unit, path, trace) = handle.join().unwrap();
        assert!(ids.insert(trace.trace_id.clone()), "trace ids are unique");
        assert_eq!(trace.resource_attribute("juju_unit"), Some(unit.as_str()));
        let expected = if path == "actions/forms" {
            &expected_forms
        } else {
            &expected_emit
        };
        assert_eq!(
            &trace.tree().replacen(&unit, "alone/0", 1),
            expected,
            "{unit}"
        );
        let roots = trace
            .spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .count();
        assert_eq!(roots, 1);
        for span in &trace.spans {
            if span.parent_span_id.is_some() {
                assert!(
                    trace.parent(span).is_some(),
                    "{} has a parent in its own trace",
                    span.name
                );
            }
        }
    }
}

#[test]
fn outside_a_session_traced_code_just_runs() {
    assert!(charm_tracing::current_span().is_none());
    assert_eq!(free("x"), "x");
    assert_eq!(block_on(fetch(2)).unwrap(), 2);
    let charm = TestCharm::new(JujuContext::new("lonely/0", "hooks/start"));
    assert_eq!(charm.endpoint(), None);
    assert_eq!(charm.cert, None);
    assert_eq!(charm.ctx.unit_name(), "lonely/0");
}

#[test]
fn current_span_is_the_innermost_traced_call() {
    struct Probe;
    #[trace]
    impl Probe {
        fn look(&self) -> Option<String> {
            charm_tracing::current_span().map(|span| span.trace_id_hex())
        }
    }
    struct ProbeCharm;
    #[trace_charm(tracing_endpoint = "endpoint")]
    impl ProbeCharm {
        fn new(_ctx: JujuContext) -> Self {
            ProbeCharm
        }
        fn endpoint(&self) -> &str {
            ""
        }
    }
    impl Charm for ProbeCharm {
        fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
            let seen = Probe.look().ok_or("no current span")?;
            let mut span = charm_tracing::current_span().ok_or("no current span")?;
            span.add_event("probed", vec![KeyValue::new("trace", seen)]);
            Ok(())
        }
    }
    let run = run_hook(JujuContext::new("p/0", "hooks/start"), ProbeCharm::new);
    assert!(
        matches!(run.outcome, HookOutcome::Succeeded),
        "{:?}",
        run.outcome
    );
    let trace = run.trace();
    let event = trace.span("event: start").unwrap();
    let probed = event.events.iter().find(|e| e.name == "probed").unwrap();
    assert_eq!(probed.attributes[0].1, trace.trace_id);
}

/// `"name()"`: the endpoint comes from a method defined in another impl block.
struct ElsewhereCharm {
    config: Vec<(String, String)>,
}

impl ElsewhereCharm {
    fn configured_endpoint(&self) -> Option<String> {
        self.config
            .iter()
            .find(|(k, _)| k == "endpoint")
            .map(|(_, v)| v.clone())
    }
}

#[trace_charm(tracing_endpoint = "configured_endpoint()", service_name = "elsewhere")]
impl ElsewhereCharm {
    fn new(_ctx: JujuContext) -> Self {
        ElsewhereCharm {
            config: vec![("endpoint".into(), String::new())],
        }
    }
    fn on_start(&self) {}
}

impl Charm for ElsewhereCharm {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        self.on_start();
        Ok(())
    }
}

#[test]
fn members_may_live_in_another_impl_block() {
    let run = run_hook(JujuContext::new("e/0", "hooks/start"), ElsewhereCharm::new);
    let trace = run.trace();
    assert_eq!(trace.resource_attribute("service.name"), Some("elsewhere"));
    assert_eq!(
        trace.tree(),
        "e/0: start event\n  event: start\n    method call: ElsewhereCharm.on_start\n"
    );
}

/// A charm that ends its session early, then keeps working, and builds a second charm.
struct EarlyShutdown;

#[trace_charm(tracing_endpoint = "endpoint")]
impl EarlyShutdown {
    fn new(_ctx: JujuContext) -> Self {
        EarlyShutdown
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
    fn before(&self) {}
    fn after(&self) {}
}

impl Charm for EarlyShutdown {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        if event.kind() == "second_charm_action" {
            // One session per process (here: per harness thread): a second charm instance
            // neither starts a trace nor disturbs the running one.
            let second = TestCharm::new(JujuContext::new("other/1", "hooks/start"));
            assert!(second.forms.is_some());
            self.before();
            return Ok(());
        }
        self.before();
        charm_tracing::shutdown();
        charm_tracing::shutdown();
        self.after();
        Ok(())
    }
}

#[test]
fn shutdown_is_idempotent_and_ends_recording() {
    let run = run_hook(
        JujuContext::new("early/0", "hooks/start"),
        EarlyShutdown::new,
    );
    assert!(
        matches!(run.outcome, HookOutcome::Succeeded),
        "{:?}",
        run.outcome
    );
    let tree = run.trace().tree();
    assert_eq!(
        tree, "early/0: start event\n  event: start\n    method call: EarlyShutdown.before\n",
        "spans after shutdown() are not recorded; open ones are closed by it"
    );
}

#[test]
fn a_second_charm_in_the_same_hook_starts_no_second_session() {
    let run = run_hook(
        JujuContext::new("early/0", "actions/second-charm"),
        EarlyShutdown::new,
    );
    let trace = run.trace();
    assert_eq!(trace.resource_attribute("juju_unit"), Some("early/0"));
    assert_eq!(
        trace.resource_attribute("charm_type"),
        Some("EarlyShutdown")
    );
    assert!(trace.spans.iter().all(|s| !s.name.contains("TestCharm")));
    assert!(trace.span("method call: EarlyShutdown.before").is_some());
}

/// A trait whose default method is traced on its own: its code runs for every implementor.
trait Refresh {
    #[trace]
    fn refresh(&self) {}
}

struct Alpha;
struct Beta;
impl Refresh for Alpha {}
impl Refresh for Beta {}

/// A blanket impl: one traced method for every `T: Display`.
trait Describe {
    fn describe(&self) -> usize;
}

impl<T: Display> Describe for T {
    #[trace]
    fn describe(&self) -> usize {
        self.to_string().len()
    }
}

struct Shared;

#[trace_charm(tracing_endpoint = "endpoint")]
impl Shared {
    fn new(_ctx: JujuContext) -> Self {
        Shared
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
}

impl Charm for Shared {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        Beta.refresh();
        Alpha.refresh();
        Beta.refresh();
        7_u8.describe();
        "text".describe();
        Ok(())
    }
}

#[test]
fn a_method_traced_alone_in_generic_code_is_named_after_each_self_type() {
    let run = run_hook(JujuContext::new("shared/0", "hooks/start"), Shared::new);
    assert_eq!(
        run.trace().tree(),
        "\
shared/0: start event
  event: start
    method call: Beta.refresh
    method call: Alpha.refresh
    method call: Beta.refresh
    method call: u8.describe
    method call: str.describe
"
    );
}
