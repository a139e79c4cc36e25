//! The generated documentation: man pages and shell completions, made from
//! the tools' option definitions (`src/*/args/defs.rs`) and, for `lockkit`
//! itself and `install-links`, from the suite's clap definition. The man
//! pages' hand-written text is in `docs/man/*.md` (markup described in
//! `src/docs/man.rs`), where a `{options}` line stands for the generated
//! OPTIONS. The generator (`examples/generate.rs`) writes what [`files`]
//! returns.

mod complete;
mod man;

use crate::opts::{Complete, Operand, Opt, Value};

pub use complete::Shell;
pub use man::Page;

/// An option as the man page and the completions see it.
#[derive(Debug, Clone)]
pub struct DocOpt {
    /// The words that name it, the documented one first: `-x`, `-e`;
    /// `-ml`.
    pub shorts: Vec<String>,
    /// `--exclusive`.
    pub longs: Vec<String>,
    /// The name of its value, if it takes one (attached or in the next
    /// argument; without a name, the value is the option: `-nnn`).
    pub value: Option<String>,
    /// A one-line description, for the completions.
    pub brief: String,
    /// Its description in the man page, as markup.
    pub doc: String,
    pub complete: Complete,
}

impl DocOpt {
    /// Every word that names it.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.shorts.iter().chain(&self.longs).map(String::as_str)
    }
}

/// An operand as the man page and the completions see it.
#[derive(Debug, Clone)]
pub struct DocOperand {
    pub name: String,
    pub doc: String,
    pub complete: Complete,
    pub repeated: bool,
}

/// A command: a tool, `lockkit` (whose subcommands are the tools and
/// `install-links`) or `install-links`.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub name: String,
    pub about: String,
    pub options: Vec<DocOpt>,
    pub operands: Vec<DocOperand>,
    /// Options are read up to the first operand only (POSIX getopt).
    pub options_first: bool,
    pub subcommands: Vec<Cmd>,
}

/// `text` as one line, up to its first `; ` (or `, ` too for a man page's
/// description), without markup, capitalized.
fn brief(text: &str, cut: &[&str]) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = cut.iter().filter_map(|c| line.find(c)).min();
    let first = &line[..end.unwrap_or(line.len())];
    let mut plain: String = first.chars().filter(|c| !matches!(c, '`' | '*')).collect();
    if let Some(c) = plain.get(..1) {
        plain.replace_range(..1, &c.to_uppercase());
    }
    plain.trim_end_matches('.').to_owned()
}

impl Cmd {
    /// A tool, from its definitions.
    fn from_defs<T: Copy>(name: &str, opts: &[Opt<T>], operands: &[Operand]) -> Cmd {
        let about = crate::suite::find_tool(name.as_ref()).map_or("", |t| t.about);
        let options = opts
            .iter()
            .filter(|o| !o.doc.is_empty())
            .map(|o| {
                let letters = o.short.iter().map(|&c| char::from(c));
                let (shorts, longs, value) = match o.value {
                    Value::Suffix(s) => (letters.map(|c| format!("-{c}{s}")).collect(), None, None),
                    Value::Number(v) => (vec![], None, Some(v)),
                    Value::None => (
                        letters.map(|c| format!("-{c}")).collect(),
                        o.shown_long(),
                        None,
                    ),
                    Value::Required(v) => (
                        letters.map(|c| format!("-{c}")).collect(),
                        o.shown_long(),
                        Some(v),
                    ),
                };
                DocOpt {
                    shorts,
                    longs: longs.map(|l| format!("--{l}")).into_iter().collect(),
                    value: value.map(str::to_owned),
                    brief: if o.help.is_empty() {
                        brief(o.doc, &["; ", ", ", ". "])
                    } else {
                        brief(o.help, &["; "])
                    },
                    doc: o.doc.to_owned(),
                    complete: o.complete,
                }
            })
            .collect();
        Cmd {
            name: name.to_owned(),
            about: about.to_owned(),
            options,
            operands: operands
                .iter()
                .map(|a| DocOperand {
                    name: a.name.to_owned(),
                    doc: a.doc.to_owned(),
                    complete: a.complete,
                    repeated: a.repeated,
                })
                .collect(),
            options_first: operands
                .iter()
                .any(|a| a.complete == Complete::CommandWithArgs),
            subcommands: Vec::new(),
        }
    }

