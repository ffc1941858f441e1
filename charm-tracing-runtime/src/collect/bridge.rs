//! The OpenTelemetry API side: charm spans as `opentelemetry::trace::Span`s, and a global
//! tracer provider whose spans join the hook's trace as children of the current charm span.

use crate::collect::clock::unix_nanos;
use crate::collect::record::{EventRecord, SpanRecord, Stamp, StatusRecord};
use crate::collect::session::{self, Session};
use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::SystemTime;

/// Spans started through the OpenTelemetry API and not yet ended, in the whole process.
/// While there are none, the hot path never looks at the OpenTelemetry context.
static MANUAL_LIVE: AtomicUsize = AtomicUsize::new(0);

/// The span started through the OpenTelemetry API that is active in this thread's context,
/// if any belongs to `session`.
#[inline]
pub(crate) fn active_manual_span(session: &Session) -> Option<SpanId> {
    if MANUAL_LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    Context::map_current(|cx| {
        let span = cx.span();
        let active = span.span_context();
        (active.is_valid()
            && active.trace_id() == session.trace_id
            && active.span_id() != session.root_id)
            .then(|| active.span_id())
    })
}

/// A context whose active span is the proxy: "the current charm span on this thread",
/// resolved at each call. Attached once per session thread, it makes `get_active_span` and
/// the global tracer see charm spans without a context switch per traced call. Its
/// `span_context()` is the root's.
pub(crate) fn proxy_context(session: &Arc<Session>) -> Context {
    Context::new().with_span(CharmSpan {
        span_context: span_context(session, session.root_id),
        target: Target::Proxy(Arc::downgrade(session)),
        ends_on_drop: false,
    })
}

/// A span of the hook's trace, seen through the OpenTelemetry [`Span`] API.
///
/// The handles [`current_span`] returns and the OpenTelemetry context holds for charm spans
/// do not end the span when dropped (the traced call does); spans started through
/// `opentelemetry::global::tracer(..)` end when ended or dropped, as usual.
///
/// [`Span`]: opentelemetry::trace::Span
///
/// ```
/// use opentelemetry::trace::Span as _;
///
/// // Outside a session there is no current charm span.
/// assert!(charm_tracing_runtime::current_span().is_none());
/// ```
pub struct CharmSpan {
    target: Target,
    span_context: SpanContext,
    ends_on_drop: bool,
}

/// Which span a handle acts on.
enum Target {
    /// Span `index` of the session.
    Fixed(Arc<Session>, usize, Stamp),
    /// The current charm span of the calling thread, in this session.
    Proxy(std::sync::Weak<Session>),
    /// Nothing: outside a session, or tracing off.
    Inert,
}

impl std::fmt::Debug for CharmSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CharmSpan")
            .field("span_context", &self.span_context)
            .finish_non_exhaustive()
    }
}

fn span_context(session: &Session, span_id: SpanId) -> SpanContext {
    SpanContext::new(
        session.trace_id,
        span_id,
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    )
}

impl CharmSpan {
    /// A handle to span `index` that leaves ending it to its owner.
    pub(crate) fn borrowed(session: Arc<Session>, index: usize, span_id: SpanId) -> Self {
        CharmSpan {
            span_context: span_context(&session, span_id),
            target: Target::Fixed(session, index, Stamp::UNSET),
            ends_on_drop: false,
        }
    }

    fn inert() -> Self {
        CharmSpan {
            target: Target::Inert,
            span_context: SpanContext::empty_context(),
            ends_on_drop: false,
        }
    }

    fn update(&self, f: impl FnOnce(&mut SpanRecord)) {
        match &self.target {
            Target::Fixed(session, index, _) => {
                session.with_span(*index, f);
            }
            Target::Proxy(session) => {
                if let Some(session) = session.upgrade() {
                    let index = crate::collect::span::top().map_or(0, |frame| frame.index);
                    session.with_span(index, f);
                }
            }
            Target::Inert => {}
        }
    }

    /// The trace id as 32 lower-case hex digits.
    ///
    /// ```
    /// if let Some(span) = charm_tracing_runtime::current_span() {
    ///     assert_eq!(span.trace_id_hex().len(), 32);
    /// }
    /// ```
    pub fn trace_id_hex(&self) -> String {
        self.span_context.trace_id().to_string()
    }
}

