//! Lenient field reading shared by the providers' parsers: absent or unreadable
//! fields become `None` (noted, never refused), times become Unix milliseconds,
//! and the canonical-JSON dedup key.

use std::borrow::Cow;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::ParseError;
use crate::json::{self, Node, Object};

/// SHA-256 (hex) of the canonical JSON of `node`.
pub(crate) fn canonical_key(node: &Node<'_>, size_hint: usize) -> String {
    let mut canonical = Vec::with_capacity(size_hint);
    node.write_canonical(&mut canonical);
    crate::dedup::sha256_hex(&canonical)
}

pub(crate) fn not_json(e: json::Error) -> ParseError {
    ParseError::NotJson(match e {
        json::Error::Utf8(e) => format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        // serde_json's message has position and category only, never content.
        json::Error::Json(e) => format!(
            "{} at line {} column {}",
            category(&e),
            e.line(),
            e.column()
        ),
    })
}

fn category(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Data => "invalid data",
        Category::Eof => "unexpected end of input",
    }
}

/// Reads the fields of a payload leniently: a field that is absent is `None`,
/// and so is one whose value cannot be read, which is also noted in
/// [`Event::unread_fields`]. Nothing here refuses a signed event.
#[derive(Debug, Default)]
pub(crate) struct Lenient {
    pub(crate) unread: Vec<&'static str>,
}

impl Lenient {
    /// Notes `name` as unreadable and gives `None`.
    pub(crate) fn unread<T>(&mut self, name: &'static str) -> Option<T> {
        if !self.unread.contains(&name) {
            self.unread.push(name);
        }
        None
    }

    /// A text member: a string, or a number's exact text. Null and absent are
    /// `None`; other types are unread.
    pub(crate) fn text<'o>(
        &mut self,
        value: Option<&'o Node<'_>>,
        name: &'static str,
    ) -> Option<Cow<'o, str>> {
        match value {
            None | Some(Node::Null) => None,
            Some(Node::String(s)) => Some(Cow::Borrowed(s)),
            Some(n @ (Node::Number(_) | Node::Decimal(..))) => n.number_text(),
            Some(_) => self.unread(name),
        }
    }

    /// [`Lenient::text`], owned; empty text counts as absent.
    pub(crate) fn owned(&mut self, value: Option<&Node<'_>>, name: &'static str) -> Option<String> {
        self.text(value, name)
            .filter(|s| !s.is_empty())
            .map(Cow::into_owned)
    }

    /// An object member; null and absent are `None`, other types unread.
    pub(crate) fn object<'o, 'a>(
        &mut self,
        value: Option<&'o Node<'a>>,
        name: &'static str,
    ) -> Option<&'o Object<'a>> {
        match value {
            None | Some(Node::Null) => None,
            Some(Node::Object(o)) => Some(o),
            Some(_) => self.unread(name),
        }
    }

    /// A point in time as Unix milliseconds: an RFC 3339 / ISO 8601 date-time,
    /// or a Unix time (a number or digits in a string). `unit` says how a
    /// number is read. Anything else is unread.
    pub(crate) fn time_ms(
        &mut self,
        value: Option<&Node<'_>>,
        name: &'static str,
        unit: Epoch,
    ) -> Option<i64> {
        let epoch = |v: f64| epoch_ms(v, unit);
        let parsed = match value {
            None | Some(Node::Null) => return None,
            Some(Node::String(s)) => {
                let s = s.trim();
                parse_rfc3339_ms(s).or_else(|| s.parse::<f64>().ok().and_then(epoch))
            }
            Some(Node::Number(n)) => n.as_f64().and_then(epoch),
            Some(Node::Decimal(v, _)) => epoch(*v),
            Some(_) => None,
        };
        parsed.or_else(|| self.unread(name))
    }
}

/// How a numeric Unix time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epoch {
    /// Milliseconds, as the provider documents (Subnoto `eventTime`).
    Millis,
    /// Seconds or milliseconds, told apart by size: a field documented as a
    /// date-time that arrives as a number (SpotDraft `activity_data.timestamp`).
    SecondsOrMillis,
}

/// Below this a Unix time of unknown unit is read as seconds (1e11 s is the
/// year 5138; 1e11 ms is March 1973, before any webhook).
const SECONDS_BELOW: f64 = 1e11;

/// A Unix time to milliseconds; `None` when it is not finite, negative, or
/// past the year 9999.
fn epoch_ms(v: f64, unit: Epoch) -> Option<i64> {
    const MAX_MS: f64 = 253_402_300_800_000.0; // 10000-01-01T00:00:00Z
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let seconds = unit == Epoch::SecondsOrMillis && v < SECONDS_BELOW;
    let ms = if seconds { v * 1000.0 } else { v };
    (ms < MAX_MS).then_some(ms as i64)
}

/// RFC 3339 in any offset to Unix milliseconds. A date-time without an offset is
/// read as UTC, which is what SpotDraft means when it omits one.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let parsed = OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        let naive = time::PrimitiveDateTime::parse(
            s,
            &time::format_description::well_known::Iso8601::DEFAULT,
        )
        .ok()?;
        Some(naive.assume_utc())
    })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_offsets_agree() {
        let z = parse_rfc3339_ms("2026-11-22T10:02:11.904Z").unwrap();
        assert_eq!(z, 1_795_341_731_904);
        assert_eq!(parse_rfc3339_ms("2026-11-22T15:32:11.904+05:30"), Some(z));
        assert_eq!(parse_rfc3339_ms("2026-11-22T05:02:11.904-05:00"), Some(z));
        assert_eq!(parse_rfc3339_ms("2026-11-22T10:02:11.904000Z"), Some(z));
        assert_eq!(parse_rfc3339_ms("2026-11-22T10:02:11.904"), Some(z));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
