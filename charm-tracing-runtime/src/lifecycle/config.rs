//! What `#[trace_charm(...)]` configures, and the value types its members may have.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The settings `#[trace_charm(...)]` writes into the charm's constructor.
///
/// ```
/// use charm_tracing_runtime::__macro::CharmConfig;
///
/// let config = CharmConfig::new("MyCharm");
/// assert_eq!(config.buffer_max_events, 100);
/// assert_eq!(config.export_timeout().as_millis(), 1000);
/// assert!(config.join_juju_trace);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharmConfig {
    /// The charm type's name, for the `charm_type` resource attribute.
    pub charm_type: &'static str,
    /// `service.name`; `None` means `{app}-charm`.
    pub service_name: Option<&'static str>,
    /// The most records the buffer keeps; 0 disables the buffer.
    pub buffer_max_events: u32,
    /// The most MiB the buffer keeps (at least 10).
    pub buffer_max_size_mib: u32,
    /// Where the buffer lives; relative paths are under the charm dir.
    pub buffer_path: Option<&'static str>,
    /// The deadline, in ms, for all network work of a hook.
    pub export_timeout_ms: u64,
    /// Whether the hook's root span joins Juju's trace (`TRACEPARENT`) as a child of Juju's
    /// span; `false` keeps a trace of its own with a link to Juju's span.
    pub join_juju_trace: bool,
    /// The most KiB one hook's encoded trace may take; calls past it are folded.
    pub trace_max_size_kib: u32,
}

/// The default number of buffered records.
pub const DEFAULT_BUFFER_MAX_EVENTS: u32 = 100;
/// The default and minimum buffer size in MiB.
pub const DEFAULT_BUFFER_MAX_SIZE_MIB: u32 = 10;
/// The default buffer file name, in the charm dir.
pub const DEFAULT_BUFFER_FILE_NAME: &str = ".charm_tracing_buffer.raw";
/// The default deadline for the network work of a hook.
pub const DEFAULT_EXPORT_TIMEOUT_MS: u64 = 1000;
/// The default bound of one hook's encoded trace, in KiB: under Grafana Tempo's default
/// `max_bytes_per_trace` (5 MB), beyond which Tempo discards a trace.
pub const DEFAULT_TRACE_MAX_SIZE_KIB: u32 = 4096;
/// The smallest `trace_max_size_kib` accepted: room for the hook's root, event and fold spans.
pub const MIN_TRACE_MAX_SIZE_KIB: u32 = 64;

impl CharmConfig {
    /// The defaults, for a charm type named `charm_type`.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::CharmConfig;
    /// assert_eq!(CharmConfig::new("C").buffer_max_size_mib, 10);
    /// ```
    pub const fn new(charm_type: &'static str) -> Self {
        CharmConfig {
            charm_type,
            service_name: None,
            buffer_max_events: DEFAULT_BUFFER_MAX_EVENTS,
            buffer_max_size_mib: DEFAULT_BUFFER_MAX_SIZE_MIB,
            buffer_path: None,
            export_timeout_ms: DEFAULT_EXPORT_TIMEOUT_MS,
            join_juju_trace: true,
            trace_max_size_kib: DEFAULT_TRACE_MAX_SIZE_KIB,
        }
    }

    /// The deadline for all network work of a hook.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::CharmConfig;
    /// let config = CharmConfig { export_timeout_ms: 250, ..CharmConfig::new("C") };
    /// assert_eq!(config.export_timeout().as_millis(), 250);
    /// ```
    pub fn export_timeout(&self) -> Duration {
        Duration::from_millis(self.export_timeout_ms)
    }

    /// The buffer file for a charm living in `charm_dir`.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::CharmConfig;
    /// let path = CharmConfig::new("C").buffer_file(std::path::Path::new("/charm"));
    /// assert_eq!(path.to_str(), Some("/charm/.charm_tracing_buffer.raw"));
    /// ```
    pub fn buffer_file(&self, charm_dir: &Path) -> PathBuf {
        charm_dir.join(self.buffer_path.unwrap_or(DEFAULT_BUFFER_FILE_NAME))
    }
}

/// A value `tracing_endpoint` may resolve to: `Option<String>`, `Option<&str>`, `String`,
/// `&str`, or a reference to one of them.
///
/// ```
/// use charm_tracing_runtime::EndpointValue;
///
/// assert_eq!("http://tempo:4318".into_endpoint().as_deref(), Some("http://tempo:4318"));
/// assert_eq!(None::<String>.into_endpoint(), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`tracing_endpoint` resolves to `{Self}`, which is not an endpoint",
    label = "this member must give `Option<String>`, `Option<&str>`, `String` or `&str`",
    note = "change the member's type, or point `tracing_endpoint` at a method such as \
            `fn tracing_endpoint(&self) -> Option<String>`"
)]
pub trait EndpointValue {
    /// The endpoint, `None` when there is none.
    fn into_endpoint(self) -> Option<String>;
}

