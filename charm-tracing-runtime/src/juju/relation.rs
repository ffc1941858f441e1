//! The `tracing` relation (interface `tracing`, v2), requirer side: ask Tempo for receivers
//! and find the endpoint to send traces to, through Juju's hook tools.
//!
//! Requirer app databag (the leader writes): `receivers` = JSON list of protocol names.
//! Provider app databag: `receivers` = JSON list of
//! `{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://host:4318"}`.

pub use crate::juju::hook_tools::{DEFAULT_TOOL_TIMEOUT, HookToolError, HookTools};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// One receiver the provider (Tempo) published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receiver {
    /// The protocol name, such as `otlp_http`.
    pub protocol: String,
    /// The transport, `http` or `grpc`.
    pub transport: String,
    /// Where it listens, such as `http://tempo:4318`.
    pub url: String,
}

/// Why [`TracingEndpointRequirer::get_endpoint`] could not answer.
///
/// ```
/// use charm_tracing_runtime::relation::EndpointLookupError;
///
/// let error = EndpointLookupError::ProtocolNotRequested("jaeger_thrift_http".into());
/// assert!(error.to_string().contains("jaeger_thrift_http"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointLookupError {
    /// The protocol is not among those this requirer asked for.
    ProtocolNotRequested(String),
    /// A hook tool failed.
    HookTool(HookToolError),
}

