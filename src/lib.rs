//! Automatic OpenTelemetry tracing for Juju charms written in Rust.
//!
//! Put `#[trace_charm(...)]` on the charm's impl block (or its struct) and every hook becomes a
//! trace: a root span per hook, a span per event, a span per method call, with the Juju
//! topology attached, delivered over OTLP/HTTP. The trace has the shape of Canonical's Python `charm_tracing`
//! library, so the same dashboards work.
//!
//! ```no_run
//! use charm_tracing::{trace, trace_charm, Charm, Event, HandlerError, JujuContext};
//!
//! pub struct MyCharm {
//!     ctx: JujuContext,
//! }
//!
//! #[trace_charm(tracing_endpoint = "tracing_endpoint")]
//! impl MyCharm {
//!     pub fn new(ctx: JujuContext) -> Self {
//!         MyCharm { ctx }
//!     }
//!     fn tracing_endpoint(&self) -> Option<String> {
//!         Some("http://tempo:4318".to_owned())
//!     }
//!     fn on_install(&mut self) -> Result<(), HandlerError> {
//!         render_config("port: 80");
//!         Ok(())
//!     }
//! }
//!
//! #[trace]
//! fn render_config(cfg: &str) -> String {
//!     cfg.to_owned()
//! }
//!
//! impl Charm for MyCharm {
//!     fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
//!         match event.kind() {
//!             "install" => self.on_install(),
//!             _ => Ok(()),
//!         }
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     charm_tracing::main(MyCharm::new)
//! }
//! ```

pub use charm_tracing_macros::{trace, trace_charm};
pub use charm_tracing_runtime::relation::{TracingEndpointRequirer, charm_tracing_config};
pub use charm_tracing_runtime::{
    ARGS_RECORDED_FOR, AsyncCharm, CertValue, Charm, CharmSpan, ContextError, DisabledGuard,
    EndpointValue, Event, EventKind, HandlerError, HookToolError, JujuContext, Lifecycle,
    PebbleEvent, RelationEvent, SecretEvent, StorageEvent, current_span, disabled, emit, hook_tool,
    is_enabled, juju_log, relation, shutdown, testing,
};

#[cfg(feature = "tracing")]
pub use charm_tracing_runtime::{CharmTracingLayer, tracing_layer};
#[cfg(not(feature = "untraced"))]
pub use charm_tracing_runtime::{main, main_async};

/// The Juju entry point of an untraced build: reads the context, constructs the charm,
/// dispatches the event. No session, no delivery.
///
/// ```no_run
/// # use charm_tracing::{Charm, Event, HandlerError, JujuContext};
/// # struct C;
/// # impl Charm for C { fn handle(&mut self, _: &Event) -> Result<(), HandlerError> { Ok(()) } }
/// fn main() -> std::process::ExitCode { charm_tracing::main(|_ctx| C) }
/// ```
#[cfg(feature = "untraced")]
pub fn main<C: Charm>(ctor: impl FnOnce(JujuContext) -> C) -> std::process::ExitCode {
    let ctx = match charm_tracing_runtime::juju_context_or_exit_code() {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let event = ctx.event();
    let result = ctor(ctx).handle(&event);
    charm_tracing_runtime::hook_exit_code(&event, result)
}

/// The async Juju entry point of an untraced build.
///
/// ```no_run
/// # use charm_tracing::{AsyncCharm, Event, HandlerError, JujuContext};
/// # struct C;
/// # impl AsyncCharm for C { async fn handle(&mut self, _: &Event) -> Result<(), HandlerError> { Ok(()) } }
/// async fn run() -> std::process::ExitCode { charm_tracing::main_async(|_ctx| C).await }
/// ```
#[cfg(feature = "untraced")]
pub async fn main_async<C: AsyncCharm>(
    ctor: impl FnOnce(JujuContext) -> C,
) -> std::process::ExitCode {
    let ctx = match charm_tracing_runtime::juju_context_or_exit_code() {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let event = ctx.event();
    let result = ctor(ctx).handle(&event).await;
    charm_tracing_runtime::hook_exit_code(&event, result)
}

/// What the macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use charm_tracing_runtime::outcome::{
        Outcome, ViewAnyValue, ViewDisplayError, ViewError, ViewHandlerError,
    };
    pub use charm_tracing_runtime::span::{AsyncSpan, SpanGuard, enter};
    pub use charm_tracing_runtime::{
        CertValue, CharmConfig, EndpointValue, TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth,
        TraceCharmConfig, TraceCharmGoesOnOneImplBlock, call_once, method_span_name,
        start_charm_session, start_session,
    };
}

/// The README's code, compiled as doctests so the quickstart never rots.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
