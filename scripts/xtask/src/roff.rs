//! Turning the tools' help text into man page roff: `code` in backticks as bold, the
//! `--help` text's own headings as `.SH` sections (not one `EXTRA` blob), its indented
//! tables, records and examples kept as laid out, and only ASCII in the output (groff
//! reads its input as Latin-1 and warns on anything else).

use std::fmt::Write;

/// Escape plain text for roff: backslashes, `-` (a real minus, so examples copy), and a
/// leading `.` or `'` that would read as a request.
pub fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// `code` spans of an already escaped text line in bold. A lone backtick stays as it is.
pub fn code_spans(line: &str) -> String {
    let parts: Vec<&str> = line.split('`').collect();
    let pairs = (parts.len() - 1) / 2;
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(if i > 2 * pairs {
                "`"
            } else if i % 2 == 1 {
                "\\fB"
            } else {
                "\\fR"
            });
        }
        out.push_str(part);
    }
    out
}

/// Every character outside ASCII as groff's `\[uXXXX]`.
pub fn ascii_only(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            write!(out, "\\[u{:04X}]", c as u32).unwrap();
        }
    }
    out
}

/// Rendered clap_mangen output with its `code` spans in bold (text lines only; requests,
/// and the NAME line that `whatis` reads, lose their backticks instead).
pub fn bold_code(page: &str) -> String {
    let mut out = String::new();
    let mut in_name = false;
    for line in page.lines() {
        if line.starts_with(".SH") {
            in_name = line == ".SH NAME";
        }
        if line.starts_with('.') || line.starts_with('\'') || in_name {
            out.push_str(&if in_name {
                line.replace('`', "")
            } else {
                line.into()
            });
        } else {
            out.push_str(&code_spans(line));
        }
        out.push('\n');
    }
    out
}

/// One `.SH` section of a tool's after-help text.
pub struct Section {
    pub heading: String,
    pub body: String,
}

/// The `--help` text after the options, as man sections. A heading is a line at column 0
/// that is ALL CAPS (`OUTPUT`, `EXAMPLES:`), or starts with all-caps words or one to three
/// words then `:` or `,` and text on the same line (`RECORD: one JSON line...`,
/// `Output: one JSON record...`). Text before the first heading goes under NOTES. Within a
/// section, lines at the section's base indent are filled as prose; deeper lines, lines
/// aligned in columns (two spaces inside), lines starting with `{`, and every line of an
/// EXAMPLES section are kept as written.
pub fn after_help_sections(text: &str) -> Vec<Section> {
    let mut raw: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some((heading, rest)) = heading(line) {
            raw.push((heading, Vec::new()));
            if !rest.is_empty() {
                raw.last_mut().unwrap().1.push(rest);
            }
            continue;
        }
        if raw.is_empty() {
            if line.trim().is_empty() {
                continue;
            }
            raw.push(("NOTES".into(), Vec::new()));
        }
        raw.last_mut().unwrap().1.push(line.to_string());
    }
    raw.into_iter()
        .map(|(heading, lines)| {
            let literal_all = heading.contains("EXAMPLE");
            Section {
                body: body(&lines, literal_all),
                heading,
            }
        })
        .collect()
}

