//! Seeing whether a traced call failed, without knowing its return type in the macro.
//!
//! The macro expands `(&&&&Outcome(&ret)).__charm_tracing_error()` with the traits below in
//! scope. Method resolution picks the most specific impl that applies (autoref
//! specialization): `Result<_, HandlerError>`, then `Result<_, E: Display + Debug>`, then
//! `Result<_, E: Display>`, then anything (never an error).

use crate::collect::record::ErrorInfo;
use std::fmt::{self, Debug, Display};

/// A borrowed return value, to be inspected for an error.
///
/// ```
/// use charm_tracing_runtime::__macro::{Outcome, ViewAnyValue as _, ViewDisplayError as _,
///     ViewError as _, ViewHandlerError as _};
///
/// let ok: Result<u8, std::num::ParseIntError> = "7".parse();
/// assert!((&&&&Outcome(&ok)).__charm_tracing_error().is_none());
/// let err: Result<u8, std::num::ParseIntError> = "x".parse();
/// let info = (&&&&Outcome(&err)).__charm_tracing_error().map(|view| view.to_info());
/// assert_eq!(info.unwrap().type_name, "ParseIntError");
/// assert!((&&&&Outcome(&5)).__charm_tracing_error().is_none());
/// ```
pub struct Outcome<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> std::fmt::Debug for Outcome<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outcome(..)")
    }
}

/// A borrowed view of an error a traced call returned.
///
/// ```
/// use charm_tracing_runtime::__macro::ErrorView;
///
/// let view = ErrorView::new("my_crate::ConfigError", &"bad port", None);
/// assert_eq!(view.to_info().type_name, "ConfigError");
/// ```
pub struct ErrorView<'a> {
    type_name: &'static str,
    display: &'a dyn Display,
    debug: Option<&'a dyn Debug>,
}

impl std::fmt::Debug for ErrorView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorView")
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

impl<'a> ErrorView<'a> {
    /// A view of an error with full type name `type_name`.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::ErrorView;
    /// let view = ErrorView::new("std::io::error::Error", &"denied", None);
    /// assert_eq!(view.to_info().message, "denied");
    /// ```
    pub fn new(
        type_name: &'static str,
        display: &'a dyn Display,
        debug: Option<&'a dyn Debug>,
    ) -> Self {
        ErrorView {
            type_name,
            display,
            debug,
        }
    }

    /// The owned error description: short type name and message.
    ///
    /// ```
    /// # use charm_tracing_runtime::__macro::ErrorView;
    /// let info = ErrorView::new("a::b::Oops<u8>", &"no", None).to_info();
    /// assert_eq!((info.type_name.as_str(), info.message.as_str()), ("Oops", "no"));
    /// ```
    pub fn to_info(&self) -> ErrorInfo {
        let type_name = if is_boxed_trait_object(self.type_name) {
            self.debug
                .and_then(|debug| render(|out| fmt::write(out, format_args!("{debug:?}"))))
                .map(|debug| leading_type_name(&debug))
                .unwrap_or_else(|| "Error".to_owned())
        } else {
            short_type_name(self.type_name).to_owned()
        };
        ErrorInfo {
            type_name,
            message: display_or_placeholder(self.display),
            stacktrace: None,
        }
    }
}

/// Formats with `write`, or `None` if a formatting impl returns `Err` (`to_string` would
/// panic).
fn render(write: impl FnOnce(&mut String) -> fmt::Result) -> Option<String> {
    let mut out = String::new();
    write(&mut out).ok().map(|()| out)
}

/// `value.to_string()`, without the panic when its `Display` fails: then a placeholder.
pub(crate) fn display_or_placeholder(value: &dyn Display) -> String {
    render(|out| fmt::write(out, format_args!("{value}")))
        .unwrap_or_else(|| "<the error's Display implementation failed>".to_owned())
}

fn is_boxed_trait_object(type_name: &str) -> bool {
    type_name.starts_with("alloc::boxed::Box<dyn ")
}

/// `a::b::Name<T>` → `Name`.
///
/// ```
/// assert_eq!(charm_tracing_runtime::__macro::short_type_name("a::B<c::D>"), "B");
/// ```
pub fn short_type_name(full: &str) -> &str {
    // `&Store`, `&mut Store`: named as the macros name an impl of a reference type.
    let full = full.trim_start_matches('&').trim_start_matches("mut ");
    let without_generics = full.split('<').next().unwrap_or(full);
    without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
}

/// The type name a `Debug` rendering starts with (`ConfigError { .. }` → `ConfigError`),
/// or `Error` when it does not start with one (a string error, say).
fn leading_type_name(debug: &str) -> String {
    let ident: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let rest = &debug[ident.len()..];
    let looks_like_type = ident.chars().next().is_some_and(char::is_uppercase)
        && (rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {"));
    // `io::Error` renders as `Os { .. }`, `Custom { .. }` or `Kind(..)`: name it plainly.
    if looks_like_type && !matches!(ident.as_str(), "Os" | "Custom" | "Kind" | "Simple") {
        ident
    } else {
        "Error".to_owned()
    }
}

fn boxed_error_view<'a>(
    error: &'a (dyn std::error::Error + Send + Sync + 'static),
) -> ErrorView<'a> {
    if error.is::<std::io::Error>() {
        return ErrorView::new("std::io::Error", error, None);
    }
    ErrorView::new("alloc::boxed::Box<dyn Error>", error, Some(error))
}

