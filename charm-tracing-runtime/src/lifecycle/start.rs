//! Starting a hook's session when the charm's constructor returns: where its endpoint,
//! trace parent, resource and sink come from, and every side effect a session has on the
//! process (the panic hook, the global OpenTelemetry provider, the exit handler).

use crate::collect::record::{LinkRecord, SpanRecord};
use crate::collect::session::{self, Installed, Session, SessionStart, Sink};
use crate::export::buffer::BufferFile;
use crate::export::capture::Capture;
use crate::export::delivery::DeliveryPlan;
use crate::juju::context::JujuContext;
use crate::juju::trace_parent::TraceParent;
use crate::lifecycle::config::CharmConfig;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanId;
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

thread_local! {
    /// The Juju context the hook runner hands to the constructor's session start.
    static PENDING_CONTEXT: RefCell<Option<JujuContext>> = const { RefCell::new(None) };
}

/// Hands the hook's Juju context to the session the constructor will start.
pub(crate) fn set_pending_context(ctx: Option<JujuContext>) {
    let _ = PENDING_CONTEXT.try_with(|slot| *slot.borrow_mut() = ctx);
}

/// Starts the session when the charm's constructor returns. Called by `#[trace_charm]`;
/// `endpoint` and `cert` are only evaluated when a session actually starts.
///
/// ```
/// use charm_tracing_runtime::__macro::{CharmConfig, start_session};
///
/// // Outside Juju (no `JUJU_UNIT_NAME`) no session starts.
/// start_session(&CharmConfig::new("MyCharm"), || None, || None);
/// assert!(charm_tracing_runtime::current_span().is_none());
/// ```
pub fn start_session(
    config: &CharmConfig,
    endpoint: impl FnOnce() -> Option<String>,
    cert: impl FnOnce() -> Option<PathBuf>,
) {
    if !crate::collect::enabled::session_allowed() {
        log::info!("Tracing DISABLED: skipping root span initialization");
        return;
    }
    let harness = session::harness_mode();
    if session::session_exists(harness) {
        log::warn!(
            "charm-tracing: a tracing session already ran in this process; \
             this charm instance is not traced"
        );
        return;
    }
    let pending = PENDING_CONTEXT
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten();
    let ctx = match pending.map_or_else(JujuContext::from_env, Ok) {
        Ok(ctx) => ctx,
        Err(error) => {
            log::debug!("charm-tracing: not tracing, no Juju context ({error})");
            return;
        }
    };
    crate::collect::clock::init();
    let env = |name: &str| std::env::var(name).ok();
    // The charm's members are read once, at the start, in every mode.
    let (endpoint, cert) = (endpoint(), cert());
    let sink: Box<dyn Sink> = if harness {
        Box::new(Capture::default())
    } else {
        let resolved = crate::juju::endpoint_source::resolve(endpoint, cert, env);
        if let Some(resolved) = &resolved {
            log::debug!(
                "charm-tracing: tracing endpoint {:?} from {}",
                resolved.endpoint,
                resolved.source.describe()
            );
        }
        let buffer = (config.buffer_max_events > 0).then(|| {
            BufferFile::new(
                config.buffer_file(ctx.charm_dir()),
                config.buffer_max_events,
                config.buffer_max_size_mib,
            )
        });
        Box::new(DeliveryPlan::new(buffer, config.export_timeout(), resolved))
    };
    let parent = if harness {
        None
    } else {
        crate::juju::trace_parent::from_env(|name| std::env::var(name).ok())
    };
    let session = Arc::new(Session::new(session_start(
        config, &ctx, parent, harness, sink,
    )));
    log::info!("Starting root trace with id='{}'.", session.trace_id);
    crate::collect::panics::install_hook();
    crate::collect::bridge::register_global_provider();
    let proxy = crate::collect::bridge::proxy_context(&session);
    match session::install(session) {
        Installed::Global => crate::lifecycle::exit::flush_at_exit(),
        Installed::Harness => {}
        Installed::No => return,
    }
    crate::collect::span::attach_proxy(proxy);
}

/// The session of the hook `ctx` names: its trace (Juju's, when joined), its root span, its
/// resource.
fn session_start(
    config: &CharmConfig,
    ctx: &JujuContext,
    juju_parent: Option<TraceParent>,
    harness: bool,
    sink: Box<dyn Sink>,
) -> SessionStart {
    let joined = juju_parent.filter(|_| config.join_juju_trace);
    let trace_id = joined.map_or_else(crate::collect::ids::new_trace_id, |p| p.trace_id);
    let service_name = config
        .service_name
        .map_or_else(|| format!("{}-charm", ctx.app_name()), str::to_owned);
    let resource = crate::export::encode::resource_attributes(vec![
        KeyValue::new("service.name", service_name.clone()),
        KeyValue::new("compose_service", service_name.clone()),
        KeyValue::new("charm_type", config.charm_type),
        KeyValue::new("juju_unit", ctx.unit_name().to_owned()),
        KeyValue::new("juju_application", ctx.app_name().to_owned()),
        KeyValue::new("juju_model", ctx.model_name().to_owned()),
        KeyValue::new("juju_model_uuid", ctx.model_uuid().to_owned()),
    ]);
    let mut root = SpanRecord::open(
        Cow::Owned(format!("{}: {} event", ctx.unit_name(), ctx.event().name())),
        session::new_span_id(),
        joined.map_or(SpanId::INVALID, |p| p.span_id),
    );
    if let Some(parent) = juju_parent.filter(|_| !config.join_juju_trace) {
        root.details_mut().links.push(LinkRecord {
            trace_id: parent.trace_id,
            span_id: parent.span_id,
            flags: parent.flags,
        });
    }
    root.details_mut().attributes.push(KeyValue::new(
        "juju.dispatch_path",
        ctx.dispatch_path().to_owned(),
    ));
    SessionStart {
        trace_id,
        root,
        service_name,
        resource,
        harness,
        sink,
        max_record_bytes: u64::from(
            config
                .trace_max_size_kib
                .max(crate::lifecycle::config::MIN_TRACE_MAX_SIZE_KIB),
        ) * 1024,
    }
}
