//! The import structure of `src/`: which room (top-level module) uses which. Rooms are
//! layered as `src/lib.rs` describes; a room may use only rooms of lower layers, so
//! there are no cycles between rooms. `cargo test --test layering -- --nocapture`
//! prints the graph.
//!
//! A use is any `crate::<room>` path outside test code (a file's `#[cfg(test)]` tail
//! and modules declared under `#[cfg(test)]`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top.
const LAYERS: &[&[&str]] = &[
    &["common", "storage", "wire"],
    &["config"],
    &["security"],
    &["log"],
    &["producer", "net", "admin"],
    &["controller"],
    &["broker"],
    &["errors"],
    &["coordinator"],
    &["group"],
    &["replication"],
    &["txn"],
    &["api"],
    &["server"],
];

fn layer(room: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&room))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Files of modules declared under `#[cfg(test)]`.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for w in lines.windows(2) {
            if w[0].trim() == "#[cfg(test)]" {
                if let Some(name) = w[1].trim().strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    let dir = if f.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs") { f.parent().unwrap().to_path_buf() } else { f.with_extension("") };
                    out.insert(dir.join(format!("{name}.rs")));
                }
            }
        }
    }
    out
}

/// Room → rooms it uses.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let test_only = test_only_files(&files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files.iter().filter(|f| !test_only.contains(*f)) {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let room = first.trim_end_matches(".rs").to_string();
        if room == "lib" || room == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = g.entry(room.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let target: String = code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !target.is_empty() && target != room {
                uses.insert(target);
            }
        }
    }
    g
}

#[test]
fn rooms_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let mut wrong = Vec::new();
    for (room, uses) in &g {
        println!("{room:12} -> {}", uses.iter().cloned().collect::<Vec<_>>().join(", "));
        let Some(from) = layer(room) else {
            wrong.push(format!("room {room} has no layer in LAYERS"));
            continue;
        };
        for u in uses {
            match layer(u) {
                Some(to) if to < from => {}
                Some(_) => wrong.push(format!("{room} uses {u}, which is not below it")),
                None => wrong.push(format!("{room} uses {u}, which has no layer in LAYERS")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering violations:\n{}", wrong.join("\n"));
    // Every room is known, so a new one cannot slip in unlayered.
    for l in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(g.contains_key(*l), "LAYERS names {l}, which is not a room of src/");
    }
}
