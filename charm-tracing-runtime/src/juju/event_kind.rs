//! Juju's event kinds as an enum, so a charm dispatches with `match` and the compiler
//! catches typos ([`Event::typed`]); [`Event::matches`] for string names, with a loud line for
//! a name no Juju event can have.

use crate::juju::context::Event;

/// A relation event's suffix: `<relation>-relation-<kind>`.
///
/// ```
/// use charm_tracing_runtime::{Event, EventKind, RelationEvent};
///
/// let kind = Event::from_dispatch_path("hooks/db-relation-changed").typed();
/// assert_eq!(kind, EventKind::Relation { relation: "db".into(), event: RelationEvent::Changed });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelationEvent {
    /// `-relation-created`
    Created,
    /// `-relation-joined`
    Joined,
    /// `-relation-changed`
    Changed,
    /// `-relation-departed`
    Departed,
    /// `-relation-broken`
    Broken,
}

/// A storage event's suffix: `<storage>-storage-<kind>`.
///
/// ```
/// use charm_tracing_runtime::{Event, EventKind, StorageEvent};
///
/// let kind = Event::from_dispatch_path("hooks/traces-storage-attached").typed();
/// assert_eq!(kind, EventKind::Storage { storage: "traces".into(), event: StorageEvent::Attached });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StorageEvent {
    /// `-storage-attached`
    Attached,
    /// `-storage-detaching`
    Detaching,
}

/// A Pebble event's suffix: `<container>-pebble-<kind>`.
///
/// ```
/// use charm_tracing_runtime::{Event, EventKind, PebbleEvent};
///
/// let kind = Event::from_dispatch_path("hooks/workload-pebble-check-failed").typed();
/// assert_eq!(kind, EventKind::Pebble { container: "workload".into(), event: PebbleEvent::CheckFailed });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PebbleEvent {
    /// `-pebble-ready`
    Ready,
    /// `-pebble-custom-notice`
    CustomNotice,
    /// `-pebble-check-failed`
    CheckFailed,
    /// `-pebble-check-recovered`
    CheckRecovered,
}

/// A secret event.
///
/// ```
/// use charm_tracing_runtime::{Event, EventKind, SecretEvent};
///
/// assert_eq!(Event::from_dispatch_path("hooks/secret-rotate").typed(), EventKind::Secret(SecretEvent::Rotate));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretEvent {
    /// `secret-changed`
    Changed,
    /// `secret-rotate`
    Rotate,
    /// `secret-remove`
    Remove,
    /// `secret-expired`
    Expired,
}

/// The lifecycle hooks Juju runs.
///
/// ```
/// use charm_tracing_runtime::{Event, EventKind, Lifecycle};
///
/// assert_eq!(Event::from_dispatch_path("hooks/config-changed").typed(), EventKind::Lifecycle(Lifecycle::ConfigChanged));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// `install`
    Install,
    /// `start`
    Start,
    /// `stop`
    Stop,
    /// `remove`
    Remove,
    /// `upgrade-charm`
    UpgradeCharm,
    /// `config-changed`
    ConfigChanged,
    /// `update-status`
    UpdateStatus,
    /// `leader-elected`
    LeaderElected,
    /// `leader-settings-changed`
    LeaderSettingsChanged,
    /// `collect-metrics`
    CollectMetrics,
    /// `pre-series-upgrade`
    PreSeriesUpgrade,
    /// `post-series-upgrade`
    PostSeriesUpgrade,
}

const LIFECYCLE: &[(&str, Lifecycle)] = &[
    ("install", Lifecycle::Install),
    ("start", Lifecycle::Start),
    ("stop", Lifecycle::Stop),
    ("remove", Lifecycle::Remove),
    ("upgrade-charm", Lifecycle::UpgradeCharm),
    ("config-changed", Lifecycle::ConfigChanged),
    ("update-status", Lifecycle::UpdateStatus),
    ("leader-elected", Lifecycle::LeaderElected),
    ("leader-settings-changed", Lifecycle::LeaderSettingsChanged),
    ("collect-metrics", Lifecycle::CollectMetrics),
    ("pre-series-upgrade", Lifecycle::PreSeriesUpgrade),
    ("post-series-upgrade", Lifecycle::PostSeriesUpgrade),
];

const RELATION: &[(&str, RelationEvent)] = &[
    ("-relation-created", RelationEvent::Created),
    ("-relation-joined", RelationEvent::Joined),
    ("-relation-changed", RelationEvent::Changed),
    ("-relation-departed", RelationEvent::Departed),
    ("-relation-broken", RelationEvent::Broken),
];

