//! The layering rule of DESIGN.md, checked on the source: the lower layers
//! (`sync`, `page`, `sparse`, `physmem`, `zone`) and the leaf modules
//! (`errno`, `variant`) name nothing above them — not `Machine`, not
//! `machine`, `hotplug`, `vm`, `gup` or any other module higher up, neither
//! through `crate::` paths nor by climbing out with `super::`. A lower layer
//! that needs a higher one's help takes a trait object or a closure (as
//! `MovableOps` and `alloc_contig_range`'s `migrate_range` do).
//!
//! The scan covers code and comments alike: an intra-doc link to `Machine`
//! from a lower layer is as much a dependency as a `use`. Any identifier
//! starting with `Machine` (`Machine`, `MachineConfig`) counts.

use std::fs;
use std::path::{Path, PathBuf};

/// Each checked module with the crate modules it may name. Everything else
/// in `lib.rs`'s module list is above it.
const LAYERS: &[(&str, &[&str])] = &[
    ("errno", &[]),
    ("variant", &[]),
    ("sync", &["sync"]),
    ("hostmem", &["hostmem"]),
    ("page", &["page", "sync"]),
    ("sparse", &["sparse", "hostmem", "page", "sync", "errno"]),
    ("physmem", &["physmem", "hostmem", "page", "sync", "errno"]),
    (
        "zone",
        &["zone", "sparse", "page", "sync", "errno", "variant"],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The crate's top-level modules, from `lib.rs`.
fn crate_modules() -> Vec<String> {
    let lib = fs::read_to_string(src().join("lib.rs")).expect("read lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// Every `.rs` file of a module: `NAME.rs`, `NAME/**.rs`.
fn module_files(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read module dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    let file = src().join(format!("{name}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let dir = src().join(name);
    if dir.is_dir() {
        walk(&dir, &mut out);
    }
    assert!(!out.is_empty(), "module {name} has no source");
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `crate::` preceded by this is another path (`mycrate::`, `$crate::`).
fn extends_path(c: char) -> bool {
    is_ident(c) || c == '$'
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The crate modules a line of source names through `crate::X` or
/// `crate::{X, Y::..}`.
fn crate_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at].chars().next_back().is_some_and(extends_path);
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of a group: after `{` and after each `,` at
            // depth one.
            let mut depth = 1;
            let mut expect_name = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expect_name = true,
                    c if expect_name && depth == 1 && is_ident(c) => {
                        out.push(ident(&group[i..]).to_string());
                        expect_name = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest).to_string());
        }
    }
    out
}

/// Violations of the rule in one file of module `layer`.
fn violations(layer: &str, allowed: &[&str], modules: &[String], path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).expect("read source");
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), n + 1);
        for m in crate_paths(line) {
            if !allowed.contains(&m.as_str()) {
                out.push(format!("{at}: {layer} names crate::{m}"));
            }
        }
        if line.contains("super::super::") {
            out.push(format!("{at}: `super::super::` climbs out of {layer}"));
        }
        // `super::X` where X is a top-level module: an escape from a
        // layer's root file (`zone/mod.rs`'s `super` is the crate).
        let mut rest = line;
        while let Some(i) = rest.find("super::") {
            rest = &rest[i + "super::".len()..];
            let name = ident(rest);
            if modules.iter().any(|m| m == name) && !allowed.contains(&name) {
                out.push(format!("{at}: {layer} names super::{name}"));
            }
        }
        let mut rest = line;
        while let Some(i) = rest.find("Machine") {
            if !rest[..i].chars().next_back().is_some_and(is_ident) {
                out.push(format!("{at}: {layer} names Machine"));
                break;
            }
            rest = &rest[i + "Machine".len()..];
        }
    }
    out
}

// DESIGN.md "Architecture": lower layers never call up.
#[test]
fn lower_layers_name_nothing_above_them() {
    let modules = crate_modules();
    for (layer, _) in LAYERS {
        assert!(
            modules.iter().any(|m| m == layer),
            "{layer} is not a module of lib.rs; update LAYERS"
        );
    }
    let mut bad = Vec::new();
    for (layer, allowed) in LAYERS {
        for path in module_files(layer) {
            bad.extend(violations(layer, allowed, &modules, &path));
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

// The scanner itself: the forms of import it must see through.
#[test]
fn scanner_sees_every_form_of_import() {
    assert_eq!(crate_paths("use crate::machine::Machine;"), ["machine"]);
    assert_eq!(
        crate_paths("use crate::{page::Pfn, vm::{Mm, Vma}, sync};"),
        ["page", "vm", "sync"]
    );
    assert_eq!(
        crate_paths("let z = crate::hotplug::x(); $crate::y"),
        ["hotplug"]
    );
    assert!(crate_paths("mycrate::vm::x").is_empty());
    let modules: Vec<String> = ["machine", "zone", "vm"].map(String::from).to_vec();
    let dir = std::env::temp_dir().join(format!("mmsim-layering-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("probe.rs");
    fs::write(
        &file,
        "use super::vm::Mm;\nuse super::super::x;\nfn f(m: &Machine) {}\nstruct MachineConfig;\n",
    )
    .unwrap();
    let v = violations("zone", &["zone"], &modules, &file);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(v.len(), 4, "{v:?}");
}
