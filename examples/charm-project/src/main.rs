//! A Juju charm in Rust, ready to pack: traced with charm-tracing, logging to `juju debug-log`,
//! finding Tempo through the `tracing` relation (or Juju 4's own trace configuration), and
//! trusting Tempo's CA from the `receive-ca-cert` relation. The trace buffer lives on the
//! `charm-traces` storage (see `metadata.yaml`).

use charm_tracing::{
    Charm, Event, EventKind, HandlerError, JujuContext, Lifecycle, RelationEvent,
    TracingEndpointRequirer, charm_tracing_config, hook_tool, trace, trace_charm,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the charm keeps Tempo's CA (from the `receive-ca-cert` relation), in its charm dir.
const TEMPO_CA_FILE: &str = "tempo-ca.pem";

/// The charm.
pub struct RustShop {
    ctx: JujuContext,
    tracing: TracingEndpointRequirer,
    endpoint: Option<String>,
    cert: Option<PathBuf>,
}

#[trace_charm(
    tracing_endpoint = "tracing_endpoint",
    server_cert = "server_cert",
    // The `charm-traces` storage (metadata.yaml): the buffer survives charm upgrades.
    buffer_path = "/var/lib/charm-traces/buffer"
)]
impl RustShop {
    /// The constructor: reads the tracing relation; the session starts when it returns.
    pub fn new(ctx: JujuContext) -> Self {
        let tracing = TracingEndpointRequirer::new("tracing", &["otlp_http"]);
        let ca = ctx.charm_dir().join(TEMPO_CA_FILE);
        // (None, None) when the relation is not there: then Juju's JUJU_CHARM_TRACE_CONFIG_HTTP
        // (or the OTEL_* variables) are used.
        let (endpoint, cert) = charm_tracing_config(&tracing, Some(&ca));
        RustShop {
            ctx,
            tracing,
            endpoint,
            cert,
        }
    }

    fn tracing_endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }

    fn server_cert(&self) -> Option<PathBuf> {
        self.cert.clone()
    }

    fn on_install(&mut self) -> Result<(), HandlerError> {
        log::info!("installing the shop on {}", self.ctx.unit_name());
        self.set_status("maintenance", "installing")?;
        Ok(())
    }

    fn on_start(&mut self) -> Result<(), HandlerError> {
        self.set_status("active", "")?;
        Ok(())
    }

    fn on_tracing_relation_created(&mut self) -> Result<(), HandlerError> {
        self.tracing.request_protocols()?;
        Ok(())
    }

    /// Saves the CA the provider published (`certificate_transfer` interface: `ca` in the
    /// remote unit's databag).
    fn on_ca_changed(&mut self) -> Result<(), HandlerError> {
        let Some(unit) = std::env::var("JUJU_REMOTE_UNIT")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            return Ok(());
        };
        let data = hook_tool("relation-get", ["--format=json", "-", unit.as_str()])?;
        let data: serde_json::Value = serde_json::from_str(&data)?;
        if let Some(ca) = data.get("ca").and_then(|ca| ca.as_str()) {
            std::fs::write(self.ctx.charm_dir().join(TEMPO_CA_FILE), ca)?;
            log::info!("saved Tempo's CA");
        }
        Ok(())
    }

    fn set_status(&self, status: &str, message: &str) -> Result<(), HandlerError> {
        hook_tool("status-set", [status, message])?;
        Ok(())
    }
}

impl Charm for RustShop {
    fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        match event.typed() {
            EventKind::Lifecycle(Lifecycle::Install) => self.on_install(),
            EventKind::Lifecycle(Lifecycle::Start) => self.on_start(),
            EventKind::Lifecycle(Lifecycle::LeaderElected) => self.on_tracing_relation_created(),
            EventKind::Relation {
                relation,
                event: RelationEvent::Created,
            } if relation == "tracing" => self.on_tracing_relation_created(),
            EventKind::Relation {
                relation,
                event: RelationEvent::Changed,
            } if relation == "receive-ca-cert" => self.on_ca_changed(),
            _ => Ok(()),
        }
    }
}

#[trace]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn main() -> ExitCode {
    charm_tracing::juju_log::init();
    log::debug!("rust-shop-charm {}", version());
    charm_tracing::main(RustShop::new)
}
