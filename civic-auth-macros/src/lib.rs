//! The `#[civic_auth_required]` attribute of `civic-auth-poem`. It only
//! parses, checks placement and emits calls into the library; see the
//! library's documentation for how to use it.

mod required;

use proc_macro::TokenStream;

/// Protects a Poem handler: without a logged-in user it answers 401 (API
/// calls) or redirects to the login page (browser navigations); with one,
/// the handler runs and can take `user: CivicUser` or call `get_civic_user()`.
///
/// Write it directly above `#[handler]`.
#[proc_macro_attribute]
pub fn civic_auth_required(args: TokenStream, item: TokenStream) -> TokenStream {
    required::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
