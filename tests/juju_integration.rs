//! SPEC §10 as Juju 4 runs hooks: processes with the `JUJU_CHARM_TRACE_CONFIG_*` variables,
//! `TRACEPARENT` and its trio, and stand-in hook tools (`juju-log` included), against the
//! loopback receiver.

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::time::Duration;
use support::juju::{Juju, JujuLog};
use support::pki::Pki;
use support::receiver::Receiver;
use support::{Hook, HookOutput};

const JUJU_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const JUJU_SPAN: &str = "00f067aa0ba902b7";

/// The juju_charm example for `dispatch_path`, with every Juju 4 trace variable empty (as
/// Juju sets them when its tracing config is unset) and no `RUST_LOG`.
fn juju_hook(dispatch_path: &str) -> Hook {
    Hook::new("juju_charm", dispatch_path)
        .env_remove("RUST_LOG")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", "")
        .env("JUJU_CHARM_TRACE_CONFIG_GRPC", "")
        .env("JUJU_CHARM_TRACE_CONFIG_CA_CERT", "")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spans(request: &ExportTraceServiceRequest) -> &[Span] {
    &request.resource_spans[0].scope_spans[0].spans
}

fn root(request: &ExportTraceServiceRequest) -> &Span {
    spans(request)
        .iter()
        .find(|s| s.name.ends_with(" event") && s.name.starts_with("shop/0: "))
        .expect("a root span")
}

fn one_trace(receiver: &Receiver, output: &HookOutput) -> ExportTraceServiceRequest {
    assert!(
        receiver.wait_for(1, Duration::from_secs(5)),
        "no trace arrived; stderr:\n{}",
        output.stderr()
    );
    std::thread::sleep(Duration::from_millis(50));
    let mut traces = receiver.traces();
    assert_eq!(traces.len(), 1, "one request per hook");
    traces.remove(0)
}

fn assert_clean(output: &HookOutput) {
    assert_eq!(output.code(), 0, "stderr:\n{}", output.stderr());
    assert_eq!(output.stdout(), "", "nothing on stdout");
}

// ---- juju-log -----------------------------------------------------------------------------

#[test]
fn the_trace_id_line_reaches_juju_log_at_info() {
    let receiver = Receiver::start();
    let juju_log = JujuLog::new("ok");
    let output = Hook::new("shop_charm", "hooks/install")
        .env_remove("RUST_LOG")
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .env(
            "PATH",
            juju_log.path_before(&std::env::var_os("PATH").unwrap()),
        )
        .run();
    assert_clean(&output);
    let request = one_trace(&receiver, &output);
    let trace_id = support::trace_id_of(&request);
    let records = juju_log.records();
    assert!(
        records.contains(&(
            "INFO".to_owned(),
            format!("Starting root trace with id='{trace_id}'.")
        )),
        "{records:?}"
    );
    // log's Warn is Juju's WARNING.
    assert!(
        records.iter().any(|(level, message)| level == "WARNING"
            && message.contains("ignoring invalid default settings")),
        "{records:?}"
    );
    // Nothing at DEBUG by default.
    assert!(
        records.iter().all(|(level, _)| level != "DEBUG"),
        "{records:?}"
    );
    assert!(
        !output.stderr().contains("Starting root trace"),
        "it went to juju-log, not stderr:\n{}",
        output.stderr()
    );
}

#[test]
fn rust_log_sets_the_level() {
    let juju_log = JujuLog::new("ok");
    let output = juju_hook("hooks/start")
        .env("RUST_LOG", "warn")
        .env(
            "PATH",
            juju_log.path_before(&std::env::var_os("PATH").unwrap()),
        )
        .run();
    assert_clean(&output);
    assert_eq!(juju_log.records(), Vec::new(), "INFO is below warn");
    let juju_log = JujuLog::new("ok");
    let output = juju_hook("hooks/start")
        .env("RUST_LOG", "debug")
        .env(
            "JUJU_CHARM_TRACE_CONFIG_HTTP",
            support::closed_port_endpoint(),
        )
        .env(
            "PATH",
            juju_log.path_before(&std::env::var_os("PATH").unwrap()),
        )
        .run();
    assert_clean(&output);
    let records = juju_log.records();
    let source_lines = records
        .iter()
        .filter(|(level, message)| {
            level == "DEBUG" && message.contains("from JUJU_CHARM_TRACE_CONFIG_HTTP")
        })
        .count();
    assert_eq!(source_lines, 1, "the source is logged once: {records:?}");
}

#[test]
fn without_juju_log_records_go_to_stderr() {
    let receiver = Receiver::start();
    let output = juju_hook("hooks/install")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.endpoint())
        .run();
    assert_clean(&output);
    let request = one_trace(&receiver, &output);
    assert_eq!(
        output.trace_id(),
        Some(support::trace_id_of(&request)),
        "stderr:\n{}",
        output.stderr()
    );
    assert!(
        output
            .stderr()
            .contains("[INFO  juju_charm] installing, step 0"),
        "{}",
        output.stderr()
    );
}

