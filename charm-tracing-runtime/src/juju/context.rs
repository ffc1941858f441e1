//! The Juju context of one hook: who runs (unit, app, model) and which event fired.

use std::fmt;
use std::path::{Path, PathBuf};

/// The Juju environment of the running hook, read from `JUJU_*` variables.
///
/// ```
/// use charm_tracing_runtime::JujuContext;
///
/// let ctx = JujuContext::new("shop/0", "hooks/config-changed").with_model("prod", "1234");
/// assert_eq!(ctx.app_name(), "shop");
/// assert_eq!(ctx.event().kind(), "config_changed");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JujuContext {
    unit_name: String,
    dispatch_path: String,
    model_name: String,
    model_uuid: String,
    charm_dir: PathBuf,
    juju_version: Option<String>,
}

/// Why a [`JujuContext`] could not be read from the environment.
///
/// ```
/// use charm_tracing_runtime::ContextError;
///
/// let err = ContextError::Missing("JUJU_UNIT_NAME");
/// assert!(err.to_string().contains("JUJU_UNIT_NAME"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextError {
    /// A required variable is unset or empty.
    Missing(&'static str),
    /// `JUJU_UNIT_NAME` is not of the form `app/N`.
    BadUnitName(String),
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextError::Missing(var) => write!(f, "{var} is not set"),
            ContextError::BadUnitName(name) => {
                write!(f, "JUJU_UNIT_NAME={name:?} is not of the form 'app/N'")
            }
        }
    }
}

impl std::error::Error for ContextError {}

impl JujuContext {
    /// A context for `unit_name` (`app/N`) handling `dispatch_path` (`hooks/install`), with
    /// empty model fields, the current directory as charm dir and no Juju version.
    ///
    /// ```
    /// use charm_tracing_runtime::JujuContext;
    ///
    /// let ctx = JujuContext::new("shop/0", "actions/do-backup");
    /// assert_eq!(ctx.event().kind(), "do_backup_action");
    /// ```
    pub fn new(unit_name: impl Into<String>, dispatch_path: impl Into<String>) -> Self {
        JujuContext {
            unit_name: unit_name.into(),
            dispatch_path: dispatch_path.into(),
            model_name: String::new(),
            model_uuid: String::new(),
            charm_dir: PathBuf::from("."),
            juju_version: None,
        }
    }

