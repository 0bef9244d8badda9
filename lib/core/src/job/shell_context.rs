//! Where in a bash script a `{name}` placeholder stands, so that its value can be quoted for
//! exactly that place or refused there. [`context`] scans the script text before the
//! placeholder (with `{{`/`}}` already literal braces and earlier placeholders stood in for
//! by a plain word) and says what bash would be reading at that point.
//!
//! Quoting per place (what [`Ctx::quote`] does with the shell-quoted word `W`):
//! - a plain word, an assignment, a `case` word or pattern, inside `$(…)`, a `[[ … ]]`
//!   string test: `W`;
//! - inside `"…"`: `"W"` (close the quote, the word, reopen);
//! - inside `'…'`: `'W'`; inside `$'…'`: `'W$'`.
//!
//! Refused (a value there is code, or there is no quoting that holds): heredoc bodies,
//! quoted or not (an unquoted body runs `$(…)` and backticks whatever the quotes; a quoted
//! one would take the value literally, but a value holding the delimiter line would end the
//! body early and run the rest), the heredoc delimiter, backticks, arithmetic (`$((…))`,
//! `((…))`, `$[…]`, `let`, a `declare -i` value: bash evaluates a value there as an
//! expression, and an array index in it runs `$(…)`), a `[[ … ]]` that uses `-eq`, `-v` or
//! the like (their operands are arithmetic or names), a variable name (`arr[i]=` before a command, the names `declare`,
//! `local`, `export`, `readonly`, `typeset`, `read`, `unset`, `mapfile`, `getopts`, `printf
//! -v` and `test -v` take: an index in a name runs `$(…)`), `${…}`, comments (a newline in
//! the value would end the comment), `eval`, `trap`, a `declare -n` value, and right after
//! a backslash.
//!
//! Not seen: a builtin reached through `command`/`builtin`/`sudo`, a name given to a
//! function that evals it, a command that runs its own arguments as code (`bash -c`,
//! `ssh`), and the script's own later use of a variable that holds a value (`${!x}`,
//! `[[ $x -eq 1 ]]`): there the value is that code's own input.

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
/// literal anywhere in a word (no `=`, which could make a word an assignment, no `~`, no
/// `,`, which a brace expansion around it would split at, no leading `-`, which `[[ … ]]`
/// reads as an operator) and
/// it is no reserved word (`esac` would end a `case`), else single-quoted.
pub(super) fn word(value: &str) -> String {
    let bare = !value.is_empty()
        && !RESERVED.contains(&value)
        && !value.starts_with('-')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:+@".contains(&b));
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
pub(super) const DBRACKET: &str = "inside a [[ … ]] that uses -eq, -lt, -v or the like, expected it outside or in [ … ]: bash evaluates those operands as arithmetic or as names, which runs $(…) in an array index";

/// The `[[ … ]]` operators whose operands bash evaluates as arithmetic or as names.
const DBRACKET_OPS: &[&str] = &["-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-v", "-R"];

/// Whether a `[[ … ]]` text (words split by blanks) uses one of [`DBRACKET_OPS`].
pub(super) fn dbracket_evaluates(text: &str) -> bool {
    text.split_whitespace().any(|w| DBRACKET_OPS.contains(&w))
}
const PARAM: &str =
    "inside ${…}, expected it outside: assign it first, as v={name}, then use ${v…} or $v";
const COMMENT: &str =
    "inside a # comment, expected it outside: a newline in the value would end the comment";
const EVAL: &str =
    "as an argument of eval or trap, expected it elsewhere: they run their arguments as a command";
const VARNAME: &str = "where bash reads a variable name (an array index, or an argument of declare, local, export, readonly, typeset, read, unset, mapfile, printf -v, test -v), expected it elsewhere: an index in a name runs $(…). Assign it first, as v={name}, and use \"$v\" as a value";
const ARITH_ATTR: &str = "as a value of declare -i or -n (or local, typeset ...), expected it outside: bash evaluates it as arithmetic or as a name, and an array index in it runs $(…)";
const ESCAPE: &str = "right after a backslash, expected it on its own: the backslash would escape the quote runplz puts around the value";

/// What a command frame knows of the simple command it is reading.
#[derive(Debug, Clone, Default)]
struct Cmd {
    /// Inside `$(…)`: a `)` that closes nothing else ends the frame.
    sub: bool,
    parens: usize,
    cases: usize,
    dbracket: bool,
    /// The finished words of the current simple command.
    words: Vec<String>,
    /// The word being read (a quoted or escaped character stands as `x`).
    word: String,
}

#[derive(Debug, Clone)]
enum Frame {
    /// Commands: the top, or the inside of `$(…)`.
    Cmd(Cmd),
    Single,
    AnsiC,
    Double,
    Backtick,
    /// `$((…))`, `((…))` (`close` is `)`), or `$[…]` (`close` is `]`).
    Arith {
        depth: usize,
        close: char,
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
    Frame::Cmd(Cmd {
        sub,
        ..Cmd::default()
    })
}

/// The nearest command frame (the one whose word a quote is part of).
fn near(stack: &mut [Frame]) -> Option<&mut Cmd> {
    stack.iter_mut().rev().find_map(|f| match f {
        Frame::Cmd(c) => Some(c),
        _ => None,
    })
}

impl Cmd {
    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        let w = std::mem::take(&mut self.word);
        let first = self.words.is_empty();
        match w.as_str() {
            "case" if first => self.cases += 1,
            "esac" if first && self.cases > 0 => self.cases -= 1,
            "[[" if first => self.dbracket = true,
            "]]" => self.dbracket = false,
            _ => {}
        }
        // `case x in`, `for x in`, `do`, `then`...: a new command may start after these.
        if first
            && matches!(
                w.as_str(),
                "do" | "then" | "else" | "{" | "!" | "time" | "esac" | "fi" | "done" | "}"
            )
        {
            return;
        }
        self.words.push(w);
    }

    fn end_command(&mut self) {
        self.end_word();
        self.words.clear();
    }

    /// Why a placeholder in this command's current word is refused, if it is.
    fn refusal(&self) -> Option<&'static str> {
        if self.dbracket
            && self
                .words
                .iter()
                .any(|w| DBRACKET_OPS.contains(&w.as_str()))
        {
            return Some(DBRACKET);
        }
        let name_start = self.word.find('[').is_some_and(|b| {
            crate::quote::is_identifier(&self.word[..b]) && !self.word[b..].contains(']')
        });
        // `arr[i]=v` is an assignment only before the command's name.
        let assigning = self.words.iter().all(|w| {
            w.split_once('=').is_some_and(|(n, _)| {
                crate::quote::is_identifier(n.split('[').next().unwrap_or(""))
            })
        });
        if name_start && assigning && !self.word.contains('=') {
            return Some(VARNAME);
        }
        let first = self.words.first().map(String::as_str)?;
        let prev = self.words.last().map(String::as_str).unwrap_or("");
        match first {
            "eval" | "trap" => Some(EVAL),
            "let" => Some(ARITH),
            "declare" | "typeset" | "local" | "readonly" | "export" => {
                let int = self.words[1..]
                    .iter()
                    .any(|w| w.starts_with('-') && w.contains(['i', 'n']));
                if !self.word.contains('=') {
                    Some(VARNAME)
                } else if int {
                    Some(ARITH_ATTR)
                } else {
                    None
                }
            }
            "read" | "unset" | "mapfile" | "readarray" | "getopts" => Some(VARNAME),
            "printf" | "test" | "[" if prev == "-v" => Some(VARNAME),
            _ => None,
        }
    }
}