#[test]
fn a_hanging_juju_log_costs_about_one_second_in_total() {
    let receiver = Receiver::start();
    let juju_log = JujuLog::new("hang");
    let output = juju_hook("hooks/install")
        .env("LOG_LINES", "200")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.endpoint())
        .env(
            "PATH",
            juju_log.path_before(&std::env::var_os("PATH").unwrap()),
        )
        .run();
    assert_clean(&output);
    assert!(
        output.elapsed < Duration::from_millis(2500),
        "the hook took {:?}",
        output.elapsed
    );
    assert!(
        output.elapsed >= Duration::from_millis(900),
        "the first call waited its budget: {:?}",
        output.elapsed
    );
    assert_eq!(juju_log.calls(), 1, "after the timeout, stderr only");
    let stderr = output.stderr();
    assert!(stderr.contains("Starting root trace with id='"), "{stderr}");
    assert!(stderr.contains("installing, step 199"), "{stderr}");
    assert!(
        stderr.contains("juju-log took more than 1000 ms"),
        "{stderr}"
    );
    one_trace(&receiver, &output);
}

#[test]
fn a_failing_juju_log_never_fails_the_hook() {
    let receiver = Receiver::start();
    let juju_log = JujuLog::new("fail");
    let output = juju_hook("hooks/install")
        .env("LOG_LINES", "50")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.endpoint())
        .env(
            "PATH",
            juju_log.path_before(&std::env::var_os("PATH").unwrap()),
        )
        .run();
    assert_clean(&output);
    assert_eq!(juju_log.calls(), 3, "three refusals, then stderr");
    let stderr = output.stderr();
    assert!(stderr.contains("Starting root trace with id='"), "{stderr}");
    assert!(stderr.contains("installing, step 49"), "{stderr}");
    one_trace(&receiver, &output);
}

// ---- endpoint sources -----------------------------------------------------------------------

#[test]
fn juju_trace_config_is_used_without_a_relation() {
    let receiver = Receiver::start();
    let output = juju_hook("hooks/start")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.endpoint())
        .run();
    assert_clean(&output);
    one_trace(&receiver, &output);
    assert_eq!(receiver.requests()[0].path, "/v1/traces");
    assert_eq!(output.error_lines(), Vec::<String>::new());
}

#[test]
fn the_charm_member_wins_over_juju_and_otel() {
    let charm = Receiver::start();
    let juju = Receiver::start();
    let otel = Receiver::start();
    let output = juju_hook("hooks/start")
        .env("CHARM_ENDPOINT", charm.endpoint())
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", juju.endpoint())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otel.endpoint())
        .run();
    assert_clean(&output);
    one_trace(&charm, &output);
    assert_eq!(juju.requests().len() + otel.requests().len(), 0);
}

#[test]
fn an_empty_charm_member_falls_through_to_juju() {
    let juju = Receiver::start();
    let otel = Receiver::start();
    let output = juju_hook("hooks/start")
        .env("CHARM_ENDPOINT", "")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", juju.endpoint())
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", otel.endpoint())
        .run();
    assert_clean(&output);
    one_trace(&juju, &output);
    assert_eq!(otel.requests().len(), 0);
}

#[test]
fn an_empty_juju_variable_is_unset_and_otel_comes_last() {
    let otel = Receiver::start();
    let output = juju_hook("hooks/start")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("{}/", otel.endpoint()),
        )
        .run();
    assert_clean(&output);
    one_trace(&otel, &output);
    assert_eq!(otel.requests()[0].path, "/v1/traces");
}

#[test]
fn the_otel_traces_endpoint_is_used_verbatim_and_wins_over_the_base() {
    let traces = Receiver::start();
    let base = Receiver::start();
    let output = juju_hook("hooks/start")
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{}/custom/ingest", traces.endpoint()),
        )
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", base.endpoint())
        .run();
    assert_clean(&output);
    one_trace(&traces, &output);
    assert_eq!(traces.requests()[0].path, "/custom/ingest");
    assert_eq!(base.requests().len(), 0);
}

