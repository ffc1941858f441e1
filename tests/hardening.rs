//! Issue 14 against real parts: hook processes contending for the buffer lock, limits at
//! exactly N+1, symlinks planted next to the buffer, a foreign 200 MiB file at the buffer's
//! path, an error whose `Display` fails, a strict receiver that rejects userinfo in `Host`.

mod support;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::receiver::Receiver;
use support::{
    Hook, HookOutput, accepted_ids, buffered_records, closed_port_endpoint, fresh_charm_dir,
};

const BUFFER: &str = ".charm_tracing_buffer.raw";

fn shop(dir: &Path, endpoint: Option<&str>) -> HookOutput {
    support::shop_start(dir, endpoint)
}

/// The lines from charm-tracing itself.
fn tracing_lines(output: &HookOutput) -> Vec<String> {
    output
        .stderr()
        .lines()
        .filter(|l| l.contains("charm-tracing:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_hook_waits_for_the_lock_while_another_delivers_and_writes_ahead_all_the_same() {
    let dir = fresh_charm_dir();
    let black_hole = Receiver::start();
    black_hole.set_black_hole(true);
    let first = Hook::in_dir("shop_charm", "hooks/start", &dir)
        .env("SHOP_TRACING_ENDPOINT", black_hole.endpoint());
    let first = std::thread::spawn(move || first.run());
    // The first hook holds the lock for its whole deadline (1 s) against the black hole.
    assert!(
        black_hole.wait_for(1, Duration::from_secs(5)),
        "the first hook is delivering"
    );
    let second = shop(&dir, Some(&closed_port_endpoint()));
    let first = first.join().unwrap();
    assert_eq!(first.code(), 0);
    assert!(
        !second.stderr().contains("cannot use the buffer"),
        "{}",
        second.stderr()
    );
    assert!(
        second.elapsed < Duration::from_millis(2000),
        "{:?}",
        second.elapsed
    );
    assert_eq!(buffered_records(&dir.join(BUFFER)), 2, "both written ahead");
    let receiver = Receiver::start();
    let third = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(
        accepted_ids(&receiver),
        vec![
            first.trace_id().unwrap(),
            second.trace_id().unwrap(),
            third.trace_id().unwrap()
        ]
    );
}

#[test]
fn without_a_usable_lock_the_trace_is_sent_directly_and_the_line_says_what_happened() {
    let dir = fresh_charm_dir();
    // The lock file cannot be opened for writing: a directory has its name.
    std::fs::create_dir(dir.join(format!("{BUFFER}.lock"))).unwrap();
    let receiver = Receiver::start();
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(accepted_ids(&receiver), vec![output.trace_id().unwrap()]);
    let lines = tracing_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("not buffered") && lines[0].contains("delivered"),
        "{lines:?}"
    );

    let output = shop(&dir, Some(&closed_port_endpoint()));
    let lines = tracing_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("not buffered") && lines[0].contains("dropped"),
        "{lines:?}"
    );
    assert!(!lines[0].contains("buffering off"), "{lines:?}");
    assert!(!lines[0].contains("kept"), "{lines:?}");
    assert!(!dir.join(BUFFER).exists());
}

#[test]
fn unreachable_backends_report_the_records_actually_kept() {
    for endpoint in [
        closed_port_endpoint(),
        "http://no-such-host.invalid:4318".to_owned(),
    ] {
        let dir = fresh_charm_dir();
        shop(&dir, Some(&endpoint));
        shop(&dir, Some(&endpoint));
        let output = shop(&dir, Some(&endpoint));
        assert_eq!(buffered_records(&dir.join(BUFFER)), 3);
        let lines = tracing_lines(&output);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("0 delivered, 0 dropped, 3 kept in the buffer"),
            "{endpoint}: {lines:?}"
        );
    }
    // A backend that answers: the counts are exact too.
    let dir = fresh_charm_dir();
    shop(&dir, Some(&closed_port_endpoint()));
    shop(&dir, Some(&closed_port_endpoint()));
    let receiver = Receiver::start();
    receiver.script(&[200, 400, 503]);
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert!(
        output
            .stderr()
            .contains("1 delivered, 1 dropped, 1 kept in the buffer"),
        "{}",
        output.stderr()
    );
    assert_eq!(buffered_records(&dir.join(BUFFER)), 1);
}

