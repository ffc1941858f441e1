//! Parsing and validating the arguments of `#[trace(...)]` and `#[trace_charm(...)]`.
//!
//! As in `thiserror`'s macro, an attribute is first parsed into a typed model of what is
//! written (every key optional), then validated in a pass of its own. Both passes collect
//! their errors in [`Errors`] rather than stopping at the first, so an attribute with several
//! mistakes gets one message per mistake, each at its own token; a mistake that stops a value
//! from being parsed leaves the key unset, so it is not reported a second time by validation.
//! The keys of `#[trace_charm]` are listed once, in [`CHARM_KEYS`].

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitInt, LitStr, Meta, Token};

/// The errors of one attribute, combined (`syn::Error::combine`) into one error that the
/// compiler shows as one message per mistake.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// The value of `result`, or `None` with its error kept.
    pub(crate) fn keep<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// `value` if no error was kept, else all of them.
    pub(crate) fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// `#[trace]`, `#[trace(skip)]`, `#[trace(name = "...")]`.
#[derive(Default)]
pub(crate) struct TraceArgs {
    pub skip: bool,
    pub name: Option<LitStr>,
}

const TRACE_FORMS: &str = "write `#[trace]`, `#[trace(skip)]` or `#[trace(name = \"span name\")]`";

impl Parse for TraceArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut errors = Errors::default();
        let mut args = TraceArgs::default();
        let mut name_given = false;
        for meta in metas {
            match &meta {
                Meta::Path(path) if path.is_ident("skip") => {
                    if args.skip {
                        errors.push(syn::Error::new(path.span(), "`skip` is given twice"));
                    }
                    args.skip = true;
                }
                Meta::NameValue(nv) if nv.path.is_ident("name") => {
                    if name_given {
                        errors.push(syn::Error::new(nv.path.span(), "`name` is given twice"));
                        continue;
                    }
                    name_given = true;
                    args.name = errors.keep(string_literal(&nv.value, "name", "\"my span\""));
                }
                other => errors.push(syn::Error::new(
                    other.span(),
                    format!("unknown #[trace] argument: {TRACE_FORMS}"),
                )),
            }
        }
        args.validate(&mut errors);
        errors.finish(args)
    }
}

impl TraceArgs {
    fn validate(&self, errors: &mut Errors) {
        if let (true, Some(name)) = (self.skip, &self.name) {
            errors.push(syn::Error::new(
                name.span(),
                "`skip` and `name` together make no sense: a skipped method has no span",
            ));
        }
    }
}

/// What kind of value a `#[trace_charm]` key takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string literal naming a member of the charm: `"name"`, `"0"` or `"name()"`.
    Member,
    /// A string literal.
    Str,
    /// An integer literal: a limit, checked at compile time.
    Int,
    /// `true` or `false`.
    Bool,
    /// A string literal naming an associated fn of the impl block.
    FnName,
}

/// One key of `#[trace_charm(...)]`.
pub(crate) struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// A valid value, as written in the attribute, for messages.
    pub example: &'static str,
    /// What the example does, when a message should say it.
    pub example_means: Option<&'static str>,
}

const fn key(name: &'static str, kind: Kind, example: &'static str) -> Key {
    Key {
        name,
        kind,
        example,
        example_means: None,
    }
}

/// Every key `#[trace_charm(...)]` takes, in the order messages list them: parsing looks
/// keys up here, and the "did you mean" suggestion and the "expected one of" list come from
/// here. Each key has a field in [`Written`] (see [`Written::set`]).
pub(crate) const CHARM_KEYS: &[Key] = &[
    key("tracing_endpoint", Kind::Member, "\"tracing_endpoint\""),
    key("server_cert", Kind::Member, "\"server_cert\""),
    key("service_name", Kind::Str, "\"my-service\""),
    key("buffer_max_events", Kind::Int, "100"),
    key("buffer_max_size_mib", Kind::Int, "10"),
    key("buffer_path", Kind::Str, "\"/charm-traces/buffer\""),
    key("export_timeout_ms", Kind::Int, "1000"),
    key("trace_max_size_kib", Kind::Int, "4096"),
    Key {
        example_means: Some("a trace of its own, linked to Juju's"),
        ..key("join_juju_trace", Kind::Bool, "false")
    },
    key("constructor", Kind::FnName, "\"new\""),
];

