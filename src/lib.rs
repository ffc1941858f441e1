#![doc = include_str!("../README.md")]

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

/// What the macros expand to. Not a public API. Its name carries the version the macros are
/// pinned at: the macros name it from theirs, so a mismatch is a compile error.
#[doc(hidden)]
pub mod __private_0_1_0 {
    pub use charm_tracing_runtime::__macro::{
        AsyncSpan, CharmConfig, MethodNameCache, Outcome, SpanGuard,
        TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth, TraceCharmConfig,
        TraceCharmGoesOnOneImplBlock, ViewAnyValue, ViewDisplayError, ViewError, ViewHandlerError,
        call_once, enter, method_span_name, start_charm_session, start_session,
    };
    pub use charm_tracing_runtime::{CertValue, EndpointValue};
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hidden_module_is_named_after_the_version_the_macros_carry() {
        // The macros expand to `::charm_tracing::__private_{their version}`, and the facade
        // pins them at its own version: on a version bump, rename the module.
        assert_eq!(
            format!("__private_{}", env!("CARGO_PKG_VERSION").replace('.', "_")),
            "__private_0_1_0"
        );
        assert_eq!(crate::__private_0_1_0::call_once(|| 7), 7);
    }
}
