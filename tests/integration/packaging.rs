//! What the packages are made from: the Debian package's assets in
//! Cargo.toml cover every manual, completion and tool name, the crate's
//! metadata is there, and the CHANGELOG has a section for this version.
//! (Building and installing the package is `scripts/check-deb`, in CI:
//! it needs cargo-deb and a release build.)

use std::path::Path;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(manifest_dir().join(rel)).expect("read a file of the tree")
}

/// The `[package.metadata.deb]` table of Cargo.toml, as text.
fn deb_table() -> String {
    let toml = read("Cargo.toml");
    let start = toml
        .find("[package.metadata.deb]")
        .expect("Cargo.toml has [package.metadata.deb]");
    let rest = &toml[start + 1..];
    let end = rest.find("\n[").map_or(toml.len(), |e| start + 1 + e);
    toml[start..end].to_owned()
}

/// `(source, dest)` of each plain asset (`["source", "dest", "mode"]`).
fn file_assets(table: &str) -> Vec<(String, String)> {
    table
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("[\"")?;
            let mut parts = l.split('"');
            let source = parts.next()?.to_owned();
            let dest = parts.nth(1)?.to_owned();
            Some((source, dest))
        })
        .collect()
}

#[test]
fn every_manual_and_completion_is_packaged_where_nothing_else_is() {
    let table = deb_table();
    let assets = file_assets(&table);
    for dir in ["man", "completions"] {
        for entry in std::fs::read_dir(manifest_dir().join(dir)).expect("read_dir") {
            let name = entry.expect("dir entry").file_name();
            let source = format!("{dir}/{}", name.to_string_lossy());
            assert!(
                assets.iter().any(|(s, _)| *s == source),
                "{source} is not among the package's assets"
            );
        }
    }
    for (source, dest) in &assets {
        if !source.starts_with("target/") {
            assert!(
                manifest_dir().join(source).exists(),
                "asset {source} is missing"
            );
        }
        // util-linux owns bash-completion's `flock`; the package must not.
        assert_ne!(dest, "usr/share/bash-completion/completions/flock");
        assert!(!dest.starts_with("usr/bin/") || source == "target/release/lockkit");
    }
    for name in lockkit::suite::link_names() {
        let link = format!(
            "{{ dest = \"usr/lib/lockkit/bin/{name}\", link_name = \"/usr/bin/lockkit\" }}"
        );
        assert!(table.contains(&link), "no {link}");
    }
}

#[test]
fn the_manifest_has_what_cargo_package_asks_for() {
    let toml = read("Cargo.toml");
    let package = &toml[..toml.find("\n[").expect("more than [package]")];
    for key in [
        "description",
        "license",
        "readme",
        "keywords",
        "categories",
        "rust-version",
    ] {
        assert!(
            package.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "Cargo.toml's [package] has no {key}"
        );
    }
}

#[test]
fn the_changelog_has_a_section_for_this_version() {
    let changelog = read("CHANGELOG.md");
    assert!(
        changelog.contains("\n## [Unreleased]\n"),
        "no Unreleased section"
    );
    let heading = format!("\n## [{}] - ", env!("CARGO_PKG_VERSION"));
    assert!(
        changelog.contains(&heading),
        "CHANGELOG.md has no `## [{}] - <date>` section",
        env!("CARGO_PKG_VERSION")
    );
}
