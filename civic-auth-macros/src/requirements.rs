//! The arguments of `#[civic_auth_required(...)]`: claims the user must have,
//! a step-up (how recent or strong the login must be), and optionally where
//! the library is.
//!
//! ```text
//! #[civic_auth_required(equals("email_verified", true), includes("groups", "admins"), check(is_staff))]
//! #[civic_auth_required(max_age = 300, acr = "urn:example:mfa")]
//! #[civic_auth_required(max_age = step_up_max_age)]
//! #[civic_auth_required(provider = "partner")]
//! #[civic_auth_required(crate = ::civic_auth_poem, includes("groups", "admins"))]
//! ```

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{
    parse::{Parse, ParseStream},
    spanned::Spanned,
    Expr, ExprCall, ExprLit, ExprPath, Ident, Lit, Path, Token,
};

const USAGE: &str =
    "expected `equals(\"claim\", value)`, `includes(\"claim\", value)`, `check(function)`, \
                     `max_age = seconds`, `acr = \"values\"` or `provider = \"name\"`, \
                     for example #[civic_auth_required(includes(\"groups\", \"admins\"))]";

const CRATE_USAGE: &str =
    "`crate` takes a path to civic-auth-poem, for example crate = ::civic_auth_poem";

const MAX_AGE_USAGE: &str = "`max_age` takes a number of seconds, or the path of a constant or a \
                             function that gives them, for example max_age = 300 or max_age = step_up_max_age";

const PROVIDER_USAGE: &str = "`provider` takes the name of one of the app's providers as a string \
                              of letters, digits, `-` or `_`, for example provider = \"partner\"";

const ACR_USAGE: &str = "`acr` takes a string of `acr` values, or the path of a constant or a \
                         function that gives one, for example acr = \"urn:example:mfa\"";

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// `crate = path`, when given.
    pub(crate) krate: Option<Path>,
    pub(crate) requirements: Requirements,
    pub(crate) step_up: StepUp,
}

/// `max_age = ..` and `acr = ..`, each an expression the library's
/// `MaxAge` or `AcrValues` accepts.
#[derive(Default)]
pub(crate) struct StepUp {
    max_age: Option<TokenStream>,
    acr: Option<TokenStream>,
    /// `provider = "name"`: only users of that provider.
    provider: Option<TokenStream>,
}

impl StepUp {
    pub(crate) fn is_empty(&self) -> bool {
        self.max_age.is_none() && self.acr.is_none() && self.provider.is_none()
    }

    /// This step-up, with `over`'s values where it gives them (an
    /// operation's own over its block's).
    pub(crate) fn overridden_by(&self, over: StepUp) -> StepUp {
        StepUp {
            max_age: over.max_age.or_else(|| self.max_age.clone()),
            acr: over.acr.or_else(|| self.acr.clone()),
            provider: over.provider.or_else(|| self.provider.clone()),
        }
    }

    /// The type `name` that gives this requirement to the library (its
    /// `StepUpPolicy`), evaluating the values once, at first use.
    pub(crate) fn policy(&self, name: &Ident, private: &TokenStream) -> TokenStream {
        let max_age = match &self.max_age {
            Some(value) => quote_spanned!(value.span()=> ::std::option::Option::Some(#value)),
            None => quote!(::std::option::Option::None::<u64>),
        };
        let acr = match &self.acr {
            Some(value) => quote_spanned!(value.span()=> ::std::option::Option::Some(#value)),
            None => quote!(::std::option::Option::None::<&str>),
        };
        let provider = match &self.provider {
            Some(name) => quote!(::std::option::Option::Some(#name)),
            None => quote!(::std::option::Option::None),
        };
        quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            pub struct #name;

            impl #private::StepUpPolicy for #name {
                fn step_up() -> &'static #private::StepUp {
                    static STEP_UP: ::std::sync::OnceLock<#private::StepUp> =
                        ::std::sync::OnceLock::new();
                    STEP_UP.get_or_init(|| #private::step_up(#max_age, #acr, #provider))
                }
            }
        }
    }
}

/// The name of the policy type of the route `parts` name.
pub(crate) fn policy_name(parts: &[&Ident]) -> Ident {
    let joined: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
    format_ident!("__civic_step_up_{}", joined.join("_"))
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
            } else if starts_step_up(input) {
                let name: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                let value: Expr = input.parse()?;
                let (slot, parsed) = if name == "max_age" {
                    (&mut args.step_up.max_age, max_age(&value)?)
                } else if name == "acr" {
                    (&mut args.step_up.acr, acr(&value)?)
                } else {
                    (&mut args.step_up.provider, provider(&value)?)
                };
                if slot.is_some() {
                    return Err(syn::Error::new_spanned(
                        &name,
                        format!("`{name}` is given twice"),
                    ));
                }
                *slot = Some(parsed);
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

/// Whether the next argument is `max_age = ..`, `acr = ..` or `provider = ..`.
fn starts_step_up(input: ParseStream) -> bool {
    let fork = input.fork();
    fork.parse::<Ident>()
        .is_ok_and(|name| name == "max_age" || name == "acr" || name == "provider")
        && fork.peek(Token![=])
}

/// A path the policy type (written outside any impl block) can name.
fn value_path(expr: &Expr) -> syn::Result<Option<TokenStream>> {
    let Expr::Path(path) = expr else {
        return Ok(None);
    };
    if path
        .path
        .segments
        .first()
        .is_some_and(|s| s.ident == "Self")
    {
        return Err(syn::Error::new_spanned(
            expr,
            "name the constant or function by a path outside the impl block, \
             such as `MAX_AGE` or `crate::api::MAX_AGE`, not through `Self`",
        ));
    }
    Ok(Some(quote!(#path)))
}

fn max_age(expr: &Expr) -> syn::Result<TokenStream> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(int), ..
    }) = expr
    {
        if matches!(int.suffix(), "" | "u64") {
            let seconds: u64 = int.base10_parse()?;
            return Ok(quote_spanned!(int.span()=> #seconds));
        }
    }
    value_path(expr)?.ok_or_else(|| syn::Error::new_spanned(expr, MAX_AGE_USAGE))
}

fn acr(expr: &Expr) -> syn::Result<TokenStream> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if !text.value().trim().is_empty() => Ok(quote!(#text)),
        _ => value_path(expr)?.ok_or_else(|| syn::Error::new_spanned(expr, ACR_USAGE)),
    }
}

fn provider(expr: &Expr) -> syn::Result<TokenStream> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) if is_provider_name(&name.value()) => Ok(quote!(#name)),
        _ => Err(syn::Error::new_spanned(expr, PROVIDER_USAGE)),
    }
}

/// A provider's name as the library takes it: 1 to 32 letters, digits,
/// `-` or `_`.
fn is_provider_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
