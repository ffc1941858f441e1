//! Outages as Juju would meet them: a storm of hooks against a backend that accepts
//! connections and never answers pays the deadline once per backoff, not once per hook;
//! nothing is lost, and everything goes, once, when the backend is back.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::receiver::Receiver;
use support::{Hook, HookOutput, buffered_records, closed_port_endpoint, fresh_charm_dir};

const BUFFER: &str = ".charm_tracing_buffer.raw";
const STATE: &str = ".charm_tracing_buffer.raw.state";

fn shop(dir: &Path, endpoint: &str) -> HookOutput {
    Hook::in_dir("shop_charm", "hooks/update-status", dir)
        .env("SHOP_TRACING_ENDPOINT", endpoint)
        .run()
}

use support::accepted_ids;

/// Makes the recorded backoff expire now (as waiting it out would).
fn expire_backoff(dir: &Path) {
    let state = std::fs::read_to_string(dir.join(STATE)).expect("an outage state");
    let expired: String = state
        .lines()
        .map(|line| {
            if line.starts_with("until_unix_ms=") {
                "until_unix_ms=0".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join(STATE), expired + "\n").unwrap();
}

#[test]
fn a_storm_against_a_black_hole_pays_the_deadline_once_then_delivers_everything_once() {
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    receiver.set_black_hole(true);
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..30 {
        let hook = shop(&dir, &receiver.endpoint());
        assert_eq!(hook.code(), 0, "{}", hook.stderr());
        ids.push(hook.trace_id().unwrap());
    }
    let storm = started.elapsed();
    // The first hook waits out the 1 s deadline; the next 29 stay off the network.
    assert!(storm < Duration::from_secs(3), "30 hooks took {storm:?}");
    assert_eq!(buffered_records(&dir.join(BUFFER)), 30, "nothing lost");
    let state = std::fs::read_to_string(dir.join(STATE)).unwrap();
    assert!(state.contains("backoff_ms=5000"), "{state}");
    let skipped = shop(&dir, &receiver.endpoint());
    assert!(
        skipped.stderr().contains("not trying again for"),
        "{}",
        skipped.stderr()
    );
    ids.push(skipped.trace_id().unwrap());

    // The backend is back and the backoff is over: the next hook delivers all, once.
    receiver.set_black_hole(false);
    expire_backoff(&dir);
    let back = shop(&dir, &receiver.endpoint());
    ids.push(back.trace_id().unwrap());
    assert_eq!(accepted_ids(&receiver), ids, "oldest first, each once");
    assert!(!dir.join(STATE).exists(), "a delivery ends the outage");
    assert!(!dir.join(BUFFER).exists());
}

#[test]
fn the_backoff_doubles_while_the_backend_stays_away() {
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    receiver.set_black_hole(true);
    shop(&dir, &receiver.endpoint());
    expire_backoff(&dir);
    let started = Instant::now();
    shop(&dir, &receiver.endpoint());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it tried again"
    );
    let state = std::fs::read_to_string(dir.join(STATE)).unwrap();
    assert!(state.contains("backoff_ms=10000"), "{state}");
}

#[test]
fn another_endpoint_a_quick_refusal_and_a_damaged_state_file_do_not_hold_delivery() {
    let dir = fresh_charm_dir();
    let black_hole = Receiver::start();
    black_hole.set_black_hole(true);
    shop(&dir, &black_hole.endpoint());
    assert!(dir.join(STATE).exists());
    // Another endpoint: not held by the first one's outage.
    let live = Receiver::start();
    let hook = shop(&dir, &live.endpoint());
    assert_eq!(accepted_ids(&live).len(), 2, "{}", hook.stderr());
    assert!(!dir.join(STATE).exists(), "the delivery ended the outage");

    // A refused connection costs no time: no outage is recorded for it.
    let refused = fresh_charm_dir();
    shop(&refused, &closed_port_endpoint());
    assert!(!refused.join(STATE).exists());

    // A state file that is not one is ignored.
    let damaged = fresh_charm_dir();
    std::fs::write(damaged.join(STATE), b"\x00\xffnot a state file").unwrap();
    shop(&damaged, &live.endpoint());
    assert_eq!(accepted_ids(&live).len(), 3);
}
