//! Borrowed, single-pass views of JSON records: an object becomes its list of
//! `(key, raw value)` pairs without allocating its strings, so mapping only pays for the
//! values it keeps.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::coerce::{parse_number, Number};

/// A key that borrows from the input unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

pub type Entries<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

struct ObjectEntries<'a>(Entries<'a>);

impl<'de> Deserialize<'de> for ObjectEntries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ObjectEntries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(ObjectEntries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses one JSON object into its entries, in input order.
pub fn parse_object(text: &str) -> Result<Entries<'_>, serde_json::Error> {
    serde_json::from_str::<ObjectEntries>(text).map(|o| o.0)
}

/// Parses a JSON array into its raw elements.
pub fn parse_array(text: &str) -> Result<Vec<&RawValue>, serde_json::Error> {
    struct Elements<'a>(Vec<&'a RawValue>);
    impl<'de> Deserialize<'de> for Elements<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Elements<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a JSON array")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some(v) = seq.next_element::<&'de RawValue>()? {
                        out.push(v);
                    }
                    Ok(Elements(out))
                }
            }
            d.deserialize_seq(V)
        }
    }
    serde_json::from_str::<Elements>(text).map(|e| e.0)
}

/// A raw JSON value seen as what mapping needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(Number),
    Bool(bool),
    Null,
    Object(&'a str),
    Array(&'a str),
}

/// Classifies a raw value; strings without escapes stay borrowed.
pub fn scalar(raw: &RawValue) -> Scalar<'_> {
    scalar_text(raw.get())
}

/// [`scalar`] over the text of one valid JSON value (no surrounding whitespace).
pub fn scalar_text(s: &str) -> Scalar<'_> {
    match s.as_bytes().first() {
        Some(b'"') => {
            let inner = &s[1..s.len() - 1];
            if memchr::memchr(b'\\', inner.as_bytes()).is_some() {
                Scalar::Str(Cow::Owned(
                    serde_json::from_str::<String>(s).unwrap_or_default(),
                ))
            } else {
                Scalar::Str(Cow::Borrowed(inner))
            }
        }
        Some(b'{') => Scalar::Object(s),
        Some(b'[') => Scalar::Array(s),
        Some(b't') => Scalar::Bool(true),
        Some(b'f') => Scalar::Bool(false),
        Some(b'n') | None => Scalar::Null,
        Some(_) => parse_number(s).map_or(Scalar::Null, Scalar::Num),
    }
}

impl Scalar<'_> {
    /// The value as text, for columns that are strings whatever the input type.
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Scalar::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Scalar::Num(Number::Int(i)) => Some(Cow::Owned(i.to_string())),
            Scalar::Num(Number::Float(f)) => Some(Cow::Owned(f.to_string())),
            Scalar::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Scalar::Null | Scalar::Object(_) | Scalar::Array(_) => None,
        }
    }
}

/// Tracks whether the bytes of JSON text are inside a string literal.
#[derive(Debug, Default, Clone, Copy)]
pub struct StringState {
    in_str: bool,
    esc: bool,
}

impl StringState {
    /// Feeds one byte; true when it is structural: outside every string and not a quote.
    pub fn structural(&mut self, c: u8) -> bool {
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if c == b'\\' {
                self.esc = true;
            } else if c == b'"' {
                self.in_str = false;
            }
            false
        } else if c == b'"' {
            self.in_str = true;
            false
        } else {
            true
        }
    }

    pub fn in_string(&self) -> bool {
        self.in_str
    }
}

/// Removes the whitespace between JSON tokens (pretty-printed input becomes compact);
/// borrowed when there is none.
pub fn minify(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut state = StringState::default();
    if !b
        .iter()
        .any(|&c| state.structural(c) && c.is_ascii_whitespace())
    {
        return Cow::Borrowed(text);
    }
    let mut state = StringState::default();
    let out: Vec<u8> = b
        .iter()
        .copied()
        .filter(|&c| !(state.structural(c) && c.is_ascii_whitespace()))
        .collect();
    // Only ASCII whitespace outside strings was removed: still valid UTF-8.
    Cow::Owned(String::from_utf8(out).expect("removing ASCII keeps UTF-8 valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_intact() {
        assert_eq!(
            minify("{\n  \"a b\": [1, 2],\n  \"c\": \"x \\\" y\"\n}"),
            "{\"a b\":[1,2],\"c\":\"x \\\" y\"}"
        );
        assert!(matches!(minify("{\"a\":\"b c\"}"), Cow::Borrowed(_)));
    }

    #[test]
    fn entries_borrow_and_keep_order() {
        let text = r#"{"b": 1, "a\u0041": "x\"y", "c": {"d": [1, 2]}, "e": null}"#;
        let e = parse_object(text).unwrap();
        let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "aA", "c", "e"]);
        assert!(matches!(e[0].0, Cow::Borrowed(_)));
        assert_eq!(scalar(e[0].1), Scalar::Num(Number::Int(1)));
        assert_eq!(scalar(e[1].1), Scalar::Str(Cow::Owned("x\"y".into())));
        assert_eq!(scalar(e[2].1), Scalar::Object(r#"{"d": [1, 2]}"#));
        assert_eq!(scalar(e[3].1), Scalar::Null);
    }

    #[test]
    fn non_objects_and_broken_json_are_errors() {
        assert!(parse_object("[1,2]").is_err());
        assert!(parse_object(r#"{"a": 1"#).is_err());
        assert!(parse_object(r#"{"a": 1} trailing"#).is_err());
        let deep = "[".repeat(10_000);
        assert!(parse_object(&format!("{{\"a\": {deep}")).is_err());
        assert_eq!(parse_array(r#"[{"a":1}, 2]"#).unwrap().len(), 2);
    }
}
