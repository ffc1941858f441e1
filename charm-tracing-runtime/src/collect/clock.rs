//! Span timestamps, cheap to take: raw TSC ticks where the TSC is invariant (x86_64), else
//! monotonic nanoseconds. A session converts them to Unix nanoseconds once, at the end, by
//! interpolating between (ticks, time) pairs taken when it starts and when it ends, so no
//! calibration loop ever runs in a hook.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static USE_TSC: AtomicBool = AtomicBool::new(false);

/// Where the kernel names the clocksource it uses.
const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// Decides once per process whether the TSC can be used: only when the CPU says it is
/// invariant and the kernel itself uses it (a kernel that found it unstable, cross-core skew,
/// a migrated VM, switches to another clocksource).
pub(crate) fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let kernel_uses_tsc =
            std::fs::read_to_string(CLOCKSOURCE).is_ok_and(|source| clocksource_is_tsc(&source));
        USE_TSC.store(kernel_uses_tsc && invariant_tsc(), Ordering::Relaxed);
    });
}

/// Whether the contents of `current_clocksource` name the TSC.
fn clocksource_is_tsc(contents: &str) -> bool {
    contents.trim() == "tsc"
}

#[cfg(target_arch = "x86_64")]
fn invariant_tsc() -> bool {
    // CPUID 0x8000_0007, EDX bit 8: the TSC runs at a constant rate in every C-state.
    let max_extended = core::arch::x86_64::__cpuid(0x8000_0000).eax;
    max_extended >= 0x8000_0007 && core::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_tsc() -> bool {
    false
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Now, in ticks (TSC cycles or monotonic ns).
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if USE_TSC.load(Ordering::Relaxed) {
        // SAFETY: `rdtsc` has no preconditions on x86_64.
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    monotonic_nanos()
}

fn monotonic_nanos() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds since the Unix epoch of a `SystemTime`.
pub(crate) fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A (ticks, monotonic, wall) sample.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Anchor {
    ticks: u64,
    mono: Instant,
    unix: u64,
}

impl Anchor {
    pub(crate) fn now() -> Self {
        let mono = Instant::now();
        let ticks = ticks();
        Anchor {
            ticks,
            mono,
            unix: unix_nanos(SystemTime::now()),
        }
    }
}

/// Converts ticks to Unix nanoseconds, from the session's start and end anchors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Converter {
    start: Anchor,
    /// Nanoseconds per tick, as a ratio.
    nanos: u128,
    ticks: u128,
}

impl Converter {
    pub(crate) fn new(start: Anchor, end: Anchor) -> Self {
        let ticks = u128::from(end.ticks.saturating_sub(start.ticks));
        let nanos = end.mono.saturating_duration_since(start.mono).as_nanos();
        if ticks == 0 || nanos == 0 {
            Converter {
                start,
                nanos: 1,
                ticks: 1,
            }
        } else {
            Converter {
                start,
                nanos,
                ticks,
            }
        }
    }

    /// A duration of `ticks`, in nanoseconds.
    pub(crate) fn nanos(&self, ticks: u64) -> u64 {
        u64::try_from(u128::from(ticks) * self.nanos / self.ticks).unwrap_or(u64::MAX)
    }

    pub(crate) fn unix_nanos(&self, ticks: u64) -> u64 {
        let start = self.start.ticks;
        let offset = |delta: u64| u128::from(delta) * self.nanos / self.ticks;
        let nanos = if ticks >= start {
            u128::from(self.start.unix) + offset(ticks - start)
        } else {
            u128::from(self.start.unix).saturating_sub(offset(start - ticks))
        };
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kernels_tsc_clocksource_allows_the_tsc() {
        assert!(clocksource_is_tsc("tsc\n"));
        for other in ["kvm-clock\n", "hpet\n", "acpi_pm\n", "", "tsc-early\n"] {
            assert!(!clocksource_is_tsc(other), "{other:?}");
        }
        init();
        let kernel = std::fs::read_to_string(CLOCKSOURCE).unwrap_or_default();
        if !clocksource_is_tsc(&kernel) {
            assert!(
                !USE_TSC.load(Ordering::Relaxed),
                "{kernel:?}: the fallback clock"
            );
        }
    }

    #[test]
    fn ticks_convert_to_wall_time_within_a_microsecond_per_millisecond() {
        init();
        let start = Anchor::now();
        let before = unix_nanos(SystemTime::now());
        let mark = ticks();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let end = Anchor::now();
        let converter = Converter::new(start, end);
        let converted = converter.unix_nanos(mark);
        assert!(
            converted.abs_diff(before) < 50_000,
            "{converted} vs {before}"
        );
        assert!(converter.unix_nanos(end.ticks).abs_diff(end.unix) < 50_000);
        assert!(converter.unix_nanos(start.ticks) == start.unix);
    }
}
