//! The `charm-tracing` binary against real parts: buffers written by the example charm's
//! hooks run as processes, a real receiver, raw HTTP requests on 127.0.0.1, and a real
//! headless browser for the HTML page.

#[path = "../../tests/support/mod.rs"]
mod support;

use charm_tracing_runtime::buffer::format;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::Hook;
use support::receiver::Receiver;

const BUFFER: &str = ".charm_tracing_buffer.raw";

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_charm-tracing"))
}

fn run(args: &[&str]) -> Output {
    cli().args(args).output().expect("run charm-tracing")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A charm dir whose buffer holds the traces of `hooks`, run with no endpoint; their ids.
fn buffered(hooks: &[&str]) -> (PathBuf, Vec<String>) {
    let dir = support::fresh_charm_dir();
    let mut ids = Vec::new();
    for hook in hooks {
        let output = Hook::in_dir("shop_charm", hook, &dir)
            .env("SHOP_TRACING_ENDPOINT", "")
            .run();
        ids.push(output.trace_id().expect("a logged trace id"));
    }
    (dir.join(BUFFER), ids)
}

/// The tree lines of `view` output without the duration, status and event columns.
fn names(view: &str) -> String {
    let columns = regex::Regex::new(r"\s+\d+(\.\d+)? (µs|ms)(  .*)?$").unwrap();
    view.lines()
        .filter(|line| line.starts_with("  "))
        .map(|line| columns.replace(&line[2..], "").into_owned() + "\n")
        .collect()
}

const INSTALL: &str = "\
shop/0: install event
  event: install
    method call: ShopCharm.on_install
      method call: ShopCharm.prepare
      method call: ShopCharm.validate
      method call: ShopCharm.default_settings
      function call: render_config
      method call: Store.configure
        function call: render_config
      event: refresh
        method call: ShopCharm.on_refresh
";

#[test]
fn view_prints_the_buffered_trees_with_statuses_and_filters() {
    let (buffer, ids) = buffered(&["hooks/install", "actions/do-backup", "hooks/start"]);
    let path = buffer.to_str().unwrap();
    let output = run(&["view", path]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("3 record(s), 3 trace(s) shown"), "{text}");
    for id in &ids {
        assert!(text.contains(&format!("trace {id}")), "{id} in\n{text}");
    }
    assert!(names(&text).starts_with(INSTALL), "{text}");
    assert!(
        text.contains("ERROR \"ValidationError: invalid settings \\\"port=0\\\"\""),
        "{text}"
    );
    assert!(
        text.contains("events: refresh"),
        "span events are shown: {text}"
    );

    // --errors: the install (a handled error inside) and the failed backup, not the start.
    let errors = stdout(&run(&["view", path, "--errors"]));
    assert!(
        errors.contains(&ids[0]) && errors.contains(&ids[1]),
        "{errors}"
    );
    assert!(!errors.contains(&ids[2]), "{errors}");
    // --event, in Juju's spelling or ops'.
    for kind in ["do-backup-action", "do_backup_action"] {
        let backup = stdout(&run(&["view", path, "--event", kind]));
        assert!(
            backup.contains(&ids[1]) && !backup.contains(&ids[0]),
            "{backup}"
        );
    }
}

#[test]
fn view_json_prints_one_span_per_line_with_every_field() {
    let (buffer, ids) = buffered(&["actions/do-backup"]);
    let output = run(&["view", buffer.to_str().unwrap(), "--json"]);
    assert!(output.status.success());
    let spans: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    assert_eq!(spans.len(), 4, "root, event, handler, run_backup");
    for span in &spans {
        assert_eq!(span["trace_id"], ids[0].as_str());
        for key in [
            "span_id",
            "parent_span_id",
            "name",
            "start_unix_nano",
            "end_unix_nano",
            "status",
            "attributes",
            "events",
        ] {
            assert!(span.get(key).is_some(), "{key} in {span}");
        }
    }
    let root = spans
        .iter()
        .find(|s| s["parent_span_id"].is_null())
        .unwrap();
    assert_eq!(root["name"], "shop/0: do-backup event");
    assert_eq!(root["status"], "ERROR");
    assert_eq!(
        root["status_message"],
        "BackupError: no backup target configured"
    );
    assert_eq!(
        root["attributes"]["juju.dispatch_path"],
        "actions/do-backup"
    );
    let event = spans
        .iter()
        .find(|s| s["name"] == "event: do_backup_action")
        .unwrap();
    assert_eq!(event["events"][0]["name"], "do_backup_action");
}

#[test]
fn view_reads_damaged_buffers_corrupt_files_and_raw_request_bodies() {
    let (buffer, ids) = buffered(&["hooks/start", "hooks/install"]);
    // A torn tail: the valid records are shown, one line says what is not readable.
    let mut bytes = std::fs::read(&buffer).unwrap();
    let valid = bytes.len();
    bytes.extend_from_slice(&[0x40, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
    std::fs::write(&buffer, &bytes).unwrap();
    let output = run(&["view", buffer.to_str().unwrap()]);
    assert!(output.status.success());
    assert!(stdout(&output).contains(&ids[1]), "{}", stdout(&output));
    let complaints: Vec<_> = stderr(&output).lines().map(str::to_owned).collect();
    assert_eq!(complaints.len(), 1, "{complaints:?}");
    assert!(complaints[0].contains("10 byte(s)"), "{complaints:?}");

    // A `.corrupt` file: frames without a header, the last one cut short.
    let records = format::parse(&bytes[..valid])
        .records
        .iter()
        .map(|r| r.to_vec())
        .collect::<Vec<_>>();
    let mut corrupt = format::frame(&records[0]).unwrap();
    corrupt.extend(&format::frame(&records[1]).unwrap()[..30]);
    let corrupt_path = buffer.with_extension("raw.corrupt");
    std::fs::write(&corrupt_path, &corrupt).unwrap();
    let output = run(&["view", corrupt_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&ids[0]));
    assert!(!stdout(&output).contains(&ids[1]));
    assert!(
        stderr(&output).contains("30 byte(s) are not readable"),
        "{}",
        stderr(&output)
    );

    // A raw OTLP body, as a backend receives it.
    let body_path = buffer.with_extension("pb");
    std::fs::write(&body_path, &records[1]).unwrap();
    let output = run(&["view", body_path.to_str().unwrap()]);
    assert!(stdout(&output).contains("OTLP request body"));
    assert!(names(&stdout(&output)).starts_with(INSTALL));

    // Nothing readable at all: exit 1 and one line.
    let junk = buffer.with_extension("junk");
    std::fs::write(&junk, b"certainly not a trace").unwrap();
    let output = run(&["view", junk.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}

#[test]
fn status_counts_records_and_bytes_against_the_limits() {
    let (buffer, ids) = buffered(&["hooks/start", "hooks/install", "hooks/config-changed"]);
    let size = std::fs::metadata(&buffer).unwrap().len();
    let output = run(&["status", buffer.to_str().unwrap(), "--max-events", "4"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("records:  3 of at most 4 (75%)"), "{text}");
    assert!(
        text.contains(&format!("bytes:    {size} of at most 10485760")),
        "{text}"
    );
    let line = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .unwrap()
            .to_owned()
    };
    assert!(line("oldest:").contains(&ids[0]), "{text}");
    assert!(line("oldest:").contains("shop/0: start event"), "{text}");
    assert!(line("newest:").contains(&ids[2]), "{text}");
    assert!(text.contains("damage:   none"), "{text}");
    assert!(text.contains("no outage state"), "{text}");
}

/// `charm-tracing receive` on a free port; its address, from its first stderr line.
struct Received {
    child: std::process::Child,
    address: String,
    log: BufReader<std::process::ChildStderr>,
}

impl Received {
    fn start(extra: &[&str]) -> Received {
        let mut child = cli()
            .args(["receive", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let mut line = String::new();
        let mut log = BufReader::new(child.stderr.take().unwrap());
        log.read_line(&mut line).unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Received {
            child,
            address,
            log,
        }
    }

    /// One raw HTTP/1.1 request; the status and the body of the answer.
    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, answer[split + 4..].to_vec())
    }

    /// Waits for the receiver to exit; its stdout, and its stderr after the first line.
    fn finish(mut self) -> Output {
        let mut rest = Vec::new();
        let _ = self.log.read_to_end(&mut rest);
        let mut output = self.child.wait_with_output().unwrap();
        output.stderr = rest;
        output
    }
}

#[test]
fn receive_awaits_a_hooks_span_prints_its_tree_and_saves_the_body() {
    let out = support::fresh_charm_dir().join("bodies");
    let receiver = Received::start(&[
        "--out",
        out.to_str().unwrap(),
        "--await",
        "^method call: ShopCharm\\.on_refresh$",
        "--timeout",
        "30",
    ]);
    let hook = Hook::new("shop_charm", "hooks/install")
        .env(
            "SHOP_TRACING_ENDPOINT",
            format!("http://{}", receiver.address),
        )
        .run();
    assert_eq!(hook.code(), 0, "{}", hook.stderr());
    let id = hook.trace_id().unwrap();
    let output = receiver.finish();
    assert!(
        output.status.success(),
        "--await matched: {}",
        stderr(&output)
    );
    assert!(stdout(&output).contains(&format!("trace {id}")));
    assert!(
        names(&stdout(&output)).starts_with(INSTALL),
        "{}",
        stdout(&output)
    );
    // The hook's delivery got a real answer (no error line about the backend).
    assert!(!hook.stderr().contains("unavailable"), "{}", hook.stderr());
    let saved: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
    assert_eq!(saved.len(), 1);
    let view = run(&["view", saved[0].path().to_str().unwrap()]);
    assert!(stdout(&view).contains(&id));
}

#[test]
fn receive_answers_as_an_otlp_receiver_does() {
    let receiver = Received::start(&["--await", "^ops\\.main$", "--timeout", "30"]);
    let (buffer, _) = buffered(&["hooks/start"]);
    let bytes = std::fs::read(&buffer).unwrap();
    let record = format::parse(&bytes).records[0].to_vec();
    let protobuf = [("Content-Type", "application/x-protobuf")];

    let (status, body) = receiver.post("/v1/traces", &protobuf, &record);
    assert_eq!(status, 200);
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
        body.as_slice(),
    )
    .expect("an ExportTraceServiceResponse");

    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzipped.write_all(&record).unwrap();
    let gzipped = gzipped.finish().unwrap();
    let gzip = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "gzip"),
    ];
    assert_eq!(receiver.post("/v1/traces", &gzip, &gzipped).0, 200);

    assert_eq!(receiver.post("/v1/logs", &protobuf, &record).0, 404);
    assert_eq!(
        receiver
            .post("/v1/traces", &[("Content-Type", "text/plain")], &record)
            .0,
        415
    );
    assert_eq!(
        receiver.post("/v1/traces", &protobuf, b"\xff\xff\xff").0,
        400
    );
    let json = [("Content-Type", "application/json")];
    assert_eq!(receiver.post("/v1/traces", &json, b"{not json").0, 400);

    // OTLP/JSON, as ops[tracing] sends it: hex ids, nanoseconds as strings.
    let ops = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"py-charm"}}]},"scopeSpans":[{"scope":{"name":"ops"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ops.main","kind":1,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","status":{}}]}]}]}"#;
    let (status, body) = receiver.post("/v1/traces", &json, ops);
    assert_eq!((status, body.as_slice()), (200, b"{}".as_slice()));

    let output = receiver.finish();
    assert!(output.status.success(), "the JSON span matched --await");
    let text = stdout(&output);
    assert_eq!(
        text.matches("shop/0: start event").count(),
        2,
        "plain and gzip: {text}"
    );
    assert!(
        text.contains("trace 5b8efff798038103d269b633813fc60c  service.name=py-charm"),
        "{text}"
    );
    assert!(
        text.contains("ops.main") && text.contains("1.0 s") | text.contains("1000.0 ms"),
        "{text}"
    );
}