    /// Reads the context from the process environment (`JUJU_*`).
    ///
    /// `JUJU_UNIT_NAME` and `JUJU_DISPATCH_PATH` are required; `JUJU_CHARM_DIR` defaults to
    /// the current directory.
    ///
    /// ```
    /// use charm_tracing_runtime::JujuContext;
    ///
    /// // Outside Juju the required variables are missing.
    /// if std::env::var_os("JUJU_UNIT_NAME").is_none() {
    ///     assert!(JujuContext::from_env().is_err());
    /// }
    /// ```
    pub fn from_env() -> Result<Self, ContextError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the context through `lookup` instead of the process environment.
    ///
    /// ```
    /// use charm_tracing_runtime::JujuContext;
    ///
    /// let ctx = JujuContext::from_lookup(|var| match var {
    ///     "JUJU_UNIT_NAME" => Some("db/1".into()),
    ///     "JUJU_DISPATCH_PATH" => Some("hooks/start".into()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(ctx.unit_name(), "db/1");
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ContextError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or(ContextError::Missing(name))
        };
        let unit_name = required("JUJU_UNIT_NAME")?;
        let dispatch_path = required("JUJU_DISPATCH_PATH")?;
        if !unit_name.contains('/') || unit_name.starts_with('/') {
            return Err(ContextError::BadUnitName(unit_name));
        }
        let charm_dir = lookup("JUJU_CHARM_DIR")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(JujuContext {
            unit_name,
            dispatch_path,
            model_name: lookup("JUJU_MODEL_NAME").unwrap_or_default(),
            model_uuid: lookup("JUJU_MODEL_UUID").unwrap_or_default(),
            charm_dir,
            juju_version: lookup("JUJU_VERSION").filter(|v| !v.is_empty()),
        })
    }

    /// Sets the model name and uuid.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// let ctx = JujuContext::new("a/0", "hooks/start").with_model("m", "u");
    /// assert_eq!((ctx.model_name(), ctx.model_uuid()), ("m", "u"));
    /// ```
    pub fn with_model(mut self, name: impl Into<String>, uuid: impl Into<String>) -> Self {
        self.model_name = name.into();
        self.model_uuid = uuid.into();
        self
    }

    /// Sets the charm directory.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// let ctx = JujuContext::new("a/0", "hooks/start").with_charm_dir("/var/lib/juju/charm");
    /// assert_eq!(ctx.charm_dir().to_str(), Some("/var/lib/juju/charm"));
    /// ```
    pub fn with_charm_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.charm_dir = dir.into();
        self
    }

    /// Sets the Juju version.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// let ctx = JujuContext::new("a/0", "hooks/start").with_juju_version("3.6.1");
    /// assert_eq!(ctx.juju_version(), Some("3.6.1"));
    /// ```
    pub fn with_juju_version(mut self, version: impl Into<String>) -> Self {
        self.juju_version = Some(version.into());
        self
    }

    /// The unit name, `app/N`.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// assert_eq!(JujuContext::new("a/0", "hooks/start").unit_name(), "a/0");
    /// ```
    pub fn unit_name(&self) -> &str {
        &self.unit_name
    }

    /// The application name: the unit name before the `/`.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// assert_eq!(JujuContext::new("my-app/3", "hooks/start").app_name(), "my-app");
    /// ```
    pub fn app_name(&self) -> &str {
        self.unit_name
            .split_once('/')
            .map_or(self.unit_name.as_str(), |(app, _)| app)
    }

    /// The model name (`JUJU_MODEL_NAME`, empty when unset).
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// assert_eq!(JujuContext::new("a/0", "hooks/start").model_name(), "");
    /// ```
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The model uuid (`JUJU_MODEL_UUID`, empty when unset).
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// assert_eq!(JujuContext::new("a/0", "hooks/start").model_uuid(), "");
    /// ```
    pub fn model_uuid(&self) -> &str {
        &self.model_uuid
    }

    /// The raw dispatch path, such as `hooks/install` or `actions/do-backup`.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// assert_eq!(JujuContext::new("a/0", "hooks/start").dispatch_path(), "hooks/start");
    /// ```
    pub fn dispatch_path(&self) -> &str {
        &self.dispatch_path
    }

    /// The charm directory (`JUJU_CHARM_DIR`, the current directory when unset).
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// let ctx = JujuContext::new("a/0", "hooks/start");
    /// assert_eq!(ctx.charm_dir(), std::path::Path::new("."));
    /// ```
    pub fn charm_dir(&self) -> &Path {
        &self.charm_dir
    }

    /// The Juju version (`JUJU_VERSION`), if known.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// assert_eq!(JujuContext::new("a/0", "hooks/start").juju_version(), None);
    /// ```
    pub fn juju_version(&self) -> Option<&str> {
        self.juju_version.as_deref()
    }

    /// The event this hook dispatches.
    ///
    /// ```
    /// # use charm_tracing_runtime::JujuContext;
    /// let ctx = JujuContext::new("a/0", "hooks/db-relation-changed");
    /// assert_eq!(ctx.event().kind(), "db_relation_changed");
    /// ```
    pub fn event(&self) -> Event {
        Event::from_dispatch_path(&self.dispatch_path)
    }
}

/// The Juju event a hook dispatches, as ops names it.
///
/// ```
/// use charm_tracing_runtime::Event;
///
/// let event = Event::from_dispatch_path("hooks/workload-pebble-ready");
/// assert_eq!(event.kind(), "workload_pebble_ready");
/// assert_eq!(event.name(), "workload-pebble-ready");
/// assert_eq!(event.dispatch_path(), "hooks/workload-pebble-ready");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    dispatch_path: String,
    kind: String,
}

impl Event {
    /// Parses a dispatch path: `hooks/X` → `X` with `_` for `-`; `actions/X` → `X_action`.
    ///
    /// ```
    /// # use charm_tracing_runtime::Event;
    /// assert_eq!(Event::from_dispatch_path("actions/do-backup").kind(), "do_backup_action");
    /// ```
    pub fn from_dispatch_path(dispatch_path: &str) -> Self {
        let kind = match dispatch_path.split_once('/') {
            Some(("actions", action)) => format!("{}_action", action.replace('-', "_")),
            Some((_, hook)) => hook.replace('-', "_"),
            None => dispatch_path.replace('-', "_"),
        };
        Event {
            dispatch_path: dispatch_path.to_owned(),
            kind,
        }
    }