/// A value `server_cert` may resolve to: `Option<PathBuf>`, `Option<&Path>`, `PathBuf`,
/// `&Path`, the string forms of these, or a reference to one of them.
///
/// ```
/// use charm_tracing_runtime::CertValue;
/// use std::path::PathBuf;
///
/// assert_eq!(Some(PathBuf::from("/ca.pem")).into_cert(), Some(PathBuf::from("/ca.pem")));
/// assert_eq!("/ca.pem".into_cert(), Some(PathBuf::from("/ca.pem")));
/// ```
#[diagnostic::on_unimplemented(
    message = "`server_cert` resolves to `{Self}`, which is not a certificate path",
    label = "this member must give `Option<PathBuf>`, `Option<&Path>`, `PathBuf`, or a string",
    note = "change the member's type, or point `server_cert` at a method such as \
            `fn server_cert(&self) -> Option<PathBuf>`"
)]
pub trait CertValue {
    /// The CA bundle path, `None` when there is none.
    fn into_cert(self) -> Option<PathBuf>;
}

/// The tracing configuration a charm type carries when `#[trace_charm(...)]` decorates its
/// struct: the settings, and how to read the endpoint and the certificate from a value.
///
/// The struct form of `#[trace_charm(...)]` implements it; the charm's `#[trace_charm]` impl
/// block (without arguments) starts the session from it. Written by hand it looks like this:
///
/// ```
/// use charm_tracing_runtime::__macro::{CharmConfig, TraceCharmConfig};
/// use std::path::PathBuf;
///
/// struct MyCharm {
///     endpoint: Option<String>,
/// }
///
/// impl charm_tracing_runtime::__macro::TraceCharmGoesOnOneImplBlock for MyCharm {}
/// impl TraceCharmConfig for MyCharm {
///     const CONFIG: CharmConfig = CharmConfig { buffer_max_events: 42, ..CharmConfig::new("MyCharm") };
///     fn charm_tracing_endpoint(&self) -> Option<String> {
///         self.endpoint.clone()
///     }
///     fn charm_tracing_server_cert(&self) -> Option<PathBuf> {
///         None
///     }
/// }
///
/// let charm = MyCharm { endpoint: Some("http://tempo:4318".into()) };
/// assert_eq!(charm.charm_tracing_endpoint().as_deref(), Some("http://tempo:4318"));
/// assert_eq!(<MyCharm as TraceCharmConfig>::CONFIG.buffer_max_events, 42);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no tracing configuration: `#[trace_charm]` without arguments \
               takes it from `#[trace_charm(...)]` on the struct",
    label = "`#[trace_charm]` here has no arguments, and `{Self}`'s struct has no `#[trace_charm(...)]`",
    note = "put the arguments on the struct: `#[trace_charm(tracing_endpoint = \"tracing_endpoint\")] \
            struct {Self} {{ .. }}`, or on this impl block: \
            `#[trace_charm(tracing_endpoint = \"tracing_endpoint\")] impl {Self} {{ .. }}`"
)]
pub trait TraceCharmConfig: TraceCharmGoesOnOneImplBlock {
    /// The settings (service name, buffer, deadline).
    const CONFIG: CharmConfig;
    /// The Tempo endpoint, read from the new charm value.
    fn charm_tracing_endpoint(&self) -> Option<String>;
    /// The CA bundle for https, read from the new charm value.
    fn charm_tracing_server_cert(&self) -> Option<PathBuf>;
}

/// Implemented by the `#[trace_charm]` impl block of a charm type (with or without
/// arguments). [`TraceCharmConfig`] requires it, so a charm configured on its struct whose
/// impl block lacks `#[trace_charm]` (and so would never start a session) is a compile error.
///
/// ```
/// struct MyCharm;
/// impl charm_tracing_runtime::__macro::TraceCharmGoesOnOneImplBlock for MyCharm {}
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is configured on its struct, but no `#[trace_charm]` impl block covers \
               `{Self}`, so nothing would start its tracing session",
    label = "`{Self}`'s configuration",
    note = "put `#[trace_charm]` (no arguments) on the impl block that defines the \
            constructor: `#[trace_charm] impl {Self} {{ pub fn new(ctx: JujuContext) -> Self \
            {{ .. }} }}`"
)]
pub trait TraceCharmGoesOnOneImplBlock {}

/// Implemented by both forms of `#[trace_charm(...)]` with arguments, for the charm type: a
/// type configured twice (on its struct and on an impl block) has two impls, and the
/// compiler's "conflicting implementations" error names this trait, which says what to do.
///
/// ```
/// use charm_tracing_runtime::__macro::TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth;
///
/// struct MyCharm;
/// impl TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth for MyCharm {}
/// ```
pub trait TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth {}

