//! An async charm on tokio: an async handler that joins traced futures, spawns traced
//! tasks (one of which panics, and is handled), and calls a library-like module that
//! reports through `tracing`. Every hook is one trace: the charm's spans, the tasks' spans
//! and the `tracing` spans and events, nested as the calls imply.
//!
//! ```text
//! JUJU_UNIT_NAME=shop/0 JUJU_DISPATCH_PATH=hooks/install \
//!     ASYNC_TRACING_ENDPOINT=http://127.0.0.1:4318 target/debug/examples/async_charm
//! ```
//!
//! `examples/async_charm_current_thread.rs` runs the same charm on a current-thread runtime.

use charm_tracing::{AsyncCharm, Event, HandlerError, JujuContext, trace, trace_charm};
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::prelude::*;

/// Stands for a library such as kube-rs: it knows nothing of charm-tracing and reports
/// through `tracing` only.
pub mod inventory {
    use std::time::Duration;
    use tracing::Instrument as _;

    /// Applies a manifest: a `tracing` span with fields, and events inside it.
    #[tracing::instrument(skip(manifest), fields(resource = %name))]
    pub async fn apply(name: &str, manifest: String) -> Result<u32, String> {
        tracing::info!(bytes = manifest.len() as u64, "applying {name}");
        tokio::time::sleep(Duration::from_millis(2)).await;
        let replicas = super::count_replicas(&manifest);
        tracing::debug!(replicas, "applied");
        Ok(replicas)
    }

    /// Watches in the background: a task carried into `tokio::spawn` with `Instrument`.
    pub fn watch(name: &str) -> tokio::task::JoinHandle<()> {
        let span = tracing::info_span!("watch", resource = name);
        tokio::spawn(
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                tracing::info!("watch established");
            }
            .instrument(span),
        )
    }
}

/// Reads one setting: a traced `async fn`.
#[trace]
async fn fetch_setting(key: &'static str) -> String {
    tokio::time::sleep(Duration::from_millis(1)).await;
    format!("{key}=1")
}

/// Warms a cache in a spawned task; calls a traced sync fn on whatever worker runs it.
#[trace]
async fn warm_cache(entries: u32) -> Result<u32, HandlerError> {
    let mut warmed = 0;
    for entry in 0..entries {
        tokio::task::yield_now().await;
        warmed += warm_entry(entry);
    }
    Ok(warmed)
}

#[trace]
fn warm_entry(entry: u32) -> u32 {
    std::hint::black_box(entry).min(1)
}

/// A task that crashes; its caller handles the `JoinError`.
#[trace]
async fn flaky_worker() -> u32 {
    tokio::task::yield_now().await;
    panic!("worker crashed")
}

/// Counts the replicas a manifest asks for: called inside a `tracing` span.
#[trace]
fn count_replicas(manifest: &str) -> u32 {
    manifest.matches("replica").count() as u32
}

/// The charm.
pub struct AsyncShop {
    ctx: JujuContext,
    tracing_endpoint: Option<String>,
}

#[trace_charm(tracing_endpoint = "tracing_endpoint")]
impl AsyncShop {
    /// The constructor: not traced; the session starts when it returns.
    pub fn new(ctx: JujuContext) -> Self {
        AsyncShop {
            ctx,
            tracing_endpoint: std::env::var("ASYNC_TRACING_ENDPOINT").ok(),
        }
    }

    async fn on_install(&mut self) -> Result<(), HandlerError> {
        let (a, b) = tokio::join!(fetch_setting("a"), fetch_setting("b"));
        let warmed = tokio::spawn(warm_cache(2)).await??;
        let manifest = self.render(&[a, b], warmed);
        inventory::apply(self.ctx.app_name(), manifest).await?;
        Ok(())
    }

    async fn on_config_changed(&mut self) -> Result<(), HandlerError> {
        match tokio::spawn(flaky_worker()).await {
            Ok(_) => {}
            Err(error) if error.is_panic() => log::warn!("a worker crashed; carrying on"),
            Err(error) => return Err(error.into()),
        }
        // Spans after the crash nest as usual, on every worker.
        let warmed = tokio::spawn(warm_cache(1)).await??;
        log::info!("warmed {warmed}");
        Ok(())
    }

    async fn on_start(&mut self) -> Result<(), HandlerError> {
        inventory::watch(self.ctx.app_name()).await?;
        Ok(())
    }

    async fn on_stop(&mut self) -> Result<(), HandlerError> {
        fetch_setting("drain").await;
        Err("the workload did not stop".into())
    }

    fn render(&self, settings: &[String], warmed: u32) -> String {
        format!("{}\nreplicas: {warmed}\n", settings.join("\n"))
    }
}

impl AsyncCharm for AsyncShop {
    async fn handle(&mut self, event: &Event) -> Result<(), HandlerError> {
        match event.kind() {
            "install" => self.on_install().await,
            "config_changed" => self.on_config_changed().await,
            "start" => self.on_start().await,
            "stop" => self.on_stop().await,
            _ => Ok(()),
        }
    }
}

/// Logging and the `tracing` bridge, before the charm is constructed.
pub fn init() {
    // Records go to juju-log (debug-log); outside Juju, to stderr. INFO unless RUST_LOG says.
    charm_tracing::juju_log::init();
    tracing_subscriber::registry()
        .with(charm_tracing::tracing_layer())
        .init();
}

/// The hook entry point: a multi-thread tokio runtime.
#[tokio::main]
pub async fn main() -> ExitCode {
    init();
    charm_tracing::main_async(AsyncShop::new).await
}
