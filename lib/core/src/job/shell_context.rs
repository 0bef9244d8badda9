//! Where in a bash script a `{name}` placeholder stands, so that its value can be quoted for
//! exactly that place or refused there. [`context`] scans the script text before the
//! placeholder (with `{{`/`}}` already literal braces and earlier placeholders stood in for
//! by a plain word) and says what bash would be reading at that point.
//!
//! Quoting per place (what [`Ctx::quote`] does with the shell-quoted word `W`):
//! - a plain word, an assignment, a `case` word or pattern, inside `$(…)`: `W`;
//! - inside `"…"`: `"W"` (close the quote, the word, reopen);
//! - inside `'…'`: `'W'`; inside `$'…'`: `'W$'`.
//!
//! Refused (a value there is code, or there is no quoting that holds): heredoc bodies,
//! quoted or not (an unquoted body runs `$(…)` and backticks whatever the quotes; a quoted
//! one would take the value literally, but a value holding the delimiter line would end the
//! body early and run the rest), the heredoc delimiter, backticks, arithmetic (`$((…))`,
//! `((…))`, `let`: bash evaluates a value there as an expression, and an array index in it
//! runs `$(…)`), `[[ … ]]` (its `-eq`-style operands are arithmetic), `${…}`, comments (a
//! newline in the value would end the comment), `eval`, and right after a backslash.

/// What bash is reading where a placeholder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// A word of a command (also inside `$(…)`).
    Plain,
    /// Inside `"…"`.
    Double,
    /// Inside `'…'`.
    Single,
    /// Inside `$'…'`.
    AnsiC,
    /// Somewhere no value can be placed safely; the text says where and what to do.
    Refused(&'static str),
}

impl Ctx {
    /// The text to put in the script for `value` here (`None` where refused).
    pub(super) fn quote(self, value: &str) -> Option<String> {
        let w = word(value);
        match self {
            Ctx::Plain => Some(w),
            Ctx::Double => Some(format!("\"{w}\"")),
            Ctx::Single => Some(format!("'{w}'")),
            Ctx::AnsiC => Some(format!("'{w}$'")),
            Ctx::Refused(_) => None,
        }
    }
}

/// Words bash reads as syntax where a command or a `case` pattern may start.
const RESERVED: &[&str] = &[
    "!", "[[", "]]", "{", "}", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for",
    "function", "if", "in", "select", "then", "time", "until", "while",
];

