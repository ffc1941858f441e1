//! Whole hooks as processes: the example charm traced against the same charm built
//! untraced, side by side, alternating runs. Wall time and peak RSS (from `wait4`).
//!
//! ```text
//! bash benches/run-hook-bench.sh            # builds both variants, then runs this
//! ```

#[path = "../../../tests/support/receiver.rs"]
mod receiver;

use receiver::Receiver;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Run {
    wall: Duration,
    max_rss_kib: u64,
    /// When the hook process was spawned, ns since the Unix epoch.
    spawned_unix_ns: u64,
}

/// Runs one hook of `binary` through a small launcher process (this binary, re-executed
/// before it has grown), so that the hook's peak RSS is its own: a child spawned with
/// `CLONE_VM` from a large parent inherits the parent's high-water mark.
fn run_hook(binary: &Path, dir: &Path, endpoint: &str, spans: usize) -> Run {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .arg("--launch")
        .arg(binary)
        .arg(dir)
        .arg(endpoint)
        .arg(spans.to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("launcher");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<u64>().expect("launcher output"));
    let (Some(wall_ns), Some(max_rss_kib), Some(spawned_unix_ns)) =
        (fields.next(), fields.next(), fields.next())
    else {
        panic!("launcher failed: {text}");
    };
    Run {
        wall: Duration::from_nanos(wall_ns),
        max_rss_kib,
        spawned_unix_ns,
    }
}

/// The launcher: runs one hook, prints its wall time (ns) and peak RSS (KiB).
fn launch(args: &[String]) -> ! {
    let run = launch_once(
        Path::new(&args[0]),
        Path::new(&args[1]),
        &args[2],
        args[3].parse().expect("spans"),
    );
    println!(
        "{} {} {}",
        run.wall.as_nanos(),
        run.max_rss_kib,
        run.spawned_unix_ns
    );
    std::process::exit(0);
}

/// In place of a span count: run `hooks/upgrade-charm`, whose handler panics.
const PANICKING: usize = usize::MAX;

#[allow(clippy::zombie_processes)] // reaped by `wait4` below, for its rusage
fn launch_once(binary: &Path, dir: &Path, endpoint: &str, spans: usize) -> Run {
    let (dispatch_path, exit_code) = if spans == PANICKING {
        ("hooks/upgrade-charm", 101)
    } else {
        ("hooks/update-status", 0)
    };
    let spawned_unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let started = Instant::now();
    let child = Command::new(binary)
        .env_clear()
        .env("JUJU_UNIT_NAME", "shop/0")
        .env("JUJU_DISPATCH_PATH", dispatch_path)
        .env("JUJU_MODEL_NAME", "bench")
        .env("JUJU_CHARM_DIR", dir)
        .env("SHOP_TRACING_ENDPOINT", endpoint)
        .env("SHOP_SPANS", spans.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hook");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child.id()` is our un-waited child; both pointers are valid.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == exit_code,
        "hook exited otherwise than expected"
    );
    Run {
        wall,
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        spawned_unix_ns,
    }
}

fn fresh_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "charm-tracing-hook-bench-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("charm dir");
    dir
}

