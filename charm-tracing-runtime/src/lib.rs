//! The runtime of [charm-tracing](https://docs.rs/charm-tracing): the Juju context, the
//! per-hook tracing session, span collection, OTLP encoding and delivery.
//!
//! Charm authors depend on the `charm-tracing` facade, which re-exports what is public here
//! and the `#[trace_charm]` / `#[trace]` macros.
//!
//! ```
//! use charm_tracing_runtime::JujuContext;
//!
//! let ctx = JujuContext::new("shop/0", "hooks/install");
//! assert_eq!(ctx.event().kind(), "install");
//! ```

#![deny(missing_docs)]

mod bridge;
pub mod buffer;
mod clock;
mod config;
mod context;
mod delivery;
mod enabled;
mod encode;
mod endpoint_source;
mod event_kind;
mod exit;
mod hook;
mod hook_tool_span;
mod hook_tools;
pub mod juju_log;
pub mod outcome;
mod panics;
mod record;
pub mod relation;
mod session;
pub mod span;
pub mod testing;
mod tls;
mod trace_parent;
#[cfg(feature = "tracing")]
mod tracing_layer;
mod transport;

pub use bridge::{CharmSpan, current_span};
pub use config::{
    CertValue, CharmConfig, EndpointValue, TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth,
    TraceCharmConfig, TraceCharmGoesOnOneImplBlock, start_charm_session,
};
pub use context::{ContextError, Event, JujuContext};
pub use enabled::{DisabledGuard, disabled, is_enabled};
pub use event_kind::{EventKind, Lifecycle, PebbleEvent, RelationEvent, SecretEvent, StorageEvent};
pub use hook::{
    AsyncCharm, Charm, HandlerError, emit, hook_exit_code, juju_context_or_exit_code, main,
    main_async,
};
pub use hook_tool_span::{ARGS_RECORDED_FOR, hook_tool};
pub use hook_tools::HookToolError;
pub use record::ErrorInfo;
pub use session::{shutdown, start_session};
#[cfg(feature = "tracing")]
pub use tracing_layer::{CharmTracingLayer, tracing_layer};

/// Calls `f`; generated code wraps a traced body in it so that `return` and `?` keep their
/// meaning and the closure is `FnOnce`.
///
/// ```
/// assert_eq!(charm_tracing_runtime::call_once(|| 2 + 2), 4);
/// ```
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// The span name of a method under a lone `#[trace]`, from `type_name::<Self>()`; computed
/// once per method.
///
/// ```
/// let name = charm_tracing_runtime::method_span_name("my_crate::store::Store<u8>", "get");
/// assert_eq!(name, "method call: Store.get");
/// ```
pub fn method_span_name(self_type: &'static str, method: &str) -> &'static str {
    let name = format!(
        "method call: {}.{method}",
        outcome::short_type_name(self_type)
    );
    Box::leak(name.into_boxed_str())
}

/// What tests look at to check that nothing is left behind. Not a public API.
#[doc(hidden)]
pub mod __probe {
    /// Sessions open in the process.
    pub fn open_sessions() -> u32 {
        crate::session::open_sessions()
    }

    /// Frames on this thread's span stack.
    pub fn stack_depth() -> usize {
        crate::span::depth()
    }

    /// Test-harness sessions carried onto this thread.
    pub fn carried_sessions() -> usize {
        crate::session::carried_here()
    }
}

/// Internals the benchmarks measure directly. Not a public API.
#[doc(hidden)]
pub mod __bench {
    use std::path::PathBuf;
    use std::time::Duration;

    /// A buffer file, used the way a hook uses it.
    pub struct Buffer(crate::buffer::BufferFile);

    impl Buffer {
        /// A buffer at `path` with these limits.
        pub fn new(path: PathBuf, max_events: u32, max_size_mib: u32) -> Self {
            Buffer(crate::buffer::BufferFile::new(
                path,
                max_events,
                max_size_mib,
            ))
        }

        /// Locks and appends one record, as a hook's write-ahead does.
        pub fn append(&self, record: &[u8]) -> bool {
            self.0
                .lock(Duration::from_secs(1))
                .and_then(|locked| locked.append(record))
                .is_ok()
        }
    }
}
