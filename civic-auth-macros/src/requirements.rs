//! The arguments of `#[civic_auth_required(...)]`: claims the user must have,
//! and optionally where the library is.
//!
//! ```text
//! #[civic_auth_required(equals("email_verified", true), includes("groups", "admins"), check(is_staff))]
//! #[civic_auth_required(crate = ::civic_auth_poem, includes("groups", "admins"))]
//! ```

use proc_macro2::TokenStream;
use quote::quote;
use syn::{
    parse::{Parse, ParseStream},
    spanned::Spanned,
    Expr, ExprCall, ExprLit, ExprPath, Lit, Path, Token,
};

const USAGE: &str =
    "expected `equals(\"claim\", value)`, `includes(\"claim\", value)` or `check(function)`, \
                     for example #[civic_auth_required(includes(\"groups\", \"admins\"))]";

const CRATE_USAGE: &str =
    "`crate` takes a path to civic-auth-poem, for example crate = ::civic_auth_poem";

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// `crate = path`, when given.
    pub(crate) krate: Option<Path>,
    pub(crate) requirements: Requirements,
}

/// The parsed requirements, in the order written, each a call relative to
/// the library's `__private::requirement`.
#[derive(Default)]
pub(crate) struct Requirements(Vec<TokenStream>);

impl Requirements {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn extend(&mut self, other: Requirements) {
        self.0.extend(other.0);
    }

    /// An expression of type `[Requirement; N]`.
    pub(crate) fn to_array(&self, private: &TokenStream) -> TokenStream {
        let items = self.to_array_parts(private);
        quote!([#(#items),*])
    }

    /// Each requirement as an expression; `private` is the library's `__private`.
    pub(crate) fn to_array_parts(&self, private: &TokenStream) -> Vec<TokenStream> {
        self.0
            .iter()
            .map(|call| quote!(#private::requirement::#call))
            .collect()
    }
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            // `crate::f(..)` is a (wrong) requirement, not this argument.
            if input.peek(Token![crate]) && !input.peek2(Token![::]) {
                let krate = krate(input)?;
                if args.krate.is_some() {
                    return Err(syn::Error::new_spanned(krate, "`crate` is given twice"));
                }
                args.krate = Some(krate);
            } else {
                let requirement = requirement(&input.parse()?)?;
                args.requirements.0.push(requirement);
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// `crate = path`.
fn krate(input: ParseStream) -> syn::Result<Path> {
    let keyword: Token![crate] = input.parse()?;
    let usage = |span| syn::Error::new(span, CRATE_USAGE);
    input
        .parse::<Token![=]>()
        .map_err(|_| usage(keyword.span))?;
    if input.is_empty() || input.peek(Token![,]) {
        return Err(usage(keyword.span));
    }
    Path::parse_mod_style(input).map_err(|error| usage(error.span()))
}

fn requirement(expr: &Expr) -> syn::Result<TokenStream> {
    let Expr::Call(ExprCall { func, args, .. }) = expr else {
        return Err(syn::Error::new_spanned(expr, USAGE));
    };
    let Expr::Path(ExprPath { path, .. }) = func.as_ref() else {
        return Err(syn::Error::new_spanned(func, USAGE));
    };
    let kind = path.get_ident().map(|i| i.to_string()).unwrap_or_default();
    let args: Vec<&Expr> = args.iter().collect();
    match (kind.as_str(), args.as_slice()) {
        ("equals" | "includes", [claim, value]) => {
            let claim = claim_name(claim)?;
            literal(value)?;
            let constructor = syn::Ident::new(&kind, path.span());
            Ok(quote!(#constructor(#claim, #value)))
        }
        ("equals" | "includes", _) => Err(syn::Error::new_spanned(
            expr,
            format!("`{kind}` takes a claim name and a value, for example {kind}(\"groups\", \"admins\")"),
        )),
        ("check", [function]) => Ok(quote!(check(stringify!(#function), #function))),
        ("check", _) => Err(syn::Error::new_spanned(
            expr,
            "`check` takes one function `fn(&CivicUser) -> bool`, for example check(is_staff)",
        )),
        _ => Err(syn::Error::new_spanned(func, USAGE)),
    }
}

fn claim_name(expr: &Expr) -> syn::Result<&Expr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        }) => Ok(expr),
        _ => Err(syn::Error::new_spanned(
            expr,
            "the claim name is a string, for example \"groups\"",
        )),
    }
}

fn literal(expr: &Expr) -> syn::Result<()> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(_) | Lit::Bool(_) | Lit::Int(_),
            ..
        }) => Ok(()),
        _ => Err(syn::Error::new_spanned(
            expr,
            "the claim value is a string, number or bool literal",
        )),
    }
}
