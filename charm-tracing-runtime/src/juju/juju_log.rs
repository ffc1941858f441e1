//! A [`log`] logger for charms: every record goes to Juju's `juju-log` hook tool, so it shows
//! in `juju debug-log` (and `jhack tail -t` finds the `Starting root trace with id='...'.`
//! line there).
//!
//! - Each record becomes `juju-log --log-level LEVEL -- MESSAGE` (`LEVEL` is `ERROR`,
//!   `WARNING`, `INFO` or `DEBUG`; `trace!` records go as `DEBUG`).
//! - The level: `RUST_LOG` if it is set and not empty (a level such as `debug`, and
//!   `target=level` directives, comma-separated, as `env_logger` reads them), else **INFO**.
//! - Bounded: all `juju-log` calls of a process together may take at most one second
//!   ([`JUJU_LOG_BUDGET`]). A call still running when the budget is spent is killed, and the
//!   logger writes to stderr for the rest of the process. So a hanging `juju-log` costs a hook
//!   about one second in total, however many lines it logs.
//! - Stderr instead (`[LEVEL target] message`, one line per record): outside Juju (no
//!   `JUJU_UNIT_NAME` in the environment when the logger is installed), when `juju-log` is
//!   not on `PATH`, after the budget is spent, and for a record `juju-log` refused (non-zero
//!   exit) or could not take (an argument the OS refuses). Juju records a hook's stderr in the
//!   unit log too, so nothing is lost.
//! - Never stdout: `juju-log` runs with stdin, stdout and stderr closed.
//!
//! ```no_run
//! // First thing in the charm's `main`:
//! charm_tracing_runtime::juju_log::init();
//! log::info!("this reaches juju debug-log");
//! ```

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long all `juju-log` calls of a process may take together.
///
/// ```
/// assert_eq!(charm_tracing_runtime::juju_log::JUJU_LOG_BUDGET.as_millis(), 1000);
/// ```
pub const JUJU_LOG_BUDGET: Duration = Duration::from_secs(1);

/// After this many refused records in a row, `juju-log` is given up for the process.
const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// Installs the logger (see the module docs) and sets `log`'s maximum level. Does nothing if
/// the process already has a logger.
///
/// ```no_run
/// charm_tracing_runtime::juju_log::init();
/// ```
pub fn init() {
    let _ = try_init();
}

/// Like [`init`], with the error `log` gives when a logger is already installed.
///
/// ```no_run
/// if charm_tracing_runtime::juju_log::try_init().is_err() {
///     eprintln!("a logger was already installed");
/// }
/// ```
pub fn try_init() -> Result<(), log::SetLoggerError> {
    let logger = JujuLogger::from_env();
    let max = logger.filter.max();
    log::set_logger(Box::leak(Box::new(logger)))?;
    log::set_max_level(max);
    Ok(())
}

/// The logger [`init`] installs, for a charm that wants to wrap or install it itself.
///
/// ```
/// use charm_tracing_runtime::juju_log::JujuLogger;
/// use log::Log as _;
///
/// let logger = JujuLogger::from_env();
/// logger.flush();
/// ```
pub struct JujuLogger {
    filter: Filter,
    state: Mutex<State>,
}

impl std::fmt::Debug for JujuLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JujuLogger").finish_non_exhaustive()
    }
}

struct State {
    /// Whether records still go to `juju-log`.
    use_juju_log: bool,
    /// Time spent in `juju-log` so far.
    spent: Duration,
    failures_in_a_row: u32,
}

impl JujuLogger {
    /// A logger configured from the environment: `RUST_LOG` (default INFO) and whether this
    /// runs under Juju (`JUJU_UNIT_NAME` set).
    ///
    /// ```
    /// let _logger = charm_tracing_runtime::juju_log::JujuLogger::from_env();
    /// ```
    pub fn from_env() -> Self {
        let in_juju = std::env::var_os("JUJU_UNIT_NAME").is_some_and(|v| !v.is_empty());
        let filter = std::env::var("RUST_LOG")
            .ok()
            .filter(|spec| !spec.trim().is_empty())
            .map_or_else(Filter::default, |spec| Filter::parse(&spec));
        JujuLogger {
            filter,
            state: Mutex::new(State {
                use_juju_log: in_juju,
                spent: Duration::ZERO,
                failures_in_a_row: 0,
            }),
        }
    }

    /// Sends `message` to `juju-log`; `false` if it did not take it (the caller writes it to
    /// stderr).
    fn send(&self, level: &str, message: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.use_juju_log {
            return false;
        }
        let Some(remaining) = JUJU_LOG_BUDGET.checked_sub(state.spent) else {
            state.use_juju_log = false;
            return false;
        };
        let started = Instant::now();
        let outcome = run_juju_log(level, message, remaining);
        state.spent += started.elapsed();
        match outcome {
            Sent::Ok => {
                state.failures_in_a_row = 0;
                true
            }
            Sent::Refused => {
                state.failures_in_a_row += 1;
                if state.failures_in_a_row >= MAX_FAILURES_IN_A_ROW {
                    state.use_juju_log = false;
                    stderr_line(
                        Level::Warn,
                        module_path!(),
                        "juju-log refused several records; logging to stderr from now on",
                    );
                }
                false
            }
            Sent::Unusable => false,
            Sent::Missing => {
                // Not a real hook (a test, a local run): stderr, without a word about it.
                state.use_juju_log = false;
                false
            }
            Sent::TimedOut => {
                state.use_juju_log = false;
                stderr_line(
                    Level::Warn,
                    module_path!(),
                    &format!(
                        "juju-log took more than {} ms in total; logging to stderr from now on",
                        JUJU_LOG_BUDGET.as_millis()
                    ),
                );
                false
            }
        }
    }
}

