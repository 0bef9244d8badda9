//! Test helper: a login shell that is not POSIX, standing in for csh or fish. sshd runs
//! `rpt-cshell -c COMMAND`; it understands one simple command only: words split on blanks,
//! `'...'` quoted (no newline inside, as in csh; `\\` and `\'` are escapes inside, as in
//! fish), `\x` outside quotes, and a leading `exec`. Anything sh-specific (`;`, `|`, `&`,
//! `$`, `(`, a backquote, a double quote, globs, `~`, a newline) is a syntax error (exit 1),
//! so a tool that sends an sh script to the login shell fails as it would on such a box.
use std::os::unix::process::CommandExt;

fn words(cmd: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = cmd.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    out.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        None => return Err("Unmatched '.".into()),
                        Some('\n') => return Err("Unmatched '. (newline in quotes)".into()),
                        Some('\'') => break,
                        Some('\\') if matches!(chars.peek(), Some('\\' | '\'')) => {
                            w.push(chars.next().unwrap())
                        }
                        Some(c) => w.push(c),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(n) if n != '\n' => word.get_or_insert_with(String::new).push(n),
                _ => return Err("trailing backslash".into()),
            },
            c if ";&|<>()$`\"*?[]{}~#!\n".contains(c) => {
                return Err(format!("syntax not understood: {c:?}"))
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    Ok(out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match args.as_slice() {
        [c, cmd] if c == "-c" => cmd,
        _ => {
            eprintln!("rpt-cshell: only `-c COMMAND` is supported");
            std::process::exit(1);
        }
    };
    let mut w = match words(cmd) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("rpt-cshell: {e}");
            std::process::exit(1);
        }
    };
    if w.first().map(String::as_str) == Some("exec") {
        w.remove(0);
    }
    let Some(program) = w.first() else {
        std::process::exit(0);
    };
    let e = std::process::Command::new(program).args(&w[1..]).exec();
    eprintln!("rpt-cshell: {program}: {e}");
    std::process::exit(127);
}
