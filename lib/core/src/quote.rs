//! POSIX shell quoting. Everything runplz sends to a remote shell (paths, package names,
//! commands, env values) goes through [`sh`] so that spaces, quotes, `$(..)` and newlines
//! arrive as the same bytes.

/// Quote one word for a POSIX shell. Safe words are left bare so scripts stay readable.
pub fn sh(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Quote each word and join with spaces.
pub fn join<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| sh(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `s` is a valid shell variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_words() {
        assert_eq!(sh("plain-1.0"), "plain-1.0");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("$(rm -rf ~)"), "'$(rm -rf ~)'");
        assert_eq!(sh("pandas>=2.0"), "'pandas>=2.0'");
        assert_eq!(sh("a\nb"), "'a\nb'");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let words = [
            "a b",
            "it's",
            "$(echo pwned)",
            "`id`",
            "x\ny",
            "ünï",
            "*",
            "\\",
            "\"q\"",
        ];
        let script = format!("printf '%s\\0' {}", join(words));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        assert_eq!(got, words);
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("MY_VAR1"));
        assert!(is_identifier("_x"));
        assert!(!is_identifier("MY-VAR"));
        assert!(!is_identifier("1X"));
        assert!(!is_identifier(""));
    }
}
