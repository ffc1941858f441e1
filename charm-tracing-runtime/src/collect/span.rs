//! The hot path: what every traced call does to open and close its span.
//!
//! A span is a record in the session's table and a frame on this thread's span stack; the
//! stack gives parents. The OpenTelemetry context is not touched per call: a proxy span,
//! attached once per session thread, stands for "the current charm span".

use crate::collect::outcome::ErrorView;
use crate::collect::record::{ErrorInfo, EventRecord, Stamp};
use crate::collect::session::{self, Session};
use opentelemetry::ContextGuard;
use opentelemetry::trace::SpanId;
use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

/// One open span on this thread's stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub span_id: SpanId,
    /// Where the span is kept in its session (a table slot, or a fold for a folded call).
    pub index: usize,
    /// The manual (OpenTelemetry API) span that was active when this one started.
    pub entered_under: SpanId,
    /// When the call started (a folded call has no record to keep it).
    pub start: Stamp,
}

thread_local! {
    static STACK: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
    /// Never dropped by the thread-local destructor: at process exit the OpenTelemetry
    /// context may already be gone, and touching it there would abort.
    static PROXY: RefCell<Option<ManuallyDrop<ContextGuard>>> = const { RefCell::new(None) };
}

/// Frames on this thread's span stack (a probe for tests).
pub(crate) fn depth() -> usize {
    STACK
        .try_with(|stack| stack.try_borrow().map_or(0, |s| s.len()))
        .unwrap_or(0)
}

/// The innermost open charm span on this thread.
pub(crate) fn top() -> Option<Frame> {
    STACK
        .try_with(|stack| stack.try_borrow().ok().and_then(|s| s.last().copied()))
        .ok()
        .flatten()
}

pub(crate) fn push(frame: Frame) {
    let _ = STACK.try_with(|stack| {
        if let Ok(mut stack) = stack.try_borrow_mut() {
            stack.push(frame);
        }
    });
}

/// Pops the frame of span `index` (and any left above it); the frame, if it was there.
#[inline]
pub(crate) fn pop(index: usize) -> Option<Frame> {
    STACK
        .try_with(|stack| {
            let mut stack = stack.try_borrow_mut().ok()?;
            if stack.last().is_some_and(|f| f.index == index) {
                return stack.pop();
            }
            let position = stack.iter().rposition(|f| f.index == index)?;
            let frame = stack[position];
            stack.truncate(position);
            Some(frame)
        })
        .ok()
        .flatten()
}

/// Keeps the proxy context attached on the session's thread until shutdown.
pub(crate) fn attach_proxy(proxy: opentelemetry::Context) {
    let _ = PROXY.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(ManuallyDrop::new(proxy.attach()));
        }
    });
}

pub(crate) fn detach_proxy() {
    let guard = PROXY
        .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten();
    if let Some(guard) = guard {
        drop(ManuallyDrop::into_inner(guard));
    }
}

/// The parent of a new span: the innermost charm span, unless a span started through the
/// OpenTelemetry API is active and newer; the root when there is neither.
pub(crate) fn parent_for_new_span(session: &Session) -> (SpanId, SpanId) {
    parent_under(top(), session)
}

/// [`parent_for_new_span`] with the stack's top frame at hand.
#[inline(always)]
fn parent_under(top: Option<Frame>, session: &Session) -> (SpanId, SpanId) {
    let manual = crate::collect::bridge::active_manual_span(session);
    let parent = match (top, manual) {
        (Some(frame), Some(manual)) if frame.entered_under != manual => manual,
        (Some(frame), _) => frame.span_id,
        (None, Some(manual)) => manual,
        (None, None) => session.root_id,
    };
    (parent, manual.unwrap_or(SpanId::INVALID))
}

/// Keeps a traced call's span open; generated code ends it with [`SpanGuard::finish`].
/// Dropped during a panic, it marks the span failed.
///
/// ```
/// use charm_tracing_runtime::__macro as span;
///
/// // Outside a session the guard records nothing.
/// let guard = span::enter("function call: render_config");
/// assert!(!guard.is_recording());
/// guard.finish(None);
/// ```
#[must_use = "the span ends when the guard is finished or dropped"]
#[derive(Debug)]
pub struct SpanGuard {
    /// The span's index in the session table; `usize::MAX` when not recording.
    index: usize,
    /// A span of a call ends on the thread it started on (its frame is there, and a folded
    /// call is counted in that thread's lane).
    _not_send: std::marker::PhantomData<*const ()>,
}

const INACTIVE: usize = usize::MAX;

/// Opens a span named `name` under the current span, if a session is recording.
///
/// ```
/// let guard = charm_tracing_runtime::__macro::enter("method call: Workload.configure");
/// guard.finish(None);
/// ```
#[inline(always)]
pub fn enter(name: &'static str) -> SpanGuard {
    if !session::gate_open() {
        return SpanGuard {
            index: INACTIVE,
            _not_send: std::marker::PhantomData,
        };
    }
    open_in_session(Cow::Borrowed(name))
}

