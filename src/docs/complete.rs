//! Shell completions (bash, zsh, fish), written from the option
//! definitions.
//!
//! They complete as util-linux's flock completion does: options for a word
//! that starts with `-`, nothing of their own for an option's value (never
//! file names), command names for a command string, file names (the
//! shell's own) for a lock file, and, past the lock file of a tool that
//! runs a command, the command and its own arguments.

use std::fmt::Write;

use super::{Cmd, DocOpt};
use crate::opts::Complete;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    pub const ALL: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

    /// The file name in `completions/`, as each shell's loader expects it.
    pub fn file_name(self, name: &str) -> String {
        match self {
            Shell::Bash => format!("{name}.bash"),
            Shell::Zsh => format!("_{name}"),
            Shell::Fish => format!("{name}.fish"),
        }
    }
}

/// One completion script: its file name in `completions/` and contents.
pub fn completion(shell: Shell, name: &str, cmd: &Cmd) -> (String, String) {
    let script = match shell {
        Shell::Bash => bash(name, cmd),
        Shell::Zsh => zsh(name, cmd),
        Shell::Fish => fish(name, cmd),
    };
    (shell.file_name(name), script)
}

fn header(name: &str) -> String {
    format!(
        "# {name} completion (lockkit); generated from the option definitions by \
         `cargo run --example generate -- .`\n"
    )
}

/// The words that name an option, to complete (`-?` left out: a glob
/// character, and no one's first choice).
fn completed(o: &DocOpt) -> impl Iterator<Item = &str> {
    o.words().filter(|w| *w != "-?")
}

/// The words completed for a word starting with `-`.
fn option_words(cmd: &Cmd) -> Vec<&str> {
    cmd.options.iter().flat_map(completed).collect()
}

/// The options that take a value, with the spellings that take it from the
/// next word.
fn value_options(cmd: &Cmd) -> impl Iterator<Item = (&DocOpt, Vec<&str>)> {
    cmd.options
        .iter()
        .filter(|o| o.value.is_some())
        .map(|o| (o, completed(o).collect()))
}

// bash ---------------------------------------------------------------------

fn bash(name: &str, cmd: &Cmd) -> String {
    let mut out = header(name);
    if cmd.subcommands.is_empty() {
        bash_tool(&mut out, &format!("_{name}"), 0, cmd);
    } else {
        let fname = |s: &str| format!("_{name}_{}", s.replace('-', "_"));
        let mut words: Vec<&str> = cmd.subcommands.iter().map(|s| s.name.as_str()).collect();
        words.extend(option_words(cmd));
        let _ = write!(
            out,
            "_{name}() {{\n    \
             local cur=${{COMP_WORDS[COMP_CWORD]}}\n    \
             COMPREPLY=()\n    \
             if (( COMP_CWORD == 1 )); then\n        \
             COMPREPLY=($(compgen -W '{}' -- \"$cur\"))\n        \
             return 0\n    \
             fi\n    \
             case ${{COMP_WORDS[1]}} in\n",
            words.join(" ")
        );
        for sub in &cmd.subcommands {
            let _ = writeln!(out, "        {}) {} ;;", sub.name, fname(&sub.name));
        }
        out.push_str("    esac\n}\n");
        for sub in &cmd.subcommands {
            out.push('\n');
            bash_tool(&mut out, &fname(&sub.name), 1, sub);
        }
    }
    let _ = write!(
        out,
        "\ncomplete -F _{name} -o bashdefault -o default {name}\n"
    );
    out
}

