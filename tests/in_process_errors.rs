//! Hooks run in-process with `charm_tracing::testing`: an `Err` or a panic marks every span
//! it crosses, the event span and the root, with an `exception` event.

#[path = "support/in_process.rs"]
mod fixtures;

use charm_tracing::testing::{HookOutcome, SpanStatus};
use fixtures::run;

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