/// The error description of a handler's error.
pub(crate) fn handler_error_info(
    error: &(dyn std::error::Error + Send + Sync + 'static),
) -> ErrorInfo {
    boxed_error_view(error).to_info()
}

/// Highest priority: `Result<_, HandlerError>`, whose error type is only known at run time.
pub trait ViewHandlerError {
    /// The error, if this is an `Err`.
    fn __charm_tracing_error(&self) -> Option<ErrorView<'_>>;
}

impl<T> ViewHandlerError for &&&Outcome<'_, Result<T, Box<dyn std::error::Error + Send + Sync>>> {
    fn __charm_tracing_error(&self) -> Option<ErrorView<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(error) => Some(boxed_error_view(error.as_ref())),
        }
    }
}

/// `Result<_, E>` with `E: Display + Debug`.
pub trait ViewError {
    /// The error, if this is an `Err`.
    fn __charm_tracing_error(&self) -> Option<ErrorView<'_>>;
}

impl<T, E: Display + Debug> ViewError for &&Outcome<'_, Result<T, E>> {
    fn __charm_tracing_error(&self) -> Option<ErrorView<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(error) => Some(ErrorView::new(
                std::any::type_name::<E>(),
                error,
                Some(error),
            )),
        }
    }
}

/// `Result<_, E>` with `E: Display` only.
pub trait ViewDisplayError {
    /// The error, if this is an `Err`.
    fn __charm_tracing_error(&self) -> Option<ErrorView<'_>>;
}

impl<T, E: Display> ViewDisplayError for &Outcome<'_, Result<T, E>> {
    fn __charm_tracing_error(&self) -> Option<ErrorView<'_>> {
        match self.0 {
            Ok(_) => None,
            Err(error) => Some(ErrorView::new(std::any::type_name::<E>(), error, None)),
        }
    }
}

/// Anything else: never an error.
pub trait ViewAnyValue {
    /// Always `None`.
    fn __charm_tracing_error(&self) -> Option<ErrorView<'_>> {
        None
    }
}

impl<T: ?Sized> ViewAnyValue for Outcome<'_, T> {}

#[cfg(test)]
#[allow(clippy::needless_borrow)] // the borrows select the impl
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct ConfigError {
        port: u16,
    }
    impl fmt::Display for ConfigError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "bad port {}", self.port)
        }
    }
    impl std::error::Error for ConfigError {}

    struct DisplayOnly;
    impl fmt::Display for DisplayOnly {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("display only")
        }
    }

    type HandlerError = Box<dyn std::error::Error + Send + Sync>;

    fn info_of_handler(result: &Result<(), HandlerError>) -> Option<ErrorInfo> {
        (&&&&Outcome(result))
            .__charm_tracing_error()
            .map(|v| v.to_info())
    }

    #[test]
    fn concrete_errors_use_their_short_type_name() {
        let result: Result<(), ConfigError> = Err(ConfigError { port: 0 });
        let info = (&&&&Outcome(&result))
            .__charm_tracing_error()
            .unwrap()
            .to_info();
        assert_eq!(info.type_name, "ConfigError");
        assert_eq!(info.message, "bad port 0");
    }

    #[test]
    fn display_only_errors_are_seen() {
        let result: Result<(), DisplayOnly> = Err(DisplayOnly);
        let info = (&&&&Outcome(&result))
            .__charm_tracing_error()
            .unwrap()
            .to_info();
        assert_eq!(info.type_name, "DisplayOnly");
        assert_eq!(info.message, "display only");
    }

    #[test]
    fn boxed_errors_name_the_concrete_type() {
        let info = info_of_handler(&Err(Box::new(ConfigError { port: 1 }))).unwrap();
        assert_eq!(info.type_name, "ConfigError");
        assert_eq!(info.message, "bad port 1");
        let info = info_of_handler(&Err("boom".into())).unwrap();
        assert_eq!(info.type_name, "Error");
        assert_eq!(info.message, "boom");
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let info = info_of_handler(&Err(Box::new(io))).unwrap();
        assert_eq!(info.type_name, "Error");
        assert_eq!(info.message, "gone");
        assert_eq!(info_of_handler(&Ok(())), None);
    }

    #[test]
    fn non_results_are_never_errors() {
        assert!((&&&&Outcome(&"text")).__charm_tracing_error().is_none());
        assert!((&&&&Outcome(&Some(3))).__charm_tracing_error().is_none());
    }

    #[test]
    fn short_names_drop_paths_and_generics() {
        assert_eq!(short_type_name("a::b::C"), "C");
        assert_eq!(short_type_name("a::b::C<d::E>"), "C");
        assert_eq!(short_type_name("C"), "C");
        assert_eq!(short_type_name("&str"), "str");
        assert_eq!(short_type_name("&mut a::B<u8>"), "B");
    }
}