/// Starts the hook's tracing session from a charm whose struct carries the configuration
/// (what the constructor of a `#[trace_charm]` impl block without arguments calls).
///
/// ```
/// use charm_tracing_runtime::__macro::{CharmConfig, TraceCharmConfig, start_charm_session};
/// use std::path::PathBuf;
///
/// struct MyCharm;
/// impl charm_tracing_runtime::__macro::TraceCharmGoesOnOneImplBlock for MyCharm {}
/// impl TraceCharmConfig for MyCharm {
///     const CONFIG: CharmConfig = CharmConfig::new("MyCharm");
///     fn charm_tracing_endpoint(&self) -> Option<String> { None }
///     fn charm_tracing_server_cert(&self) -> Option<PathBuf> { None }
/// }
///
/// start_charm_session(&MyCharm); // outside Juju: logs why, and traces nothing
/// ```
pub fn start_charm_session<C: TraceCharmConfig>(charm: &C) {
    crate::lifecycle::start::start_session(
        &C::CONFIG,
        || charm.charm_tracing_endpoint(),
        || charm.charm_tracing_server_cert(),
    );
}

macro_rules! endpoint_from {
    ($($ty:ty => |$v:ident| $body:expr;)*) => {
        $(impl EndpointValue for $ty {
            fn into_endpoint(self) -> Option<String> {
                let $v = self;
                $body
            }
        })*
    };
}

endpoint_from! {
    Option<String> => |v| v;
    &Option<String> => |v| v.clone();
    Option<&str> => |v| v.map(str::to_owned);
    &Option<&str> => |v| v.map(str::to_owned);
    String => |v| Some(v);
    &String => |v| Some(v.clone());
    &str => |v| Some(v.to_owned());
    &&str => |v| Some((*v).to_owned());
}

macro_rules! cert_from {
    ($($ty:ty => |$v:ident| $body:expr;)*) => {
        $(impl CertValue for $ty {
            fn into_cert(self) -> Option<PathBuf> {
                let $v = self;
                $body
            }
        })*
    };
}

cert_from! {
    Option<PathBuf> => |v| v;
    &Option<PathBuf> => |v| v.clone();
    Option<&Path> => |v| v.map(Path::to_path_buf);
    &Option<&Path> => |v| v.map(Path::to_path_buf);
    PathBuf => |v| Some(v);
    &PathBuf => |v| Some(v.clone());
    &Path => |v| Some(v.to_path_buf());
    &&Path => |v| Some(v.to_path_buf());
    Option<String> => |v| v.map(PathBuf::from);
    &Option<String> => |v| v.as_ref().map(PathBuf::from);
    Option<&str> => |v| v.map(PathBuf::from);
    &Option<&str> => |v| v.map(PathBuf::from);
    String => |v| Some(PathBuf::from(v));
    &String => |v| Some(PathBuf::from(v));
    &str => |v| Some(PathBuf::from(v));
    &&str => |v| Some(PathBuf::from(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_form_converts() {
        let owned = Some("http://a".to_string());
        let borrowed: Option<&str> = Some("http://a");
        let string = "http://a".to_string();
        let expected = Some("http://a".to_string());
        assert_eq!(owned.clone().into_endpoint(), expected);
        assert_eq!((&owned).into_endpoint(), expected);
        assert_eq!(borrowed.into_endpoint(), expected);
        assert_eq!((&borrowed).into_endpoint(), expected);
        assert_eq!(string.clone().into_endpoint(), expected);
        assert_eq!((&string).into_endpoint(), expected);
        assert_eq!("http://a".into_endpoint(), expected);
        assert_eq!((&"http://a").into_endpoint(), expected);
        assert_eq!(None::<&str>.into_endpoint(), None);
    }

    #[test]
    fn every_cert_form_converts() {
        let expected = Some(PathBuf::from("/ca.pem"));
        let path = PathBuf::from("/ca.pem");
        assert_eq!(Some(path.clone()).into_cert(), expected);
        assert_eq!((&Some(path.clone())).into_cert(), expected);
        assert_eq!(Some(path.as_path()).into_cert(), expected);
        assert_eq!(path.clone().into_cert(), expected);
        assert_eq!((&path).into_cert(), expected);
        assert_eq!(path.as_path().into_cert(), expected);
        assert_eq!(Some("/ca.pem".to_string()).into_cert(), expected);
        assert_eq!(Some("/ca.pem").into_cert(), expected);
        assert_eq!("/ca.pem".to_string().into_cert(), expected);
        assert_eq!("/ca.pem".into_cert(), expected);
        assert_eq!(None::<PathBuf>.into_cert(), None);
    }

    #[test]
    fn buffer_path_is_relative_to_charm_dir_unless_absolute() {
        let relative = CharmConfig {
            buffer_path: Some("traces/buf"),
            ..CharmConfig::new("C")
        };
        assert_eq!(
            relative.buffer_file(Path::new("/charm")),
            PathBuf::from("/charm/traces/buf")
        );
        let absolute = CharmConfig {
            buffer_path: Some("/charm-traces/buffer"),
            ..CharmConfig::new("C")
        };
        assert_eq!(
            absolute.buffer_file(Path::new("/charm")),
            PathBuf::from("/charm-traces/buffer")
        );
    }
}
