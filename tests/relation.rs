//! SPEC §7: the tracing relation through stand-in Juju hook tools (real executables), in
//! process and end to end with the example charm.

mod support;

use charm_tracing::relation::{EndpointLookupError, HookToolError, HookTools};
use charm_tracing::{TracingEndpointRequirer, charm_tracing_config};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::juju::Juju;
use support::pki::Pki;
use support::receiver::Receiver;
use support::{Hook, fresh_charm_dir, trace_id_of};

fn requirer(juju: &Juju, protocols: &[&str]) -> TracingEndpointRequirer {
    TracingEndpointRequirer::new("tracing", protocols).with_tools(
        HookTools::new()
            .with_dir(juju.tools_dir())
            // Room for a stand-in (a python3 script) to start on a busy 2-core machine.
            .with_timeout(Duration::from_secs(2)),
    )
}

#[test]
fn the_leader_requests_its_protocols_and_a_follower_does_not() {
    let juju = Juju::related(true, None);
    let tracing = requirer(&juju, &["otlp_http", "otlp_grpc"]);
    assert_eq!(tracing.request_protocols(), Ok(true));
    let written = &juju.state()["relations"]["tracing:7"]["local_app_data"]["receivers"];
    let protocols: serde_json::Value = serde_json::from_str(written.as_str().unwrap()).unwrap();
    assert_eq!(protocols, json!(["otlp_http", "otlp_grpc"]));

    let follower = Juju::related(false, None);
    assert_eq!(
        requirer(&follower, &["otlp_http"]).request_protocols(),
        Ok(false)
    );
    assert!(
        !follower
            .calls()
            .iter()
            .any(|c| c.starts_with("relation-set"))
    );
}

#[test]
fn readiness_follows_the_provider_data() {
    let not_related = Juju::new(json!({"app": "shop", "leader": true, "relations": {}}));
    assert!(!requirer(&not_related, &["otlp_http"]).is_ready());
    assert_eq!(
        requirer(&not_related, &["otlp_http"]).get_endpoint("otlp_http"),
        Ok(None)
    );

    let no_data = Juju::related(true, None);
    assert!(!requirer(&no_data, &["otlp_http"]).is_ready());

    let ready = Juju::related(false, Some(&Juju::otlp_http("http://tempo:4318")));
    assert!(requirer(&ready, &["otlp_http"]).is_ready());

    for invalid in [
        "}{ not json",
        r#"{"receivers": 1}"#,
        r#"[{"url": "http://x"}]"#,
    ] {
        let juju = Juju::related(true, Some(invalid));
        let tracing = requirer(&juju, &["otlp_http"]);
        assert!(!tracing.is_ready(), "{invalid}");
        assert_eq!(tracing.get_endpoint("otlp_http"), Ok(None), "{invalid}");
        assert_eq!(charm_tracing_config(&tracing, None), (None, None));
    }
}

