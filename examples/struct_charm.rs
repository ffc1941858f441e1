//! One charm written in both forms of `#[trace_charm(...)]`: its configuration on the struct
//! (the default) or on the impl block (`CHARM_FORM=impl`). The hooks give the same traces;
//! the tests run both and compare.
//!
//! ```text
//! JUJU_UNIT_NAME=inventory/0 JUJU_DISPATCH_PATH=hooks/start \
//!     TRACING_ENDPOINT=http://127.0.0.1:4318 target/debug/examples/struct_charm
//! ```

use charm_tracing::{Charm, Event, HandlerError, JujuContext, trace_charm};

/// The arguments on the struct, a bare `#[trace_charm]` on the impl block.
mod on_struct {
    use super::*;

    /// The charm.
    #[trace_charm(
        tracing_endpoint = "tracing_endpoint",
        buffer_max_events = 2,
        buffer_path = "inventory.buffer",
        export_timeout_ms = 300
    )]
    pub struct Inventory {
        ctx: JujuContext,
        tracing_endpoint: Option<String>,
        items: Vec<String>,
    }

    #[trace_charm]
    impl Inventory {
        /// The constructor: the session starts when it returns.
        pub fn new(ctx: JujuContext) -> Self {
            Inventory {
                ctx,
                tracing_endpoint: std::env::var("TRACING_ENDPOINT").ok(),
                items: Vec::new(),
            }
        }

        fn on_start(&mut self) -> Result<(), HandlerError> {
            self.stock("apples");
            log::info!("{} holds {} item(s)", self.ctx.unit_name(), self.count());
            Ok(())
        }

        fn stock(&mut self, item: &str) {
            self.items.push(item.to_owned());
        }

        fn count(&self) -> usize {
            self.items.len()
        }

        fn on_remove(&mut self) -> Result<(), HandlerError> {
            Err("inventory is not empty".into())
        }
    }

    impl Charm for Inventory {
        fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
            match event.kind() {
                "remove" => self.on_remove(),
                _ => self.on_start(),
            }
        }
    }
}

/// The same charm with the arguments on the impl block.
mod on_impl {
    use super::*;

    /// The charm.
    pub struct Inventory {
        ctx: JujuContext,
        tracing_endpoint: Option<String>,
        items: Vec<String>,
    }

    #[trace_charm(
        tracing_endpoint = "tracing_endpoint",
        buffer_max_events = 2,
        buffer_path = "inventory.buffer",
        export_timeout_ms = 300
    )]
    impl Inventory {
        /// The constructor: the session starts when it returns.
        pub fn new(ctx: JujuContext) -> Self {
            Inventory {
                ctx,
                tracing_endpoint: std::env::var("TRACING_ENDPOINT").ok(),
                items: Vec::new(),
            }
        }

        fn on_start(&mut self) -> Result<(), HandlerError> {
            self.stock("apples");
            log::info!("{} holds {} item(s)", self.ctx.unit_name(), self.count());
            Ok(())
        }

        fn stock(&mut self, item: &str) {
            self.items.push(item.to_owned());
        }

        fn count(&self) -> usize {
            self.items.len()
        }

        fn on_remove(&mut self) -> Result<(), HandlerError> {
            Err("inventory is not empty".into())
        }
    }

    impl Charm for Inventory {
        fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
            match event.kind() {
                "remove" => self.on_remove(),
                _ => self.on_start(),
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    // Records go to juju-log (debug-log); outside Juju, to stderr. INFO unless RUST_LOG says.
    charm_tracing::juju_log::init();
    match std::env::var("CHARM_FORM").as_deref() {
        Ok("impl") => charm_tracing::main(on_impl::Inventory::new),
        _ => charm_tracing::main(on_struct::Inventory::new),
    }
}
