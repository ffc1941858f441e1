//! `#[trace_charm(...)]` on the charm's struct (with a bare `#[trace_charm]` on its impl
//! block) gives the same trace as the arguments on the impl block: the same charm is
//! written in both forms and their hooks compared, in-process and (the `struct_charm`
//! example) as hook processes against a loopback OTLP receiver.

mod support;

use charm_tracing::__private_0_1_0::{CharmConfig, TraceCharmConfig};
use charm_tracing::testing::{HookOutcome, HookRun, SpanStatus, Trace, run_hook};
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace_charm};
use std::cell::Cell;
use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;
use support::receiver::Receiver;
use support::{Hook, buffered_records, closed_port_endpoint, fresh_charm_dir};

#[derive(Debug)]
struct Oops;
impl Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}
impl std::error::Error for Oops {}

thread_local! {
    /// How often this thread's charms had their certificate read.
    static CERT_READS: Cell<usize> = const { Cell::new(0) };
}

fn cert_reads() -> usize {
    CERT_READS.with(Cell::get)
}

/// The charm with its arguments on the impl block.
mod impl_form {
    use super::*;

    pub struct Shop {
        pub ctx: JujuContext,
        pub endpoint: Option<String>,
        pub stock: u32,
    }

    #[trace_charm(
        tracing_endpoint = "endpoint",
        server_cert = "cert",
        service_name = "shop-svc",
        buffer_max_events = 42,
        buffer_max_size_mib = 12,
        buffer_path = "/charm-traces/buffer",
        export_timeout_ms = 500,
        trace_max_size_kib = 2048
    )]
    impl Shop {
        pub fn new(ctx: JujuContext) -> Self {
            Shop {
                ctx,
                endpoint: None,
                stock: 0,
            }
        }

        fn cert(&self) -> Option<PathBuf> {
            CERT_READS.with(|reads| reads.set(reads.get() + 1));
            None
        }

        fn on_install(&mut self) -> Result<(), HandlerError> {
            self.restock(Self::batch());
            self.quiet();
            self.renamed();
            assert_eq!(Self::limit(), 9);
            charm_tracing::emit("reconcile", || self.reconcile())
        }

        fn restock(&mut self, n: u32) {
            self.stock += n;
        }

        fn batch() -> u32 {
            3
        }

        const fn limit() -> u32 {
            9
        }

        #[charm_tracing::trace(skip)]
        fn quiet(&self) {}

        #[charm_tracing::trace(name = "renamed span")]
        fn renamed(&self) {}

        fn reconcile(&mut self) -> Result<(), HandlerError> {
            assert_eq!(self.stock, 3, "{}", self.ctx.unit_name());
            Ok(())
        }

        fn on_fail(&mut self) -> Result<(), HandlerError> {
            self.validate()?;
            Ok(())
        }

        fn validate(&self) -> Result<(), Oops> {
            Err(Oops)
        }
    }

    impl Charm for Shop {
        fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
            match event.kind() {
                "install" => self.on_install(),
                _ => self.on_fail(),
            }
        }
    }
}

/// The same charm with its arguments on the struct.
mod struct_form {
    use super::*;

    #[trace_charm(
        tracing_endpoint = "endpoint",
        server_cert = "cert",
        service_name = "shop-svc",
        buffer_max_events = 42,
        buffer_max_size_mib = 12,
        buffer_path = "/charm-traces/buffer",
        export_timeout_ms = 500,
        trace_max_size_kib = 2048
    )]
    pub struct Shop {
        pub ctx: JujuContext,
        pub endpoint: Option<String>,
        pub stock: u32,
    }

    #[trace_charm]
    impl Shop {
        pub fn new(ctx: JujuContext) -> Self {
            Shop {
                ctx,
                endpoint: None,
                stock: 0,
            }
        }

        fn cert(&self) -> Option<PathBuf> {
            CERT_READS.with(|reads| reads.set(reads.get() + 1));
            None
        }

        fn on_install(&mut self) -> Result<(), HandlerError> {
            self.restock(Self::batch());
            self.quiet();
            self.renamed();
            assert_eq!(Self::limit(), 9);
            charm_tracing::emit("reconcile", || self.reconcile())
        }

        fn restock(&mut self, n: u32) {
            self.stock += n;
        }

        fn batch() -> u32 {
            3
        }

        const fn limit() -> u32 {
            9
        }

        #[charm_tracing::trace(skip)]
        fn quiet(&self) {}

        #[charm_tracing::trace(name = "renamed span")]
        fn renamed(&self) {}

        fn reconcile(&mut self) -> Result<(), HandlerError> {
            assert_eq!(self.stock, 3, "{}", self.ctx.unit_name());
            Ok(())
        }

        fn on_fail(&mut self) -> Result<(), HandlerError> {
            self.validate()?;
            Ok(())
        }

        fn validate(&self) -> Result<(), Oops> {
            Err(Oops)
        }
    }

    impl Charm for Shop {
        fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
            match event.kind() {
                "install" => self.on_install(),
                _ => self.on_fail(),
            }
        }
    }
}

