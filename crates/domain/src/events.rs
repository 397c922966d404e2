//! The contract-event detail published on the EventBridge bus: one vocabulary
//! for every provider, versioned, documented in `docs/contract-event.schema.json`.
//! Pure (no AWS types): `store::Bus` sends what is built here.

use serde::Serialize;
use verify::{Event, JsonText, Provider};

use crate::metadata_marker;
use crate::sync::{docusign, rank_text, subnoto, StatusUpdate};
use crate::StatusChange;

/// The `source` of every event this project publishes.
pub const SOURCE: &str = "contract-hooks";
/// `detail-type` of a processed provider event that did not change its
/// subject's status.
pub const CONTRACT_EVENT: &str = "Contract Event";
/// `detail-type` of a processed provider event that changed its subject's
/// status (`previous_status` / `previous_lifecycle` set).
pub const STATUS_CHANGED: &str = "Contract Status Changed";
/// `detail-type` the archiver publishes once an executed document is stored.
pub const DOCUMENT_ARCHIVED: &str = "Contract Document Archived";
/// `detail-type` the archiver publishes when an executed contract's
/// metadata values (SpotDraft key pointers) are captured or change.
pub const METADATA_CAPTURED: &str = "Contract Metadata Captured";
/// Version of the detail document; bumped on incompatible changes. "2": each
/// provider event is one entry, its detail-type saying whether it changed the
/// status ("1" published a `Contract Event` for every event and, for a
/// change, a `Contract Status Changed` besides).
pub const DETAIL_VERSION: &str = "2";
/// EventBridge's limit on one entry, as AWS counts it (source, detail-type,
/// detail, resources, 14 bytes for a time; this project sets neither of the
/// last two). AWS says "less than 256KB"; the lower reading, 256,000 bytes,
/// is used, so either reading holds.
pub const MAX_ENTRY_BYTES: usize = 256_000;

/// Where a contract stands, whoever the provider: SpotDraft `EXECUTED`,
/// Subnoto `COMPLETED` and DocuSign `COMPLETED` are all `executed`.
pub fn lifecycle(provider: Provider, status: Option<&str>) -> &'static str {
    let Some(status) = status else {
        return "unknown";
    };
    match provider {
        Provider::SpotDraft => match status.trim().to_ascii_uppercase().as_str() {
            "DRAFT" => "draft",
            "REDLINING" => "in_review",
            "ON_HOLD" => "on_hold",
            "SIGN" => "out_for_signature",
            "EXECUTED" => "executed",
            "VOIDED" => "voided",
            _ => "unknown",
        },
        Provider::Subnoto => match status {
            subnoto::CREATED => "draft",
            subnoto::SENT => "out_for_signature",
            subnoto::SIGNING => "signing",
            subnoto::COMPLETED => "executed",
            subnoto::DECLINED => "declined",
            subnoto::CANCELED => "voided",
            _ => "unknown",
        },
        Provider::DocuSign => match status {
            docusign::CREATED => "draft",
            docusign::SENT | docusign::DELIVERED => "out_for_signature",
            docusign::SIGNING => "signing",
            docusign::COMPLETED => "executed",
            docusign::DECLINED => "declined",
            docusign::VOIDED => "voided",
            _ => "unknown",
        },
    }
}

/// How the processor came to handle an event, as far as it can tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The event ranks below its subject's current state (status-table order:
    /// class, then time, then key): out of order, or of a lower class (no
    /// status, or e.g. Subnoto's ENVELOPE_OPENED after a signature). It did
    /// not become the state; its signer and missing fields may be recorded.
    pub superseded: bool,
    /// The processor may have handled this event before: SQS delivered the
    /// message again, it was re-sent (ingest's duplicate path, the sweep,
    /// `replay`), or it already is its subject's state.
    pub redelivered: bool,
}

