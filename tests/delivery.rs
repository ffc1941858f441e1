//! SPEC §6 against real parts: hook processes, a loopback receiver that refuses, fails,
//! black-holes or answers late, a TLS receiver with a CA made at test time, real buffer files.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::path::Path;
use std::time::Duration;
use support::pki::Pki;
use support::receiver::Receiver;
use support::{
    Hook, HookOutput, accepted_ids, buffered_records, closed_port_endpoint, fresh_charm_dir,
    trace_id_of,
};

const BUFFER: &str = ".charm_tracing_buffer.raw";

fn shop(dir: &Path, endpoint: Option<&str>) -> HookOutput {
    support::shop_start(dir, endpoint)
}

#[test]
fn backend_down_then_up_delivers_every_trace_once_oldest_first() {
    let dir = fresh_charm_dir();
    let down = closed_port_endpoint();
    let mut ids: Vec<String> = (0..3)
        .map(|_| shop(&dir, Some(&down)).trace_id().unwrap())
        .collect();
    assert_eq!(
        buffered_records(&dir.join(BUFFER)),
        3,
        "written ahead, kept while down"
    );

    let receiver = Receiver::start();
    ids.push(shop(&dir, Some(&receiver.endpoint())).trace_id().unwrap());
    assert_eq!(
        accepted_ids(&receiver),
        ids,
        "all four, oldest first, one POST each"
    );
    assert_eq!(receiver.requests().len(), 4);
    assert!(
        !dir.join(BUFFER).exists(),
        "delivered records leave the buffer"
    );

    let fifth = shop(&dir, Some(&receiver.endpoint())).trace_id().unwrap();
    ids.push(fifth);
    assert_eq!(accepted_ids(&receiver), ids, "no duplicates");
}

#[test]
fn busy_or_failing_backends_keep_the_records_and_stop() {
    for status in [408, 429, 500, 503] {
        let dir = fresh_charm_dir();
        let first = shop(&dir, Some(&closed_port_endpoint()))
            .trace_id()
            .unwrap();
        let receiver = Receiver::start();
        receiver.set_status(status);
        let second = shop(&dir, Some(&receiver.endpoint())).trace_id().unwrap();
        assert_eq!(
            receiver.requests().len(),
            1,
            "{status}: stop after the first refusal"
        );
        assert_eq!(
            buffered_records(&dir.join(BUFFER)),
            2,
            "{status}: both kept"
        );
        assert!(shop(&dir, None).error_lines().is_empty());
        receiver.set_status(200);
        let fourth = shop(&dir, Some(&receiver.endpoint())).trace_id().unwrap();
        let accepted = accepted_ids(&receiver);
        assert_eq!(
            accepted.len(),
            4,
            "{status}: everything arrives after recovery"
        );
        assert_eq!(accepted[0], first);
        assert_eq!(accepted[1], second);
        assert_eq!(accepted[3], fourth);
        assert!(!dir.join(BUFFER).exists());
    }
}

#[test]
fn records_the_backend_can_never_accept_are_dropped_and_delivery_goes_on() {
    for status in [400, 413] {
        let dir = fresh_charm_dir();
        let old = shop(&dir, Some(&closed_port_endpoint()))
            .trace_id()
            .unwrap();
        let receiver = Receiver::start();
        receiver.script(&[status]);
        let output = shop(&dir, Some(&receiver.endpoint()));
        let new = output.trace_id().unwrap();
        assert_eq!(receiver.requests().len(), 2, "{status}: delivery continues");
        assert_eq!(accepted_ids(&receiver), vec![new], "{status}");
        assert_eq!(trace_id_of(&receiver.traces()[0]), old);
        let errors = output.error_lines();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(&format!("HTTP {status}")), "{errors:?}");
        assert!(
            !dir.join(BUFFER).exists(),
            "{status}: the rejected record is gone"
        );
    }
}

#[test]
fn other_client_errors_keep_the_record_and_say_so() {
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    receiver.set_status(404);
    let output = shop(&dir, Some(&receiver.endpoint()));
    let errors = output.error_lines();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("HTTP 404"), "{errors:?}");
    assert_eq!(buffered_records(&dir.join(BUFFER)), 1);
    receiver.set_status(200);
    shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(accepted_ids(&receiver).len(), 2);
}

