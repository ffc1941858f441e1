//! Running one hook: construct the charm, dispatch the event inside its span, shut down.

use crate::collect::outcome::handler_error_info;
use crate::collect::outcome::{Outcome, ViewHandlerError as _};
use crate::collect::session;
use crate::collect::span::{self, AsyncSpan};
use crate::juju::context::{Event, JujuContext};
use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

/// The error a handler returns: any error.
///
/// ```
/// use charm_tracing_runtime::HandlerError;
///
/// let error: HandlerError = "database unreachable".into();
/// assert_eq!(error.to_string(), "database unreachable");
/// ```
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A charm: handles the event its hook was run for.
///
/// ```
/// use charm_tracing_runtime::{Charm, Event, HandlerError};
///
/// struct Quiet;
/// impl Charm for Quiet {
///     fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
///         match event.kind() {
///             "install" => Ok(()),
///             _ => Ok(()),
///         }
///     }
/// }
/// ```
pub trait Charm {
    /// Handles `event`; an `Err` fails the hook (and marks the event and root spans).
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError>;
}

/// How a hook ended.
pub(crate) type HookResult = Result<Result<(), HandlerError>, Box<dyn Any + Send>>;

/// The Juju entry point: reads the Juju context, constructs the charm (which starts the
/// session), dispatches the event inside `event: {kind}`, shuts the session down whatever
/// happened, and returns the exit code. A panic is re-raised once the spans are safe.
/// Outside Juju it says so on stderr and returns 1.
///
/// ```no_run
/// use charm_tracing_runtime::{Charm, Event, HandlerError, JujuContext};
///
/// struct MyCharm;
/// impl Charm for MyCharm {
///     fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// fn main() -> std::process::ExitCode {
///     charm_tracing_runtime::main(|_ctx: JujuContext| MyCharm)
/// }
/// ```
pub fn main<C: Charm>(ctor: impl FnOnce(JujuContext) -> C) -> ExitCode {
    let ctx = match juju_context_or_exit_code() {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let event = ctx.event();
    match run_hook(ctx, ctor) {
        Ok(result) => hook_exit_code(&event, result),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// An async charm: handles the event its hook was run for with a future, awaited inside
/// the event span by [`main_async`]. Write the handler as an `async fn`.
///
/// ```
/// use charm_tracing_runtime::{AsyncCharm, Event, HandlerError};
///
/// struct Quiet;
/// impl AsyncCharm for Quiet {
///     async fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
///         match event.kind() {
///             "install" => Ok(()),
///             _ => Ok(()),
///         }
///     }
/// }
/// ```
pub trait AsyncCharm {
    /// Handles `event`; an `Err` fails the hook (and marks the event and root spans).
    fn handle(&mut self, event: &Event) -> impl Future<Output = Result<(), HandlerError>>;
}

/// The Juju entry point of an [`AsyncCharm`], for an async `main` (`#[tokio::main]`, any
/// flavor): like [`main`], with the handler's future awaited inside the event span, so the
/// event and root spans cover its awaits. Delivery does not use the caller's runtime.
///
/// ```no_run
/// use charm_tracing_runtime::{AsyncCharm, Event, HandlerError, JujuContext};
///
/// struct MyCharm;
/// impl AsyncCharm for MyCharm {
///     async fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// // With tokio: `#[tokio::main] async fn main() -> ExitCode { main_async(..).await }`.
/// fn main() -> std::process::ExitCode {
///     let hook = charm_tracing_runtime::main_async(|_ctx: JujuContext| MyCharm);
///     # fn block_on<F: std::future::Future>(f: F) -> F::Output {
///     #     let waker = std::task::Waker::noop();
///     #     let mut cx = std::task::Context::from_waker(&waker);
///     #     let mut f = std::pin::pin!(f);
///     #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
///     # }
///     block_on(hook)
/// }
/// ```
pub async fn main_async<C: AsyncCharm>(ctor: impl FnOnce(JujuContext) -> C) -> ExitCode {
    let ctx = match juju_context_or_exit_code() {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let event = ctx.event();
    match run_hook_async(ctx, ctor).await {
        Ok(result) => hook_exit_code(&event, result),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The hook's Juju context, or (outside Juju) exit code 1 after one line on stderr.
#[doc(hidden)]
pub fn juju_context_or_exit_code() -> Result<JujuContext, ExitCode> {
    JujuContext::from_env().map_err(|error| {
        eprintln!("this is a Juju charm and must run from a Juju hook ({error})");
        ExitCode::from(1)
    })
}

/// The exit code of a hook whose handler returned `result`; a failure is one line on stderr.
#[doc(hidden)]
pub fn hook_exit_code(event: &Event, result: Result<(), HandlerError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "{} hook failed: {}",
                event.name(),
                crate::collect::outcome::display_or_placeholder(&error)
            );
            ExitCode::FAILURE
        }
    }
}

/// Runs one hook in this process; the session (global or test harness) ends before return.
pub(crate) fn run_hook<C: Charm>(
    ctx: JujuContext,
    ctor: impl FnOnce(JujuContext) -> C,
) -> HookResult {
    let event = ctx.event();
    crate::lifecycle::start::set_pending_context(Some(ctx.clone()));
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut charm = ctor(ctx);
        crate::lifecycle::start::set_pending_context(None);
        dispatch(&mut charm, &event)
    }));
    end_hook(&result);
    result
}

