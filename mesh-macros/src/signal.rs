//! `#[signal]`: parse → validate → expand.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Generics, Ident, Item, LitStr};

use crate::attr::{Errors, parse_options};
use crate::krate;
use crate::names::{snake_case, validate_name};

const OPTIONS: &[&str] = &["name", "namespace", "history", "ordered", "crate"];

/// What the attribute said.
struct Args {
    name: Option<LitStr>,
    namespace: Option<syn::Path>,
    history: Option<(usize, Span)>,
    ordered: bool,
    krate: Option<syn::Path>,
}

/// The validated description of one event type.
struct Spec {
    ident: Ident,
    /// The short name (without namespace) and the span to blame for it.
    name: String,
    name_span: Span,
    namespace: Option<syn::Path>,
    history: Option<usize>,
    ordered: bool,
}

pub(crate) fn signal(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_args(args, &mut errors);
    let item: Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            errors.push(e);
            // Not even an item: hand the tokens back so only our error shows.
            let errs = errors.to_compile_errors();
            return quote!(#item #errs);
        }
    };
    let krate = krate::resolve(args.krate.clone());
    let spec = validate(&item, args, &mut errors);
    let errs = errors.to_compile_errors();
    match spec {
        Some(spec) if errors.is_empty() => {
            let expanded = expand(&spec, &krate);
            quote!(#item #expanded)
        }
        // A fallback impl keeps uses of the type from piling up errors.
        Some(spec) => {
            let fallback = fallback(&spec.ident, &krate);
            quote!(#item #fallback #errs)
        }
        None => quote!(#item #errs),
    }
}

fn parse_args(args: TokenStream, errors: &mut Errors) -> Args {
    let mut out = Args { name: None, namespace: None, history: None, ordered: false, krate: None };
    for opt in parse_options(args, OPTIONS, "#[signal]", errors) {
        match opt.key.as_str() {
            "name" => out.name = opt.string(errors),
            "namespace" => out.namespace = opt.path(errors),
            "history" => {
                let span = opt.value_span();
                out.history = opt.int::<usize>(errors, "usize").map(|n| (n, span));
            }
            "ordered" => out.ordered = opt.flag(errors),
            "crate" => out.krate = opt.path(errors),
            _ => {}
        }
    }
    out
}

fn validate(item: &Item, args: Args, errors: &mut Errors) -> Option<Spec> {
    let (ident, generics): (&Ident, &Generics) = match item {
        Item::Struct(s) => (&s.ident, &s.generics),
        Item::Enum(e) => (&e.ident, &e.generics),
        Item::Union(u) => {
            errors.at(
                u.union_token.span(),
                "#[signal] cannot be used on a union: an event payload must be safe to read from \
                 every receiver; use a struct or an enum",
            );
            return None;
        }
        other => {
            errors.at(
                item_keyword_span(other),
                format!("#[signal] applies to a struct or an enum, not {}", describe(other)),
            );
            return None;
        }
    };
    if !generics.params.is_empty() {
        errors.at(
            generics.span(),
            "an event type cannot be generic: each event type has exactly one static signal, \
             so define one concrete type per event",
        );
        return None;
    }
    let (name, name_span) = match &args.name {
        Some(lit) => (lit.value(), lit.span()),
        None => (snake_case(&ident.to_string()), ident.span()),
    };
    if let Err(msg) = validate_name(&name) {
        let msg = if args.name.is_some() {
            format!("invalid signal name `{name}`: {msg}")
        } else {
            format!(
                "the default signal name `{name}` (from the type name) is invalid: {msg}; set one with `name = \"...\"`"
            )
        };
        errors.at(name_span, msg);
    }
    if let Some((0, span)) = args.history {
        errors.at(span, "`history` must be at least 1; omit it to keep no history");
    }
    Some(Spec {
        ident: ident.clone(),
        name,
        name_span,
        namespace: args.namespace,
        history: args.history.map(|(n, _)| n),
        ordered: args.ordered,
    })
}

/// The span of the item's leading keyword (`fn`, `trait`, …), or the call
/// site when there is none.
fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Fn(f) => f.sig.fn_token.span,
        Item::Trait(t) => t.trait_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Mod(m) => m.mod_token.span,
        Item::Type(t) => t.type_token.span,
        Item::Const(c) => c.const_token.span,
        Item::Static(s) => s.static_token.span,
        _ => Span::call_site(),
    }
}