#[test]
fn without_an_endpoint_records_wait_for_the_next_hook_that_has_one() {
    let dir = fresh_charm_dir();
    let first = shop(&dir, None).trace_id().unwrap();
    let second = shop(&dir, Some("")).trace_id().unwrap();
    assert_eq!(buffered_records(&dir.join(BUFFER)), 2);
    let receiver = Receiver::start();
    let third = shop(&dir, Some(&receiver.endpoint())).trace_id().unwrap();
    assert_eq!(accepted_ids(&receiver), vec![first, second, third]);
}

#[test]
fn a_black_hole_or_a_slow_backend_holds_a_hook_no_longer_than_the_deadline() {
    for slow in [false, true] {
        let dir = fresh_charm_dir();
        let receiver = Receiver::start();
        if slow {
            receiver.set_delay(Duration::from_millis(1500));
        } else {
            receiver.set_black_hole(true);
        }
        let output = shop(&dir, Some(&receiver.endpoint()));
        assert!(
            output.elapsed < Duration::from_millis(2000),
            "took {:?}",
            output.elapsed
        );
        assert!(output.error_lines().is_empty(), "runtime trouble is quiet");
        assert_eq!(buffered_records(&dir.join(BUFFER)), 1, "kept for later");
        receiver.set_black_hole(false);
        receiver.set_delay(Duration::ZERO);
        // The timeout started an outage backoff (tests/outage.rs): let it end now.
        let state = dir.join(format!("{BUFFER}.state"));
        assert!(state.exists(), "the timeout is recorded");
        std::fs::remove_file(state).unwrap();
        shop(&dir, Some(&receiver.endpoint()));
        assert!(!dir.join(BUFFER).exists());
    }
}

/// The shop charm sending to `receiver` over https, trusting the CA bundle at `ca`.
fn shop_over_https(dir: &Path, receiver: &Receiver, ca: &Path) -> HookOutput {
    let output = Hook::in_dir("shop_charm", "hooks/start", dir)
        .env("SHOP_TRACING_ENDPOINT", receiver.https_endpoint())
        .env("SHOP_TRACING_CA", ca)
        .run();
    assert_eq!(output.code(), 0, "{}", output.stderr());
    output
}

#[test]
fn https_with_the_right_ca_delivers() {
    let pki = Pki::new("right");
    let receiver = Receiver::start_tls(pki.server.clone());
    let dir = fresh_charm_dir();
    let ca = pki.write_ca(&dir);
    let output = shop_over_https(&dir, &receiver, &ca);
    assert_eq!(
        accepted_ids(&receiver),
        vec![output.trace_id().unwrap()],
        "{}",
        output.stderr()
    );
    assert!(output.error_lines().is_empty());
}

#[test]
fn https_with_a_wrong_ca_keeps_the_record() {
    let server = Pki::new("server");
    let other = Pki::new("other");
    let receiver = Receiver::start_tls(server.server.clone());
    let dir = fresh_charm_dir();
    let wrong_ca = other.write_ca(&dir);
    let output = shop_over_https(&dir, &receiver, &wrong_ca);
    assert!(
        receiver.requests().is_empty(),
        "no request passes an unverified handshake"
    );
    assert!(
        output.stderr().contains("TLS handshake failed"),
        "{}",
        output.stderr()
    );
    assert_eq!(buffered_records(&dir.join(BUFFER)), 1);
}

#[test]
fn https_without_a_usable_cert_sends_nothing_and_never_falls_back_to_http() {
    let pki = Pki::new("unused");
    let receiver = Receiver::start_tls(pki.server.clone());
    let dir = fresh_charm_dir();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let cases: Vec<Option<std::ffi::OsString>> = vec![
        None,
        Some("ca.pem".into()),
        Some(dir.join("missing.pem").into_os_string()),
        Some(garbage.into_os_string()),
    ];
    for (n, cert) in cases.iter().enumerate() {
        let mut hook = Hook::in_dir("shop_charm", "hooks/start", &dir)
            .env("SHOP_TRACING_ENDPOINT", receiver.https_endpoint());
        if let Some(cert) = cert {
            hook = hook.env("SHOP_TRACING_CA", cert);
        }
        let output = hook.run();
        assert_eq!(output.code(), 0);
        let errors = output.error_lines();
        assert_eq!(errors.len(), 1, "{cert:?}: one clear line: {errors:?}");
        assert!(errors[0].contains("is https but"), "{errors:?}");
        assert_eq!(receiver.connections(), 0, "{cert:?}: no connection at all");
        assert_eq!(
            buffered_records(&dir.join(BUFFER)),
            n + 1,
            "{cert:?}: buffered"
        );
    }
    let ca = pki.write_ca(&dir);
    shop_over_https(&dir, &receiver, &ca);
    assert_eq!(
        accepted_ids(&receiver).len(),
        5,
        "all buffered traces arrive over TLS"
    );
}

