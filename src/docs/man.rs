//! Man pages: clap_mangen renders SYNOPSIS and OPTIONS from a tool's clap
//! definition; everything else is written by hand in a small markup that
//! this module turns into man(7) roff.
//!
//! The markup, line by line:
//!
//! * `# TITLE` starts a section (`.SH`), `## Title` a subsection (`.SS`);
//! * a blank line ends a block; consecutive text lines form a paragraph;
//! * `: term` starts a tagged paragraph (`.TP`): the term, then the lines
//!   up to the next blank line or `:` line are its description;
//! * `* text` is a bullet item (lines up to the next blank line or `*`);
//! * a line of three backquotes opens and closes a literal example
//!   (indented, no filling, lines exactly as written);
//! * inline, outside examples: `` `bold` `` (commands, options, file names
//!   to type) and `*italic*` (placeholders).
//!
//! Escaping is the roff crate's: `-` becomes `\-`, `\` becomes `\\`, `'`
//! becomes `\*(Aq`, and no text line starts with `.` or `'`.

use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

/// The two lines the roff crate puts before every document (they define
/// `\*(Aq`, the apostrophe that copies as `'`). A page has them once.
const PREAMBLE_PREFIXES: [&str; 2] = [".ie \\n(.g .ds Aq", ".el .ds Aq"];

/// A man page: what goes into its `.TH` line and its parts, in order.
pub struct Page {
    /// The file name, e.g. `lockkit-flock.1`.
    pub file: &'static str,
    /// The page's title in the header (`LOCKKIT-FLOCK`).
    pub title: &'static str,
    /// The names in the NAME section, e.g. `lockkit-flock, flock`.
    pub names: &'static str,
    /// The one-line description in the NAME section.
    pub summary: &'static str,
    /// Rendered by clap_mangen: the SYNOPSIS (from `override_usage`) and
    /// OPTIONS sections.
    pub command: clap::Command,
    /// Hand-written sections between SYNOPSIS and OPTIONS (DESCRIPTION),
    /// as roff.
    pub before_options: String,
    /// Hand-written sections after OPTIONS, as roff.
    pub after_options: String,
    /// Whether clap_mangen's OPTIONS section is wanted (lockfile's grammar
    /// is described by hand instead).
    pub clap_options: bool,
}

impl Page {
    /// The page as roff.
    pub fn render(&self) -> String {
        let man = clap_mangen::Man::new(self.command.clone());
        let mut out = String::new();

        let mut head = Roff::new();
        let version = format!("lockkit {}", env!("CARGO_PKG_VERSION"));
        // No date: the pages are generated and committed, and must not
        // change from one run to the next.
        let th = [self.title, "1", "", &version, "User Commands"].map(quote_arg);
        head.control("TH", th.iter().map(String::as_str));
        // No hyphenation: it would split option and page names.
        head.control("nh", []);
        head.control("SH", ["NAME"]);
        head.text([roman(format!("{} - {}", self.names, self.summary))]);
        out.push_str(&to_string(&head, true));

        out.push_str(&clap_part(|w| man.render_synopsis_section(w)));
        out.push_str(&self.before_options);
        if self.clap_options {
            out.push_str(&clap_part(|w| man.render_options_section(w)));
        }
        out.push_str(&self.after_options);
        out
    }
}

/// A `.TH` argument: the roff crate quotes arguments with spaces only, so an
/// empty one would vanish; quote it here (the crate leaves quotes alone).
fn quote_arg(a: &str) -> String {
    if a.is_empty() {
        "\"\"".to_owned()
    } else {
        a.to_owned()
    }
}

/// A command's options as clap_mangen renders them (`.TP` items), for a
/// section of another page.
pub fn clap_options(cmd: clap::Command) -> String {
    let man = clap_mangen::Man::new(cmd);
    let text = clap_part(|w| man.render_options_section(w));
    text.strip_prefix(".SH OPTIONS\n")
        .unwrap_or(&text)
        .to_owned()
}

