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