/// Runs the 100-record-buffer charm for `dispatch_path`.
fn limits(dir: &Path, dispatch_path: &str, endpoint: Option<&str>) -> HookOutput {
    let mut hook = Hook::in_dir("limits_charm", dispatch_path, dir);
    if let Some(endpoint) = endpoint {
        hook = hook.env("LIMITS_ENDPOINT", endpoint);
    }
    hook.run()
}

#[test]
fn the_101st_record_evicts_exactly_the_oldest_one() {
    let dir = fresh_charm_dir();
    let ids: Vec<String> = (0..101)
        .map(|_| {
            let output = limits(&dir, "hooks/start", None);
            assert_eq!(output.code(), 0, "{}", output.stderr());
            output.trace_id().unwrap()
        })
        .collect();
    assert_eq!(buffered_records(&dir.join(BUFFER)), 100);
    let receiver = Receiver::start();
    let last = limits(&dir, "hooks/start", Some(&receiver.endpoint()));
    let mut expected = ids[2..].to_vec();
    expected.push(last.trace_id().unwrap());
    assert_eq!(
        accepted_ids(&receiver),
        expected,
        "the oldest two went, one per append"
    );
}

#[test]
fn a_record_too_large_for_the_buffer_goes_after_the_backlog() {
    let dir = fresh_charm_dir();
    let old: Vec<String> = (0..2)
        .map(|_| {
            shop(&dir, Some(&closed_port_endpoint()))
                .trace_id()
                .unwrap()
        })
        .collect();
    let receiver = Receiver::start();
    let big = Hook::in_dir("shop_charm", "hooks/update-status", &dir)
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .env("SHOP_SPANS", "120000")
        .run();
    assert_eq!(big.code(), 0, "{}", big.stderr());
    let accepted = accepted_ids(&receiver);
    assert_eq!(
        accepted,
        vec![old[0].clone(), old[1].clone(), big.trace_id().unwrap()],
        "oldest first: {}",
        big.stderr()
    );
    assert!(!dir.join(BUFFER).exists());
}

/// The regular files in `dir` whose names start with `prefix`.
fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[test]
fn symlinks_planted_next_to_the_buffer_are_never_followed() {
    let outside_dir = fresh_charm_dir();
    let precious = outside_dir.join("precious");
    std::fs::write(&precious, b"precious bytes").unwrap();
    let dir = fresh_charm_dir();
    for suffix in [".corrupt", ".tmp.1", ".tmp.12345", ".lock"] {
        std::os::unix::fs::symlink(&precious, dir.join(format!("{BUFFER}{suffix}"))).unwrap();
    }
    // A foreign file at the buffer's path: it must be moved aside, and not onto the symlink.
    std::fs::write(dir.join(BUFFER), b"not a buffer at all").unwrap();
    let receiver = Receiver::start();
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(std::fs::read(&precious).unwrap(), b"precious bytes");
    assert_eq!(accepted_ids(&receiver), vec![output.trace_id().unwrap()]);
    let moved = files_starting(&dir, &format!("{BUFFER}.corrupt"));
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).unwrap(), b"not a buffer at all");
    // A damaged buffer next to the planted `.corrupt` link: its bad bytes go elsewhere too.
    shop(&dir, Some(&closed_port_endpoint()));
    let path = dir.join(BUFFER);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(std::fs::read(&precious).unwrap(), b"precious bytes");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp."), "no temp file is left: {name}");
    }
}

