//! `lockkit`'s man page: its own options and `install-links`' from the
//! suite's clap definition (`src/suite.rs`, `src/install.rs`), and the
//! hand-written sections around them.

use super::man::Page;

const SYNOPSIS: &str = "\
tool [argument...]
install-links [--force] [--dry-run] [--relative] DIR
--help | --version";

/// The man page.
pub fn page() -> Page {
    let suite = super::lockkit();
    let mut install = suite
        .subcommands
        .iter()
        .find(|s| s.name == crate::install::NAME)
        .cloned()
        .expect("install-links is a subcommand");
    // Its -h is the suite's convention, not worth an entry here.
    install
        .options
        .retain(|o| !o.longs.iter().any(|l| l == "--help"));
    let about = crate::install::command()
        .get_long_about()
        .map(ToString::to_string)
        .unwrap_or_default();
    Page {
        file: "lockkit.1",
        title: "LOCKKIT",
        names: "lockkit",
        summary: "locking for shell scripts: flock, dotlockfile and lockfile in one binary",
        command: "lockkit",
        synopsis: SYNOPSIS,
        body: format!(
            "{BEFORE_OPTIONS}\n# OPTIONS\n{}# INSTALL-LINKS\n\
             `lockkit install-links` [*options*] *DIR*\n\n{about}\n\n{}{AFTER_INSTALL_LINKS}",
            Cmd {
                operands: Vec::new(),
                ..suite.clone()
            }
            .options_markup(),
            install.options_markup(),
        ),
    }
}

use super::Cmd;

const BEFORE_OPTIONS: &str = r#"
# DESCRIPTION
lockkit is one program whose tools are drop-in replacements for three
locking commands that shell scripts use:

: `flock`
util-linux's `flock`(1): flock(2) locks on files and descriptors. See
`lockkit-flock`(1).

: `dotlock`, `dotlockfile`
liblockfile's `dotlockfile`(1): NFS-safe lock files, mailbox locks, a
command run under a lock. See `lockkit-dotlock`(1).

: `lockfile`
procmail's `lockfile`(1): lock files, several at once, all or nothing. See
`lockkit-lockfile`(1).

Invoked through a link with a tool's name, the binary is that tool:
`flock`, `dotlock`, `dotlockfile` or `lockfile`. Invoked under any other
name, the first argument names the tool, so `lockkit flock -n x.lock cmd` is
`flock -n x.lock cmd`. `lockkit install-links` makes the links.

Each tool behaves as the one it replaces (exit statuses, messages on
standard output and standard error byte for byte, files left behind), and
fixes what was wrong with it; every difference is listed in the tools'
pages and in `docs/compat.md` in lockkit's sources.
"#;

/// The sections after INSTALL-LINKS.
const AFTER_INSTALL_LINKS: &str = r#"
# EXIT STATUS
A tool exits as described in its page. `lockkit` itself:

: 0
Success: `--help`, `--version`, or every link is in place.

: 64 (EX_USAGE)
A usage error: no arguments, an unknown tool or command, a bad option.

: 73 (EX_CANTCREAT)
`install-links`: a link could not be made, or something else was in the
way (the other links are still made).

# ENVIRONMENT
lockkit reads no environment variables of its own; see the tools' pages.

# FILES
A distribution package installs:

: `/usr/bin/lockkit`
The binary (without setuid or setgid bits).

: `/usr/bin/flock`, `/usr/bin/dotlock`, `/usr/bin/dotlockfile`, `/usr/bin/lockfile`
Symbolic links to `lockkit`.

: `/usr/share/man/man1/lockkit.1`, `lockkit-flock.1`, `lockkit-dotlock.1`, `lockkit-lockfile.1`
The manual pages.

: `/usr/share/bash-completion/completions/`*name*
The bash completion for *name*, one of `lockkit`, `flock`, `dotlock`,
`dotlockfile` and `lockfile`.

: `/usr/share/zsh/vendor-completions/_`*name*
The zsh completion for *name*.

: `/usr/share/fish/vendor_completions.d/`*name*`.fish`
The fish completion for *name*.

# EXAMPLES
Make the links in a directory on your `PATH`:
```
cargo install --path .
lockkit install-links ~/.local/bin
```

See what would be replaced, without changing anything:
```
lockkit install-links --dry-run --force /usr/local/bin
```

Relative links in a package's staging tree:
```
"$DESTDIR/usr/bin/lockkit" install-links --relative "$DESTDIR/usr/bin"
```

Use a tool without the links:
```
lockkit flock -n /run/lock/backup.lock backup.sh
```

# NOTES
The binary does not manage privileges: the same binary is `flock`, which
runs any command it is given, so it must not be installed setuid or setgid.
Debian's `dotlockfile` and `lockfile` are setgid `mail`; without that, users
cannot lock a mailbox in a spool directory that only group `mail` may write.

The man pages and completions are generated from the program's option
definitions (`cargo run --example generate -- .` in the sources).

# SEE ALSO
`lockkit-flock`(1), `lockkit-dotlock`(1), `lockkit-lockfile`(1), `flock`(1),
`dotlockfile`(1), `lockfile`(1), flock(2)
"#;