/// A key of the Python library that Rust cannot have, and why.
const EXTRA_TYPES: &str = "`extra_types` does not exist in Rust: a macro cannot instrument \
                           another type from here. Put `#[charm_tracing::trace]` on that \
                           type's `impl` block instead";

impl Key {
    fn find(name: &str) -> Option<&'static Key> {
        CHARM_KEYS.iter().find(|key| key.name == name)
    }

    /// `` `key = example` ``, and what it means if the table says.
    fn like(&self) -> String {
        let means = self
            .example_means
            .map(|means| format!(" ({means})"))
            .unwrap_or_default();
        format!("`{} = {}`{means}", self.name, self.example)
    }

    /// The literal `value` if it is of this key's kind.
    fn literal(&self, value: &Expr) -> syn::Result<Lit> {
        let name = self.name;
        let like = self.like();
        match (self.kind, value) {
            (
                Kind::Member | Kind::Str | Kind::FnName,
                Expr::Lit(ExprLit {
                    lit: lit @ Lit::Str(_),
                    ..
                }),
            )
            | (
                Kind::Int,
                Expr::Lit(ExprLit {
                    lit: lit @ Lit::Int(_),
                    ..
                }),
            )
            | (
                Kind::Bool,
                Expr::Lit(ExprLit {
                    lit: lit @ Lit::Bool(_),
                    ..
                }),
            ) => Ok(lit.clone()),
            (Kind::Member | Kind::Str | Kind::FnName, other) => Err(syn::Error::new(
                other.span(),
                format!("`{name}` takes a string literal, like {like}"),
            )),
            (Kind::Int, other) => Err(syn::Error::new(
                other.span(),
                format!(
                    "`{name}` takes an integer literal, like {like}: the limit is checked at \
                     compile time, so constants and expressions are not accepted"
                ),
            )),
            (Kind::Bool, other) => Err(syn::Error::new(
                other.span(),
                format!("`{name}` takes `true` or `false`, like {like}"),
            )),
        }
    }
}

