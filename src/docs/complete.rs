//! Shell completions, from the clap definitions, by clap_complete.
//!
//! fish's scripts are clap_complete's as they are. Its bash script needs
//! three adjustments to complete as util-linux's flock completion does, and
//! its zsh script one, made here on the generated text (each one checked,
//! so that a change in clap_complete's output fails loudly instead of being
//! silently left unadjusted):
//!
//! 1. clap_complete offers the option list for every word that does not
//!    start with `-`, even where a tool expects a file (`flock <TAB>`,
//!    `flock -n <TAB>`). In a tool's part of the script (one without
//!    subcommands), only a word starting with `-` gets the options; other
//!    words get nothing, so bash's own file name completion (`-o default`)
//!    takes over.
//! 2. clap_complete completes file names after an option whose value is a
//!    command (flock's `-c`); it gets command names (`compgen -c`).
//! 3. An option whose value must be attached (lockfile's `-ml`, `-mu`) is
//!    offered as its attached forms instead of as `-m` with a separate
//!    value.
//!
//! And zsh's one: for a command operand after another operand (flock's
//! `file command…`), clap_complete's `*::` spec hands the command's
//! completion all the operands, so the lock file is taken for the command;
//! `*:::` hands it only its own words (`flock x.lock mkdi<TAB>` completes
//! `mkdir`, and then mkdir's own arguments).

use clap::{Command, ValueHint};
use clap_complete::aot::{Generator, Shell};

/// Options whose value must be written in the same word, by tool, with
/// the values: procmail's `-ml` and `-mu`.
const ATTACHED: &[(&str, char, &[&str])] = &[("lockfile", 'm', &["l", "u"])];

/// One completion script: its file name in `completions/` and contents.
pub fn completion(shell: Shell, bin_name: &str, cmd: &Command) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    clap_complete::aot::generate(shell, &mut cmd.clone(), bin_name, &mut buf);
    let script = String::from_utf8(buf).expect("clap_complete writes UTF-8");
    let script = match shell {
        Shell::Bash => fix_bash(&script, cmd),
        Shell::Zsh => fix_zsh(&script, cmd),
        _ => script,
    };
    (shell.file_name(bin_name), script.into_bytes())
}

/// The zsh adjustment (see the module documentation).
fn fix_zsh(script: &str, cmd: &Command) -> String {
    // Commands whose command operand follows another operand.
    let expected = std::iter::once(cmd)
        .chain(cmd.get_subcommands())
        .filter(|c| {
            c.get_positionals()
                .skip(1)
                .any(|a| a.get_value_hint() == ValueHint::CommandWithArguments)
        })
        .count();
    let mut made = 0;
    let mut out: Vec<String> = Vec::new();
    for line in script.lines() {
        match line.strip_prefix("'*::") {
            Some(rest) if line.ends_with(":_cmdambivalent' \\") => {
                out.push(format!("'*:::{rest}"));
                made += 1;
            }
            _ => out.push(line.to_owned()),
        }
    }
    assert_eq!(
        made,
        expected,
        "clap_complete's zsh script for {} is not shaped as src/docs/complete.rs expects",
        cmd.get_name()
    );
    out.push(String::new());
    out.join("\n")
}

/// The words of an `opts="…"` line that lists a part's options, if it is
/// one (the script also starts with an empty `opts=""`).
fn opts_line(line: &str) -> Option<Vec<&str>> {
    let words = line.trim().strip_prefix("opts=\"")?.strip_suffix('"')?;
    Some(words.split_whitespace().collect()).filter(|w: &Vec<&str>| !w.is_empty())
}

/// What to adjust in one tool's part of the script.
#[derive(Default)]
struct ToolFixes {
    /// Spellings of the options whose value is a command.
    command_options: Vec<String>,
    /// Attached options (`-m`) and their values.
    attached: Vec<(String, &'static [&'static str])>,
}

/// The adjustments of the command (first) and of each subcommand, by name.
fn tool_fixes(cmd: &Command) -> Vec<(String, ToolFixes)> {
    let mut out = Vec::new();
    for tool in std::iter::once(cmd).chain(cmd.get_subcommands()) {
        let command_options = tool
            .get_arguments()
            .filter(|a| {
                !a.is_positional()
                    && matches!(
                        a.get_value_hint(),
                        ValueHint::CommandName | ValueHint::CommandString
                    )
            })
            .flat_map(|a| {
                let shorts = a.get_short_and_visible_aliases().unwrap_or_default();
                let longs = a.get_long_and_visible_aliases().unwrap_or_default();
                shorts
                    .into_iter()
                    .map(|c| format!("-{c}"))
                    .chain(longs.into_iter().map(|l| format!("--{l}")))
            })
            .collect();
        let attached = ATTACHED
            .iter()
            .filter(|(name, _, _)| *name == tool.get_name())
            .map(|(_, c, values)| (format!("-{c}"), *values))
            .collect();
        out.push((
            tool.get_name().to_owned(),
            ToolFixes {
                command_options,
                attached,
            },
        ));
    }
    out
}