#[test]
fn receive_times_out_with_exit_1() {
    let started = std::time::Instant::now();
    let receiver = Received::start(&["--await", "never", "--timeout", "0.3"]);
    let output = receiver.finish();
    assert_eq!(output.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stderr(&output).contains("timed out"));
}

/// The headless browser this machine has (CI installs Debian's `chromium-headless-shell`).
fn browser() -> &'static str {
    for candidate in ["chromium-headless-shell", "chromium"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return candidate;
        }
    }
    panic!("no headless browser: apt-get install chromium-headless-shell (.ci/run does)");
}

/// Loads `page` in the browser: its DOM after load, and what the browser logged.
fn load_in_browser(page: &Path, screenshot: &Path) -> (String, String) {
    let url = format!("file://{}", page.display());
    let flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let dom = Command::new(browser())
        .args(flags)
        .args(["--dump-dom", &url])
        .output()
        .expect("run the browser");
    let shot = Command::new(browser())
        .args(flags)
        .args(["--window-size=1400,900"])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .expect("run the browser");
    assert!(
        screenshot.exists(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    (
        String::from_utf8_lossy(&dom.stdout).into_owned(),
        String::from_utf8_lossy(&dom.stderr).into_owned() + &String::from_utf8_lossy(&shot.stderr),
    )
}

#[test]
fn html_is_one_self_contained_page_a_browser_shows_with_the_error_marked() {
    let (buffer, ids) = buffered(&["hooks/install", "actions/do-backup"]);
    let dir = buffer.parent().unwrap();
    let page = dir.join("traces.html");
    let output = run(&[
        "html",
        buffer.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let html = std::fs::read_to_string(&page).unwrap();
    for fetch in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(fetch), "the page fetches nothing: {fetch}");
    }
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("charm-tracing-html.png");
    let (dom, log) = load_in_browser(&page, &screenshot);
    for error in ["Uncaught", "ERROR:CONSOLE", "Refused to load"] {
        assert!(!log.contains(error), "browser log: {log}");
    }
    for id in &ids {
        assert!(dom.contains(&format!("id=\"trace-{id}\"")), "{id}");
    }
    assert!(dom.contains("method call: ShopCharm.on_install"));
    assert!(dom.contains("function call: render_config"));
    // The failed spans are the marked ones, and only those.
    let marked = regex::Regex::new(
        r#"<details class="span error"[^>]*><summary><span class="name"[^>]*>([^<]+)<"#,
    )
    .unwrap();
    let failed: Vec<&str> = marked
        .captures_iter(&dom)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "method call: ShopCharm.validate",
            "shop/0: do-backup event",
            "event: do_backup_action",
            "method call: ShopCharm.on_do_backup_action",
            "method call: ShopCharm.run_backup",
        ]
    );
    eprintln!("screenshot: {}", screenshot.display());
}

