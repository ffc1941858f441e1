//! `charm-tracing status`: what a buffer holds, against its limits.

use crate::input::Loaded;
use charm_tracing_runtime::testing::Trace;
use std::fmt::Write as _;
use std::path::Path;

/// The limits to compare against (the charm's `#[trace_charm]` values; these are the
/// defaults).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `buffer_max_events`.
    pub max_events: u32,
    /// `buffer_max_size_mib`.
    pub max_size_mib: u32,
}

/// The status report of the buffer at `path`.
pub fn report(path: &Path, loaded: &Loaded, limits: Limits) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "file:     {} ({})", path.display(), loaded.kind);
    let _ = writeln!(
        out,
        "records:  {} of at most {} ({:.0}%)",
        loaded.records.len(),
        limits.max_events,
        percent(loaded.records.len() as f64, f64::from(limits.max_events))
    );
    let limit_bytes = u64::from(limits.max_size_mib) << 20;
    let _ = writeln!(
        out,
        "bytes:    {} of at most {} ({:.1}%)",
        loaded.bytes,
        limit_bytes,
        percent(loaded.bytes as f64, limit_bytes as f64)
    );
    let traces = loaded.traces();
    for (label, trace) in [("oldest:", traces.first()), ("newest:", traces.last())] {
        match trace {
            Some(trace) => {
                let _ = writeln!(out, "{label:<9} {}", describe(trace));
            }
            None => {
                let _ = writeln!(out, "{label:<9} -");
            }
        }
    }
    let _ = writeln!(
        out,
        "damage:   {}",
        loaded.damage.as_deref().unwrap_or("none")
    );
    let state = sibling(path, ".state");
    let read_state = || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        if !std::fs::metadata(&state)?.is_file() {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&state)?
            .take(1024)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    match read_state() {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let fields: Vec<&str> = text.lines().skip(1).collect();
            let _ = writeln!(out, "outage:   {} ({})", fields.join("; "), state.display());
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "outage:   no outage state ({} does not exist)",
                state.display()
            );
        }
    }
    out
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// When a trace's hook ran, which hook, and its id.
fn describe(trace: &Trace) -> String {
    let root = trace.root();
    let start = root.map_or(0, |r| r.start_unix_nano);
    format!(
        "{}  {}  trace {}",
        utc(start),
        root.map_or("?", |r| r.name.as_str()),
        trace.trace_id
    )
}

/// Unix nanoseconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn utc(unix_nanos: u64) -> String {
    let seconds = unix_nanos / 1_000_000_000;
    let days = (seconds / 86_400) as i64;
    let time = seconds % 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_001_045 * 1_000_000_000), "2026-11-18T11:24:05Z");
    }
}
