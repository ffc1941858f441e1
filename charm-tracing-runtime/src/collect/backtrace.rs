//! A panic's stack trace, cheaply: the return addresses from the unwinder (microseconds),
//! named from the executable's own symbol table (a few milliseconds, once per process),
//! not from its debug info (which costs the ~100 ms `std::backtrace` pays to resolve).

use std::fmt::Write as _;
use std::sync::OnceLock;

/// The most frames a stack trace keeps.
pub(crate) const MAX_FRAMES: usize = 32;
/// Frames read from the unwinder: the panic machinery's own come first and are dropped.
const CAPTURE: usize = 64;

/// The return addresses of the calling thread's stack, innermost first.
pub(crate) fn capture() -> Vec<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut frames = [std::ptr::null_mut::<libc::c_void>(); CAPTURE];
        // SAFETY: `frames` has room for `CAPTURE` pointers, the count passed.
        let count = unsafe { libc::backtrace(frames.as_mut_ptr(), CAPTURE as libc::c_int) };
        let count = usize::try_from(count).unwrap_or(0).min(CAPTURE);
        frames[..count].iter().map(|ip| *ip as usize).collect()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        Vec::new()
    }
}

/// The executable's function symbols, sorted by address, and where it is loaded. The names
/// point into the executable, mapped (not read): only the symbol table's pages are touched.
struct Symbols {
    base: usize,
    functions: Vec<(u64, &'static str)>,
}

fn symbols() -> Option<&'static Symbols> {
    static SYMBOLS: OnceLock<Option<Symbols>> = OnceLock::new();
    SYMBOLS.get_or_init(load_symbols).as_ref()
}

fn load_symbols() -> Option<Symbols> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let base = object_base(symbols as *const () as usize)?.0;
    let file = std::fs::File::open("/proc/self/exe").ok()?;
    // SAFETY: the running executable is not modified while it runs (the kernel refuses
    // writes to it, ETXTBSY); the mapping is read-only and kept for the process's life.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let bytes: &'static [u8] = Box::leak(Box::new(map));
    let file = object::File::parse(bytes).ok()?;
    let mut functions: Vec<(u64, &'static str)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.name().ok()?)))
        .collect();
    functions.sort_unstable_by_key(|(address, _)| *address);
    Some(Symbols { base, functions })
}

/// The load address of the object `address` is in, and that object's path.
fn object_base(address: usize) -> Option<(usize, String)> {
    #[cfg(unix)]
    {
        // SAFETY: `Dl_info` is plain data; `dladdr` fills it for an address in a loaded
        // object and reads nothing else.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let found = unsafe { libc::dladdr(address as *const libc::c_void, &mut info) };
        if found == 0 || info.dli_fbase.is_null() {
            return None;
        }
        let name = if info.dli_fname.is_null() {
            String::new()
        } else {
            // SAFETY: `dladdr` gave a NUL-terminated path that lives as long as the object.
            unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
                .to_string_lossy()
                .into_owned()
        };
        Some((info.dli_fbase as usize, name))
    }
    #[cfg(not(unix))]
    {
        let _ = address;
        None
    }
}

/// The name of the function `ip` returns into, demangled without its hash.
fn name_of(ip: usize) -> String {
    // A return address points after the call: look up the byte before it.
    let address = ip.saturating_sub(1);
    if let Some(symbols) = symbols()
        && let Some((base, _)) = object_base(address)
        && base == symbols.base
    {
        let offset = (address - base) as u64;
        let index = symbols
            .functions
            .partition_point(|(start, _)| *start <= offset);
        if let Some((_, name)) = index.checked_sub(1).and_then(|i| symbols.functions.get(i)) {
            return format!("{:#}", rustc_demangle::demangle(name));
        }
    }
    match object_base(address) {
        Some((base, object)) => format!("{object}+{:#x}", address - base),
        None => format!("{address:#x}"),
    }
}

/// Whether a frame belongs to the panic machinery (or this crate's panic hook), above the
/// code that panicked.
fn is_machinery(name: &str) -> bool {
    const MACHINERY: &[&str] = &[
        "charm_tracing_runtime::collect::backtrace::capture",
        "charm_tracing_runtime::collect::panics::",
        "std::panicking::",
        "core::panicking::",
        "std::sys::backtrace::__rust_end_short_backtrace",
        "rust_begin_unwind",
        "__rustc::rust_begin_unwind",
        "<alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call",
        "<alloc::boxed::Box<dyn",
        "core::option::expect_failed",
        "core::result::unwrap_failed",
    ];
    MACHINERY.iter().any(|prefix| name.starts_with(prefix))
}

/// The stack trace of `frames`, innermost first: the panic machinery dropped, at most
/// [`MAX_FRAMES`] frames, ending where the program's own frames end.
pub(crate) fn render(location: &str, frames: &[usize]) -> String {
    let mut out = format!("{location}:");
    let names = frames.iter().map(|ip| name_of(*ip));
    let mut shown = 0;
    let mut started = false;
    for name in names {
        if !started && is_machinery(&name) {
            continue;
        }
        started = true;
        if name.starts_with("std::sys::backtrace::__rust_begin_short_backtrace")
            || shown == MAX_FRAMES
        {
            break;
        }
        let _ = write!(out, "\n{shown:>4}: {name}");
        shown += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn deep(depth: u32) -> Vec<usize> {
        if depth == 0 {
            capture()
        } else {
            std::hint::black_box(deep(depth - 1))
        }
    }

    #[test]
    fn a_stack_trace_names_the_calls_and_is_bounded() {
        let trace = render("panicked at here", &deep(3));
        assert!(trace.starts_with("panicked at here:"), "{trace}");
        assert!(
            trace.contains("charm_tracing_runtime::collect::backtrace::tests::deep"),
            "{trace}"
        );
        let deep = render("at", &deep(80));
        assert_eq!(deep.lines().count(), 1 + MAX_FRAMES, "{deep}");
    }

    #[test]
    fn the_panic_machinery_is_not_part_of_it() {
        assert!(is_machinery("std::panicking::begin_panic_handler"));
        assert!(is_machinery("core::panicking::panic_fmt"));
        assert!(!is_machinery("shop_charm::ShopCharm::migrate_schema"));
    }
}
