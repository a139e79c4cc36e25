//! `lockkit cluster`'s options, defined once: flock's spellings for what
//! a lease can do, etcdctl's names for reaching the cluster. The parser
//! reads this table; `--help`, the man page and the completions are made
//! from it.

use crate::opts::{Complete, Operand, Opt, Out, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Shared,
    Exclusive,
    NonBlock,
    Timeout,
    ConflictExitCode,
    Command,
    Slots,
    Verbose,
    Endpoints,
    Ttl,
    Grace,
    CaCert,
    Cert,
    Key,
    User,
    PasswordFile,
    Help,
    Version,
    // flock's, refused: a lease is not a file descriptor.
    Unlock,
    Close,
    NoFork,
    Fd,
}

const fn opt(id: Id, short: &'static [u8], long: &'static [&'static str]) -> Opt<Id> {
    Opt::new(id, short, long).extension()
}

pub const OPTIONS: &[Opt<Id>] = &[
    opt(Id::Shared, b"s", &["shared"])
        .help("get a shared lock (a reader)")
        .doc(
            "Take a shared lock (a reader, as in etcd's RWMutex recipe): it waits \
              only for writers queued before it. The key is NAME/read/<lease>.",
        ),
    opt(Id::Exclusive, b"xe", &["exclusive"])
        .help("get an exclusive lock (default)")
        .doc(
            "Take an exclusive lock (the default): it waits for every key of the \
              name created before its own, as etcdctl lock does, and excludes \
              etcdctl lock and Go's concurrency.Mutex on the same name. -e is the \
              same.",
        ),
    opt(Id::NonBlock, b"n", &["nonblocking", "nb"])
        .shown("nonblock")
        .help("fail rather than wait")
        .doc(
            "Fail rather than wait if the lock is not free at once (exit status: \
              see -E). The lease is revoked: no waiting key is left behind.",
        ),
    opt(Id::Timeout, b"w", &["timeout", "wait"])
        .value("secs")
        .help("wait for a limited amount of time")
        .doc(
            "Fail if the lock is not had within secs seconds (fractions allowed; \
              0 is -n). The lease is revoked: no waiting key is left behind.",
        ),
    opt(Id::ConflictExitCode, b"E", &["conflict-exit-code"])
        .value("number")
        .help("exit code after conflict or timeout")
        .doc("The exit status after -n found the lock taken or -w timed out (default 1, 0 to 255)."),
    opt(Id::Command, b"c", &["command"])
        .value("command")
        .read(Read::AfterOperand)
        .complete(Complete::CommandString)
        .help("run a single command string through the shell")
        .doc(
            "Run command, a string, with $SHELL -c (or /bin/sh -c), written \
              after the name: lockkit cluster NAME -c 'command'.",
        ),
    opt(Id::Slots, b"", &["slots"])
        .value("n")
        .help("take one of n slots (a semaphore)")
        .doc(
            "Take one of n slots: hold when fewer than n keys of the name were \
              created before this one, first come first served. The command learns \
              its slot in LOCKKIT_SLOT (0 to n-1). Every user of the name must give \
              the same n (it is stored in the key's value); a different n, or a \
              plain lock on the name, is refused. Not with -s.",
        ),
    opt(Id::Verbose, b"", &["verbose"])
        .help("increase verbosity")
        .doc("Say on stderr how long getting the lock took, the key and its revision, and why a lock was not had."),
    opt(Id::Endpoints, b"", &["endpoints"])
        .value("urls")
        .help("etcd endpoints, comma-separated")
        .doc(
            "The etcd members to talk to, comma-separated URLs \
              (http://host:2379 or https://...): an unreachable one is skipped for \
              the next. The default is $ETCDCTL_ENDPOINTS, else \
              http://127.0.0.1:2379.",
        ),
    opt(Id::Ttl, b"", &["ttl"])
        .value("secs")
        .help("the lease's time to live (default 10)")
        .doc(
            "The lease's time to live, in whole seconds (default 10; etcd may \
              grant more). It must exceed --grace by more than a second: the \
              command is stopped that long before the lease could expire.",
        ),
    opt(Id::Grace, b"", &["grace"])
        .value("secs")
        .help("lock lost: time between SIGTERM and SIGKILL (default 5)")
        .doc(
            "After the lock is lost: the time between SIGTERM and SIGKILL to the \
              command and every process it started (default 5; fractions allowed).",
        ),
    opt(Id::CaCert, b"", &["cacert"])
        .value("file")
        .complete(Complete::Files)
        .help("verify https endpoints with this CA (PEM)")
        .doc("Trust the certificate authorities in file (PEM) for https endpoints, instead of the built-in web roots."),
    opt(Id::Cert, b"", &["cert"])
        .value("file")
        .complete(Complete::Files)
        .help("client certificate (PEM)")
        .doc("Present the client certificate in file (PEM), with --key."),
    opt(Id::Key, b"", &["key"])
        .value("file")
        .complete(Complete::Files)
        .help("the client certificate's key (PEM)")
        .doc("The private key of --cert (PEM)."),
    opt(Id::User, b"", &["user"])
        .value("name")
        .help("authenticate as this etcd user")
        .doc(
            "Authenticate as this etcd user. The password is read from \
              --password-file, else $LOCKKIT_ETCD_PASSWORD, else asked on the \
              terminal; never from the command line, which every local user can \
              read. (etcdctl's name[:password] form is refused for that reason.)",
        ),
    opt(Id::PasswordFile, b"", &["password-file"])
        .value("file")
        .complete(Complete::Files)
        .help("read --user's password from this file")
        .doc("Read --user's password from the first line of file."),
    opt(Id::Help, b"h", &["help"])
        .help("display this help")
        .doc("Display help text and exit."),
    opt(Id::Version, b"V", &["version"])
        .help("display version")
        .doc("Display version and exit."),
    opt(Id::Unlock, b"u", &["unlock"]),
    opt(Id::Close, b"o", &["close"]),
    opt(Id::NoFork, b"F", &["no-fork"]),
    opt(Id::Fd, b"", &["fd"]).value("number"),
];

pub const OPERANDS: &[Operand] = &[
    Operand {
        name: "name",
        doc: "The lock's name in etcd: its keys are name/<lease id in hex>.",
        complete: Complete::Nothing,
        repeated: false,
    },
    Operand {
        name: "command",
        doc: "The command to run while holding the lock, with its arguments \
              (looked up in PATH). Everything after the name belongs to it.",
        complete: Complete::CommandWithArgs,
        repeated: false,
    },
];

pub const FORMS: &[&str] = &[
    "[options] NAME command [argument...]",
    "[options] NAME -c command",
];

/// `--help`, with `{prog}` standing for the program's name.
pub const HELP: &str = crate::const_text!(help);

const fn help(out: &mut Out) {
    out.usage(FORMS);
    out.str("\nRun a command while holding a lock in etcd; stop it if the lock is lost.\n");
    out.str("\nOptions:\n");
    let mut i = 0;
    while i < OPTIONS.len() {
        let o = &OPTIONS[i];
        i += 1;
        if o.help.is_empty() {
            continue;
        }
        let start = out.len();
        out.str(" ");
        let mut s = 0;
        while s < o.short.len() {
            if s == 0 {
                out.byte(b'-');
                out.byte(o.short[0]);
                out.str(", ");
            }
            s += 1;
        }
        if o.short.is_empty() {
            out.str("    ");
        }
        out.str("--");
        if let Some(l) = o.shown_long() {
            out.str(l);
        }
        if let crate::opts::Value::Required(v) = o.value {
            out.str(" <");
            out.str(v);
            out.byte(b'>');
        }
        out.pad_to(start, 30, 1);
        out.str(o.help);
        out.byte(b'\n');
    }
    out.str("\nExit status: the command's; 1 (-E) conflict or timeout; 64 usage;\n");
    out.str("79 the lock was lost and the command stopped; 81 etcd unreachable.\n");
}