impl opentelemetry::trace::Span for CharmSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        let name = name.into();
        self.update(|record| {
            record.details_mut().events.push(EventRecord {
                name,
                time: Stamp::unix(unix_nanos(timestamp)),
                attributes,
            })
        });
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        match &self.target {
            Target::Fixed(session, _, _) => session.is_open(),
            Target::Proxy(session) => session.upgrade().is_some_and(|s| s.is_open()),
            Target::Inert => false,
        }
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        self.update(|record| {
            let attributes = &mut record.details_mut().attributes;
            attributes.retain(|kv| kv.key != attribute.key);
            attributes.push(attribute);
        });
    }

    fn set_status(&mut self, status: Status) {
        self.update(|record| {
            let current = &mut record.details_mut().status;
            match status {
                Status::Ok => *current = StatusRecord::Ok,
                Status::Error { description } if *current != StatusRecord::Ok => {
                    *current = StatusRecord::Error(description.into_owned());
                }
                _ => {}
            }
        });
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        let name = new_name.into();
        self.update(|record| record.name = name);
    }

    fn add_link(&mut self, _span_context: SpanContext, _attributes: Vec<KeyValue>) {
        // Links are not part of the charm trace shape; they are dropped.
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if self.ends_on_drop {
            self.ends_on_drop = false;
            MANUAL_LIVE.fetch_sub(1, Ordering::Relaxed);
            if let Target::Fixed(session, index, start) = &self.target {
                let end = Stamp::unix(unix_nanos(timestamp));
                session.close_span_at(*index, *start, None, end);
            }
        }
    }
}

impl Drop for CharmSpan {
    fn drop(&mut self) {
        if self.ends_on_drop {
            opentelemetry::trace::Span::end(self);
        }
    }
}

/// The span of the innermost traced call on this thread, or `None` outside a session.
///
/// ```
/// use opentelemetry::trace::Span as _;
/// use opentelemetry::KeyValue;
///
/// if let Some(mut span) = charm_tracing_runtime::current_span() {
///     span.set_attribute(KeyValue::new("workload.version", "1.2"));
///     span.add_event("config rendered", vec![]);
/// }
/// // Outside a hook's session there is none.
/// assert!(charm_tracing_runtime::current_span().is_none());
/// ```
pub fn current_span() -> Option<CharmSpan> {
    let session = session::current()?;
    let (span_id, index) = match crate::collect::span::top() {
        Some(frame) => (frame.span_id, frame.index),
        None => (session.root_id, 0),
    };
    Some(CharmSpan::borrowed(session, index, span_id))
}

/// The global tracer provider: every tracer records into the hook's session.
#[derive(Clone, Copy, Debug, Default)]
struct BridgeProvider;

/// A tracer whose spans join the hook's trace.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BridgeTracer;

impl TracerProvider for BridgeProvider {
    type Tracer = BridgeTracer;

    fn tracer_with_scope(&self, _scope: InstrumentationScope) -> BridgeTracer {
        BridgeTracer
    }
}

impl Tracer for BridgeTracer {
    type Span = CharmSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> CharmSpan {
        if !session::gate_open() {
            return CharmSpan::inert();
        }
        let Some(session) = session::current() else {
            return CharmSpan::inert();
        };
        let explicit = parent_cx.span().span_context().clone();
        let parent = if explicit.is_valid()
            && explicit.trace_id() == session.trace_id
            && explicit.span_id() != session.root_id
        {
            explicit.span_id()
        } else {
            crate::collect::span::parent_for_new_span(&session).0
        };
        let mut record = SpanRecord::open(builder.name, SpanId::INVALID, parent);
        if let Some(start) = builder.start_time {
            record.start = Stamp::unix(unix_nanos(start));
        }
        if let Some(kind) = builder.span_kind {
            record.kind = kind;
        }
        let details = record.details_mut();
        details.attributes = builder.attributes.unwrap_or_default();
        if let Some(events) = builder.events {
            details.events = events
                .into_iter()
                .map(|event| EventRecord {
                    name: event.name,
                    time: Stamp::unix(unix_nanos(event.timestamp)),
                    attributes: event.attributes,
                })
                .collect();
        }
        let start = record.start;
        match session.open_record(record) {
            Some(opened) => {
                MANUAL_LIVE.fetch_add(1, Ordering::Relaxed);
                CharmSpan {
                    span_context: span_context(&session, opened.span_id),
                    target: Target::Fixed(session, opened.index, start),
                    ends_on_drop: true,
                }
            }
            None => CharmSpan::inert(),
        }
    }
}

/// Makes `opentelemetry::global::tracer(..)` record into charm sessions. Once per process.
pub(crate) fn register_global_provider() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        opentelemetry::global::set_tracer_provider(BridgeProvider);
    });
}
