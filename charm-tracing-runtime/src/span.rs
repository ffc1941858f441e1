//! The hot path: what every traced call does to open and close its span.
//!
//! A span is a record in the session's table plus an OpenTelemetry [`Context`] holding a
//! handle to it, attached for the duration of the call, so the global OpenTelemetry API sees
//! the charm span as the active one.

use crate::bridge::CharmSpan;
use crate::outcome::ErrorView;
use crate::record::{ErrorInfo, EventRecord};
use crate::session::{self, Session};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, ContextGuard};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::SystemTime;

/// Keeps a traced call's span open; generated code ends it with [`SpanGuard::finish`].
/// Dropped during a panic, it marks the span failed.
///
/// ```
/// use charm_tracing_runtime::span;
///
/// // Outside a session the guard records nothing.
/// let guard = span::enter("function call: render_config");
/// assert!(!guard.is_recording());
/// guard.finish(None);
/// ```
#[must_use = "the span ends when the guard is finished or dropped"]
pub struct SpanGuard {
    active: Option<ActiveSpan>,
}

struct ActiveSpan {
    session: Arc<Session>,
    index: usize,
    _attached: ContextGuard,
}

impl ActiveSpan {
    fn end(self, error: Option<&ErrorInfo>) {
        let ActiveSpan {
            session,
            index,
            _attached,
        } = self;
        drop(_attached);
        session.close_span(index, error);
    }
}

/// Opens a span named `name` under the current span, if a session is recording.
///
/// ```
/// let guard = charm_tracing_runtime::span::enter("method call: Workload.configure");
/// guard.finish(None);
/// ```
#[inline]
pub fn enter(name: &'static str) -> SpanGuard {
    enter_named(Cow::Borrowed(name))
}

#[inline]
pub(crate) fn enter_named(name: Cow<'static, str>) -> SpanGuard {
    if !crate::enabled::not_suppressed() {
        return SpanGuard { active: None };
    }
    let Some(session) = session::current() else {
        return SpanGuard { active: None };
    };
    let span_id = session::new_span_id();
    let opened = Context::map_current(|cx| {
        let parent = session.parent_in(cx);
        let index = session.open_span(name, span_id, parent)?;
        let handle = CharmSpan::borrowed(session.clone(), index, span_id);
        Some((index, cx.with_span(handle)))
    });
    match opened {
        Some((index, cx)) => SpanGuard {
            active: Some(ActiveSpan {
                session,
                index,
                _attached: cx.attach(),
            }),
        },
        None => SpanGuard { active: None },
    }
}

/// Opens an event span, `event: {kind}`, with its span event `{kind}`.
pub(crate) fn enter_event(kind: &str) -> SpanGuard {
    let guard = enter_named(Cow::Owned(format!("event: {kind}")));
    if let Some(active) = &guard.active {
        active.session.with_span(active.index, |record| {
            record.events.push(EventRecord {
                name: Cow::Owned(kind.to_owned()),
                time: SystemTime::now(),
                attributes: Vec::new(),
            });
        });
    }
    guard
}

impl SpanGuard {
    /// Ends the span; `error` (the call's `Err`, if any) marks it failed.
    ///
    /// ```
    /// charm_tracing_runtime::span::enter("function call: f").finish(None);
    /// ```
    #[inline]
    pub fn finish(mut self, error: Option<ErrorView<'_>>) {
        if let Some(active) = self.active.take() {
            let info = error.map(|view| view.to_info());
            active.end(info.as_ref());
        }
    }

    /// Whether this guard records a span.
    ///
    /// ```
    /// assert!(!charm_tracing_runtime::span::enter("function call: f").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.active.is_some()
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Some(active) = self.active.take() {
            let error = std::thread::panicking().then(crate::panics::current_panic);
            active.end(error.as_ref());
        }
    }
}

/// The span of a traced `async fn`: opened when the call starts, made current during every
/// poll of the body, ended when the body completes (or is dropped).
///
/// ```
/// use charm_tracing_runtime::span::AsyncSpan;
///
/// let span = AsyncSpan::open("function call: fetch");
/// let value = futures_lite_block_on(span.instrument(async { 7 }));
/// span.finish(None);
/// assert_eq!(value, 7);
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
#[must_use = "the span ends when finished or dropped"]
pub struct AsyncSpan {
    active: Option<(Arc<Session>, usize, opentelemetry::trace::SpanId)>,
}

impl AsyncSpan {
    /// Opens the span under the current span.
    ///
    /// ```
    /// charm_tracing_runtime::span::AsyncSpan::open("function call: f").finish(None);
    /// ```
    pub fn open(name: &'static str) -> Self {
        let inactive = AsyncSpan { active: None };
        if !crate::enabled::not_suppressed() {
            return inactive;
        }
        let Some(session) = session::current() else {
            return inactive;
        };
        let span_id = session::new_span_id();
        let parent = Context::map_current(|cx| session.parent_in(cx));
        match session.open_span(Cow::Borrowed(name), span_id, parent) {
            Some(index) => AsyncSpan {
                active: Some((session, index, span_id)),
            },
            None => inactive,
        }
    }

    /// Runs `future` with this span current during each poll.
    ///
    /// ```
    /// # use charm_tracing_runtime::span::AsyncSpan;
    /// let span = AsyncSpan::open("function call: f");
    /// let _future = span.instrument(async {});
    /// ```
    pub fn instrument<F: Future>(&self, future: F) -> Instrumented<'_, F> {
        Instrumented { span: self, future }
    }

    /// Ends the span; `error` marks it failed.
    ///
    /// ```
    /// charm_tracing_runtime::span::AsyncSpan::open("function call: f").finish(None);
    /// ```
    pub fn finish(mut self, error: Option<ErrorView<'_>>) {
        if let Some((session, index, _)) = self.active.take() {
            let info = error.map(|view| view.to_info());
            session.close_span(index, info.as_ref());
        }
    }

    fn attach(&self) -> Option<ContextGuard> {
        let (session, index, span_id) = self.active.as_ref()?;
        let handle = CharmSpan::borrowed(session.clone(), *index, *span_id);
        Some(Context::map_current(|cx| cx.with_span(handle)).attach())
    }
}

impl Drop for AsyncSpan {
    fn drop(&mut self) {
        if let Some((session, index, _)) = self.active.take() {
            let error = std::thread::panicking().then(crate::panics::current_panic);
            session.close_span(index, error.as_ref());
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled with its [`AsyncSpan`] current.
    pub struct Instrumented<'a, F> {
        span: &'a AsyncSpan,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Instrumented<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _attached = this.span.attach();
        this.future.poll(cx)
    }
}
