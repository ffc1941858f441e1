//! Calling Juju hook tools (`relation-get`, `is-leader`, …) as executables on `PATH`, with a
//! time limit and typed errors.

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a hook tool may run by default.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the pipe readers get, once a tool's process group is killed, to hand over what
/// they read.
const READER_GRACE: Duration = Duration::from_millis(100);
/// How long the readers get, once the tool has exited, to see the end of its output (they
/// need only be scheduled on a busy machine; a pipe still open past it is held by something
/// the tool started, and the group is killed).
const AFTER_EXIT_GRACE: Duration = Duration::from_secs(1);

/// A hook tool that did not give a usable answer.
///
/// ```
/// use charm_tracing_runtime::relation::HookToolError;
///
/// let error = HookToolError::PermissionDenied { tool: "relation-get".into(), message: "ERROR permission denied".into() };
/// assert!(error.is_permission_denied());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookToolError {
    /// The tool is not on `PATH` (not running under Juju?).
    NotFound {
        /// The tool's name.
        tool: String,
    },
    /// Juju said `ERROR permission denied` (a non-leader touching its app databag).
    PermissionDenied {
        /// The tool's name.
        tool: String,
        /// What it printed on stderr.
        message: String,
    },
    /// The tool exited non-zero.
    Failed {
        /// The tool's name.
        tool: String,
        /// Its exit code, if it exited.
        code: Option<i32>,
        /// What it printed on stderr.
        message: String,
    },
    /// The tool's output was not what Juju prints.
    BadOutput {
        /// The tool's name.
        tool: String,
        /// What was wrong.
        reason: String,
    },
    /// The tool ran longer than the limit and was killed.
    TimedOut {
        /// The tool's name.
        tool: String,
        /// The limit.
        after: Duration,
    },
    /// The tool could not be run or read.
    Io {
        /// The tool's name.
        tool: String,
        /// The error.
        message: String,
    },
}

impl HookToolError {
    /// Whether Juju refused the call for lack of leadership.
    ///
    /// ```
    /// use charm_tracing_runtime::relation::HookToolError;
    /// assert!(!HookToolError::NotFound { tool: "is-leader".into() }.is_permission_denied());
    /// ```
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, HookToolError::PermissionDenied { .. })
    }
}

impl fmt::Display for HookToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookToolError::NotFound { tool } => {
                write!(
                    f,
                    "hook tool {tool} not found on PATH (not running under Juju?)"
                )
            }
            HookToolError::PermissionDenied { tool, message } => write!(f, "{tool}: {message}"),
            HookToolError::Failed {
                tool,
                code,
                message,
            } => match code {
                Some(code) => write!(f, "{tool} exited with {code}: {message}"),
                None => write!(f, "{tool} was killed: {message}"),
            },
            HookToolError::BadOutput { tool, reason } => write!(f, "{tool}: {reason}"),
            HookToolError::TimedOut { tool, after } => {
                write!(f, "{tool} did not finish within {} ms", after.as_millis())
            }
            HookToolError::Io { tool, message } => write!(f, "{tool}: {message}"),
        }
    }
}

impl std::error::Error for HookToolError {}

/// Runs hook tools with a time limit.
///
/// ```
/// use charm_tracing_runtime::relation::HookTools;
/// use std::time::Duration;
///
/// let tools = HookTools::new().with_timeout(Duration::from_secs(2));
/// assert!(tools.run("no-such-juju-tool", ["--format=json"]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct HookTools {
    timeout: Duration,
    dir: Option<std::path::PathBuf>,
}

impl Default for HookTools {
    fn default() -> Self {
        HookTools::new()
    }
}

impl HookTools {
    /// Tools with the default limit (5 s).
    ///
    /// ```
    /// use charm_tracing_runtime::relation::HookTools;
    ///
    /// // Any executable on `PATH` runs as a hook tool; its stdout is the answer.
    /// assert_eq!(HookTools::new().run("echo", ["true"]).unwrap(), "true\n");
    /// ```
    pub fn new() -> Self {
        HookTools {
            timeout: DEFAULT_TOOL_TIMEOUT,
            dir: None,
        }
    }