#[test]
fn get_endpoint_takes_the_first_match_and_knows_what_it_asked_for() {
    let receivers = json!([
        {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://first:4318"},
        {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://second:4318"},
    ])
    .to_string();
    let juju = Juju::related(true, Some(&receivers));
    let tracing = requirer(&juju, &["otlp_http"]);
    assert_eq!(
        tracing.get_endpoint("otlp_http"),
        Ok(Some("http://first:4318".into()))
    );
    assert_eq!(
        tracing.get_endpoint("jaeger_thrift_http"),
        Err(EndpointLookupError::ProtocolNotRequested(
            "jaeger_thrift_http".into()
        ))
    );
    let grpc_only = requirer(&juju, &["otlp_grpc"]);
    assert_eq!(
        grpc_only.get_endpoint("otlp_grpc"),
        Ok(None),
        "not published"
    );
    assert_eq!(
        charm_tracing_config(&grpc_only, None),
        (Some("http://first:4318".into()), None),
        "otlp_http not requested but published: used, as upstream does"
    );
}

#[test]
fn charm_tracing_config_follows_spec_7() {
    let dir = fresh_charm_dir();
    let http = Juju::related(true, Some(&Juju::otlp_http("http://tempo:4318")));
    assert_eq!(
        charm_tracing_config(&requirer(&http, &["otlp_http"]), Some(&dir.join("ca.pem"))),
        (Some("http://tempo:4318".into()), None)
    );

    let https = Juju::related(true, Some(&Juju::otlp_http("https://tempo:4318")));
    let tracing = requirer(&https, &["otlp_http"]);
    let missing = dir.join("missing-ca.pem");
    assert_eq!(charm_tracing_config(&tracing, Some(&missing)), (None, None));
    assert_eq!(charm_tracing_config(&tracing, None), (None, None));
    let present = dir.join("ca.pem");
    std::fs::write(&present, "-----BEGIN CERTIFICATE-----").unwrap();
    assert_eq!(
        charm_tracing_config(&tracing, Some(&present)),
        (Some("https://tempo:4318".into()), Some(present.clone()))
    );

    let not_ready = Juju::related(true, None);
    assert_eq!(
        charm_tracing_config(&requirer(&not_ready, &["otlp_http"]), Some(&present)),
        (None, None)
    );

    let denied = Juju::related(false, Some(&Juju::otlp_http("http://tempo:4318")));
    denied.misbehave("relation-get", "permission-denied");
    let tracing = requirer(&denied, &["otlp_http"]);
    assert!(matches!(
        tracing.get_endpoint("otlp_http"),
        Err(EndpointLookupError::HookTool(
            HookToolError::PermissionDenied { .. }
        ))
    ));
    assert_eq!(charm_tracing_config(&tracing, Some(&present)), (None, None));
}

#[test]
fn hook_tool_failures_are_typed_bounded_errors() {
    let empty = fresh_charm_dir();
    let missing = TracingEndpointRequirer::new("tracing", &["otlp_http"])
        .with_tools(HookTools::new().with_dir(&empty));
    assert_eq!(
        missing.is_leader(),
        Err(HookToolError::NotFound {
            tool: "is-leader".into()
        })
    );
    assert!(!missing.is_ready());

    let juju = Juju::related(true, Some(&Juju::otlp_http("http://tempo:4318")));
    let tracing = requirer(&juju, &["otlp_http"]);

    juju.misbehave("relation-ids", "fail");
    match tracing.get_endpoint("otlp_http") {
        Err(EndpointLookupError::HookTool(HookToolError::Failed {
            tool,
            code,
            message,
        })) => {
            assert_eq!(tool, "relation-ids");
            assert_eq!(code, Some(2));
            assert!(
                message.contains("connection to the controller lost"),
                "{message}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }

    juju.set_state(json!({"app": "shop", "leader": true, "relations": {}, "behaviour": {"is-leader": "garbage"}}));
    assert!(matches!(
        tracing.is_leader(),
        Err(HookToolError::BadOutput { .. })
    ));

    juju.set_state(json!({"app": "shop", "leader": false, "relations": {}, "behaviour": {"is-leader": "permission-denied"}}));
    let error = tracing.is_leader().unwrap_err();
    assert!(error.is_permission_denied());
    assert!(error.to_string().contains("ERROR permission denied"));

    juju.set_state(json!({"app": "shop", "leader": true, "relations": {}, "behaviour": {"relation-ids": "hang"}}));
    let started = Instant::now();
    assert!(matches!(
        tracing.get_endpoint("otlp_http"),
        Err(EndpointLookupError::HookTool(
            HookToolError::TimedOut { .. }
        ))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(charm_tracing_config(&tracing, None), (None, None));
}

/// The example charm, run as a hook with the stand-ins on PATH.
fn shop_hook(juju: &Juju, dir: &std::path::Path, dispatch_path: &str) -> support::HookOutput {
    let output = Hook::in_dir("shop_charm", dispatch_path, dir)
        .env("PATH", juju.path())
        .run();
    assert_eq!(output.code(), 0, "{}", output.stderr());
    output
}

#[test]
fn the_example_charm_finds_tempo_through_the_relation() {
    let receiver = Receiver::start();
    let dir = fresh_charm_dir();

    // Related, but Tempo has not published anything yet: the leader asks, traces wait.
    let juju = Juju::related(true, None);
    let created = shop_hook(&juju, &dir, "hooks/tracing-relation-created");
    let asked = &juju.state()["relations"]["tracing:7"]["local_app_data"]["receivers"];
    assert_eq!(asked.as_str(), Some(r#"["otlp_http"]"#));
    assert!(receiver.requests().is_empty());

    // Tempo answers: the next hook delivers both traces.
    let mut state = juju.state();
    state["relations"]["tracing:7"]["remote_app_data"]["receivers"] =
        json!(Juju::otlp_http(&receiver.endpoint()));
    juju.set_state(state);
    let started = shop_hook(&juju, &dir, "hooks/start");
    let ids: Vec<String> = receiver.accepted_traces().iter().map(trace_id_of).collect();
    assert_eq!(
        ids,
        vec![created.trace_id().unwrap(), started.trace_id().unwrap()]
    );

    // A follower reads Tempo's data too.
    let mut state = juju.state();
    state["leader"] = json!(false);
    juju.set_state(state);
    let follower = shop_hook(&juju, &dir, "hooks/update-status");
    assert_eq!(receiver.accepted_traces().len(), 3, "{}", follower.stderr());
}

#[test]
fn the_example_charm_stays_quiet_and_buffers_when_the_relation_is_not_usable() {
    let receiver = Receiver::start();
    let cases = [
        ("garbage data", Juju::related(true, Some("}{"))),
        ("permission denied", {
            let juju = Juju::related(false, Some(&Juju::otlp_http(&receiver.endpoint())));
            juju.misbehave("relation-get", "permission-denied");
            juju
        }),
        (
            "https without the CA file",
            Juju::related(true, Some(&Juju::otlp_http("https://localhost:1"))),
        ),
    ];
    for (case, juju) in cases {
        let dir = fresh_charm_dir();
        let output = shop_hook(&juju, &dir, "hooks/start");
        assert!(
            output.error_lines().is_empty(),
            "{case}: {:?}",
            output.error_lines()
        );
        if case == "garbage data" {
            let warnings = output
                .stderr()
                .lines()
                .filter(|l| l.contains("is invalid"))
                .count();
            assert_eq!(warnings, 1, "{case}: one warning\n{}", output.stderr());
        }
        assert_eq!(
            support::buffered_records(&dir.join(".charm_tracing_buffer.raw")),
            1,
            "{case}: buffered for later"
        );
    }
    assert!(receiver.requests().is_empty());
}

#[test]
fn the_example_charm_sends_over_tls_once_the_ca_is_there() {
    let pki = Pki::new("tempo");
    let receiver = Receiver::start_tls(pki.server.clone());
    let juju = Juju::related(true, Some(&Juju::otlp_http(&receiver.https_endpoint())));
    let dir = fresh_charm_dir();
    let waiting = shop_hook(&juju, &dir, "hooks/start");
    assert_eq!(receiver.connections(), 0, "no CA file yet: nothing is sent");
    let ca: PathBuf = pki.write_ca(&dir);
    std::fs::rename(&ca, dir.join("tempo-ca.pem")).unwrap();
    let sent = shop_hook(&juju, &dir, "hooks/start");
    let ids: Vec<String> = receiver.accepted_traces().iter().map(trace_id_of).collect();
    assert_eq!(
        ids,
        vec![waiting.trace_id().unwrap(), sent.trace_id().unwrap()]
    );
}