/// A command's function; `base` is the index of its name in `COMP_WORDS`.
fn bash_tool(out: &mut String, fname: &str, base: usize, cmd: &Cmd) {
    let takes_next: Vec<&str> = value_options(cmd).flat_map(|(_, w)| w).collect();
    // A cluster of letters ending with one that takes a value: `-nw 5`.
    let letters: String = value_options(cmd)
        .flat_map(|(o, _)| o.shorts.iter().filter_map(|s| s.strip_prefix('-')))
        .collect();
    let _ = write!(
        out,
        "{fname}() {{\n    \
         local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}\n    \
         COMPREPLY=()\n"
    );
    let command_string: Vec<&str> = cmd
        .options
        .iter()
        .filter(|o| o.complete == Complete::CommandString)
        .flat_map(completed)
        .collect();
    if cmd.options_first {
        // Find the first operand: the options end there, and the command
        // follows it.
        let mut skip_value = takes_next.join("|");
        if !letters.is_empty() {
            let _ = write!(skip_value, "|-[!-]*[{letters}]");
        }
        let _ = write!(
            out,
            "    local i={}\n    \
             while (( i < COMP_CWORD )); do\n        \
             case ${{COMP_WORDS[i]}} in\n            \
             --) (( i++ )); break ;;\n",
            base + 1
        );
        if !takes_next.is_empty() {
            let _ = writeln!(out, "            {skip_value}) (( i += 2 )) ;;");
        }
        out.push_str(
            "            -?*) (( i++ )) ;;\n            \
             *) break ;;\n        \
             esac\n    \
             done\n    \
             if (( COMP_CWORD > i )); then\n        \
             local c=$(( i + 1 ))\n",
        );
        if !command_string.is_empty() {
            let _ = write!(
                out,
                "        case ${{COMP_WORDS[c]}} in\n            \
                 {}) (( COMP_CWORD == c + 1 )) && COMPREPLY=($(compgen -c -- \"$cur\")); return 0 ;;\n        \
                 esac\n",
                command_string.join("|")
            );
        }
        out.push_str(
            "        if (( COMP_CWORD == c )); then\n            \
             COMPREPLY=($(compgen -c -- \"$cur\"))\n        \
             elif declare -F _command_offset >/dev/null; then\n            \
             _command_offset \"$c\"\n        \
             fi\n        \
             return 0\n    \
             fi\n",
        );
    }
    let mut nothing: Vec<String> = Vec::new();
    let mut commands: Vec<String> = Vec::new();
    for (o, words) in value_options(cmd) {
        let list = match o.complete {
            Complete::CommandString => &mut commands,
            _ => &mut nothing,
        };
        list.extend(words.iter().map(|w| (*w).to_owned()));
        // At the end of a cluster of letters, too.
        for letter in o.shorts.iter().filter_map(|s| s.strip_prefix('-')) {
            list.push(format!("-[!-]*{letter}"));
        }
    }
    if !nothing.is_empty() || !commands.is_empty() {
        out.push_str("    case $prev in\n");
        // Whole words that look like a cluster ending in a value's letter
        // (procmail's `-ml`).
        let whole: Vec<&str> = cmd
            .options
            .iter()
            .filter(|o| o.value.is_none())
            .flat_map(completed)
            .filter(|w| !w.starts_with("--") && w.len() > 2)
            .collect();
        if !whole.is_empty() {
            let _ = writeln!(out, "        {}) ;;", whole.join("|"));
        }
        if !nothing.is_empty() {
            // A value: the word as typed is the only match, so that bash
            // offers no file names.
            let _ = writeln!(
                out,
                "        {}) COMPREPLY=(\"$cur\"); compopt -o nospace 2>/dev/null; return 0 ;;",
                nothing.join("|")
            );
        }
        if !commands.is_empty() {
            let _ = writeln!(
                out,
                "        {}) COMPREPLY=($(compgen -c -- \"$cur\")); return 0 ;;",
                commands.join("|")
            );
        }
        out.push_str("    esac\n");
    }
    let _ = write!(
        out,
        "    if [[ $cur == -* ]]; then\n        \
         COMPREPLY=($(compgen -W '{}' -- \"$cur\"))\n",
        option_words(cmd).join(" ")
    );
    if cmd.operands.iter().any(|a| a.complete == Complete::Dirs) {
        out.push_str("    else\n        COMPREPLY=($(compgen -d -- \"$cur\"))\n");
    }
    out.push_str("    fi\n}\n");
}

// zsh ----------------------------------------------------------------------

/// Text inside a single-quoted `_arguments` spec.
fn zsh_quote(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '[' | ']' | ':' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn zsh_action(complete: Complete) -> &'static str {
    match complete {
        Complete::Nothing => "",
        Complete::Files => "_files",
        Complete::Dirs => "_files -/",
        Complete::CommandString => "_cmdstring",
        Complete::CommandWithArgs => "_cmdambivalent",
    }
}

