//! The layout's promises, checked on the source: the lock core is a leaf
//! (it uses nothing of the crate outside `src/lock/`), and the front ends
//! make no raw C calls (every `unsafe` lives in the core, wrapped).

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut out);
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

/// Lines that are code (not comments).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

#[test]
fn the_lock_core_depends_on_nothing_else_in_the_crate() {
    for (path, text) in sources("src/lock") {
        for (n, line) in code_lines(&text) {
            let outside = line
                .match_indices("crate::")
                .any(|(i, _)| !line[i..].starts_with("crate::lock"));
            assert!(!outside, "{}:{n}: {line}", path.display());
        }
    }
}

#[test]
fn the_front_ends_make_no_raw_c_calls() {
    for dir in [
        "src/flock",
        "src/dotlock",
        "src/lockfile",
        "src/status",
        "src/cluster",
    ] {
        for (path, text) in sources(dir) {
            for (n, line) in code_lines(&text) {
                assert!(!line.contains("unsafe"), "{}:{n}: {line}", path.display());
            }
        }
    }
}
