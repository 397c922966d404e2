//! A JSON tree that borrows from the body it was parsed from.
//!
//! Reading a verified payload needs a handful of fields and, for SpotDraft, the
//! SHA-256 of the whole document in canonical form. Building a
//! `serde_json::Value` for that copies every string and allocates a B-tree per
//! object; a [`Node`] points into the body for every string without escapes and
//! keeps each object as one vector in input order (sorted only when canonical
//! JSON is written). [`read_members`] goes further and builds nothing for the
//! members a reader does not need. Integers that fit 64 bits are
//! `serde_json::Number` (exact); every other number (a fraction, an exponent, an
//! integer of more than 64 bits) keeps its text exactly as sent
//! ([`Node::Decimal`]): through `f64` two different numbers could become one, and
//! two different events one dedup key.

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Number;
#[cfg(test)]
use serde_json::{Map, Value};

/// One JSON value, strings borrowed from the input where possible.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    /// A number that is not a 64-bit integer: its text as sent (the `f64` is
    /// serde_json's reading, kept for the rare reader that wants a value). The
    /// text is empty only where [`read_members`] built the node, which never
    /// writes canonical JSON.
    Decimal(f64, Cow<'a, str>),
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

    /// This object without the members called any of `names`.
    pub(crate) fn without(&self, names: &[&str]) -> Object<'a> {
        Object(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_ref()))
                .cloned()
                .collect(),
        )
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

impl<'a> Node<'a> {
    /// Parses one JSON document; trailing characters other than whitespace are an error.
    pub(crate) fn from_slice(json: &'a [u8]) -> Result<Node<'a>, Error> {
        // One UTF-8 check of the whole input is cheaper than one per string.
        let text = simdutf8::compat::from_utf8(json).map_err(Error::Utf8)?;
        let mut node: Node<'a> = serde_json::from_str(text).map_err(Error::Json)?;
        if node.has_decimal() {
            // serde_json hands over only an `f64`; the number tokens of the
            // (now validated) text, in document order, give back what was sent.
            let mut tokens = number_tokens(text);
            node.fill_decimals(&mut tokens);
        }
        Ok(node)
    }

    fn has_decimal(&self) -> bool {
        match self {
            Node::Decimal(..) => true,
            Node::Array(items) => items.iter().any(Node::has_decimal),
            Node::Object(o) => o.0.iter().any(|(_, v)| v.has_decimal()),
            _ => false,
        }
    }

    /// Gives each number node, in document order, the next token's text.
    fn fill_decimals(&mut self, tokens: &mut impl Iterator<Item = &'a str>) {
        match self {
            Node::Number(_) => {
                tokens.next();
            }
            Node::Decimal(_, text) => {
                if let Some(token) = tokens.next() {
                    *text = Cow::Borrowed(token);
                }
            }
            Node::Array(items) => items.iter_mut().for_each(|n| n.fill_decimals(tokens)),
            Node::Object(o) => o.0.iter_mut().for_each(|(_, v)| v.fill_decimals(tokens)),
            _ => {}
        }
    }

    /// The exact text of a number node (integer or not).
    pub(crate) fn number_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Node::Number(n) => Some(Cow::Owned(n.to_string())),
            Node::Decimal(_, text) if !text.is_empty() => Some(Cow::Borrowed(text)),
            Node::Decimal(v, _) => Number::from_f64(*v).map(|n| Cow::Owned(n.to_string())),
            _ => None,
        }
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

    /// An owned `serde_json::Value` with the same content (numbers that are
    /// not 64-bit integers rounded through `f64`).
    #[cfg(test)]
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::Decimal(v, _) => Number::from_f64(*v).map_or(Value::Null, Value::Number),
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
            Node::Decimal(_, text) if !text.is_empty() => out.extend_from_slice(text.as_bytes()),
            Node::Decimal(v, _) => match Number::from_f64(*v) {
                Some(n) => write_number(&n, out),
                None => out.extend_from_slice(b"null"),
            },
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

/// The number tokens of a valid JSON text, in document order. Outside strings a
/// number is the only token that starts with `-` or a digit, and it runs over
/// digits, signs, `.` and exponent letters.
fn number_tokens(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() {
                        match bytes[i] {
                            b'\\' => i += 2,
                            b'"' => {
                                i += 1;
                                break;
                            }
                            _ => i += 1,
                        }
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < bytes.len()
                        && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        i += 1;
                    }
                    return Some(&text[start..i]);
                }
                _ => i += 1,
            }
        }
        None
    })
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
        // The text is filled in by `Node::from_slice` (serde_json gives only
        // the `f64`, rounded).
        Ok(Node::Decimal(v, Cow::Borrowed("")))
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

/// The members of an object that one reader needs, as a struct: see
/// [`read_members`]. Nothing is built for the others.
pub(crate) trait Members<'de>: Default {
    /// Reads the value of the member `name` into `self` and returns true, or
    /// returns false (reading nothing) for a member this reader skips. A name
    /// seen again overwrites: the last value counts, as in `serde_json::Value`.
    fn read<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<bool, A::Error>;
}

/// What a value read for its object members turned out to be. Anything but an
/// object or `null` is skipped (see [`read_members`]) and not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Object,
    Null,
    Other,
}

