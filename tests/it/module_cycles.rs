//! No import cycles between modules (issue 18): at every level of the crate's module tree — the
//! top-level modules under `src/`, `proxy`'s submodules, and so on down — the "uses" relation
//! between sibling modules must be acyclic, so the tree can be read in one direction.
//!
//! How: every `src/**/*.rs` file of the library (not `main.rs`) is read as text; comments,
//! string and character literals are removed; every path that starts with `crate::` or
//! `super::` (use trees with braces included) is a dependency of the file's module on the module
//! the path names. A dependency of `proxy::failover` on `proxy::meter::x` is the edge
//! `failover → meter` at the `proxy` level; on `analytics::Record`, `proxy → analytics` at the
//! top level. A parent using its child, or a child its parent, is not an edge (only siblings).
//! Paths through a re-export (`crate::proxy::ProxyState`) count for the module that re-exports.
//!
//! Must not: compile or run anything; it is a text check, kept simple enough to trust, and the
//! tests at the bottom plant cycles to prove it finds them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module path from the crate root: `["proxy", "chat"]`; the root is `[]`.
type ModPath = Vec<String>;

/// Where one sibling edge was first seen, for the failure message.
type Edges = BTreeMap<ModPath, BTreeMap<(String, String), String>>;

/// The module a file under `src/` defines: `proxy/egress.rs` and `proxy/egress/mod.rs` →
/// `proxy::egress`; `lib.rs` → the root.
fn module_of(rel: &str) -> ModPath {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The source with comments, string literals and character literals blanked out (newlines kept,
/// so line numbers still hold).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    // Everything skipped becomes spaces, except newlines.
    let blank = |out: &mut String, s: &[u8]| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, 0);
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident(b[i - 1]))
            && raw_string_len(rest).is_some()
        {
            let n = raw_string_len(rest).unwrap();
            blank(&mut out, &rest[..n]);
            i += n;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let n = (j + 1).min(rest.len());
            blank(&mut out, &rest[..n]);
            i += n;
        } else if rest[0] == b'\'' {
            // A character literal ('x', '\n', '\u{..}', '"'); otherwise a lifetime, kept.
            let n = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&c| c == b'\'').map(|p| p + 3)
            } else {
                src[i + 1..]
                    .chars()
                    .next()
                    .map(char::len_utf8)
                    .filter(|&l| rest.get(1 + l) == Some(&b'\''))
                    .map(|l| l + 2)
            };
            let n = n.unwrap_or(1);
            if n == 1 {
                out.push('\'');
            } else {
                blank(&mut out, &rest[..n]);
            }
            i += n;
        } else {
            // One whole character (every construct above ends on an ASCII byte, so `i` is
            // always at a character boundary).
            let len = src[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&src[i..i + len]);
            i += len;
        }
    }
    out
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br"…"`) at the start of `s`.
fn raw_string_len(s: &[u8]) -> Option<usize> {
    let mut j = if s.starts_with(b"br") { 2 } else { 1 };
    let hashes = s[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if s.get(j) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = j + 1;
    s[body..]
        .windows(close.len())
        .position(|w| w == close.as_slice())
        .map(|p| body + p + close.len())
}

/// Identifiers, `::` and single punctuation characters, each with its line.
fn tokens(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = code.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\n' {
            line += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push((code[i..end].to_string(), line));
        } else if c == ':' && chars.peek().map(|&(_, d)| d) == Some(':') {
            chars.next();
            out.push(("::".into(), line));
        } else if !c.is_whitespace() {
            out.push((c.to_string(), line));
        }
    }
    out
}

/// Parses a path or use tree starting at `toks[k]` (after a `::`), appending every full path
/// to `paths`; returns the index after it.
fn use_tree(
    toks: &[(String, usize)],
    mut k: usize,
    prefix: &ModPath,
    paths: &mut Vec<ModPath>,
) -> usize {
    match toks.get(k).map(|t| t.0.as_str()) {
        Some("{") => {
            k += 1;
            while k < toks.len() && toks[k].0 != "}" {
                let before = k;
                k = use_tree(toks, k, prefix, paths);
                if toks.get(k).map(|t| t.0.as_str()) == Some(",") {
                    k += 1;
                }
                if k == before {
                    k += 1; // not a path (e.g. `as`): skip a token
                }
            }
            k + 1
        }
        Some("*") => {
            paths.push(prefix.clone());
            k + 1
        }
        Some(name) if name.starts_with(|c: char| c.is_alphabetic() || c == '_') => {
            let mut p = prefix.clone();
            p.push(name.to_string());
            if toks.get(k + 1).map(|t| t.0.as_str()) == Some("::") {
                use_tree(toks, k + 2, &p, paths)
            } else {
                paths.push(p);
                k + 1
            }
        }
        _ => k,
    }
}

/// Every module path a file refers to with `crate::` or `super::`, with its line.
fn references(module: &ModPath, src: &str) -> Vec<(ModPath, usize)> {
    let toks = tokens(&code_only(src));
    let mut out = Vec::new();
    for k in 0..toks.len() {
        let after_sep = k > 0 && toks[k - 1].0 == "::";
        let next_sep = toks.get(k + 1).map(|t| t.0.as_str()) == Some("::");
        if after_sep || !next_sep {
            continue;
        }
        let mut paths = Vec::new();
        match toks[k].0.as_str() {
            "crate" => {
                use_tree(&toks, k + 2, &Vec::new(), &mut paths);
            }
            "super" => {
                // `super` of a file's module is its parent (for `mod.rs` too: the file *is* the
                // module). Inline `mod tests { use super::* }` resolves one level too high, which
                // only ever names the file's own module or its siblings' items: no false edge.
                let mut base = module.clone();
                base.pop();
                let mut j = k + 2;
                while toks.get(j).map(|t| t.0.as_str()) == Some("super")
                    && toks.get(j + 1).map(|t| t.0.as_str()) == Some("::")
                {
                    base.pop();
                    j += 2;
                }
                use_tree(&toks, j, &base, &mut paths);
            }
            _ => continue,
        }
        let line = toks[k].1;
        out.extend(paths.into_iter().map(|p| (p, line)));
    }
    out
}

/// The sibling edges at every level, from files given as (path under `src/`, text).
fn edges(files: &[(String, String)]) -> Edges {
    let modules: BTreeSet<ModPath> = files.iter().map(|(rel, _)| module_of(rel)).collect();
    let mut edges = Edges::new();
    for (rel, src) in files {
        let m = module_of(rel);
        for (r, line) in references(&m, src) {
            for level in 0..m.len() {
                let parent = &m[..level];
                if r.len() <= level || r[..level] != *parent || r[level] == m[level] {
                    continue;
                }
                let mut sibling = parent.to_vec();
                sibling.push(r[level].clone());
                if modules.contains(&sibling) {
                    edges
                        .entry(parent.to_vec())
                        .or_default()
                        .entry((m[level].clone(), r[level].clone()))
                        .or_insert_with(|| format!("src/{rel}:{line}"));
                }
            }
        }
    }
    edges
}

/// One cycle per strongly connected group of siblings, as `a → b → a` with where each edge is.
fn cycles(edges: &Edges) -> Vec<String> {
    let mut found = Vec::new();
    for (parent, level) in edges {
        let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, b) in level.keys() {
            graph.entry(a).or_default().push(b);
        }
        let mut reported: BTreeSet<BTreeSet<&str>> = BTreeSet::new();
        for &start in graph.keys() {
            // The shortest way back to `start`, by breadth-first search.
            let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut closing = None;
            'search: while let Some(n) = queue.pop_front() {
                for &next in graph.get(n).into_iter().flatten() {
                    if next == start {
                        closing = Some(n);
                        break 'search;
                    }
                    if !prev.contains_key(next) {
                        prev.insert(next, n);
                        queue.push_back(next);
                    }
                }
            }
            let Some(mut n) = closing else { continue };
            let mut path = vec![start, n];
            while n != start {
                n = prev[n];
                path.push(n);
            }
            path.reverse(); // start → … → start
            let members: BTreeSet<&str> = path.iter().copied().collect();
            if !reported.insert(members) {
                continue;
            }
            let at = if parent.is_empty() {
                "crate".to_string()
            } else {
                format!("crate::{}", parent.join("::"))
            };
            let steps: Vec<String> = path
                .windows(2)
                .map(|w| {
                    let key = (w[0].to_string(), w[1].to_string());
                    format!("  {} → {} ({})", w[0], w[1], level[&key])
                })
                .collect();
            found.push(format!(
                "in {at}: {}\n{}",
                path.join(" → "),
                steps.join("\n")
            ));
        }
    }
    found
}

fn read_src(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            read_src(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "main.rs" {
                continue; // the binary's own crate
            }
            out.push((
                rel,
                std::fs::read_to_string(&path).expect("read a source file"),
            ));
        }
    }
}

#[test]
fn no_import_cycles_between_sibling_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_src(&root, &root, &mut files);
    assert!(
        files.len() > 50,
        "expected the crate's sources under {}",
        root.display()
    );
    let e = edges(&files);
    // The check sees the crate's real structure (or it could pass by seeing nothing).
    let top = &e[&Vec::new()];
    assert!(top.contains_key(&("proxy".into(), "routing".into())));
    let proxy = &e[&vec!["proxy".to_string()]];
    assert!(proxy.len() > 10, "proxy's sibling edges: {proxy:?}");
    let found = cycles(&e);
    assert!(
        found.is_empty(),
        "import cycles between modules (make one side stop using the other):\n{}",
        found.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The check checked: planted cycles are found, look-alikes are not.

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect()
}

#[test]
fn finds_a_planted_cycle_between_submodules() {
    let f = files(&[
        ("lib.rs", "pub mod a;"),
        ("a/mod.rs", "mod x; mod y; mod z; use self::x::X;"),
        ("a/x.rs", "use super::y::Y;"),
        ("a/y.rs", "pub fn f() { crate::a::z::g() }"),
        ("a/z.rs", "use crate::a::{x::X, w};"),
    ]);
    let found = cycles(&edges(&f));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("in crate::a: x → y → z → x"),
        "{}",
        found[0]
    );
    assert!(found[0].contains("y → z (src/a/y.rs:1)"), "{}", found[0]);
}

#[test]
fn finds_a_planted_cycle_between_top_level_modules_through_nested_files() {
    let f = files(&[
        ("lib.rs", "pub mod p; pub mod q;"),
        ("p/mod.rs", "mod deep;"),
        ("p/deep.rs", "fn f() {\n let _ = super::super::q::Q;\n}"),
        ("q.rs", "use crate::{p::{self}, other};"),
    ]);
    let found = cycles(&edges(&f));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("in crate: p → q → p"), "{}", found[0]);
    assert!(found[0].contains("p → q (src/p/deep.rs:2)"), "{}", found[0]);
}

#[test]
fn comments_strings_parents_and_children_are_not_cycles() {
    let f = files(&[
        ("lib.rs", "pub mod a; pub mod b;"),
        ("a/mod.rs", "mod c; pub use c::C; fn f() { b(); }"),
        // A child using its parent, a parent using its child: not sibling edges.
        ("a/c.rs", "use crate::a::helper; use super::C;"),
        ("b.rs", "use crate::a::C;"),
        (
            "x.rs",
            "// use crate::b;\n/* crate::a */ fn f() { let s = \"crate::b::x\"; let r = r#\"crate::a\"#; let c = '\"'; }",
        ),
    ]);
    let e = edges(&f);
    assert!(cycles(&e).is_empty(), "{:?}", cycles(&e));
    // b → a is seen; x's only mentions are in comments and strings.
    let top = &e[&Vec::new()];
    assert!(top.contains_key(&("b".into(), "a".into())));
    assert!(!top.keys().any(|(from, _)| from == "x"), "{top:?}");
}