fn ctx(dispatch_path: &str) -> JujuContext {
    JujuContext::new("shop/3", dispatch_path)
        .with_model("prod", "6f5c1d2e-0000-4000-8000-0000000000aa")
}

/// Everything about a span but its ids and times: name, parent's name, kind, status,
/// attributes, events.
type Shape = (
    String,
    Option<String>,
    String,
    SpanStatus,
    Vec<(String, String)>,
    Vec<String>,
);

fn shape(trace: &Trace) -> Vec<Shape> {
    trace
        .spans
        .iter()
        .map(|span| {
            (
                span.name.clone(),
                trace.parent(span).map(|p| p.name.clone()),
                span.kind.clone(),
                span.status.clone(),
                span.attributes.clone(),
                span.events
                    .iter()
                    .map(|e| format!("{} {:?}", e.name, e.attributes))
                    .collect(),
            )
        })
        .collect()
}

/// The resource attributes, sorted (the SDK keeps them in no particular order).
fn resource(trace: &Trace) -> Vec<(String, String)> {
    let mut resource = trace.resource.clone();
    resource.sort();
    resource
}

/// Runs `dispatch_path` in both forms; checks each read its certificate once, at the start.
fn both(dispatch_path: &str) -> (HookRun, HookRun) {
    let before = cert_reads();
    let by_impl = run_hook(ctx(dispatch_path), impl_form::Shop::new);
    assert_eq!(cert_reads(), before + 1, "impl form: the cert is read once");
    let by_struct = run_hook(ctx(dispatch_path), struct_form::Shop::new);
    assert_eq!(
        cert_reads(),
        before + 2,
        "struct form: the cert is read once"
    );
    (by_impl, by_struct)
}

#[test]
fn both_forms_trace_a_hook_the_same() {
    let (by_impl, by_struct) = both("hooks/install");
    for run in [&by_impl, &by_struct] {
        assert!(
            matches!(run.outcome, HookOutcome::Succeeded),
            "{:?}",
            run.outcome
        );
    }
    let (by_impl, by_struct) = (by_impl.trace(), by_struct.trace());
    let expected = "\
shop/3: install event
  event: install
    method call: Shop.on_install
      method call: Shop.batch
      method call: Shop.restock
      renamed span
      event: reconcile
        method call: Shop.reconcile
";
    assert_eq!(by_impl.tree(), expected);
    assert_eq!(by_struct.tree(), expected);
    let names = |trace: &Trace| {
        trace
            .spans
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(by_struct), names(by_impl), "same spans, same order");
    assert_eq!(shape(by_struct), shape(by_impl));
    assert_eq!(resource(by_struct), resource(by_impl));
    assert_eq!(by_struct.scope, by_impl.scope);
    for trace in [by_impl, by_struct] {
        assert_eq!(trace.resource_attribute("charm_type"), Some("Shop"));
        assert_eq!(trace.resource_attribute("service.name"), Some("shop-svc"));
    }
    assert_ne!(
        by_struct.trace_id, by_impl.trace_id,
        "two hooks, two traces"
    );
}

#[test]
fn both_forms_trace_a_failing_hook_the_same() {
    let (by_impl, by_struct) = both("hooks/stop");
    for run in [&by_impl, &by_struct] {
        assert!(
            matches!(&run.outcome, HookOutcome::Failed(e) if e.to_string() == "oops"),
            "{:?}",
            run.outcome
        );
    }
    let (by_impl, by_struct) = (by_impl.trace(), by_struct.trace());
    let expected = "\
shop/3: stop event  [ERROR Oops: oops]
  event: stop  [ERROR Oops: oops]
    method call: Shop.on_fail  [ERROR Oops: oops]
      method call: Shop.validate  [ERROR Oops: oops]
";
    assert_eq!(by_impl.tree(), expected);
    assert_eq!(by_struct.tree(), expected);
    assert_eq!(shape(by_struct), shape(by_impl));
    assert_eq!(resource(by_struct), resource(by_impl));
}

#[test]
fn the_struct_records_its_arguments_for_the_type() {
    assert_eq!(
        <struct_form::Shop as TraceCharmConfig>::CONFIG,
        CharmConfig {
            charm_type: "Shop",
            service_name: Some("shop-svc"),
            buffer_max_events: 42,
            buffer_max_size_mib: 12,
            buffer_path: Some("/charm-traces/buffer"),
            export_timeout_ms: 500,
            join_juju_trace: true,
            trace_max_size_kib: 2048,
        }
    );
    assert_eq!(
        <Minimal as TraceCharmConfig>::CONFIG,
        CharmConfig::new("Minimal"),
        "what is not given keeps its default"
    );
}