/// Opens a span named `name`, checking the gate first (the paths other than [`enter`]).
pub(crate) fn enter_named(name: Cow<'static, str>) -> SpanGuard {
    if !session::gate_open() {
        return SpanGuard {
            index: INACTIVE,
            _not_send: std::marker::PhantomData,
        };
    }
    open_in_session(name)
}

/// The slow half of opening a span: the gate is known to be open.
#[inline(never)]
fn open_in_session(name: Cow<'static, str>) -> SpanGuard {
    let opened = session::with_current(|session| {
        STACK
            .try_with(|stack| {
                // One borrow of the stack for the parent and the new frame.
                let mut stack = stack.try_borrow_mut().ok()?;
                let (parent, entered_under) = parent_under(stack.last().copied(), session);
                // A folded call's fold reads the clock when it times the call.
                let start = if session.is_folding() {
                    Stamp::UNSET
                } else {
                    Stamp::now()
                };
                let opened = session.open_call(name, parent, start)?;
                stack.push(Frame {
                    span_id: opened.span_id,
                    index: opened.index,
                    entered_under,
                    start: opened.start,
                });
                Some(opened.index)
            })
            .ok()
            .flatten()
    });
    SpanGuard {
        index: opened.flatten().unwrap_or(INACTIVE),
        _not_send: std::marker::PhantomData,
    }
}

/// Opens an event span, `event: {kind}`, with its span event `{kind}`.
pub(crate) fn enter_event(kind: &str) -> SpanGuard {
    let guard = enter_named(Cow::Owned(format!("event: {kind}")));
    if guard.is_recording() {
        session::with_current(|session| {
            session.with_span(guard.index, |record| {
                record.details_mut().events.push(EventRecord {
                    name: Cow::Owned(kind.to_owned()),
                    time: Stamp::now(),
                    attributes: Vec::new(),
                });
            })
        });
    }
    guard
}

impl SpanGuard {
    /// Ends the span; `error` (the call's `Err`, if any) marks it failed.
    ///
    /// ```
    /// charm_tracing_runtime::__macro::enter("function call: f").finish(None);
    /// ```
    #[inline(always)]
    pub fn finish(mut self, error: Option<ErrorView<'_>>) {
        if self.index != INACTIVE {
            let info = error.map(|view| view.to_info());
            end(std::mem::replace(&mut self.index, INACTIVE), info.as_ref());
        }
    }

    /// Whether this guard records a span.
    ///
    /// ```
    /// assert!(!charm_tracing_runtime::__macro::enter("function call: f").is_recording());
    /// ```
    pub fn is_recording(&self) -> bool {
        self.index != INACTIVE
    }
}

#[inline(never)]
fn end(index: usize, error: Option<&ErrorInfo>) {
    let start = pop(index).map_or(Stamp::UNSET, |frame| frame.start);
    session::with_current(|session| session.close_span(index, start, error));
}

impl Drop for SpanGuard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.index != INACTIVE {
            let error = std::thread::panicking().then(crate::collect::panics::current_panic);
            end(std::mem::replace(&mut self.index, INACTIVE), error.as_ref());
        }
    }
}

/// The span of a traced `async fn`: opened when the fn is called (so it is parented where
/// the future is created, not where it is first polled), the current span during every poll
/// of the body, on whichever thread, and ended when the body completes, or when the future
/// is dropped early.
///
/// ```
/// use charm_tracing_runtime::__macro::AsyncSpan;
///
/// let span = AsyncSpan::open("function call: fetch");
/// let token = span.token();
/// let value = block_on(span.wrap(async move {
///     token.finish(None);
///     7
/// }));
/// assert_eq!(value, 7);
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
#[must_use = "the span ends when finished or dropped"]
pub struct AsyncSpan {
    active: Option<(Arc<Session>, Frame)>,
}

impl std::fmt::Debug for AsyncSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSpan")
            .field("frame", &self.active.as_ref().map(|(_, frame)| frame))
            .finish_non_exhaustive()
    }
}

/// Ends an [`AsyncSpan`] from inside the body it wraps, with the body's outcome.
#[derive(Clone, Copy, Debug)]
pub struct SpanToken {
    index: usize,
    start: Stamp,
}

impl AsyncSpan {
    /// Opens the span under the current span.
    ///
    /// ```
    /// charm_tracing_runtime::__macro::AsyncSpan::open("function call: f").finish(None);
    /// ```
    #[inline]
    pub fn open(name: &'static str) -> Self {
        if !session::gate_open() {
            return AsyncSpan { active: None };
        }
        Self::open_in_session(Cow::Borrowed(name))
    }

