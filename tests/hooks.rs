//! The example charm run hook by hook as real processes with `JUJU_*` variables, against a
//! real OTLP/HTTP receiver on 127.0.0.1 whose requests are decoded with the official proto
//! types.

mod support;

use charm_tracing::testing::{SpanStatus, Trace};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::collections::HashMap;
use std::time::Duration;
use support::Hook;
use support::receiver::Receiver;

fn string_attr(
    attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// Runs `dispatch_path` of the shop charm against a fresh receiver; returns the output and
/// the one request it received.
fn run_shop(dispatch_path: &str) -> (support::HookOutput, ExportTraceServiceRequest, Receiver) {
    let receiver = Receiver::start();
    let output = Hook::new("shop_charm", dispatch_path)
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .run();
    assert!(
        receiver.wait_for(1, Duration::from_secs(5)),
        "no trace arrived; stderr:\n{}",
        output.stderr()
    );
    std::thread::sleep(Duration::from_millis(50));
    let mut traces = receiver.traces();
    assert_eq!(traces.len(), 1, "exactly one request per hook");
    (output, traces.remove(0), receiver)
}

fn spans(request: &ExportTraceServiceRequest) -> &[Span] {
    assert_eq!(request.resource_spans.len(), 1);
    assert_eq!(request.resource_spans[0].scope_spans.len(), 1);
    &request.resource_spans[0].scope_spans[0].spans
}

/// `name (parent name)` for every span, in export order.
fn tree_lines(spans: &[Span]) -> Vec<(String, Option<String>)> {
    let by_id: HashMap<&[u8], &str> = spans
        .iter()
        .map(|s| (s.span_id.as_slice(), s.name.as_str()))
        .collect();
    spans
        .iter()
        .map(|s| {
            let parent = (!s.parent_span_id.is_empty()).then(|| {
                by_id
                    .get(s.parent_span_id.as_slice())
                    .map_or_else(|| "<missing>".to_owned(), |n| (*n).to_owned())
            });
            (s.name.clone(), parent)
        })
        .collect()
}

fn span<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name:?}"))
}

fn status(span: &Span) -> (i32, String) {
    let status = span.status.clone().unwrap_or_default();
    (status.code, status.message)
}