/// The adjustments described in the module documentation.
fn fix_bash(script: &str, cmd: &Command) -> String {
    const FALLBACK: &str = r#"COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )"#;
    const FILES: &str = r#"COMPREPLY=($(compgen -f "${cur}"))"#;
    let fixes = tool_fixes(cmd);
    let none = ToolFixes::default();

    let mut out = Vec::new();
    // Adjustments made, and expected.
    let (mut made, mut expected) = (0, 0);
    // The tool whose part of the script this is.
    let mut tool = &none;
    // In a tool's part of the script: whether its option test and its
    // fallback are still to be adjusted.
    let (mut tool_test, mut tool_fallback) = (false, false);
    let mut after_esac = false;
    // The last `pattern)` line: a part of the script, or a `case "${prev}"`
    // branch.
    let mut pattern: Option<String> = None;
    for line in script.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let trimmed = line.trim();
        let mut new = line.to_owned();
        if let Some(words) = opts_line(line) {
            // A part of the script: `flock)` or `lockkit__subcmd__flock)`.
            let part = pattern.as_deref().unwrap_or_default();
            tool = match part.split_once("__subcmd__") {
                None => &fixes[0].1,
                Some((_, sub)) => fixes[1..]
                    .iter()
                    .find(|(n, _)| n.replace('-', "__subcmd__") == sub)
                    .map_or(&none, |(_, f)| f),
            };
            if words.iter().all(|w| w.starts_with('-')) {
                (tool_test, tool_fallback) = (true, true);
                expected += 2;
            }
            expected += tool.command_options.len() + 2 * tool.attached.len();
            let mut words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
            for (opt, values) in &tool.attached {
                if let Some(i) = words.iter().position(|w| w == opt) {
                    words.splice(i..=i, values.iter().map(|v| format!("{opt}{v}")));
                    made += 1;
                }
            }
            new = format!("{indent}opts=\"{}\"", words.join(" "));
        } else if tool_test && trimmed.starts_with("if [[ ${cur} == -* || ${COMP_CWORD} -eq ") {
            new = format!("{indent}if [[ ${{cur}} == -* ]] ; then");
            tool_test = false;
            made += 1;
        } else if tool_fallback && after_esac && trimmed == FALLBACK {
            new = format!("{indent}COMPREPLY=()");
            tool_fallback = false;
            made += 1;
        } else if let Some(p) = &pattern {
            if tool.command_options.contains(p) && trimmed == FILES {
                new = format!("{indent}COMPREPLY=($(compgen -c -- \"${{cur}}\"))");
                made += 1;
            } else if tool.attached.iter().any(|(opt, _)| opt == p)
                && trimmed.starts_with("COMPREPLY=")
            {
                // `-m l` is not `-ml`: nothing to offer after a lone `-m`.
                new = format!("{indent}COMPREPLY=()");
                made += 1;
            }
        }
        pattern = trimmed.strip_suffix(')').map(str::to_owned);
        after_esac = trimmed == "esac";
        out.push(new);
    }
    assert_eq!(
        made,
        expected,
        "clap_complete's bash script for {} is not shaped as src/docs/complete.rs expects",
        cmd.get_name()
    );
    out.push(String::new());
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bash(cmd: &Command, name: &str) -> String {
        String::from_utf8(completion(Shell::Bash, name, cmd).1).expect("utf-8")
    }

    #[test]
    fn bash_offers_options_only_for_dashed_words() {
        let script = bash(&super::super::flock::command(), "flock");
        assert!(script.contains("if [[ ${cur} == -* ]] ; then"), "{script}");
        assert!(!script.contains("COMP_CWORD} -eq"), "{script}");
        assert!(script.contains("compgen -c -- \"${cur}\""), "{script}");
    }

    #[test]
    fn bash_offers_procmails_two_letter_options() {
        let script = bash(&super::super::lockfile::command(), "lockfile");
        assert!(
            script.contains(r#"opts="-r -l -s -! -ml -mu -v"#),
            "{script}"
        );
    }

    #[test]
    fn bash_keeps_subcommands_at_the_first_word() {
        let script = bash(&super::super::lockkit::command(), "lockkit");
        assert!(
            script.contains("if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then"),
            "{script}"
        );
        assert_eq!(script.matches("if [[ ${cur} == -* ]] ; then").count(), 4);
    }
}
