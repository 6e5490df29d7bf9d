//! The top-level modules of `src/` depend on each other one way only: no `crate::` path
//! from one to another closes a cycle. Each edge `a -> b` is a file of module `a` (its
//! tests included) that names `crate::b`, in a `use` or in place; comments and string
//! literals do not count. `lib.rs` (the module list) and `main.rs` (the binary) are not
//! modules of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges between top-level modules, each with the places (`file:line`) that make it.
type Edges = BTreeMap<(String, String), Vec<String>>;

#[test]
fn no_crate_path_closes_a_cycle_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges_of(&src);
    assert!(
        edges.len() > 20,
        "the sources were not read: {} edges",
        edges.len()
    );
    let cycles = cycles(&edges);
    let report: Vec<String> = cycles
        .iter()
        .map(|members| {
            let inside = edges
                .iter()
                .filter(|((a, b), _)| members.contains(a) && members.contains(b))
                .map(|((a, b), at)| format!("  {a} -> {b}: {}", at.join(", ")))
                .collect::<Vec<_>>()
                .join("\n");
            format!("modules {members:?} reach each other:\n{inside}")
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn a_cycle_of_any_length_is_found_and_nothing_else() {
    let mut edges = Edges::new();
    for (a, b) in [
        ("config", "export"),
        ("export", "flow"),
        ("flow", "telemetry"),
        ("telemetry", "export"),
        ("modes", "config"),
        ("modes", "webhook"),
        ("webhook", "quote"),
    ] {
        edges.insert((a.into(), b.into()), vec![]);
    }
    let found = cycles(&edges);
    let want: BTreeSet<String> = ["export", "flow", "telemetry"].map(String::from).into();
    assert_eq!(found, vec![want]);
    edges.remove(&("telemetry".into(), "export".into()));
    assert!(cycles(&edges).is_empty());
}

#[test]
fn paths_are_read_as_rust_writes_them() {
    let text = r#"
use crate::flow::{FlowRecord, Nanos};
use crate::{
    capture::CaptureStats,
    ipfix::{Encoder, Session}, quote,
};
// use crate::commented;
/// Links to [`crate::documented`].
fn f() -> crate::export::Collector {
    let s = "crate::in_a_string";
    crate::metadata::derive_workload("", &x)
}
"#;
    let found: Vec<(String, usize)> = crate_paths(text);
    let names: Vec<&str> = found.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        names,
        ["flow", "capture", "ipfix", "quote", "export", "metadata"]
    );
    assert_eq!(found[0].1, 2);
    assert_eq!(found[3].1, 5);
    assert_eq!(found[5].1, 11);
}

/// Every edge of the sources under `src`.
fn edges_of(src: &Path) -> Edges {
    let mut edges = Edges::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let from = first.trim_end_matches(".rs").to_string();
        if from == "lib" || from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (to, line) in crate_paths(&text) {
            if to != from {
                let place = format!("src/{}:{line}", rel.display());
                edges.entry((from.clone(), to)).or_default().push(place);
            }
        }
    }
    edges
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The top-level module of every `crate::` path in `text`, with its line.
fn crate_paths(text: &str) -> Vec<(String, usize)> {
    let code = code_only(text);
    let mut out = Vec::new();
    let mut rest = code.as_str();
    let mut offset = 0;
    while let Some(at) = rest.find("crate::") {
        let start = offset + at + "crate::".len();
        let preceded = code[..offset + at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        if !preceded {
            for (name, pos) in first_segments(&code, start) {
                out.push((name, line_of(&code, pos)));
            }
        }
        offset = start;
        rest = &code[offset..];
    }
    out
}

/// The module names right after `crate::` at `start`: one, or each of a `{...}` group.
fn first_segments(code: &str, start: usize) -> Vec<(String, usize)> {
    let bytes = code.as_bytes();
    if bytes.get(start) != Some(&b'{') {
        return ident_at(code, start).into_iter().collect();
    }
    let mut out = Vec::new();
    let (mut depth, mut expect, mut i) = (0usize, true, start);
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                depth += 1;
                expect = depth == 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => expect = true,
            c if expect && depth == 1 && (c.is_ascii_alphabetic() || c == b'_') => {
                out.extend(ident_at(code, i));
                expect = false;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn ident_at(code: &str, start: usize) -> Option<(String, usize)> {
    let name: String = code[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some((name, start))
}

fn line_of(code: &str, pos: usize) -> usize {
    code[..pos].matches('\n').count() + 1
}

/// `text` with comments and string literals blanked out, lines kept.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                out.push(' ');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The sets of two or more modules that reach each other (strongly connected
/// components), each sorted, in order of their first member.
fn cycles(edges: &Edges) -> Vec<BTreeSet<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default();
    }
    let reach = |from: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(m) = todo.pop() {
            for &n in &next[m] {
                if seen.insert(n) {
                    todo.push(n);
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|&m| (m, reach(m))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (&m, seen) in &reached {
        let members: BTreeSet<String> = seen
            .iter()
            .filter(|&&n| reached[n].contains(m))
            .map(|n| n.to_string())
            .collect();
        if members.len() > 1 && !out.contains(&members) {
            out.push(members);
        }
    }
    out
}
