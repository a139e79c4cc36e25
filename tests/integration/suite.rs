//! `lockkit` itself: the suite's help, version and dispatch.

use crate::util::{Scratch, TestCommand};

#[test]
fn help_lists_the_tools() {
    let s = Scratch::new();
    let out = TestCommand::suite(&s).arg("--help").run();
    out.success();
    assert!(out.stdout.contains("flock"), "{out}");
}

#[test]
fn version() {
    let s = Scratch::new();
    TestCommand::suite(&s)
        .arg("--version")
        .run()
        .success()
        .stdout(&format!("lockkit {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn no_arguments_is_a_usage_error() {
    let s = Scratch::new();
    let out = TestCommand::suite(&s).run();
    out.code(64);
    assert!(out.stderr.contains("Usage: lockkit"), "{out}");
}

#[test]
fn unknown_tool_is_a_usage_error() {
    let s = Scratch::new();
    let out = TestCommand::suite(&s).arg("nosuchtool").run();
    out.code(64);
    assert!(out.stderr.contains("nosuchtool"), "{out}");
}

#[test]
fn subcommand_is_the_same_as_the_link() {
    let s = Scratch::new();
    let via_link = TestCommand::lockkit(&s, "flock").args(["-z"]).run();
    let via_suite = TestCommand::suite(&s).args(["flock", "-z"]).run();
    assert_eq!(via_link, via_suite);
    via_suite
        .code(64)
        .stderr("flock: invalid option -- 'z'\nTry 'flock --help' for more information.\n");
    TestCommand::suite(&s)
        .args(["flock", "lk", "echo", "held"])
        .run()
        .success()
        .stdout("held\n");
}

#[test]
fn a_renamed_binary_is_the_suite() {
    let s = Scratch::new();
    let link = s.link("lockkit-0.1", &crate::util::lockkit_bin());
    let out = TestCommand::script(&s, &format!("{} flock -n lk true", link.display())).run();
    out.success();
}

#[test]
fn full_path_argv0_names_getopt_messages() {
    // glibc's getopt prefixes its messages with argv[0] as invoked; the
    // tool's own messages use the short name.
    let s = Scratch::new();
    s.link("flock", &crate::util::lockkit_bin());
    let out = TestCommand::script(&s, "\"$PWD/bin/flock\" -z").run();
    out.code(64);
    let dir = s.dir().display().to_string();
    assert_eq!(
        out.stderr,
        format!(
            "{dir}/bin/flock: invalid option -- 'z'\nTry 'flock --help' for more information.\n"
        )
    );
}

/// `lockkit help` is `lockkit --help`; `lockkit help TOOL` is the tool's own
/// `--help` (byte for byte), and `lockkit help SUBCOMMAND` the subcommand's.
#[test]
fn help_subcommand() {
    let s = Scratch::new();
    let help = TestCommand::suite(&s).arg("--help").run();
    assert_eq!(TestCommand::suite(&s).arg("help").run(), help);
    assert_eq!(TestCommand::suite(&s).args(["help", "help"]).run(), help);
    assert!(help.stdout.contains("help "), "{help}");
    for tool in ["flock", "dotlock", "dotlockfile", "lockfile"] {
        let own = TestCommand::lockkit(&s, tool).arg("--help").run();
        own.success();
        assert_eq!(TestCommand::suite(&s).args(["help", tool]).run(), own);
    }
    for sub in ["install-links", "status"] {
        let own = TestCommand::suite(&s).args([sub, "--help"]).run();
        own.success();
        assert_eq!(TestCommand::suite(&s).args(["help", sub]).run(), own);
    }
    let out = TestCommand::suite(&s).args(["help", "nosuchtool"]).run();
    out.code(64);
    assert!(out.stderr.contains("nosuchtool"), "{out}");
    TestCommand::suite(&s)
        .args(["help", "flock", "extra"])
        .run()
        .code(64);
}
