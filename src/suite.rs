//! The suite: its tools, and `lockkit` itself (help, version, the
//! housekeeping subcommand `install-links`, and `status`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::Prog;
use crate::error::Error;
use crate::error::sysexits::EX_USAGE;
use crate::stdio::Stdio;

type ToolMain = fn(&Prog, &[OsString], &mut Stdio) -> Result<u8, Error>;

/// A tool of the suite.
pub struct Tool {
    pub name: &'static str,
    /// Other link names that select it (the reference tool's own name).
    pub aliases: &'static [&'static str],
    pub about: &'static str,
    pub run: ToolMain,
    /// Whether a failed write to stdout/stderr changes the exit code at exit
    /// (util-linux's close_stdout does; liblockfile and procmail do not look).
    pub checks_output: bool,
    /// Whether a link named after it runs it (`lockkit cluster` only:
    /// `cluster` is too common a name to put on PATH).
    pub linked: bool,
}

pub const TOOLS: &[Tool] = &[
    Tool {
        name: "flock",
        aliases: &[],
        about: "Manage locks from shell scripts (drop-in for util-linux flock(1))",
        run: crate::flock::run,
        checks_output: true,
        linked: true,
    },
    Tool {
        name: "dotlock",
        aliases: &["dotlockfile"],
        about: "Create, remove or run a command under a lock file (drop-in for dotlockfile(1))",
        run: crate::dotlock::run,
        checks_output: false,
        linked: true,
    },
    Tool {
        name: "lockfile",
        aliases: &[],
        about: "Conditionally create lock files, several at once (drop-in for procmail's lockfile(1))",
        run: crate::lockfile::run,
        checks_output: false,
        linked: true,
    },
    Tool {
        name: "cluster",
        aliases: &[],
        about: "Run a command under a lock in etcd, stopping it if the lock is lost",
        run: crate::cluster::run,
        checks_output: false,
        linked: false,
    },
];

/// Every name a link to the binary can have to run a tool.
pub fn link_names() -> impl Iterator<Item = &'static str> {
    TOOLS
        .iter()
        .filter(|t| t.linked)
        .flat_map(|t| std::iter::once(t.name).chain(t.aliases.iter().copied()))
}

/// The tool a name (a link's, or `lockkit <name>`) selects.
pub fn find_tool(name: &OsStr) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| {
        t.name.as_bytes() == name.as_bytes()
            || t.aliases.iter().any(|a| a.as_bytes() == name.as_bytes())
    })
}

/// Run a tool and turn its outcome into the process exit code.
pub fn run_tool(tool: &Tool, prog: &Prog, args: &[OsString]) -> u8 {
    let mut io = Stdio::new();
    let code = match (tool.run)(prog, args, &mut io) {
        Ok(code) => code,
        Err(e) => {
            io.err(e.message());
            e.code()
        }
    };
    let code = if tool.checks_output {
        io.finish(&prog.name, code)
    } else {
        io.finish_unchecked();
        code
    };
    crate::lock::wait::close_parked();
    code
}

/// The `lockkit` command line (tools appear as subcommands whose arguments
/// are passed through untouched).
pub fn command() -> clap::Command {
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
             lockkit install-links ~/.local/bin; flock -n /run/lock/job.lock job.sh\n\n\
             Run 'lockkit <tool> --help' for a tool's options.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .disable_help_subcommand(true)
        .subcommands(tools)
        .subcommand(crate::install::command())
        .subcommand(crate::status::command())
        .subcommand(
            clap::Command::new(HELP)
                .about("Print this help, or the help of a tool or subcommand")
                .arg(
                    clap::Arg::new("topic")
                        .value_name("TOPIC")
                        .help("A tool (flock, dotlock, lockfile) or a subcommand"),
                ),
        )
}

/// `lockkit help [TOPIC]`, as in git and cargo.
const HELP: &str = "help";

/// `lockkit help` is `lockkit --help`, and `lockkit help TOPIC` is
/// `lockkit TOPIC --help` (a tool's own help, or a subcommand's); any other
/// command line is returned as it is (`help` with more words is clap's
/// usage error).
pub fn help_as_flag(args: Vec<OsString>) -> Vec<OsString> {
    let argv0 = || args[0].clone();
    match args.get(1..) {
        Some([h]) if h == HELP => vec![argv0(), "--help".into()],
        Some([h, topic]) if h == HELP && topic == HELP => vec![argv0(), "--help".into()],
        Some([h, topic]) if h == HELP && !topic.as_bytes().starts_with(b"-") => {
            vec![argv0(), topic.clone(), "--help".into()]
        }
        _ => args,
    }
}

/// `lockkit --help`, `--version`, the housekeeping subcommands and mistakes
/// (a tool name was dispatched before).
pub fn run(args: Vec<OsString>) -> u8 {
    // `status` parses its own arguments: its usage errors exit 2, as its
    // other errors do (lockfile-check's convention), not 64.
    if args.get(1).is_some_and(|a| a == crate::status::NAME) {
        return crate::status::main(&args[1..]);
    }
    let mut io = Stdio::new();
    let prog = OsStr::new("lockkit");
    let code = match command().try_get_matches_from(args) {
        Ok(m) => match m.subcommand() {
            Some((crate::install::NAME, sub)) => crate::install::run(sub, &mut io),
            // Only odd spellings get here (`lockkit help -- flock`):
            // help_as_flag has turned the usual ones into `--help`.
            Some((HELP, _)) => {
                io.out(command().render_long_help().to_string().as_bytes());
                0
            }
            _ => EX_USAGE, // tools are dispatched before clap sees them
        },
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
