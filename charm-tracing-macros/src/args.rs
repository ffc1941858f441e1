//! Parsing and validating the arguments of `#[trace(...)]` and `#[trace_charm(...)]`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitInt, LitStr, Meta, Token};

/// `#[trace]`, `#[trace(skip)]`, `#[trace(name = "...")]`.
#[derive(Default)]
pub(crate) struct TraceArgs {
    pub skip: bool,
    pub name: Option<LitStr>,
}

impl Parse for TraceArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = TraceArgs::default();
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        for meta in metas {
            match &meta {
                Meta::Path(path) if path.is_ident("skip") => {
                    if args.skip {
                        return Err(syn::Error::new(path.span(), "`skip` is given twice"));
                    }
                    args.skip = true;
                }
                Meta::NameValue(nv) if nv.path.is_ident("name") => {
                    if args.name.is_some() {
                        return Err(syn::Error::new(nv.path.span(), "`name` is given twice"));
                    }
                    args.name = Some(string_literal(&nv.value, "name", "\"my span\"")?);
                }
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "unknown #[trace] argument: write `#[trace]`, `#[trace(skip)]` or \
                         `#[trace(name = \"span name\")]`",
                    ));
                }
            }
        }
        if let (true, Some(name)) = (args.skip, &args.name) {
            return Err(syn::Error::new(
                name.span(),
                "`skip` and `name` together make no sense: a skipped method has no span",
            ));
        }
        Ok(args)
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

/// The arguments of `#[trace_charm(...)]`, as written: the same keys on the struct and on
/// the impl block. Which of them each form needs is checked where the form is expanded
/// ([`CharmArgs::require_endpoint`], [`CharmArgs::has_config`]).
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
    pub join_juju_trace: Option<syn::LitBool>,
    pub constructor: Option<(Ident, LitStr)>,
}

const CHARM_KEYS: &[&str] = &[
    "tracing_endpoint",
    "server_cert",
    "service_name",
    "buffer_max_events",
    "buffer_max_size_mib",
    "buffer_path",
    "export_timeout_ms",
    "join_juju_trace",
    "constructor",
];

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

fn int_literal(value: &Expr, key: &str, example: &str) -> syn::Result<LitInt> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => Ok(i.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!(
                "`{key}` takes an integer literal, like `{key} = {example}`: the limit is \
                 checked at compile time, so constants and expressions are not accepted"
            ),
        )),
    }
}

fn member(value: &Expr, key: &str) -> syn::Result<MemberRef> {
    let literal = string_literal(value, key, &format!("\"{key}\""))?;
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

/// The closest known key to a misspelt one, if any is close.
fn suggestion(unknown: &str) -> Option<&'static str> {
    CHARM_KEYS
        .iter()
        .map(|key| (edit_distance(unknown, key), *key))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, key)| key)
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

impl CharmArgs {
    pub(crate) fn parse(input: ParseStream, call_site: Span) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut seen: Vec<String> = Vec::new();
        let mut args = CharmArgs {
            call_site,
            tracing_endpoint: None,
            server_cert: None,
            service_name: None,
            buffer_max_events: None,
            buffer_max_size_mib: None,
            buffer_path: None,
            export_timeout_ms: None,
            join_juju_trace: None,
            constructor: None,
        };
        for meta in metas {
            let nv = match meta {
                Meta::NameValue(nv) => nv,
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "#[trace_charm] arguments are `key = value` pairs, like \
                         `tracing_endpoint = \"tracing_endpoint\"`",
                    ));
                }
            };
            let key = nv
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_default();
            if seen.contains(&key) {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!("`{key}` is given twice: keep one"),
                ));
            }
            let value = &nv.value;
            match key.as_str() {
                "tracing_endpoint" => args.tracing_endpoint = Some(member(value, &key)?),
                "server_cert" => args.server_cert = Some(member(value, &key)?),
                "service_name" => {
                    args.service_name = Some(string_literal(value, &key, "\"my-service\"")?)
                }
                "buffer_max_events" => {
                    let limit = int_literal(value, &key, "100")?;
                    limit.base10_parse::<u32>()?;
                    args.buffer_max_events = Some(limit);
                }
                "buffer_max_size_mib" => {
                    let limit = int_literal(value, &key, "10")?;
                    if limit.base10_parse::<u32>()? < 10 {
                        return Err(syn::Error::new(
                            limit.span(),
                            "`buffer_max_size_mib` must be at least 10 (MiB): one hook's \
                             trace must fit; write `buffer_max_size_mib = 10` or more",
                        ));
                    }
                    args.buffer_max_size_mib = Some(limit);
                }
                "buffer_path" => {
                    args.buffer_path =
                        Some(string_literal(value, &key, "\"/charm-traces/buffer\"")?)
                }
                "export_timeout_ms" => {
                    let timeout = int_literal(value, &key, "1000")?;
                    if timeout.base10_parse::<u64>()? == 0 {
                        return Err(syn::Error::new(
                            timeout.span(),
                            "`export_timeout_ms` must be at least 1: it bounds the network \
                             work of a hook (default 1000)",
                        ));
                    }
                    args.export_timeout_ms = Some(timeout);
                }
                "join_juju_trace" => match value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Bool(b), ..
                    }) => args.join_juju_trace = Some(b.clone()),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "`join_juju_trace` takes `true` or `false`, like \
                             `join_juju_trace = false` (a trace of its own, linked to Juju's)",
                        ));
                    }
                },
                "constructor" => {
                    let literal = string_literal(value, &key, "\"new\"")?;
                    let ident = syn::parse_str::<Ident>(&literal.value()).map_err(|_| {
                        syn::Error::new(
                            literal.span(),
                            "`constructor` names an associated fn of this impl block that \
                             returns `Self`, like `constructor = \"new\"`",
                        )
                    })?;
                    args.constructor =
                        Some((Ident::new(&ident.to_string(), literal.span()), literal));
                }
                "extra_types" => {
                    return Err(syn::Error::new(
                        nv.path.span(),
                        "`extra_types` does not exist in Rust: a macro cannot instrument \
                         another type from here. Put `#[charm_tracing::trace]` on that type's \
                         `impl` block instead",
                    ));
                }
                _ => {
                    let hint = suggestion(&key)
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    return Err(syn::Error::new(
                        nv.path.span(),
                        format!(
                            "unknown #[trace_charm] argument `{key}`: {hint}expected one of {}",
                            CHARM_KEYS.join(", ")
                        ),
                    ));
                }
            }
            seen.push(key);
        }
        Ok(args)
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

    #[test]
    fn misspelt_keys_get_a_suggestion() {
        assert_eq!(suggestion("tracing_endpont"), Some("tracing_endpoint"));
        assert_eq!(suggestion("buffer_max_event"), Some("buffer_max_events"));
        assert_eq!(suggestion("colour"), None);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
