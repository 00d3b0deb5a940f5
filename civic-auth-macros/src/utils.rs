//! Helpers both expansions share. This module imports neither of them.

use proc_macro2::Span;
use syn::{spanned::Spanned, FnArg, Item, PatType};

/// A user parameter a protected handler cannot use as written.
pub(crate) fn check_user_params<'a>(inputs: impl Iterator<Item = &'a FnArg>) -> syn::Result<()> {
    for input in inputs {
        let FnArg::Typed(PatType { ty, .. }) = input else {
            continue;
        };
        let names_user = |ty: &syn::Type| matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "CivicUser"));
        match ty.as_ref() {
            syn::Type::Reference(r) if names_user(&r.elem) => {
                return Err(syn::Error::new(
                    ty.span(),
                    "take the user by value, as `user: CivicUser`: handlers cannot borrow it from the request",
                ))
            }
            syn::Type::Path(p) => {
                let last = p.path.segments.last();
                let optional_user = last.is_some_and(|s| {
                    s.ident == "Option"
                        && matches!(&s.arguments, syn::PathArguments::AngleBracketed(a)
                            if a.args.iter().any(|arg| matches!(arg, syn::GenericArgument::Type(t) if names_user(t))))
                });
                if optional_user {
                    return Err(syn::Error::new(
                        ty.span(),
                        "a protected handler always has a user: take `user: CivicUser`, not `Option<CivicUser>`",
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn has_attr(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs.iter().any(|attr| is_attr(attr, name))
}

/// Matched on the last segment, so `#[poem::handler]` counts as `#[handler]`.
pub(crate) fn is_attr(attr: &syn::Attribute, name: &str) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == name)
}

/// Where to point an error about an item: its name where it has one.
pub(crate) fn item_span(item: &Item) -> Span {
    match item {
        Item::Struct(s) => s.ident.span(),
        Item::Enum(e) => e.ident.span(),
        Item::Mod(m) => m.ident.span(),
        Item::Const(c) => c.ident.span(),
        Item::Static(s) => s.ident.span(),
        Item::Trait(t) => t.ident.span(),
        other => other.span(),
    }
}
