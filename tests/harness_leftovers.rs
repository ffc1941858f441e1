//! What a hook leaves behind in the process: nothing. Alone in its test binary, so the
//! process-wide probes see no other test's sessions.

use charm_tracing::testing::run_hook_async;
use charm_tracing::{AsyncCharm, Event, HandlerError, JujuContext, trace, trace_charm};
use charm_tracing_runtime::__probe;
use std::time::Duration;

/// Hangs in `install`; crashes a task in `start`.
pub struct Stuck;

#[trace_charm(tracing_endpoint = "endpoint")]
impl Stuck {
    /// The constructor.
    pub fn new(_ctx: JujuContext) -> Self {
        Stuck
    }

    fn endpoint(&self) -> Option<String> {
        None
    }
}

#[trace]
async fn crash() {
    tokio::task::yield_now().await;
    panic!("task crashed");
}

#[trace]
async fn wait() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

impl AsyncCharm for Stuck {
    async fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        if event.kind() == "install" {
            std::future::pending::<()>().await;
        }
        for _ in 0..8 {
            let _ = tokio::spawn(crash()).await;
            tokio::spawn(wait()).await?;
        }
        Ok(())
    }
}

#[test]
fn hooks_leave_no_session_frame_or_carried_session_on_any_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    assert_eq!(__probe::open_sessions(), 0);

    // A test that gives up on a hook (its future dropped unfinished) still ends the session.
    let hook = run_hook_async(JujuContext::new("stuck/0", "hooks/install"), Stuck::new);
    let timed_out =
        runtime.block_on(async { tokio::time::timeout(Duration::from_millis(50), hook).await });
    assert!(timed_out.is_err(), "the hook hangs");
    assert_eq!(
        __probe::open_sessions(),
        0,
        "the dropped hook's session ended"
    );

    // Crashed and finished tasks on both workers leave nothing on their stacks.
    let run = runtime.block_on(run_hook_async(
        JujuContext::new("stuck/0", "hooks/start"),
        Stuck::new,
    ));
    // The root, the event, and 8 crashed plus 8 finished tasks.
    assert_eq!(run.trace().spans.len(), 2 + 16);
    assert_eq!(__probe::open_sessions(), 0);
    let leftovers: Vec<(usize, usize)> = runtime.block_on(async {
        let mut seen = Vec::new();
        for _ in 0..16 {
            let probe =
                tokio::spawn(async { (__probe::stack_depth(), __probe::carried_sessions()) });
            seen.push(probe.await.expect("probe task"));
        }
        seen
    });
    assert!(leftovers.iter().all(|&l| l == (0, 0)), "{leftovers:?}");
    assert_eq!(
        (__probe::stack_depth(), __probe::carried_sessions()),
        (0, 0)
    );
}
