//! `charm-tracing`: look at a Rust charm's traces without Tempo.
//!
//! Exit codes: 0 success (for `view` and `html`: something was readable; for `receive
//! --await`: a span matched); 1 failure (nothing readable, a timeout, no trace delivered);
//! 2 a usage error.

/// A line on stderr; a closed stderr is not an error worth dying for.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Text on stdout; a closed stdout (`| head`) ends nothing badly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod html;
mod input;
mod receive;
mod status;
mod view;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Look at a Rust charm's traces without Tempo: the traces waiting in a unit's buffer, or
/// those a hook sends, live.
#[derive(Parser, Debug)]
#[command(name = "charm-tracing", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the traces in buffer files (also `.corrupt` files and OTLP request bodies) as
    /// indented trees with durations, statuses and span events.
    #[command(
        after_help = "Example:\n  charm-tracing view /var/lib/juju/agents/unit-shop-0/charm/.charm_tracing_buffer.raw --errors\n"
    )]
    View {
        /// The files to read.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// One JSON object per span per line instead of trees.
        #[arg(long)]
        json: bool,
        /// Only traces with a failed span.
        #[arg(long)]
        errors: bool,
        /// Only traces of this event (`install`, `config-changed`, `do-backup-action`).
        #[arg(long, value_name = "KIND")]
        event: Option<String>,
    },
    /// Receive OTLP/HTTP traces (protobuf or JSON, gzip or not) and print each as it arrives.
    #[command(
        after_help = "Example (CI: wait until a hook's handler span arrives):\n  charm-tracing receive --await 'method call: MyCharm.on_install' --timeout 30\n"
    )]
    Receive {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:4318")]
        listen: std::net::SocketAddr,
        /// Save every accepted request body in this directory (`view` reads them).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Exit 0 at the first span whose name matches this regular expression.
        #[arg(long = "await", value_name = "REGEX")]
        wait_for: Option<String>,
        /// Exit 1 after this many seconds.
        #[arg(long, value_name = "S")]
        timeout: Option<f64>,
    },
    /// Write one self-contained HTML page with a waterfall per trace.
    #[command(
        after_help = "Example:\n  charm-tracing html .charm_tracing_buffer.raw -o traces.html\n"
    )]
    Html {
        /// The files to read.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The page to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Deliver a buffer copied off a unit to a backend, as a hook would: oldest first, the
    /// same status rules, one deadline. Exit 0 when nothing is left in it.
    #[command(
        after_help = "Example:\n  charm-tracing send buffer.raw --endpoint https://tempo:4318 --ca tempo-ca.pem\n"
    )]
    Send {
        /// The buffer file (it is updated: what is delivered leaves it).
        path: PathBuf,
        /// The OTLP/HTTP endpoint (`/v1/traces` is appended).
        #[arg(long)]
        endpoint: String,
        /// The PEM CA bundle to trust, for https.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// The deadline for all network work, in seconds.
        #[arg(long, default_value_t = 10.0, value_name = "S")]
        timeout: f64,
    },
    /// Show what a buffer holds: records and bytes against the limits, the oldest and newest
    /// record, damage, the outage state.
    #[command(
        after_help = "Example:\n  charm-tracing status .charm_tracing_buffer.raw --max-events 42\n"
    )]
    Status {
        /// The buffer file.
        path: PathBuf,
        /// The charm's `buffer_max_events`.
        #[arg(long, default_value_t = 100)]
        max_events: u32,
        /// The charm's `buffer_max_size_mib`.
        #[arg(long, default_value_t = 10)]
        max_size_mib: u32,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::View {
            paths,
            json,
            errors,
            event,
        } => view_files(&paths, json, &view::Filter { errors, event }),
        Command::Receive {
            listen,
            out,
            wait_for,
            timeout,
        } => receive_traces(listen, out, wait_for, timeout),
        Command::Html { paths, output } => html_page(&paths, &output),
        Command::Send {
            path,
            endpoint,
            ca,
            timeout,
        } => send(&path, &endpoint, ca.as_deref(), timeout),
        Command::Status {
            path,
            max_events,
            max_size_mib,
        } => match input::load(&path) {
            Ok(loaded) => {
                let limits = status::Limits {
                    max_events,
                    max_size_mib,
                };
                out!("{}", status::report(&path, &loaded, limits));
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
    }
}

fn fail(error: &str) -> ExitCode {
    say!("charm-tracing: {error}");
    ExitCode::FAILURE
}

/// Loads every file; what could not be read is one line on stderr each.
fn load_all(paths: &[PathBuf]) -> Vec<(PathBuf, input::Loaded)> {
    let mut loaded = Vec::new();
    for path in paths {
        match input::load(path) {
            Ok(file) => {
                if let Some(damage) = &file.damage {
                    say!("charm-tracing: {}: {damage}", path.display());
                }
                loaded.push((path.clone(), file));
            }
            Err(error) => say!("charm-tracing: {error}"),
        }
    }
    loaded
}

fn view_files(paths: &[PathBuf], json: bool, filter: &view::Filter) -> ExitCode {
    let loaded = load_all(paths);
    if loaded.is_empty() {
        return ExitCode::FAILURE;
    }
    let mut stdout = std::io::stdout().lock();
    for (path, file) in &loaded {
        let traces: Vec<_> = file
            .traces()
            .into_iter()
            .filter(|t| filter.keeps(t))
            .collect();
        if !json {
            let _ = writeln!(
                stdout,
                "{}: {}, {} record(s), {} trace(s) shown\n",
                path.display(),
                file.kind,
                file.records.len(),
                traces.len()
            );
        }
        for trace in &traces {
            if json {
                for span in &trace.spans {
                    let _ = writeln!(stdout, "{}", view::json_line(span));
                }
            } else {
                let _ = writeln!(stdout, "{}", view::text(trace));
            }
        }
    }
    ExitCode::SUCCESS
}

fn receive_traces(
    listen: std::net::SocketAddr,
    out: Option<PathBuf>,
    wait_for: Option<String>,
    timeout: Option<f64>,
) -> ExitCode {
    let wait_for = match wait_for.as_deref().map(regex::Regex::new).transpose() {
        Ok(pattern) => pattern,
        Err(error) => {
            say!("charm-tracing: --await: {error}");
            return ExitCode::from(2);
        }
    };
    let timeout = match timeout.map(Duration::try_from_secs_f64).transpose() {
        Ok(timeout) => timeout,
        Err(error) => {
            say!("charm-tracing: --timeout: {error}");
            return ExitCode::from(2);
        }
    };
    let options = receive::Options {
        listen,
        out,
        wait_for,
        timeout,
    };
    match receive::run(options) {
        Ok(receive::Ended::Matched) => ExitCode::SUCCESS,
        Ok(receive::Ended::TimedOut) => fail("timed out"),
        Err(error) => fail(&error),
    }
}

fn html_page(paths: &[PathBuf], output: &std::path::Path) -> ExitCode {
    let loaded = load_all(paths);
    if loaded.is_empty() {
        return ExitCode::FAILURE;
    }
    let traces: Vec<_> = loaded.iter().flat_map(|(_, file)| file.traces()).collect();
    let source = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match std::fs::write(output, html::page(&traces, &source)) {
        Ok(()) => {
            say!(
                "charm-tracing: {} trace(s) written to {}",
                traces.len(),
                output.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("{}: {error}", output.display())),
    }
}

/// The runtime's log lines (what delivery did), on stderr.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            say!("{}", record.args());
        }
    }

    fn flush(&self) {}
}