fn heading(line: &str) -> Option<(String, String)> {
    if line.starts_with(char::is_whitespace) || line.trim().is_empty() {
        return None;
    }
    // All caps outside parentheses: `RUN RECORD (stdout)`.
    let caps = |s: &str| {
        let outside: String = s
            .split('(')
            .map(|p| p.rsplit(')').next().unwrap_or(""))
            .collect();
        outside.chars().any(|c| c.is_ascii_uppercase())
            && outside
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ')
    };
    let whole = line.trim_end().trim_end_matches(':');
    if caps(whole) {
        return Some((whole.trim().to_string(), String::new()));
    }
    let cut = line.find([':', ','])?;
    let (head, rest) = (&line[..cut], line[cut + 1..].trim_start());
    let short_title = head.split(' ').count() <= 3
        && head.starts_with(|c: char| c.is_ascii_uppercase())
        && head.chars().all(|c| c.is_ascii_alphabetic() || c == ' ');
    if caps(head) || (short_title && line.as_bytes()[cut] == b':') {
        // "RECORD: one JSON line" reads "One JSON line" as the section's first words.
        let mut c = rest.chars();
        let rest = c
            .next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default();
        let head = if caps(head) {
            head.into()
        } else {
            head.to_uppercase()
        };
        return Some((head.trim().to_string(), rest));
    }
    None
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// A section's lines as roff: paragraphs at blank lines, prose filled, the rest verbatim.
fn body(lines: &[String], literal_all: bool) -> String {
    let base = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    let literal = |l: &str| {
        let t = l.trim();
        literal_all || indent(l) > base || t.contains("  ") || t.starts_with('{')
    };
    let mut out = String::new();
    // Which block is open: None, Some(false) a prose paragraph, Some(true) a verbatim one.
    let mut open: Option<bool> = None;
    for l in lines {
        if l.trim().is_empty() {
            if open == Some(true) {
                out.push_str(".fi\n");
            }
            open = None;
            continue;
        }
        let lit = literal(l);
        if open != Some(lit) {
            match open {
                Some(true) => out.push_str(".fi\n"),
                None if !out.is_empty() => out.push_str(".PP\n"),
                _ => {}
            }
            if lit {
                out.push_str(".nf\n");
            }
            open = Some(lit);
        }
        let text = if lit {
            // Keep the layout relative to the section's base; `\&` guards leading spaces'
            // meaning nothing and a leading `.`.
            let kept = &l[base.min(indent(l))..];
            format!("\\&{}", esc(kept))
        } else {
            esc(l.trim())
        };
        out.push_str(&code_spans(&text));
        out.push('\n');
    }
    if open == Some(true) {
        out.push_str(".fi\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_bold_pairs_and_keep_a_lone_backtick() {
        assert_eq!(code_spans("a `b` c `d"), "a \\fBb\\fR c `d");
        assert_eq!(code_spans("no code"), "no code");
    }

    #[test]
    fn ascii_only_escapes_the_rest() {
        assert_eq!(ascii_only("a \u{2014} b"), "a \\[u2014] b");
    }

    #[test]
    fn headings_in_each_style_become_sections() {
        let text = "intro line\n\nRUN RECORD (stdout):\n  x\n\nRECORD: one line:\n\n{\"type\":1}\n\nEXIT CODES, as timeout(1): x\n\nOutput:\n  prose here\n  more prose\n    {\"deep\": 1}\n  0    table row\n\nEXAMPLES\n  rp-x --a\n  rp-x --b\n";
        let s = after_help_sections(text);
        let names: Vec<&str> = s.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(
            names,
            [
                "NOTES",
                "RUN RECORD (stdout)",
                "RECORD",
                "EXIT CODES",
                "OUTPUT",
                "EXAMPLES"
            ]
        );
        assert_eq!(s[2].body, "One line:\n.PP\n.nf\n\\&{\"type\":1}\n.fi\n");
        assert_eq!(s[3].body, "As timeout(1): x\n");
        assert_eq!(
            s[4].body,
            "prose here\nmore prose\n.nf\n\\&  {\"deep\": 1}\n\\&0    table row\n.fi\n"
        );
        assert_eq!(
            s[5].body,
            ".nf\n\\&rp\\-x \\-\\-a\n\\&rp\\-x \\-\\-b\n.fi\n"
        );
    }

    #[test]
    fn a_long_sentence_ending_in_a_colon_is_not_a_heading() {
        let s = after_help_sections("Never shipped, at any depth (gitignore syntax):\n  .git\n");
        assert_eq!(s[0].heading, "NOTES");
    }
}