const STORAGE: &[(&str, StorageEvent)] = &[
    ("-storage-attached", StorageEvent::Attached),
    ("-storage-detaching", StorageEvent::Detaching),
];

const PEBBLE: &[(&str, PebbleEvent)] = &[
    ("-pebble-ready", PebbleEvent::Ready),
    ("-pebble-custom-notice", PebbleEvent::CustomNotice),
    ("-pebble-check-failed", PebbleEvent::CheckFailed),
    ("-pebble-check-recovered", PebbleEvent::CheckRecovered),
];

const SECRET: &[(&str, SecretEvent)] = &[
    ("secret-changed", SecretEvent::Changed),
    ("secret-rotate", SecretEvent::Rotate),
    ("secret-remove", SecretEvent::Remove),
    ("secret-expired", SecretEvent::Expired),
];

/// The kind of event a hook dispatches, parsed from its Juju name. Hooks this crate does not
/// know stay reachable as [`EventKind::Other`].
///
/// ```
/// use charm_tracing_runtime::{Event, EventKind, Lifecycle, RelationEvent};
///
/// fn handle(event: &Event) -> &'static str {
///     match event.typed() {
///         EventKind::Lifecycle(Lifecycle::Install) => "installing",
///         EventKind::Relation { relation, event: RelationEvent::Changed } if relation == "db" => "db changed",
///         EventKind::Action(name) if name == "do-backup" => "backing up",
///         _ => "ignored",
///     }
/// }
/// assert_eq!(handle(&Event::from_dispatch_path("hooks/install")), "installing");
/// assert_eq!(handle(&Event::from_dispatch_path("hooks/db-relation-changed")), "db changed");
/// assert_eq!(handle(&Event::from_dispatch_path("actions/do-backup")), "backing up");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A lifecycle hook.
    Lifecycle(Lifecycle),
    /// `<relation>-relation-{created,joined,changed,departed,broken}`.
    Relation {
        /// The relation (endpoint) name, as in metadata: `db`.
        relation: String,
        /// Which relation event.
        event: RelationEvent,
    },
    /// `<storage>-storage-{attached,detaching}`.
    Storage {
        /// The storage name, as in metadata.
        storage: String,
        /// Which storage event.
        event: StorageEvent,
    },
    /// `<container>-pebble-{ready,custom-notice,check-failed,check-recovered}`.
    Pebble {
        /// The container name, as in metadata.
        container: String,
        /// Which Pebble event.
        event: PebbleEvent,
    },
    /// `secret-{changed,rotate,remove,expired}`.
    Secret(SecretEvent),
    /// `actions/<name>`: the action's name, as in `actions.yaml` (`do-backup`).
    Action(String),
    /// Any other hook, by its Juju name.
    Other(String),
}

impl EventKind {
    /// Parses a hook's Juju name (`db-relation-changed`); `is_action` for `actions/...`.
    ///
    /// ```
    /// use charm_tracing_runtime::EventKind;
    ///
    /// assert_eq!(EventKind::parse("my-custom-hook", false), EventKind::Other("my-custom-hook".into()));
    /// assert_eq!(EventKind::parse("do-backup", true), EventKind::Action("do-backup".into()));
    /// ```
    pub fn parse(name: &str, is_action: bool) -> EventKind {
        if is_action {
            return EventKind::Action(name.to_owned());
        }
        if let Some((_, kind)) = LIFECYCLE.iter().find(|(n, _)| *n == name) {
            return EventKind::Lifecycle(*kind);
        }
        if let Some((_, kind)) = SECRET.iter().find(|(n, _)| *n == name) {
            return EventKind::Secret(*kind);
        }
        let prefixed = |suffix: &str| {
            name.strip_suffix(suffix)
                .filter(|prefix| !prefix.is_empty())
                .map(str::to_owned)
        };
        for (suffix, event) in RELATION {
            if let Some(relation) = prefixed(suffix) {
                return EventKind::Relation {
                    relation,
                    event: *event,
                };
            }
        }
        for (suffix, event) in STORAGE {
            if let Some(storage) = prefixed(suffix) {
                return EventKind::Storage {
                    storage,
                    event: *event,
                };
            }
        }
        for (suffix, event) in PEBBLE {
            if let Some(container) = prefixed(suffix) {
                return EventKind::Pebble {
                    container,
                    event: *event,
                };
            }
        }
        EventKind::Other(name.to_owned())
    }
}

