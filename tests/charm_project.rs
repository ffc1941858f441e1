//! The shippable example charm (`examples/charm-project/`): laid out by its `build-charm.sh`
//! as charmcraft's `dump` part packs it, then its `dispatch` run as Juju runs it (from the
//! charm dir, `JUJU_*` set, hook tools on `PATH`), delivering its trace to the receiver.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::juju::{Juju, JujuLog};
use support::receiver::Receiver;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/` of the workspace running this test.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// Runs `build-charm.sh` (dev profile to save build time; release is the default).
fn lay_out_charm() -> PathBuf {
    let out = support::fresh_charm_dir().join("charm");
    let status = Command::new(workspace().join("examples/charm-project/build-charm.sh"))
        .arg(&out)
        .env("CHARM_PROFILE", "dev")
        .env("CARGO_TARGET_DIR", target_dir().join("charm-project"))
        .status()
        .expect("run build-charm.sh");
    assert!(status.success(), "build-charm.sh failed");
    out
}

fn run_dispatch(
    charm: &Path,
    dispatch_path: &str,
    path: std::ffi::OsString,
    receiver: &Receiver,
) -> std::process::Output {
    Command::new(charm.join("dispatch"))
        .current_dir(charm)
        .env_clear()
        .env("PATH", path)
        .env("JUJU_UNIT_NAME", "rust-shop/0")
        .env("JUJU_DISPATCH_PATH", dispatch_path)
        .env("JUJU_MODEL_NAME", "prod")
        .env("JUJU_MODEL_UUID", "6f5c1d2e-0000-4000-8000-000000000002")
        .env("JUJU_CHARM_DIR", charm)
        .env("JUJU_VERSION", "4.0.0")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.endpoint())
        .env("JUJU_CHARM_TRACE_CONFIG_GRPC", "")
        .env("JUJU_CHARM_TRACE_CONFIG_CA_CERT", "")
        .output()
        .expect("run dispatch")
}

#[test]
fn the_laid_out_charm_delivers_its_trace_through_dispatch() {
    let charm = lay_out_charm();
    for file in ["dispatch", "bin/rust-shop-charm", "metadata.yaml"] {
        assert!(charm.join(file).is_file(), "{file} is laid out");
    }
    let metadata = std::fs::read_to_string(charm.join("metadata.yaml")).unwrap();
    for needed in ["tracing:", "receive-ca-cert:", "charm-traces:"] {
        assert!(metadata.contains(needed), "metadata declares {needed}");
    }

    let receiver = Receiver::start();
    let juju = Juju::new(serde_json::json!({"app": "rust-shop", "leader": true, "relations": {}}));
    let juju_log = JujuLog::new("ok");
    let output = run_dispatch(
        &charm,
        "hooks/install",
        juju_log.path_before(&juju.path()),
        &receiver,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout");

    // The trace-id line reached juju-log at INFO.
    let line = juju_log
        .records()
        .into_iter()
        .find(|(_, message)| message.starts_with("Starting root trace with id='"))
        .unwrap_or_else(|| {
            panic!(
                "no trace-id line in {:?}; stderr:\n{stderr}",
                juju_log.records()
            )
        });
    assert_eq!(line.0, "INFO");
    let trace_id = support::logged_trace_id(&line.1).expect("a trace id");

    assert!(
        receiver.wait_for(1, Duration::from_secs(5)),
        "no trace; stderr:\n{stderr}"
    );
    std::thread::sleep(Duration::from_millis(100));
    // The buffer on the storage may hold records of earlier runs: find this hook's.
    let request = receiver
        .traces()
        .into_iter()
        .find(|r| support::trace_id_of(r) == trace_id)
        .expect("this hook's trace arrived");
    let names: Vec<String> = request.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for expected in [
        "rust-shop/0: install event",
        "event: install",
        "method call: RustShop.on_install",
        "method call: RustShop.set_status",
        "status-set",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert_eq!(
        juju.state()["status"],
        serde_json::json!(["maintenance", "installing"]),
        "the hook really ran status-set"
    );
}
