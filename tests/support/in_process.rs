//! The charm and traced code the in-process tests (`tests/in_process_*.rs`) share: `TestCharm`,
//! whose handlers exercise every signature form under `#[trace]`, async fns, the
//! OpenTelemetry API, errors, panics and custom events, and [`run`], one of its hooks run
//! with `charm_tracing::testing`.
//!
//! Included by path (`#[path = "support/in_process.rs"] mod fixtures;`) rather than as a child
//! of `support/mod.rs`, so that the test crates sharing that module (among them the CLI's)
//! neither compile these charms nor need `opentelemetry`.

#![allow(dead_code)]

use charm_tracing::testing::{HookRun, run_hook};
use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace, trace_charm};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, get_active_span};
use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;

/// Polls a future to completion on this thread, yielding once per `Yield`.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// A future that is pending once.
struct Yield(bool);
impl Future for Yield {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

#[derive(Debug)]
pub struct Oops;
impl Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}
impl std::error::Error for Oops {}

/// Every signature form under `#[trace]`.
pub struct Forms<T> {
    items: Vec<T>,
    name: String,
}

#[trace]
impl<T: Clone + std::fmt::Debug> Forms<T> {
    fn by_ref(&self) -> usize {
        self.items.len()
    }
    fn by_mut(&mut self, item: T) {
        self.items.push(item);
    }
    fn by_value(self) -> Vec<T> {
        self.items
    }
    fn borrowed_str(&self) -> &str {
        &self.name
    }
    fn borrowed_mut(&mut self) -> &mut Vec<T> {
        &mut self.items
    }
    fn with_lifetime<'a>(&'a self, other: &'a str) -> &'a str {
        if self.name.is_empty() {
            other
        } else {
            &self.name
        }
    }
    fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.items.iter()
    }
    fn generic<U: Display>(&self, value: U) -> String {
        format!("{value}{}", self.items.len())
    }
    fn early_return(&self, flag: bool) -> Result<u8, Oops> {
        if flag {
            return Err(Oops);
        }
        let parsed: u8 = "7".parse().map_err(|_| Oops)?;
        Ok(parsed)
    }
    fn associated() -> &'static str {
        "assoc"
    }
    /// # Safety
    /// None needed; checks that `unsafe fn` keeps working.
    unsafe fn unsafe_method(&self) -> usize {
        self.items.len()
    }
    const fn constant() -> u8 {
        3
    }
    #[trace(skip)]
    fn skipped(&self) -> usize {
        0
    }
    #[trace(name = "custom name")]
    fn renamed(&self) {}
    fn boxed_error(&self) -> Result<(), HandlerError> {
        Err(Box::new(Oops))
    }
    fn boxed_self(self: Box<Self>) -> usize {
        self.items.len()
    }
    fn mut_self(mut self) -> usize {
        self.items.clear();
        self.items.len()
    }
    async fn async_method(&self) -> usize {
        Yield(false).await;
        self.by_ref()
    }
}

trait Greeter {
    fn greet(&self) -> String;
}

#[trace]
impl Greeter for Forms<u8> {
    fn greet(&self) -> String {
        "hi".to_owned()
    }
}

/// A method under a lone `#[trace]`.
struct Lone;
impl Lone {
    #[trace]
    fn alone(&self) -> u8 {
        1
    }
}

#[trace]
pub fn free<'a, T: AsRef<str> + ?Sized>(value: &'a T) -> &'a str {
    value.as_ref()
}

#[trace]
pub async fn fetch(n: u8) -> Result<u8, Oops> {
    Yield(false).await;
    inner_after_await();
    if n == 0 { Err(Oops) } else { Ok(n) }
}

#[trace]
fn inner_after_await() {}

#[trace(name = "renamed fn")]
fn renamed_fn() {}

#[trace]
fn never_returns_err() -> impl Display {
    5
}

/// The test charm.
pub struct TestCharm {
    pub ctx: JujuContext,
    pub forms: Option<Forms<u8>>,
    pub endpoint: Option<String>,
    pub cert: Option<PathBuf>,
}