/// Runs one hook of an async charm; the session ends before the future completes.
pub(crate) async fn run_hook_async<C: AsyncCharm>(
    ctx: JujuContext,
    ctor: impl FnOnce(JujuContext) -> C,
) -> HookResult {
    let event = ctx.event();
    crate::lifecycle::start::set_pending_context(Some(ctx.clone()));
    let constructed = catch_unwind(AssertUnwindSafe(|| ctor(ctx)));
    crate::lifecycle::start::set_pending_context(None);
    let result = match constructed {
        Ok(mut charm) => CatchUnwind::new(dispatch_async(&mut charm, &event)).await,
        Err(panic) => Err(panic),
    };
    end_hook(&result);
    result
}

/// After the handler: marks the root failed if the hook failed, then ends the session.
fn end_hook(result: &HookResult) {
    crate::lifecycle::start::set_pending_context(None);
    if let Some(session) = session::current() {
        match result {
            Ok(Err(error)) => session.fail_root(&handler_error_info(error.as_ref())),
            Err(_) => session.fail_root(&crate::collect::panics::current_panic()),
            Ok(Ok(())) => {}
        }
    }
    session::shutdown();
}

async fn dispatch_async<C: AsyncCharm>(charm: &mut C, event: &Event) -> Result<(), HandlerError> {
    let span = AsyncSpan::open_event(event.kind());
    let token = span.token();
    span.wrap(async {
        let result = charm.handle(event).await;
        let error = result
            .as_ref()
            .err()
            .map(|e| handler_error_info(e.as_ref()));
        token.finish_with(error.as_ref());
        result
    })
    .await
}

pin_project_lite::pin_project! {
    /// A future whose panics are caught, as `catch_unwind` does for a closure.
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(future: F) -> Self {
        CatchUnwind { future }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn dispatch<C: Charm>(charm: &mut C, event: &Event) -> Result<(), HandlerError> {
    let guard = span::enter_event(event.kind());
    let result = charm.handle(event);
    guard.finish((&&&&Outcome(&result)).__charm_tracing_error());
    result
}

/// Runs a custom event inside `event: {kind}` (with its span event `{kind}`), under the
/// current span.
///
/// ```
/// let total = charm_tracing_runtime::emit("reconcile", || 40 + 2);
/// assert_eq!(total, 42);
/// ```
pub fn emit<R>(kind: &str, f: impl FnOnce() -> R) -> R {
    let guard = span::enter_event(kind);
    let result = f();
    guard.finish(None);
    result
}