    /// A command the suite defines with clap.
    fn from_clap(cmd: &clap::Command) -> Cmd {
        let mut cmd = cmd.clone();
        cmd.build();
        let text = |s: Option<&clap::builder::StyledStr>| s.map(ToString::to_string);
        let complete = |a: &clap::Arg| match a.get_value_hint() {
            clap::ValueHint::DirPath => Complete::Dirs,
            clap::ValueHint::FilePath | clap::ValueHint::AnyPath => Complete::Files,
            _ => Complete::Nothing,
        };
        let options = cmd
            .get_arguments()
            .filter(|a| !a.is_positional() && !a.is_hide_set())
            .map(|a| {
                let shorts: Vec<String> = a
                    .get_short_and_visible_aliases()
                    .unwrap_or_default()
                    .iter()
                    .map(|c| format!("-{c}"))
                    .collect();
                let longs: Vec<String> = a
                    .get_long_and_visible_aliases()
                    .unwrap_or_default()
                    .iter()
                    .map(|l| format!("--{l}"))
                    .collect();
                let takes = a.get_num_args().is_some_and(|n| n.takes_values());
                let value = a
                    .get_value_names()
                    .and_then(|v| v.first())
                    .filter(|_| takes)
                    .map(ToString::to_string);
                let short_help = text(a.get_help()).unwrap_or_default();
                DocOpt {
                    shorts,
                    longs,
                    value,
                    doc: text(a.get_long_help()).unwrap_or_else(|| short_help.clone()),
                    brief: short_help,
                    complete: complete(a),
                }
            })
            .collect();
        let operands = cmd
            .get_positionals()
            .map(|a| DocOperand {
                name: a
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map_or_else(|| a.get_id().to_string(), ToString::to_string),
                doc: text(a.get_long_help().or(a.get_help())).unwrap_or_default(),
                complete: complete(a),
                repeated: a.get_num_args().is_some_and(|n| n.max_values() > 1),
            })
            .collect();
        Cmd {
            name: cmd.get_name().to_owned(),
            about: text(cmd.get_about()).unwrap_or_default(),
            options,
            operands,
            options_first: false,
            subcommands: cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(Cmd::from_clap)
                .collect(),
        }
    }

    /// The OPTIONS section of its man page, as markup: its options, then
    /// its operands.
    fn options_markup(&self) -> String {
        let mut out = String::new();
        for o in &self.options {
            let mut term: Vec<String> = o.words().map(|w| format!("`{w}`")).collect();
            match (&o.value, term.is_empty()) {
                (Some(v), true) => term.push(format!("`-`*{v}*")),
                (Some(v), false) => term.push(format!("*{v}*")),
                (None, _) => {}
            }
            let term = term.join(", ").replace(", *", " *");
            out.push_str(&format!(": {term}\n{}\n\n", o.doc));
        }
        for a in &self.operands {
            let dots = if a.repeated { " ..." } else { "" };
            out.push_str(&format!(": *{}*{dots}\n{}\n\n", a.name, a.doc));
        }
        out
    }
}

pub fn flock() -> Cmd {
    use crate::flock::args::defs;
    Cmd::from_defs("flock", defs::OPTIONS, defs::OPERANDS)
}

pub fn dotlock() -> Cmd {
    use crate::dotlock::args::defs;
    Cmd::from_defs("dotlock", defs::OPTIONS, defs::OPERANDS)
}

pub fn lockfile() -> Cmd {
    use crate::lockfile::args::defs;
    Cmd::from_defs("lockfile", defs::OPTIONS, defs::OPERANDS)
}

pub fn cluster() -> Cmd {
    use crate::cluster::args::defs;
    Cmd::from_defs("cluster", defs::OPTIONS, defs::OPERANDS)
}

/// `lockkit`: the suite's clap definition, with each tool's own definition
/// in place of the pass-through one, so that `lockkit flock -<TAB>`
/// completes flock's options.
pub fn lockkit() -> Cmd {
    let mut cmd = Cmd::from_clap(&crate::suite::command());
    for sub in &mut cmd.subcommands {
        let tool = match sub.name.as_str() {
            "flock" => flock(),
            "dotlock" => dotlock(),
            "lockfile" => lockfile(),
            "cluster" => cluster(),
            _ => continue,
        };
        *sub = Cmd {
            about: std::mem::take(&mut sub.about),
            ..tool
        };
    }
    cmd
}