#[trace_charm(
    tracing_endpoint = "endpoint",
    server_cert = "cert",
    buffer_max_events = 42,
    buffer_max_size_mib = 42,
    buffer_path = "/charm-traces/buffer",
    export_timeout_ms = 500
)]
impl TestCharm {
    pub fn new(ctx: JujuContext) -> Self {
        TestCharm {
            ctx,
            forms: Some(Forms {
                items: vec![1],
                name: "forms".into(),
            }),
            endpoint: None,
            cert: None,
        }
    }

    fn on_forms(&mut self) -> Result<(), HandlerError> {
        let mut forms = self.forms.take().unwrap();
        forms.by_mut(2);
        assert_eq!(forms.by_ref(), 2);
        assert_eq!(forms.borrowed_str(), "forms");
        forms.borrowed_mut().push(3);
        assert_eq!(forms.with_lifetime("x"), "forms");
        assert_eq!(forms.iter().count(), 3);
        assert_eq!(forms.generic("n"), "n3");
        assert!(forms.early_return(true).is_err());
        assert_eq!(forms.early_return(false).unwrap(), 7);
        assert_eq!(Forms::<u8>::associated(), "assoc");
        // SAFETY: `unsafe_method` has no safety requirements.
        assert_eq!(unsafe { forms.unsafe_method() }, 3);
        assert_eq!(Forms::<u8>::constant(), 3);
        assert_eq!(forms.skipped(), 0);
        forms.renamed();
        assert!(forms.boxed_error().is_err());
        assert_eq!(block_on(forms.async_method()), 3);
        assert_eq!(forms.greet(), "hi");
        assert_eq!(Lone.alone(), 1);
        assert_eq!(free("abc"), "abc");
        renamed_fn();
        assert_eq!(never_returns_err().to_string(), "5");
        let copy = Forms {
            items: forms.items.clone(),
            name: String::new(),
        };
        assert_eq!(Box::new(copy).boxed_self(), 3);
        let copy = Forms {
            items: forms.items.clone(),
            name: String::new(),
        };
        assert_eq!(copy.mut_self(), 0);
        assert_eq!(forms.by_value().len(), 3);
        Ok(())
    }

    fn on_async(&mut self) -> Result<(), HandlerError> {
        assert_eq!(block_on(fetch(4)).unwrap(), 4);
        assert!(block_on(fetch(0)).is_err());
        Ok(())
    }

    fn on_interop(&mut self) -> Result<(), HandlerError> {
        get_active_span(|span| span.add_event("from get_active_span", vec![]));
        let tracer = opentelemetry::global::tracer("manual");
        tracer.in_span("manual work", |cx| {
            cx.span().set_attribute(KeyValue::new("rows", 3));
            self.helper_in_manual();
        });
        if let Some(mut span) = charm_tracing::current_span() {
            span.set_attribute(KeyValue::new("handler", "interop"));
        }
        Ok(())
    }

    fn helper_in_manual(&self) {}

    fn on_fail(&mut self) -> Result<(), HandlerError> {
        self.step_that_fails()?;
        Ok(())
    }

    fn step_that_fails(&self) -> Result<(), Oops> {
        Err(Oops)
    }

    fn on_panic(&mut self) -> Result<(), HandlerError> {
        panic!("handler exploded");
    }

    fn on_nested_emit(&mut self) -> Result<(), HandlerError> {
        charm_tracing::emit("reconcile", || self.reconcile())
    }

    fn reconcile(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn on_unit(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }

    pub fn endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }
}

impl Charm for TestCharm {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        match event.kind() {
            "forms_action" => self.on_forms(),
            "async_action" => self.on_async(),
            "interop_action" => self.on_interop(),
            "fail_action" => self.on_fail(),
            "panic_action" => self.on_panic(),
            "emit_action" => self.on_nested_emit(),
            _ => self.on_unit(),
        }
    }
}

/// `TestCharm` run in-process for `dispatch_path`, as unit `test-app/7` of model `m`.
pub fn run(dispatch_path: &str) -> HookRun {
    run_hook(
        JujuContext::new("test-app/7", dispatch_path).with_model("m", "uuid-1"),
        TestCharm::new,
    )
}
