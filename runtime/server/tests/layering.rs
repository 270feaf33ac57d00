//! Every arrow between modules runs one way: no module of the server or of the storage crate
//! reaches, directly or through others, back into one that reaches it. Read from the sources
//! (`crate::module` paths outside the unit tests), so a new circle fails here with its modules
//! named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules of a crate: name (`api::invoke`) → source with comments and unit tests cut.
/// Modules declared under `#[cfg(test)]` (test helpers, conformance suites) are left out.
#[derive(Debug, Default)]
struct Crate {
    modules: BTreeMap<String, String>,
    /// Names the crate root re-exports (`pub use module::Name;`) → the module they come from.
    reexports: BTreeMap<String, String>,
}

fn read_crate(src: &Path) -> Crate {
    let mut krate = Crate::default();
    let root = strip_comments(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut pending: Vec<(String, PathBuf)> = declared(&root)
        .into_iter()
        .map(|child| (child.clone(), src.to_path_buf()))
        .collect();
    krate.reexports = reexports(&root);
    while let Some((name, dir)) = pending.pop() {
        let leaf = name.rsplit("::").next().unwrap_or(&name).to_owned();
        let (file, own_dir) = if dir.join(format!("{leaf}.rs")).is_file() {
            (dir.join(format!("{leaf}.rs")), dir.join(&leaf))
        } else {
            (dir.join(&leaf).join("mod.rs"), dir.join(&leaf))
        };
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let text = strip_comments(&text);
        for child in declared(&text) {
            pending.push((format!("{name}::{child}"), own_dir.clone()));
        }
        krate.modules.insert(name, cut_tests(&text));
    }
    krate
}

/// The text without `//` and `/* */` comments (doc comments included).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |at| &after[at..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |at| &after[at + 2..]);
        } else if rest.starts_with('"') {
            // A string literal, kept whole (it may hold `//`).
            let mut end = 1;
            let bytes = rest.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The text before the first `#[cfg(test)]` item that is a module (a file's unit tests).
fn cut_tests(text: &str) -> String {
    let mut at = 0;
    while let Some(found) = text[at..].find("#[cfg(test)]") {
        let start = at + found;
        let after = text[start + "#[cfg(test)]".len()..].trim_start();
        let after = skip_attributes(after);
        if after.starts_with("mod ") || after.starts_with("pub mod ") {
            return text[..start].to_owned();
        }
        at = start + 1;
    }
    text.to_owned()
}

fn skip_attributes(mut text: &str) -> &str {
    while text.starts_with("#[") {
        text = text.find(']').map_or("", |at| text[at + 1..].trim_start());
    }
    text
}

/// Child modules declared in a file (`mod x;`, `pub mod x;`), except those under
/// `#[cfg(test)]`.
fn declared(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let decl = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .or_else(|| line.strip_prefix("mod "));
        let Some(name) = decl.and_then(|d| d.strip_suffix(';')) else {
            continue;
        };
        let test_only = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("#["))
            .any(|l| l.starts_with("#[cfg(test)]"));
        if !test_only {
            out.push(name.trim().to_owned());
        }
    }
    out
}

/// `pub use module::{A, B as C};` and `pub use module::A;` in the crate root.
fn reexports(root: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for statement in root.split(';') {
        let Some(tree) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        for path in expand(&tokens(tree)) {
            if path.len() >= 2 {
                let name = path.last().unwrap().clone();
                out.insert(name, path[0].clone());
            }
        }
    }
    out
}

/// Identifiers and the punctuation of paths.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            if matches!(c, '{' | '}' | ',') {
                out.push(c.to_string());
            } else if !c.is_whitespace() {
                out.push(" ".into());
            }
            i += 1;
        }
    }
    out
}