/// The detail of a `Contract Event` or a `Contract Status Changed`: the same
/// fields, plus `previous_*` for a change.
#[derive(Debug, Clone, Serialize)]
pub struct ContractDetail<'a> {
    /// [`DETAIL_VERSION`].
    pub version: &'static str,
    /// The ledger key: stable across redeliveries; consumers dedupe on it.
    pub id: &'a str,
    /// `spotdraft` or `subnoto`.
    pub provider: Provider,
    /// Contract id (SpotDraft) or envelope uuid (Subnoto).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    /// The provider's event type, verbatim.
    pub provider_event_type: &'a str,
    /// The status this event reports (the provider's word), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'a str>,
    /// [`lifecycle`] of `status`.
    pub lifecycle: &'static str,
    /// The subject's status before this event (status changes only; absent
    /// for the subject's first status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<&'a str>,
    /// [`lifecycle`] of `previous_status`, `unknown` for a first status
    /// (status changes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_lifecycle: Option<&'static str>,
    /// The provider's event time, RFC 3339 (absent when the event had none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// When ingest first accepted it, RFC 3339.
    pub received_at: String,
    /// Where the event stands among its subject's events: the status table's
    /// order, as a string that sorts as the rank does. Highest wins.
    pub rank: String,
    /// [`Delivery::superseded`].
    pub superseded: bool,
    /// [`Delivery::redelivered`]: a hint; consumers dedupe on `id` all the same.
    pub redelivered: bool,
    /// Contract or envelope title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    /// SpotDraft contract reference id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
    /// SpotDraft contract kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_kind: Option<&'a str>,
    /// Subnoto workspace uuid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<&'a str>,
    /// Subnoto document uuid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<&'a str>,
    /// The first counterparty's organisation (SpotDraft).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<&'a str>,
    /// Who signed, on a signing event (personal data: goes to the user's bus,
    /// never to logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerDetail<'a>>,
    /// SpotDraft external metadata as sent (each number EventBridge cannot
    /// take exactly as a string of its text: [`crate::bus_numbers`]), or a
    /// marker (`{"contract_hooks_omitted": …, "bytes": N}`) when the entry
    /// would be too large for EventBridge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_metadata: Option<JsonText>,
    /// True when a field was shortened or replaced to fit EventBridge's entry limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// The signer in a detail (the fields of [`verify::Signer`]).
#[derive(Debug, Clone, Serialize)]
pub struct SignerDetail<'a> {
    /// Display name, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Email address, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
}

/// One entry to put on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEntry {
    /// [`CONTRACT_EVENT`], [`STATUS_CHANGED`] or [`DOCUMENT_ARCHIVED`].
    pub detail_type: &'static str,
    /// The detail, JSON.
    pub detail: String,
}

impl BusEntry {
    /// Bytes EventBridge counts for the entry.
    pub fn size(&self) -> usize {
        SOURCE.len() + self.detail_type.len() + self.detail.len()
    }
}

