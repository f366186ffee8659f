//! Reading the kernel's sources for what they register: each
//! `Test { name: "...", run: f }` and the body of `f`.
//!
//! The files are parsed with `syn`, so code written in a comment or a
//! string is never taken for code. The tests that use this (expect_tests.rs
//! and test_bodies.rs) fail loudly when it finds nothing, so a change in the
//! registrations' shape cannot make them pass vacuously.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

/// Every `.rs` file under `dir`, sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).expect("read a source directory");
            stack.extend(entries.map(|e| e.expect("directory entry").path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The parsed source file at `path`.
pub fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).expect("read a source file");
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}

/// Whether `path` ends in `name` (`Test`, `harness::Test`).
pub fn named(path: &syn::Path, name: &str) -> bool {
    path.segments.last().is_some_and(|s| s.ident == name)
}

/// One `Test { name: "...", run: f }` registration.
pub struct Registration {
    pub name: String,
    /// The function's name as written after `run:` (a path if it is one).
    pub run: String,
}

/// What one file registers, in order, and the bodies of the functions it
/// defines, by name (the first one of a name, methods and nested ones too).
#[derive(Default)]
pub struct Source<'a> {
    pub registrations: Vec<Registration>,
    pub fns: HashMap<String, &'a syn::Block>,
}

impl<'a> Source<'a> {
    pub fn of(file: &'a syn::File) -> Self {
        let mut source = Self::default();
        source.visit_file(file);
        source
    }

    fn add_fn(&mut self, name: &syn::Ident, body: &'a syn::Block) {
        self.fns.entry(name.to_string()).or_insert(body);
    }
}

impl<'a> Visit<'a> for Source<'a> {
    /// Only literal names count (`Test { name, run }` built from variables
    /// is not a registration: the kernel's injected tests are made that way
    /// on purpose).
    fn visit_expr_struct(&mut self, e: &'a syn::ExprStruct) {
        let field = |name: &str| {
            e.fields.iter().find_map(|f| match &f.member {
                syn::Member::Named(id) if id == name && f.colon_token.is_some() => Some(&f.expr),
                _ => None,
            })
        };
        if named(&e.path, "Test")
            && let Some(syn::Expr::Lit(literal)) = field("name")
            && let syn::Lit::Str(name) = &literal.lit
        {
            let run = match field("run") {
                Some(syn::Expr::Path(p)) => (p.path.segments.iter())
                    .map(|s| s.ident.to_string())
                    .collect::<Vec<_>>()
                    .join("::"),
                _ => String::new(),
            };
            self.registrations.push(Registration {
                name: name.value(),
                run,
            });
        }
        visit::visit_expr_struct(self, e);
    }

    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        self.add_fn(&f.sig.ident, &f.block);
        visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        self.add_fn(&f.sig.ident, &f.block);
        visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'a syn::TraitItemFn) {
        if let Some(body) = &f.default {
            self.add_fn(&f.sig.ident, body);
        }
        visit::visit_trait_item_fn(self, f);
    }
}