/// Parses one JSON document into `members`, the [`Members`] of its top-level
/// object (left at their defaults if it is not one).
///
/// The whole input is checked for UTF-8 and for JSON syntax. Values that are
/// not read (members a reader skips, arrays, a top level that is not an object)
/// go through serde_json's `IgnoredAny`, which checks their tokens only: their
/// escapes are not decoded (a lone surrogate escape passes), their numbers not
/// range-checked (`1e400` passes) and their nesting not limited (serde_json
/// skips it without recursion). [`Node::from_slice`] refuses all three.
pub(crate) fn read_members<'a, T: Members<'a>>(
    json: &'a [u8],
    members: &mut T,
) -> Result<Shape, Error> {
    let text = simdutf8::compat::from_utf8(json).map_err(Error::Utf8)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let shape = ReadInto(members)
        .deserialize(&mut de)
        .map_err(Error::Json)?;
    de.end().map_err(Error::Json)?;
    Ok(shape)
}

/// Reads a value into the [`Members`] it points at, in place: member structs
/// can be large, and returning them by value through serde costs copies.
/// The members are reset first, so only the last value of a member counts.
pub(crate) struct ReadInto<'m, T>(pub(crate) &'m mut T);

impl<'de, T: Members<'de>> DeserializeSeed<'de> for ReadInto<'_, T> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        // A later value of the member replaces an earlier object's members,
        // whatever it is (`null` included).
        *self.0 = T::default();
        d.deserialize_any(self)
    }
}

impl<'de, T: Members<'de>> Visitor<'de> for ReadInto<'_, T> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        while let Some(name) = map.next_key_seed(NameSeed)? {
            if !self.0.read(&name, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Shape::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| Shape::Other)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
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

    /// A reader of `kept` and of `obj.k`.
    #[derive(Debug, Default, PartialEq)]
    struct Keep<'a> {
        kept: Option<Node<'a>>,
        obj: Option<Shape>,
        inner: Inner<'a>,
    }

    #[derive(Debug, Default, PartialEq)]
    struct Inner<'a> {
        k: Option<Node<'a>>,
    }

    impl<'de> Members<'de> for Keep<'de> {
        fn read<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<bool, A::Error> {
            match name {
                "kept" => self.kept = Some(map.next_value()?),
                "obj" => self.obj = Some(map.next_value_seed(ReadInto(&mut self.inner))?),
                _ => return Ok(false),
            }
            Ok(true)
        }
    }

    impl<'de> Members<'de> for Inner<'de> {
        fn read<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<bool, A::Error> {
            if name != "k" {
                return Ok(false);
            }
            self.k = Some(map.next_value()?);
            Ok(true)
        }
    }

    fn keep(json: &[u8]) -> Result<(Shape, Keep<'_>), Error> {
        let mut keep = Keep::default();
        let shape = read_members(json, &mut keep)?;
        Ok((shape, keep))
    }

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
            b"{\"obj\":[1,}",
            b"[\"\xff\"]",
            b"[1,]",
        ] {
            let shown = String::from_utf8_lossy(bad);
            assert!(serde_json::from_slice::<Value>(bad).is_err(), "{shown}");
            assert!(Node::from_slice(bad).is_err(), "{shown}");
            assert!(keep(bad).is_err(), "{shown}");
        }
        // The one difference: escapes in values that are not kept are not decoded.
        let lone = br#"{"skipped":["\ud800"],"kept":1}"#;
        assert!(Node::from_slice(lone).is_err());
        let (shape, kept) = keep(lone).unwrap();
        assert_eq!(shape, Shape::Object);
        assert_eq!(kept.kept, Some(Node::Number(1u64.into())));
    }

    #[test]
    fn members_equal_the_full_parse_and_the_last_value_counts() {
        let json = br#"{"a":[1,{"x":"y"}],"kept":{"k":"v\n"},"b":"\u00e9","kept":7,"obj":{"k":[1],"z":2,"k":{"deep":true}},"c":{}}"#;
        let full = Node::from_slice(json).unwrap();
        let full = full.as_object().unwrap();
        let (shape, some) = keep(json).unwrap();
        assert_eq!((shape, some.obj), (Shape::Object, Some(Shape::Object)));
        assert_eq!(some.kept.as_ref(), full.get("kept"));
        assert_eq!(some.kept, Some(Node::Number(7u64.into())));
        let full_obj = full.get("obj").and_then(Node::as_object).unwrap();
        assert_eq!(some.inner.k.as_ref(), full_obj.get("k"));
        assert!(matches!(some.inner.k, Some(Node::Object(_))));
        // A later `obj` replaces the earlier one whole, members and all.
        let (_, later) = keep(br#"{"obj":{"k":1},"obj":{}}"#).unwrap();
        assert_eq!(
            (later.obj, later.inner),
            (Some(Shape::Object), Inner::default())
        );
    }

    #[test]
    fn values_that_are_not_objects_are_told_apart() {
        for (json, shape) in [
            (&br#"{"obj":[{"k":1},"s"]}"#[..], Shape::Other),
            (br#"{"obj":"s"}"#, Shape::Other),
            (br#"{"obj":1.5}"#, Shape::Other),
            (br#"{"obj":false}"#, Shape::Other),
            (br#"{"obj":null}"#, Shape::Null),
        ] {
            let (root, read) = keep(json).unwrap();
            let shown = String::from_utf8_lossy(json);
            assert_eq!((root, read.obj), (Shape::Object, Some(shape)), "{shown}");
            assert_eq!(read.inner, Inner::default(), "{shown}");
        }
        for (json, shape) in [
            (&b"[1,{}]"[..], Shape::Other),
            (b"\"s\"", Shape::Other),
            (b"-1", Shape::Other),
            (b"true", Shape::Other),
            (b" null ", Shape::Null),
        ] {
            assert_eq!(keep(json).unwrap(), (shape, Keep::default()));
        }
    }
}
