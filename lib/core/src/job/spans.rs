//! Map a JSON path (`brev.on_finish`, `image.steps[2].pip_install`) back to a line and
//! column in the job file's text, so every error can point at the exact spot. The text has
//! already parsed as JSON when this runs, so the scanner can be small and trusting.

/// One step of a JSON path.
#[derive(Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(n) = idx.trim_end_matches(']').parse() {
                segs.push(Seg::Index(n));
            }
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

    fn skip_value(&mut self) -> Option<()> {
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
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.eat(b':')?;
                    }
                    self.skip_value()?;
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

    /// Move to the value of `seg` inside the container at the cursor.
    fn enter(&mut self, seg: &Seg) -> Option<()> {
        match seg {
            Seg::Key(k) => {
                self.eat(b'{')?;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let key = self.string()?;
                    self.eat(b':')?;
                    if &key == k {
                        self.ws();
                        return Some(());
                    }
                    self.skip_value()?;
                    self.eat(b',')?;
                }
            }
            Seg::Index(n) => {
                self.eat(b'[')?;
                for _ in 0..*n {
                    self.skip_value()?;
                    self.eat(b',')?;
                }
                self.ws();
                Some(())
            }
        }
    }
}

/// The 1-based line and column of the value at `path` in `text`, or of the deepest part
/// of the path that exists (a missing key points at its parent object).
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut sc = Scanner {
        b: text.as_bytes(),
        i: 0,
    };
    sc.ws();
    let mut best = sc.i;
    for seg in parse_path(path) {
        if sc.enter(&seg).is_none() {
            break;
        }
        best = sc.i;
    }
    Some(line_col(text, best))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
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
        assert_eq!(locate(TEXT, "name"), Some((2, 11)));
        assert_eq!(locate(TEXT, "brev.on_finish"), Some((7, 25)));
        assert_eq!(locate(TEXT, "image.steps[1].index_url"), Some((5, 41)));
        assert_eq!(locate(TEXT, "image.steps[0]"), Some((4, 5)));
    }

    #[test]
    fn missing_key_points_at_parent() {
        assert_eq!(locate(TEXT, "brev.mode"), Some((7, 11)));
        assert_eq!(locate(TEXT, ""), Some((1, 1)));
    }
}
