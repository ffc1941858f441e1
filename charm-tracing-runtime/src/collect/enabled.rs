//! Whether tracing is on: `CHARM_TRACING_ENABLED` and the `disabled()` guard.

use crate::collect::session;
use std::sync::OnceLock;

fn env_enabled() -> bool {
    static ENV: OnceLock<bool> = OnceLock::new();
    *ENV.get_or_init(|| enabled_by_env_value(std::env::var("CHARM_TRACING_ENABLED").ok()))
}

/// Python's rule: unset or `"1"` means on.
fn enabled_by_env_value(value: Option<String>) -> bool {
    value.is_none_or(|v| v == "1")
}

/// Whether tracing is on: `CHARM_TRACING_ENABLED` unset or `"1"`, and no [`disabled()`]
/// guard alive.
///
/// ```
/// let before = charm_tracing_runtime::is_enabled();
/// {
///     let _off = charm_tracing_runtime::disabled();
///     assert!(!charm_tracing_runtime::is_enabled());
/// }
/// assert_eq!(charm_tracing_runtime::is_enabled(), before);
/// ```
pub fn is_enabled() -> bool {
    session::not_disabled() && env_enabled()
}

/// Whether a new session may start.
pub(crate) fn session_allowed() -> bool {
    is_enabled()
}

/// Turns tracing off in this process until the guard is dropped (also on panic). The
/// environment is never touched.
///
/// ```
/// let off = charm_tracing_runtime::disabled();
/// assert!(!charm_tracing_runtime::is_enabled());
/// drop(off);
/// ```
#[must_use = "tracing is back on as soon as the guard is dropped"]
pub fn disabled() -> DisabledGuard {
    session::add_disabled_guard();
    DisabledGuard { _private: () }
}

/// Keeps tracing off while alive; see [`disabled()`].
///
/// ```
/// let _guard: charm_tracing_runtime::DisabledGuard = charm_tracing_runtime::disabled();
/// ```
#[derive(Debug)]
pub struct DisabledGuard {
    _private: (),
}

impl Drop for DisabledGuard {
    fn drop(&mut self) {
        session::remove_disabled_guard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_rule_matches_python() {
        assert!(enabled_by_env_value(None));
        assert!(enabled_by_env_value(Some("1".into())));
        assert!(!enabled_by_env_value(Some("0".into())));
        assert!(!enabled_by_env_value(Some("true".into())));
        assert!(!enabled_by_env_value(Some("".into())));
    }

    #[test]
    fn guard_restores_even_on_panic() {
        // The gate is the process's: the collector's tests wait while the guard is taken.
        let _serial = session::GATE_TESTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(session::not_disabled());
        let result = std::panic::catch_unwind(|| {
            let _off = disabled();
            assert!(!session::not_disabled());
            panic!("inside");
        });
        assert!(result.is_err());
        assert!(session::not_disabled());
    }
}
