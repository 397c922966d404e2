//! A JSON tree that borrows from the body it was parsed from.
//!
//! Reading a verified payload needs a handful of fields and, for SpotDraft, the
//! SHA-256 of the whole document in canonical form. Building a
//! `serde_json::Value` for that copies every string and allocates a B-tree per
//! object; a [`Node`] points into the body for every string without escapes and
//! keeps each object as one vector in input order (sorted only when canonical
//! JSON is written). [`Node::select`] goes further and builds nothing for the
//! members a reader does not need. Numbers are `serde_json::Number`, so they
//! read and render exactly as they do through a `Value` (including
//! `float_roundtrip`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Number, Value};

/// One JSON value, strings borrowed from the input where possible.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its members in input order. A name given twice means its
/// last value, as in `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Object<'a>(Vec<(Cow<'a, str>, Node<'a>)>);

impl<'a> Object<'a> {
    /// The member called `name` (its last occurrence). A scan: payload objects
    /// are small, and most names are rejected on their length alone.
    pub(crate) fn get(&self, name: &str) -> Option<&Node<'a>> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The members in canonical order: sorted by the UTF-8 bytes of their
    /// names, one per name (the last).
    fn canonical_members(&self) -> Vec<&(Cow<'a, str>, Node<'a>)> {
        // Reversed, a stable sort puts the last occurrence of a name first among
        // equals, and `dedup_by` keeps the first of each run.
        let mut members: Vec<_> = self.0.iter().rev().collect();
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        members.dedup_by(|later, kept| later.0 == kept.0);
        members
    }
}

/// Why a document could not be read.
#[derive(Debug)]
pub(crate) enum Error {
    /// The bytes are not UTF-8 (`simdutf8`: the same check as `std::str::from_utf8`,
    /// with SIMD).
    Utf8(simdutf8::compat::Utf8Error),
    /// The text is not JSON (serde_json's error has a position, never content).
    Json(serde_json::Error),
}

/// Which members of an object [`Node::select`] keeps: each name with `None` to
/// keep the whole value, or a nested selection for a member that should be an
/// object (any other value there is kept whole).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Select<'w>(pub &'w [(&'w str, Option<Select<'w>>)]);

impl<'a> Node<'a> {
    /// Parses one JSON document; trailing characters other than whitespace are an error.
    pub(crate) fn from_slice(json: &'a [u8]) -> Result<Node<'a>, Error> {
        // One UTF-8 check of the whole input is cheaper than one per string.
        let text = simdutf8::compat::from_utf8(json).map_err(Error::Utf8)?;
        serde_json::from_str(text).map_err(Error::Json)
    }

    /// Parses one JSON document, keeping of each object that `select` names
    /// only the members it lists; nothing is built for the others. Everything is
    /// checked for JSON syntax and the whole input for UTF-8, but escapes inside
    /// members that are not kept are not decoded, so a lone surrogate escape
    /// there (which [`Node::from_slice`] refuses) goes through.
    pub(crate) fn select(json: &'a [u8], select: Select<'_>) -> Result<Node<'a>, Error> {
        let text = simdutf8::compat::from_utf8(json).map_err(Error::Utf8)?;
        let mut de = serde_json::Deserializer::from_str(text);
        let node = de
            .deserialize_any(SelectVisitor(select))
            .map_err(Error::Json)?;
        de.end().map_err(Error::Json)?;
        Ok(node)
    }

