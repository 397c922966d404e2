//! The limits an input-derived value can hit on its way through AWS, and how
//! each is kept: a signed event that ingest answered 202 for must be storable,
//! queueable and publishable every time, or it fails on every retry.
//!
//! | limit | where | kept by |
//! |---|---|---|
//! | partition key ≤ 2,048 bytes | ledger, status table | Subnoto `eventUuid` hashed past 128 bytes (`verify::subnoto::event_key`); subjects hashed past [`MAX_SUBJECT_KEY_BYTES`] ([`subject_key`]) |
//! | item ≤ 400 KB | ledger | body ≤ `MAX_BODY_BYTES` (checked at start-up); listing copies of subject and type capped ([`cap`]) |
//! | item ≤ 400 KB | status table | each text field capped at [`MAX_FIELD_BYTES`], metadata at [`MAX_METADATA_BYTES`] (else a marker), signer identities at [`MAX_FIELD_BYTES`] |
//! | item ≤ 400 KB, entry < 256 KB | status table, bus | metadata values (SpotDraft key pointers) at most [`MAX_KEY_POINTERS_BYTES`] of JSON text, labels and names capped at [`MAX_FIELD_BYTES`] |
//! | map nesting ≤ 32 | status table | metadata stored as JSON text, not a map |
//! | message ≤ 256 KiB | SQS | an event that does not fit is sent by reference (the processor reads the ledger) |
//! | characters #x9 #xA #xD #x20–#xD7FF #xE000–#xFFFD #x10000+ | SQS bodies and attributes | others escaped in the body ([`sqs_safe_json`]), replaced in attributes ([`sqs_attribute`]) |
//! | no empty String attribute | SQS | empty attributes left out |
//! | JSON nesting 128 | every reader of the queue message | metadata carried as raw JSON, skipped without recursion |

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// Longest text field kept on a status item or as a listing copy (bytes).
pub const MAX_FIELD_BYTES: usize = 2048;
/// Largest external metadata kept on a status item (bytes of JSON text).
pub const MAX_METADATA_BYTES: usize = 100 * 1024;
/// Largest metadata values (key pointers, JSON text) kept on a status item
/// and published: with the rest of the item and the entry, under both the
/// 400 KB item and the 256 KB bus entry.
pub const MAX_KEY_POINTERS_BYTES: usize = 64 * 1024;
/// Longest subject used in a status key as it is.
pub const MAX_SUBJECT_KEY_BYTES: usize = 1024;
/// What a hashed subject key part starts with.
pub const HASHED_SUBJECT_PREFIX: &str = "subject-sha256:";
/// SQS's limit on a message (body and attributes), bytes.
pub const SQS_MAX_MESSAGE_BYTES: usize = 262_144;

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cap(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The status table key of a subject: `{provider}#{subject}`, the subject
/// hashed when it is too long for a key ([`subject_key`]).
pub fn status_key(provider: verify::Provider, subject: &str) -> String {
    format!("{provider}#{}", subject_key(subject))
}

/// The subject part of a status key: the subject itself, or, when it is
/// longer than [`MAX_SUBJECT_KEY_BYTES`] or looks hashed, `subject-sha256:` +
/// its SHA-256 (so no subject can take another's key). The item keeps the
/// subject (capped) for display.
pub fn subject_key(subject: &str) -> Cow<'_, str> {
    if subject.len() <= MAX_SUBJECT_KEY_BYTES && !subject.starts_with(HASHED_SUBJECT_PREFIX) {
        Cow::Borrowed(subject)
    } else {
        let digest = Sha256::digest(subject.as_bytes());
        Cow::Owned(format!(
            "{HASHED_SUBJECT_PREFIX}{}",
            const_hex::encode(digest)
        ))
    }
}

/// True for a character SQS accepts in a message body or attribute.
pub fn sqs_allows(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// JSON text with every character SQS refuses written as a `\uXXXX` escape.
/// serde_json already escapes control characters; what is left are U+FFFE
/// and U+FFFF, which can only stand inside strings, where the escape means
/// the same character.
pub fn sqs_safe_json(json: String) -> String {
    if json.chars().all(sqs_allows) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if sqs_allows(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{:04x}", c as u32));
        }
    }
    out
}

/// A message attribute value SQS accepts: refused characters replaced with
/// U+FFFD, at most [`MAX_FIELD_BYTES`] / 8 bytes; `None` when nothing is left
/// (SQS refuses an empty String attribute).
pub fn sqs_attribute(value: &str) -> Option<String> {
    let cleaned: String = value
        .chars()
        .map(|c| if sqs_allows(c) { c } else { '\u{FFFD}' })
        .collect();
    let capped = cap(&cleaned, MAX_FIELD_BYTES / 8);
    (!capped.is_empty()).then(|| capped.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_cut_at_character_boundaries() {
        assert_eq!(cap("abc", 5), "abc");
        assert_eq!(cap("abcdef", 3), "abc");
        assert_eq!(cap("aé", 2), "a"); // é is two bytes
        assert_eq!(cap("", 0), "");
    }

    #[test]
    fn long_or_hashed_looking_subjects_are_hashed() {
        assert_eq!(subject_key("48213"), "48213");
        let long = "e".repeat(2100);
        let key = subject_key(&long);
        assert!(
            key.starts_with(HASHED_SUBJECT_PREFIX) && key.len() < 100,
            "{key}"
        );
        assert_ne!(subject_key(&"e".repeat(2101)), key);
        assert_eq!(subject_key(&"e".repeat(1024)), "e".repeat(1024));
        assert_ne!(subject_key(&key), key, "a subject spelled like a hash");
    }

    #[test]
    fn sqs_text_is_escaped_or_replaced() {
        let json = serde_json::to_string("a\u{FFFE}b\u{FFFF}\u{1}\u{10000}").unwrap();
        let safe = sqs_safe_json(json);
        assert!(safe.chars().all(sqs_allows), "{safe}");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "a\u{FFFE}b\u{FFFF}\u{1}\u{10000}");
        assert_eq!(sqs_attribute(""), None);
        assert_eq!(sqs_attribute("A\u{0}B").as_deref(), Some("A\u{FFFD}B"));
        assert_eq!(sqs_attribute(&"x".repeat(1000)).unwrap().len(), 256);
    }
}
