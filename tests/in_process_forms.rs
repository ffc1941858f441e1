//! Hooks run in-process with `charm_tracing::testing`: every form the macros accept is
//! traced and named as the Python library names it (signature forms, async fns across
//! awaits, members in another impl block, methods traced alone in generic code).

#[path = "support/in_process.rs"]
mod fixtures;

use charm_tracing::testing::{HookOutcome, run_hook};
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use fixtures::run;
use std::fmt::Display;

#[test]
fn every_signature_form_is_traced() {
    let run = run("actions/forms");
    assert!(
        matches!(run.outcome, HookOutcome::Succeeded),
        "{:?}",
        run.outcome
    );
    let tree = run.trace().tree();
    assert_eq!(
        tree,
        "\
test-app/7: forms event
  event: forms_action
    method call: TestCharm.on_forms
      method call: Forms.by_mut
      method call: Forms.by_ref
      method call: Forms.borrowed_str
      method call: Forms.borrowed_mut
      method call: Forms.with_lifetime
      method call: Forms.iter
      method call: Forms.generic
      method call: Forms.early_return  [ERROR Oops: oops]
      method call: Forms.early_return
      method call: Forms.associated
      method call: Forms.unsafe_method
      custom name
      method call: Forms.boxed_error  [ERROR Oops: oops]
      method call: Forms.async_method
        method call: Forms.by_ref
      method call: Forms.greet
      method call: Lone.alone
      function call: free
      renamed fn
      function call: never_returns_err
      method call: Forms.boxed_self
      method call: Forms.mut_self
      method call: Forms.by_value
"
    );
}

#[test]
fn async_fns_are_traced_across_awaits() {
    let run = run("actions/async");
    let trace = run.trace();
    assert_eq!(
        trace.tree(),
        "\
test-app/7: async event
  event: async_action
    method call: TestCharm.on_async
      function call: fetch
        function call: inner_after_await
      function call: fetch  [ERROR Oops: oops]
        function call: inner_after_await
"
    );
}

/// `"name()"`: the endpoint comes from a method defined in another impl block.
struct ElsewhereCharm {
    config: Vec<(String, String)>,
}

impl ElsewhereCharm {
    fn configured_endpoint(&self) -> Option<String> {
        self.config
            .iter()
            .find(|(k, _)| k == "endpoint")
            .map(|(_, v)| v.clone())
    }
}

#[trace_charm(tracing_endpoint = "configured_endpoint()", service_name = "elsewhere")]
impl ElsewhereCharm {
    fn new(_ctx: JujuContext) -> Self {
        ElsewhereCharm {
            config: vec![("endpoint".into(), String::new())],
        }
    }
    fn on_start(&self) {}
}

impl Charm for ElsewhereCharm {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        self.on_start();
        Ok(())
    }
}

#[test]
fn members_may_live_in_another_impl_block() {
    let run = run_hook(JujuContext::new("e/0", "hooks/start"), ElsewhereCharm::new);
    let trace = run.trace();
    assert_eq!(trace.resource_attribute("service.name"), Some("elsewhere"));
    assert_eq!(
        trace.tree(),
        "e/0: start event\n  event: start\n    method call: ElsewhereCharm.on_start\n"
    );
}

/// A trait whose default method is traced on its own: its code runs for every implementor.
trait Refresh {
    #[trace]
    fn refresh(&self) {}
}

struct Alpha;
struct Beta;
impl Refresh for Alpha {}
impl Refresh for Beta {}

/// A blanket impl: one traced method for every `T: Display`.
trait Describe {
    fn describe(&self) -> usize;
}

impl<T: Display> Describe for T {
    #[trace]
    fn describe(&self) -> usize {
        self.to_string().len()
    }
}

struct Shared;

#[trace_charm(tracing_endpoint = "endpoint")]
impl Shared {
    fn new(_ctx: JujuContext) -> Self {
        Shared
    }
    fn endpoint(&self) -> Option<&str> {
        None
    }
}

impl Charm for Shared {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        Beta.refresh();
        Alpha.refresh();
        Beta.refresh();
        7_u8.describe();
        "text".describe();
        Ok(())
    }
}

#[test]
fn a_method_traced_alone_in_generic_code_is_named_after_each_self_type() {
    let run = run_hook(JujuContext::new("shared/0", "hooks/start"), Shared::new);
    assert_eq!(
        run.trace().tree(),
        "\
shared/0: start event
  event: start
    method call: Beta.refresh
    method call: Alpha.refresh
    method call: Beta.refresh
    method call: u8.describe
    method call: str.describe
"
    );
}