/// `value` as one bash word that means exactly its bytes: bare when every byte is plainly
/// literal anywhere in a word (no `=`, which could make a word an assignment, no `~`) and
/// it is no reserved word (`esac` would end a `case`), else single-quoted.
pub(super) fn word(value: &str) -> String {
    let bare = !value.is_empty()
        && !RESERVED.contains(&value)
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:,+@".contains(&b));
    if bare {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

pub(super) const HEREDOC: &str = "inside a heredoc body, expected it outside the heredoc: a body cannot quote a value (unquoted, it runs $(…) and backticks even inside quotes; quoted, a value holding the end line would end it early). Assign it first, as v={name} before the heredoc, and write $v in an unquoted body";
const HEREDOC_WORD: &str = "as a heredoc delimiter, expected a fixed word after <<";
const BACKTICK: &str =
    "inside backticks, expected it in $(…) instead, where it is quoted like anywhere else";
const ARITH: &str = "inside arithmetic ($((…)), ((…)) or let), expected it outside: bash evaluates a value there as an expression, and an array index in it runs $(…). Check it is a number first, e.g. n={name}; [ \"$n\" -eq \"$n\" ] 2>/dev/null || exit 2";
const DBRACKET: &str = "inside [[ … ]], expected it outside or in [ … ]: bash evaluates the operands of -eq, -lt and the like as arithmetic, which runs $(…) in an array index";
const PARAM: &str =
    "inside ${…}, expected it outside: assign it first, as v={name}, then use ${v…} or $v";
const COMMENT: &str =
    "inside a # comment, expected it outside: a newline in the value would end the comment";
const EVAL: &str =
    "as an argument of eval, expected it elsewhere: eval runs its arguments as a command";
const ESCAPE: &str = "right after a backslash, expected it on its own: the backslash would escape the quote runplz puts around the value";

#[derive(Debug, Clone)]
enum Frame {
    /// Commands: the top, or the inside of `$(…)` (`sub`) or `(…)`.
    Cmd {
        sub: bool,
        parens: usize,
        cases: usize,
        dbracket: bool,
        /// The command's first word so far (`eval`, `let` refuse).
        first: Option<String>,
    },
    Single,
    AnsiC,
    Double,
    Backtick,
    Arith {
        parens: usize,
    },
    Param {
        braces: usize,
    },
    Comment,
    Heredoc {
        delim: String,
        strip: bool,
        line: String,
    },
}

fn cmd(sub: bool) -> Frame {
    Frame::Cmd {
        sub,
        parens: 0,
        cases: 0,
        dbracket: false,
        first: None,
    }
}

/// The context at the end of `prefix`.
pub(super) fn context(prefix: &str) -> Ctx {
    let chars: Vec<char> = prefix.chars().collect();
    let mut stack = vec![cmd(false)];
    // Heredocs whose bodies start at the next newline: (delimiter, strip tabs).
    let mut pending: Vec<(String, bool)> = Vec::new();
    let mut word = String::new();
    let mut i = 0;
    let n = chars.len();
    macro_rules! end_word {
        () => {
            if !word.is_empty() {
                if let Some(Frame::Cmd {
                    cases,
                    dbracket,
                    first,
                    ..
                }) = stack.last_mut()
                {
                    match word.as_str() {
                        "case" if first.is_none() => *cases += 1,
                        "esac" if first.is_none() && *cases > 0 => *cases -= 1,
                        "[[" if first.is_none() => *dbracket = true,
                        "]]" => *dbracket = false,
                        _ => {}
                    }
                    if first.is_none() {
                        *first = Some(word.clone());
                    }
                }
                word.clear();
            }
        };
    }
    while i < n {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let top = stack.last().cloned().unwrap_or_else(|| cmd(false));
        match top {
            Frame::Cmd { .. } => {
                match c {
                    '\\' => {
                        if i + 1 == n {
                            return Ctx::Refused(ESCAPE);
                        }
                        word.push('x');
                        i += 2;
                        continue;
                    }
                    '\'' => stack.push(Frame::Single),
                    '"' => stack.push(Frame::Double),
                    '`' => stack.push(Frame::Backtick),
                    '$' if next == Some('\'') => {
                        stack.push(Frame::AnsiC);
                        i += 2;
                        continue;
                    }
                    '$' if next == Some('"') => {
                        stack.push(Frame::Double);
                        i += 2;
                        continue;
                    }
                    '$' if next == Some('(') && chars.get(i + 2) == Some(&'(') => {
                        stack.push(Frame::Arith { parens: 0 });
                        i += 3;
                        continue;
                    }
                    '$' if next == Some('(') => {
                        stack.push(cmd(true));
                        i += 2;
                        continue;
                    }
                    '$' if next == Some('{') => {
                        stack.push(Frame::Param { braces: 0 });
                        i += 2;
                        continue;
                    }
                    '(' if word.is_empty() && next == Some('(') => {
                        stack.push(Frame::Arith { parens: 0 });
                        i += 2;
                        continue;
                    }
                    '#' if word.is_empty() => stack.push(Frame::Comment),
                    '<' if next == Some('<') && chars.get(i + 2) == Some(&'<') => {
                        // A here-string: a plain word follows.
                        end_word!();
                        i += 3;
                        continue;
                    }
                    '<' if next == Some('<') => {
                        end_word!();
                        i += 2;
                        let strip = chars.get(i) == Some(&'-');
                        if strip {
                            i += 1;
                        }
                        while i < n && (chars[i] == ' ' || chars[i] == '\t') {
                            i += 1;
                        }
                        // The delimiter word, quotes removed.
                        let mut delim = String::new();
                        let mut q: Option<char> = None;
                        loop {
                            if i >= n {
                                return Ctx::Refused(HEREDOC_WORD);
                            }
                            let d = chars[i];
                            match (q, d) {
                                (
                                    None,
                                    ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')',
                                ) => break,
                                (None, '\'' | '"') => q = Some(d),
                                (None, '\\') => {
                                    i += 1;
                                    if i >= n {
                                        return Ctx::Refused(HEREDOC_WORD);
                                    }
                                    delim.push(chars[i]);
                                }
                                (Some(o), d) if d == o => q = None,
                                (_, d) => delim.push(d),
                            }
                            i += 1;
                        }
                        pending.push((delim, strip));
                        continue;
                    }
                    '\n' if !pending.is_empty() => {
                        end_word!();
                        let (delim, strip) = pending.remove(0);
                        stack.push(Frame::Heredoc {
                            delim,
                            strip,
                            line: String::new(),
                        });
                        if let Some(Frame::Cmd { first, .. }) = stack.iter_mut().rev().nth(1) {
                            *first = None;
                        }
                    }
                    '(' => {
                        end_word!();
                        if let Some(Frame::Cmd { parens, .. }) = stack.last_mut() {
                            *parens += 1;
                        }
                    }
                    ')' => {
                        end_word!();
                        let mut pop = false;
                        if let Some(Frame::Cmd {
                            sub, parens, cases, ..
                        }) = stack.last_mut()
                        {
                            if *parens > 0 {
                                *parens -= 1;
                            } else if *cases > 0 {
                                // A case pattern's closing paren.
                            } else if *sub {
                                pop = true;
                            }
                        }
                        if pop {
                            stack.pop();
                        }
                    }
                    ' ' | '\t' => end_word!(),
                    ';' | '&' | '|' | '\n' => {
                        end_word!();
                        if let Some(Frame::Cmd { first, .. }) = stack.last_mut() {
                            *first = None;
                        }
                    }
                    '<' | '>' => end_word!(),
                    _ => word.push(c),
                }
            }
            Frame::Single => {
                if c == '\'' {
                    stack.pop();
                }
                word.push('x');
            }
            Frame::AnsiC => {
                if c == '\\' {
                    if i + 1 == n {
                        return Ctx::Refused(ESCAPE);
                    }
                    i += 2;
                    continue;
                }
                if c == '\'' {
                    stack.pop();
                }
                word.push('x');
            }
            Frame::Double => {
                word.push('x');
                match c {
                    '\\' => {
                        if i + 1 == n {
                            return Ctx::Refused(ESCAPE);
                        }
                        i += 2;
                        continue;
                    }
                    '"' => {
                        stack.pop();
                    }
                    '`' => stack.push(Frame::Backtick),
                    '$' if next == Some('(') && chars.get(i + 2) == Some(&'(') => {
                        stack.push(Frame::Arith { parens: 0 });
                        i += 3;
                        continue;
                    }
                    '$' if next == Some('(') => {
                        stack.push(cmd(true));
                        i += 2;
                        continue;
                    }
                    '$' if next == Some('{') => {
                        stack.push(Frame::Param { braces: 0 });
                        i += 2;
                        continue;
                    }
                    _ => {}
                }
            }
            Frame::Backtick => match c {
                '\\' => {
                    i += 2;
                    continue;
                }
                '`' => {
                    stack.pop();
                }
                _ => {}
            },
            Frame::Arith { parens } => match c {
                '(' => set(&mut stack, Frame::Arith { parens: parens + 1 }),
                ')' if parens > 0 => set(&mut stack, Frame::Arith { parens: parens - 1 }),
                ')' => {
                    stack.pop();
                    if next == Some(')') {
                        i += 1;
                    }
                }
                _ => {}
            },
            Frame::Param { braces } => match c {
                '\\' => {
                    i += 2;
                    continue;
                }
                '{' => set(&mut stack, Frame::Param { braces: braces + 1 }),
                '}' if braces > 0 => set(&mut stack, Frame::Param { braces: braces - 1 }),
                '}' => {
                    stack.pop();
                }
                _ => {}
            },
            Frame::Comment => {
                if c == '\n' {
                    stack.pop();
                    continue; // The newline ends the command too.
                }
            }
            Frame::Heredoc {
                delim,
                strip,
                mut line,
            } => {
                if c == '\n' {
                    let l = if strip {
                        line.trim_start_matches('\t')
                    } else {
                        line.as_str()
                    };
                    stack.pop();
                    if l != delim {
                        stack.push(Frame::Heredoc {
                            delim,
                            strip,
                            line: String::new(),
                        });
                    } else if !pending.is_empty() {
                        let (delim, strip) = pending.remove(0);
                        stack.push(Frame::Heredoc {
                            delim,
                            strip,
                            line: String::new(),
                        });
                    }
                } else {
                    line.push(c);
                    set(&mut stack, Frame::Heredoc { delim, strip, line });
                }
            }
        }
        i += 1;
    }
    match stack.last() {
        Some(Frame::Cmd {
            dbracket, first, ..
        }) => {
            if *dbracket {
                Ctx::Refused(DBRACKET)
            } else if matches!(first.as_deref(), Some("eval")) {
                Ctx::Refused(EVAL)
            } else if matches!(first.as_deref(), Some("let")) {
                Ctx::Refused(ARITH)
            } else {
                Ctx::Plain
            }
        }
        Some(Frame::Single) => Ctx::Single,
        Some(Frame::AnsiC) => Ctx::AnsiC,
        Some(Frame::Double) => Ctx::Double,
        Some(Frame::Backtick) => Ctx::Refused(BACKTICK),
        Some(Frame::Arith { .. }) => Ctx::Refused(ARITH),
        Some(Frame::Param { .. }) => Ctx::Refused(PARAM),
        Some(Frame::Comment) => Ctx::Refused(COMMENT),
        Some(Frame::Heredoc { .. }) => Ctx::Refused(HEREDOC),
        None => Ctx::Plain,
    }
}

fn set(stack: &mut [Frame], f: Frame) {
    if let Some(top) = stack.last_mut() {
        *top = f;
    }
}
