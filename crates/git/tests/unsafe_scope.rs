//! The workspace denies `unsafe_code` (rather than forbidding it) only so that libgit2's
//! timeout setters can be called in `crates/git/src/timeouts.rs`. This test keeps it that way:
//! no other Rust source of the workspace may lift the lint or contain an `unsafe` block.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::path::{Path, PathBuf};

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                rust_sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn unsafe_code_lives_only_in_the_timeouts_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let allowed_module = root.join("crates/git/src/timeouts.rs");
    let allowed_module = allowed_module.canonicalize().unwrap();
    let mut files = Vec::new();
    for top in ["crates", "apps"] {
        rust_sources(&root.join(top), &mut files);
    }
    assert!(files.len() > 20, "found only {} sources", files.len());
    // the needles are split so that this file does not match itself
    let needles = [
        concat!("unsafe", " {"),
        concat!("unsafe", " fn"),
        concat!("unsafe", " impl"),
        concat!("allow(", "unsafe_code)"),
    ];
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let canonical = file.canonicalize().unwrap_or(file.clone());
        for needle in needles {
            let is_declaration = canonical.ends_with("crates/git/src/lib.rs")
                && needle == concat!("allow(", "unsafe_code)");
            if text.contains(needle) && canonical != allowed_module && !is_declaration {
                offenders.push(format!("{}: {needle}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unsafe outside timeouts.rs: {offenders:?}"
    );
    let lib = std::fs::read_to_string(root.join("crates/git/src/lib.rs")).unwrap();
    assert_eq!(
        lib.matches(concat!("allow(", "unsafe_code)")).count(),
        1,
        "only the timeouts module is allowed"
    );
}
