//! The crate's layering as `server/src/lib.rs` states it: every `crate::X`
//! that a module's code names (comments excluded) must be a module that
//! `lib.rs` declares *before* it. Reads the sources as text; runs nothing.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("server/src")
}

/// The top-level modules in the order `lib.rs` declares them.
fn declared_order(lib_rs: &str) -> Vec<String> {
    lib_rs
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` file of a module: `name.rs` and/or everything under `name/`.
fn module_files(src: &Path, module: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let single = src.join(format!("{module}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The first path segments after `crate::` in code (line comments dropped),
/// including each item of `crate::{a, b::c}`.
fn crate_targets(source: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut targets = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name = ident(item.trim());
                    if !name.is_empty() {
                        targets.insert(name);
                    }
                }
            } else {
                let name = ident(rest);
                if !name.is_empty() {
                    targets.insert(name);
                }
            }
        }
    }
    targets
}

#[test]
fn every_module_uses_only_modules_declared_before_it() {
    let src = src_dir();
    let lib_rs = fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let order = declared_order(&lib_rs);
    assert!(order.len() > 5, "lib.rs declares modules: {order:?}");
    let rank: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();

    let mut violations = Vec::new();
    for (i, module) in order.iter().enumerate() {
        let files = module_files(&src, module);
        assert!(!files.is_empty(), "no source files for module {module}");
        for file in files {
            let text = fs::read_to_string(&file).expect("read source");
            for target in crate_targets(&text) {
                if &target == module {
                    continue;
                }
                match rank.get(target.as_str()) {
                    None => violations.push(format!(
                        "{}: crate::{target} is not a module of lib.rs",
                        file.display()
                    )),
                    Some(&r) if r >= i => violations.push(format!(
                        "{}: {module} uses {target}, which lib.rs lists after it",
                        file.display()
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "upward edges:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_edge() {
    let targets = crate_targets(
        "use crate::game::World; // crate::ignored\nuse crate::{store::Store, auth};\n",
    );
    let expected: BTreeSet<String> = ["game", "store", "auth"].map(String::from).into();
    assert_eq!(targets, expected);
    assert_eq!(
        declared_order("pub mod a;\n// pub mod no;\npub mod b;\n"),
        vec!["a", "b"]
    );
}
