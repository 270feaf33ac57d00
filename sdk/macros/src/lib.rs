//! `#[cordon_sdk::tool]`: turns one function `fn(Input) -> Result<Output, cordon_sdk::Error>`
//! into the component's `cordon:tool/tool` export. See the `cordon-sdk` crate for the contract.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{ItemFn, LitStr, parse_macro_input};

/// Exports the annotated function as the tool of this component.
///
/// Arguments (all optional): `description = "..."` (default: the crate's description),
/// `name = "..."` (default: the crate's name), `version = "..."` (default: the crate's version).
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut name: Option<LitStr> = None;
    let mut version: Option<LitStr> = None;
    let mut description: Option<LitStr> = None;
    let parser = syn::meta::parser(|meta| {
        let slot = if meta.path.is_ident("name") {
            &mut name
        } else if meta.path.is_ident("version") {
            &mut version
        } else if meta.path.is_ident("description") {
            &mut description
        } else {
            return Err(meta.error("expected `name`, `version` or `description`"));
        };
        *slot = Some(meta.value()?.parse()?);
        Ok(())
    });
    parse_macro_input!(args with parser);
    let func = parse_macro_input!(item as ItemFn);

    if func.sig.inputs.len() != 1 || func.sig.asyncness.is_some() {
        return syn::Error::new_spanned(
            &func.sig,
            "a cordon tool is `fn name(input: Input) -> Result<Output, cordon_sdk::Error>`",
        )
        .to_compile_error()
        .into();
    }
    let ident = &func.sig.ident;
    let export_ty = format_ident!("__CordonToolExport");
    let or_env = |lit: Option<LitStr>, var: &str| match lit {
        Some(l) => quote!(#l),
        None => quote!(env!(#var)),
    };
    let name = or_env(name, "CARGO_PKG_NAME");
    let version = or_env(version, "CARGO_PKG_VERSION");
    let description = or_env(description, "CARGO_PKG_DESCRIPTION");

    quote! {
        #func

        #[doc(hidden)]
        struct #export_ty;

        impl ::cordon_sdk::__private::Guest for #export_ty {
            fn describe() -> ::cordon_sdk::__private::Info {
                ::cordon_sdk::__private::describe(#ident, #name, #version, #description)
            }
            fn call(input: ::std::string::String)
                -> ::std::result::Result<::std::string::String, ::cordon_sdk::__private::WitError>
            {
                ::cordon_sdk::__private::call(#ident, &input)
            }
        }

        ::cordon_sdk::__private::export!(#export_ty with_types_in ::cordon_sdk::__private::bindings);
    }
    .into()
}
