//! `namespace!`: parse → validate → expand.
//!
//! ```text
//! namespace!(pub SYSTEM = "system");
//! namespace!(pub PROVIDER = "provider" in SYSTEM);
//! namespace! {
//!     /// Docs carry over.
//!     pub AUDIO = "app.audio";
//!     pub MIXER = "mixer" in AUDIO;
//! }
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitStr, Token, Visibility};

use crate::attr::Errors;
use crate::krate;
use crate::names::{validate_name, validate_segment};

/// One declaration: `#[attrs] vis IDENT = "name" [in PARENT]`.
struct Decl {
    attrs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    name: LitStr,
    parent: Option<syn::Path>,
}

struct Decls(Vec<Decl>);

impl Parse for Decl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let ident: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let name: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the namespace name as a string literal: `NAME = \"name\"`",
            )
        })?;
        let parent = if input.peek(Token![in]) {
            input.parse::<Token![in]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Decl { attrs, vis, ident, name, parent })
    }
}

impl Parse for Decls {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut out = Vec::new();
        while !input.is_empty() {
            out.push(input.parse()?);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![;]>()?;
        }
        if out.is_empty() {
            return Err(input.error("expected a namespace declaration: `pub NAME = \"name\"`"));
        }
        Ok(Decls(out))
    }
}

pub(crate) fn namespace(input: TokenStream) -> TokenStream {
    let decls: Decls = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    for d in &decls.0 {
        let value = d.name.value();
        let check =
            if d.parent.is_some() { validate_segment(&value) } else { validate_name(&value) };
        if let Err(msg) = check {
            errors.at(d.name.span(), format!("invalid namespace name `{value}`: {msg}"));
        }
    }
    if !errors.is_empty() {
        return errors.to_compile_errors();
    }
    let krate = krate::default_path();
    let items = decls.0.iter().map(|d| {
        let Decl { attrs, vis, ident, name, parent } = d;
        let init = match parent {
            None => quote!(#krate::Namespace::new(#name)),
            Some(p) => {
                let parent_ref = quote_spanned!(p.span()=> &#p);
                quote!(#krate::Namespace::nested(#parent_ref, #name))
            }
        };
        quote! {
            #(#attrs)*
            #vis static #ident: #krate::Namespace = #init;
            #krate::__private::inventory::submit! {
                #krate::__private::NamespaceDecl(&#ident)
            }
        }
    });
    quote!(#(#items)*)
}