/// A command's `_arguments` specs, one a line.
fn zsh_specs(cmd: &Cmd) -> Vec<String> {
    let mut specs = Vec::new();
    for o in &cmd.options {
        let desc = zsh_quote(&o.brief);
        for word in completed(o) {
            specs.push(match &o.value {
                None => format!("'{word}[{desc}]'"),
                Some(v) => {
                    // `-w5` or `-w 5`; `--wait=5` or `--wait 5`.
                    let how = if word.starts_with("--") { '=' } else { '+' };
                    let action = zsh_action(o.complete);
                    format!("'{word}{how}[{desc}]:{}:{action}'", zsh_quote(v))
                }
            });
        }
    }
    for (n, a) in cmd.operands.iter().enumerate() {
        let action = zsh_action(a.complete);
        let name = zsh_quote(&a.name);
        specs.push(match (a.repeated, a.complete) {
            (true, _) => format!("'*:{name}:{action}'"),
            // Only its own words: the command's name, then its arguments.
            (_, Complete::CommandWithArgs) => format!("'*:::{name}:{action}'"),
            _ => format!("'{}:{name}:{action}'", n + 1),
        });
    }
    specs
}

fn zsh_arguments(out: &mut String, indent: &str, extra: &str, cmd: &Cmd) {
    let _ = write!(out, "{indent}_arguments -s -S{extra} :");
    for spec in zsh_specs(cmd) {
        let _ = write!(out, " \\\n{indent}    {spec}");
    }
}

fn zsh(name: &str, cmd: &Cmd) -> String {
    let mut out = format!("#compdef {name}\n\n{}\n_{name}() {{\n", header(name));
    if cmd.subcommands.is_empty() {
        zsh_arguments(&mut out, "    ", "", cmd);
        out.push('\n');
    } else {
        out.push_str("    local curcontext=\"$curcontext\" state line\n");
        zsh_arguments(&mut out, "    ", " -C", cmd);
        let _ = write!(
            out,
            " \\\n        ':: :_{name}_commands' \\\n        '*::: :->tool' && return 0\n    \
             [[ $state == tool ]] || return 1\n    \
             words=($line[1] \"${{words[@]}}\")\n    \
             (( CURRENT += 1 ))\n    \
             curcontext=\"${{curcontext%:*:*}}:{name}-$line[1]:\"\n    \
             case $line[1] in\n"
        );
        for sub in &cmd.subcommands {
            let _ = writeln!(out, "    ({})", sub.name);
            zsh_arguments(&mut out, "        ", "", sub);
            out.push_str("\n        ;;\n");
        }
        let _ = write!(
            out,
            "    esac\n}}\n\n_{name}_commands() {{\n    local commands; commands=("
        );
        for sub in &cmd.subcommands {
            let _ = write!(
                out,
                "\n        '{}:{}'",
                sub.name,
                zsh_quote(&sub.about)
                    .replace("\\[", "[")
                    .replace("\\]", "]")
            );
        }
        let _ = writeln!(
            out,
            "\n    )\n    _describe -t commands '{name} tools' commands \"$@\""
        );
    }
    let _ = write!(
        out,
        "}}\n\nif [ \"$funcstack[1]\" = \"_{name}\" ]; then\n    \
         _{name} \"$@\"\nelse\n    compdef _{name} {name}\nfi\n"
    );
    out
}

// fish ---------------------------------------------------------------------

fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Whether the command line has reached the first operand, after `skip`
/// words (the tool's name; or `lockkit` and the tool's name). The other
/// arguments are the options that take the next word as their value.
const FISH_AFTER_OPERAND: &str = "\
function __fish_lockkit_after_operand --argument-names skip
    set -l words (commandline -opc)
    set -e words[1..$skip]
    set -l value 0
    for w in $words
        if test $value = 1
            set value 0
        else if contains -- $w $argv[2..-1]
            set value 1
        else if not string match -q -- '-?*' $w
            return 0
        end
    end
    return 1
end
";

