//! A few lines of JSON writing: objects, arrays, numbers, and strings from
//! bytes that may not be UTF-8 (each byte of an invalid sequence is written
//! as the four characters `\xNN`, the same escape the human output uses).
//! The documents are small and fixed in shape, so no JSON crate is needed.

/// A JSON document being written.
#[derive(Debug, Default)]
pub struct Json {
    out: Vec<u8>,
    /// Per open object/array: has it a member yet?
    first: Vec<bool>,
}

/// A value to write.
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Str(&'a [u8]),
}

impl Json {
    pub fn new() -> Json {
        Json::default()
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'\n');
        self.out
    }

    fn comma(&mut self) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(b',');
            }
            *first = false;
        }
    }

    fn key(&mut self, key: &str) {
        self.comma();
        string(&mut self.out, key.as_bytes());
        self.out.push(b':');
    }

    /// `{` as a member `key` (or as an array element / the root with "").
    pub fn open(&mut self, key: &str, array: bool) {
        if key.is_empty() {
            self.comma();
        } else {
            self.key(key);
        }
        self.out.push(if array { b'[' } else { b'{' });
        self.first.push(true);
    }

    pub fn close(&mut self, array: bool) {
        self.first.pop();
        self.out.push(if array { b']' } else { b'}' });
    }

    /// A member `key: value` (or an array element with "").
    pub fn put(&mut self, key: &str, value: Value<'_>) {
        if key.is_empty() {
            self.comma();
        } else {
            self.key(key);
        }
        match value {
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(b) => self
                .out
                .extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Int(n) => self.out.extend_from_slice(n.to_string().as_bytes()),
            Value::Str(s) => string(&mut self.out, s),
        }
    }

    pub fn str(&mut self, key: &str, s: impl AsRef<[u8]>) {
        self.put(key, Value::Str(s.as_ref()));
    }

    pub fn int(&mut self, key: &str, n: impl Into<i128>) {
        self.put(key, Value::Int(n.into()));
    }

    pub fn opt_int(&mut self, key: &str, n: Option<impl Into<i128>>) {
        match n {
            Some(n) => self.int(key, n),
            None => self.put(key, Value::Null),
        }
    }

    pub fn opt_str(&mut self, key: &str, s: Option<impl AsRef<[u8]>>) {
        match s {
            Some(s) => self.str(key, s),
            None => self.put(key, Value::Null),
        }
    }
}

/// A JSON string of `bytes`.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\r' => out.extend_from_slice(b"\\r"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for b in chunk.invalid() {
            // A backslash written as JSON's `\\`, then `xNN`.
            out.extend_from_slice(format!("\\\\x{b:02x}").as_bytes());
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_always_utf8() {
        let mut j = Json::new();
        j.open("", false);
        j.str("a", b"q\"\\\n\x01\xffz\xc3\xa9");
        j.open("l", true);
        j.int("", 1);
        j.put("", Value::Null);
        j.close(true);
        j.put("b", Value::Bool(true));
        j.close(false);
        assert_eq!(
            String::from_utf8(j.finish()).expect("utf-8"),
            "{\"a\":\"q\\\"\\\\\\n\\u0001\\\\xffz\u{e9}\",\"l\":[1,null],\"b\":true}\n"
        );
    }
}