/// The one entry for a processed event: a `Contract Status Changed` when it
/// changed its subject's status (`previous_lifecycle` set; `previous_status`
/// too, unless it is the subject's first status), else a `Contract Event`.
/// One entry per provider event keeps `detail.id` unique on the bus and a
/// batch of ten events one `PutEvents` call.
pub fn entry_for(
    event: &Event,
    ledger_key: &str,
    received_at_ms: i64,
    change: &StatusChange,
    delivery: Delivery,
) -> BusEntry {
    let update = StatusUpdate::of(event, received_at_ms);
    let status = update.status.as_deref();
    let (changed, previous_status) = match change {
        StatusChange::Unchanged => (false, None),
        StatusChange::First => (status.is_some(), None),
        StatusChange::From(previous) => {
            let changed = status.is_some() && Some(previous.as_str()) != status;
            (changed, Some(previous.as_str()).filter(|_| changed))
        }
    };
    let mut detail = ContractDetail {
        version: DETAIL_VERSION,
        id: ledger_key,
        provider: event.provider,
        subject: event.subject.as_deref(),
        provider_event_type: &event.event_type,
        status,
        lifecycle: lifecycle(event.provider, status),
        previous_status,
        previous_lifecycle: changed.then(|| lifecycle(event.provider, previous_status)),
        occurred_at: event.occurred_at_ms.and_then(rfc3339),
        received_at: rfc3339(received_at_ms).unwrap_or_default(),
        rank: rank_text(&update.rank),
        superseded: delivery.superseded,
        redelivered: delivery.redelivered,
        title: event.title.as_deref(),
        reference: event.reference.as_deref(),
        contract_kind: event.contract_kind.as_deref(),
        workspace: event.workspace.as_deref(),
        document_id: event.document_id.as_deref(),
        counterparty: event.counterparty.as_deref(),
        signer: event.signer.as_ref().map(|s| SignerDetail {
            name: s.name.as_deref(),
            email: s.email.as_deref(),
        }),
        external_metadata: event.external_metadata.as_ref().and_then(|meta| {
            match crate::bus_numbers::bus_safe(meta.get()) {
                std::borrow::Cow::Borrowed(_) => Some(meta.clone()),
                std::borrow::Cow::Owned(text) => JsonText::new(text),
            }
        }),
        truncated: false,
    };
    let detail_type = if changed {
        STATUS_CHANGED
    } else {
        CONTRACT_EVENT
    };
    entry(detail_type, &mut detail)
}

/// Serialises `detail`, fitting it into one entry as AWS counts it: external
/// metadata first gives way to a marker, then the longest text field is cut
/// (at a character boundary) until the entry fits, `truncated` set. Every
/// field that comes from the provider can be cut; what cannot (id, rank,
/// times, flags) is bounded by construction. Never dropped, never refused.
fn entry(detail_type: &'static str, detail: &mut ContractDetail<'_>) -> BusEntry {
    // AWS: the entry must be *less than* the limit.
    let room = MAX_ENTRY_BYTES - 1 - SOURCE.len() - detail_type.len();
    let mut json = to_json(detail);
    if json.len() > room {
        if let Some(meta) = &detail.external_metadata {
            let marker = metadata_marker(meta.get().len());
            detail.external_metadata = JsonText::new(marker);
            detail.truncated = true;
            json = to_json(detail);
        }
    }
    while json.len() > room {
        let excess = json.len() - room;
        let Some(longest) = longest_text(detail) else {
            break;
        };
        let len = longest.len();
        // Cut by at least half, not just by the excess: an entry that only
        // just fits can still be too large once delivered (EventBridge adds
        // its envelope, and a target such as an SQS queue has its own 256 KiB
        // limit). Seen: cutting by the excess alone, the entry whose signer
        // name is all DEL characters failed on moto (which likely re-escapes
        // them as \u007f on the way to the queue; tests/tests/bus_limits.rs).
        // Halving also ends the loop whatever the escaping.
        *longest = crate::limits::cap(longest, len.saturating_sub(excess).min(len / 2));
        detail.truncated = true;
        json = to_json(detail);
    }
    BusEntry {
        detail_type,
        detail: json,
    }
}

/// The longest provider-supplied text of a detail (none when all are empty).
fn longest_text<'d, 'a>(detail: &'d mut ContractDetail<'a>) -> Option<&'d mut &'a str> {
    let signer = detail.signer.as_mut();
    let (name, email) = match signer {
        Some(s) => (s.name.as_mut(), s.email.as_mut()),
        None => (None, None),
    };
    [
        detail.subject.as_mut(),
        Some(&mut detail.provider_event_type),
        detail.status.as_mut(),
        detail.previous_status.as_mut(),
        detail.title.as_mut(),
        detail.reference.as_mut(),
        detail.contract_kind.as_mut(),
        detail.workspace.as_mut(),
        detail.document_id.as_mut(),
        detail.counterparty.as_mut(),
        name,
        email,
    ]
    .into_iter()
    .flatten()
    .filter(|text| !text.is_empty())
    .max_by_key(|text| text.len())
}

