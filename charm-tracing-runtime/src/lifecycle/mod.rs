//! A hook from start to end: what `#[trace_charm]` configures (`config`), starting the
//! session when the constructor returns (`start`: the one place its side effects are, the
//! panic hook, the global provider, `atexit`), running the hook (`hook`), and delivering at
//! process exit (`exit`). Depends on all the other parts; none depends on it.

pub(crate) mod config;
pub(crate) mod exit;
pub(crate) mod hook;
pub(crate) mod start;
