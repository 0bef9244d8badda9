//! Just enough GraphQL for RunPod's calls: one operation (`query`, `mutation` or a bare
//! `{...}`), fields with aliases, arguments (literals, enums, lists, objects and `$vars`,
//! also inside objects) and selection sets. The runpod SDK writes values inline; runplz
//! sends variables: both read the same.

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub alias: Option<String>,
    pub args: Map<String, Value>,
    pub sels: Vec<Field>,
}

impl Field {
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(char),
    Name(String),
    Str(String),
    Num(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() || ch == ',' || ch == '\u{feff}' {
            i += 1;
        } else if ch == '#' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if "{}()[]:$!=@".contains(ch) {
            out.push(Tok::Punct(ch));
            i += 1;
        } else if ch == '"' {
            i += 1;
            let mut v = String::new();
            loop {
                match c.get(i) {
                    None => return Err("Syntax Error: Unterminated string.".into()),
                    Some('"') => break,
                    Some('\\') => {
                        i += 1;
                        match c.get(i) {
                            Some('n') => v.push('\n'),
                            Some('t') => v.push('\t'),
                            Some('u') => {
                                let h: String = c[i + 1..(i + 5).min(c.len())].iter().collect();
                                v.push(
                                    u32::from_str_radix(&h, 16)
                                        .ok()
                                        .and_then(char::from_u32)
                                        .unwrap_or('?'),
                                );
                                i += 4;
                            }
                            Some(x) => v.push(*x),
                            None => return Err("Syntax Error: Unterminated string.".into()),
                        }
                    }
                    Some(x) => v.push(*x),
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str(v));
        } else if ch == '-' || ch.is_ascii_digit() {
            let st = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_digit() || ".eE+-".contains(c[i])) {
                i += 1;
            }
            out.push(Tok::Num(c[st..i].iter().collect()));
        } else if ch == '_' || ch.is_ascii_alphabetic() {
            let st = i;
            while i < c.len() && (c[i] == '_' || c[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push(Tok::Name(c[st..i].iter().collect()));
        } else if ch == '.' && c.get(i + 1) == Some(&'.') {
            return Err("Syntax Error: fragments are not supported by this fake".into());
        } else {
            return Err(format!("Syntax Error: Unexpected character: \"{ch}\"."));
        }
    }
    Ok(out)
}

struct P<'a> {
    t: Vec<Tok>,
    i: usize,
    vars: &'a Map<String, Value>,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Result<Tok, String> {
        let t = self
            .t
            .get(self.i)
            .cloned()
            .ok_or("Syntax Error: Expected Name, found <EOF>.")?;
        self.i += 1;
        Ok(t)
    }
    fn expect(&mut self, ch: char) -> Result<(), String> {
        match self.next()? {
            Tok::Punct(c) if c == ch => Ok(()),
            t => Err(format!("Syntax Error: Expected \"{ch}\", found {t:?}.")),
        }
    }
    fn is(&self, ch: char) -> bool {
        self.peek() == Some(&Tok::Punct(ch))
    }
    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Name(n) => Ok(n),
            t => Err(format!("Syntax Error: Expected Name, found {t:?}.")),
        }
    }
    fn sels(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut out = Vec::new();
        while !self.is('}') {
            let n = self.name()?;
            let (alias, name) = if self.is(':') {
                self.i += 1;
                (Some(n), self.name()?)
            } else {
                (None, n)
            };
            let mut args = Map::new();
            if self.is('(') {
                self.i += 1;
                while !self.is(')') {
                    let k = self.name()?;
                    self.expect(':')?;
                    args.insert(k, self.value()?);
                }
                self.i += 1;
            }
            let sels = if self.is('{') {
                self.sels()?
            } else {
                Vec::new()
            };
            out.push(Field {
                name,
                alias,
                args,
                sels,
            });
        }
        self.i += 1;
        Ok(out)
    }
    fn value(&mut self) -> Result<Value, String> {
        match self.next()? {
            Tok::Punct('$') => {
                let n = self.name()?;
                Ok(self.vars.get(&n).cloned().unwrap_or(Value::Null))
            }
            Tok::Punct('[') => {
                let mut v = Vec::new();
                while !self.is(']') {
                    v.push(self.value()?);
                }
                self.i += 1;
                Ok(Value::Array(v))
            }
            Tok::Punct('{') => {
                let mut m = Map::new();
                while !self.is('}') {
                    let k = self.name()?;
                    self.expect(':')?;
                    m.insert(k, self.value()?);
                }
                self.i += 1;
                Ok(Value::Object(m))
            }
            Tok::Str(s) => Ok(Value::String(s)),
            Tok::Num(n) => Ok(serde_json::from_str(&n)
                .map_err(|_| format!("Syntax Error: Invalid number {n}"))?),
            Tok::Name(n) => Ok(match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                // An enum value reads as its name.
                _ => Value::String(n),
            }),
            t => Err(format!("Syntax Error: Unexpected {t:?}.")),
        }
    }
}

/// The operation (`query` or `mutation`) and its top fields.
pub fn parse(doc: &str, vars: &Map<String, Value>) -> Result<(String, Vec<Field>), String> {
    let mut p = P {
        t: lex(doc)?,
        i: 0,
        vars,
    };
    let op = match p.peek() {
        Some(Tok::Punct('{')) => "query".to_string(),
        _ => {
            let op = p.name()?;
            if op != "query" && op != "mutation" {
                return Err(format!("Syntax Error: Unexpected Name \"{op}\"."));
            }
            if matches!(p.peek(), Some(Tok::Name(_))) {
                p.i += 1;
            }
            if p.is('(') {
                // Variable definitions: their values come from `variables`.
                let mut depth = 0;
                loop {
                    match p.next()? {
                        Tok::Punct('(') => depth += 1,
                        Tok::Punct(')') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            op
        }
    };
    let sels = p.sels()?;
    if p.i != p.t.len() {
        return Err("Syntax Error: only one operation per document in this fake".into());
    }
    Ok((op, sels))
}

/// `v` cut to what `sels` asks, as a GraphQL server answers; an unknown field is an error
/// (fields whose names start with `_` are the fake's own and never answered).
pub fn project(v: &Value, sels: &[Field], ty: &str) -> Result<Value, String> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Array(a) => Ok(Value::Array(
            a.iter()
                .map(|x| project(x, sels, ty))
                .collect::<Result<_, _>>()?,
        )),
        Value::Object(m) => {
            if sels.is_empty() {
                return Err(format!(
                    "Field of type \"{ty}\" must have a selection of subfields."
                ));
            }
            let mut out = Map::new();
            for f in sels {
                if f.name == "__typename" {
                    out.insert(f.key().into(), Value::String(ty.into()));
                    continue;
                }
                let Some(x) = m.get(&f.name).filter(|_| !f.name.starts_with('_')) else {
                    return Err(format!(
                        "Cannot query field \"{}\" on type \"{ty}\".",
                        f.name
                    ));
                };
                out.insert(f.key().into(), project(x, &f.sels, &f.name)?);
            }
            Ok(Value::Object(out))
        }
        scalar => {
            if !sels.is_empty() {
                return Err(format!(
                    "Field \"{ty}\" must not have a selection since its type is a scalar."
                ));
            }
            Ok(scalar.clone())
        }
    }
}
