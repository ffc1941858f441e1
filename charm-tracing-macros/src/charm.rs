//! `#[trace_charm(...)]` in its two forms. On the charm's struct it records the
//! configuration for the type (an impl of the runtime's `TraceCharmConfig` beside the
//! unchanged struct). On the charm's impl block it traces the methods, and the constructor
//! starts the session, configured by the block's own arguments or, without any, by the
//! struct's.
//!
//! Each form parses (`CharmArgs`), validates (which keys the form takes, where each member
//! lives), then generates; the settings and member reads of both forms come from
//! [`session_parts`], and the constructor's session start from [`session_start`].

use crate::args::{CharmArgs, Member, MemberRef};
use crate::items::{is_method, take_trace_args, trace_impl_methods, type_name};
use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, Generics, ImplItem, ImplItemFn, Item, ItemImpl, ItemStruct, ReturnType, Type};

const RECEIVER: &str = "__charm_tracing_charm";

/// Expands `#[trace_charm(args)]` on `item`.
pub(crate) fn trace_charm(args: CharmArgs, item: Item) -> syn::Result<TokenStream> {
    match item {
        Item::Impl(block) => on_impl(args, block),
        Item::Struct(definition) => on_struct(args, definition),
        Item::Enum(definition) => Err(not_a_struct(definition.enum_token.span, "an enum")),
        Item::Union(definition) => Err(not_a_struct(definition.union_token.span, "a union")),
        other => Err(syn::Error::new(
            other.span(),
            "#[trace_charm(...)] goes on the charm's struct or on its `impl` block (the one \
             with its constructor)",
        )),
    }
}

fn not_a_struct(span: Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "#[trace_charm(...)] goes on a struct or an `impl` block, not on {what}: put it on \
             this type's `impl` block (the one with its constructor), naming methods for \
             `tracing_endpoint` and `server_cert`, like \
             `#[trace_charm(tracing_endpoint = \"tracing_endpoint\")] impl MyCharm {{ .. }}`"
        ),
    )
}

/// A member resolved for reading from the charm value.
struct Resolved {
    read: Read,
    /// The literal's span: errors about the value's type point there.
    span: Span,
}

enum Read {
    /// Read by reference: a field name or a tuple index.
    Field(TokenStream),
    /// Called.
    Method(syn::Ident),
}

/// On an impl block, `"name"` is a method of that block (which must take `self`), or else a
/// field.
fn resolve_in_impl(member: &MemberRef, block: &ItemImpl, key: &str) -> syn::Result<Resolved> {
    let span = member.literal.span();
    let read = match &member.member {
        Member::Method(name) => Read::Method(name.clone()),
        Member::Index(index) => Read::Field(index.to_token_stream()),
        Member::Named(name) => {
            let method = block.items.iter().find_map(|item| match item {
                ImplItem::Fn(method) if method.sig.ident == *name => Some(method),
                _ => None,
            });
            match method {
                Some(method) if is_method(method) => Read::Method(name.clone()),
                Some(_) => {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "`{key}` names `{name}`, which takes no `self`: make it a method, \
                             like `fn {name}(&self) -> Option<String>`"
                        ),
                    ));
                }
                None => Read::Field(name.to_token_stream()),
            }
        }
    };
    Ok(Resolved { read, span })
}

/// On a struct, `"name"` is a field of it, or else a method (the compiler reports a missing
/// one at the literal); `"0"` is a field of a tuple struct.
fn resolve_in_struct(
    member: &MemberRef,
    definition: &ItemStruct,
    key: &str,
) -> syn::Result<Resolved> {
    let span = member.literal.span();
    let read = match (&member.member, &definition.fields) {
        (Member::Method(name), _) => Read::Method(name.clone()),
        (Member::Named(name), Fields::Named(fields))
            if fields.named.iter().any(|f| f.ident.as_ref() == Some(name)) =>
        {
            Read::Field(name.to_token_stream())
        }
        (Member::Named(name), _) => Read::Method(name.clone()),
        (Member::Index(index), Fields::Unnamed(fields))
            if (index.index as usize) < fields.unnamed.len() =>
        {
            Read::Field(index.to_token_stream())
        }
        (Member::Index(index), _) => {
            let charm = &definition.ident;
            let count = match &definition.fields {
                Fields::Unnamed(fields) => fields.unnamed.len(),
                _ => 0,
            };
            let has = match count {
                0 => "no numbered fields".to_owned(),
                1 => "one field, `0`".to_owned(),
                n => format!("fields `0` to `{}`", n - 1),
            };
            return Err(syn::Error::new(
                span,
                format!(
                    "`{key}` names field `{}`, and `{charm}` has {has}: name one of its \
                     fields, or a method, like `{key} = \"{key}\"`",
                    index.index
                ),
            ));
        }
    };
    Ok(Resolved { read, span })
}