impl Event {
    /// The typed kind of this event.
    ///
    /// ```
    /// use charm_tracing_runtime::{Event, EventKind, Lifecycle};
    ///
    /// assert_eq!(Event::from_dispatch_path("hooks/start").typed(), EventKind::Lifecycle(Lifecycle::Start));
    /// ```
    pub fn typed(&self) -> EventKind {
        EventKind::parse(self.name(), self.is_action())
    }

    /// Whether this event is `name`: Juju's name (`db-relation-changed`, `actions/do-backup`
    /// or `do-backup` for an action) or the ops-style kind (`db_relation_changed`,
    /// `do_backup_action`). A `name` no Juju event can have (a typo such as `instal`) is
    /// false, with one error line through `log` saying so; it never panics.
    ///
    /// ```
    /// use charm_tracing_runtime::Event;
    ///
    /// let event = Event::from_dispatch_path("hooks/db-relation-changed");
    /// assert!(event.matches("db-relation-changed"));
    /// assert!(event.matches("db_relation_changed"));
    /// assert!(!event.matches("install"));
    /// assert!(!event.matches("instal")); // and an error line: no Juju event has that name
    /// ```
    pub fn matches(&self, name: &str) -> bool {
        let equal = if let Some(action) = name.strip_prefix("actions/") {
            self.is_action() && self.name() == action
        } else {
            self.name() == name || self.kind() == name || (self.is_action() && self.name() == name)
        };
        if !equal && !could_be_an_event(name) {
            log::error!(
                "charm-tracing: Event::matches({name:?}): no Juju event has that name (a typo?); \
                 write Juju's name, like \"config-changed\" or \"db-relation-changed\""
            );
        }
        equal
    }
}

/// Whether some Juju event could be called `name` (Juju's form or the ops-style kind).
fn could_be_an_event(name: &str) -> bool {
    if name.starts_with("actions/") || name.ends_with("_action") {
        return true;
    }
    let juju = name.replace('_', "-");
    !matches!(EventKind::parse(&juju, false), EventKind::Other(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str) -> EventKind {
        Event::from_dispatch_path(path).typed()
    }

    #[test]
    fn every_family_is_parsed() {
        assert_eq!(
            kind("hooks/upgrade-charm"),
            EventKind::Lifecycle(Lifecycle::UpgradeCharm)
        );
        assert_eq!(
            kind("hooks/tracing-relation-broken"),
            EventKind::Relation {
                relation: "tracing".into(),
                event: RelationEvent::Broken
            }
        );
        assert_eq!(
            kind("hooks/receive-ca-cert-relation-joined"),
            EventKind::Relation {
                relation: "receive-ca-cert".into(),
                event: RelationEvent::Joined
            }
        );
        assert_eq!(
            kind("hooks/data-storage-detaching"),
            EventKind::Storage {
                storage: "data".into(),
                event: StorageEvent::Detaching
            }
        );
        for (suffix, event) in PEBBLE {
            assert_eq!(
                kind(&format!("hooks/workload{suffix}")),
                EventKind::Pebble {
                    container: "workload".into(),
                    event: *event
                }
            );
        }
        for (name, event) in SECRET {
            assert_eq!(kind(&format!("hooks/{name}")), EventKind::Secret(*event));
        }
        assert_eq!(
            kind("actions/do-backup"),
            EventKind::Action("do-backup".into())
        );
        // An action named like a lifecycle hook is still an action.
        assert_eq!(kind("actions/install"), EventKind::Action("install".into()));
        assert_eq!(
            kind("hooks/my-relation-helper"),
            EventKind::Other("my-relation-helper".into())
        );
        // A bare suffix is no relation.
        assert_eq!(
            kind("hooks/-relation-changed"),
            EventKind::Other("-relation-changed".into())
        );
    }

    #[test]
    fn matches_takes_juju_names_and_kinds() {
        let action = Event::from_dispatch_path("actions/do-backup");
        assert!(action.matches("do-backup"));
        assert!(action.matches("actions/do-backup"));
        assert!(action.matches("do_backup_action"));
        assert!(!action.matches("actions/restore"));
        let hook = Event::from_dispatch_path("hooks/workload-pebble-ready");
        assert!(hook.matches("workload-pebble-ready"));
        assert!(hook.matches("workload_pebble_ready"));
        assert!(!hook.matches("workload-pebble-custom-notice"));
        assert!(!hook.matches("actions/workload-pebble-ready"));
    }

    #[test]
    fn typos_are_recognised() {
        assert!(!could_be_an_event("instal"));
        assert!(!could_be_an_event("db-relation-chagned"));
        assert!(could_be_an_event("db-relation-changed"));
        assert!(could_be_an_event("config_changed"));
        assert!(could_be_an_event("do_backup_action"));
    }
}