/// A part clap_mangen renders, without the roff crate's preamble.
fn clap_part(render: impl Fn(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    render(&mut buf).expect("writing to a Vec cannot fail");
    strip_preamble(&String::from_utf8_lossy(&buf))
}

fn to_string(roff: &Roff, with_preamble: bool) -> String {
    let text = roff.render();
    if with_preamble {
        text
    } else {
        strip_preamble(&text)
    }
}

fn strip_preamble(text: &str) -> String {
    let mut rest = text;
    for prefix in PREAMBLE_PREFIXES {
        if rest.starts_with(prefix) {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        }
    }
    rest.to_owned()
}

/// Text without markup (from a clap definition), as paragraphs.
pub fn plain(text: &str) -> String {
    let mut roff = Roff::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        roff.control("PP", []);
        for line in paragraph.lines() {
            roff.text([roman(line.trim())]);
        }
    }
    to_string(&roff, false)
}

/// Inline markup: `` `bold` `` and `*italic*`, the rest roman.
fn inline(text: &str) -> Vec<Inline> {
    let mut parts = Vec::new();
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let close = match c {
            '`' => '`',
            '*' if chars.peek().is_some_and(|n| !n.is_whitespace()) => '*',
            _ => {
                plain.push(c);
                continue;
            }
        };
        let marked: String = chars.by_ref().take_while(|&n| n != close).collect();
        if !plain.is_empty() {
            parts.push(roman(std::mem::take(&mut plain)));
        }
        parts.push(if c == '`' {
            bold(marked)
        } else {
            italic(marked)
        });
    }
    if !plain.is_empty() {
        parts.push(roman(plain));
    }
    parts
}

/// Hand-written markup to roff (without the preamble).
pub fn markup(text: &str) -> String {
    let mut roff = Roff::new();
    // Whether the next paragraph directly follows a heading (no `.PP`).
    let mut after_heading = false;
    // Whether the current block has started (its macro is out).
    let mut in_block = false;
    let mut in_example = false;
    for line in text.lines() {
        if in_example {
            if line == "```" {
                roff.control("fi", []);
                roff.control("RE", []);
                in_example = false;
                in_block = false;
            } else {
                roff.text([roman(line)]);
            }
            continue;
        }
        if line == "```" {
            if !after_heading {
                roff.control("PP", []);
            }
            roff.control("RS", ["4"]);
            roff.control("nf", []);
            in_example = true;
            after_heading = false;
            continue;
        }
        if line.trim().is_empty() {
            in_block = false;
            continue;
        }
        if let Some(title) = line.strip_prefix("## ") {
            roff.control("SS", [title]);
            after_heading = true;
            in_block = false;
        } else if let Some(title) = line.strip_prefix("# ") {
            roff.control("SH", [title]);
            after_heading = true;
            in_block = false;
        } else if let Some(term) = line.strip_prefix(": ") {
            roff.control("TP", []);
            roff.text(inline(term));
            after_heading = false;
            in_block = true;
        } else if let Some(item) = line.strip_prefix("* ") {
            roff.control("IP", ["\\(bu", "2"]);
            roff.text(inline(item));
            after_heading = false;
            in_block = true;
        } else {
            if !in_block {
                if !after_heading {
                    roff.control("PP", []);
                }
                in_block = true;
            }
            after_heading = false;
            roff.text(inline(line.trim_start()));
        }
    }
    assert!(!in_example, "unterminated example in man page markup");
    to_string(&roff, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_to_roff() {
        let roff = markup(
            "# EXAMPLES\nFirst `-n` *file*\nline.\n\n```\nflock -n x 'y'\n.dot\n```\n\n: `-w` *secs*\nWait.\n\n* one\n* two\nmore\n",
        );
        assert_eq!(
            roff,
            ".SH EXAMPLES\nFirst \\fB\\-n\\fR \\fIfile\\fR\nline.\n.PP\n.RS 4\n.nf\n\
             flock \\-n x \\*(Aqy\\*(Aq\n\\&.dot\n.fi\n.RE\n.TP\n\\fB\\-w\\fR \\fIsecs\\fR\n\
             Wait.\n.IP \\(bu 2\none\n.IP \\(bu 2\ntwo\nmore\n"
        );
    }

    #[test]
    fn a_lone_star_is_text() {
        assert_eq!(markup("a * b\n"), ".PP\na * b\n");
    }
}
