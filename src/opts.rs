//! One definition per option: the type each tool's table (`src/*/args/defs.rs`)
//! is made of. The table drives the tool's parser (getopt's option table, or
//! procmail's letters), its `--help` text (rendered at compile time, so the
//! text is a plain `&'static str`), and, through `crate::docs`, its man page
//! and shell completions.

/// What follows an option's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// Nothing: a flag.
    None,
    /// A value, attached or in the next argument (`-w5`, `-w 5`,
    /// `--wait=5`): its name in the help.
    Required(&'static str),
    /// procmail's two-letter options: the letter and exactly this text form
    /// the whole word (`-ml`).
    Suffix(&'static str),
    /// procmail's `-nnn`: the number, written right after `-`, is the
    /// option.
    Number(&'static str),
}

/// What a shell completes for an option's value or an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complete {
    /// Any word: nothing to offer, and never file names.
    Nothing,
    /// A file name.
    Files,
    /// A directory.
    Dirs,
    /// A command string for the shell (flock's `-c`).
    CommandString,
    /// A command and its arguments: every word from here on.
    CommandWithArgs,
}

/// How the tool's parser reads an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// By the option parser, among the options.
    Options,
    /// By the tool itself, after the first operand (flock's `-c`).
    AfterOperand,
}

/// One option of a tool.
#[derive(Debug, Clone, Copy)]
pub struct Opt<T> {
    pub id: T,
    /// Its letters: the first is the one documented, the others are
    /// aliases (flock's `-e` for `-x`).
    pub short: &'static [u8],
    /// Its long names, in the order of the reference's C table (the order
    /// shows in ambiguity messages). The first is documented, unless
    /// `shown` says otherwise.
    pub long: &'static [&'static str],
    /// The long name the documentation uses when it is not one of `long`
    /// (util-linux documents `--nonblock`, an abbreviation of
    /// `--nonblocking`).
    pub shown: Option<&'static str>,
    pub value: Value,
    /// An option the reference release does not have. Abbreviations
    /// resolve to the reference's own options first.
    pub extension: bool,
    pub read: Read,
    /// Its line(s) in `--help`, in the reference's words; empty: not in
    /// `--help`.
    pub help: &'static str,
    /// Its description in the man page; empty: not documented at all (and
    /// not completed).
    pub doc: &'static str,
    /// What completes its value.
    pub complete: Complete,
}

impl<T: Copy> Opt<T> {
    /// A flag with these letters and long names; the builders below add the
    /// rest.
    pub const fn new(id: T, short: &'static [u8], long: &'static [&'static str]) -> Self {
        Opt {
            id,
            short,
            long,
            shown: None,
            value: Value::None,
            extension: false,
            read: Read::Options,
            help: "",
            doc: "",
            complete: Complete::Nothing,
        }
    }

    /// It takes a value with this name.
    pub const fn value(mut self, name: &'static str) -> Self {
        self.value = Value::Required(name);
        self
    }

    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }

    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }

    pub const fn extension(mut self) -> Self {
        self.extension = true;
        self
    }

    pub const fn shown(mut self, name: &'static str) -> Self {
        self.shown = Some(name);
        self
    }

    pub const fn complete(mut self, complete: Complete) -> Self {
        self.complete = complete;
        self
    }

    pub const fn read(mut self, read: Read) -> Self {
        self.read = read;
        self
    }

    pub const fn with_value(mut self, value: Value) -> Self {
        self.value = value;
        self
    }

    /// The long name the documentation shows.
    pub const fn shown_long(&self) -> Option<&'static str> {
        match (self.shown, self.long) {
            (Some(name), _) => Some(name),
            (None, [first, ..]) => Some(first),
            (None, []) => None,
        }
    }
}

/// `opts` without their `--help` and man page text: what the parser needs.
/// The binary then carries none of the documentation (`--help` is a
/// string of its own).
pub const fn for_parser<T: Copy, const N: usize>(opts: &[Opt<T>]) -> [Opt<T>; N] {
    let mut out = [opts[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = Opt {
            help: "",
            doc: "",
            ..opts[i]
        };
        i += 1;
    }
    out
}

/// An operand, for the man page and the completions.
#[derive(Debug, Clone, Copy)]
pub struct Operand {
    pub name: &'static str,
    pub doc: &'static str,
    pub complete: Complete,
    /// It may be repeated (lockfile's files).
    pub repeated: bool,
}

/// A writer for text built at compile time: run once over an empty buffer
/// to count the bytes, then over a buffer of that size (see
/// [`crate::const_text!`]).
pub struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Out<'a> {
    pub const fn new(buf: &'a mut [u8]) -> Self {
        Out { buf, len: 0 }
    }

    pub const fn len(&self) -> usize {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub const fn byte(&mut self, b: u8) {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
        }
        self.len += 1;
    }

    pub const fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            self.byte(b[i]);
            i += 1;
        }
    }

    /// Spaces up to column `col` of the current line, at least `min`.
    /// `Usage:` and one ` {prog} <form>` line per usage form.
    pub const fn usage(&mut self, forms: &[&str]) {
        self.str("\nUsage:\n");
        let mut i = 0;
        while i < forms.len() {
            self.str(" {prog} ");
            self.str(forms[i]);
            self.str("\n");
            i += 1;
        }
    }

    pub const fn pad_to(&mut self, line_start: usize, col: usize, min: usize) {
        let mut n = 0;
        while n < min || self.len - line_start < col {
            self.byte(b' ');
            n += 1;
        }
    }

    /// `text`, with `indent` spaces after each of its inner newlines.
    pub const fn indented(&mut self, text: &str, indent: usize) {
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            self.byte(b[i]);
            if b[i] == b'\n' && i + 1 < b.len() {
                let mut n = 0;
                while n < indent {
                    self.byte(b' ');
                    n += 1;
                }
            }
            i += 1;
        }
    }
}

/// A `&'static str` made at compile time by `render: const fn(&mut Out)`.
#[macro_export]
macro_rules! const_text {
    ($render:path) => {{
        const LEN: usize = {
            let mut none = [0u8; 0];
            let mut out = $crate::opts::Out::new(&mut none);
            $render(&mut out);
            out.len()
        };
        const BYTES: [u8; LEN] = {
            let mut buf = [0u8; LEN];
            $render(&mut $crate::opts::Out::new(&mut buf));
            buf
        };
        match ::core::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!("help text is not UTF-8"),
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn sample(out: &mut Out) {
        out.str("ab");
        out.pad_to(0, 5, 2);
        out.indented("x\ny\n", 2);
    }

    #[test]
    fn const_text_renders_at_compile_time() {
        const TEXT: &str = const_text!(sample);
        assert_eq!(TEXT, "ab   x\n  y\n");
    }
}
