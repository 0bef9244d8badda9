//! JSON paths (`brev.on_finish`, `image.steps[2].pip_install`, `env["MY-VAR"]`) and where
//! they are in a job file's text, so every error can point at the exact line and column. The
//! text has already parsed as JSON when this runs, so the scanner can be small and trusting.
//! It also finds duplicate keys, which `serde_json::Value` would silently collapse.

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Append `key` to a path: `parent.key`, or `parent["key"]` when the key is not a plain
/// identifier (so `env["A.B"]` cannot be mistaken for a nested path).
pub fn join_key(parent: &str, key: &str) -> String {
    if crate::quote::is_identifier(key) || key == "$schema" {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        format!("{parent}[{}]", serde_json::Value::from(key))
    }
}

/// Append an array index to a path.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// Render segments as a path string.
pub fn format_path(segs: &[Seg]) -> String {
    segs.iter().fold(String::new(), |p, s| match s {
        Seg::Key(k) => join_key(&p, k),
        Seg::Index(i) => join_index(&p, *i),
    })
}

/// Split a path string into segments (the inverse of [`format_path`]). Unparsable tails are
/// dropped, which only makes the location coarser.
pub fn segments(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[\"") {
            // A quoted key: a JSON string up to the matching `"]`.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in r.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let Some(end) = end else { break };
            match serde_json::from_str::<String>(&format!("\"{}\"", &r[..end])) {
                Ok(k) => segs.push(Seg::Key(k)),
                Err(_) => break,
            }
            rest = r[end + 1..].strip_prefix(']').unwrap_or("");
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { break };
            match r[..end].parse() {
                Ok(n) => segs.push(Seg::Index(n)),
                Err(_) => break,
            }
            rest = &r[end + 1..];
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            segs.push(Seg::Key(r[..end].to_string()));
            rest = &r[end..];
        }
    }
    segs
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let start = self.i;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    let raw = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                    self.i += 1;
                    return serde_json::from_str(&format!("\"{raw}\"")).ok();
                }
                _ => self.i += 1,
            }
        }
        None
    }

    /// Skip one value. With `dups`, report the first key that repeats within an object, as
    /// (path, offset of the second occurrence).
    fn skip_value(&mut self, path: &str, dups: &mut Option<(String, usize)>) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.peek()? == close {
                    self.i += 1;
                    return Some(());
                }
                let mut seen = std::collections::HashSet::new();
                let mut index = 0;
                loop {
                    let child = if open == b'{' {
                        self.ws();
                        let at = self.i;
                        let key = self.string()?;
                        self.eat(b':')?;
                        let child = join_key(path, &key);
                        if !seen.insert(key) && dups.is_none() {
                            *dups = Some((child.clone(), at));
                        }
                        child
                    } else {
                        index += 1;
                        join_index(path, index - 1)
                    };
                    self.skip_value(&child, dups)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        c if c == close => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => {
                while self.i < self.b.len() && !b",]} \t\r\n".contains(&self.b[self.i]) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    /// Move to the value of `seg` inside the container at the cursor; returns the offset
    /// of the key (or of the element, for an index).
    fn enter(&mut self, seg: &Seg) -> Option<usize> {
        match seg {
            Seg::Key(k) => {
                self.eat(b'{')?;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let at = self.i;
                    let key = self.string()?;
                    self.eat(b':')?;
                    if &key == k {
                        self.ws();
                        return Some(at);
                    }
                    self.skip_value("", &mut None)?;
                    self.eat(b',')?;
                }
            }
            Seg::Index(n) => {
                self.eat(b'[')?;
                for _ in 0..*n {
                    self.skip_value("", &mut None)?;
                    self.eat(b',')?;
                }
                self.ws();
                Some(self.i)
            }
        }
    }
}

/// The 1-based line and column of the value at `path` in `text`, or of the deepest part
/// of the path that exists (a missing key points at its parent object).
pub fn locate(text: &str, path: &str) -> (usize, usize) {
    find(text, path, false)
}