/// `receiver.field` (by reference) or `receiver.method()`, spanned at the member's literal.
fn read_member(receiver: &TokenStream, member: &Resolved) -> TokenStream {
    let span = member.span;
    match &member.read {
        Read::Field(field) => quote_spanned!(span=> &#receiver.#field),
        Read::Method(name) => quote_spanned!(span=> #receiver.#name()),
    }
}

/// What a configuring attribute (either form) generates: the `CharmConfig` constant
/// expression and the endpoint and certificate as read from `receiver`.
struct SessionParts {
    config: TokenStream,
    endpoint: TokenStream,
    cert: TokenStream,
}

/// The one generator of the settings and member reads, for both forms.
fn session_parts(
    args: &CharmArgs,
    charm_type: &str,
    endpoint: &Resolved,
    cert: Option<&Resolved>,
    receiver: &TokenStream,
) -> SessionParts {
    let private = crate::private();
    let endpoint_span = endpoint.span;
    let endpoint = read_member(receiver, endpoint);
    let endpoint_path = crate::private_at(endpoint_span);
    let endpoint = quote_spanned! {endpoint_span=>
        #endpoint_path::EndpointValue::into_endpoint(#endpoint)
    };
    let cert = match cert {
        Some(cert) => {
            let span = cert.span;
            let read = read_member(receiver, cert);
            let cert_path = crate::private_at(span);
            quote_spanned!(span=> #cert_path::CertValue::into_cert(#read))
        }
        None => quote!(::core::option::Option::None),
    };
    let service_name = match &args.service_name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let buffer_path = match &args.buffer_path {
        Some(path) => quote!(::core::option::Option::Some(#path)),
        None => quote!(::core::option::Option::None),
    };
    let defaults = quote!(#private::CharmConfig::new(#charm_type));
    let mut fields = Vec::new();
    if let Some(limit) = &args.buffer_max_events {
        fields.push(quote!(buffer_max_events: #limit,));
    }
    if let Some(limit) = &args.buffer_max_size_mib {
        fields.push(quote!(buffer_max_size_mib: #limit,));
    }
    if let Some(timeout) = &args.export_timeout_ms {
        fields.push(quote!(export_timeout_ms: #timeout,));
    }
    if let Some(limit) = &args.trace_max_size_kib {
        fields.push(quote!(trace_max_size_kib: #limit,));
    }
    if let Some(join) = &args.join_juju_trace {
        fields.push(quote!(join_juju_trace: #join,));
    }
    let config = quote! {
        #private::CharmConfig {
            service_name: #service_name,
            buffer_path: #buffer_path,
            #(#fields)*
            ..#defaults
        }
    };
    SessionParts {
        config,
        endpoint,
        cert,
    }
}

/// Where the constructor finds the configuration.
enum Source {
    /// In the impl block's own arguments.
    Here(SessionParts),
    /// On the struct (`TraceCharmConfig`); `call_site` is the attribute, where the
    /// compiler's error points when the struct has none.
    Struct { call_site: Span },
}

/// The statement the constructor runs once the new value is bound to `receiver`.
fn session_start(source: &Source, receiver: &syn::Ident) -> TokenStream {
    let private = crate::private();
    match source {
        Source::Here(SessionParts {
            config,
            endpoint,
            cert,
        }) => quote! {{
            const __CHARM_TRACING_CONFIG: #private::CharmConfig = #config;
            #private::start_session(
                &__CHARM_TRACING_CONFIG,
                || #endpoint,
                || #cert,
            );
        }},
        Source::Struct { call_site } => {
            let path = crate::private_at(*call_site);
            quote_spanned! {*call_site=>
                #path::start_charm_session::<Self>(&#receiver);
            }
        }
    }
}

/// `tokens` with every span set to `span`, so that an error about a generated item points
/// at one place (the attribute) rather than across the user's code.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The impl both configuring forms give the charm type: configured twice, the type gets two,
/// and the compiler's "conflicting implementations" error names the trait, which says what
/// to do, with each impl at its attribute.
fn configured_marker(generics: &Generics, self_ty: &TokenStream, call_site: Span) -> TokenStream {
    let private = crate::private();
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    respan(
        quote! {
            impl #impl_generics #private::TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth
                for #self_ty #where_clause {}
        },
        call_site,
    )
}

/// `#[trace_charm(...)]` on the charm's struct: the struct unchanged, its `TraceCharmConfig`
/// impl, and the marker impl.
fn on_struct(args: CharmArgs, definition: ItemStruct) -> syn::Result<TokenStream> {
    let private = crate::private();
    if let Some((_, literal)) = &args.constructor {
        return Err(syn::Error::new(
            literal.span(),
            "`constructor` names a fn of the impl block, so it goes there: \
             `#[trace_charm(constructor = \"...\")]` on the charm's `impl` block, with the \
             other arguments kept here on the struct",
        ));
    }
    if !args.has_config() {
        return Err(syn::Error::new(
            args.call_site,
            "#[trace_charm] on the struct configures the charm, so it needs arguments, like \
             `#[trace_charm(tracing_endpoint = \"tracing_endpoint\")]` (and `#[trace_charm]` \
             on the impl block); or remove it here and keep the arguments on the impl block",
        ));
    }
    let endpoint = resolve_in_struct(args.require_endpoint()?, &definition, "tracing_endpoint")?;
    let cert = args
        .server_cert
        .as_ref()
        .map(|cert| resolve_in_struct(cert, &definition, "server_cert"))
        .transpose()?;
    let charm_type = definition.ident.to_string();
    let SessionParts {
        config,
        endpoint,
        cert,
    } = session_parts(&args, &charm_type, &endpoint, cert.as_ref(), &quote!(self));
    let name = &definition.ident;
    let (impl_generics, type_generics, where_clause) = definition.generics.split_for_impl();
    let self_ty = quote!(#name #type_generics);
    let header = respan(
        quote! {
            impl #impl_generics #private::TraceCharmConfig for #self_ty
                #where_clause
        },
        args.call_site,
    );
    let marker = configured_marker(&definition.generics, &self_ty, args.call_site);
    Ok(quote! {
        #definition

        #[automatically_derived]
        #header {
            const CONFIG: #private::CharmConfig = #config;
            fn charm_tracing_endpoint(&self) -> ::core::option::Option<::std::string::String> {
                #endpoint
            }
            fn charm_tracing_server_cert(
                &self,
            ) -> ::core::option::Option<::std::path::PathBuf> {
                #cert
            }
        }

        #[automatically_derived]
        #marker
    })
}

/// What an item whose `#[trace_charm(...)]` has a mistake gets beside the error and the
/// untouched item, so that the other half of the charm adds no second error to the first: a
/// struct gets a configuration that traces nothing (for its impl block's bare
/// `#[trace_charm]`), an impl block the impl that says it is the charm's traced block (for
/// the struct's configuration).
pub(crate) fn stand_in(item: &Item) -> TokenStream {
    let private = crate::private();
    match item {
        Item::Struct(definition) => stand_in_config(definition),
        Item::Impl(block) if block.trait_.is_none() => {
            let (impl_generics, _, where_clause) = block.generics.split_for_impl();
            let self_ty = &block.self_ty;
            quote! {
                #[automatically_derived]
                impl #impl_generics #private::TraceCharmGoesOnOneImplBlock
                    for #self_ty #where_clause {}
            }
        }
        _ => TokenStream::new(),
    }
}

fn stand_in_config(definition: &ItemStruct) -> TokenStream {
    let private = crate::private();
    let name = &definition.ident;
    let charm_type = name.to_string();
    let (impl_generics, type_generics, where_clause) = definition.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::TraceCharmConfig for #name #type_generics
            #where_clause
        {
            const CONFIG: #private::CharmConfig =
                #private::CharmConfig::new(#charm_type);
            fn charm_tracing_endpoint(&self) -> ::core::option::Option<::std::string::String> {
                ::core::option::Option::None
            }
            fn charm_tracing_server_cert(
                &self,
            ) -> ::core::option::Option<::std::path::PathBuf> {
                ::core::option::Option::None
            }
        }
    }
}

/// `#[trace_charm(...)]` / `#[trace_charm]` on the charm's impl block.
fn on_impl(args: CharmArgs, mut block: ItemImpl) -> syn::Result<TokenStream> {
    let private = crate::private();
    if let Some((_, trait_path, _)) = &block.trait_ {
        return Err(syn::Error::new(
            trait_path.span(),
            "#[trace_charm(...)] goes on the charm's inherent `impl` block (the one with its \
             constructor); use `#[trace]` on trait impls",
        ));
    }
    let charm_type = type_name(&block.self_ty);
    let receiver = syn::Ident::new(RECEIVER, Span::mixed_site());
    let source = if args.has_config() {
        let endpoint = resolve_in_impl(args.require_endpoint()?, &block, "tracing_endpoint")?;
        let cert = args
            .server_cert
            .as_ref()
            .map(|cert| resolve_in_impl(cert, &block, "server_cert"))
            .transpose()?;
        let receiver = receiver.to_token_stream();
        Source::Here(session_parts(
            &args,
            &charm_type,
            &endpoint,
            cert.as_ref(),
            &receiver,
        ))
    } else {
        Source::Struct {
            call_site: args.call_site,
        }
    };
    let session_start = session_start(&source, &receiver);
    let ctor_ident = args.constructor.as_ref().map_or_else(
        || syn::Ident::new("new", Span::call_site()),
        |(i, _)| i.clone(),
    );
    let ctor_index = find_constructor(&block, &ctor_ident, &args)?;
    trace_impl_methods(&mut block, &|method| method.sig.ident == ctor_ident)?;
    if let ImplItem::Fn(ctor) = &mut block.items[ctor_index] {
        // The constructor is not traced, but may carry a stray #[trace(...)].
        take_trace_args(&mut ctor.attrs)?;
        let body = &ctor.block;
        ctor.block = syn::parse2(quote! {{
            let #receiver: Self = #private::call_once(move || #body);
            #session_start
            #receiver
        }})?;
    }
    let self_ty = block.self_ty.to_token_stream();
    let marker = match source {
        Source::Here(_) => {
            let marker = configured_marker(&block.generics, &self_ty, args.call_site);
            quote!(#[automatically_derived] #marker)
        }
        Source::Struct { .. } => TokenStream::new(),
    };
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    let traced_block = respan(
        quote! {
            impl #impl_generics #private::TraceCharmGoesOnOneImplBlock
                for #self_ty #where_clause {}
        },
        args.call_site,
    );
    Ok(quote! {
        #block
        #marker
        #[automatically_derived]
        #traced_block
    })
}

fn find_constructor(block: &ItemImpl, ctor: &syn::Ident, args: &CharmArgs) -> syn::Result<usize> {
    let found = block
        .items
        .iter()
        .enumerate()
        .find_map(|(index, item)| match item {
            ImplItem::Fn(method) if method.sig.ident == *ctor => Some((index, method)),
            _ => None,
        });
    let Some((index, method)) = found else {
        let span = args
            .constructor
            .as_ref()
            .map_or_else(|| block.self_ty.span(), |(_, literal)| literal.span());
        let message = if args.constructor.is_some() {
            format!(
                "no associated fn `{ctor}` in this impl block: the constructor named by `constructor` must be defined here and return `Self`"
            )
        } else if args.has_config() {
            "#[trace_charm] starts tracing when the charm's constructor returns, and this impl \
             block has no `new`: add `pub fn new(ctx: JujuContext) -> Self` here, or name your \
             constructor with `constructor = \"...\"`"
                .to_owned()
        } else {
            "#[trace_charm] starts tracing when the charm's constructor returns, and this impl \
             block has no `new`: add `pub fn new(ctx: JujuContext) -> Self` here, or name your \
             constructor here, with `#[trace_charm(constructor = \"...\")]` on this impl block"
                .to_owned()
        };
        return Err(syn::Error::new(span, message));
    };
    check_constructor(method, &block.self_ty)?;
    Ok(index)
}

fn check_constructor(method: &ImplItemFn, self_ty: &Type) -> syn::Result<()> {
    if is_method(method) {
        return Err(syn::Error::new(
            method.sig.inputs.span(),
            "the constructor must be an associated fn without `self` that returns `Self`",
        ));
    }
    if method.sig.asyncness.is_some() || method.sig.constness.is_some() {
        return Err(syn::Error::new(
            method.sig.ident.span(),
            "the constructor must be a plain (not `async`, not `const`) fn returning `Self`",
        ));
    }
    let returns_self = match &method.sig.output {
        ReturnType::Type(_, ty) => match ty.as_ref() {
            Type::Path(path) => {
                path.path.is_ident("Self")
                    || ty.to_token_stream().to_string() == self_ty.to_token_stream().to_string()
            }
            _ => false,
        },
        ReturnType::Default => false,
    };
    if !returns_self {
        return Err(syn::Error::new(
            match &method.sig.output {
                ReturnType::Type(_, ty) => ty.span(),
                ReturnType::Default => method.sig.ident.span(),
            },
            "the constructor must return `Self`: the session starts from the value it returns",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse::Parser;

    fn args(tokens: TokenStream) -> CharmArgs {
        (|input: syn::parse::ParseStream| CharmArgs::parse(input, Span::call_site()))
            .parse2(tokens)
            .unwrap()
    }

    fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<String> {
        trace_charm(args(attr), syn::parse2(item).unwrap()).map(|t| t.to_string())
    }

    fn squash(text: &str) -> String {
        text.split_whitespace().collect()
    }

    #[test]
    fn the_struct_form_keeps_the_struct_and_implements_the_config_for_its_generics() {
        let out = expand(
            quote!(
                tracing_endpoint = "endpoint",
                server_cert = "cert",
                buffer_max_events = 7
            ),
            quote!(
                struct C<T: Clone>
                where
                    T: Default,
                {
                    endpoint: Option<T>,
                }
            ),
        )
        .unwrap();
        let out = squash(&out);
        assert!(out.starts_with(&squash("struct C < T : Clone > where T : Default")));
        assert!(out.contains(&squash(
            "impl < T : Clone > :: charm_tracing :: __private_0_1_0 :: TraceCharmConfig for C < T > \
             where T : Default"
        )));
        assert!(
            out.contains(&squash("& self . endpoint")),
            "a field is read"
        );
        assert!(
            out.contains(&squash("self . cert ()")),
            "else a method is called"
        );
        assert!(out.contains(&squash("buffer_max_events : 7 ,")));
        assert!(out.contains(&squash("CharmConfig :: new (\"C\")")));
        assert!(out.contains("TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth"));
    }

    #[test]
    fn trace_max_size_kib_is_written_into_the_config_in_both_forms() {
        let on_struct = expand(
            quote!(tracing_endpoint = "endpoint", trace_max_size_kib = 2048),
            quote!(
                struct C {
                    endpoint: Option<String>,
                }
            ),
        )
        .unwrap();
        let on_impl = expand(
            quote!(tracing_endpoint = "endpoint", trace_max_size_kib = 2048),
            quote!(impl C {
                fn new() -> Self { C }
                fn endpoint(&self) -> Option<String> { None }
            }),
        )
        .unwrap();
        for out in [on_struct, on_impl] {
            let out = squash(&out);
            assert!(
                out.contains(&squash("trace_max_size_kib : 2048 ,")),
                "{out}"
            );
            assert!(out.contains(&squash("CharmConfig :: new (\"C\")")), "{out}");
        }
        let without = expand(
            quote!(tracing_endpoint = "endpoint"),
            quote!(
                struct C {
                    endpoint: Option<String>,
                }
            ),
        )
        .unwrap();
        assert!(
            !without.contains("trace_max_size_kib"),
            "the default comes from the runtime"
        );
    }

    #[test]
    fn trace_max_size_kib_alone_configures_the_charm() {
        let error = expand(
            quote!(trace_max_size_kib = 2048),
            quote!(
                struct C;
            ),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("needs `tracing_endpoint`"),
            "{error}"
        );
    }

    #[test]
    fn a_bare_impl_takes_the_configuration_from_the_struct() {
        let out = expand(
            TokenStream::new(),
            quote!(impl C {
                fn new(ctx: JujuContext) -> Self { C }
                fn on_install(&self) {}
            }),
        )
        .unwrap();
        assert!(out.contains("start_charm_session"));
        assert!(!out.contains("TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth"));
        assert!(out.contains("method call: C.on_install"));
    }

    #[test]
    fn a_configuring_impl_starts_the_session_itself_and_claims_the_marker() {
        let out = expand(
            quote!(tracing_endpoint = "endpoint"),
            quote!(impl C {
                fn new(ctx: JujuContext) -> Self { C }
                fn endpoint(&self) -> Option<String> { None }
            }),
        )
        .unwrap();
        assert!(!out.contains("start_charm_session"));
        assert!(out.contains("start_session"));
        assert!(out.contains("TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth"));
    }

    #[test]
    fn tuple_fields_are_read_by_number_and_checked() {
        let item = quote!(
            struct C(u8, Option<String>);
        );
        let out = expand(quote!(tracing_endpoint = "1"), item.clone()).unwrap();
        assert!(squash(&out).contains(&squash("& self . 1")));
        let error = expand(quote!(tracing_endpoint = "2"), item).unwrap_err();
        assert!(
            error.to_string().contains("has fields `0` to `1`"),
            "{error}"
        );
    }

    #[test]
    fn each_form_refuses_what_it_cannot_take() {
        let item = quote!(
            struct C;
        );
        let error = expand(TokenStream::new(), item.clone()).unwrap_err();
        assert!(error.to_string().contains("needs arguments"), "{error}");
        let error = expand(
            quote!(tracing_endpoint = "e", constructor = "make"),
            item.clone(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("goes there"), "{error}");
        let error = expand(quote!(service_name = "s"), item).unwrap_err();
        assert!(
            error.to_string().contains("needs `tracing_endpoint`"),
            "{error}"
        );
        let error = expand(
            quote!(tracing_endpoint = "e"),
            quote!(
                enum C {
                    A,
                }
            ),
        )
        .unwrap_err();
        assert!(error.to_string().contains("not on an enum"), "{error}");
    }

    #[test]
    fn the_stand_in_configuration_reads_nothing() {
        let out = stand_in_config(
            &syn::parse2(quote!(
                struct C<'a>(&'a str);
            ))
            .unwrap(),
        );
        let out = squash(&out.to_string());
        assert!(out.contains(&squash("TraceCharmConfig for C < 'a >")));
        assert!(!out.contains("TraceCharmArgumentsGoOnTheStructOrOnTheImplNotBoth"));
        let out = stand_in(
            &syn::parse2(quote!(
                impl<T> C<T> {
                    fn f() {}
                }
            ))
            .unwrap(),
        );
        let out = squash(&out.to_string());
        assert!(out.contains(&squash("TraceCharmGoesOnOneImplBlock for C < T >")));
        assert!(!out.contains("TraceCharmConfig"));
    }

    #[test]
    fn every_traced_impl_block_says_so() {
        for attr in [TokenStream::new(), quote!(tracing_endpoint = "e")] {
            let out = expand(
                attr,
                quote!(
                    impl<T> C<T> {
                        fn new() -> Self {
                            C
                        }
                    }
                ),
            );
            let out = squash(&out.unwrap());
            assert!(out.contains(&squash("TraceCharmGoesOnOneImplBlock for C < T >")));
        }
    }
}