    fn open_in_session(name: Cow<'static, str>) -> Self {
        let Some(session) = session::current() else {
            return AsyncSpan { active: None };
        };
        let (parent, entered_under) = parent_for_new_span(&session);
        let start = Stamp::now();
        match session.open_span(name, parent, start) {
            Some(opened) => AsyncSpan {
                active: Some((
                    session,
                    Frame {
                        span_id: opened.span_id,
                        index: opened.index,
                        entered_under,
                        start: opened.start,
                    },
                )),
            },
            None => AsyncSpan { active: None },
        }
    }

    /// An event span, `event: {kind}` with its span event `{kind}`, as an async span.
    pub(crate) fn open_event(kind: &str) -> Self {
        if !session::gate_open() {
            return AsyncSpan { active: None };
        }
        let span = Self::open_in_session(Cow::Owned(format!("event: {kind}")));
        if let Some((session, frame)) = &span.active {
            session.with_span(frame.index, |record| {
                record.details_mut().events.push(EventRecord {
                    name: Cow::Owned(kind.to_owned()),
                    time: Stamp::now(),
                    attributes: Vec::new(),
                });
            });
        }
        span
    }

    /// A handle the wrapped body ends the span with, reporting its outcome.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::AsyncSpan;
    /// let span = AsyncSpan::open("function call: f");
    /// span.token().finish(None);
    /// ```
    pub fn token(&self) -> SpanToken {
        match &self.active {
            Some((_, frame)) => SpanToken {
                index: frame.index,
                start: frame.start,
            },
            None => SpanToken {
                index: INACTIVE,
                start: Stamp::UNSET,
            },
        }
    }

    /// Runs `future` with this span current during each poll; the span ends when the
    /// future completes or is dropped.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::AsyncSpan;
    /// let _future = AsyncSpan::open("function call: f").wrap(async {});
    /// ```
    pub fn wrap<F: Future>(self, future: F) -> Traced<F> {
        Traced { future, span: self }
    }

    /// Ends the span; `error` marks it failed.
    ///
    /// ```
    /// charm_tracing_runtime::__macro::AsyncSpan::open("function call: f").finish(None);
    /// ```
    pub fn finish(mut self, error: Option<ErrorView<'_>>) {
        if let Some((session, frame)) = self.active.take() {
            let info = error.map(|view| view.to_info());
            session.close_span(frame.index, frame.start, info.as_ref());
        }
    }
}

impl SpanToken {
    /// Ends the span; `error` (the body's `Err`, if any) marks it failed. Called by the body
    /// while the span's future is polled, so the span's session is current.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::AsyncSpan;
    /// AsyncSpan::open("function call: f").token().finish(None);
    /// ```
    pub fn finish(self, error: Option<ErrorView<'_>>) {
        if self.index != INACTIVE {
            let info = error.map(|view| view.to_info());
            session::with_current(|session| {
                session.close_span(self.index, self.start, info.as_ref())
            });
        }
    }
}

impl SpanToken {
    /// Ends the span with an already described error.
    pub(crate) fn finish_with(self, error: Option<&ErrorInfo>) {
        if self.index != INACTIVE {
            session::with_current(|session| session.close_span(self.index, self.start, error));
        }
    }
}

impl Drop for AsyncSpan {
    fn drop(&mut self) {
        if let Some((session, frame)) = self.active.take() {
            let error = std::thread::panicking().then(crate::collect::panics::current_panic);
            session.close_span(frame.index, frame.start, error.as_ref());
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled with its [`AsyncSpan`] as the current span, on whatever thread polls
    /// it. Nothing stays on a thread's span stack after a poll, even one that panics.
    pub struct Traced<F> {
        #[pin]
        future: F,
        span: AsyncSpan,
    }
}

/// Pops a polled span's frame, and ends the span failed if the poll panics.
struct PollFrame<'a> {
    session: &'a Session,
    frame: Frame,
    /// Set once the poll returned: a drop before that is the poll's own panic unwinding.
    returned: bool,
}

impl Drop for PollFrame<'_> {
    fn drop(&mut self) {
        pop(self.frame.index);
        if !self.returned && std::thread::panicking() {
            let error = crate::collect::panics::current_panic();
            self.session
                .close_span(self.frame.index, self.frame.start, Some(&error));
        }
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let poll = match &this.span.active {
            Some((session, frame)) => {
                let _carried = session::carry(session);
                push(*frame);
                let mut polled = PollFrame {
                    session,
                    frame: *frame,
                    returned: false,
                };
                let poll = this.future.poll(cx);
                polled.returned = true;
                poll
            }
            None => return this.future.poll(cx),
        };
        if poll.is_ready() {
            // Ended by the body's token; dropping the handle ends it if the body did not.
            if let Some((session, frame)) = this.span.active.take() {
                session.close_span(frame.index, frame.start, None);
            }
        }
        poll
    }
}
