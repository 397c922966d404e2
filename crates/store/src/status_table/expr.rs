//! The status table's update expressions: names and values collected with
//! their placeholders, the fields a winning event writes, and the writes that
//! still apply when an event is superseded (signers, fields kept by rank).

use crate::schema::attr;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::limits::{cap, MAX_FIELD_BYTES, MAX_METADATA_BYTES};
use domain::metadata_marker;
use std::collections::HashMap;
use verify::Event;

/// Collects an update expression's clauses, names and values, and the
/// condition of a write that must not overwrite a higher-ranked value.
#[derive(Default)]
pub(super) struct Expr {
    pub(super) set: Vec<String>,
    pub(super) add: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
    pub(super) condition: Option<String>,
}

impl Expr {
    pub(super) fn name(&mut self, attribute: &'static str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, attribute: &'static str, value: AttributeValue) -> String {
        let placeholder = format!(":{attribute}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub(super) fn set(&mut self, attribute: &'static str, value: AttributeValue) {
        let (n, v) = (self.name(attribute), self.value(attribute, value));
        self.set.push(format!("{n} = {v}"));
    }

    /// Sets `field` and its rank attribute, on condition that the stored rank
    /// is lower or missing.
    pub(super) fn set_if_outranks(
        &mut self,
        field: &'static str,
        value: AttributeValue,
        rank: &str,
    ) {
        self.set(field, value);
        let rank_attribute = rank_attribute(field);
        let (r, v) = (
            self.name(rank_attribute),
            self.value(rank_attribute, s(rank)),
        );
        self.set.push(format!("{r} = {v}"));
        self.condition = Some(format!("attribute_not_exists({r}) OR {r} < {v}"));
    }

    pub(super) fn add(&mut self, attribute: &'static str, value: AttributeValue) {
        let (n, v) = (self.name(attribute), self.value(attribute, value));
        self.add.push(format!("{n} {v}"));
    }

    pub(super) fn update_expression(&self) -> String {
        let mut out = String::new();
        if !self.set.is_empty() {
            out.push_str("SET ");
            out.push_str(&self.set.join(", "));
        }
        if !self.add.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str("ADD ");
            out.push_str(&self.add.join(", "));
        }
        out
    }
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The descriptive fields an event carries, as attribute values: text capped
/// at [`MAX_FIELD_BYTES`], metadata over [`MAX_METADATA_BYTES`] replaced by
/// [`metadata_marker`] (the ledger keeps the body whole), so no mix of fields
/// from different events can outgrow DynamoDB's 400 KB item.
pub(super) fn fields(event: &Event) -> Vec<(&'static str, AttributeValue)> {
    let mut out = Vec::new();
    let mut push = |name, value: &Option<String>| {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            out.push((name, s(cap(v, MAX_FIELD_BYTES))));
        }
    };
    push(attr::TITLE, &event.title);
    push(attr::REFERENCE, &event.reference);
    push(attr::WORKSPACE, &event.workspace);
    push(attr::DOCUMENT_ID, &event.document_id);
    push(attr::COUNTERPARTY, &event.counterparty);
    push(attr::CONTRACT_KIND, &event.contract_kind);
    if let Some(meta) = &event.external_metadata {
        let text = meta.get();
        let kept = if text.len() <= MAX_METADATA_BYTES {
            text.to_owned()
        } else {
            metadata_marker(text.len())
        };
        out.push((attr::EXTERNAL_METADATA, s(kept)));
    }
    out
}

/// The attribute holding the rank (as [`rank_text`]) of the event whose value
/// `field` holds. A field's value is that of the highest-ranked event that had
/// the field: what in-order delivery leaves, since a winning event writes the
/// fields it has and keeps the others.
pub(super) fn rank_attribute(field: &'static str) -> &'static str {
    match field {
        attr::TITLE => "title_rank",
        attr::REFERENCE => "reference_rank",
        attr::WORKSPACE => "workspace_rank",
        attr::DOCUMENT_ID => "document_id_rank",
        attr::COUNTERPARTY => "counterparty_rank",
        attr::EXTERNAL_METADATA => "external_metadata_rank",
        attr::CONTRACT_KIND => "contract_kind_rank",
        _ => "field_rank",
    }
}

/// What a superseded event still has to write, given the stored item the
/// failed condition returned (`None`: not returned, so assume nothing), one
/// `UpdateItem` each: its signer if the item does not list it yet (an
/// unconditional `ADD`), then each of its fields whose stored value comes from
/// a lower-ranked event, or is missing (conditional on that field's rank, so a
/// concurrent writer with a higher rank is never overwritten). Nothing when the
/// item already has all of it: a redelivered event writes nothing.
pub(super) fn superseded_writes(
    fields: Vec<(&'static str, AttributeValue)>,
    signers: Option<AttributeValue>,
    stored: Option<&HashMap<String, AttributeValue>>,
    rank: &str,
) -> Vec<Expr> {
    let signer_add = signers.and_then(|set| {
        let known: Option<&Vec<String>> = stored
            .and_then(|item| item.get(attr::SIGNERS))
            .and_then(|v| v.as_ss().ok());
        let new = match (&set, known) {
            (AttributeValue::Ss(ours), Some(known)) => ours.iter().any(|s| !known.contains(s)),
            _ => true,
        };
        new.then(|| {
            let mut add = Expr::default();
            add.add(attr::SIGNERS, set);
            add
        })
    });
    let mut writes: Vec<Expr> = signer_add.into_iter().collect();
    for (name, value) in fields {
        let stored_rank = stored
            .and_then(|item| item.get(rank_attribute(name)))
            .and_then(|v| v.as_s().ok());
        // Written even when the value is the same: the rank must rise, or a
        // later event ranked between the two would replace the value.
        let outranks = stored_rank.is_none_or(|stored_rank| stored_rank.as_str() < rank);
        if outranks {
            let mut set = Expr::default();
            set.set_if_outranks(name, value, rank);
            writes.push(set);
        }
    }
    writes
}

/// The attribute that keeps an event's status change until it is published.
pub fn unpublished_attribute(event_key: &str) -> String {
    format!("{}{event_key}", attr::UNPUBLISHED_PREFIX)
}

/// The signer's identity (as [`verify::Signer::identity`]: the email, else the
/// name; blank values do not count) as a one-element string set.
pub(super) fn signer_set(event: &Event) -> Option<AttributeValue> {
    let signer = event.signer.as_ref()?;
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let identity = present(&signer.email).or_else(|| present(&signer.name))?;
    Some(AttributeValue::Ss(vec![cap(
        &identity,
        MAX_FIELD_BYTES / 8,
    )
    .to_owned()]))
}
