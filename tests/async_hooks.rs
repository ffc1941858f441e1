//! Async charms as real processes: the tokio example charm on both runtime flavors, and the
//! synchronous shop charm run from inside `#[tokio::main]`, hook by hook with `JUJU_*`
//! variables against the loopback OTLP receiver; and the same charms built with
//! `panic = "abort"`.

mod support;

use charm_tracing::testing::{CapturedSpan, SpanStatus, Trace};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use support::Hook;
use support::receiver::Receiver;

const FLAVORS: [&str; 2] = ["async_charm", "async_charm_current_thread"];

/// What one hook process did and delivered.
struct Delivered {
    code: i32,
    stderr: String,
    trace: Trace,
}

/// Runs `dispatch_path` of `hook` against a fresh receiver: exactly one trace must arrive,
/// and its id must be the one the hook logged.
fn deliver(hook: Hook, what: &str) -> Delivered {
    let receiver = Receiver::start();
    let output = hook
        .env("ASYNC_TRACING_ENDPOINT", receiver.endpoint())
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .run();
    assert!(
        receiver.wait_for(1, Duration::from_secs(5)),
        "{what}: no trace arrived; stderr:\n{}",
        output.stderr()
    );
    std::thread::sleep(Duration::from_millis(50));
    let traces = receiver.traces();
    assert_eq!(traces.len(), 1, "{what}: exactly one request per hook");
    assert_eq!(
        output.stdout(),
        "",
        "{what}: tracing never prints to stdout"
    );
    let trace = Trace::from_request(&traces[0]);
    assert_eq!(
        output.trace_id().as_deref(),
        Some(trace.trace_id.as_str()),
        "{what}: the logged trace id is the delivered trace's"
    );
    Delivered {
        code: output.code(),
        stderr: output.stderr(),
        trace,
    }
}

fn run(example: &str, dispatch_path: &str) -> Delivered {
    deliver(
        Hook::new(example, dispatch_path),
        &format!("{example} {dispatch_path}"),
    )
}

fn span<'a>(trace: &'a Trace, name: &str) -> &'a CapturedSpan {
    trace
        .span(name)
        .unwrap_or_else(|| panic!("no span {name:?} in\n{}", trace.tree()))
}

const INSTALL_TREE: &str = "\
shop/0: install event
  event: install
    method call: AsyncShop.on_install
      function call: fetch_setting
      function call: fetch_setting
      function call: warm_cache
        function call: warm_entry
        function call: warm_entry
      method call: AsyncShop.render
      apply
        function call: count_replicas
";

