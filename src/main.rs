//! Entry point: pick the tool from the name the binary was invoked by.
//!
//! `flock` (a link) is util-linux's flock; any other name is the suite,
//! `lockkit <tool> ...`. Dispatch is by hand, as uutils does: clap's
//! multicall mode would reject a renamed binary.
//!
//! `no_main`: Rust's runtime would set SIGPIPE to "ignore" before `main`,
//! and the reference tools (and the commands they run) inherit whatever the
//! caller set. Taking the C `main` keeps the inherited disposition.

#![cfg_attr(not(test), no_main)]
// Unit tests get libtest's main, so the entry path goes unused there.
#![cfg_attr(test, allow(dead_code))]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use lockkit::Prog;
use lockkit::error::Error;
use lockkit::error::sysexits::EX_USAGE;
use lockkit::stdio::Stdio;

type ToolMain = fn(&Prog, &[OsString], &mut Stdio) -> Result<u8, Error>;

/// A tool of the suite.
struct Tool {
    name: &'static str,
    /// Other link names that select it (the reference tool's own name).
    aliases: &'static [&'static str],
    about: &'static str,
    run: ToolMain,
    /// Whether a failed write to stdout/stderr changes the exit code at exit
    /// (util-linux's close_stdout does; liblockfile does not look).
    checks_output: bool,
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "flock",
        aliases: &[],
        about: "Manage locks from shell scripts (drop-in for util-linux flock(1))",
        run: lockkit::flock::run,
        checks_output: true,
    },
    Tool {
        name: "dotlock",
        aliases: &["dotlockfile"],
        about: "Create, remove or run a command under a lock file (drop-in for dotlockfile(1))",
        run: lockkit::dotlock::run,
        checks_output: false,
    },
    Tool {
        name: "lockfile",
        aliases: &[],
        about: "Conditionally create lock files, several at once (drop-in for procmail's lockfile(1))",
        run: lockkit::lockfile::run,
        checks_output: false,
    },
];

fn find_tool(name: &OsStr) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| {
        t.name.as_bytes() == name.as_bytes()
            || t.aliases.iter().any(|a| a.as_bytes() == name.as_bytes())
    })
}

fn basename(path: &OsStr) -> &OsStr {
    let bytes = path.as_bytes();
    match bytes.iter().rposition(|&b| b == b'/') {
        Some(slash) => OsStr::from_bytes(&bytes[slash + 1..]),
        None => path,
    }
}

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    libc::c_int::from(dispatch(std::env::args_os().collect()))
}

fn dispatch(args: Vec<OsString>) -> u8 {
    let argv0 = args.first().cloned().unwrap_or_else(|| "lockkit".into());
    let invoked_as = basename(&argv0);
    if let Some(tool) = find_tool(invoked_as) {
        let prog = Prog {
            name: invoked_as.to_owned(),
            argv0: argv0.clone(),
        };
        return run_tool(tool, &prog, &args[1..]);
    }
    if let Some(tool) = args.get(1).and_then(|a| find_tool(a)) {
        // `lockkit flock ...` is exactly `flock ...`.
        let prog = Prog {
            name: tool.name.into(),
            argv0: tool.name.into(),
        };
        return run_tool(tool, &prog, &args[2..]);
    }
    suite(args)
}

fn run_tool(tool: &Tool, prog: &Prog, args: &[OsString]) -> u8 {
    let mut io = Stdio::new();
    let code = match (tool.run)(prog, args, &mut io) {
        Ok(code) => code,
        Err(e) => {
            io.err(e.message());
            e.code()
        }
    };
    if tool.checks_output {
        io.finish(&prog.name, code)
    } else {
        io.finish_unchecked();
        code
    }
}

fn suite_command() -> clap::Command {
    let tools = TOOLS.iter().map(|t| {
        clap::Command::new(t.name)
            .about(t.about)
            .disable_help_flag(true)
            .disable_version_flag(true)
            .arg(
                clap::Arg::new("args")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true)
                    .value_parser(clap::value_parser!(OsString)),
            )
    });
    clap::Command::new("lockkit")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Locking for shell scripts: drop-in replacements for flock(1) and friends")
        .after_help(
            "Each tool also runs as itself through a link with its name, e.g.\n  \
             ln -s lockkit flock; ./flock -n /run/lock/job.lock job.sh\n\n\
             Run 'lockkit <tool> --help' for a tool's options.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .disable_help_subcommand(true)
        .subcommands(tools)
}

/// `lockkit --help`, `--version` and mistakes (a tool name was handled before).
fn suite(args: Vec<OsString>) -> u8 {
    let mut io = Stdio::new();
    let prog = OsStr::new("lockkit");
    let code = match suite_command().try_get_matches_from(args) {
        Ok(_) => EX_USAGE, // unreachable: tool names are dispatched above
        Err(e) => {
            let text = e.render().to_string();
            if e.use_stderr() {
                io.err(text.as_bytes());
            } else {
                io.out(text.as_bytes());
            }
            match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => EX_USAGE,
            }
        }
    };
    io.finish(prog, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_found_by_basename_only() {
        assert!(find_tool(basename(OsStr::new("/usr/bin/flock"))).is_some());
        assert!(find_tool(basename(OsStr::new("flock"))).is_some());
        assert!(find_tool(basename(OsStr::new("/bin/lockkit"))).is_none());
        assert!(find_tool(basename(OsStr::new("flock.bak"))).is_none());
        assert!(find_tool(basename(OsStr::new("/flock/lockkit"))).is_none());
    }

    #[test]
    fn suite_definition_is_consistent() {
        suite_command().debug_assert();
    }
}