#[test]
fn html_draws_a_2000_span_trace() {
    let dir = support::fresh_charm_dir();
    Hook::in_dir("shop_charm", "hooks/update-status", &dir)
        .env("SHOP_TRACING_ENDPOINT", "")
        .env("SHOP_SPANS", "2000")
        .run();
    let page = dir.join("big.html");
    let output = run(&[
        "html",
        dir.join(BUFFER).to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("charm-tracing-html-2000.png");
    let (dom, log) = load_in_browser(&page, &screenshot);
    assert!(!log.contains("Uncaught"), "{log}");
    assert_eq!(dom.matches("<details class=\"span").count(), 2000);
}

use support::accepted_ids;

#[test]
fn send_delivers_a_copied_buffer_once_oldest_first() {
    let (buffer, ids) = buffered(&["hooks/start", "hooks/install", "actions/do-backup"]);
    let receiver = Receiver::start();
    // The backend is down: nothing is lost, the exit code says so.
    receiver.set_status(503);
    let output = run(&[
        "send",
        buffer.to_str().unwrap(),
        "--endpoint",
        &receiver.endpoint(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("3 of 3 record(s) are still in"),
        "{}",
        stderr(&output)
    );
    assert!(accepted_ids(&receiver).is_empty());
    // It is back: everything goes, once, oldest first.
    receiver.set_status(200);
    let output = run(&[
        "send",
        buffer.to_str().unwrap(),
        "--endpoint",
        &receiver.endpoint(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("all 3 record(s)"),
        "{}",
        stderr(&output)
    );
    assert_eq!(accepted_ids(&receiver), ids);
    // Sent means gone from the buffer: a second send has nothing to send again.
    let again = run(&[
        "send",
        buffer.to_str().unwrap(),
        "--endpoint",
        &receiver.endpoint(),
    ]);
    assert_eq!(accepted_ids(&receiver), ids, "{}", stderr(&again));
}

#[test]
fn send_over_tls_trusts_only_the_given_ca() {
    let (buffer, ids) = buffered(&["hooks/install"]);
    let pki = support::pki::Pki::new("send");
    let receiver = Receiver::start_tls(pki.server.clone());
    let dir = buffer.parent().unwrap();
    std::fs::create_dir_all(dir.join("other")).unwrap();
    let wrong = support::pki::Pki::new("other").write_ca(&dir.join("other"));
    let path = buffer.to_str().unwrap();
    let endpoint = receiver.https_endpoint();
    let output = run(&[
        "send",
        path,
        "--endpoint",
        &endpoint,
        "--ca",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(accepted_ids(&receiver).is_empty());
    let ca = pki.write_ca(dir);
    let output = run(&[
        "send",
        path,
        "--endpoint",
        &endpoint,
        "--ca",
        ca.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(accepted_ids(&receiver), ids);
}

#[test]
fn send_refuses_what_is_not_a_buffer_and_leaves_it_alone() {
    let (buffer, _) = buffered(&["hooks/start"]);
    let bytes = std::fs::read(&buffer).unwrap();
    let body = buffer.with_extension("pb");
    std::fs::write(&body, format::parse(&bytes).records[0]).unwrap();
    let receiver = Receiver::start();
    let output = run(&[
        "send",
        body.to_str().unwrap(),
        "--endpoint",
        &receiver.endpoint(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not a charm-tracing buffer"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(&body).unwrap(),
        format::parse(&bytes).records[0]
    );
    assert!(receiver.requests().is_empty());
}

#[test]
fn view_refuses_a_fifo_at_once() {
    let dir = support::fresh_charm_dir();
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    let output = run(&["view", fifo.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not a regular file"),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn status_shows_a_recorded_outage() {
    let (buffer, _) = buffered(&["hooks/start"]);
    let black_hole = Receiver::start();
    black_hole.set_black_hole(true);
    // A hook that runs into the deadline records the outage next to the buffer.
    Hook::in_dir("shop_charm", "hooks/start", buffer.parent().unwrap())
        .env("SHOP_TRACING_ENDPOINT", black_hole.endpoint())
        .run();
    let text = stdout(&run(&["status", buffer.to_str().unwrap()]));
    let line = text.lines().find(|l| l.starts_with("outage:")).unwrap();
    assert!(
        line.contains(&format!("endpoint={}/v1/traces", black_hole.endpoint())),
        "{line}"
    );
    assert!(
        line.contains("backoff_ms=5000") && line.contains("no answer within"),
        "{line}"
    );
}