/// Median and interquartile range.
fn stats(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Pair {
    traced: Vec<Run>,
    untraced: Vec<Run>,
}

fn compare(
    traced: &Path,
    untraced: &Path,
    endpoint: &str,
    spans: usize,
    iterations: usize,
    prepare: &dyn Fn(&Path),
) -> Pair {
    let mut pair = Pair {
        traced: Vec::new(),
        untraced: Vec::new(),
    };
    for i in 0..iterations {
        for (binary, runs) in [(traced, &mut pair.traced), (untraced, &mut pair.untraced)] {
            let dir = fresh_dir(&format!("{spans}-{i}"));
            prepare(&dir);
            runs.push(run_hook(binary, &dir, endpoint, spans));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    pair
}

fn report_row(label: &str, pair: &Pair) {
    let (t, t25, t75) = stats(pair.traced.iter().map(|r| ms(r.wall)).collect());
    let (u, u25, u75) = stats(pair.untraced.iter().map(|r| ms(r.wall)).collect());
    let (tr, _, _) = stats(pair.traced.iter().map(|r| r.max_rss_kib as f64).collect());
    let (ur, _, _) = stats(pair.untraced.iter().map(|r| r.max_rss_kib as f64).collect());
    println!(
        "| {label} | {t:.2} ms ({t25:.2}–{t75:.2}) | {u:.2} ms ({u25:.2}–{u75:.2}) | +{:.2} ms | {:.2}× | {:.1} / {:.1} MiB ({:.2}×) |",
        t - u,
        t / u,
        tr / 1024.0,
        ur / 1024.0,
        tr / ur
    );
}

fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    format!("http://127.0.0.1:{port}")
}

fn stripped_size(binary: &Path) -> u64 {
    let copy = std::env::temp_dir().join(format!("charm-tracing-strip-{}", std::process::id()));
    std::fs::copy(binary, &copy).expect("copy binary");
    let status = Command::new("strip")
        .arg(&copy)
        .status()
        .expect("run strip");
    assert!(status.success(), "strip");
    let size = std::fs::metadata(&copy).expect("size").len();
    let _ = std::fs::remove_file(copy);
    size
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--launch") {
        launch(&args[2..]);
    }
    if args.len() < 3 {
        eprintln!("usage: hook_bench TRACED_BINARY UNTRACED_BINARY [--quick]");
        std::process::exit(2);
    }
    let traced = PathBuf::from(&args[1]);
    let untraced = PathBuf::from(&args[2]);
    let quick = args.iter().any(|a| a == "--quick");
    let iterations = if quick { 3 } else { 40 };
    let receiver = Receiver::start();
    let live = receiver.endpoint();
    let refused = closed_port();
    let none = |_: &Path| {};

    println!(
        "| scenario | traced (median, IQR) | untraced | delta | ratio | peak RSS traced / untraced |"
    );
    println!("|---|---|---|---|---|---|");
    for spans in [10, 100, 1000] {
        for (name, endpoint) in [
            ("live receiver", live.as_str()),
            ("refused", refused.as_str()),
            ("no endpoint", ""),
        ] {
            let pair = compare(&traced, &untraced, endpoint, spans, iterations, &none);
            report_row(&format!("{spans} spans, {name}"), &pair);
        }
    }

    let pair = compare(&traced, &untraced, "", PANICKING, iterations, &none);
    report_row("a panicking hook (4 spans), no endpoint", &pair);

    let black_hole = Receiver::start();
    black_hole.set_black_hole(true);
    let pair = compare(
        &traced,
        &untraced,
        &black_hole.endpoint(),
        100,
        if quick { 1 } else { 5 },
        &none,
    );
    report_row("100 spans, black hole (deadline 1 s)", &pair);

    // A hook that loops over 10 million items: its trace is bounded (folded past the
    // budget), delivered to the live receiver.
    let before = receiver.requests().len();
    let pair = compare(
        &traced,
        &untraced,
        &live,
        10_000_000,
        if quick { 1 } else { 5 },
        &none,
    );
    report_row("10,000,000 traced calls, live receiver", &pair);
    let sizes: Vec<usize> = receiver.requests()[before..]
        .iter()
        .map(|r| r.body.len())
        .collect();
    println!(
        "\nrecords of the 10,000,000-call hooks: {} delivered, largest {:.2} MiB",
        sizes.len(),
        sizes.iter().copied().max().unwrap_or(0) as f64 / 1048576.0
    );

    // A storm: 30 hooks in a row, in one charm dir, against a backend that accepts and
    // never answers. The first hook pays the deadline; the outage state makes the next ones
    // skip the network until the backoff expires.
    let storms = if quick { 1 } else { 3 };
    let mut totals = [Vec::new(), Vec::new()];
    for storm in 0..storms {
        for (which, binary) in [&traced, &untraced].into_iter().enumerate() {
            let dir = fresh_dir(&format!("storm-{storm}-{which}"));
            let started = Instant::now();
            for _ in 0..30 {
                run_hook(binary, &dir, &black_hole.endpoint(), 100);
            }
            totals[which].push(ms(started.elapsed()));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let (t, _, _) = stats(totals[0].clone());
    let (u, _, _) = stats(totals[1].clone());
    println!(
        "storm of 30 hooks (100 spans each) against a black hole, deadline 1 s: traced {t:.0} ms, \
         untraced {u:.0} ms, +{:.0} ms in all ({storms} storms, median)",
        t - u
    );

    // A full buffer: 100 records of a 1000-span hook each (about 10 MiB), made by real hooks.
    let seed = fresh_dir("seed");
    let seeding = if quick { 5 } else { 100 };
    for _ in 0..seeding {
        run_hook(&traced, &seed, &refused, 1000);
    }
    let buffer = seed.join(".charm_tracing_buffer.raw");
    let buffer_size = std::fs::metadata(&buffer).map(|m| m.len()).unwrap_or(0);
    let before = receiver.requests().len();
    let copy_buffer = |dir: &Path| {
        std::fs::copy(&buffer, dir.join(".charm_tracing_buffer.raw")).expect("copy buffer");
    };
    let pair = compare(
        &traced,
        &untraced,
        &live,
        10,
        if quick { 1 } else { 10 },
        &copy_buffer,
    );
    report_row(
        &format!(
            "flush a full buffer ({seeding} records, {:.1} MiB) + 10 spans",
            buffer_size as f64 / 1048576.0
        ),
        &pair,
    );
    let delivered = receiver.requests().len() - before;
    println!("\nrecords delivered during the flush runs: {delivered}");

    // Start-up: from spawn to the root span's start, read back from the delivered trace.
    let mut startup = Vec::new();
    for i in 0..iterations {
        let dir = fresh_dir(&format!("startup-{i}"));
        let count = receiver.requests().len();
        let spawned = run_hook(&traced, &dir, &live, 10).spawned_unix_ns;
        if receiver.wait_for(count + 1, Duration::from_secs(2)) {
            let trace = &receiver.traces()[count];
            let spans = &trace.resource_spans[0].scope_spans[0].spans;
            let root_start = spans
                .iter()
                .map(|s| s.start_time_unix_nano)
                .min()
                .unwrap_or(spawned);
            startup.push(root_start.saturating_sub(spawned) as f64 / 1e6);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (s, s25, s75) = stats(startup);
    println!("start-up, process spawn to root span start: {s:.2} ms ({s25:.2}–{s75:.2})");

    let traced_size = stripped_size(&traced);
    let untraced_size = stripped_size(&untraced);
    println!(
        "stripped binary size: traced {:.2} MiB, untraced {:.2} MiB, delta +{:.2} MiB",
        traced_size as f64 / 1048576.0,
        untraced_size as f64 / 1048576.0,
        (traced_size as f64 - untraced_size as f64) / 1048576.0
    );
    let _ = std::fs::remove_dir_all(&seed);
}
