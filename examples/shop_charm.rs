//! An example charm for a small web shop, traced with charm-tracing.
//!
//! Juju runs it once per hook with `JUJU_*` variables; every hook becomes one trace. Build it
//! with `cargo build --example shop_charm` and run it as a hook, for example:
//!
//! ```text
//! JUJU_UNIT_NAME=shop/0 JUJU_DISPATCH_PATH=hooks/install \
//!     SHOP_TRACING_ENDPOINT=http://127.0.0.1:4318 target/debug/examples/shop_charm
//! ```
//!
//! The endpoint comes from the `tracing` relation with Tempo (through Juju's hook tools);
//! `SHOP_TRACING_ENDPOINT` (and `SHOP_TRACING_CA`) override it for local runs such as the
//! demo.

use charm_tracing::{
    Charm, Event, HandlerError, JujuContext, TracingEndpointRequirer, charm_tracing_config, trace,
    trace_charm,
};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the charm keeps Tempo's CA certificate (a real charm writes it there when it gets it
/// from a `certificate_transfer` relation).
const TEMPO_CA_FILE: &str = "tempo-ca.pem";

/// A configuration problem the charm can recover from.
#[derive(Debug)]
pub struct ValidationError(String);

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValidationError {}

/// A backup that cannot run.
#[derive(Debug)]
pub struct BackupError(String);

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackupError {}

/// The shop's storage backend: a second type, traced with `#[trace]` on its impl.
pub struct Store {
    rendered: Vec<String>,
}

#[trace]
impl Store {
    /// Writes the store's configuration.
    pub fn configure(&mut self, settings: &str) -> usize {
        let rendered = render_config(settings);
        self.rendered.push(rendered);
        self.rendered.len()
    }
}

/// Renders a configuration file: a traced free function.
#[trace]
pub fn render_config(settings: &str) -> String {
    format!("# generated\n{settings}\n")
}

/// The charm.
pub struct ShopCharm {
    ctx: JujuContext,
    store: Store,
    tracing: TracingEndpointRequirer,
    tracing_endpoint: Option<String>,
    server_cert: Option<PathBuf>,
}

#[trace_charm(
    tracing_endpoint = "tracing_endpoint",
    server_cert = "server_cert",
    service_name = "shop-charm"
)]
impl ShopCharm {
    /// The constructor: not traced; the session starts when it returns.
    pub fn new(ctx: JujuContext) -> Self {
        let tracing = TracingEndpointRequirer::new("tracing", &["otlp_http"]);
        let (tracing_endpoint, server_cert) = match std::env::var("SHOP_TRACING_ENDPOINT") {
            Ok(endpoint) => (
                Some(endpoint),
                std::env::var_os("SHOP_TRACING_CA").map(PathBuf::from),
            ),
            Err(_) => charm_tracing_config(&tracing, Some(&ctx.charm_dir().join(TEMPO_CA_FILE))),
        };
        ShopCharm {
            ctx,
            store: Store {
                rendered: Vec::new(),
            },
            tracing,
            tracing_endpoint,
            server_cert,
        }
    }

    /// Asks Tempo for an OTLP/HTTP receiver (the leader writes it to the relation).
    fn on_tracing_relation_created(&mut self) -> Result<(), HandlerError> {
        self.tracing.request_protocols()?;
        Ok(())
    }

    fn on_install(&mut self) -> Result<(), HandlerError> {
        self.prepare();
        if let Err(error) = self.validate("port=0") {
            log::warn!("ignoring invalid default settings: {error}");
        }
        let settings = render_config(&Self::default_settings());
        self.store.configure(&settings);
        charm_tracing::emit("refresh", || self.on_refresh())
    }

    fn on_config_changed(&mut self) -> Result<(), HandlerError> {
        self.validate("port=8080")?;
        self.store.configure("port=8080");
        Ok(())
    }

    fn on_start(&mut self) -> Result<(), HandlerError> {
        log::info!("shop started on {}", self.ctx.unit_name());
        Ok(())
    }

    fn on_do_backup_action(&mut self) -> Result<(), HandlerError> {
        let target = std::env::var("SHOP_BACKUP_TARGET").ok();
        self.run_backup(target.as_deref())?;
        Ok(())
    }

    fn on_upgrade_charm(&mut self) -> Result<(), HandlerError> {
        self.migrate_schema();
        Ok(())
    }

    fn on_remove(&mut self) -> Result<(), HandlerError> {
        self.clean_up();
        // The unit is going away; this charm leaves at once, without returning to `main`.
        std::process::exit(0)
    }

    /// Checks `SHOP_SPANS - 3` items (so the hook has `SHOP_SPANS` spans with its root, event
    /// and handler): the knob of the whole-hook benchmarks.
    fn on_update_status(&mut self) -> Result<(), HandlerError> {
        let spans: usize = std::env::var("SHOP_SPANS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3);
        let healthy = (0..spans.saturating_sub(3))
            .filter(|item| self.check_item(*item))
            .count();
        log::debug!("{healthy} items healthy");
        Ok(())
    }

    fn check_item(&self, item: usize) -> bool {
        std::hint::black_box(item) % 7 != 3
    }

    fn on_refresh(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }

    /// A private helper.
    fn prepare(&self) {
        log::debug!("preparing {}", self.ctx.app_name());
    }

    /// Fails; `on_install` handles the error.
    fn validate(&self, settings: &str) -> Result<(), ValidationError> {
        match settings.strip_prefix("port=") {
            Some("0") | None => Err(ValidationError(format!("invalid settings {settings:?}"))),
            Some(_) => Ok(()),
        }
    }

    /// An associated fn without `self`.
    fn default_settings() -> String {
        "port=80".to_owned()
    }

    fn run_backup(&self, target: Option<&str>) -> Result<(), BackupError> {
        match target {
            Some(_) => Ok(()),
            None => Err(BackupError("no backup target configured".to_owned())),
        }
    }

    fn clean_up(&mut self) {
        self.store.rendered.clear();
    }

    fn migrate_schema(&self) {
        panic!("schema migration from this version is not supported");
    }

    #[trace(skip)]
    fn hot_loop_helper(&self) -> usize {
        self.store.rendered.len()
    }
}

impl Charm for ShopCharm {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        let _ = self.hot_loop_helper();
        match event.kind() {
            "install" => self.on_install(),
            "config_changed" => self.on_config_changed(),
            "start" => self.on_start(),
            "do_backup_action" => self.on_do_backup_action(),
            "upgrade_charm" => self.on_upgrade_charm(),
            "remove" => self.on_remove(),
            "update_status" => self.on_update_status(),
            "tracing_relation_created" | "leader_elected" => self.on_tracing_relation_created(),
            _ => Ok(()),
        }
    }
}

/// The hook entry point.
pub fn main() -> ExitCode {
    // Records go to juju-log (debug-log); outside Juju, to stderr. INFO unless RUST_LOG says.
    charm_tracing::juju_log::init();
    charm_tracing::main(ShopCharm::new)
}
