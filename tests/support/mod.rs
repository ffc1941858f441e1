//! Shared by the integration tests: the loopback receiver and running example charms as
//! hook processes.

#![allow(dead_code)]

pub mod juju;
pub mod pki;
pub mod receiver;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// An example binary `cargo test` built next to this test binary.
pub fn example_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds the examples",
        path.display()
    );
    path
}

/// A new, empty charm directory for one test.
pub fn fresh_charm_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("charm-tracing-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("charm dir");
    dir
}

/// A hook run of an example charm.
pub struct Hook {
    command: Command,
}

/// What a hook process did.
pub struct HookOutput {
    pub output: Output,
    pub elapsed: Duration,
}

impl HookOutput {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    /// The trace id the hook logged (`Starting root trace with id='...'.`).
    pub fn trace_id(&self) -> Option<String> {
        logged_trace_id(&self.stderr())
    }
    /// The lines logged at ERROR level.
    pub fn error_lines(&self) -> Vec<String> {
        self.stderr()
            .lines()
            .filter(|l| l.starts_with("[ERROR"))
            .map(str::to_owned)
            .collect()
    }
}

impl Hook {
    /// `example` run for `dispatch_path` as unit `shop/0` of model `prod`.
    pub fn new(example: &str, dispatch_path: &str) -> Hook {
        Hook::in_dir(example, dispatch_path, &fresh_charm_dir())
    }

    /// Like `new`, with `charm_dir` as `JUJU_CHARM_DIR` (where the buffer lives by default).
    pub fn in_dir(example: &str, dispatch_path: &str, charm_dir: &std::path::Path) -> Hook {
        Hook::with(&example_binary(example), dispatch_path, charm_dir)
    }

    /// The charm binary at `binary` run for `dispatch_path`, in a fresh charm dir.
    pub fn from_binary(binary: &std::path::Path, dispatch_path: &str) -> Hook {
        Hook::with(binary, dispatch_path, &fresh_charm_dir())
    }

    fn with(binary: &std::path::Path, dispatch_path: &str, charm_dir: &std::path::Path) -> Hook {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("JUJU_UNIT_NAME", "shop/0")
            .env("JUJU_DISPATCH_PATH", dispatch_path)
            .env("JUJU_MODEL_NAME", "prod")
            .env("JUJU_MODEL_UUID", "6f5c1d2e-0000-4000-8000-000000000001")
            .env("JUJU_CHARM_DIR", charm_dir)
            .env("JUJU_VERSION", "3.6.0")
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "0");
        Hook { command }
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Hook {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Hook {
        self.command.env_remove(key);
        self
    }

    /// Runs the hook and also returns its peak resident memory in KiB (the child is reaped
    /// by `wait4`, for its rusage).
    #[allow(clippy::zombie_processes)]
    pub fn run_measured(mut self) -> (HookOutput, i64) {
        use std::io::Read;
        let start = Instant::now();
        let mut child = self
            .command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run the hook");
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let out = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        let err = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes);
            bytes
        });
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = child.id() as libc::pid_t;
        // SAFETY: `pid` is our child, not yet waited for; the pointers are to live locals.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(waited, pid, "wait4");
        let output = Output {
            status: std::os::unix::process::ExitStatusExt::from_raw(status),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        };
        let elapsed = start.elapsed();
        (HookOutput { output, elapsed }, usage.ru_maxrss)
    }

    pub fn run(mut self) -> HookOutput {
        let start = Instant::now();
        let output = self.command.output().expect("run the hook");
        HookOutput {
            output,
            elapsed: start.elapsed(),
        }
    }
}

/// The trace id in a hook's log (`Starting root trace with id='...'.`).
pub fn logged_trace_id(stderr: &str) -> Option<String> {
    const LINE: &str = "Starting root trace with id='";
    let start = stderr.find(LINE)? + LINE.len();
    Some(stderr.get(start..start + 32)?.to_owned())
}

/// The trace id of an OTLP request, as 32 hex digits.
pub fn trace_id_of(
    request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) -> String {
    request.resource_spans[0].scope_spans[0].spans[0]
        .trace_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The records in the buffer file at `path` (none if there is no file).
pub fn buffered_records(path: &std::path::Path) -> usize {
    match std::fs::read(path) {
        Ok(bytes) => {
            let parsed = charm_tracing_runtime::buffer::format::parse(&bytes);
            assert_eq!(parsed.damage, None, "the buffer is intact");
            parsed.records.len()
        }
        Err(_) => 0,
    }
}

/// An unused loopback port: connections to it are refused.
pub fn closed_port_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The shop charm's `hooks/start` in `dir`, sending to `endpoint` (none: the relation's,
/// which is not there); it must succeed and print nothing on stdout.
pub fn shop_start(dir: &std::path::Path, endpoint: Option<&str>) -> HookOutput {
    let mut hook = Hook::in_dir("shop_charm", "hooks/start", dir);
    if let Some(endpoint) = endpoint {
        hook = hook.env("SHOP_TRACING_ENDPOINT", endpoint);
    }
    let output = hook.run();
    assert_eq!(
        output.code(),
        0,
        "tracing never fails a hook:\n{}",
        output.stderr()
    );
    assert_eq!(output.stdout(), "");
    output
}

/// The trace ids `receiver` accepted, in arrival order.
pub fn accepted_ids(receiver: &receiver::Receiver) -> Vec<String> {
    receiver.accepted_traces().iter().map(trace_id_of).collect()
}