/// A field and a method of the same name: `"name"` is the field, `"name()"` the method.
#[trace_charm(tracing_endpoint = "tracing_endpoint", server_cert = "server_cert()")]
struct Minimal {
    tracing_endpoint: Option<String>,
}

#[trace_charm]
impl Minimal {
    fn new(_ctx: JujuContext) -> Self {
        Minimal {
            tracing_endpoint: Some("http://field:4318".into()),
        }
    }

    fn tracing_endpoint(&self) -> Option<String> {
        Some("http://method:4318".into())
    }

    fn server_cert(&self) -> Option<&str> {
        Some("/method/ca.pem")
    }
}

impl Charm for Minimal {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn a_struct_member_is_its_field_if_it_has_one_else_a_method() {
    let charm = Minimal {
        tracing_endpoint: Some("http://field:4318".into()),
    };
    assert_eq!(
        charm.charm_tracing_endpoint().as_deref(),
        Some("http://field:4318")
    );
    assert_eq!(
        charm.tracing_endpoint().as_deref(),
        Some("http://method:4318")
    );
    assert_eq!(
        charm.charm_tracing_server_cert(),
        Some(PathBuf::from("/method/ca.pem"))
    );
    // Read before the session starts, the members leave no spans.
    let run = run_hook(ctx("hooks/start"), Minimal::new);
    assert_eq!(run.trace().tree(), "shop/3: start event\n  event: start\n");
}

/// A generic charm, configured on the struct, with its own constructor name.
#[trace_charm(tracing_endpoint = "endpoint", buffer_max_events = 0)]
struct Generic<T: Default + 'static, const N: usize>
where
    T: Clone,
{
    items: [T; N],
    endpoint: &'static str,
}

#[trace_charm(constructor = "make")]
impl<T: Default + Clone + 'static, const N: usize> Generic<T, N> {
    fn make(_ctx: JujuContext) -> Self {
        Generic {
            items: std::array::from_fn(|_| T::default()),
            endpoint: "",
        }
    }

    fn count(&self) -> usize {
        self.items.len()
    }
}

impl<T: Default + Clone + 'static, const N: usize> Charm for Generic<T, N> {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        assert_eq!(self.count(), N);
        Ok(())
    }
}

#[test]
fn generic_charms_are_configured_per_type() {
    assert_eq!(
        <Generic<u8, 2> as TraceCharmConfig>::CONFIG,
        CharmConfig {
            buffer_max_events: 0,
            ..CharmConfig::new("Generic")
        }
    );
    let run = run_hook(ctx("hooks/start"), Generic::<String, 3>::make);
    assert!(
        matches!(run.outcome, HookOutcome::Succeeded),
        "{:?}",
        run.outcome
    );
    assert_eq!(
        run.trace().tree(),
        "shop/3: start event\n  event: start\n    method call: Generic.count\n"
    );
    assert_eq!(
        run.trace().resource_attribute("charm_type"),
        Some("Generic")
    );
}

/// A tuple struct names its fields by number.
#[trace_charm(tracing_endpoint = "1", server_cert = "2", service_name = "pair")]
struct Pair(JujuContext, Option<String>, Option<PathBuf>);

#[trace_charm]
impl Pair {
    fn new(ctx: JujuContext) -> Self {
        Pair(ctx, Some("http://pair:4318".into()), None)
    }
    fn on_start(&self) -> &str {
        self.0.unit_name()
    }
}

impl Charm for Pair {
    fn handle(&mut self, _event: &Event) -> Result<(), HandlerError> {
        assert_eq!(self.on_start(), "shop/3");
        Ok(())
    }
}

#[test]
fn tuple_structs_name_fields_by_number() {
    let charm = Pair(
        JujuContext::new("pair/0", "hooks/start"),
        Some("http://pair:4318".into()),
        None,
    );
    assert_eq!(
        charm.charm_tracing_endpoint().as_deref(),
        Some("http://pair:4318")
    );
    assert_eq!(charm.charm_tracing_server_cert(), None);
    let run = run_hook(ctx("hooks/start"), Pair::new);
    assert_eq!(
        run.trace().tree(),
        "shop/3: start event\n  event: start\n    method call: Pair.on_start\n"
    );
    assert_eq!(run.trace().resource_attribute("service.name"), Some("pair"));
}