#[test]
fn with_buffering_off_no_file_is_touched_and_failures_drop_with_one_warning() {
    let dir = fresh_charm_dir();
    let output = Hook::in_dir("unbuffered_charm", "hooks/start", &dir)
        .env("TRACING_ENDPOINT", closed_port_endpoint())
        .run();
    assert_eq!(output.code(), 0);
    let warnings: Vec<_> = output
        .stderr()
        .lines()
        .filter(|l| l.starts_with("[WARN"))
        .map(str::to_owned)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("dropped"), "{warnings:?}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no buffer file, no lock file"
    );

    let receiver = Receiver::start();
    let output = Hook::in_dir("unbuffered_charm", "hooks/start", &dir)
        .env("TRACING_ENDPOINT", receiver.endpoint())
        .run();
    assert_eq!(accepted_ids(&receiver), vec![output.trace_id().unwrap()]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    // The short deadline (300 ms) holds against a black hole too.
    receiver.set_black_hole(true);
    let output = Hook::in_dir("unbuffered_charm", "hooks/start", &dir)
        .env("TRACING_ENDPOINT", receiver.endpoint())
        .run();
    assert!(
        output.elapsed < Duration::from_millis(1000),
        "{:?}",
        output.elapsed
    );
}

/// Builds a buffer with `n` records by running hooks against a closed port.
fn buffer_with(dir: &Path, n: usize) -> Vec<String> {
    let down = closed_port_endpoint();
    (0..n)
        .map(|_| shop(dir, Some(&down)).trace_id().unwrap())
        .collect()
}

#[test]
fn damaged_buffers_keep_their_valid_records_and_move_the_rest_aside() {
    // A torn tail: the last record cut short.
    let dir = fresh_charm_dir();
    let ids = buffer_with(&dir, 2);
    let path = dir.join(BUFFER);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let receiver = Receiver::start();
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(
        accepted_ids(&receiver),
        vec![ids[0].clone(), output.trace_id().unwrap()]
    );
    assert_eq!(output.error_lines().len(), 1, "{:?}", output.error_lines());
    assert!(dir.join(format!("{BUFFER}.corrupt")).exists());

    // A flipped byte inside the newest record: caught by its checksum.
    let dir = fresh_charm_dir();
    let ids = buffer_with(&dir, 2);
    let path = dir.join(BUFFER);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let receiver = Receiver::start();
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(
        accepted_ids(&receiver),
        vec![ids[0].clone(), output.trace_id().unwrap()],
        "{}",
        output.stderr()
    );
    assert_eq!(output.error_lines().len(), 1);

    // Foreign files: random bytes, and the Python library's separator format.
    let python = [
        b"\n\x9e\x01\n\x1b".as_slice(),
        b"__CHARM_TRACING_BUFFER_SPAN_SEP__",
        b"\n\x12x",
    ]
    .concat();
    let mut random = vec![0u8; 4096];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for byte in &mut random {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *byte = seed as u8;
    }
    for foreign in [random, python] {
        let dir = fresh_charm_dir();
        std::fs::write(dir.join(BUFFER), &foreign).unwrap();
        let receiver = Receiver::start();
        let output = shop(&dir, Some(&receiver.endpoint()));
        assert_eq!(accepted_ids(&receiver), vec![output.trace_id().unwrap()]);
        assert_eq!(output.error_lines().len(), 1, "{:?}", output.error_lines());
        assert_eq!(
            std::fs::read(dir.join(format!("{BUFFER}.corrupt"))).unwrap(),
            foreign
        );
    }

    // An empty file is an empty buffer.
    let dir = fresh_charm_dir();
    std::fs::write(dir.join(BUFFER), b"").unwrap();
    let receiver = Receiver::start();
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(accepted_ids(&receiver), vec![output.trace_id().unwrap()]);
    assert!(output.error_lines().is_empty());
}

#[test]
fn disk_trouble_is_logged_and_the_trace_still_goes_out_directly() {
    // The charm dir is a regular file: the buffer's directory cannot exist.
    let parent = fresh_charm_dir();
    let not_a_dir = parent.join("charm");
    std::fs::write(&not_a_dir, b"").unwrap();
    let receiver = Receiver::start();
    let output = Hook::in_dir("shop_charm", "hooks/start", &not_a_dir)
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .run();
    assert_eq!(output.code(), 0);
    assert_eq!(output.error_lines().len(), 1, "{:?}", output.error_lines());
    assert_eq!(accepted_ids(&receiver), vec![output.trace_id().unwrap()]);

    // The disk is full.
    let dir = fresh_charm_dir();
    std::os::unix::fs::symlink("/dev/full", dir.join(BUFFER)).unwrap();
    let output = shop(&dir, Some(&receiver.endpoint()));
    assert_eq!(output.error_lines().len(), 1, "{:?}", output.error_lines());
    assert!(
        output.stderr().contains("No space left"),
        "{}",
        output.stderr()
    );
    assert_eq!(accepted_ids(&receiver).len(), 2);
}

