//! The documentation of the tools: a clap definition of each tool's options
//! (for the man pages and shell completions only; the tools parse their
//! arguments with their own grammars), the hand-written parts of the man
//! pages, and the list of files the generator (`examples/generate.rs`) writes.

mod complete;
pub mod dotlock;
pub mod flock;
pub mod lockfile;
pub mod lockkit;
mod man;

use clap_complete::aot::Shell;

pub use man::Page;

/// The man pages, `man/<file>`.
pub fn man_pages() -> Vec<Page> {
    vec![
        lockkit::page(),
        flock::page(),
        dotlock::page(),
        lockfile::page(),
    ]
}

/// The shells completions are made for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Every name completions are made for, with its command: `lockkit` and
/// each link name (`dotlockfile` is dotlock under its reference name).
pub fn completion_commands() -> Vec<(&'static str, clap::Command)> {
    vec![
        ("lockkit", lockkit::command()),
        ("flock", flock::command()),
        ("dotlock", dotlock::command()),
        ("dotlockfile", dotlock::command()),
        ("lockfile", lockfile::command()),
    ]
}

/// Every generated file: its path relative to the output directory, and
/// its contents.
pub fn files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = man_pages()
        .iter()
        .map(|p| (format!("man/{}", p.file), p.render().into_bytes()))
        .collect();
    for (name, cmd) in completion_commands() {
        for shell in SHELLS {
            let (file, contents) = complete::completion(shell, name, &cmd);
            files.push((format!("completions/{file}"), contents));
        }
    }
    files
}

/// The options (not operands) a documentation command defines, for the
/// tests that hold the definitions to the real parsers.
#[cfg(test)]
pub(crate) fn options_of(mut cmd: clap::Command) -> Vec<clap::Arg> {
    cmd.build();
    cmd.get_arguments()
        .filter(|a| !a.is_positional())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_suite() {
        let mut names: Vec<&str> = completion_commands().iter().map(|(n, _)| *n).collect();
        names.retain(|n| *n != "lockkit");
        let links: Vec<&str> = crate::suite::link_names().collect();
        assert_eq!(names, links);
    }

    #[test]
    fn suite_definition_is_consistent() {
        lockkit::command().debug_assert();
    }

    #[test]
    fn files_are_deterministic() {
        assert_eq!(files(), files());
    }
}
