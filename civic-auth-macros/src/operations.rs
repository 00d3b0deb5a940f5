//! Expansion of `#[civic_auth_required]` above `#[OpenApi]` on an impl block:
//! every operation in the block is protected. `#[OpenApi]` reads the methods
//! after this attribute has rewritten them, so it sees the added security
//! parameter and the wrapped answer type, and documents both.
//!
//! A method may carry its own `#[civic_auth_required(...)]` with claims it
//! requires beyond the block's, and a step-up (`max_age`, `acr`) that
//! replaces the block's. A step-up's policy is a type written before the
//! block, which the added parameter checks and the answer type documents.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{spanned::Spanned, Attribute, ImplItem, ImplItemFn, ItemImpl, ReturnType};

use crate::{
    requirements::{policy_name, Args, Requirements, StepUp},
    utils::{check_user_params, has_attr, is_attr, Lib},
};

const PLACEMENT: &str = "on an impl block, #[civic_auth_required] must be written directly above #[OpenApi], \
                         for example:\n    #[civic_auth_required]\n    #[OpenApi]\n    impl AdminApi { .. }";

pub(crate) fn expand(item_impl: ItemImpl, args: Args) -> syn::Result<TokenStream> {
    if !has_attr(&item_impl.attrs, "OpenApi") {
        return Err(syn::Error::new(item_impl.self_ty.span(), PLACEMENT));
    }
    let mut protected = item_impl.clone();
    let lib = Lib::new(args.krate.clone());
    match protect_all(&mut protected, &lib, &args) {
        Ok(policies) => {
            let private = lib.private(item_impl.self_ty.span());
            Ok(quote!(#private::require_openapi!(); #(#policies)* #protected))
        }
        // The block as written, less the methods' own attributes: each would
        // expand on its own method and add a misleading second error.
        Err(error) => {
            let mut item_impl = item_impl;
            for item in &mut item_impl.items {
                if let ImplItem::Fn(method) = item {
                    method
                        .attrs
                        .retain(|attr| !is_attr(attr, "civic_auth_required"));
                }
            }
            let error = error.into_compile_error();
            Ok(quote!(#error #item_impl))
        }
    }
}

/// Protects each operation; returns the step-up policy types to write
/// before the block.
fn protect_all(item_impl: &mut ItemImpl, lib: &Lib, block: &Args) -> syn::Result<Vec<TokenStream>> {
    let api = match item_impl.self_ty.as_ref() {
        syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    }
    .unwrap_or_else(|| format_ident!("api"));
    let mut policies = Vec::new();
    for item in &mut item_impl.items {
        let ImplItem::Fn(method) = item else { continue };
        let (own, own_step_up) = take_own_args(&mut method.attrs)?;
        if !has_attr(&method.attrs, "oai") {
            continue;
        }
        let step_up = block.step_up.overridden_by(own_step_up);
        let policy = (!step_up.is_empty()).then(|| {
            let name = policy_name(&[&api, &method.sig.ident]);
            policies.push(step_up.policy(&name, &lib.private(method.sig.ident.span())));
            name
        });
        protect(method, lib, &block.requirements, own, policy)?;
    }
    Ok(policies)
}

/// Removes this attribute from a method, returning the claims and the
/// step-up it names. `crate = path` belongs to the block, which has one
/// library for all.
fn take_own_args(attrs: &mut Vec<Attribute>) -> syn::Result<(Requirements, StepUp)> {
    let mut requirements = Requirements::default();
    let mut step_up = StepUp::default();
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if !is_attr(&attr, "civic_auth_required") {
            kept.push(attr);
            continue;
        }
        if let syn::Meta::List(list) = &attr.meta {
            let args: Args = syn::parse2(list.tokens.clone())?;
            if let Some(krate) = args.krate {
                return Err(syn::Error::new_spanned(
                    krate,
                    "write `crate = ..` on the impl block's #[civic_auth_required]: it applies to every operation",
                ));
            }
            requirements.extend(args.requirements);
            step_up = step_up.overridden_by(args.step_up);
        }
    }
    *attrs = kept;
    Ok((requirements, step_up))
}

fn protect(
    method: &mut ImplItemFn,
    lib: &Lib,
    block_requirements: &Requirements,
    own: Requirements,
    policy: Option<syn::Ident>,
) -> syn::Result<()> {
    let sig = &mut method.sig;
    let span = sig.ident.span();
    let private = lib.private(span);
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            span,
            "poem-openapi operations are `async fn`s",
        ));
    }
    if sig.receiver().is_none() {
        return Err(syn::Error::new(
            span,
            "poem-openapi operations take `&self`",
        ));
    }
    check_user_params(sig.inputs.iter())?;
    let user = format_ident!("__civic_auth", span = Span::mixed_site());
    let policy = policy.map_or_else(|| quote!(#private::NoStepUp), |name| quote!(#name));
    sig.inputs.insert(
        1,
        syn::parse_quote_spanned!(span=> #user: #private::Secured<#policy>),
    );

    let checks: Vec<TokenStream> = block_requirements
        .to_array_parts(&private)
        .into_iter()
        .chain(own.to_array_parts(&private))
        .collect();
    let has_claims = !checks.is_empty();
    let answer = match &sig.output {
        ReturnType::Type(_, ty) => ty.to_token_stream(),
        ReturnType::Default => quote!(()),
    };
    sig.output = syn::parse_quote_spanned!(span=>
        -> #private::Protected<#answer, #has_claims, #policy>
    );
    let body = &method.block;
    let authorize = has_claims.then(|| {
        quote_spanned! {span=>
            if let ::std::result::Result::Err(denied) =
                #private::authorize((#user.0).user(), &[#(#checks),*])
            {
                return #private::Protected::denied(denied);
            }
        }
    });
    method.block = syn::parse_quote_spanned! {span=> {
        #authorize
        #private::Protected::allowed(
            #private::scope_typed::<#answer, _, _>(#user.0, async move #body).await,
        )
    }};
    Ok(())
}