/// The man pages, `man/<file>`.
pub fn man_pages() -> Vec<Page> {
    let suite = lockkit();
    // A suite subcommand's section of lockkit(1): its long description and
    // options (its -h is the suite's convention, not worth an entry).
    let section = |name: &str, command: clap::Command| {
        let mut sub = suite
            .subcommands
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .expect("a subcommand of the suite");
        sub.options
            .retain(|o| !o.longs.iter().any(|l| l == "--help"));
        let about = command
            .get_long_about()
            .map(ToString::to_string)
            .unwrap_or_default();
        format!("{about}\n\n{}", sub.options_markup())
    };
    let page = |file, names, summary, command, synopsis, body: &str, cmd: &Cmd| Page {
        file,
        names,
        summary,
        command,
        synopsis,
        body: body.replace("{options}", &cmd.options_markup()),
    };
    let mut lockkit_page = page(
        "lockkit.1",
        "lockkit",
        "locking for shell scripts: flock, dotlockfile and lockfile in one binary",
        "lockkit",
        "tool [argument...]\n\
         install-links [--force] [--dry-run] [--relative] DIR\n\
         status [--json] [--kind auto|fd|file] TARGET...\n\
         cluster [options] NAME command [argument...]\n\
         --help | --version | help [TOPIC]",
        include_str!("../../docs/man/lockkit.1.md"),
        &suite,
    );
    lockkit_page.body = lockkit_page
        .body
        .replace(
            "{install-links}",
            &section(crate::install::NAME, crate::install::command()),
        )
        .replace(
            "{status}",
            &section(crate::status::NAME, crate::status::command()),
        );
    vec![
        lockkit_page,
        page(
            "lockkit-flock.1",
            "lockkit-flock, flock",
            "manage file locks from shell scripts",
            "flock",
            "[options] file|directory command [argument...]\n\
             [options] file|directory -c command\n\
             [options] number\n\
             [options] --fd number command [argument...]\n\
             [options] --fd number -c command",
            include_str!("../../docs/man/lockkit-flock.1.md"),
            &flock(),
        ),
        page(
            "lockkit-dotlock.1",
            "lockkit-dotlock, dotlock, dotlockfile",
            "create, remove, touch or check a lock file, or run a command under one",
            "dotlock",
            "[-l] [-r retries] [-i interval] [-p] [-q] <-m|lockfile>\n\
             [-l] [-r retries] [-i interval] [-p] [-q] [-P] <-m|lockfile> command [argument...]\n\
             -u|-t|-c [-p] [-q] <-m|lockfile>\n\
             --help|--version",
            include_str!("../../docs/man/lockkit-dotlock.1.md"),
            &dotlock(),
        ),
        page(
            "lockkit-lockfile.1",
            "lockkit-lockfile, lockfile",
            "conditionally create lock files, several at once",
            "lockfile",
            "[-nnn] [-r nnn] [-l nnn] [-s nnn] [-!] [-ml|-mu] file ...\n\
             -v | -h | --help | --version",
            include_str!("../../docs/man/lockkit-lockfile.1.md"),
            &lockfile(),
        ),
        page(
            "lockkit-cluster.1",
            "lockkit-cluster",
            "run a command under a lock in etcd, stopping it if the lock is lost",
            "lockkit cluster",
            "[options] name command [argument...]\n\
             [options] name -c command",
            include_str!("../../docs/man/lockkit-cluster.1.md"),
            &cluster(),
        ),
    ]
}

/// Every name completions are made for, with its command: `lockkit` and
/// each link name (`dotlockfile` is dotlock under its reference name).
pub fn completion_commands() -> Vec<(&'static str, Cmd)> {
    vec![
        ("lockkit", lockkit()),
        ("flock", flock()),
        ("dotlock", dotlock()),
        ("dotlockfile", dotlock()),
        ("lockfile", lockfile()),
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
        for shell in Shell::ALL {
            let (file, contents) = complete::completion(shell, name, &cmd);
            files.push((format!("completions/{file}"), contents.into_bytes()));
        }
    }
    files
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
    fn files_are_deterministic() {
        assert_eq!(files(), files());
    }

    #[test]
    fn briefs_are_one_clause() {
        assert_eq!(
            brief(
                "retry this many times (default 5, -1:\nforever); the wait ends",
                &["; "]
            ),
            "Retry this many times (default 5, -1: forever)"
        );
        assert_eq!(brief("Print `x` *y*, and exit.", &[", "]), "Print x y");
    }
}
