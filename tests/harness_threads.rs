//! Plain threads a hook spawns under `testing::run_hook` (nothing traced carries the run's
//! session to them): their spans are no run's, alone or beside another run, never the wrong
//! one's. (In production they are the hook's, under the root.)

use charm_tracing::testing::{HookRun, run_hook};
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use std::sync::Barrier;

/// Makes both runs of the second case be in progress when they spawn their threads.
static BOTH_RUNNING: Barrier = Barrier::new(2);

/// Spawns a plain thread that makes a traced call.
pub struct Spawner {
    wait_for_the_other: bool,
}

#[trace_charm(tracing_endpoint = "endpoint")]
impl Spawner {
    /// The constructor.
    pub fn new(ctx: JujuContext) -> Self {
        Spawner {
            wait_for_the_other: ctx.event().kind() == "start",
        }
    }

    fn endpoint(&self) -> Option<String> {
        None
    }

    fn on_event(&mut self) {
        if self.wait_for_the_other {
            BOTH_RUNNING.wait();
        }
        let _ = std::thread::spawn(work).join();
        if self.wait_for_the_other {
            BOTH_RUNNING.wait();
        }
    }
}

#[trace]
fn work() {}

impl Charm for Spawner {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        self.on_event();
        Ok(())
    }
}

fn run(dispatch_path: &str) -> HookRun {
    run_hook(JujuContext::new("spawner/0", dispatch_path), Spawner::new)
}

#[test]
fn plain_spawned_threads_record_into_no_run_alone_or_beside_another() {
    assert_eq!(
        run("hooks/install").trace().tree(),
        "\
spawner/0: install event
  event: install
    method call: Spawner.on_event
"
    );
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run("hooks/start"));
        let b = scope.spawn(|| run("hooks/start"));
        (a.join().expect("run a"), b.join().expect("run b"))
    });
    for run in [a, b] {
        assert_eq!(
            run.trace().tree(),
            "\
spawner/0: start event
  event: start
    method call: Spawner.on_event
"
        );
    }
}