    pub(crate) fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Node::Object(o) => Some(o),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// An owned `serde_json::Value` with the same content.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.clone().into_owned()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            // Inserted in input order, so a repeated name keeps its last value.
            Node::Object(o) => Value::Object(
                o.0.iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// Appends the canonical JSON of this value to `out`: see
    /// [`crate::canonical_json`]. Object members are sorted here.
    pub(crate) fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Number(n) => write_number(n, out),
            Node::String(s) => write_str_node(s, out),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_canonical(out);
                }
                out.push(b']');
            }
            Node::Object(o) => {
                out.push(b'{');
                for (i, (k, v)) in o.canonical_members().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str_node(k, out);
                    out.push(b':');
                    v.write_canonical(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// A string of a parsed document in canonical form. A borrowed string had no
/// backslash in the input, and JSON forbids raw control characters, so it has
/// nothing serde_json would escape: its input bytes are its canonical form.
#[allow(clippy::ptr_arg)] // whether it is borrowed is the point
fn write_str_node(s: &Cow<'_, str>, out: &mut Vec<u8>) {
    match s {
        Cow::Borrowed(raw) => {
            out.reserve(raw.len() + 2);
            out.push(b'"');
            out.extend_from_slice(raw.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(decoded) => write_string(decoded, out),
    }
}

/// A JSON string with serde_json's escaping, which is minimal and so canonical.
pub(crate) fn write_string(s: &str, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and a str always serialises.
    let _ = serde_json::to_writer(out, s);
}

/// A number as serde_json renders it (integers exactly, floats shortest round-trip).
pub(crate) fn write_number(n: &Number, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(out, n);
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        // As serde_json's Value: a float JSON cannot hold becomes null.
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(name) = map.next_key_seed(NameSeed)? {
            members.push((name, map.next_value()?));
        }
        Ok(Node::Object(Object(members)))
    }
}

/// A value whose objects keep only the selected members; other values are
/// read whole, exactly as [`NodeVisitor`] reads them.
struct SelectVisitor<'w>(Select<'w>);

impl<'de> DeserializeSeed<'de> for SelectVisitor<'_> {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SelectVisitor<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut members = Vec::with_capacity(self.0 .0.len());
        while let Some(name) = map.next_key_seed(NameSeed)? {
            match self.0 .0.iter().find(|(wanted, _)| *wanted == name) {
                Some((_, None)) => members.push((name, map.next_value()?)),
                Some((_, Some(nested))) => {
                    members.push((name, map.next_value_seed(SelectVisitor(*nested))?))
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Node::Object(Object(members)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Node<'de>, A::Error> {
        NodeVisitor.visit_seq(seq)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        NodeVisitor.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        NodeVisitor.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        NodeVisitor.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        NodeVisitor.visit_f64(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        NodeVisitor.visit_borrowed_str(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        NodeVisitor.visit_str(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        NodeVisitor.visit_unit()
    }
}

/// A member name, borrowed from the input when it has no escapes. (`Cow<str>`'s
/// own `Deserialize` always copies.)
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(NameSeed)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(json: &str) -> String {
        let mut out = Vec::new();
        Node::from_slice(json.as_bytes())
            .unwrap()
            .write_canonical(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let node = Node::from_slice(br#"{"plain":"abc","esc\u0061ped":"a\nb"}"#).unwrap();
        let o = node.as_object().unwrap();
        assert!(matches!(
            o.get("plain"),
            Some(Node::String(Cow::Borrowed("abc")))
        ));
        assert!(matches!(o.get("escaped"), Some(Node::String(Cow::Owned(s))) if s == "a\nb"));
        assert!(
            matches!(o.0[1].0, Cow::Owned(_)),
            "the escaped name is decoded"
        );
    }

    #[test]
    fn duplicate_names_keep_the_last_value_like_serde_json() {
        let json = r#"{"b":1,"a":2,"b":3,"a":4,"c":5,"b":6}"#;
        let value: Value = serde_json::from_str(json).unwrap();
        assert_eq!(canonical(json), r#"{"a":4,"b":6,"c":5}"#);
        assert_eq!(canonical(json), crate::canonical_json(&value));
        assert_eq!(Node::from_slice(json.as_bytes()).unwrap().to_value(), value);
    }

    #[test]
    fn lookup_finds_every_member() {
        let node = Node::from_slice(br#"{"z":1,"a":2,"m":3,"\u00e9":4,"A":5}"#).unwrap();
        let o = node.as_object().unwrap();
        for (k, n) in [("z", 1u64), ("a", 2), ("m", 3), ("é", 4), ("A", 5)] {
            assert_eq!(o.get(k), Some(&Node::Number(n.into())), "{k}");
        }
        assert_eq!(o.get("b"), None);
        let big: String = (0..100).map(|i| format!(",\"k{i}\":{i}")).collect();
        let big = format!("{{\"first\":0{big}}}");
        let node = Node::from_slice(big.as_bytes()).unwrap();
        let o = node.as_object().unwrap();
        for i in 0..100u64 {
            assert_eq!(o.get(&format!("k{i}")), Some(&Node::Number(i.into())));
        }
        assert_eq!((o.get("k100"), o.get("")), (None, None));
    }

    const KEEP: Select<'static> = Select(&[("kept", None), ("obj", Some(Select(&[("k", None)])))]);

    #[test]
    fn rejects_what_serde_json_rejects() {
        for bad in [
            &b"{"[..],
            b"{\"a\":1,}",
            b"[1] x",
            b"\"\xff\"",
            b"1e400",
            b"",
            b"{\"skipped\":\"\xff\"}",
            b"{\"skipped\":{\"\xc3\":1}}",
            b"{\"skipped\":[1,]}",
            b"{\"skipped\":\"a\nb\"}",
            b"{\"obj\":{\"skipped\":\"\\x\"}}",
            b"{\"obj\":{\"k\":\"\\ud800\"}}",
            b"[\"\xff\"]",
        ] {
            let shown = String::from_utf8_lossy(bad);
            assert!(serde_json::from_slice::<Value>(bad).is_err(), "{shown}");
            assert!(Node::from_slice(bad).is_err(), "{shown}");
            assert!(Node::select(bad, KEEP).is_err(), "{shown}");
        }
        // The one difference: escapes in values that are not kept are not decoded.
        let lone = br#"{"skipped":["\ud800"],"kept":1}"#;
        assert!(Node::from_slice(lone).is_err());
        let kept = Node::select(lone, KEEP).unwrap();
        assert_eq!(
            kept.as_object().unwrap().get("kept"),
            Some(&Node::Number(1u64.into()))
        );
    }

    #[test]
    fn selected_members_equal_the_full_parse() {
        let json = br#"{"a":[1,{"x":"y"}],"kept":{"k":"v\n"},"b":"\u00e9","kept":7,"obj":{"k":[1],"z":2,"k":{"deep":true}},"c":{}}"#;
        let full = Node::from_slice(json).unwrap();
        let full = full.as_object().unwrap();
        let some = Node::select(json, KEEP).unwrap();
        let some = some.as_object().unwrap();
        assert_eq!(some.get("kept"), full.get("kept"));
        assert_eq!(some.get("kept"), Some(&Node::Number(7u64.into())));
        let obj = some.get("obj").and_then(Node::as_object).unwrap();
        assert_eq!(
            obj.get("k"),
            full.get("obj").and_then(Node::as_object).unwrap().get("k")
        );
        assert_eq!(
            (obj.get("z"), some.get("a"), some.get("c")),
            (None, None, None)
        );
        // A selected member that is not an object is kept whole.
        let odd = Node::select(br#"{"obj":[{"k":1},"s"]}"#, KEEP).unwrap();
        let full = Node::from_slice(br#"[{"k":1},"s"]"#).unwrap();
        assert_eq!(odd.as_object().unwrap().get("obj"), Some(&full));
        for not_object in [&b"[1,{}]"[..], b"\"s\"", b"1.5", b"null", b"true"] {
            assert_eq!(
                Node::select(not_object, KEEP).unwrap(),
                Node::from_slice(not_object).unwrap()
            );
        }
    }
}
