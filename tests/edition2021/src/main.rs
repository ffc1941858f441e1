//! Traced `async fn`s in an edition-2021 crate: borrowed `self` and arguments, generics,
//! and arguments that live until the body ends, whatever their pattern.

use charm_tracing::trace;
use std::sync::atomic::{AtomicBool, Ordering};

struct Store {
    name: String,
}

#[trace]
impl Store {
    async fn by_ref(&self, other: &str) -> usize {
        self.name.len() + other.len()
    }

    async fn generic<T: AsRef<str>>(&mut self, value: T) -> usize {
        value.as_ref().len()
    }
}

#[trace]
async fn borrowed(text: &str, _unused: String) -> &str {
    text
}

/// Sets its flag when dropped.
struct Guard(&'static AtomicBool);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[trace]
async fn holds(_: Guard, (first, _second): (u8, u8)) -> u8 {
    first
}

fn main() {
    static DROPPED: AtomicBool = AtomicBool::new(false);
    let mut store = Store { name: "a".into() };
    drop(store.by_ref("b"));
    drop(store.generic("c"));
    drop(borrowed("x", String::new()));
    let future = holds(Guard(&DROPPED), (1, 2));
    assert!(!DROPPED.load(Ordering::SeqCst), "the guard lives in the future");
    drop(future);
    assert!(DROPPED.load(Ordering::SeqCst), "and ends with it");
    eprintln!("edition 2021: ok");
}