/// The key names, for "expected one of".
fn key_names() -> String {
    CHARM_KEYS
        .iter()
        .map(|key| key.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest known key to a misspelt one, if any is close.
fn suggestion(unknown: &str) -> Option<&'static str> {
    CHARM_KEYS
        .iter()
        .map(|key| (edit_distance(unknown, key.name), key.name))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn unknown_key(path: &syn::Path, name: &str) -> syn::Error {
    if name == "extra_types" {
        return syn::Error::new(path.span(), EXTRA_TYPES);
    }
    let hint = suggestion(name)
        .map(|s| format!("did you mean `{s}`? "))
        .unwrap_or_default();
    syn::Error::new(
        path.span(),
        format!(
            "unknown #[trace_charm] argument `{name}`: {hint}expected one of {}",
            key_names()
        ),
    )
}

fn string_literal(value: &Expr, key: &str, example: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` takes a string literal, like `{key} = {example}`"),
        )),
    }
}

/// Where `tracing_endpoint` / `server_cert` read their value.
pub(crate) enum Member {
    /// `"name"`: on an impl block, a method of that block, or else a field; on a struct, a
    /// field of it, or else a method.
    Named(Ident),
    /// `"0"`, `"1"`, ...: a field of a tuple struct.
    Index(syn::Index),
    /// `"name()"`: a method (on an impl block: one defined in another impl block).
    Method(Ident),
}

/// A member reference and the literal it came from (for error spans).
pub(crate) struct MemberRef {
    pub member: Member,
    pub literal: LitStr,
}

/// The arguments of `#[trace_charm(...)]` as written, each of the kind its key takes
/// ([`Kind`]) and not yet checked further: the parse's result, which [`Written::validate`]
/// turns into [`CharmArgs`].
#[derive(Default)]
struct Written {
    tracing_endpoint: Option<LitStr>,
    server_cert: Option<LitStr>,
    service_name: Option<LitStr>,
    buffer_max_events: Option<LitInt>,
    buffer_max_size_mib: Option<LitInt>,
    buffer_path: Option<LitStr>,
    export_timeout_ms: Option<LitInt>,
    trace_max_size_kib: Option<LitInt>,
    join_juju_trace: Option<LitBool>,
    constructor: Option<LitStr>,
}

impl Written {
    /// Parses the `key = value` list; what is not a known key with a value of its kind is
    /// an error in `errors` and leaves the model unchanged. Fails only when the attribute is
    /// not a comma-separated list of `key = value` at all.
    fn parse(input: ParseStream, errors: &mut Errors) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut written = Written::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for meta in metas {
            let path = meta.path();
            let name = path_name(path);
            let Some(key) = Key::find(&name) else {
                errors.push(unknown_key(path, &name));
                continue;
            };
            if seen.contains(&key.name) {
                errors.push(syn::Error::new(
                    path.span(),
                    format!("`{}` is given twice: keep one", key.name),
                ));
                continue;
            }
            seen.push(key.name);
            let Meta::NameValue(nv) = &meta else {
                errors.push(syn::Error::new(
                    meta.span(),
                    format!(
                        "#[trace_charm] arguments are `key = value` pairs: write {}",
                        key.like()
                    ),
                ));
                continue;
            };
            if let Some(literal) = errors.keep(key.literal(&nv.value)) {
                written.set(key, literal);
            }
        }
        Ok(written)
    }

    /// Stores `literal`, of `key`'s kind, in the key's field.
    fn set(&mut self, key: &Key, literal: Lit) {
        let string = |literal: &Lit| match literal {
            Lit::Str(s) => s.clone(),
            _ => unreachable!("a string key holds a string literal"),
        };
        let int = |literal: &Lit| match literal {
            Lit::Int(i) => i.clone(),
            _ => unreachable!("an integer key holds an integer literal"),
        };
        match key.name {
            "tracing_endpoint" => self.tracing_endpoint = Some(string(&literal)),
            "server_cert" => self.server_cert = Some(string(&literal)),
            "service_name" => self.service_name = Some(string(&literal)),
            "buffer_max_events" => self.buffer_max_events = Some(int(&literal)),
            "buffer_max_size_mib" => self.buffer_max_size_mib = Some(int(&literal)),
            "buffer_path" => self.buffer_path = Some(string(&literal)),
            "export_timeout_ms" => self.export_timeout_ms = Some(int(&literal)),
            "trace_max_size_kib" => self.trace_max_size_kib = Some(int(&literal)),
            "join_juju_trace" => match literal {
                Lit::Bool(b) => self.join_juju_trace = Some(b),
                _ => unreachable!("a bool key holds a bool literal"),
            },
            "constructor" => self.constructor = Some(string(&literal)),
            other => unreachable!("`{other}` is in CHARM_KEYS but has no field in `Written`"),
        }
    }

    /// Checks each value on its own (limits, member names), keeping every error in
    /// `errors`; a value with an error is left out of the result.
    fn validate(self, call_site: Span, errors: &mut Errors) -> CharmArgs {
        const U32: Max = (u32::MAX as u64, "u32");
        const U64: Max = (u64::MAX, "u64");
        CharmArgs {
            call_site,
            tracing_endpoint: self
                .tracing_endpoint
                .and_then(|literal| errors.keep(member(literal, "tracing_endpoint"))),
            server_cert: self
                .server_cert
                .and_then(|literal| errors.keep(member(literal, "server_cert"))),
            service_name: self.service_name,
            buffer_max_events: self
                .buffer_max_events
                .and_then(|limit| errors.keep(int_in_range(limit, "buffer_max_events", U32))),
            buffer_max_size_mib: self.buffer_max_size_mib.and_then(|limit| {
                errors.keep(at_least(
                    limit,
                    "buffer_max_size_mib",
                    U32,
                    10,
                    "`buffer_max_size_mib` must be at least 10 (MiB): one hook's trace must \
                     fit; write `buffer_max_size_mib = 10` or more",
                ))
            }),
            buffer_path: self.buffer_path,
            export_timeout_ms: self.export_timeout_ms.and_then(|timeout| {
                errors.keep(at_least(
                    timeout,
                    "export_timeout_ms",
                    U64,
                    1,
                    "`export_timeout_ms` must be at least 1: it bounds the network work of a \
                     hook (default 1000)",
                ))
            }),
            trace_max_size_kib: self.trace_max_size_kib.and_then(|limit| {
                errors.keep(at_least(
                    limit,
                    "trace_max_size_kib",
                    U32,
                    64,
                    "`trace_max_size_kib` must be at least 64 (KiB): a hook's trace needs \
                     room for its root, event and fold spans. Write `trace_max_size_kib = 4096` \
                     (the default, under Grafana Tempo's 5 MB `max_bytes_per_trace`) or \
                     another value of 64 or more",
                ))
            }),
            join_juju_trace: self.join_juju_trace,
            constructor: self
                .constructor
                .and_then(|literal| errors.keep(constructor(literal))),
        }
    }
}

/// A key as written: `tracing_endpoint`, or `a::b` for a path that is no key.
fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// The largest value of the field a limit sets, and the field's type.
type Max = (u64, &'static str);

/// `limit`, if its value fits in the field it sets.
fn int_in_range(limit: LitInt, key: &str, (max, ty): Max) -> syn::Result<LitInt> {
    match limit.base10_parse::<u64>() {
        Ok(value) if value <= max => Ok(limit),
        _ => Err(syn::Error::new(
            limit.span(),
            format!("`{key}` is too large: it must fit in a {ty}, at most {max}"),
        )),
    }
}

/// `limit`, if its value fits in the field and is at least `min` (else `too_small`).
fn at_least(limit: LitInt, key: &str, max: Max, min: u64, too_small: &str) -> syn::Result<LitInt> {
    let limit = int_in_range(limit, key, max)?;
    match limit.base10_parse::<u64>() {
        Ok(value) if value >= min => Ok(limit),
        _ => Err(syn::Error::new(limit.span(), too_small)),
    }
}

fn member(literal: LitStr, key: &str) -> syn::Result<MemberRef> {
    let text = literal.value();
    let (name, is_call) = match text.strip_suffix("()") {
        Some(name) => (name, true),
        None => (text.as_str(), false),
    };
    if !is_call && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        let index = name.parse::<u32>().map_err(|_| {
            syn::Error::new(
                literal.span(),
                format!("`{key}` names a field number too large"),
            )
        })?;
        return Ok(MemberRef {
            member: Member::Index(syn::Index {
                index,
                span: literal.span(),
            }),
            literal,
        });
    }
    let ident = syn::parse_str::<Ident>(name).map_err(|_| {
        syn::Error::new(
            literal.span(),
            format!(
                "`{key}` names a method or field of the charm: write `{key} = \"{key}\"` for \
                 a method of this impl block or a field, or `{key} = \"{key}()\"` for a method \
                 defined elsewhere"
            ),
        )
    })?;
    let ident = Ident::new(&ident.to_string(), literal.span());
    Ok(MemberRef {
        member: if is_call {
            Member::Method(ident)
        } else {
            Member::Named(ident)
        },
        literal,
    })
}

fn constructor(literal: LitStr) -> syn::Result<(Ident, LitStr)> {
    let ident = syn::parse_str::<Ident>(&literal.value()).map_err(|_| {
        syn::Error::new(
            literal.span(),
            "`constructor` names an associated fn of this impl block that returns `Self`, \
             like `constructor = \"new\"`",
        )
    })?;
    Ok((Ident::new(&ident.to_string(), literal.span()), literal))
}

/// The arguments of `#[trace_charm(...)]`, parsed and validated: the same keys on the struct
/// and on the impl block. Which of them each form needs is checked where the form is
/// expanded ([`CharmArgs::require_endpoint`], [`CharmArgs::has_config`]).
pub(crate) struct CharmArgs {
    /// The span of the attribute (`#[trace_charm(...)]`), for errors about it as a whole.
    pub call_site: Span,
    pub tracing_endpoint: Option<MemberRef>,
    pub server_cert: Option<MemberRef>,
    pub service_name: Option<LitStr>,
    pub buffer_max_events: Option<LitInt>,
    pub buffer_max_size_mib: Option<LitInt>,
    pub buffer_path: Option<LitStr>,
    pub export_timeout_ms: Option<LitInt>,
    pub trace_max_size_kib: Option<LitInt>,
    pub join_juju_trace: Option<LitBool>,
    pub constructor: Option<(Ident, LitStr)>,
}

impl CharmArgs {
    /// Parses (into [`Written`]) and validates the attribute's arguments; the error, if any,
    /// holds every mistake found by either pass.
    pub(crate) fn parse(input: ParseStream, call_site: Span) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let written = Written::parse(input, &mut errors)?;
        let args = written.validate(call_site, &mut errors);
        errors.finish(args)
    }

    /// Whether any argument besides `constructor` is given: the attribute configures the
    /// charm (on an impl block without them, the configuration comes from the struct).
    pub(crate) fn has_config(&self) -> bool {
        self.tracing_endpoint.is_some()
            || self.server_cert.is_some()
            || self.service_name.is_some()
            || self.buffer_max_events.is_some()
            || self.buffer_max_size_mib.is_some()
            || self.buffer_path.is_some()
            || self.export_timeout_ms.is_some()
            || self.trace_max_size_kib.is_some()
            || self.join_juju_trace.is_some()
    }

    /// `tracing_endpoint`, which a configuring attribute must give.
    pub(crate) fn require_endpoint(&self) -> syn::Result<&MemberRef> {
        self.tracing_endpoint.as_ref().ok_or_else(|| {
            syn::Error::new(
                self.call_site,
                "#[trace_charm] needs `tracing_endpoint`: name the method or field that gives \
                 the Tempo endpoint, like `#[trace_charm(tracing_endpoint = \"tracing_endpoint\")]`",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::parse::Parser;

    fn parse(tokens: TokenStream) -> syn::Result<CharmArgs> {
        (|input: ParseStream| CharmArgs::parse(input, Span::call_site())).parse2(tokens)
    }

    /// Each message of a (combined) error.
    fn messages(error: syn::Error) -> Vec<String> {
        error.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn misspelt_keys_get_a_suggestion() {
        assert_eq!(suggestion("tracing_endpont"), Some("tracing_endpoint"));
        assert_eq!(suggestion("buffer_max_event"), Some("buffer_max_events"));
        assert_eq!(suggestion("trace_max_size_kb"), Some("trace_max_size_kib"));
        assert_eq!(suggestion("colour"), None);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn every_key_in_the_table_is_accepted_with_its_example() {
        for key in CHARM_KEYS {
            let tokens: TokenStream = format!("{} = {}", key.name, key.example).parse().unwrap();
            let args = parse(tokens).unwrap_or_else(|e| panic!("{}: {e}", key.name));
            assert_eq!(
                args.has_config(),
                key.name != "constructor",
                "{}: only `constructor` does not configure the charm",
                key.name
            );
        }
    }

    #[test]
    fn every_key_in_the_table_is_set_by_the_parser() {
        let all: TokenStream = CHARM_KEYS
            .iter()
            .map(|key| format!("{} = {}", key.name, key.example))
            .collect::<Vec<_>>()
            .join(", ")
            .parse()
            .unwrap();
        let args = parse(all).unwrap();
        assert!(args.tracing_endpoint.is_some());
        assert!(args.server_cert.is_some());
        assert!(args.service_name.is_some());
        assert!(args.buffer_max_events.is_some());
        assert!(args.buffer_max_size_mib.is_some());
        assert!(args.buffer_path.is_some());
        assert!(args.export_timeout_ms.is_some());
        assert!(args.trace_max_size_kib.is_some());
        assert!(args.join_juju_trace.is_some());
        assert!(args.constructor.is_some());
    }

    #[test]
    fn the_table_gives_the_list_of_expected_keys() {
        let error = parse(quote!(colour = "red")).err().unwrap();
        let message = error.to_string();
        for key in CHARM_KEYS {
            assert!(message.contains(key.name), "{message}");
        }
        assert!(!message.contains("did you mean"), "{message}");
    }

    #[test]
    fn a_wrong_kind_of_value_is_reported_with_the_table_example() {
        let error = parse(quote!(trace_max_size_kib = LIMIT)).err().unwrap();
        assert_eq!(
            messages(error),
            [
                "`trace_max_size_kib` takes an integer literal, like `trace_max_size_kib = 4096`: \
              the limit is checked at compile time, so constants and expressions are not \
              accepted"
            ]
        );
        let error = parse(quote!(join_juju_trace = "no")).err().unwrap();
        assert_eq!(
            messages(error),
            [
                "`join_juju_trace` takes `true` or `false`, like `join_juju_trace = false` (a \
              trace of its own, linked to Juju's)"
            ]
        );
    }

    #[test]
    fn validation_reports_every_mistake_of_an_attribute() {
        let error = parse(quote!(
            tracing_endpont = "tracing_endpoint",
            trace_max_size_kib = 16,
            buffer_max_size_mib = 5,
            export_timeout_ms = 0,
            server_cert = "not a member",
            service_name = 3,
        ))
        .err()
        .unwrap();
        let messages = messages(error);
        assert_eq!(messages.len(), 6, "{messages:#?}");
        assert!(messages[0].contains("did you mean `tracing_endpoint`?"));
        assert!(messages[1].starts_with("`service_name` takes a string literal"));
        // Validation runs after the parse: its errors follow the parse's, in key order.
        assert!(messages[2].starts_with("`server_cert` names a method or field"));
        assert!(messages[3].starts_with("`buffer_max_size_mib` must be at least 10"));
        assert!(messages[4].starts_with("`export_timeout_ms` must be at least 1"));
        assert!(messages[5].starts_with("`trace_max_size_kib` must be at least 64 (KiB)"));
    }

    #[test]
    fn each_duplicate_is_reported_once_and_its_value_is_not_checked() {
        let error = parse(quote!(
            trace_max_size_kib = 64,
            trace_max_size_kib = 1,
            trace_max_size_kib = x
        ))
        .err()
        .unwrap();
        assert_eq!(
            messages(error),
            [
                "`trace_max_size_kib` is given twice: keep one",
                "`trace_max_size_kib` is given twice: keep one"
            ]
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_reported_once() {
        let error = parse(quote!(trace_max_size_kib = "4096")).err().unwrap();
        assert_eq!(messages(error).len(), 1);
    }

    #[test]
    fn trace_max_size_kib_takes_64_up_to_u32() {
        for ok in ["64", "4096", "0x40", "4294967295"] {
            let tokens: TokenStream = format!("trace_max_size_kib = {ok}").parse().unwrap();
            let args = parse(tokens).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(args.trace_max_size_kib.is_some() && args.has_config());
        }
        for too_small in ["0", "63"] {
            let tokens: TokenStream = format!("trace_max_size_kib = {too_small}").parse().unwrap();
            let message = parse(tokens).err().unwrap().to_string();
            assert!(
                message.contains("Write `trace_max_size_kib = 4096` (the default"),
                "{message}"
            );
        }
        let message = parse(quote!(trace_max_size_kib = 4294967296))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            message,
            "`trace_max_size_kib` is too large: it must fit in a u32, at most 4294967295"
        );
    }

    #[test]
    fn keys_without_a_value_are_shown_the_pair_to_write() {
        let error = parse(quote!(tracing_endpoint, extra_types(Workload)))
            .err()
            .unwrap();
        let messages = messages(error);
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert_eq!(
            messages[0],
            "#[trace_charm] arguments are `key = value` pairs: write \
             `tracing_endpoint = \"tracing_endpoint\"`"
        );
        assert!(messages[1].starts_with("`extra_types` does not exist in Rust"));
    }

    #[test]
    fn trace_arguments_report_every_mistake() {
        let error = syn::parse2::<TraceArgs>(quote!(level = "debug", skip, skip, name = "n"))
            .err()
            .unwrap();
        let messages = messages(error);
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert!(messages[0].starts_with("unknown #[trace] argument"));
        assert_eq!(messages[1], "`skip` is given twice");
        assert!(messages[2].starts_with("`skip` and `name` together"));
    }
}