    /// Tools taken from `dir` instead of `PATH`.
    ///
    /// ```
    /// use charm_tracing_runtime::relation::{HookToolError, HookTools};
    ///
    /// let tools = HookTools::new().with_dir("/nonexistent/juju/tools");
    /// assert!(matches!(tools.run("is-leader", ["--format=json"]), Err(HookToolError::NotFound { .. })));
    /// ```
    pub fn with_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Tools killed after `timeout`.
    ///
    /// ```
    /// use charm_tracing_runtime::relation::{HookToolError, HookTools};
    /// use std::time::Duration;
    ///
    /// let tools = HookTools::new().with_timeout(Duration::from_millis(50));
    /// assert!(matches!(tools.run("sleep", ["5"]), Err(HookToolError::TimedOut { .. })));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `tool` with `args`; returns its stdout. In a tracing session the call is a span
    /// named after the tool (see [`crate::hook_tool`]).
    ///
    /// ```
    /// # use charm_tracing_runtime::relation::{HookTools, HookToolError};
    /// let error = HookTools::new().run("no-such-juju-tool", ["x"]).unwrap_err();
    /// assert!(matches!(error, HookToolError::NotFound { .. }));
    /// ```
    pub fn run<I, S>(&self, tool: &str, args: I) -> Result<String, HookToolError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let span = crate::juju::hook_tool_span::HookToolSpan::start(tool, &args);
        let mut exit_code = None;
        let result = self.run_untraced(tool, &args, &mut exit_code);
        span.end(exit_code, result.as_ref().err());
        result
    }

    /// [`HookTools::run`] without the span; `exit_code` gets the tool's exit code if it exited.
    fn run_untraced(
        &self,
        tool: &str,
        args: &[std::ffi::OsString],
        exit_code: &mut Option<i32>,
    ) -> Result<String, HookToolError> {
        let io = |e: std::io::Error| HookToolError::Io {
            tool: tool.to_owned(),
            message: e.to_string(),
        };
        let program = match &self.dir {
            Some(dir) => dir.join(tool),
            None => std::path::PathBuf::from(tool),
        };
        let mut child = match Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: on timeout the tool and anything it started are killed.
            .process_group(0)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HookToolError::NotFound {
                    tool: tool.to_owned(),
                });
            }
            Err(e) => return Err(io(e)),
        };
        let deadline = Instant::now() + self.timeout;
        let timed_out = || HookToolError::TimedOut {
            tool: tool.to_owned(),
            after: self.timeout,
        };
        // Drain both pipes on threads so a chatty tool cannot block on a full pipe; a pipe a
        // grandchild holds open is waited for no longer than the deadline.
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let (stdout, stderr) = match (stdout, stderr) {
            (Ok(stdout), Ok(stderr)) => (stdout, stderr),
            (Err(e), _) | (_, Err(e)) => {
                kill_group(&mut child);
                return Err(io(e));
            }
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    kill_group(&mut child);
                    return Err(timed_out());
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => {
                    kill_group(&mut child);
                    return Err(io(e));
                }
            }
        };
        *exit_code = status.code();
        // The tool has exited: what it wrote is in the pipes now. Wait a moment for the
        // readers, not the rest of the tool's limit.
        let remaining = || {
            deadline
                .saturating_duration_since(Instant::now())
                .min(AFTER_EXIT_GRACE)
        };
        let mut stdout_bytes = stdout.recv_timeout(remaining());
        let mut stderr_bytes = stderr.recv_timeout(remaining());
        if stdout_bytes.is_err() || stderr_bytes.is_err() {
            // The tool has exited but something it started still holds a pipe at the
            // deadline: kill the whole group; the readers then see the end of what the tool
            // wrote within a moment.
            kill_group(&mut child);
            if stdout_bytes.is_err() {
                stdout_bytes = stdout.recv_timeout(READER_GRACE);
            }
            if stderr_bytes.is_err() {
                stderr_bytes = stderr.recv_timeout(READER_GRACE);
            }
        }
        let (Ok(stdout), Ok(stderr)) = (stdout_bytes, stderr_bytes) else {
            return Err(timed_out());
        };
        let stderr = String::from_utf8_lossy(&stderr).trim().to_owned();
        if !status.success() {
            if stderr.contains("permission denied") {
                return Err(HookToolError::PermissionDenied {
                    tool: tool.to_owned(),
                    message: stderr,
                });
            }
            return Err(HookToolError::Failed {
                tool: tool.to_owned(),
                code: status.code(),
                message: stderr,
            });
        }
        String::from_utf8(stdout).map_err(|_| HookToolError::BadOutput {
            tool: tool.to_owned(),
            reason: "output is not UTF-8".to_owned(),
        })
    }

    /// Runs `tool` with `args` and parses its stdout as JSON.
    ///
    /// ```
    /// # use charm_tracing_runtime::relation::HookTools;
    /// assert!(HookTools::new().run_json("no-such-juju-tool", ["--format=json"]).is_err());
    /// ```
    pub fn run_json<I, S>(&self, tool: &str, args: I) -> Result<serde_json::Value, HookToolError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.run(tool, args)?;
        serde_json::from_str(&output).map_err(|e| HookToolError::BadOutput {
            tool: tool.to_owned(),
            reason: format!("not JSON ({e}): {:?}", truncate(&output)),
        })
    }
}

/// Reads `pipe` to its end on a thread of its own; the bytes arrive on the receiver. A thread
/// that cannot be started is an error, not a panic.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::io::Result<mpsc::Receiver<Vec<u8>>> {
    let (send, receive) = mpsc::channel();
    std::thread::Builder::new()
        .name("charm-tracing-hook-tool".to_owned())
        .spawn(move || {
            let mut buffer = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buffer);
            }
            let _ = send.send(buffer);
        })?;
    Ok(receive)
}

/// Kills the tool's process group (the tool and whatever it started), then reaps the tool.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group; the group is the
        // tool's own (process_group(0) made the tool its leader).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn truncate(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(120)
        .map_or(text.len(), |(index, _)| index);
    &text[..end]
}