fn describe(item: &Item) -> &'static str {
    match item {
        Item::Fn(_) => "a function",
        Item::Trait(_) => "a trait",
        Item::Impl(_) => "an impl block",
        Item::Mod(_) => "a module",
        Item::Type(_) => "a type alias",
        Item::Const(_) | Item::Static(_) => "a constant or static",
        _ => "this item",
    }
}

fn expand(spec: &Spec, krate: &TokenStream) -> TokenStream {
    let ident = &spec.ident;
    let name = LitStr::new(&spec.name, spec.name_span);
    // The namespace path is checked to be a `Namespace` with its own span,
    // so a wrong path is reported where it was written.
    let namespace = match &spec.namespace {
        Some(path) => {
            let check = quote_spanned!(path.span()=> &#path);
            quote!(const __MESH_NS: &#krate::Namespace = #check; __MESH_NS.name())
        }
        None => quote!(""),
    };
    let mut config = quote!(#krate::SignalConfig::new());
    if spec.ordered {
        config.extend(quote!(.ordered()));
    }
    if let Some(n) = spec.history {
        config.extend(quote!(.history(#n)));
    }
    quote! {
        impl #krate::EventType for #ident {
            const NAME: &'static str = {
                const __MESH_NS_NAME: &str = { #namespace };
                const __MESH_LEN: usize = #krate::__private::joined_len(__MESH_NS_NAME, #name);
                const __MESH_BYTES: [u8; __MESH_LEN] =
                    #krate::__private::join_names::<__MESH_LEN>(__MESH_NS_NAME, #name);
                #krate::__private::utf8(&__MESH_BYTES)
            };

            #[inline]
            fn with_signal<__MeshR>(
                f: impl ::core::ops::FnOnce(&#krate::Signal<Self>) -> __MeshR,
            ) -> __MeshR {
                Self::__mesh_static_signal().with(f)
            }

            #[doc(hidden)]
            #[inline(always)]
            fn __mesh_emit_bits(self) -> u128 {
                Self::__mesh_static_signal().emit_bits(self)
            }
        }

        impl #ident {
            #[doc(hidden)]
            #[inline(always)]
            fn __mesh_static_signal() -> &'static #krate::__private::StaticSignal<Self> {
                fn __mesh_setup(signal: &#krate::Signal<#ident>) {
                    #[allow(unused_imports)]
                    use #krate::__private::{
                        NoDebug as _, NoSerde as _, ViaDebug as _, ViaDeserialize as _,
                        ViaSerialize as _,
                    };
                    let probe = #krate::__private::Probe::<#ident>::new();
                    #krate::__private::setup(
                        signal,
                        (&probe).debug_fn(),
                        (&probe).serialize_fn(),
                        (&probe).deserialize_fn(),
                    );
                }
                static SIGNAL: #krate::__private::StaticSignal<#ident> =
                    #krate::__private::StaticSignal::new(#config, __mesh_setup);
                &SIGNAL
            }
        }
    }
}

/// Emitted next to errors so that uses of the type do not add more.
fn fallback(ident: &Ident, krate: &TokenStream) -> TokenStream {
    let _ = ident.to_token_stream();
    quote! {
        impl #krate::EventType for #ident {
            const NAME: &'static str = "";
            fn with_signal<__MeshR>(
                _: impl ::core::ops::FnOnce(&#krate::Signal<Self>) -> __MeshR,
            ) -> __MeshR {
                ::core::unreachable!("compilation failed: see the #[signal] error")
            }
        }
    }
}