impl fmt::Display for EndpointLookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointLookupError::ProtocolNotRequested(protocol) => write!(
                f,
                "protocol {protocol:?} was never requested: add it to the requirer's protocols"
            ),
            EndpointLookupError::HookTool(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EndpointLookupError {}

impl From<HookToolError> for EndpointLookupError {
    fn from(e: HookToolError) -> Self {
        EndpointLookupError::HookTool(e)
    }
}

/// The requirer side of the `tracing` relation.
///
/// ```no_run
/// use charm_tracing_runtime::relation::TracingEndpointRequirer;
///
/// let tracing = TracingEndpointRequirer::new("tracing", &["otlp_http"]);
/// // On tracing-relation-created / leader-elected: ask Tempo for an OTLP/HTTP receiver.
/// tracing.request_protocols().ok();
/// let endpoint = tracing.get_endpoint("otlp_http").ok().flatten();
/// ```
#[derive(Clone, Debug)]
pub struct TracingEndpointRequirer {
    relation_name: String,
    protocols: Vec<String>,
    tools: HookTools,
}

/// One relation of the endpoint's name, as the hook tools see it.
struct Relation {
    id: String,
    remote_app: Option<String>,
}

impl TracingEndpointRequirer {
    /// A requirer for relation `relation_name` (usually `tracing`) asking for `protocols`.
    ///
    /// ```
    /// # use charm_tracing_runtime::relation::TracingEndpointRequirer;
    /// let tracing = TracingEndpointRequirer::new("tracing", &["otlp_http"]);
    /// assert_eq!(tracing.protocols(), ["otlp_http"]);
    /// ```
    pub fn new(relation_name: &str, protocols: &[&str]) -> Self {
        TracingEndpointRequirer {
            relation_name: relation_name.to_owned(),
            protocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
            tools: HookTools::new(),
        }
    }

    /// Uses `tools` (say, with another time limit) to talk to Juju.
    ///
    /// ```
    /// # use charm_tracing_runtime::relation::{HookTools, TracingEndpointRequirer};
    /// # use std::time::Duration;
    /// let tracing = TracingEndpointRequirer::new("tracing", &["otlp_http"])
    ///     .with_tools(HookTools::new().with_timeout(Duration::from_secs(1)));
    /// # let _ = tracing;
    /// ```
    pub fn with_tools(mut self, tools: HookTools) -> Self {
        self.tools = tools;
        self
    }

    /// The protocols this requirer asks for.
    ///
    /// ```
    /// # use charm_tracing_runtime::relation::TracingEndpointRequirer;
    /// assert!(TracingEndpointRequirer::new("tracing", &[]).protocols().is_empty());
    /// ```
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The first relation of this name, if the charm has one.
    fn relation(&self) -> Result<Option<Relation>, HookToolError> {
        let ids = self.tools.run_json(
            "relation-ids",
            [self.relation_name.as_str(), "--format=json"],
        )?;
        let Some(id) = string_list("relation-ids", &ids)?.into_iter().next() else {
            return Ok(None);
        };
        let app = self.tools.run_json(
            "relation-list",
            ["-r", id.as_str(), "--app", "--format=json"],
        )?;
        let remote_app = match app {
            Value::String(app) if !app.is_empty() => Some(app),
            Value::Null => None,
            Value::String(_) => None,
            other => {
                return Err(HookToolError::BadOutput {
                    tool: "relation-list".to_owned(),
                    reason: format!("expected the remote application name, got {other}"),
                });
            }
        };
        Ok(Some(Relation { id, remote_app }))
    }

    /// Whether this unit leads its application.
    ///
    /// ```no_run
    /// # use charm_tracing_runtime::relation::TracingEndpointRequirer;
    /// let leader = TracingEndpointRequirer::new("tracing", &["otlp_http"]).is_leader();
    /// ```
    pub fn is_leader(&self) -> Result<bool, HookToolError> {
        match self.tools.run_json("is-leader", ["--format=json"])? {
            Value::Bool(leader) => Ok(leader),
            other => Err(HookToolError::BadOutput {
                tool: "is-leader".to_owned(),
                reason: format!("expected true or false, got {other}"),
            }),
        }
    }

    /// On the leader, writes the requested protocols to this application's databag
    /// (`receivers`); returns whether it wrote. Call it on `tracing-relation-created` and
    /// `leader-elected`.
    ///
    /// ```no_run
    /// # use charm_tracing_runtime::relation::TracingEndpointRequirer;
    /// let written = TracingEndpointRequirer::new("tracing", &["otlp_http"]).request_protocols();
    /// ```
    pub fn request_protocols(&self) -> Result<bool, HookToolError> {
        if !self.is_leader()? {
            return Ok(false);
        }
        let Some(relation) = self.relation()? else {
            return Ok(false);
        };
        let receivers = Value::from(self.protocols.clone()).to_string();
        self.tools.run(
            "relation-set",
            [
                "-r".to_owned(),
                relation.id,
                "--app".to_owned(),
                format!("receivers={receivers}"),
            ],
        )?;
        Ok(true)
    }

    /// The receivers Tempo published, or `None` when the relation is missing or its data is
    /// not (yet) valid. Invalid data is one warning, never an error.
    fn receivers(&self) -> Result<Option<Vec<Receiver>>, HookToolError> {
        let Some(relation) = self.relation()? else {
            return Ok(None);
        };
        let Some(remote_app) = relation.remote_app else {
            return Ok(None);
        };
        let databag = self.tools.run_json(
            "relation-get",
            [
                "-r",
                relation.id.as_str(),
                "--app",
                "-",
                remote_app.as_str(),
                "--format=json",
            ],
        )?;
        let Some(raw) = databag.get("receivers").and_then(Value::as_str) else {
            return Ok(None);
        };
        match parse_receivers(raw) {
            Ok(receivers) => Ok(Some(receivers)),
            Err(reason) => {
                log::warn!(
                    "charm-tracing: the {} relation's data from {remote_app} is invalid \
                     ({reason}); tracing is not ready",
                    self.relation_name
                );
                Ok(None)
            }
        }
    }

    /// Whether Tempo has published valid receivers on the relation. Hook tool failures and
    /// invalid data both mean "not ready".
    ///
    /// ```no_run
    /// # use charm_tracing_runtime::relation::TracingEndpointRequirer;
    /// let ready = TracingEndpointRequirer::new("tracing", &["otlp_http"]).is_ready();
    /// ```
    pub fn is_ready(&self) -> bool {
        match self.receivers() {
            Ok(receivers) => receivers.is_some(),
            Err(error) => {
                log::debug!("charm-tracing: tracing relation not ready: {error}");
                false
            }
        }
    }

    /// The URL of the first receiver Tempo published for `protocol` (a warning if there are
    /// several), whether or not this requirer asked for it, as the upstream Python library
    /// does. `None` when the relation is missing or not ready, or when the protocol is not
    /// published but was requested; [`EndpointLookupError::ProtocolNotRequested`] when it is
    /// neither published nor requested (not in this requirer's protocols, nor in the
    /// application databag's `receivers`).
    ///
    /// ```no_run
    /// # use charm_tracing_runtime::relation::TracingEndpointRequirer;
    /// let url = TracingEndpointRequirer::new("tracing", &["otlp_http"]).get_endpoint("otlp_http");
    /// ```
    pub fn get_endpoint(&self, protocol: &str) -> Result<Option<String>, EndpointLookupError> {
        let Some(receivers) = self.receivers()? else {
            return Ok(None);
        };
        let mut matching = receivers.into_iter().filter(|r| r.protocol == protocol);
        let Some(first) = matching.next() else {
            if self.requested(protocol) {
                return Ok(None);
            }
            return Err(EndpointLookupError::ProtocolNotRequested(
                protocol.to_owned(),
            ));
        };
        if matching.next().is_some() {
            log::warn!(
                "charm-tracing: several {protocol} receivers on the {} relation; using the first",
                self.relation_name
            );
        }
        Ok(Some(first.url))
    }

    /// Whether `protocol` was requested: in this requirer's protocols, or in the `receivers`
    /// this application wrote to the relation (readable by the leader; a read that fails
    /// counts as requested, so it is never reported as a mistake).
    fn requested(&self, protocol: &str) -> bool {
        if self.protocols.iter().any(|p| p == protocol) {
            return true;
        }
        let app = std::env::var("JUJU_UNIT_NAME")
            .ok()
            .and_then(|unit| unit.split('/').next().map(str::to_owned));
        let (Some(app), Ok(Some(relation))) = (app, self.relation()) else {
            return false;
        };
        let args = [
            "-r",
            relation.id.as_str(),
            "--app",
            "-",
            app.as_str(),
            "--format=json",
        ];
        match self.tools.run_json("relation-get", args) {
            Ok(databag) => databag
                .get("receivers")
                .and_then(Value::as_str)
                .and_then(|raw| serde_json::from_str::<Vec<String>>(raw).ok())
                .is_some_and(|requested| requested.iter().any(|p| p == protocol)),
            Err(_) => true,
        }
    }
}

fn string_list(tool: &str, value: &Value) -> Result<Vec<String>, HookToolError> {
    let bad = || HookToolError::BadOutput {
        tool: tool.to_owned(),
        reason: format!("expected a JSON list of strings, got {value}"),
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// Parses the provider's `receivers` (schema of interface `tracing` v2).
fn parse_receivers(raw: &str) -> Result<Vec<Receiver>, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    let items = value
        .as_array()
        .ok_or_else(|| "receivers is not a list".to_owned())?;
    items
        .iter()
        .map(|item| {
            let text = |v: Option<&Value>, what: &str| {
                v.and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("a receiver has no {what}"))
            };
            let protocol = item.get("protocol");
            Ok(Receiver {
                protocol: text(protocol.and_then(|p| p.get("name")), "protocol name")?,
                transport: text(protocol.and_then(|p| p.get("type")), "protocol type")?,
                url: text(item.get("url"), "url")?,
            })
        })
        .collect()
}

/// The `(endpoint, cert)` for `#[trace_charm]` from the tracing relation:
/// `(None, None)` when not ready, when `otlp_http` was not requested or not published, or
/// on a non-leader's permission error; for https, the cert only if `cert_path` exists (else
/// `(None, None)`); for http, `(endpoint, None)`.
///
/// ```no_run
/// use charm_tracing_runtime::relation::{charm_tracing_config, TracingEndpointRequirer};
/// use std::path::Path;
///
/// let tracing = TracingEndpointRequirer::new("tracing", &["otlp_http"]);
/// let (endpoint, cert) = charm_tracing_config(&tracing, Some(Path::new("/tmp/tempo-ca.pem")));
/// ```
pub fn charm_tracing_config(
    requirer: &TracingEndpointRequirer,
    cert_path: Option<&Path>,
) -> (Option<String>, Option<PathBuf>) {
    let endpoint = match requirer.get_endpoint("otlp_http") {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => return (None, None),
        Err(EndpointLookupError::HookTool(error)) if error.is_permission_denied() => {
            return (None, None);
        }
        Err(error) => {
            log::warn!("charm-tracing: no tracing endpoint from the relation: {error}");
            return (None, None);
        }
    };
    if endpoint.to_ascii_lowercase().starts_with("https://") {
        match cert_path.filter(|path| path.exists()) {
            Some(path) => (Some(endpoint), Some(path.to_path_buf())),
            None => (None, None),
        }
    } else {
        (Some(endpoint), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_follow_the_v2_schema() {
        let raw = r#"[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "tempo:4317"},
                      {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://tempo:4318"}]"#;
        let receivers = parse_receivers(raw).unwrap();
        assert_eq!(receivers.len(), 2);
        assert_eq!(receivers[1].protocol, "otlp_http");
        assert_eq!(receivers[1].transport, "http");
        assert_eq!(receivers[1].url, "http://tempo:4318");
        assert!(parse_receivers("not json").is_err());
        assert!(parse_receivers(r#"{"a": 1}"#).is_err());
        assert!(parse_receivers(r#"[{"url": "x"}]"#).is_err());
        assert!(parse_receivers(r#"[{"protocol": {"name": "otlp_http"}, "url": "x"}]"#).is_err());
        assert_eq!(parse_receivers("[]").unwrap(), Vec::new());
    }

    #[test]
    fn without_juju_nothing_is_reported_as_not_requested() {
        let requirer = TracingEndpointRequirer::new("tracing", &["otlp_grpc"])
            .with_tools(HookTools::new().with_dir("/nonexistent-juju-tools"));
        assert!(matches!(
            requirer.get_endpoint("otlp_http"),
            Err(EndpointLookupError::HookTool(
                HookToolError::NotFound { .. }
            ))
        ));
        assert_eq!(charm_tracing_config(&requirer, None), (None, None));
    }
}
