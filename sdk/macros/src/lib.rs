//! `#[cordon_sdk::tool]` turns one function `fn(Input) -> Result<Output, cordon_sdk::Error>`
//! into a tool of the component's `cordon:tool/tool@0.2.0` export; `cordon_sdk::toolbox!`
//! exports several. See the `cordon-sdk` crate for the contract.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::{Ident, ItemFn, LitBool, LitStr, Token, parse_macro_input};

/// Declares the annotated function a tool of this component.
///
/// Arguments (all optional): `description = "..."` (default: the crate's description),
/// `name = "..."` (default: the crate's name; in a toolbox, the function's), `version = "..."` (default: the crate's
/// version; a component's tools share one), `input_schema = "..."` (a JSON Schema written out,
/// instead of the one derived from the input type), `title = "..."` (a name for people),
/// `task = "forbidden" | "optional" | "required"` (how MCP clients that take tasks get its calls;
/// default `optional`), the hints `read_only`, `destructive`, `idempotent` and `open_world`
/// (`= true` or `= false`; a client's hints, never trusted by the host), and `toolbox`: the
/// component exports the tools listed in `cordon_sdk::toolbox!(...)` instead of this one alone.
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut name: Option<LitStr> = None;
    let mut version: Option<LitStr> = None;
    let mut description: Option<LitStr> = None;
    let mut input_schema: Option<LitStr> = None;
    let mut title: Option<LitStr> = None;
    let mut task: Option<LitStr> = None;
    let mut hints: Vec<(Ident, LitBool)> = Vec::new();
    let mut in_toolbox = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("toolbox") {
            in_toolbox = true;
            return Ok(());
        }
        for hint in ["read_only", "destructive", "idempotent", "open_world"] {
            if meta.path.is_ident(hint) {
                let value: LitBool = meta.value()?.parse()?;
                hints.push((Ident::new(hint, proc_macro2::Span::call_site()), value));
                return Ok(());
            }
        }
        let slot = if meta.path.is_ident("name") {
            &mut name
        } else if meta.path.is_ident("version") {
            &mut version
        } else if meta.path.is_ident("description") {
            &mut description
        } else if meta.path.is_ident("input_schema") {
            &mut input_schema
        } else if meta.path.is_ident("title") {
            &mut title
        } else if meta.path.is_ident("task") {
            &mut task
        } else {
            return Err(meta.error(
                "expected `name`, `version`, `description`, `title`, `input_schema`, `task`, \
                 `read_only`, `destructive`, `idempotent`, `open_world` or `toolbox`",
            ));
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
    if in_toolbox && version.is_some() {
        return syn::Error::new_spanned(
            &func.sig,
            "the tools of a toolbox share the crate's version: drop `version` here",
        )
        .to_compile_error()
        .into();
    }
    let ident = &func.sig.ident;
    let entry = entry_ident(ident);
    let or_env = |lit: Option<LitStr>, var: &str| match lit {
        Some(l) => quote!(#l),
        None => quote!(env!(#var)),
    };
    // A toolbox's tools are named like their functions; a component's one tool like the crate.
    let name = match (name, in_toolbox) {
        (None, true) => {
            let named = LitStr::new(&ident.to_string(), ident.span());
            quote!(#named)
        }
        (name, _) => or_env(name, "CARGO_PKG_NAME"),
    };
    let version = or_env(version, "CARGO_PKG_VERSION");
    let description = or_env(description, "CARGO_PKG_DESCRIPTION");

    // A schema written out replaces the derived one (kept as written: every keyword).
    let schema = match &input_schema {
        Some(text) => quote!(::std::option::Option::Some(#text)),
        None => quote!(::std::option::Option::None),
    };
    let title = match &title {
        Some(text) => quote!(::std::option::Option::Some(#text)),
        None => quote!(::std::option::Option::None),
    };
    let task_support = match task.as_ref().map(LitStr::value).as_deref() {
        None | Some("optional") => quote!(Optional),
        Some("forbidden") => quote!(Forbidden),
        Some("required") => quote!(Required),
        Some(_) => {
            return syn::Error::new_spanned(
                task,
                "`task` is \"forbidden\", \"optional\" or \"required\"",
            )
            .to_compile_error()
            .into();
        }
    };
    let hints = if hints.is_empty() {
        quote!(::std::option::Option::None)
    } else {
        let set = hints
            .iter()
            .map(|(name, value)| quote!(#name: ::std::option::Option::Some(#value)));
        quote!(::std::option::Option::Some(::cordon_sdk::__private::Hints {
            #(#set,)*
            ..::cordon_sdk::__private::no_hints()
        }))
    };
    let declared = quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        const #entry: ::cordon_sdk::__private::Entry = ::cordon_sdk::__private::Entry {
            name: #name,
            info: || ::cordon_sdk::__private::info(#ident, #name, #description, ::cordon_sdk::__private::Declared {
                title: #title,
                input_schema: #schema,
                hints: #hints,
                task_support: ::cordon_sdk::__private::TaskSupport::#task_support,
            }),
            call: |input| ::cordon_sdk::__private::call(#ident, input),
        };
    };
    if in_toolbox {
        return declared.into();
    }
    // One tool: the component is named, versioned and described like it.
    let export = export(
        quote!(#name),
        quote!(#version),
        quote!(#description),
        &[entry],
    );
    quote!(#declared #export).into()
}

/// What `toolbox!` is given: an optional `name = "..."` (default: the crate's name) and
/// `description = "..."`, each followed by `;`, then the tools.
struct ToolboxArgs {
    name: Option<LitStr>,
    description: Option<LitStr>,
    tools: Punctuated<Ident, Token![,]>,
}

impl syn::parse::Parse for ToolboxArgs {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let (mut name, mut description) = (None, None);
        while input.peek(Ident) && input.peek2(Token![=]) {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: LitStr = input.parse()?;
            input.parse::<Token![;]>()?;
            match key.to_string().as_str() {
                "name" => name = Some(value),
                "description" => description = Some(value),
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        "expected `name` or `description`",
                    ));
                }
            }
        }
        Ok(ToolboxArgs {
            name,
            description,
            tools: Punctuated::parse_terminated(input)?,
        })
    }
}

/// Exports the listed `#[tool(toolbox)]` functions as this component's tools, under the
/// crate's name, version and description: `cordon_sdk::toolbox!(first, second)`, or
/// `cordon_sdk::toolbox!(name = "kit"; description = "..."; first, second)`.
#[proc_macro]
pub fn toolbox(input: TokenStream) -> TokenStream {
    let ToolboxArgs {
        name,
        description,
        tools,
    } = parse_macro_input!(input as ToolboxArgs);
    if tools.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "list the toolbox's tools: `cordon_sdk::toolbox!(first, second)`",
        )
        .to_compile_error()
        .into();
    }
    let entries: Vec<Ident> = tools.iter().map(entry_ident).collect();
    let name = name.map_or_else(|| quote!(env!("CARGO_PKG_NAME")), |n| quote!(#n));
    let description =
        description.map_or_else(|| quote!(env!("CARGO_PKG_DESCRIPTION")), |d| quote!(#d));
    export(
        name,
        quote!(env!("CARGO_PKG_VERSION")),
        description,
        &entries,
    )
    .into()
}

fn entry_ident(tool: &Ident) -> Ident {
    format_ident!("__cordon_tool_{}", tool)
}

fn export(
    name: proc_macro2::TokenStream,
    version: proc_macro2::TokenStream,
    description: proc_macro2::TokenStream,
    entries: &[Ident],
) -> proc_macro2::TokenStream {
    quote! {
        #[doc(hidden)]
        struct __CordonToolExport;

        impl ::cordon_sdk::__private::Guest for __CordonToolExport {
            fn describe() -> ::cordon_sdk::__private::Toolbox {
                ::cordon_sdk::__private::toolbox(#name, #version, #description, &[#(#entries),*])
            }
            fn call(
                name: ::std::string::String,
                input: ::std::string::String,
                context: ::cordon_sdk::__private::CallContext,
            ) -> ::std::result::Result<::cordon_sdk::__private::WitReply, ::cordon_sdk::__private::WitError>
            {
                ::cordon_sdk::__private::dispatch(&[#(#entries),*], &name, &input, context)
            }
        }

        ::cordon_sdk::__private::export!(__CordonToolExport with_types_in ::cordon_sdk::__private::bindings);
    }
}