fn send(
    path: &std::path::Path,
    endpoint: &str,
    ca: Option<&std::path::Path>,
    timeout: f64,
) -> ExitCode {
    let timeout = match Duration::try_from_secs_f64(timeout) {
        Ok(timeout) => timeout,
        Err(error) => {
            say!("charm-tracing: --timeout: {error}");
            return ExitCode::from(2);
        }
    };
    let records = match input::load(path) {
        Ok(loaded) if loaded.kind == input::BUFFER => loaded.records.len(),
        Ok(loaded) => {
            return fail(&format!(
                "{}: {}, not a charm-tracing buffer: `send` delivers buffers only",
                path.display(),
                loaded.kind
            ));
        }
        Err(error) => return fail(&error),
    };
    static LOGGER: StderrLogger = StderrLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
    if let Err(error) = charm_tracing_runtime::__cli::send_buffer(path, endpoint, ca, timeout) {
        return fail(&error);
    }
    // Everything delivered: the runtime removes the emptied buffer.
    let left = match input::load(path) {
        Ok(loaded) if loaded.kind == input::BUFFER => loaded.records.len(),
        Ok(_) => return fail(&format!("{} is no longer a buffer", path.display())),
        Err(_) if !path.exists() => 0,
        Err(error) => return fail(&error),
    };
    if left == 0 {
        say!(
            "charm-tracing: all {records} record(s) of {} sent",
            path.display()
        );
        ExitCode::SUCCESS
    } else {
        fail(&format!(
            "{left} of {records} record(s) are still in {}",
            path.display()
        ))
    }
}