#[test]
fn joined_and_spawned_futures_and_tracing_spans_nest_under_the_calling_span() {
    for example in FLAVORS {
        let hook = run(example, "hooks/install");
        assert_eq!(hook.code, 0, "{example}: {}", hook.stderr);
        // The joined futures, the spawned task (polled on a worker thread in the
        // multi-thread flavor) and the `tracing` span all nest where they were created.
        assert_eq!(hook.trace.tree(), INSTALL_TREE, "{example}");
        let trace = &hook.trace;
        let on_install = span(trace, "method call: AsyncShop.on_install");
        for child in trace.children(on_install) {
            assert_eq!(child.kind, "INTERNAL");
        }
        let apply = span(trace, "apply");
        assert_eq!(
            apply.attribute("resource"),
            Some("shop"),
            "a `tracing` field"
        );
        assert_eq!(
            apply.attribute("name"),
            Some("shop"),
            "an instrumented argument"
        );
        let events: Vec<_> = apply.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(events, ["applying shop", "applied"], "`tracing` events");
        let applying = &apply.events[0];
        let attribute = |key: &str| {
            applying
                .attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(attribute("level"), Some("INFO"));
        assert!(
            attribute("target").is_some_and(|t| t.ends_with("inventory")),
            "{:?}",
            attribute("target")
        );
        assert_eq!(attribute("bytes"), Some("20"));
        // Spans are exported in end order, root last.
        assert_eq!(
            trace.spans.last().map(|s| s.name.as_str()),
            Some("shop/0: install event")
        );
        // Every span lies within its parent.
        for child in &trace.spans {
            if let Some(parent) = trace.parent(child) {
                assert!(
                    parent.start_unix_nano <= child.start_unix_nano
                        && child.end_unix_nano <= parent.end_unix_nano,
                    "{example}: {} is outside {}",
                    child.name,
                    parent.name
                );
            }
        }
    }
}

#[test]
fn a_panicking_task_is_marked_and_leaves_no_frame_behind() {
    for example in FLAVORS {
        let hook = run(example, "hooks/config-changed");
        assert_eq!(hook.code, 0, "{example}: the charm handles the JoinError");
        // On the current-thread runtime the crashed task and the next one run on the same
        // thread: a frame left on its stack would put `warm_cache` under `flaky_worker`.
        assert_eq!(
            hook.trace.tree(),
            "\
shop/0: config-changed event
  event: config_changed
    method call: AsyncShop.on_config_changed
      function call: flaky_worker  [ERROR panic: worker crashed]
      function call: warm_cache
        function call: warm_entry
",
            "{example}"
        );
        let worker = span(&hook.trace, "function call: flaky_worker");
        assert_eq!(worker.events.len(), 1);
        assert_eq!(worker.events[0].name, "exception");
        let root = hook.trace.root().expect("root");
        assert_eq!(
            root.status,
            SpanStatus::Unset,
            "a handled crash fails nothing"
        );
    }
}

#[test]
fn a_task_carried_by_instrument_keeps_its_tracing_parent() {
    for example in FLAVORS {
        let hook = run(example, "hooks/start");
        assert_eq!(hook.code, 0, "{example}");
        assert_eq!(
            hook.trace.tree(),
            "\
shop/0: start event
  event: start
    method call: AsyncShop.on_start
      watch
",
            "{example}"
        );
        let watch = span(&hook.trace, "watch");
        let events: Vec<_> = watch.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(events, ["watch established"], "{example}");
    }
}

#[test]
fn a_failing_async_handler_marks_handler_event_and_root() {
    for example in FLAVORS {
        let hook = run(example, "hooks/stop");
        assert_eq!(hook.code, 1, "{example}");
        let failed = SpanStatus::Error("Error: the workload did not stop".to_owned());
        for name in [
            "shop/0: stop event",
            "event: stop",
            "method call: AsyncShop.on_stop",
        ] {
            assert_eq!(span(&hook.trace, name).status, failed, "{example} {name}");
        }
        assert_eq!(
            span(&hook.trace, "function call: fetch_setting").status,
            SpanStatus::Unset
        );
    }
}

#[test]
fn a_sync_main_inside_tokio_main_delivers_the_same_trace_as_without_tokio() {
    for dispatch_path in ["hooks/install", "hooks/do-backup", "hooks/remove"] {
        let plain = run("shop_charm", dispatch_path);
        let in_tokio = run("tokio_sync_main", dispatch_path);
        assert_eq!(in_tokio.code, plain.code, "{dispatch_path}");
        assert_eq!(in_tokio.trace.tree(), plain.trace.tree(), "{dispatch_path}");
        assert!(
            !in_tokio.stderr.contains("lost"),
            "{dispatch_path}: {}",
            in_tokio.stderr
        );
    }
}

/// The examples built with the `panic-abort` profile, in a target dir of their own (as
/// trybuild does), once per test run.
fn abort_build() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target").join("panic-abort");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["build", "--profile", "panic-abort", "--quiet"])
            .args(["--example", "async_charm", "--example", "tokio_sync_main"])
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the panic-abort examples failed");
        target.join("panic-abort").join("examples")
    })
}

fn abort_hook(example: &str, dispatch_path: &str) -> Hook {
    Hook::from_binary(&abort_build().join(example), dispatch_path)
}

#[test]
fn with_panic_abort_hooks_deliver_and_a_panic_is_traced_before_the_abort() {
    let hook = deliver(
        abort_hook("async_charm", "hooks/install"),
        "abort async install",
    );
    assert_eq!(hook.code, 0, "{}", hook.stderr);
    assert_eq!(hook.trace.tree(), INSTALL_TREE);

    let hook = deliver(
        abort_hook("tokio_sync_main", "hooks/install"),
        "abort sync install",
    );
    assert_eq!(hook.code, 0, "{}", hook.stderr);

    // `upgrade-charm` panics: there is no unwinding, yet the trace is out before the abort.
    let hook = deliver(
        abort_hook("tokio_sync_main", "hooks/upgrade-charm"),
        "abort upgrade",
    );
    assert_ne!(hook.code, 0, "the process aborts");
    let failed = |name: &str| match &span(&hook.trace, name).status {
        SpanStatus::Error(description) => description.clone(),
        other => panic!("{name} is {other:?}\n{}", hook.trace.tree()),
    };
    let expected = "panic: schema migration from this version is not supported";
    assert_eq!(failed("method call: ShopCharm.migrate_schema"), expected);
    assert_eq!(failed("shop/0: upgrade-charm event"), expected);
}

#[test]
fn traced_async_fns_compile_in_an_edition_2021_crate_and_keep_their_arguments() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--manifest-path",
            "tests/edition2021/Cargo.toml",
        ])
        .arg("--target-dir")
        .arg(root.join("target").join("edition2021"))
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("edition 2021: ok"), "{stderr}");
    assert!(
        !stderr.contains("warning"),
        "no warnings in the charm's code:\n{stderr}"
    );
}
