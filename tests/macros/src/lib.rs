//! `#[test]` for the integration tests (`tests/it`), which run under their own harness
//! (`tests/it/support/runner.rs`) so that a test that cannot run here is reported as
//! skipped, with what it needs, instead of a bare `ok`.
//!
//! Each test module imports this attribute (`use crate::support::test;`), which shadows
//! the built-in `#[test]`: the function is kept as written and registered with the harness
//! under its module path.

use proc_macro::{TokenStream, TokenTree};

#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return compile_error("#[test] takes no arguments here");
    }
    let mut tokens = item.clone().into_iter();
    let mut name = None;
    while let Some(token) = tokens.next() {
        if matches!(&token, TokenTree::Ident(i) if i.to_string() == "fn") {
            if let Some(TokenTree::Ident(ident)) = tokens.next() {
                name = Some(ident.to_string());
            }
            break;
        }
    }
    let Some(name) = name else {
        return compile_error("#[test] goes on a function");
    };
    let register: TokenStream = format!(
        "::inventory::submit! {{ crate::support::runner::Test {{ \
             module: module_path!(), name: \"{name}\", run: {name} }} }}"
    )
    .parse()
    .expect("registration tokens");
    let mut out = item;
    out.extend(register);
    out
}

fn compile_error(message: &str) -> TokenStream {
    format!("compile_error!({message:?});")
        .parse()
        .expect("compile_error tokens")
}