    /// The ops-style event kind: `install`, `config_changed`, `do_backup_action`.
    ///
    /// ```
    /// # use charm_tracing_runtime::Event;
    /// assert_eq!(Event::from_dispatch_path("hooks/config-changed").kind(), "config_changed");
    /// ```
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The event as Juju names it: the dispatch path after the first `/`, hyphens kept.
    ///
    /// ```
    /// # use charm_tracing_runtime::Event;
    /// assert_eq!(Event::from_dispatch_path("actions/do-backup").name(), "do-backup");
    /// ```
    pub fn name(&self) -> &str {
        self.dispatch_path
            .split_once('/')
            .map_or(self.dispatch_path.as_str(), |(_, rest)| rest)
    }

    /// The raw dispatch path.
    ///
    /// ```
    /// # use charm_tracing_runtime::Event;
    /// assert_eq!(Event::from_dispatch_path("hooks/start").dispatch_path(), "hooks/start");
    /// ```
    pub fn dispatch_path(&self) -> &str {
        &self.dispatch_path
    }

    /// Whether this is an action (`actions/...`).
    ///
    /// ```
    /// # use charm_tracing_runtime::Event;
    /// assert!(Event::from_dispatch_path("actions/do-backup").is_action());
    /// ```
    pub fn is_action(&self) -> bool {
        self.dispatch_path.starts_with("actions/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn event_kinds_follow_ops_naming() {
        let cases = [
            ("hooks/install", "install", "install"),
            ("hooks/config-changed", "config_changed", "config-changed"),
            (
                "hooks/db-relation-changed",
                "db_relation_changed",
                "db-relation-changed",
            ),
            (
                "hooks/workload-pebble-ready",
                "workload_pebble_ready",
                "workload-pebble-ready",
            ),
            ("actions/do-backup", "do_backup_action", "do-backup"),
            ("install", "install", "install"),
        ];
        for (path, kind, name) in cases {
            let event = Event::from_dispatch_path(path);
            assert_eq!(event.kind(), kind, "{path}");
            assert_eq!(event.name(), name, "{path}");
            assert_eq!(event.dispatch_path(), path);
        }
    }

    #[test]
    fn full_environment_is_read() {
        let ctx = JujuContext::from_lookup(env(&[
            ("JUJU_UNIT_NAME", "shop/2"),
            ("JUJU_DISPATCH_PATH", "hooks/start"),
            ("JUJU_MODEL_NAME", "prod"),
            ("JUJU_MODEL_UUID", "abc-123"),
            ("JUJU_CHARM_DIR", "/charm"),
            ("JUJU_VERSION", "3.6.0"),
        ]))
        .unwrap();
        assert_eq!(ctx.unit_name(), "shop/2");
        assert_eq!(ctx.app_name(), "shop");
        assert_eq!(ctx.model_name(), "prod");
        assert_eq!(ctx.model_uuid(), "abc-123");
        assert_eq!(ctx.charm_dir(), Path::new("/charm"));
        assert_eq!(ctx.juju_version(), Some("3.6.0"));
        assert_eq!(ctx.event().kind(), "start");
    }

    #[test]
    fn required_variables_are_required() {
        assert_eq!(
            JujuContext::from_lookup(env(&[("JUJU_DISPATCH_PATH", "hooks/start")])),
            Err(ContextError::Missing("JUJU_UNIT_NAME"))
        );
        assert_eq!(
            JujuContext::from_lookup(env(&[("JUJU_UNIT_NAME", "a/0")])),
            Err(ContextError::Missing("JUJU_DISPATCH_PATH"))
        );
        assert_eq!(
            JujuContext::from_lookup(env(&[
                ("JUJU_UNIT_NAME", ""),
                ("JUJU_DISPATCH_PATH", "hooks/start")
            ])),
            Err(ContextError::Missing("JUJU_UNIT_NAME"))
        );
        assert!(matches!(
            JujuContext::from_lookup(env(&[
                ("JUJU_UNIT_NAME", "noslash"),
                ("JUJU_DISPATCH_PATH", "hooks/start")
            ])),
            Err(ContextError::BadUnitName(_))
        ));
    }

    #[test]
    fn charm_dir_defaults_to_current_dir() {
        let ctx = JujuContext::from_lookup(env(&[
            ("JUJU_UNIT_NAME", "a/0"),
            ("JUJU_DISPATCH_PATH", "hooks/start"),
        ]))
        .unwrap();
        assert_eq!(ctx.charm_dir(), std::env::current_dir().unwrap());
        assert_eq!(ctx.model_name(), "");
        assert_eq!(ctx.juju_version(), None);
    }
}
