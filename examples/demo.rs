//! The demo: a loopback OTLP/HTTP receiver, the example shop charm run hook by hook as real
//! processes with `JUJU_*` variables, and each received trace printed as a tree, with the
//! lines the hook sent to a stand-in `juju-log` (what `juju debug-log` would show).
//!
//! ```text
//! cargo run --example demo
//! ```

// The demo reports to its user on stdout; the charms it runs never print there.
#![allow(clippy::print_stdout)]

#[path = "async_charm.rs"]
mod async_charm;
#[path = "../tests/support/receiver.rs"]
mod receiver;
#[path = "shop_charm.rs"]
mod shop_charm;

use charm_tracing::testing::{Trace, TreeStyle};
use receiver::Receiver;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

/// Set in the environment of the child processes that play the charm.
const CHARM_ROLE: &str = "CHARM_TRACING_DEMO_CHARM";

/// The example charms the demo runs: the synchronous shop, and the async one on tokio.
const SHOP: &str = "shop";
const ASYNC: &str = "async";

const HOOKS: &[(&str, &str, &str)] = &[
    (
        SHOP,
        "hooks/install",
        "installs the shop; a handled validation error inside",
    ),
    (SHOP, "hooks/config-changed", "reconfigures the store"),
    (SHOP, "hooks/start", "starts the workload"),
    (
        SHOP,
        "actions/do-backup",
        "fails: no backup target configured",
    ),
    (
        SHOP,
        "hooks/upgrade-charm",
        "panics: the failure is still traced",
    ),
    (
        ASYNC,
        "hooks/install",
        "async on tokio: joined and spawned futures, a `tracing` span and its events",
    ),
    (
        ASYNC,
        "hooks/config-changed",
        "async: a spawned task panics, the charm handles it",
    ),
];

fn main() -> ExitCode {
    match std::env::var(CHARM_ROLE).as_deref() {
        Ok(SHOP) => return shop_charm::main(),
        Ok(ASYNC) => return async_charm::main(),
        _ => {}
    }
    let receiver = Receiver::start();
    let charm = match std::env::current_exe() {
        Ok(path) => path,
        Err(error) => {
            eprintln!("demo: cannot find its own executable: {error}");
            return ExitCode::FAILURE;
        }
    };
    let charm_dir = std::env::temp_dir().join(format!("charm-tracing-demo-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&charm_dir);
    let tools = charm_dir.join("juju-tools");
    let debug_log = tools.join("debug-log");
    if let Err(error) = stand_in_juju_log(&tools) {
        eprintln!("demo: cannot write the stand-in juju-log: {error}");
        return ExitCode::FAILURE;
    }
    let mut path = tools.clone().into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    println!("OTLP/HTTP receiver listening on {}\n", receiver.endpoint());
    let hook = |example: &str, dispatch_path: &str, endpoint: &str| {
        Command::new(&charm)
            .env(CHARM_ROLE, example)
            .env("JUJU_UNIT_NAME", "shop/0")
            .env("JUJU_DISPATCH_PATH", dispatch_path)
            .env("JUJU_MODEL_NAME", "demo")
            .env("JUJU_MODEL_UUID", "00000000-0000-4000-8000-000000000000")
            .env("JUJU_CHARM_DIR", &charm_dir)
            .env("JUJU_VERSION", "3.6.0")
            .env("SHOP_TRACING_ENDPOINT", endpoint)
            .env("ASYNC_TRACING_ENDPOINT", endpoint)
            .env_remove("RUST_LOG")
            .env("PATH", &path)
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    let mut failures = 0;
    for (index, (example, dispatch_path, what)) in HOOKS.iter().enumerate() {
        println!(
            "── hook {}: {dispatch_path} of the {example} charm ({what})",
            index + 1
        );
        match hook(example, dispatch_path, &receiver.endpoint()) {
            Ok(status) => println!("   exit status: {}", status.code().unwrap_or(-1)),
            Err(error) => println!("   could not run: {error}"),
        }
        println!("   juju-log (what juju debug-log shows):");
        for line in std::fs::read_to_string(&debug_log)
            .unwrap_or_default()
            .lines()
        {
            println!("     {line}");
        }
        let _ = std::fs::remove_file(&debug_log);
        if !receiver.wait_for(index + 1, Duration::from_secs(5)) {
            println!("   no trace arrived\n");
            failures += 1;
            continue;
        }
        let request = &receiver.traces()[index];
        print_trace(&Trace::from_request(request));
    }
    // One more hook with no endpoint: its trace waits in the buffer, for the CLI.
    let buffer = charm_dir.join(".charm_tracing_buffer.raw");
    println!("── one more hook: hooks/update-status of the shop charm, with no endpoint");
    match hook(SHOP, "hooks/update-status", "") {
        Ok(_) if buffer.exists() => {
            println!("   its trace waits in the buffer {}\n", buffer.display());
            println!(
                "Look at it without Tempo (`cargo install --path charm-tracing-cli` gives `charm-tracing`):"
            );
            println!(
                "   cargo run -q -p charm-tracing-cli -- view {}",
                buffer.display()
            );
            println!(
                "   cargo run -q -p charm-tracing-cli -- html {} -o trace.html",
                buffer.display()
            );
            println!(
                "   cargo run -q -p charm-tracing-cli -- status {}\n",
                buffer.display()
            );
        }
        _ => {
            println!("   no buffer was written\n");
            failures += 1;
        }
    }
    if failures == 0 {
        println!("All {} hooks delivered their trace.", HOOKS.len());
        ExitCode::SUCCESS
    } else {
        println!("{failures} hook(s) delivered no trace.");
        ExitCode::FAILURE
    }
}

/// A stand-in for Juju's `juju-log` hook tool in `dir`: it appends `LEVEL message` to
/// `dir/debug-log`.
fn stand_in_juju_log(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let script = dir.join("juju-log");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         level=INFO\n\
         if [ \"$1\" = --log-level ]; then level=$2; shift 2; fi\n\
         if [ \"$1\" = -- ]; then shift; fi\n\
         printf '%-7s %s\\n' \"$level\" \"$*\" >> \"$(dirname \"$0\")/debug-log\"\n",
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
}

fn print_trace(trace: &Trace) {
    println!("   {}\n", trace.summary());
    for line in trace.render(TreeStyle::Detailed).lines() {
        println!("     {line}");
    }
    println!();
}