fn to_json(detail: &ContractDetail<'_>) -> String {
    // Serialising plain strings, numbers and raw JSON cannot fail.
    serde_json::to_string(detail).unwrap_or_default()
}

fn rfc3339(ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use verify::BodyFormat;

    fn spotdraft(json: &str) -> Event {
        Event::parse(Provider::SpotDraft, BodyFormat::Json, json.as_bytes()).unwrap()
    }

    #[test]
    fn executed_is_one_word_for_both_providers() {
        assert_eq!(lifecycle(Provider::SpotDraft, Some("EXECUTED")), "executed");
        assert_eq!(lifecycle(Provider::Subnoto, Some("COMPLETED")), "executed");
        assert_eq!(
            lifecycle(Provider::SpotDraft, Some("SIGN")),
            "out_for_signature"
        );
        assert_eq!(lifecycle(Provider::SpotDraft, Some("NEW_THING")), "unknown");
        assert_eq!(lifecycle(Provider::Subnoto, None), "unknown");
    }

    #[test]
    fn a_status_change_is_its_own_detail_type_with_the_previous_status() {
        let e = spotdraft(
            r#"{"activity":"CONTRACT_EXECUTED","contract_id":5,"contract_status":"EXECUTED","activity_data":{"timestamp":"2026-11-22T10:02:11.904Z"}}"#,
        );
        let at = 1_795_341_800_000;
        let detail = |entry: &BusEntry| -> serde_json::Value {
            serde_json::from_str(&entry.detail).unwrap()
        };
        let entry = |change| entry_for(&e, "spotdraft#k", at, &change, Delivery::default());
        let plain = entry(StatusChange::Unchanged);
        assert_eq!(plain.detail_type, CONTRACT_EVENT);
        assert!(detail(&plain).get("previous_status").is_none());
        assert!(detail(&plain).get("previous_lifecycle").is_none());
        let same = entry(StatusChange::From("EXECUTED".into()));
        assert_eq!(
            same.detail_type, CONTRACT_EVENT,
            "no change, no status event"
        );
        assert_eq!(detail(&same), detail(&plain));
        // A contract first seen executed became executed: a change from nothing.
        let first = entry(StatusChange::First);
        assert_eq!(first.detail_type, STATUS_CHANGED);
        assert!(detail(&first).get("previous_status").is_none());
        assert_eq!(detail(&first)["previous_lifecycle"], "unknown");
        let changed = entry(StatusChange::From("SIGN".into()));
        assert_eq!(changed.detail_type, STATUS_CHANGED);
        let d = detail(&changed);
        assert_eq!(d["version"], "2");
        assert_eq!(d["previous_status"], "SIGN");
        assert_eq!(d["previous_lifecycle"], "out_for_signature");
        assert_eq!(d["lifecycle"], "executed");
        assert_eq!(d["occurred_at"], "2026-11-22T10:02:11.904Z");
        assert_eq!(d["id"], "spotdraft#k");
        // Apart from previous_*, the detail is the same whichever the type.
        let mut without = d.clone();
        let map = without.as_object_mut().unwrap();
        map.remove("previous_status");
        map.remove("previous_lifecycle");
        assert_eq!(without, detail(&plain));
        // An event without a status changes nothing, whatever came before.
        let statusless = spotdraft(r#"{"activity":"CONTRACT_COMMENTED","contract_id":5}"#);
        for change in [StatusChange::First, StatusChange::From("SIGN".into())] {
            let entry = entry_for(&statusless, "spotdraft#c", at, &change, Delivery::default());
            assert_eq!(entry.detail_type, CONTRACT_EVENT);
        }
    }

    /// Each provider-supplied field alone as large as a body may be (and
    /// full of characters JSON escapes six-fold): the entry fits as AWS
    /// counts it, says `truncated`, and keeps every other field.
    #[test]
    fn every_large_field_is_cut_to_fit() {
        let huge = |c: char| c.to_string().repeat(262_144);
        for (field, c) in [
            ("subject", 'x'),
            ("event_type", 'y'),
            ("status", '\u{1}'),
            ("title", '"'),
            ("reference", 'é'),
            ("counterparty", 'z'),
            ("contract_kind", 'k'),
            ("workspace", 'w'),
            ("document_id", 'd'),
            ("signer_name", '\u{2}'),
            ("signer_email", '🙂'),
        ] {
            let mut e = spotdraft(
                r#"{"activity":"CONTRACT_SIGNED","contract_id":5,"contract_status":"SIGN","activity_data":{"performed_by":{"name":"n","email":"e@x"}}}"#,
            );
            let text = huge(c);
            e.signer = Some(verify::Signer {
                name: Some("n".into()),
                email: Some("e@x".into()),
            });
            match field {
                "subject" => e.subject = Some(text),
                "event_type" => e.event_type = text,
                "status" => e.status = Some(text),
                "title" => e.title = Some(text),
                "reference" => e.reference = Some(text),
                "counterparty" => e.counterparty = Some(text),
                "contract_kind" => e.contract_kind = Some(text),
                "workspace" => e.workspace = Some(text),
                "document_id" => e.document_id = Some(text),
                "signer_name" => e.signer.as_mut().unwrap().name = Some(text),
                "signer_email" => e.signer.as_mut().unwrap().email = Some(text),
                _ => unreachable!(),
            }
            for change in [StatusChange::Unchanged, StatusChange::From(huge('p'))] {
                let entry = entry_for(&e, "spotdraft#k", 1, &change, Delivery::default());
                assert!(
                    entry.size() < MAX_ENTRY_BYTES,
                    "{field}: {} bytes",
                    entry.size()
                );
                let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
                assert_eq!(detail["truncated"], true, "{field}");
                assert_eq!(detail["id"], "spotdraft#k", "{field}");
                assert!(detail["rank"].is_string(), "{field}");
            }
        }
    }

    #[test]
    fn numbers_eventbridge_cannot_take_go_as_their_text() {
        let e = spotdraft(
            r#"{"activity":"X","contract_id":5,"external_metadata":{"big":12345678901234567890,"huge":123456789012345678901234567890,"ok":42,"amount":1.10,"neg":-9223372036854775809}}"#,
        );
        let entry = entry_for(
            &e,
            "spotdraft#k",
            1,
            &StatusChange::Unchanged,
            Delivery::default(),
        );
        let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
        let meta = &detail["external_metadata"];
        assert_eq!(meta["big"], "12345678901234567890");
        assert_eq!(meta["huge"], "123456789012345678901234567890");
        assert_eq!(meta["neg"], "-9223372036854775809");
        assert_eq!(meta["ok"], 42);
        assert!(
            entry.detail.contains(r#""amount":1.10"#),
            "{}",
            entry.detail
        );
    }

    #[test]
    fn an_oversized_entry_keeps_its_event_with_a_marker() {
        let e = spotdraft(&format!(
            r#"{{"activity":"CONTRACT_EDITED","contract_id":5,"external_metadata":{{"amount":1.10,"blob":"{}"}}}}"#,
            "x".repeat(300_000)
        ));
        let entry = entry_for(
            &e,
            "spotdraft#k",
            1,
            &StatusChange::Unchanged,
            Delivery::default(),
        );
        assert!(entry.size() < MAX_ENTRY_BYTES);
        let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
        assert_eq!(detail["truncated"], true);
        assert_eq!(
            detail["external_metadata"]["contract_hooks_omitted"],
            "external_metadata too large"
        );
        // A small one is carried exactly, numbers as sent.
        let small = spotdraft(r#"{"activity":"X","external_metadata":{"amount":1.10}}"#);
        let entry = entry_for(
            &small,
            "spotdraft#k",
            1,
            &StatusChange::First,
            Delivery::default(),
        );
        assert!(entry
            .detail
            .contains(r#""external_metadata":{"amount":1.10}"#));
        assert!(!entry.detail.contains("truncated"));
    }
}
