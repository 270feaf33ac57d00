//! Every arrow between modules runs one way: no module of the server or of the storage crate
//! reaches, directly or through others, back into one that reaches it. Read from the sources
//! (`crate::module` paths outside the unit tests), so a new circle fails here with its modules
//! named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name (`api::invoke`) → the source text that counts (unit tests cut off).
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel: PathBuf = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = parts.join("::");
            if name == "lib" || name == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            out.insert(name, text);
        }
    }
    out
}

/// The modules each one names through `crate::...`, grouped imports included.
fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let known = |path: &str| -> Option<String> {
        let segments: Vec<&str> = path.split("::").collect();
        (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut out = BTreeMap::new();
    for (name, text) in modules {
        let mut deps = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for item in inner.split(',') {
                    if let Some(m) = known(item.trim()) {
                        deps.insert(m);
                    }
                }
                continue;
            }
            let path: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if let Some(m) = known(path.trim_end_matches(':')) {
                deps.insert(m);
            }
        }
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

#[test]
fn the_checker_finds_a_circle_through_grouped_imports_and_ignores_unit_tests() {
    let made = BTreeMap::from([
        ("a".to_owned(), "use crate::{b::Thing, c};".to_owned()),
        ("b".to_owned(), "fn f() { crate::d::g() }".to_owned()),
        ("c".to_owned(), String::new()),
        ("d".to_owned(), "use crate::a::X;".to_owned()),
        ("e".to_owned(), "use crate::c;".to_owned()),
    ]);
    let found = circles(&edges(&made));
    assert_eq!(found, vec![vec!["a", "b", "d"]]);
    let dir = std::env::temp_dir().join(format!("cordon-layering-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("x")).unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::x::y;\n").unwrap();
    std::fs::write(
        dir.join("x/y.rs"),
        "pub fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("x/mod.rs"), "pub mod y;\n").unwrap();
    let read = modules(&dir);
    assert_eq!(read.keys().collect::<Vec<_>>(), ["a", "x", "x::y"]);
    assert!(circles(&edges(&read)).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_module_of_the_server_or_the_storage_reaches_back_into_itself() {
    for krate in ["server", "storage"] {
        let read = modules(&crate_src(krate));
        assert!(read.len() > 10, "{krate}: {} modules read", read.len());
        let graph = edges(&read);
        // The graph is real: the state reads the journal, the journal never the audit log.
        if krate == "server" {
            assert!(graph["state"].contains("journal"), "{:?}", graph["state"]);
            assert!(!graph["journal"].contains("audit_log"));
            assert!(!graph["audit_log"].contains("journal"));
        }
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "import circles in runtime/{krate}: {found:?} (move what they share into a module below both)"
        );
    }
}