/// Every full path of a use tree or path expression starting at `tokens[0]`: `a::b::{c, d::{e,
/// f}}` gives `a::b::c`, `a::b::d::e`, `a::b::d::f`.
fn expand(tokens: &[String]) -> Vec<Vec<String>> {
    fn tree(tokens: &[String], at: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        loop {
            match tokens.get(*at).map(String::as_str) {
                Some("{") => {
                    *at += 1;
                    loop {
                        tree(tokens, at, &path, out);
                        match tokens.get(*at).map(String::as_str) {
                            Some(",") => *at += 1,
                            Some("}") => {
                                *at += 1;
                                return;
                            }
                            _ => return,
                        }
                        if tokens.get(*at).map(String::as_str) == Some("}") {
                            *at += 1;
                            return;
                        }
                    }
                }
                Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    path.push(t.to_owned());
                    *at += 1;
                    if tokens.get(*at).map(String::as_str) == Some("::") {
                        *at += 1;
                        continue;
                    }
                    // `a as b`: the alias is not part of the path.
                    if tokens.get(*at).map(String::as_str) == Some("as") {
                        *at += 2;
                    }
                    out.push(path);
                    return;
                }
                _ => {
                    if path.len() > prefix.len() {
                        out.push(path);
                    }
                    return;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut at = 0;
    tree(tokens, &mut at, &[], &mut out);
    out
}

/// The modules each module reaches: through `crate::`, `super::`, `self::` and its own child
/// modules, grouped and nested imports included, and names the crate root re-exports.
fn edges(krate: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let modules = &krate.modules;
    let longest = |segments: &[String]| -> Option<String> {
        (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut out = BTreeMap::new();
    for (name, text) in modules {
        let toks = tokens(text);
        let here: Vec<String> = name.split("::").map(str::to_owned).collect();
        let mut deps = BTreeSet::new();
        for i in 0..toks.len() {
            let starts_path = toks.get(i + 1).map(String::as_str) == Some("::")
                && (i == 0 || toks[i - 1] != "::");
            if !starts_path {
                continue;
            }
            for path in expand(&toks[i..]) {
                let (base, rest): (Vec<String>, &[String]) = match path[0].as_str() {
                    "crate" => (Vec::new(), &path[1..]),
                    "self" => (here.clone(), &path[1..]),
                    "super" => {
                        let mut base = here.clone();
                        let mut rest = &path[..];
                        while rest.first().map(String::as_str) == Some("super") {
                            base.pop();
                            rest = &rest[1..];
                        }
                        (base, rest)
                    }
                    _ => {
                        // A child module named from its parent (`log::lock` where `mod log;`).
                        let child = [here.clone(), vec![path[0].clone()]].concat().join("::");
                        if modules.contains_key(&child) {
                            (here.clone(), &path[..])
                        } else {
                            continue;
                        }
                    }
                };
                let full: Vec<String> = base.iter().chain(rest).cloned().collect();
                let target = longest(&full).or_else(|| {
                    // `crate::Name` for a name the root re-exports.
                    (base.is_empty() && rest.len() == 1)
                        .then(|| krate.reexports.get(&rest[0]).cloned())
                        .flatten()
                        .filter(|m| modules.contains_key(m))
                });
                if let Some(m) = target {
                    deps.insert(m);
                }
            }
        }
        // A module's own ancestors are where it is declared, not what it imports.
        deps.remove(name);
        out.insert(name.clone(), deps);
    }
    out
}

/// The circles: strongly connected sets of more than one module (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut set = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    set.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if set.len() > 1 {
                    set.sort();
                    self.found.push(set);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

/// A crate written for the test, in a temporary directory.
fn made(files: &[(&str, &str)]) -> (PathBuf, Crate) {
    let dir = std::env::temp_dir().join(format!(
        "cordon-layering-{}-{}",
        std::process::id(),
        files.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let krate = read_crate(&dir);
    (dir, krate)
}

#[test]
fn the_checker_sees_every_way_a_module_reaches_another() {
    let (dir, krate) = made(&[
        (
            "lib.rs",
            "//! crate::b is only a comment\npub mod a;\nmod b;\nmod c;\nmod d;\nmod e;\npub mod p;\n#[cfg(test)]\nmod helpers;\npub use d::Thing;\n",
        ),
        // Nested groups.
        ("a.rs", "use crate::{c, p::{q::X, r}};\n"),
        // A root re-export; a string holding `//`.
        ("b.rs", "const U: &str = \"http://x\"; use crate::Thing;\n"),
        ("c.rs", "// use crate::a;\n/* crate::a */\n"),
        (
            "d.rs",
            "pub struct Thing;\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        ),
        ("e.rs", "fn f() { crate::b::g() }\n"),
        // A parent naming its child, a child reaching its parent through `super`.
        ("p/mod.rs", "mod q;\npub mod r;\nfn f() { q::g() }\n"),
        ("p/q.rs", "use super::r;\n"),
        ("p/r.rs", "use super::super::e;\n"),
        ("helpers.rs", "use crate::a;\n"),
    ]);
    assert_eq!(
        krate.modules.keys().collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e", "p", "p::q", "p::r"]
    );
    let graph = edges(&krate);
    let of = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
    assert_eq!(of("a"), ["c", "p::q", "p::r"]);
    assert_eq!(of("b"), ["d"]);
    assert!(of("c").is_empty() && of("d").is_empty());
    assert_eq!(of("e"), ["b"]);
    assert_eq!(of("p"), ["p::q"]);
    assert_eq!(of("p::q"), ["p::r"]);
    assert_eq!(of("p::r"), ["e"]);
    assert!(circles(&graph).is_empty());
    let _ = std::fs::remove_dir_all(dir);

    // A circle through a child and its parent, and one through a re-export.
    let (dir, krate) = made(&[
        ("lib.rs", "mod x;\nmod y;\nmod z;\npub use z::Z;\n"),
        ("x/mod.rs", "mod inner;\nfn f() { inner::g() }\n"),
        ("x/inner.rs", "use super::h;\n"),
        ("y.rs", "use crate::Z;\n"),
        ("z.rs", "pub struct Z;\nfn f() { crate::y::g() }\n"),
    ]);
    assert_eq!(
        circles(&edges(&krate)),
        vec![vec!["x", "x::inner"], vec!["y", "z"]]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_module_of_the_server_or_the_storage_reaches_back_into_itself() {
    for krate in ["server", "storage"] {
        let read = read_crate(&crate_src(krate));
        assert!(
            read.modules.len() > 10,
            "{krate}: {} modules read",
            read.modules.len()
        );
        let graph = edges(&read);
        // The graph is real: the state reads the journal, the journal never the audit log.
        if krate == "server" {
            assert!(
                graph["state"].contains("record::journal"),
                "{:?}",
                graph["state"]
            );
            assert!(
                graph["router"].contains("api::invoke"),
                "{:?}",
                graph["router"]
            );
            assert!(!graph["record::journal"].contains("record::audit_log"));
            assert!(!graph["record::audit_log"].contains("record::journal"));
        } else {
            assert!(graph["pg"].contains("pg::log"), "{:?}", graph["pg"]);
            assert!(graph["backend"].contains("error"), "{:?}", graph["backend"]);
        }
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "import circles in runtime/{krate}: {found:?} (move what they share into a module below both)"
        );
    }
}
