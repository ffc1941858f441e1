//! `#[trace_charm(...)]`: traces the charm's impl block and starts the session in its
//! constructor.

use crate::args::{CharmArgs, Member, MemberRef};
use crate::items::{is_method, take_trace_args, trace_impl_methods, type_name};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ImplItemFn, Item, ItemImpl, ReturnType, Type};

const RECEIVER: &str = "__charm_tracing_charm";

/// Expands `#[trace_charm(args)]` on `item`.
pub(crate) fn trace_charm(args: CharmArgs, item: Item) -> syn::Result<TokenStream> {
    let mut block = match item {
        Item::Impl(block) => block,
        other => {
            return Err(syn::Error::new(
                other.span(),
                "#[trace_charm(...)] goes on the charm's `impl` block (the one with its \
                 constructor), not on the type definition",
            ));
        }
    };
    if let Some((_, trait_path, _)) = &block.trait_ {
        return Err(syn::Error::new(
            trait_path.span(),
            "#[trace_charm(...)] goes on the charm's inherent `impl` block (the one with its \
             constructor); use `#[trace]` on trait impls",
        ));
    }
    let charm_type = type_name(&block.self_ty);
    let ctor_ident = args.constructor.as_ref().map_or_else(
        || syn::Ident::new("new", Span::call_site()),
        |(i, _)| i.clone(),
    );
    let session_start = session_start(&args, &block, &charm_type)?;
    let ctor_index = find_constructor(&block, &ctor_ident, &args)?;
    trace_impl_methods(&mut block, &|method| method.sig.ident == ctor_ident)?;
    if let ImplItem::Fn(ctor) = &mut block.items[ctor_index] {
        // The constructor is not traced, but may carry a stray #[trace(...)].
        take_trace_args(&mut ctor.attrs)?;
        let body = &ctor.block;
        let receiver = syn::Ident::new(RECEIVER, Span::mixed_site());
        ctor.block = syn::parse2(quote! {{
            let #receiver: Self = ::charm_tracing::__private::call_once(move || #body);
            #session_start
            #receiver
        }})?;
    }
    Ok(block.into_token_stream())
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
        } else {
            "#[trace_charm] starts tracing when the charm's constructor returns, and this impl \
             block has no `new`: add `pub fn new(ctx: JujuContext) -> Self` here, or name your \
             constructor with `constructor = \"...\"`"
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

/// How the constructor reads a member from the new charm value.
fn read_member(member: &MemberRef, block: &ItemImpl, key: &str) -> syn::Result<TokenStream> {
    let receiver = syn::Ident::new(RECEIVER, Span::mixed_site());
    let span = member.literal.span();
    match &member.member {
        Member::Method(name) => Ok(quote_spanned!(span=> #receiver.#name())),
        Member::Named(name) => {
            let method = block.items.iter().find_map(|item| match item {
                ImplItem::Fn(method) if method.sig.ident == *name => Some(method),
                _ => None,
            });
            match method {
                Some(method) if is_method(method) => Ok(quote_spanned!(span=> #receiver.#name())),
                Some(_) => Err(syn::Error::new(
                    span,
                    format!(
                        "`{key}` names `{name}`, which takes no `self`: make it a method, \
                         like `fn {name}(&self) -> Option<String>`"
                    ),
                )),
                None => Ok(quote_spanned!(span=> &#receiver.#name)),
            }
        }
    }
}

fn session_start(args: &CharmArgs, block: &ItemImpl, charm_type: &str) -> syn::Result<TokenStream> {
    let endpoint = read_member(&args.tracing_endpoint, block, "tracing_endpoint")?;
    let endpoint_span = args.tracing_endpoint.literal.span();
    let endpoint = quote_spanned! {endpoint_span=>
        ::charm_tracing::__private::EndpointValue::into_endpoint(#endpoint)
    };
    let cert = match &args.server_cert {
        Some(cert) => {
            let read = read_member(cert, block, "server_cert")?;
            let span = cert.literal.span();
            quote_spanned!(span=> ::charm_tracing::__private::CertValue::into_cert(#read))
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
    let defaults = quote!(::charm_tracing::__private::CharmConfig::new(#charm_type));
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
    Ok(quote! {{
        const __CHARM_TRACING_CONFIG: ::charm_tracing::__private::CharmConfig =
            ::charm_tracing::__private::CharmConfig {
                service_name: #service_name,
                buffer_path: #buffer_path,
                #(#fields)*
                ..#defaults
            };
        ::charm_tracing::__private::start_session(
            &__CHARM_TRACING_CONFIG,
            || #endpoint,
            || #cert,
        );
    }})
}
