//! No import circles between the server's modules.
//!
//! Reads every file under `src/`, collects the modules each one names
//! (`crate::a::b`, `super::c`, grouped `use` trees expanded), and fails if
//! the graph of "file A uses module B" has a cycle. A module containing
//! another (a `mod.rs` re-exporting its children) is not an import; a child
//! using its parent is. Test modules (`#[cfg(test)] mod tests`) and comments
//! are left out: they are not part of the shipped dependency structure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path below the crate root, e.g. `["storage", "sqlite"]`.
type ModulePath = Vec<String>;

fn source_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// `storage/mod.rs` → `storage`; `storage/sqlite.rs` → `storage::sqlite`;
/// `lib.rs` → the root.
fn module_of(src: &Path, file: &Path) -> ModulePath {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModulePath = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The file's text without comments and without its test module.
fn shipped_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        let without_comment = match trimmed.find("//") {
            Some(at) => &trimmed[..at],
            None => trimmed,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

/// Expands a `use` tree such as `a::{b, c::{d, e}}` into its paths.
fn expand_tree(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::").to_owned();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|part| !part.trim().is_empty())
        .flat_map(expand_tree)
        .map(|path| {
            if prefix.is_empty() {
                path
            } else {
                format!("{prefix}::{path}")
            }
        })
        .collect()
}

/// Every path the code names starting at `crate::` or `super::`, with
/// grouped trees expanded, as absolute module paths (items included).
fn named_paths(code: &str, module: &ModulePath) -> Vec<ModulePath> {
    let mut paths = Vec::new();
    for anchor in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().last();
            rest = &rest[at..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                rest = &rest[anchor.len()..];
                continue;
            }
            // The path runs to the end of its brace group, or to the first
            // character that cannot be in a path.
            let mut end = 0;
            let mut depth = 0;
            for (index, c) in rest.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = index + 1;
                            break;
                        }
                    }
                    c if depth > 0 || c.is_alphanumeric() || c == '_' || c == ':' => {}
                    _ => break,
                }
                end = index + c.len_utf8();
            }
            let text = &rest[..end];
            rest = &rest[end.max(anchor.len())..];
            for path in expand_tree(text) {
                let mut segments = path.split("::").map(str::trim).filter(|s| !s.is_empty());
                let mut absolute: ModulePath = Vec::new();
                match segments.next() {
                    Some("crate") => {}
                    Some("super") => {
                        // The parent of this file's module (`a/mod.rs` is
                        // module `a` itself, so the rule is the same).
                        absolute = module.clone();
                        absolute.pop();
                    }
                    _ => continue,
                }
                for segment in segments {
                    if segment == "super" {
                        absolute.pop();
                    } else if segment != "self" {
                        absolute.push(segment.to_owned());
                    }
                }
                paths.push(absolute);
            }
        }
    }
    paths
}

/// The longest module that is a prefix of `path`.
fn owning_module(path: &ModulePath, modules: &BTreeSet<ModulePath>) -> Option<ModulePath> {
    (0..=path.len())
        .rev()
        .map(|len| path[..len].to_vec())
        .find(|prefix| modules.contains(prefix))
}

fn graph() -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    // main.rs is the binary, a crate of its own.
    files.retain(|file| file.file_name().is_some_and(|name| name != "main.rs"));
    let modules: BTreeSet<ModulePath> = files.iter().map(|file| module_of(&src, file)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let code = shipped_code(&std::fs::read_to_string(file).unwrap());
        let used: BTreeSet<ModulePath> = named_paths(&code, &module)
            .iter()
            .filter_map(|path| owning_module(path, &modules))
            // Itself, or a module it contains: not an import.
            .filter(|target| !target.starts_with(&module))
            .collect();
        edges.insert(module, used);
    }
    edges
}

/// One cycle of the graph, if any (depth-first search).
fn find_cycle(edges: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Option<Vec<ModulePath>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &ModulePath,
        edges: &BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        marks: &mut BTreeMap<ModulePath, Mark>,
        stack: &mut Vec<ModulePath>,
    ) -> Option<Vec<ModulePath>> {
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match marks.get(next) {
                Some(Mark::Open) => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, marks, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if !marks.contains_key(node) {
            if let Some(cycle) = visit(node, edges, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

fn show(path: &ModulePath) -> String {
    if path.is_empty() {
        "crate".into()
    } else {
        path.join("::")
    }
}

/// Every circle, one per group of modules that reach each other: cut the
/// edges of each circle found and search again.
fn all_cycles(edges: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<String> {
    let mut edges = edges.clone();
    let mut found = Vec::new();
    while let Some(cycle) = find_cycle(&edges) {
        found.push(cycle.iter().map(show).collect::<Vec<_>>().join(" → "));
        for pair in cycle.windows(2) {
            if let Some(targets) = edges.get_mut(&pair[0]) {
                targets.remove(&pair[1]);
            }
        }
    }
    found
}

#[test]
fn the_server_modules_import_each_other_without_a_circle() {
    let edges = graph();
    assert!(edges.len() > 20, "found only {} modules", edges.len());
    let cycles = all_cycles(&edges);
    assert!(cycles.is_empty(), "import circles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_a_circle_and_expands_use_trees() {
    let module = vec!["services".to_owned(), "commit".to_owned()];
    let paths = named_paths(
        "use crate::{session::Session, storage::{ItemStore, sqlite::SqliteStorage}};\nuse super::participants::x;",
        &module,
    );
    let shown: Vec<String> = paths.iter().map(show).collect();
    assert_eq!(
        shown,
        [
            "session::Session",
            "storage::ItemStore",
            "storage::sqlite::SqliteStorage",
            "services::participants::x",
        ]
    );
    let a = vec!["a".to_owned()];
    let b = vec!["b".to_owned()];
    let c = vec!["c".to_owned()];
    let mut edges = BTreeMap::new();
    edges.insert(a.clone(), BTreeSet::from([b.clone()]));
    edges.insert(b.clone(), BTreeSet::from([c.clone()]));
    edges.insert(c.clone(), BTreeSet::new());
    assert_eq!(find_cycle(&edges), None);
    edges.insert(c.clone(), BTreeSet::from([a.clone()]));
    assert_eq!(find_cycle(&edges), Some(vec![a.clone(), b, c, a]));
}
