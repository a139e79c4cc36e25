//! Man pages in man(7) roff, from a small markup: the hand-written parts
//! of each page, and the OPTIONS section made from the option definitions.
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
//! Escaping: `-` becomes `\-`, `\` becomes `\\`, `'` becomes `\*(Aq` (an
//! apostrophe that copies as `'`, defined in the preamble), and no text line
//! starts with `.`.

/// Defines `\*(Aq`: groff's typewriter apostrophe, or a plain one.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// A man page: what goes into its `.TH` line and its parts, in order.
pub struct Page {
    /// The file name, e.g. `lockkit-flock.1`.
    pub file: &'static str,
    /// The names in the NAME section, e.g. `lockkit-flock, flock`.
    pub names: &'static str,
    /// The one-line description in the NAME section.
    pub summary: &'static str,
    /// The command's name, bold at the start of each synopsis line.
    pub command: &'static str,
    /// The synopsis, one form (after the command's name) a line.
    pub synopsis: &'static str,
    /// The page after the SYNOPSIS, as markup (see the module
    /// documentation).
    pub body: String,
}

impl Page {
    /// The page as roff.
    pub fn render(&self) -> String {
        let mut out = String::from(PREAMBLE);
        let version = format!("lockkit {}", env!("CARGO_PKG_VERSION"));
        // No date: the pages are generated and committed, and must not
        // change from one run to the next.
        let title = self.file.trim_end_matches(".1").to_uppercase();
        control(
            &mut out,
            "TH",
            &[&title, "1", "", &version, "User Commands"],
        );
        // No hyphenation: it would split option and page names.
        control(&mut out, "nh", &[]);
        control(&mut out, "SH", &["NAME"]);
        text(
            &mut out,
            &escape(&format!("{} - {}", self.names, self.summary)),
        );
        control(&mut out, "SH", &["SYNOPSIS"]);
        for (n, form) in self.synopsis.lines().enumerate() {
            if n > 0 {
                control(&mut out, "br", &[]);
            }
            text(
                &mut out,
                &format!("\\fB{}\\fR {}", self.command, escape(form)),
            );
        }
        out.push_str(&markup(&self.body));
        out
    }
}

/// A control line; arguments with spaces (or empty ones) are quoted.
fn control(out: &mut String, name: &str, args: &[&str]) {
    out.push('.');
    out.push_str(name);
    for a in args {
        out.push(' ');
        if a.is_empty() || a.contains(' ') {
            out.push('"');
            out.push_str(a);
            out.push('"');
        } else {
            out.push_str(a);
        }
    }
    out.push('\n');
}

/// A text line, already escaped; `\&` keeps a leading `.` from making it a
/// control line.
fn text(out: &mut String, line: &str) {
    if line.starts_with('.') {
        out.push_str("\\&");
    }
    out.push_str(line);
    out.push('\n');
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq")
}

/// Inline markup to roff: `` `bold` `` and `*italic*`, the rest roman.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    let mut plain = String::new();
    while let Some(c) = chars.next() {
        let font = match c {
            '`' => 'B',
            '*' if chars.peek().is_some_and(|n| !n.is_whitespace()) => 'I',
            _ => {
                plain.push(c);
                continue;
            }
        };
        let close = if font == 'B' { '`' } else { '*' };
        let marked: String = chars.by_ref().take_while(|&n| n != close).collect();
        out.push_str(&escape(&std::mem::take(&mut plain)));
        out.push_str(&format!("\\f{font}{}\\fR", escape(&marked)));
    }
    out.push_str(&escape(&plain));
    out
}

/// Markup (see the module documentation) to roff.
pub fn markup(source: &str) -> String {
    let mut out = String::new();
    // Whether the next paragraph directly follows a heading (no `.PP`).
    let mut after_heading = false;
    // Whether the current block has started (its macro is out).
    let mut in_block = false;
    let mut in_example = false;
    for line in source.lines() {
        if in_example {
            if line == "```" {
                control(&mut out, "fi", &[]);
                control(&mut out, "RE", &[]);
                in_example = false;
                in_block = false;
            } else {
                text(&mut out, &escape(line));
            }
            continue;
        }
        if line == "```" {
            if !after_heading {
                control(&mut out, "PP", &[]);
            }
            control(&mut out, "RS", &["4"]);
            control(&mut out, "nf", &[]);
            in_example = true;
            after_heading = false;
            continue;
        }
        if line.trim().is_empty() {
            in_block = false;
            continue;
        }
        if let Some(title) = line.strip_prefix("## ") {
            control(&mut out, "SS", &[title]);
            after_heading = true;
            in_block = false;
        } else if let Some(title) = line.strip_prefix("# ") {
            control(&mut out, "SH", &[title]);
            after_heading = true;
            in_block = false;
        } else if let Some(term) = line.strip_prefix(": ") {
            control(&mut out, "TP", &[]);
            text(&mut out, &inline(term));
            after_heading = false;
            in_block = true;
        } else if let Some(item) = line.strip_prefix("* ") {
            control(&mut out, "IP", &["\\(bu", "2"]);
            text(&mut out, &inline(item));
            after_heading = false;
            in_block = true;
        } else {
            if !in_block {
                if !after_heading {
                    control(&mut out, "PP", &[]);
                }
                in_block = true;
            }
            after_heading = false;
            text(&mut out, &inline(line.trim_start()));
        }
    }
    assert!(!in_example, "unterminated example in man page markup");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_to_roff() {
        let roff = markup(
            "# EXAMPLES\nFirst `-n` *file*\nline.\n\n```\nflock -n x 'y'\n.dot\n```\n\n: `-w` *secs*\nWait.\n\n* one\n* two\nmore\n## Sub title\n",
        );
        assert_eq!(
            roff,
            ".SH EXAMPLES\nFirst \\fB\\-n\\fR \\fIfile\\fR\nline.\n.PP\n.RS 4\n.nf\n\
             flock \\-n x \\*(Aqy\\*(Aq\n\\&.dot\n.fi\n.RE\n.TP\n\\fB\\-w\\fR \\fIsecs\\fR\n\
             Wait.\n.IP \\(bu 2\none\n.IP \\(bu 2\ntwo\nmore\n.SS \"Sub title\"\n"
        );
    }

    #[test]
    fn a_lone_star_is_text() {
        assert_eq!(markup("a * b\n"), ".PP\na * b\n");
    }
}