/// `complete` lines for a command's options, under `condition` (fish
/// code, or empty), and, for a tool whose operand is followed by a command,
/// that command's completion after it. `skip`: the words before the tool's
/// options.
fn fish_options(out: &mut String, name: &str, condition: &str, skip: usize, cmd: &Cmd) {
    let and = |extra: &str| match (condition.is_empty(), extra.is_empty()) {
        (_, true) => condition.to_owned(),
        (true, false) => extra.to_owned(),
        (false, false) => format!("{condition}; and {extra}"),
    };
    let mut options_condition = and("");
    if cmd.options_first {
        let values: Vec<&str> = value_options(cmd).flat_map(|(_, w)| w).collect();
        let test = format!("__fish_lockkit_after_operand {skip} {}", values.join(" "));
        options_condition = and(&format!("not {test}"));
        let _ = writeln!(
            out,
            "complete -c {name} -n '{}' -f -a \
             '(__fish_complete_subcommand --fcs-skip={} {})'",
            and(&test),
            skip + 1,
            values.join(" ")
        );
    }
    let prefix = if options_condition.is_empty() {
        format!("complete -c {name}")
    } else {
        format!("complete -c {name} -n '{options_condition}'")
    };
    // procmail's `-nnn` has no name to complete.
    for o in cmd.options.iter().filter(|o| completed(o).next().is_some()) {
        out.push_str(&prefix);
        for word in completed(o) {
            if let Some(long) = word.strip_prefix("--") {
                let _ = write!(out, " -l {long}");
            } else if let Some(letters) = word.strip_prefix('-') {
                // `-ml` is a whole word, not `-m` with a value.
                let flag = if letters.len() == 1 { "-s" } else { "-o" };
                let _ = write!(out, " {flag} {}", fish_quote(letters));
            }
        }
        let _ = write!(out, " -d {}", fish_quote(&o.brief));
        if o.value.is_some() {
            out.push_str(" -r -f");
            if o.complete == Complete::CommandString {
                out.push_str(" -a '(__fish_complete_command)'");
            }
        }
        out.push('\n');
    }
    if cmd.operands.iter().any(|a| a.complete == Complete::Dirs) {
        let _ = writeln!(
            out,
            "{prefix} -f -a '(__fish_complete_directories (commandline -ct))'"
        );
    }
}

fn fish(name: &str, cmd: &Cmd) -> String {
    let mut out = header(name);
    let tools = std::iter::once(cmd).chain(&cmd.subcommands);
    if tools.clone().any(|c| c.options_first) {
        out.push_str(FISH_AFTER_OPERAND);
    }
    if cmd.subcommands.is_empty() {
        fish_options(&mut out, name, "", 1, cmd);
        return out;
    }
    fish_options(&mut out, name, "__fish_use_subcommand", 1, cmd);
    for sub in &cmd.subcommands {
        let _ = writeln!(
            out,
            "complete -c {name} -n __fish_use_subcommand -f -a {} -d {}",
            sub.name,
            fish_quote(&sub.about)
        );
    }
    for sub in &cmd.subcommands {
        let condition = format!("__fish_seen_subcommand_from {}", sub.name);
        fish_options(&mut out, name, &condition, 2, sub);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zsh_specs_quote_and_take_values() {
        let specs = zsh_specs(&crate::docs::flock());
        assert!(specs.contains(&"'-w+[Wait for a limited amount of time]:secs:'".to_owned()));
        assert!(
            specs.contains(&"'--timeout=[Wait for a limited amount of time]:secs:'".to_owned())
        );
        assert!(specs.contains(&"'*:::command:_cmdambivalent'".to_owned()));
        assert_eq!(zsh_quote("a'b: [c] $d"), "a'\\''b\\: \\[c\\] \\$d");
    }

    #[test]
    fn lockfile_offers_procmails_two_letter_options() {
        let lockfile = crate::docs::lockfile();
        let words = option_words(&lockfile);
        assert_eq!(
            words,
            [
                "-v",
                "-r",
                "-l",
                "-s",
                "-!",
                "-ml",
                "-mu",
                "-h",
                "--help",
                "--version"
            ]
        );
    }
}
