//! Hooks run in-process with `charm_tracing::testing`: the session around a hook (resource
//! attributes, isolation between parallel hooks, traced code outside a session, `shutdown()`,
//! one session per hook).

#[path = "support/in_process.rs"]
mod fixtures;

use charm_tracing::testing::{HookOutcome, run_hook};
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace_charm};
use fixtures::{TestCharm, block_on, fetch, free, run};

#[test]
fn resource_defaults_follow_the_app_name() {
    let run = run("hooks/update-status");
    let trace = run.trace();
    assert_eq!(
        trace.resource_attribute("service.name"),
        Some("test-app-charm")
    );
    assert_eq!(
        trace.resource_attribute("compose_service"),
        Some("test-app-charm")
    );
    assert_eq!(trace.resource_attribute("charm_type"), Some("TestCharm"));
    assert_eq!(
        trace.resource_attribute("juju_application"),
        Some("test-app")
    );
    assert_eq!(trace.resource_attribute("juju_model"), Some("m"));
    assert_eq!(trace.resource_attribute("juju_model_uuid"), Some("uuid-1"));
    assert_eq!(trace.scope, "test-app-charm");
    assert_eq!(
        trace.root().unwrap().name,
        "test-app/7: update-status event"
    );
    assert_eq!(
        trace.root().unwrap().attribute("juju.dispatch_path"),
        Some("hooks/update-status")
    );
    assert_eq!(
        trace.spans.last().unwrap().name,
        "test-app/7: update-status event"
    );
}

#[test]
fn parallel_hooks_never_see_each_others_spans() {
    // Each hook run alone first: the trees the parallel runs must give, span for span.
    let alone = |path: &str| {
        run_hook(JujuContext::new("alone/0", path), TestCharm::new)
            .trace()
            .tree()
    };
    let expected_forms = alone("actions/forms");
    let expected_emit = alone("actions/emit");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let unit = format!("app{i}/0");
                let path = if i % 2 == 0 {
                    "actions/forms"
                } else {
                    "actions/emit"
                };
                let run = run_hook(JujuContext::new(unit.clone(), path), TestCharm::new);
                let trace = run.trace.expect("a trace");
                (unit, path, trace)
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for handle in handles {
        let (unit, path, trace) = handle.join().unwrap();
        assert!(ids.insert(trace.trace_id.clone()), "trace ids are unique");
        assert_eq!(trace.resource_attribute("juju_unit"), Some(unit.as_str()));
        let expected = if path == "actions/forms" {
            &expected_forms
        } else {
            &expected_emit
        };
        assert_eq!(
            &trace.tree().replacen(&unit, "alone/0", 1),
            expected,
            "{unit}"
        );
        let roots = trace
            .spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .count();
        assert_eq!(roots, 1);
        for span in &trace.spans {
            if span.parent_span_id.is_some() {
                assert!(
                    trace.parent(span).is_some(),
                    "{} has a parent in its own trace",
                    span.name
                );
            }
        }
    }
}

#[test]
fn outside_a_session_traced_code_just_runs() {
    assert!(charm_tracing::current_span().is_none());
    assert_eq!(free("x"), "x");
    assert_eq!(block_on(fetch(2)).unwrap(), 2);
    let charm = TestCharm::new(JujuContext::new("lonely/0", "hooks/start"));
    assert_eq!(charm.endpoint(), None);
    assert_eq!(charm.cert, None);
    assert_eq!(charm.ctx.unit_name(), "lonely/0");
}

/// A charm that ends its session early, then keeps working, and builds a second charm.
struct EarlyShutdown;

#[trace_charm(tracing_endpoint = "endpoint")]
impl EarlyShutdown {
    fn new(_ctx: JujuContext) -> Self {
        EarlyShutdown
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
    fn before(&self) {}
    fn after(&self) {}
}

impl Charm for EarlyShutdown {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        if event.kind() == "second_charm_action" {
            // One session per process (here: per harness thread): a second charm instance
            // neither starts a trace nor disturbs the running one.
            let second = TestCharm::new(JujuContext::new("other/1", "hooks/start"));
            assert!(second.forms.is_some());
            self.before();
            return Ok(());
        }
        self.before();
        charm_tracing::shutdown();
        charm_tracing::shutdown();
        self.after();
        Ok(())
    }
}

#[test]
fn shutdown_is_idempotent_and_ends_recording() {
    let run = run_hook(
        JujuContext::new("early/0", "hooks/start"),
        EarlyShutdown::new,
    );
    assert!(
        matches!(run.outcome, HookOutcome::Succeeded),
        "{:?}",
        run.outcome
    );
    let tree = run.trace().tree();
    assert_eq!(
        tree, "early/0: start event\n  event: start\n    method call: EarlyShutdown.before\n",
        "spans after shutdown() are not recorded; open ones are closed by it"
    );
}

#[test]
fn a_second_charm_in_the_same_hook_starts_no_second_session() {
    let run = run_hook(
        JujuContext::new("early/0", "actions/second-charm"),
        EarlyShutdown::new,
    );
    let trace = run.trace();
    assert_eq!(trace.resource_attribute("juju_unit"), Some("early/0"));
    assert_eq!(
        trace.resource_attribute("charm_type"),
        Some("EarlyShutdown")
    );
    assert!(trace.spans.iter().all(|s| !s.name.contains("TestCharm")));
    assert!(trace.span("method call: EarlyShutdown.before").is_some());
}
