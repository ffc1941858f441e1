//! `disabled()` turns tracing off for the whole process, so it has a test binary of its own.

use charm_tracing::testing::run_hook;
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace_charm};

struct Quiet;

#[trace_charm(tracing_endpoint = "endpoint")]
impl Quiet {
    fn new(_ctx: JujuContext) -> Self {
        Quiet
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
    fn work(&self) {}
}

impl Charm for Quiet {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        self.work();
        Ok(())
    }
}

/// The guard is process-wide: tests that take it run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn traced() -> Option<usize> {
    run_hook(JujuContext::new("q/0", "hooks/start"), Quiet::new)
        .trace
        .map(|t| t.spans.len())
}

#[test]
fn disabled_guard_turns_tracing_off_and_restores_it_even_on_panic() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(charm_tracing::is_enabled());
    assert_eq!(traced(), Some(3));
    {
        let _off = charm_tracing::disabled();
        assert!(!charm_tracing::is_enabled());
        assert_eq!(traced(), None, "no session starts while disabled");
        {
            let _nested = charm_tracing::disabled();
        }
        assert!(
            !charm_tracing::is_enabled(),
            "an inner guard does not re-enable"
        );
    }
    assert!(charm_tracing::is_enabled());
    let unwound = std::panic::catch_unwind(|| {
        let _off = charm_tracing::disabled();
        panic!("while disabled");
    });
    assert!(unwound.is_err());
    assert!(charm_tracing::is_enabled(), "restored after a panic");
    assert_eq!(traced(), Some(3));
    assert!(
        std::env::var_os("CHARM_TRACING_ENABLED").is_none(),
        "the environment is untouched"
    );
}

#[test]
fn disabled_mid_hook_stops_recording_spans() {
    struct Switch;
    #[trace_charm(tracing_endpoint = "endpoint")]
    impl Switch {
        fn new(_ctx: JujuContext) -> Self {
            Switch
        }
        fn endpoint(&self) -> Option<&str> {
            None
        }
        fn seen(&self) {}
        fn unseen(&self) {}
    }
    impl Charm for Switch {
        fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
            self.seen();
            let _off = charm_tracing::disabled();
            self.unseen();
            Ok(())
        }
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = run_hook(JujuContext::new("s/0", "hooks/start"), Switch::new);
    let tree = run.trace().tree();
    assert!(tree.contains("method call: Switch.seen"), "{tree}");
    assert!(!tree.contains("unseen"), "{tree}");
}

/// A charm whose handler reports through `tracing`.
struct Reporter;

#[trace_charm(tracing_endpoint = "endpoint")]
impl Reporter {
    fn new(_ctx: JujuContext) -> Self {
        Reporter
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
}

impl Charm for Reporter {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        tracing::info_span!("library call", attempt = 1_u64).in_scope(|| {
            tracing::error!("the library failed");
        });
        tracing::warn!("outside any span");
        Ok(())
    }
}

#[test]
fn the_tracing_layer_with_tracing_off_records_nothing_and_never_fails_the_hook() {
    use tracing_subscriber::prelude::*;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Installed before any session, as a charm's `main` does.
    let _ = tracing_subscriber::registry()
        .with(charm_tracing::tracing_layer())
        .try_init();
    let reporter = || run_hook(JujuContext::new("r/0", "hooks/start"), Reporter::new);
    {
        let _off = charm_tracing::disabled();
        let run = reporter();
        assert!(matches!(
            run.outcome,
            charm_tracing::testing::HookOutcome::Succeeded
        ));
        assert!(run.trace.is_none());
    }
    // With tracing back on, the same hook's `tracing` span is in its trace.
    let run = reporter();
    let trace = run.trace();
    assert!(trace.span("library call").is_some(), "{}", trace.tree());
    let handler_events = &trace.span("event: start").expect("event span").events;
    assert!(
        handler_events.iter().any(|e| e.name == "outside any span"),
        "{handler_events:?}"
    );
}