/// The context at the end of `prefix`.
#[cfg(test)]
pub(super) fn context(prefix: &str) -> Ctx {
    scan(prefix).0
}

/// The context at the end of `prefix`, and whether it is inside `[[ … ]]` (where the caller
/// checks the rest of the conditional with [`dbracket_evaluates`]).
pub(super) fn scan(prefix: &str) -> (Ctx, bool) {
    let mut dbracket = false;
    let ctx = scan_ctx(prefix, &mut dbracket);
    (ctx, dbracket)
}

fn scan_ctx(prefix: &str, dbracket: &mut bool) -> Ctx {
    let chars: Vec<char> = prefix.chars().collect();
    let mut stack = vec![cmd(false)];
    // Heredocs whose bodies start at the next newline: (delimiter, strip tabs).
    let mut pending: Vec<(String, bool)> = Vec::new();
    let n = chars.len();
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after = chars.get(i + 2).copied();
        let Some(top) = stack.last_mut() else {
            stack.push(cmd(false));
            continue;
        };
        match top {
            Frame::Cmd(cm) => match c {
                '\\' => {
                    if i + 1 == n {
                        return Ctx::Refused(ESCAPE);
                    }
                    cm.word.push('x');
                    i += 2;
                    continue;
                }
                '\'' => {
                    cm.word.push('x');
                    stack.push(Frame::Single);
                }
                '"' => {
                    cm.word.push('x');
                    stack.push(Frame::Double);
                }
                '`' => {
                    cm.word.push('x');
                    stack.push(Frame::Backtick);
                }
                '$' if next == Some('\'') => {
                    cm.word.push('x');
                    stack.push(Frame::AnsiC);
                    i += 2;
                    continue;
                }
                '$' if next == Some('"') => {
                    cm.word.push('x');
                    stack.push(Frame::Double);
                    i += 2;
                    continue;
                }
                '$' if next == Some('(') && after == Some('(') => {
                    cm.word.push('x');
                    stack.push(Frame::Arith {
                        depth: 0,
                        close: ')',
                    });
                    i += 3;
                    continue;
                }
                '$' if next == Some('[') => {
                    cm.word.push('x');
                    stack.push(Frame::Arith {
                        depth: 0,
                        close: ']',
                    });
                    i += 2;
                    continue;
                }
                '$' if next == Some('(') => {
                    cm.word.push('x');
                    stack.push(cmd(true));
                    i += 2;
                    continue;
                }
                '$' if next == Some('{') => {
                    cm.word.push('x');
                    stack.push(Frame::Param { braces: 0 });
                    i += 2;
                    continue;
                }
                '(' if cm.word.is_empty() && next == Some('(') => {
                    stack.push(Frame::Arith {
                        depth: 0,
                        close: ')',
                    });
                    i += 2;
                    continue;
                }
                '#' if cm.word.is_empty() => stack.push(Frame::Comment),
                '<' if next == Some('<') && after == Some('<') => {
                    // A here-string: a plain word follows.
                    cm.end_word();
                    i += 3;
                    continue;
                }
                '<' if next == Some('<') => {
                    cm.end_word();
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
                            (None, ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')') => {
                                break
                            }
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
                    cm.end_command();
                    let (delim, strip) = pending.remove(0);
                    stack.push(Frame::Heredoc {
                        delim,
                        strip,
                        line: String::new(),
                    });
                }
                '(' => {
                    // A subshell, a function's `()`, an array's `(`: a command starts.
                    cm.end_command();
                    cm.parens += 1;
                }
                ')' => {
                    // A case pattern's `)` counts too: its command starts after it.
                    cm.end_command();
                    if cm.parens > 0 {
                        cm.parens -= 1;
                    } else if cm.cases == 0 && cm.sub {
                        stack.pop();
                    }
                }
                ' ' | '\t' => cm.end_word(),
                ';' | '&' | '|' | '\n' => cm.end_command(),
                '<' | '>' => cm.end_word(),
                _ => cm.word.push(c),
            },
            Frame::Single => {
                if c == '\'' {
                    stack.pop();
                }
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
            }
            Frame::Double => match c {
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
                '$' if next == Some('(') && after == Some('(') => {
                    stack.push(Frame::Arith {
                        depth: 0,
                        close: ')',
                    });
                    i += 3;
                    continue;
                }
                '$' if next == Some('[') => {
                    stack.push(Frame::Arith {
                        depth: 0,
                        close: ']',
                    });
                    i += 2;
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
            },
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
            Frame::Arith { depth, close } => {
                let open = if *close == ')' { '(' } else { '[' };
                if c == open {
                    *depth += 1;
                } else if c == *close && *depth > 0 {
                    *depth -= 1;
                } else if c == *close {
                    let paren = *close == ')';
                    stack.pop();
                    if paren && next == Some(')') {
                        i += 1;
                    }
                }
            }
            Frame::Param { braces } => match c {
                '\\' => {
                    i += 2;
                    continue;
                }
                // Quotes inside ${…} hide a `}` (bash matches them even within "…").
                '\'' => stack.push(Frame::Single),
                '"' => stack.push(Frame::Double),
                '$' if next == Some('(') && after != Some('(') => {
                    stack.push(cmd(true));
                    i += 2;
                    continue;
                }
                '$' if next == Some('{') => {
                    stack.push(Frame::Param { braces: 0 });
                    i += 2;
                    continue;
                }
                '{' => *braces += 1,
                '}' if *braces > 0 => *braces -= 1,
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
            Frame::Heredoc { delim, strip, line } => {
                if c != '\n' {
                    line.push(c);
                } else {
                    let l = if *strip {
                        line.trim_start_matches('\t')
                    } else {
                        line.as_str()
                    };
                    if l == delim.as_str() {
                        stack.pop();
                        if !pending.is_empty() {
                            let (delim, strip) = pending.remove(0);
                            stack.push(Frame::Heredoc {
                                delim,
                                strip,
                                line: String::new(),
                            });
                        }
                    } else {
                        line.clear();
                    }
                }
            }
        }
        i += 1;
    }
    // Whatever a value's own frame, one enclosing it all the way out decides too: in
    // `$(( $(echo {v}) ))` the output is arithmetic, in `"${x:-'{v}'}"` the quotes are text.
    for f in &stack {
        let why = match f {
            Frame::Backtick => BACKTICK,
            Frame::Arith { .. } => ARITH,
            Frame::Param { .. } => PARAM,
            Frame::Comment => COMMENT,
            Frame::Heredoc { .. } => HEREDOC,
            _ => continue,
        };
        return Ctx::Refused(why);
    }
    *dbracket = near(&mut stack).is_some_and(|c| c.dbracket);
    let quoted = |stack: &mut Vec<Frame>, ctx: Ctx| match near(stack).and_then(|c| c.refusal()) {
        Some(why) => Ctx::Refused(why),
        None => ctx,
    };
    match stack.last() {
        Some(Frame::Cmd(_)) => quoted(&mut stack, Ctx::Plain),
        Some(Frame::Single) => quoted(&mut stack, Ctx::Single),
        Some(Frame::AnsiC) => quoted(&mut stack, Ctx::AnsiC),
        Some(Frame::Double) => quoted(&mut stack, Ctx::Double),
        Some(Frame::Backtick) => Ctx::Refused(BACKTICK),
        Some(Frame::Arith { .. }) => Ctx::Refused(ARITH),
        Some(Frame::Param { .. }) => Ctx::Refused(PARAM),
        Some(Frame::Comment) => Ctx::Refused(COMMENT),
        Some(Frame::Heredoc { .. }) => Ctx::Refused(HEREDOC),
        None => Ctx::Plain,
    }
}

#[cfg(test)]
#[path = "shell_context_tests.rs"]
mod tests;