/// Runs `dispatch_path` of the `struct_charm` example in `form` ("struct" or "impl") against
/// `receiver`; returns the exit code and the one trace received.
fn run_example(form: &str, dispatch_path: &str) -> (i32, Trace) {
    let receiver = Receiver::start();
    let output = Hook::new("struct_charm", dispatch_path)
        .env("CHARM_FORM", form)
        .env("TRACING_ENDPOINT", receiver.endpoint())
        .run();
    assert!(
        receiver.wait_for(1, Duration::from_secs(5)),
        "{form}: no trace arrived; stderr:\n{}",
        output.stderr()
    );
    std::thread::sleep(Duration::from_millis(50));
    let traces = receiver.traces();
    assert_eq!(traces.len(), 1, "{form}: one request per hook");
    let trace = Trace::from_request(&traces[0]);
    assert_eq!(
        output.trace_id(),
        Some(trace.trace_id.clone()),
        "{form}: the logged trace id is the delivered one"
    );
    (output.code(), trace)
}

#[test]
fn both_forms_deliver_the_same_trace_from_a_hook_process() {
    let (code, by_struct) = run_example("struct", "hooks/start");
    assert_eq!(code, 0);
    let (code, by_impl) = run_example("impl", "hooks/start");
    assert_eq!(code, 0);
    let expected = "\
shop/0: start event
  event: start
    method call: Inventory.on_start
      method call: Inventory.stock
      method call: Inventory.count
";
    assert_eq!(by_impl.tree(), expected);
    assert_eq!(by_struct.tree(), expected);
    assert_eq!(shape(&by_struct), shape(&by_impl));
    assert_eq!(resource(&by_struct), resource(&by_impl));
    for trace in [&by_impl, &by_struct] {
        assert_eq!(trace.resource_attribute("charm_type"), Some("Inventory"));
        assert_eq!(trace.resource_attribute("service.name"), Some("shop-charm"));
        assert_eq!(trace.resource_attribute("juju_unit"), Some("shop/0"));
    }
}

#[test]
fn both_forms_deliver_the_same_failed_hook_from_a_process() {
    let (code, by_struct) = run_example("struct", "hooks/remove");
    assert_ne!(code, 0, "the handler failed");
    let (code, by_impl) = run_example("impl", "hooks/remove");
    assert_ne!(code, 0, "the handler failed");
    assert_eq!(shape(&by_struct), shape(&by_impl));
    let handler = by_struct.span("method call: Inventory.on_remove").unwrap();
    assert!(
        matches!(&handler.status, SpanStatus::Error(d) if d.ends_with(": inventory is not empty")),
        "{:?}",
        handler.status
    );
    assert_eq!(
        by_struct.tree().lines().count(),
        3,
        "root, event, handler:\n{}",
        by_struct.tree()
    );
}

#[test]
fn the_struct_forms_limits_take_effect_like_the_impl_forms() {
    for form in ["struct", "impl"] {
        // `buffer_path = "inventory.buffer"`, `buffer_max_events = 2`: three hooks with
        // Tempo down leave the two newest records in that file of the charm dir.
        let dir = fresh_charm_dir();
        let down = closed_port_endpoint();
        for _ in 0..3 {
            let output = Hook::in_dir("struct_charm", "hooks/start", &dir)
                .env("CHARM_FORM", form)
                .env("TRACING_ENDPOINT", &down)
                .run();
            assert_eq!(output.code(), 0, "{form}: {}", output.stderr());
        }
        assert_eq!(buffered_records(&dir.join("inventory.buffer")), 2, "{form}");
        assert!(!dir.join(".charm_tracing_buffer.raw").exists(), "{form}");

        // `export_timeout_ms = 300`: a backend that never answers holds the hook well under
        // the default deadline of 1000 ms.
        let receiver = Receiver::start();
        receiver.set_black_hole(true);
        let black_holed = Hook::in_dir("struct_charm", "hooks/start", &dir)
            .env("CHARM_FORM", form)
            .env("TRACING_ENDPOINT", receiver.endpoint())
            .run();
        assert!(
            black_holed.elapsed < Duration::from_millis(900),
            "{form}: took {:?}",
            black_holed.elapsed
        );

        // Tempo back: this hook's record is written ahead into the buffer too, which keeps
        // two (the black-holed hook's and this one's, dropping the third hook's); they go
        // out oldest first.
        receiver.set_black_hole(false);
        // The timeout started an outage backoff (tests/outage.rs): let it end now.
        std::fs::remove_file(dir.join("inventory.buffer.state")).expect("the outage state");
        let output = Hook::in_dir("struct_charm", "hooks/start", &dir)
            .env("CHARM_FORM", form)
            .env("TRACING_ENDPOINT", receiver.endpoint())
            .run();
        let black_holed = black_holed.trace_id().unwrap();
        let delivered: Vec<String> = receiver
            .accepted_traces()
            .iter()
            .map(support::trace_id_of)
            .collect();
        assert_eq!(
            delivered,
            vec![black_holed, output.trace_id().unwrap()],
            "{form}: {}",
            output.stderr()
        );
        assert_eq!(buffered_records(&dir.join("inventory.buffer")), 0, "{form}");
    }
}
