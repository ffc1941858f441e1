//! Hooks run in-process with `charm_tracing::testing`: what a handler can call joins the
//! charm's trace (the OpenTelemetry global API, `charm_tracing::current_span`, custom events
//! with `charm_tracing::emit`).

#[path = "support/in_process.rs"]
mod fixtures;

use charm_tracing::testing::{HookOutcome, run_hook};
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use fixtures::run;
use opentelemetry::KeyValue;
use opentelemetry::trace::Span as _;

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