#[test]
fn no_source_at_all_buffers_quietly() {
    let charm_dir = support::fresh_charm_dir();
    let output = Hook::in_dir("juju_charm", "hooks/start", &charm_dir)
        .env_remove("RUST_LOG")
        .run();
    assert_clean(&output);
    assert_eq!(output.error_lines(), Vec::<String>::new());
    assert_eq!(
        support::buffered_records(&charm_dir.join(".charm_tracing_buffer.raw")),
        1
    );
}

#[test]
fn a_juju_https_endpoint_without_a_ca_sends_nothing() {
    let pki = Pki::new("juju");
    let receiver = Receiver::start_tls(pki.server.clone());
    let charm_dir = support::fresh_charm_dir();
    // An OTEL certificate is there, but it belongs to another source: never borrowed.
    let otel_ca = pki.write_ca(&charm_dir);
    let output = Hook::in_dir("juju_charm", "hooks/start", &charm_dir)
        .env_remove("RUST_LOG")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.https_endpoint())
        .env("JUJU_CHARM_TRACE_CONFIG_CA_CERT", "")
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", &otel_ca)
        .run();
    assert_clean(&output);
    let errors = output.error_lines();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("no JUJU_CHARM_TRACE_CONFIG_CA_CERT is set"),
        "{errors:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(receiver.connections(), 0, "nothing sent");
    assert_eq!(
        support::buffered_records(&charm_dir.join(".charm_tracing_buffer.raw")),
        1,
        "the record is buffered"
    );
}

#[test]
fn a_juju_ca_that_is_neither_pem_nor_an_absolute_path_is_one_error() {
    let pki = Pki::new("juju-relative");
    let receiver = Receiver::start_tls(pki.server.clone());
    let output = juju_hook("hooks/start")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.https_endpoint())
        .env("JUJU_CHARM_TRACE_CONFIG_CA_CERT", "ca.pem")
        .run();
    assert_clean(&output);
    let errors = output.error_lines();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("JUJU_CHARM_TRACE_CONFIG_CA_CERT \"ca.pem\" is neither PEM text"),
        "{errors:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(receiver.connections(), 0, "nothing sent");
}

#[test]
fn a_juju_ca_as_pem_text_reaches_rustls() {
    let pki = Pki::new("juju-pem");
    let receiver = Receiver::start_tls(pki.server.clone());
    let output = juju_hook("hooks/start")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.https_endpoint())
        .env("JUJU_CHARM_TRACE_CONFIG_CA_CERT", &pki.ca_pem)
        .run();
    assert_clean(&output);
    one_trace(&receiver, &output);
    assert_eq!(output.error_lines(), Vec::<String>::new());
}

#[test]
fn a_juju_ca_as_a_path_is_read() {
    let pki = Pki::new("juju-path");
    let receiver = Receiver::start_tls(pki.server.clone());
    let ca = pki.write_ca(&support::fresh_charm_dir());
    let output = juju_hook("hooks/start")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.https_endpoint())
        .env("JUJU_CHARM_TRACE_CONFIG_CA_CERT", &ca)
        .run();
    assert_clean(&output);
    one_trace(&receiver, &output);
}

#[test]
fn a_wrong_juju_ca_is_refused_by_tls() {
    let pki = Pki::new("server");
    let other = Pki::new("other");
    let receiver = Receiver::start_tls(pki.server.clone());
    let output = juju_hook("hooks/start")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.https_endpoint())
        .env("JUJU_CHARM_TRACE_CONFIG_CA_CERT", &other.ca_pem)
        .run();
    assert_clean(&output);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(receiver.requests().len(), 0, "verification is on");
}

#[test]
fn otel_https_uses_the_otel_certificate() {
    let pki = Pki::new("otel");
    let receiver = Receiver::start_tls(pki.server.clone());
    let ca = pki.write_ca(&support::fresh_charm_dir());
    let output = juju_hook("hooks/start")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint())
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca)
        .run();
    assert_clean(&output);
    one_trace(&receiver, &output);
}

// ---- Juju's trace parent --------------------------------------------------------------------

fn traceparent(flags: &str) -> String {
    format!("00-{JUJU_TRACE}-{JUJU_SPAN}-{flags}")
}

/// Runs a hook with `vars` and returns the trace and the output.
fn traced(form: &str, vars: &[(&str, &str)]) -> (ExportTraceServiceRequest, HookOutput) {
    let receiver = Receiver::start();
    let mut hook = juju_hook("hooks/start")
        .env("CHARM_FORM", form)
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.endpoint());
    for (key, value) in vars {
        hook = hook.env(key, value);
    }
    let output = hook.run();
    assert_clean(&output);
    (one_trace(&receiver, &output), output)
}