enum Sent {
    Ok,
    /// Non-zero exit.
    Refused,
    /// The OS refused the arguments (too long, NUL byte): this record only.
    Unusable,
    Missing,
    TimedOut,
}

fn run_juju_log(level: &str, message: &str, limit: Duration) -> Sent {
    let spawned = Command::new("juju-log")
        .args(["--log-level", level, "--", message])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Sent::Missing,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Sent::Missing,
        Err(_) => return Sent::Unusable,
    };
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_micros(200);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Sent::Ok,
            Ok(Some(_)) => return Sent::Refused,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Sent::TimedOut;
            }
            Ok(None) => {
                let left = deadline.saturating_duration_since(Instant::now());
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Sent::Refused;
            }
        }
    }
}

fn juju_level(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug | Level::Trace => "DEBUG",
    }
}

/// One line on stderr, in `env_logger`'s default layout: `[LEVEL target] message`.
fn stderr_line(level: Level, target: &str, message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "[{level:<5} {target}] {message}");
}

impl Log for JujuLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.allows(metadata.target(), metadata.level())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // A `Display` in the arguments that fails must not panic the hook.
        let mut message = String::new();
        if std::fmt::write(&mut message, *record.args()).is_err() {
            message.push_str(" <a value in this message could not be formatted>");
        }
        if !self.send(juju_level(record.level()), &message) {
            stderr_line(record.level(), record.target(), &message);
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// `RUST_LOG` directives: a default level and `target=level` overrides.
#[derive(Debug, PartialEq, Eq)]
struct Filter {
    default: LevelFilter,
    targets: Vec<(String, LevelFilter)>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            default: LevelFilter::Info,
            targets: Vec::new(),
        }
    }
}

impl Filter {
    /// Parses `env_logger`-style directives (`debug`, `my_charm=trace,warn`). Directives it
    /// cannot read are ignored; with none readable, INFO.
    fn parse(spec: &str) -> Filter {
        let mut default = None;
        let mut targets = Vec::new();
        // env_logger's `/regex` suffix filters messages; it is not supported and ignored.
        let spec = spec.split('/').next().unwrap_or_default();
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                Some((target, level)) => {
                    if let Ok(level) = level.trim().parse::<LevelFilter>() {
                        targets.push((target.trim().to_owned(), level));
                    }
                }
                None => match directive.parse::<LevelFilter>() {
                    Ok(level) => default = Some(level),
                    // A bare target: everything from it.
                    Err(_) => targets.push((directive.to_owned(), LevelFilter::Trace)),
                },
            }
        }
        // The longest target wins, so keep them longest first.
        targets.sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        Filter {
            default: default.unwrap_or(if targets.is_empty() {
                LevelFilter::Info
            } else {
                LevelFilter::Error
            }),
            targets,
        }
    }

    fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .find(|(prefix, _)| {
                target == prefix
                    || target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .map_or(self.default, |(_, level)| *level)
    }

    fn allows(&self, target: &str, level: Level) -> bool {
        level <= self.level_for(target)
    }

    fn max(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, level)| *level)
            .chain([self.default])
            .max()
            .unwrap_or(LevelFilter::Info)
    }
}

#[cfg(test)]
mod tests {

    struct Unprintable;
    impl std::fmt::Display for Unprintable {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Err(std::fmt::Error)
        }
    }

    #[test]
    fn a_message_that_cannot_be_formatted_does_not_panic() {
        use log::Log as _;
        let logger = JujuLogger::from_env();
        logger.log(
            &log::Record::builder()
                .args(format_args!("value: {}", Unprintable))
                .level(log::Level::Error)
                .target("test")
                .build(),
        );
    }
    use super::*;

    #[test]
    fn the_default_level_is_info() {
        let filter = Filter::default();
        assert!(filter.allows("any", Level::Info));
        assert!(!filter.allows("any", Level::Debug));
        assert_eq!(filter.max(), LevelFilter::Info);
    }

    #[test]
    fn rust_log_directives_are_read() {
        let filter = Filter::parse("warn,my_charm=debug");
        assert!(filter.allows("my_charm", Level::Debug));
        assert!(filter.allows("my_charm::store", Level::Debug));
        assert!(!filter.allows("my_charmer", Level::Info));
        assert!(!filter.allows("other", Level::Info));
        assert!(filter.allows("other", Level::Warn));
        assert_eq!(filter.max(), LevelFilter::Debug);
        assert_eq!(Filter::parse("debug").default, LevelFilter::Debug);
        assert_eq!(Filter::parse("nonsense=loud"), Filter::default());
        let bare = Filter::parse("charm_tracing_runtime");
        assert!(bare.allows("charm_tracing_runtime::delivery", Level::Trace));
        assert!(!bare.allows("other", Level::Warn));
    }

    #[test]
    fn levels_map_to_juju_names() {
        assert_eq!(juju_level(Level::Warn), "WARNING");
        assert_eq!(juju_level(Level::Trace), "DEBUG");
        assert_eq!(juju_level(Level::Error), "ERROR");
    }
}
