//! Option parsing shared by the attribute macros: `key = value` pairs and
//! bare flags, with unknown and duplicate keys reported at their span.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitStr, Meta, Token, UnOp};

/// Collects errors; turns them into one token stream of `compile_error!`s.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.0.as_ref().map(syn::Error::to_compile_error).unwrap_or_default()
    }
}

/// One parsed option: its key and the meta it came from.
pub(crate) struct Opt {
    pub(crate) key: String,
    pub(crate) meta: Meta,
}

/// Parses `a = 1, b, c = "x"` into options, reporting keys not in `known`
/// and keys given twice.
pub(crate) fn parse_options(
    args: TokenStream,
    known: &[&str],
    what: &str,
    errors: &mut Errors,
) -> Vec<Opt> {
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(m) => m,
        Err(e) => {
            errors.push(e);
            return Vec::new();
        }
    };
    let mut out: Vec<Opt> = Vec::new();
    for meta in metas {
        let path = meta.path();
        let key = path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        if !known.contains(&key.as_str()) {
            errors.at(
                path.span(),
                format!(
                    "unknown {what} option `{}`; expected one of: {}",
                    quote::quote!(#path).to_string().replace(' ', ""),
                    known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ),
            );
            continue;
        }
        if out.iter().any(|o| o.key == key) {
            errors.at(path.span(), format!("duplicate {what} option `{key}`"));
            continue;
        }
        out.push(Opt { key, meta });
    }
    out
}

impl Opt {
    /// The span of the value (or of the key, for a flag).
    pub(crate) fn value_span(&self) -> Span {
        match &self.meta {
            Meta::NameValue(nv) => nv.value.span(),
            other => other.span(),
        }
    }

    /// The value of `key = value`, or an error for a bare `key`.
    pub(crate) fn value(&self, errors: &mut Errors, expected: &str) -> Option<&Expr> {
        match &self.meta {
            Meta::NameValue(nv) => Some(&nv.value),
            other => {
                errors.at(
                    other.span(),
                    format!("`{}` expects a value: `{} = {expected}`", self.key, self.key),
                );
                None
            }
        }
    }

    /// A bare flag; an error if a value was given.
    pub(crate) fn flag(&self, errors: &mut Errors) -> bool {
        match &self.meta {
            Meta::Path(_) => true,
            other => {
                errors.at(
                    other.span(),
                    format!("`{}` is a flag and takes no value: write `{}`", self.key, self.key),
                );
                false
            }
        }
    }

    /// `key = "string"`.
    pub(crate) fn string(&self, errors: &mut Errors) -> Option<LitStr> {
        match self.value(errors, "\"...\"")? {
            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.clone()),
            other => {
                errors.at(other.span(), format!("`{}` expects a string literal", self.key));
                None
            }
        }
    }

    /// `key = path`.
    pub(crate) fn path(&self, errors: &mut Errors) -> Option<syn::Path> {
        match self.value(errors, "path")? {
            Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
            other => {
                errors.at(other.span(), format!("`{}` expects a path", self.key));
                None
            }
        }
    }

    /// `key = <integer literal>` (optionally negative), parsed as `T`.
    pub(crate) fn int<T>(&self, errors: &mut Errors, ty: &str) -> Option<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let value = self.value(errors, ty)?;
        let (neg, lit) = match value {
            Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => (false, i),
            Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr, .. }) => match &**expr {
                Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => (true, i),
                _ => {
                    errors.at(
                        value.span(),
                        format!("`{}` expects an integer literal ({ty})", self.key),
                    );
                    return None;
                }
            },
            _ => {
                errors
                    .at(value.span(), format!("`{}` expects an integer literal ({ty})", self.key));
                return None;
            }
        };
        let digits = format!("{}{}", if neg { "-" } else { "" }, lit.base10_digits());
        match digits.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                errors.at(value.span(), format!("`{}` must fit in {ty}: {e}", self.key));
                None
            }
        }
    }
}