/// Like [`locate`], but points at the last key itself rather than its value (for "unknown
/// key" and "bad key" errors).
pub fn locate_key(text: &str, path: &str) -> (usize, usize) {
    find(text, path, true)
}

fn find(text: &str, path: &str, at_key: bool) -> (usize, usize) {
    let mut sc = Scanner {
        b: text.as_bytes(),
        i: 0,
    };
    sc.ws();
    let mut best = sc.i;
    for seg in segments(path) {
        match sc.enter(&seg) {
            Some(key_at) => best = if at_key { key_at } else { sc.i },
            None => break,
        }
    }
    line_col(text, best)
}

/// The first key that appears twice in one object: its path and the line and column of the
/// second occurrence.
pub fn duplicate_key(text: &str) -> Option<(String, (usize, usize))> {
    let mut sc = Scanner {
        b: text.as_bytes(),
        i: 0,
    };
    let mut dups = None;
    sc.skip_value("", &mut dups);
    dups.map(|(path, at)| (path, line_col(text, at)))
}

/// The byte offset of a 1-based line and column (in characters); the inverse of
/// [`line_col`], clamped to the text.
pub fn offset_of(text: &str, (line, col): (usize, usize)) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[start.min(text.len())..];
    start
        + rest
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"name\": \"x\",\n  \"image\": {\"steps\": [\n    {\"apt_install\": [\"a\"]},\n    {\"pip_install\": [\"b\"], \"index_url\": \"u\"}\n  ]},\n  \"brev\": {\"on_finish\": \"destroy\"}\n}";

    #[test]
    fn finds_nested_values() {
        assert_eq!(locate(TEXT, "name"), (2, 11));
        assert_eq!(locate(TEXT, "brev.on_finish"), (7, 25));
        assert_eq!(locate(TEXT, "image.steps[1].index_url"), (5, 41));
        assert_eq!(locate(TEXT, "image.steps[0]"), (4, 5));
        assert_eq!(locate(TEXT, "image.steps[0].apt_install[0]"), (4, 22));
    }

    #[test]
    fn keys_point_at_the_key() {
        assert_eq!(locate_key(TEXT, "brev.on_finish"), (7, 12));
        assert_eq!(locate_key(TEXT, "image.steps[1].index_url"), (5, 28));
    }

    #[test]
    fn missing_key_points_at_parent() {
        assert_eq!(locate(TEXT, "brev.mode"), (7, 11));
        assert_eq!(locate(TEXT, ""), (1, 1));
        assert_eq!(locate("  \n [1]", ""), (2, 2));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let t = "{\"env\": {\"É\": \"é\", \"MY-VAR\": 1}}";
        assert_eq!(locate(t, "env[\"MY-VAR\"]"), (1, 30));
        assert_eq!(locate_key(t, "env[\"MY-VAR\"]"), (1, 20));
    }

    #[test]
    fn odd_keys_round_trip() {
        for path in [
            "a.b[2].c",
            "env[\"MY-VAR\"]",
            "env[\"a.b\"].x",
            "args[\"q\\\"]\"]",
            "$schema",
        ] {
            assert_eq!(format_path(&segments(path)), path);
        }
        assert_eq!(
            segments("env[\"a.b\"][3]"),
            vec![
                Seg::Key("env".into()),
                Seg::Key("a.b".into()),
                Seg::Index(3)
            ]
        );
    }

    #[test]
    fn offsets_and_positions_agree() {
        let t = "ab\nçd\n\nx";
        for off in [0, 1, 3, 5, 7, 8] {
            assert_eq!(offset_of(t, line_col(t, off)), off);
        }
        assert_eq!(offset_of(t, (9, 9)), t.len());
    }

    #[test]
    fn finds_duplicate_keys() {
        let t = "{\"a\": 1,\n \"b\": {\"c\": 1, \"c\": 2}}";
        assert_eq!(duplicate_key(t), Some(("b.c".to_string(), (2, 16))));
        assert_eq!(duplicate_key("{\"a\": [{\"x\": 1}, {\"x\": 2}]}"), None);
    }
}