fn assert_joined(request: &ExportTraceServiceRequest, output: &HookOutput) {
    let root = root(request);
    assert_eq!(hex(&root.trace_id), JUJU_TRACE);
    assert_eq!(hex(&root.parent_span_id), JUJU_SPAN);
    assert!(
        spans(request)
            .iter()
            .all(|s| hex(&s.trace_id) == JUJU_TRACE)
    );
    assert!(root.links.is_empty());
    assert_eq!(output.trace_id().as_deref(), Some(JUJU_TRACE));
}

fn assert_own_trace(request: &ExportTraceServiceRequest, output: &HookOutput) {
    let root = root(request);
    assert_ne!(hex(&root.trace_id), JUJU_TRACE);
    assert!(root.parent_span_id.is_empty(), "the root has no parent");
    assert!(root.links.is_empty(), "no link either");
    assert_eq!(output.trace_id(), Some(hex(&root.trace_id)));
    assert_eq!(output.error_lines(), Vec::<String>::new(), "no error");
    let stderr = output.stderr();
    assert!(
        !stderr.contains("TRACEPARENT") && !stderr.contains("JUJU_TRACE"),
        "no noise: {stderr}"
    );
}

#[test]
fn a_sampled_traceparent_is_joined() {
    let value = traceparent("01");
    let (request, output) = traced("", &[("TRACEPARENT", &value)]);
    assert_joined(&request, &output);
}

#[test]
fn the_juju_trio_alone_is_joined() {
    let (request, output) = traced(
        "",
        &[
            ("JUJU_TRACE_ID", JUJU_TRACE),
            ("JUJU_SPAN_ID", JUJU_SPAN),
            ("JUJU_TRACE_FLAGS", "1"),
        ],
    );
    assert_joined(&request, &output);
}

#[test]
fn traceparent_and_an_agreeing_trio_are_joined() {
    let value = traceparent("01");
    let (request, output) = traced(
        "",
        &[
            ("TRACEPARENT", &value),
            ("JUJU_TRACE_ID", JUJU_TRACE),
            ("JUJU_SPAN_ID", JUJU_SPAN),
            ("JUJU_TRACE_FLAGS", "01"),
        ],
    );
    assert_joined(&request, &output);
}

#[test]
fn join_juju_trace_false_links_instead_in_both_forms() {
    let value = traceparent("01");
    for form in ["link-struct", "link-impl"] {
        let (request, output) = traced(form, &[("TRACEPARENT", &value)]);
        let root = root(&request);
        assert_ne!(hex(&root.trace_id), JUJU_TRACE, "{form}");
        assert!(root.parent_span_id.is_empty(), "{form}");
        assert_eq!(root.links.len(), 1, "{form}");
        assert_eq!(hex(&root.links[0].trace_id), JUJU_TRACE);
        assert_eq!(hex(&root.links[0].span_id), JUJU_SPAN);
        assert_eq!(root.links[0].flags & 0xff, 1, "sampled");
        assert_eq!(output.trace_id(), Some(hex(&root.trace_id)), "{form}");
    }
}

#[test]
fn unsampled_malformed_zero_and_mismatched_parents_give_an_own_trace() {
    let zero_trace = format!("00-{}-{JUJU_SPAN}-01", "0".repeat(32));
    let zero_span = format!("00-{JUJU_TRACE}-{}-01", "0".repeat(16));
    let unsampled = traceparent("00");
    let sampled = traceparent("01");
    let upper = sampled.to_uppercase();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("unsampled", vec![("TRACEPARENT", unsampled.as_str())]),
        ("malformed", vec![("TRACEPARENT", "00-nonsense-01")]),
        ("upper-case", vec![("TRACEPARENT", upper.as_str())]),
        ("zero trace id", vec![("TRACEPARENT", zero_trace.as_str())]),
        ("zero span id", vec![("TRACEPARENT", zero_span.as_str())]),
        (
            "unsampled trio",
            vec![
                ("JUJU_TRACE_ID", JUJU_TRACE),
                ("JUJU_SPAN_ID", JUJU_SPAN),
                ("JUJU_TRACE_FLAGS", "0"),
            ],
        ),
        (
            "mismatched",
            vec![
                ("TRACEPARENT", sampled.as_str()),
                ("JUJU_TRACE_ID", JUJU_TRACE),
                ("JUJU_SPAN_ID", "1111111111111111"),
                ("JUJU_TRACE_FLAGS", "1"),
            ],
        ),
    ];
    for (what, vars) in cases {
        let (request, output) = traced("", &vars);
        eprintln!("case: {what}");
        assert_own_trace(&request, &output);
    }
}