#[test]
fn temp_files_left_by_a_killed_hook_are_removed_by_the_next() {
    let dir = fresh_charm_dir();
    shop(&dir, Some(&closed_port_endpoint()));
    let stale = dir.join(format!("{BUFFER}.tmp.4242"));
    std::fs::write(&stale, vec![0u8; 64 * 1024]).unwrap();
    shop(&dir, Some(&closed_port_endpoint()));
    assert!(!stale.exists(), "the stale temp file is gone");
    assert_eq!(
        buffered_records(&dir.join(BUFFER)),
        2,
        "the buffer is untouched"
    );
}

/// Runs the shop charm and returns its status, its stderr and its peak resident memory in
/// KiB. The child is reaped by `wait4` (for its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(
    binary: &Path,
    dir: &Path,
    endpoint: &str,
) -> (std::process::ExitStatus, String, i64) {
    let mut child = std::process::Command::new(binary)
        .env_clear()
        .env("JUJU_UNIT_NAME", "shop/0")
        .env("JUJU_DISPATCH_PATH", "hooks/start")
        .env("JUJU_CHARM_DIR", dir)
        .env("SHOP_TRACING_ENDPOINT", endpoint)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: `pid` is our child, not yet waited for; the pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    (status, reader.join().unwrap(), usage.ru_maxrss)
}

#[test]
fn a_foreign_200_mib_file_at_the_buffer_path_is_moved_aside_intact_without_being_read() {
    let dir = fresh_charm_dir();
    let path = dir.join(BUFFER);
    let file = std::fs::File::create(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"FOREIGN!", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"the end", 200 * 1024 * 1024 - 7).unwrap();
    drop(file);
    let receiver = Receiver::start();
    let binary = support::example_binary("shop_charm");
    let (status, stderr, max_rss_kib) = run_measured(&binary, &dir, &receiver.endpoint());
    assert!(status.success(), "{stderr}");
    assert_eq!(accepted_ids(&receiver).len(), 1, "{stderr}");
    assert!(
        max_rss_kib < 64 * 1024,
        "the hook peaked at {max_rss_kib} KiB: the file was read"
    );
    let moved = files_starting(&dir, &format!("{BUFFER}.corrupt"));
    assert_eq!(moved.len(), 1, "{moved:?}");
    let file = std::fs::File::open(&moved[0]).unwrap();
    assert_eq!(file.metadata().unwrap().len(), 200 * 1024 * 1024, "intact");
    let mut head = [0u8; 8];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0).unwrap();
    assert_eq!(&head, b"FOREIGN!");
    let mut tail = [0u8; 7];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut tail, 200 * 1024 * 1024 - 7).unwrap();
    assert_eq!(&tail, b"the end");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("[ERROR")).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("moved aside intact"), "{errors:?}");
    drop(file);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_error_whose_display_fails_never_fails_the_hook() {
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    let output = limits(&dir, "hooks/update-status", Some(&receiver.endpoint()));
    assert_eq!(output.code(), 0, "{}", output.stderr());
    assert!(output.stderr().contains("the awkward error was handled"));
    let traces = receiver.accepted_traces();
    assert_eq!(traces.len(), 1, "{}", output.stderr());
    let spans = &traces[0].resource_spans[0].scope_spans[0].spans;
    let awkward = spans
        .iter()
        .find(|s| s.name == "function call: awkward")
        .expect("the traced fn's span");
    let status = awkward.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.starts_with("Unprintable: "), "{status:?}");
}

#[test]
fn userinfo_in_the_endpoint_becomes_basic_auth_and_never_reaches_host() {
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    let endpoint = receiver
        .endpoint()
        .replacen("http://", "http://user:p%40ss@", 1);
    let output = shop(&dir, Some(&endpoint));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{}", output.stderr());
    assert_eq!(requests[0].status, 200, "the strict receiver took it");
    let host = requests[0].host.clone().unwrap();
    assert!(!host.contains('@'), "{host}");
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Basic dXNlcjpwQHNz"),
        "base64 of user:p@ss"
    );
    assert!(
        !output.stderr().contains("p%40ss"),
        "no credentials in the log"
    );
    assert!(!dir.join(BUFFER).exists());
}

