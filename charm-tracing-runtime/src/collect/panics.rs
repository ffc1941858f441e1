//! Remembers the message and stack trace of a panic, so spans it unwinds through can say
//! why: the first of them (where the panic started) gets the stack trace, the others its
//! type and message.

use crate::collect::record::ErrorInfo;
use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<ErrorInfo>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Wraps the current panic hook (which still runs) with one that records the panic for the
/// spans it will unwind through. Only panics on threads inside a tracing session pay for the
/// backtrace.
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if crate::collect::session::current().is_some() {
                let message = payload_message(info.payload());
                let location = info
                    .location()
                    .map(|l| format!("panicked at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_else(|| "panicked".to_owned());
                let frames = crate::collect::backtrace::capture();
                let record = ErrorInfo {
                    type_name: "panic".to_owned(),
                    message,
                    stacktrace: Some(crate::collect::backtrace::render(&location, &frames)),
                };
                if cfg!(panic = "abort") {
                    // No unwinding follows: the process ends when this hook returns. The
                    // usual panic message first, then the session ends, the panic marked
                    // where it started and on the root.
                    previous(info);
                    end_session_before_abort(&record);
                    return;
                }
                let _ = LAST_PANIC.try_with(|slot| {
                    if let Ok(mut slot) = slot.try_borrow_mut() {
                        *slot = Some(record);
                    }
                });
            }
            previous(info);
        }));
    });
}

/// With `panic = "abort"`: marks the innermost span of this thread and the root failed,
/// then ends the session (its record is buffered and delivered before the abort).
fn end_session_before_abort(error: &ErrorInfo) {
    if let Some(session) = crate::collect::session::current() {
        if let Some(frame) = crate::collect::span::top() {
            session.close_span(frame.index, frame.start, Some(error));
        }
        // The stack trace is recorded once, where the panic started.
        session.fail_root(&ErrorInfo {
            stacktrace: None,
            ..error.clone()
        });
        session.finish();
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// The panic now unwinding on this thread, as recorded by the hook. The first call after a
/// panic (the innermost span it crosses) gets its stack trace; later ones do not.
pub(crate) fn current_panic() -> ErrorInfo {
    LAST_PANIC
        .try_with(|slot| {
            slot.try_borrow_mut().ok().and_then(|mut panic| {
                let panic = panic.as_mut()?;
                let stacktrace = panic.stacktrace.take();
                Some(ErrorInfo {
                    stacktrace,
                    ..panic.clone()
                })
            })
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| ErrorInfo {
            type_name: "panic".to_owned(),
            message: "panic".to_owned(),
            stacktrace: None,
        })
}
