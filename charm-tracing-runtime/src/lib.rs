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
#![warn(missing_debug_implementations)]

mod collect;
mod export;
mod juju;
mod lifecycle;
pub mod testing;

pub use export::buffer;
pub use juju::{juju_log, relation};

pub use collect::bridge::{CharmSpan, current_span};
pub use collect::enabled::{DisabledGuard, disabled, is_enabled};
pub use collect::record::ErrorInfo;
pub use collect::session::shutdown;
#[cfg(feature = "tracing")]
pub use collect::tracing_layer::{CharmTracingLayer, tracing_layer};
pub use juju::context::{ContextError, Event, JujuContext};
pub use juju::event_kind::{
    EventKind, Lifecycle, PebbleEvent, RelationEvent, SecretEvent, StorageEvent,
};
pub use juju::hook_tool_span::{ARGS_RECORDED_FOR, hook_tool};
pub use juju::hook_tools::HookToolError;
pub use lifecycle::config::{CertValue, EndpointValue};
pub use lifecycle::hook::{
    AsyncCharm, Charm, HandlerError, emit, hook_exit_code, juju_context_or_exit_code, main,
    main_async,
};

/// What the macros' expansion uses (through the facade's versioned hidden module). Not a
/// public API.
#[doc(hidden)]
pub mod __macro {
    pub use crate::collect::outcome::{
        ErrorView, Outcome, ViewAnyValue, ViewDisplayError, ViewError, ViewHandlerError,
        short_type_name,
    };
    pub use crate::collect::span::{AsyncSpan, SpanGuard, SpanToken, Traced, enter};
    pub use crate::lifecycle::config::{
        CharmConfig, TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth, TraceCharmConfig,
        TraceCharmGoesOnOneImplBlock, start_charm_session,
    };
    pub use crate::lifecycle::start::start_session;
    pub use crate::{MethodNameCache, call_once, method_span_name};
}

/// Calls `f`; generated code wraps a traced body in it so that `return` and `?` keep their
/// meaning and the closure is `FnOnce`.
///
/// ```
/// assert_eq!(charm_tracing_runtime::__macro::call_once(|| 2 + 2), 4);
/// ```
#[doc(hidden)]
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Where a method under a lone `#[trace]` remembers its span name. One per method in the
/// generated code; that code may run for several `Self` types (a trait's default method, a
/// blanket impl), so it remembers the name for one type and asks [`method_span_name`] for
/// the others.
///
/// ```
/// static CACHE: charm_tracing_runtime::__macro::MethodNameCache = charm_tracing_runtime::__macro::MethodNameCache::new();
/// let name = charm_tracing_runtime::__macro::method_span_name(&CACHE, "a::A", "r");
/// assert_eq!(name, "method call: A.r");
/// ```
#[doc(hidden)]
#[derive(Debug)]
pub struct MethodNameCache(std::sync::OnceLock<(&'static str, &'static str)>);

impl MethodNameCache {
    /// An empty cache.
    ///
    /// ```
    /// static CACHE: charm_tracing_runtime::__macro::MethodNameCache = charm_tracing_runtime::__macro::MethodNameCache::new();
    /// ```
    pub const fn new() -> Self {
        MethodNameCache(std::sync::OnceLock::new())
    }
}

impl Default for MethodNameCache {
    fn default() -> Self {
        Self::new()
    }
}

/// The span name of method `method` of `self_type` (from `type_name::<Self>()`), under a
/// lone `#[trace]`: `method call: {short type}.{method}`, made once per type and method.
///
/// ```
/// use charm_tracing_runtime::__macro::{method_span_name, MethodNameCache};
///
/// static CACHE: MethodNameCache = MethodNameCache::new();
/// assert_eq!(method_span_name(&CACHE, "my_crate::Store<u8>", "get"), "method call: Store.get");
/// assert_eq!(method_span_name(&CACHE, "my_crate::Other", "get"), "method call: Other.get");
/// assert_eq!(method_span_name(&CACHE, "my_crate::Store<u8>", "get"), "method call: Store.get");
/// ```
#[doc(hidden)]
#[inline]
pub fn method_span_name(
    cache: &'static MethodNameCache,
    self_type: &'static str,
    method: &'static str,
) -> &'static str {
    if let Some((cached_type, name)) = cache.0.get()
        && (std::ptr::eq(*cached_type, self_type) || *cached_type == self_type)
    {
        return name;
    }
    let name = interned_method_name(self_type, method);
    let _ = cache.0.set((self_type, name));
    name
}

/// The process-wide table behind [`method_span_name`], for the types a cache does not hold.
#[cold]
fn interned_method_name(self_type: &'static str, method: &'static str) -> &'static str {
    type Names = std::collections::HashMap<(&'static str, &'static str), &'static str>;
    static NAMES: std::sync::Mutex<Option<Names>> = std::sync::Mutex::new(None);
    let mut names = NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    names
        .get_or_insert_with(Names::new)
        .entry((self_type, method))
        .or_insert_with(|| {
            let name = format!(
                "method call: {}.{method}",
                collect::outcome::short_type_name(self_type)
            );
            Box::leak(name.into_boxed_str())
        })
}

/// What the `charm-tracing` command uses of the runtime. Not a public API.
#[doc(hidden)]
pub mod __cli {
    use std::path::Path;
    use std::time::Duration;

    /// Delivers the buffer at `path` to `endpoint` as a hook delivers its backlog (oldest
    /// first, the same status rules, one deadline), logging what happened through `log`.
    pub fn send_buffer(
        path: &Path,
        endpoint: &str,
        ca: Option<&Path>,
        timeout: Duration,
    ) -> Result<(), String> {
        crate::export::delivery::send_file(path, endpoint, ca, timeout)
    }
}

/// What tests look at to check that nothing is left behind. Not a public API.
#[doc(hidden)]
pub mod __probe {
    /// Sessions open in the process.
    pub fn open_sessions() -> u32 {
        crate::collect::session::open_sessions()
    }

    /// Frames on this thread's span stack.
    pub fn stack_depth() -> usize {
        crate::collect::span::depth()
    }

    /// Test-harness sessions carried onto this thread.
    pub fn carried_sessions() -> usize {
        crate::collect::session::carried_here()
    }
}

/// Internals the benchmarks measure directly. Not a public API.
#[doc(hidden)]
pub mod __bench {
    use std::path::PathBuf;
    use std::time::Duration;

    /// A buffer file, used the way a hook uses it.
    #[derive(Debug)]
    pub struct Buffer(crate::export::buffer::BufferFile);

    impl Buffer {
        /// A buffer at `path` with these limits.
        pub fn new(path: PathBuf, max_events: u32, max_size_mib: u32) -> Self {
            Buffer(crate::export::buffer::BufferFile::new(
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