fn string_attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

#[test]
fn otel_resource_attributes_are_merged_and_explicit_attributes_win() {
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    let output = Hook::in_dir("shop_charm", "hooks/start", &dir)
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, team = a%20b ,service.name=evil,juju_unit=x/9",
        )
        .run();
    assert_eq!(output.code(), 0);
    let traces = receiver.accepted_traces();
    assert_eq!(traces.len(), 1, "{}", output.stderr());
    let resource = &traces[0].resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    let get = |key| string_attribute(resource, key);
    assert_eq!(get("deployment.environment").as_deref(), Some("prod"));
    assert_eq!(get("team").as_deref(), Some("a b"));
    assert_eq!(get("service.name").as_deref(), Some("shop-charm"));
    assert_eq!(get("juju_unit").as_deref(), Some("shop/0"));
}

#[test]
fn every_event_lies_within_its_span() {
    let receiver = Receiver::start();
    let mut checked = 0;
    for (example, path) in [
        ("shop_charm", "hooks/install"),
        ("shop_charm", "actions/do-backup"),
        ("limits_charm", "hooks/config-changed"),
        ("limits_charm", "hooks/update-status"),
    ] {
        let dir = fresh_charm_dir();
        let env = if example == "shop_charm" {
            "SHOP_TRACING_ENDPOINT"
        } else {
            "LIMITS_ENDPOINT"
        };
        Hook::in_dir(example, path, &dir)
            .env(env, receiver.endpoint())
            .run();
    }
    let traces = receiver.accepted_traces();
    assert_eq!(traces.len(), 4);
    for trace in &traces {
        for span in &trace.resource_spans[0].scope_spans[0].spans {
            assert!(
                span.start_time_unix_nano <= span.end_time_unix_nano,
                "{}",
                span.name
            );
            for event in &span.events {
                assert!(
                    span.start_time_unix_nano <= event.time_unix_nano
                        && event.time_unix_nano <= span.end_time_unix_nano,
                    "{}: event {} at {} outside {}..{}",
                    span.name,
                    event.name,
                    event.time_unix_nano,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano
                );
                if event.name == "exception" {
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 4, "exception events checked: {checked}");
}

fn requirer(
    juju: &support::juju::Juju,
    protocols: &[&str],
) -> charm_tracing::TracingEndpointRequirer {
    charm_tracing::TracingEndpointRequirer::new("tracing", protocols).with_tools(
        charm_tracing::relation::HookTools::new()
            .with_dir(juju.tools_dir())
            .with_timeout(Duration::from_secs(2)),
    )
}

#[test]
fn get_endpoint_follows_the_upstream_rule() {
    use charm_tracing::relation::EndpointLookupError;
    use support::juju::Juju;
    // No request but a response: "you're lucky, but you're good".
    let juju = Juju::related(true, Some(&Juju::otlp_http("http://tempo:4318")));
    assert_eq!(
        requirer(&juju, &[]).get_endpoint("otlp_http"),
        Ok(Some("http://tempo:4318".into()))
    );
    assert_eq!(
        charm_tracing::charm_tracing_config(&requirer(&juju, &["otlp_grpc"]), None),
        (Some("http://tempo:4318".into()), None)
    );
    // Neither published nor requested: the charm author's mistake.
    assert_eq!(
        requirer(&juju, &["otlp_http"]).get_endpoint("zipkin"),
        Err(EndpointLookupError::ProtocolNotRequested("zipkin".into()))
    );
    // Requested, not published: not ready.
    assert_eq!(
        requirer(&juju, &["zipkin"]).get_endpoint("zipkin"),
        Ok(None)
    );
    // No relation at all: not ready, never "not requested".
    let alone = Juju::new(serde_json::json!({"app": "shop", "leader": true, "relations": {}}));
    assert_eq!(
        requirer(&alone, &["otlp_grpc"]).get_endpoint("otlp_http"),
        Ok(None)
    );
    // Related, Tempo has published nothing yet: not ready.
    let early = Juju::related(true, None);
    assert_eq!(requirer(&early, &[]).get_endpoint("otlp_http"), Ok(None));
}

/// A stand-in `is-leader` that leaves a grandchild holding its stdout, recording its pid.
fn tool_with_grandchild(body: &str) -> (PathBuf, PathBuf) {
    let dir = fresh_charm_dir().join("tools");
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("grandchild.pid");
    let script = format!(
        "#!/bin/sh\nsleep 60 &\necho $! > '{}'\n{body}\n",
        pid_file.display()
    );
    let tool = dir.join("is-leader");
    std::fs::write(&tool, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, pid_file)
}

/// Whether process `pid` is gone (or a zombie waiting for its new parent).
fn gone_soon(pid: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

#[test]
fn a_hook_tool_whose_grandchild_holds_its_stdout_is_bounded_and_its_group_killed() {
    use charm_tracing::relation::{HookToolError, HookTools};
    // The tool answers and exits; its grandchild keeps the pipe open.
    let (dir, pid_file) = tool_with_grandchild("echo true");
    let tools = HookTools::new()
        .with_dir(&dir)
        .with_timeout(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let answer = tools.run("is-leader", ["--format=json"]);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(
        answer,
        Ok("true\n".to_owned()),
        "the tool's own answer is kept"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(gone_soon(pid.trim()), "the grandchild {pid} was killed");

    // The tool itself hangs too: killed with its whole group at the limit.
    let (dir, pid_file) = tool_with_grandchild("sleep 60");
    let tools = HookTools::new()
        .with_dir(&dir)
        .with_timeout(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let answer = tools.run("is-leader", ["--format=json"]);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(answer, Err(HookToolError::TimedOut { .. })),
        "{answer:?}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(gone_soon(pid.trim()), "the grandchild {pid} was killed");
}

#[test]
fn a_panic_in_delivery_after_the_write_ahead_says_the_trace_is_in_the_buffer() {
    let dir = fresh_charm_dir();
    let output = Hook::in_dir("limits_charm", "hooks/start", &dir)
        .env("LIMITS_ENDPOINT", closed_port_endpoint())
        .env("LIMITS_PANICKING_LOGGER", "1")
        .run();
    assert_eq!(output.code(), 0, "{}", output.stderr());
    assert!(
        output.stderr().contains("the logger fails"),
        "delivery did panic"
    );
    assert_eq!(buffered_records(&dir.join(BUFFER)), 1, "written ahead");
    let lines = tracing_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("is in the buffer") && !lines[0].contains("lost"),
        "{lines:?}"
    );
    // And a later hook does send it.
    let receiver = Receiver::start();
    let later = limits(&dir, "hooks/start", Some(&receiver.endpoint()));
    assert_eq!(
        accepted_ids(&receiver),
        vec![output.trace_id().unwrap(), later.trace_id().unwrap()]
    );
}

#[test]
fn a_dangling_symlink_at_the_buffer_path_creates_nothing_elsewhere() {
    let outside_dir = fresh_charm_dir();
    let target = outside_dir.join("created-by-a-root-hook");
    let dir = fresh_charm_dir();
    std::os::unix::fs::symlink(&target, dir.join(BUFFER)).unwrap();
    let receiver = Receiver::start();
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(output.code(), 0, "{}", output.stderr());
    assert!(!target.exists(), "no file was created through the link");
    // The trace still went out, directly.
    assert_eq!(accepted_ids(&receiver), vec![output.trace_id().unwrap()]);
}