#[test]
fn install_hook_has_the_python_trace_shape() {
    let (output, request, receiver) = run_shop("hooks/install");
    assert_eq!(output.code(), 0, "stderr:\n{}", output.stderr());
    assert_eq!(output.stdout(), "", "tracing never prints to stdout");

    let sent = &receiver.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/traces");
    assert_eq!(sent.content_type.as_deref(), Some("application/x-protobuf"));

    let spans = spans(&request);
    let trace = Trace::from_request(&request);
    assert_eq!(
        trace.tree(),
        "\
shop/0: install event
  event: install
    method call: ShopCharm.on_install
      method call: ShopCharm.prepare
      method call: ShopCharm.validate  [ERROR ValidationError: invalid settings \"port=0\"]
      method call: ShopCharm.default_settings
      function call: render_config
      method call: Store.configure
        function call: render_config
      event: refresh
        method call: ShopCharm.on_refresh
"
    );

    // Parents, checked on the raw proto.
    let lines = tree_lines(spans);
    let parent_of = |name: &str| {
        lines
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(parent_of("shop/0: install event"), vec![None]);
    assert_eq!(
        parent_of("event: install"),
        vec![Some("shop/0: install event".into())]
    );
    assert_eq!(
        parent_of("method call: ShopCharm.on_install"),
        vec![Some("event: install".into())]
    );
    assert_eq!(
        parent_of("function call: render_config"),
        vec![
            Some("method call: ShopCharm.on_install".into()),
            Some("method call: Store.configure".into())
        ]
    );
    assert_eq!(
        parent_of("event: refresh"),
        vec![Some("method call: ShopCharm.on_install".into())]
    );
    assert_eq!(
        parent_of("method call: ShopCharm.on_refresh"),
        vec![Some("event: refresh".into())]
    );

    // One trace, every span INTERNAL, ends in order, root last.
    let trace_id = &spans[0].trace_id;
    assert_eq!(trace_id.len(), 16);
    for span in spans {
        assert_eq!(&span.trace_id, trace_id);
        assert_eq!(span.span_id.len(), 8);
        assert_eq!(span.kind, SpanKind::Internal as i32, "{}", span.name);
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    }
    assert_eq!(spans.last().unwrap().name, "shop/0: install event");
    for pair in spans.windows(2) {
        assert!(pair[0].end_time_unix_nano <= pair[1].end_time_unix_nano);
    }
    for child in spans.iter().filter(|s| !s.parent_span_id.is_empty()) {
        let parent_position = spans
            .iter()
            .position(|s| s.span_id == child.parent_span_id)
            .unwrap();
        let child_position = spans
            .iter()
            .position(|s| s.span_id == child.span_id)
            .unwrap();
        assert!(
            child_position < parent_position,
            "{} ends after its parent",
            child.name
        );
    }

    // Root attribute and span events.
    let root = span(spans, "shop/0: install event");
    assert_eq!(
        string_attr(&root.attributes, "juju.dispatch_path").as_deref(),
        Some("hooks/install")
    );
    assert_eq!(status(root).0, StatusCode::Unset as i32);
    let event = span(spans, "event: install");
    assert_eq!(event.events.len(), 1);
    assert_eq!(event.events[0].name, "install");
    let refresh = span(spans, "event: refresh");
    assert_eq!(refresh.events.len(), 1);
    assert_eq!(refresh.events[0].name, "refresh");
    assert!(
        span(spans, "method call: ShopCharm.on_install")
            .events
            .is_empty()
    );

    // The handled error marks its own span only.
    let validate = span(spans, "method call: ShopCharm.validate");
    assert_eq!(
        status(validate),
        (
            StatusCode::Error as i32,
            "ValidationError: invalid settings \"port=0\"".to_owned()
        )
    );
    assert_eq!(validate.events.len(), 1);
    let exception = &validate.events[0];
    assert_eq!(exception.name, "exception");
    assert_eq!(
        string_attr(&exception.attributes, "exception.type").as_deref(),
        Some("ValidationError")
    );
    assert_eq!(
        string_attr(&exception.attributes, "exception.message").as_deref(),
        Some("invalid settings \"port=0\"")
    );
    assert_eq!(
        status(span(spans, "method call: ShopCharm.on_install")).0,
        StatusCode::Unset as i32
    );
    assert_eq!(status(event).0, StatusCode::Unset as i32);

    // Resource and scope.
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    let expect = [
        ("service.name", "shop-charm"),
        ("compose_service", "shop-charm"),
        ("charm_type", "ShopCharm"),
        ("juju_unit", "shop/0"),
        ("juju_application", "shop"),
        ("juju_model", "prod"),
        ("juju_model_uuid", "6f5c1d2e-0000-4000-8000-000000000001"),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.name", "opentelemetry"),
    ];
    for (key, value) in expect {
        assert_eq!(
            string_attr(&resource.attributes, key).as_deref(),
            Some(value),
            "{key}"
        );
    }
    assert!(string_attr(&resource.attributes, "telemetry.sdk.version").is_some());
    let scope = request.resource_spans[0].scope_spans[0]
        .scope
        .as_ref()
        .unwrap();
    assert_eq!(scope.name, "shop-charm");

    // The log line tools grep for names this trace.
    let line = format!(
        "Starting root trace with id='{}'.",
        support::trace_id_of(&request)
    );
    assert!(
        output.stderr().contains(&line),
        "stderr:\n{}",
        output.stderr()
    );
}

#[test]
fn failing_hook_marks_root_event_and_handler() {
    let (output, request, _receiver) = run_shop("actions/do-backup");
    assert_eq!(output.code(), 1, "a failed handler fails the hook");
    assert_eq!(output.stdout(), "");
    let spans = spans(&request);
    let expected = "BackupError: no backup target configured";
    for name in [
        "shop/0: do-backup event",
        "event: do_backup_action",
        "method call: ShopCharm.on_do_backup_action",
        "method call: ShopCharm.run_backup",
    ] {
        let span = span(spans, name);
        assert_eq!(
            status(span),
            (StatusCode::Error as i32, expected.to_owned()),
            "{name}"
        );
        let exception = span
            .events
            .iter()
            .find(|e| e.name == "exception")
            .unwrap_or_else(|| panic!("{name} has no exception event"));
        assert_eq!(
            string_attr(&exception.attributes, "exception.type").as_deref(),
            Some("BackupError")
        );
        assert_eq!(
            string_attr(&exception.attributes, "exception.message").as_deref(),
            Some("no backup target configured")
        );
    }
    let event = span(spans, "event: do_backup_action");
    assert_eq!(event.events[0].name, "do_backup_action");
    assert_eq!(
        string_attr(
            &span(spans, "shop/0: do-backup event").attributes,
            "juju.dispatch_path"
        )
        .as_deref(),
        Some("actions/do-backup")
    );
}

#[test]
fn panicking_hook_is_traced_then_reraised() {
    let (output, request, _receiver) = run_shop("hooks/upgrade-charm");
    assert_eq!(output.code(), 101, "the panic is re-raised after delivery");
    assert!(
        output
            .stderr()
            .contains("schema migration from this version is not supported")
    );
    let spans = spans(&request);
    for name in [
        "shop/0: upgrade-charm event",
        "event: upgrade_charm",
        "method call: ShopCharm.on_upgrade_charm",
        "method call: ShopCharm.migrate_schema",
    ] {
        let span = span(spans, name);
        assert_eq!(
            status(span),
            (
                StatusCode::Error as i32,
                "panic: schema migration from this version is not supported".to_owned()
            ),
            "{name}"
        );
        let exception = span.events.iter().find(|e| e.name == "exception").unwrap();
        assert_eq!(
            string_attr(&exception.attributes, "exception.type").as_deref(),
            Some("panic")
        );
        let stacktrace = string_attr(&exception.attributes, "exception.stacktrace");
        if name != "method call: ShopCharm.migrate_schema" {
            assert_eq!(stacktrace, None, "{name}: the stack trace is recorded once");
            continue;
        }
        // Where the panic started: the location, then the calls, innermost first, named
        // and bounded, without the panic machinery above them.
        let stacktrace = stacktrace.expect("a stack trace where the panic started");
        let lines: Vec<&str> = stacktrace.lines().collect();
        assert!(
            lines[0].starts_with("panicked at examples/shop_charm.rs:"),
            "{stacktrace}"
        );
        assert!(
            lines[1].contains("ShopCharm::migrate_schema"),
            "{stacktrace}"
        );
        assert!(
            stacktrace.contains("ShopCharm::on_upgrade_charm"),
            "{stacktrace}"
        );
        for machinery in ["rust_begin_unwind", "panic_fmt", "panic_with_hook"] {
            assert!(!stacktrace.contains(machinery), "{stacktrace}");
        }
        assert!(lines.len() <= 33, "{stacktrace}");
    }
}

#[test]
fn process_exit_inside_a_handler_still_delivers() {
    let (output, request, _receiver) = run_shop("hooks/remove");
    assert_eq!(output.code(), 0);
    let trace = Trace::from_request(&request);
    assert_eq!(
        trace.tree(),
        "\
shop/0: remove event
  event: remove
    method call: ShopCharm.on_remove
      method call: ShopCharm.clean_up
"
    );
    assert_eq!(trace.spans.last().unwrap().name, "shop/0: remove event");
}

#[test]
fn own_main_without_shutdown_delivers_on_return_and_on_exit() {
    for exit_code in [None, Some("3")] {
        let receiver = Receiver::start();
        let mut hook =
            Hook::new("own_main", "hooks/start").env("TRACING_ENDPOINT", receiver.endpoint());
        if let Some(code) = exit_code {
            hook = hook.env("OWN_MAIN_EXIT_CODE", code);
        }
        let output = hook.run();
        assert_eq!(output.code(), exit_code.map_or(0, |c| c.parse().unwrap()));
        assert!(
            receiver.wait_for(1, Duration::from_secs(5)),
            "{}",
            output.stderr()
        );
        let trace = Trace::from_request(&receiver.traces()[0]);
        assert_eq!(
            trace.tree(),
            "shop/0: start event\n  method call: Counter.count\n"
        );
        assert_eq!(trace.resource_attribute("service.name"), Some("shop-charm"));
        assert_eq!(trace.resource_attribute("charm_type"), Some("Counter"));
    }
}

#[test]
fn no_endpoint_means_no_request_and_the_next_hook_with_one_delivers_both() {
    let receiver = Receiver::start();
    let charm_dir = support::fresh_charm_dir();
    let output = Hook::in_dir("shop_charm", "hooks/start", &charm_dir)
        .env("SHOP_TRACING_ENDPOINT", "")
        .run();
    assert_eq!(output.code(), 0, "{}", output.stderr());
    assert!(output.stderr().contains("Starting root trace"));
    assert!(!receiver.wait_for(1, Duration::from_millis(300)));
    // The receiver works, and the first hook's trace was kept: the next hook with the
    // endpoint delivers it, then its own.
    let first = output.trace_id();
    let output = Hook::in_dir("shop_charm", "hooks/start", &charm_dir)
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .run();
    assert!(
        receiver.wait_for(2, Duration::from_secs(5)),
        "{}",
        output.stderr()
    );
    let delivered: Vec<String> = receiver.traces().iter().map(support::trace_id_of).collect();
    assert_eq!(
        delivered,
        [
            first.expect("first id"),
            output.trace_id().expect("second id")
        ]
    );
}

#[test]
fn unsupported_scheme_is_one_error_line_and_no_request() {
    let output = Hook::new("shop_charm", "hooks/start")
        .env("SHOP_TRACING_ENDPOINT", "grpc://127.0.0.1:4317")
        .run();
    assert_eq!(output.code(), 0);
    let errors: Vec<_> = output
        .stderr()
        .lines()
        .filter(|l| l.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("neither http:// nor https://"),
        "{errors:?}"
    );
}

#[test]
fn tracing_disabled_by_environment_sends_nothing() {
    let receiver = Receiver::start();
    let output = Hook::new("shop_charm", "hooks/install")
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .env("CHARM_TRACING_ENABLED", "0")
        .run();
    assert_eq!(output.code(), 0);
    assert!(!receiver.wait_for(1, Duration::from_millis(300)));
    assert!(!output.stderr().contains("Starting root trace"));
}

#[test]
fn outside_juju_says_so_in_one_line_and_exits_1() {
    let output = Hook::new("shop_charm", "hooks/install")
        .env_remove("JUJU_UNIT_NAME")
        .env_remove("JUJU_DISPATCH_PATH")
        .run();
    assert_eq!(output.code(), 1);
    assert_eq!(output.stdout(), "");
    assert_eq!(
        output.stderr().trim().lines().count(),
        1,
        "{}",
        output.stderr()
    );
    assert!(output.stderr().contains("Juju"));
}

#[test]
fn a_backend_that_never_answers_holds_the_hook_no_longer_than_the_deadline() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let output = Hook::new("shop_charm", "hooks/start")
        .env("SHOP_TRACING_ENDPOINT", endpoint)
        .run();
    assert_eq!(output.code(), 0);
    // Default deadline 1 s; generous slack for a loaded CI machine.
    assert!(
        output.elapsed < Duration::from_millis(2500),
        "hook took {:?}",
        output.elapsed
    );
    assert!(
        output.elapsed >= Duration::from_millis(900),
        "the deadline is 1 s"
    );
    assert!(
        output.stderr().contains("no answer within 1000 ms"),
        "{}",
        output.stderr()
    );
}

#[test]
fn closed_port_does_not_fail_the_hook() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = Hook::new("shop_charm", "hooks/start")
        .env("SHOP_TRACING_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .run();
    assert_eq!(output.code(), 0);
    assert!(output.elapsed < Duration::from_secs(1));
    assert!(
        output.stderr().contains("could not connect"),
        "{}",
        output.stderr()
    );
}

#[test]
fn trace_ids_differ_per_hook() {
    let (_, first, _r1) = run_shop("hooks/start");
    let (_, second, _r2) = run_shop("hooks/start");
    let id = |r: &ExportTraceServiceRequest| spans(r)[0].trace_id.clone();
    assert_ne!(id(&first), id(&second));
    assert!(
        Trace::from_request(&first)
            .spans
            .iter()
            .all(|s| s.status != SpanStatus::Ok)
    );
}