#[test]
fn kill_9_at_random_moments_never_corrupts_the_buffer_or_loses_a_written_trace() {
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    let binary = support::example_binary("shop_charm");
    let mut completed = Vec::new();
    // Traces seen on disk after a round, killed or not: written ahead, so never lost.
    let mut written = std::collections::BTreeSet::new();
    let mut killed = 0;
    let mut seed = std::process::id() as u64 | 1;
    for round in 0..30 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        receiver.set_status(if round % 3 == 0 { 200 } else { 503 });
        let mut child = std::process::Command::new(&binary)
            .env_clear()
            .env("JUJU_UNIT_NAME", "shop/0")
            .env("JUJU_DISPATCH_PATH", "hooks/install")
            .env("JUJU_CHARM_DIR", &dir)
            .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Every fifth hook runs to its end and every fifth is killed at once, so both kinds
        // happen however loaded the machine; the others are killed at a random moment.
        match round % 5 {
            0 => {}
            1 => {
                let _ = child.kill();
            }
            _ => {
                std::thread::sleep(Duration::from_micros(seed % 6000));
                let _ = child.kill();
            }
        }
        let output = child.wait_with_output().unwrap();
        if output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            completed.extend(support::logged_trace_id(&stderr));
        } else {
            killed += 1;
        }
        let bytes = std::fs::read(dir.join(BUFFER)).unwrap_or_default();
        let parsed = charm_tracing_runtime::buffer::format::parse(&bytes);
        for record in &parsed.records {
            let request = ExportTraceServiceRequest::decode(*record).expect("a valid record");
            written.insert(trace_id_of(&request));
        }
        assert!(
            parsed.damage.is_none()
                || parsed.damage == Some(charm_tracing_runtime::buffer::format::Damage::TornTail),
            "round {round}: only a cut-short append can be in the file, never garbage: {:?}",
            parsed.damage
        );
    }
    // Both kinds of round happened: some hooks were killed, some ran to the end.
    assert!(killed > 0, "no hook was killed: the kills came too late");
    assert!(
        !completed.is_empty(),
        "no hook completed: the kills came too early"
    );
    receiver.set_status(200);
    let last = shop(&dir, Some(&receiver.endpoint()));
    completed.push(last.trace_id().unwrap());
    let accepted = accepted_ids(&receiver);
    for id in completed.iter().chain(&written) {
        assert!(
            accepted.contains(id),
            "trace {id} of a completed hook, or written to the buffer, was lost"
        );
    }
    eprintln!(
        "{killed} of 30 hooks killed; {} completed; {} seen written",
        completed.len() - 1,
        written.len()
    );
    assert!(
        !dir.join(BUFFER).exists(),
        "everything delivered in the end"
    );
}

#[test]
fn a_record_larger_than_the_buffer_is_not_buffered_one_error_line_then_sent_directly() {
    // A charm with a 32 MiB trace budget; about 60 bytes a span: 200 000 spans encode to
    // more than the buffer's 10 MiB limit, and still fit the trace's budget.
    let dir = fresh_charm_dir();
    let receiver = Receiver::start();
    let output = Hook::in_dir("loop_charm", "hooks/update-status", &dir)
        .env("LOOP_TRACING_ENDPOINT", receiver.endpoint())
        .env("LOOP_HUGE", "1")
        .env("LOOP_CALLS", "200000")
        .run();
    assert_eq!(output.code(), 0, "{}", output.stderr());
    let errors = output.error_lines();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("larger than the buffer limit"),
        "{errors:?}"
    );
    assert_eq!(
        buffered_records(&dir.join(BUFFER)),
        0,
        "never written to the buffer"
    );
    let accepted = receiver.accepted_traces();
    assert_eq!(accepted.len(), 1, "sent directly instead");
    let spans = &accepted[0].resource_spans[0].scope_spans[0].spans;
    let steps = spans
        .iter()
        .filter(|s| s.name == "method call: Work.step")
        .count();
    assert_eq!(steps, 200_000, "every call recorded: the budget is 32 MiB");
}