#[test]
fn an_unsampled_parent_is_not_linked_either() {
    let value = traceparent("00");
    let (request, output) = traced("link-impl", &[("TRACEPARENT", &value)]);
    assert_own_trace(&request, &output);
}

// ---- hook-tool spans ------------------------------------------------------------------------

fn string_array(span: &Span, key: &str) -> Option<Vec<String>> {
    let value = span.attributes.iter().find(|kv| kv.key == key)?;
    match value.value.as_ref()?.value.as_ref()? {
        Value::ArrayValue(array) => Some(
            array
                .values
                .iter()
                .map(|v| match v.value.as_ref() {
                    Some(Value::StringValue(s)) => s.clone(),
                    other => panic!("not a string: {other:?}"),
                })
                .collect(),
        ),
        other => panic!("{key} is not an array: {other:?}"),
    }
}

fn int_attr(span: &Span, key: &str) -> Option<i64> {
    let value = span.attributes.iter().find(|kv| kv.key == key)?;
    match value.value.as_ref()?.value.as_ref()? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

#[test]
fn hook_tools_the_charm_runs_are_spans() {
    let receiver = Receiver::start();
    let juju = Juju::related(true, None);
    let juju_log = JujuLog::new("ok");
    let output = juju_hook("hooks/update-status")
        .env("JUJU_CHARM_TRACE_CONFIG_HTTP", receiver.endpoint())
        .env("PATH", juju_log.path_before(&juju.path()))
        .run();
    assert_clean(&output);
    let request = one_trace(&receiver, &output);
    let spans = spans(&request);
    let by_name = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let event = by_name("event: update_status");
    for tool in ["is-leader", "relation-ids", "relation-set", "no-such-tool"] {
        let span = by_name(tool);
        assert_eq!(
            span.parent_span_id, event.span_id,
            "{tool} is a child of the event"
        );
        assert_eq!(span.kind, SpanKind::Internal as i32, "{tool}");
    }
    assert_eq!(
        string_array(by_name("is-leader"), "juju.hook_tool.args"),
        Some(vec!["--format=json".to_owned()])
    );
    assert_eq!(
        string_array(by_name("relation-ids"), "juju.hook_tool.args"),
        Some(vec!["tracing".to_owned(), "--format=json".to_owned()])
    );
    assert_eq!(
        int_attr(by_name("is-leader"), "juju.hook_tool.exit_code"),
        Some(0)
    );
    let set = by_name("relation-set");
    assert_eq!(int_attr(set, "juju.hook_tool.exit_code"), Some(0));
    assert_eq!(
        set.attributes
            .iter()
            .find(|kv| kv.key == "juju.hook_tool.args"),
        None,
        "relation-set carries data: no arguments"
    );
    let body = &receiver.requests()[0].body;
    assert!(
        !body.windows(12).any(|w| w == b"s3cr3t-value"),
        "the data never reaches the trace"
    );
    let missing = by_name("no-such-tool");
    assert_eq!(int_attr(missing, "juju.hook_tool.exit_code"), Some(-1));
    assert_eq!(
        missing.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert!(
        spans.iter().all(|s| s.name != "juju-log"),
        "juju-log is never a span"
    );
    assert!(juju_log.calls() > 0, "juju-log was used");
    // The relation-set really happened.
    assert_eq!(
        juju.state()["relations"]["tracing:7"]["local_app_data"]["token"],
        "s3cr3t-value"
    );
}

#[test]
fn the_tracing_relation_calls_are_spans_too() {
    let receiver = Receiver::start();
    let juju = Juju::related(true, None);
    let output = Hook::new("shop_charm", "hooks/tracing-relation-created")
        .env("SHOP_TRACING_ENDPOINT", receiver.endpoint())
        .env("PATH", juju.path())
        .run();
    assert_clean(&output);
    let request = one_trace(&receiver, &output);
    let names: Vec<&str> = spans(&request).iter().map(|s| s.name.as_str()).collect();
    for tool in ["is-leader", "relation-ids", "relation-list", "relation-set"] {
        assert!(names.contains(&tool), "{tool} in {names:?}");
    }
    let set = spans(&request)
        .iter()
        .find(|s| s.name == "relation-set")
        .unwrap();
    assert!(
        set.attributes
            .iter()
            .all(|kv| kv.key != "juju.hook_tool.args")
    );
}
