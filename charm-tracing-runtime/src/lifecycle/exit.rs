//! Delivering the trace of a charm that returns from `main` or calls `std::process::exit`
//! without calling `shutdown`.

use std::sync::Once;

extern "C" fn shutdown_at_exit() {
    crate::export::transport::exiting();
    // Unwinding out of an `extern "C"` fn aborts: contain everything.
    let _ = std::panic::catch_unwind(crate::collect::session::shutdown_global);
}

/// Registers the global session's shutdown with the C runtime's `atexit`, once.
pub(crate) fn flush_at_exit() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `shutdown_at_exit` is a plain `extern "C" fn()` that never unwinds.
        let status = unsafe { libc::atexit(shutdown_at_exit) };
        if status != 0 {
            log::warn!("charm-tracing: could not register the exit handler; call shutdown()");
        }
    });
}
