//! The attributes of [charm-tracing](https://docs.rs/charm-tracing): `#[trace_charm(...)]`
//! on a charm's struct or impl block and `#[trace]` on fns, methods and impl blocks.
//!
//! Use them through the `charm-tracing` facade; the generated code names the runtime through
//! a hidden module of `charm_tracing` whose name carries this crate's version (see
//! `private`).

mod args;
mod charm;
mod instrument;
mod items;
mod untraced;

use proc_macro::TokenStream;

/// The facade's hidden module that generated code names the runtime through,
/// `::charm_tracing::__private_{version}`: the facade pins this crate's version exactly, so
/// a macro crate and a facade of different versions fail to compile rather than mismatch.
pub(crate) fn private() -> proc_macro2::TokenStream {
    private_at(proc_macro2::Span::call_site())
}

/// [`private`], spanned at `span` (a path inside `quote_spanned!`, so that an error about it
/// points where the rest of the expression does).
pub(crate) fn private_at(span: proc_macro2::Span) -> proc_macro2::TokenStream {
    let version = env!("CARGO_PKG_VERSION").replace(['.', '-', '+'], "_");
    let module = syn::Ident::new(&format!("__private_{version}"), span);
    quote::quote_spanned!(span=> ::charm_tracing::#module)
}
use syn::parse::Parser;

/// Traces a charm: every method of the impl block (private ones and associated fns too)
/// except the constructor, `const fn`s and `#[trace(skip)]` ones becomes a span
/// `method call: {Type}.{method}`, and the constructor starts the hook's tracing session.
///
/// Arguments: `tracing_endpoint` (required), `server_cert`, `service_name`,
/// `buffer_max_events`, `buffer_max_size_mib`, `buffer_path`, `export_timeout_ms`,
/// `trace_max_size_kib` (an integer literal, at least 64; default 4096: the most KiB one
/// hook's trace may take, under Grafana Tempo's default `max_bytes_per_trace` of 5 MB; calls
/// past the budget are folded into fold spans), `join_juju_trace` (`true` by default: the hook's root span is a child of Juju's span when
/// Juju gives a sampled `TRACEPARENT`; `false`: a trace of its own with a link to it),
/// `constructor`. See the `charm-tracing` crate docs.
///
/// The arguments go on the impl block, or on the charm's struct with a bare `#[trace_charm]`
/// on the impl block (`constructor` always goes on the impl block). On the struct, a member
/// is a field of the struct if it has one, else a method; `"0"` is a tuple struct's field.
/// Arguments on both, on neither, or a configured struct without a `#[trace_charm]` impl
/// block are compile errors.
///
/// ```ignore
/// #[charm_tracing::trace_charm(tracing_endpoint = "tracing_endpoint")]
/// impl MyCharm {
///     pub fn new(ctx: JujuContext) -> Self { MyCharm { ctx } }
///     fn tracing_endpoint(&self) -> Option<String> { None }
/// }
/// ```
///
/// ```ignore
/// #[charm_tracing::trace_charm(tracing_endpoint = "tracing_endpoint")]
/// pub struct MyCharm { ctx: JujuContext, tracing_endpoint: Option<String> }
///
/// #[charm_tracing::trace_charm]
/// impl MyCharm {
///     pub fn new(ctx: JujuContext) -> Self { MyCharm { ctx, tracing_endpoint: None } }
/// }
/// ```
#[proc_macro_attribute]
pub fn trace_charm(attr: TokenStream, item: TokenStream) -> TokenStream {
    if cfg!(feature = "untraced") {
        return untraced::strip(item);
    }
    let call_site = proc_macro2::Span::call_site();
    let parsed = (|input: syn::parse::ParseStream| args::CharmArgs::parse(input, call_site))
        .parse(attr)
        .and_then(|args| Ok((args, syn::parse::<syn::Item>(item.clone())?)))
        .and_then(|(args, item)| charm::trace_charm(args, item));
    match parsed {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let stand_in = match syn::parse::<syn::Item>(item.clone()) {
                Ok(item) => charm::stand_in(&item),
                Err(_) => proc_macro2::TokenStream::new(),
            };
            let mut out = finish(Err(error), item);
            out.extend(TokenStream::from(stand_in));
            out
        }
    }
}

/// Traces a fn (`function call: {fn}`), a method (`method call: {Type}.{method}`), or every
/// method of an impl block. `#[trace(skip)]` and `#[trace(name = "...")]` on methods inside
/// a traced block skip or rename them.
///
/// ```ignore
/// #[charm_tracing::trace]
/// fn render_config(cfg: &str) -> String { cfg.to_owned() }
/// ```
#[proc_macro_attribute]
pub fn trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    if cfg!(feature = "untraced") {
        return untraced::strip(item);
    }
    let parsed = syn::parse::<args::TraceArgs>(attr)
        .and_then(|args| Ok((args, syn::parse::<syn::Item>(item.clone())?)))
        .and_then(|(args, item)| items::trace(args, item));
    finish(parsed, item)
}

/// The expansion, or the error next to the untouched item (so one mistake does not bury the
/// user in follow-on errors about the item). `#[trace_charm]` adds stand-ins for what the
/// other half of the charm expects (see `charm::stand_in`).
fn finish(result: syn::Result<proc_macro2::TokenStream>, item: TokenStream) -> TokenStream {
    match result {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(items::strip_markers(item.into()));
            out.into()
        }
    }
}
