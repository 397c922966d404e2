//! The status table: one item per subject (`{provider}#{subject}`) holding the
//! state of the highest-ranked event seen for it (see [`domain::sync`]), plus the
//! signers seen so far whatever their order.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use verify::{Event, JsonText, Provider};

use domain::limits::{cap, subject_key, MAX_FIELD_BYTES, MAX_METADATA_BYTES};
use domain::sync::{rank_text, StatusUpdate};
use domain::{metadata_marker, StatusChange};

use crate::schema::attr;
use crate::StoreError;

/// What [`StatusTable::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event outranked the stored state and is now the subject's state.
    Updated,
    /// The stored state is from a higher-ranked event (or this very event):
    /// only its signer and fields still unknown were added.
    Superseded,
    /// The event names no subject; nothing to apply.
    NoSubject,
}

impl Applied {
    /// Short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Applied::Updated => "updated",
            Applied::Superseded => "superseded",
            Applied::NoSubject => "no_subject",
        }
    }
}

/// What applying one event did, and whether it changed its subject's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What was written.
    pub applied: Applied,
    /// Whether this event changed its subject's status: it reports a status
    /// other than the stored one, or the first status the subject gets. Also
    /// a change for any later copy of the event (a redelivery, a duplicate in
    /// flight) while the change is not known to be on the bus: the item keeps
    /// it until [`StatusTable::forget_published`], whichever event is the
    /// subject's state by then, so no copy can lose it.
    pub status_change: StatusChange,
    /// The item holds an `unpublished#{key}` attribute for this event: remove
    /// it with [`StatusTable::forget_published`] once its entry is published.
    pub unpublished: bool,
    /// The event was already its subject's state before this call (applied
    /// before: a redelivery of the current winner).
    pub already_applied: bool,
}

/// A status item as read back (tests, CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusItem {
    /// Provider.
    pub provider: String,
    /// Contract id or envelope uuid.
    pub subject: String,
    /// Current status; absent while only status-less events were seen.
    pub status: Option<String>,
    /// Event type of the winning event.
    pub last_event_type: String,
    /// Its provider time (or arrival time), ms.
    pub event_time_ms: i64,
    /// Its dedup key.
    pub last_event_key: String,
    /// Its rank class.
    pub rank_class: u8,
    /// When it was applied, ms.
    pub updated_at_ms: i64,
    /// Title.
    pub title: Option<String>,
    /// SpotDraft contract reference id.
    pub reference: Option<String>,
    /// SpotDraft external metadata (canonical JSON, numbers as sent), or a
    /// marker when it was larger than [`MAX_METADATA_BYTES`].
    pub external_metadata: Option<JsonText>,
    /// SpotDraft contract kind.
    pub contract_kind: Option<String>,
    /// Subnoto workspace uuid.
    pub workspace: Option<String>,
    /// Subnoto document uuid.
    pub document_id: Option<String>,
    /// First counterparty (SpotDraft).
    pub counterparty: Option<String>,
    /// Identities (email, else name) of everyone seen signing.
    pub signers: BTreeSet<String>,
}

/// The DynamoDB status table.
#[derive(Debug, Clone)]
pub struct StatusTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// Collects an update expression's clauses, names and values, and the
/// condition of a write that must not overwrite a higher-ranked value.
#[derive(Default)]
struct Expr {
    set: Vec<String>,
    add: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    condition: Option<String>,
}

impl Expr {
    fn name(&mut self, attribute: &'static str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, attribute: &'static str, value: AttributeValue) -> String {
        let placeholder = format!(":{attribute}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn set(&mut self, attribute: &'static str, value: AttributeValue) {
        let (n, v) = (self.name(attribute), self.value(attribute, value));
        self.set.push(format!("{n} = {v}"));
    }

    /// Sets `field` and its rank attribute, on condition that the stored rank
    /// is lower or missing.
    fn set_if_outranks(&mut self, field: &'static str, value: AttributeValue, rank: &str) {
        self.set(field, value);
        let rank_attribute = rank_attribute(field);
        let (r, v) = (
            self.name(rank_attribute),
            self.value(rank_attribute, s(rank)),
        );
        self.set.push(format!("{r} = {v}"));
        self.condition = Some(format!("attribute_not_exists({r}) OR {r} < {v}"));
    }

    fn add(&mut self, attribute: &'static str, value: AttributeValue) {
        let (n, v) = (self.name(attribute), self.value(attribute, value));
        self.add.push(format!("{n} {v}"));
    }

    fn update_expression(&self) -> String {
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

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The descriptive fields an event carries, as attribute values: text capped
/// at [`MAX_FIELD_BYTES`], metadata over [`MAX_METADATA_BYTES`] replaced by
/// [`metadata_marker`] (the ledger keeps the body whole), so no mix of fields
/// from different events can outgrow DynamoDB's 400 KB item.
fn fields(event: &Event) -> Vec<(&'static str, AttributeValue)> {
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
fn rank_attribute(field: &'static str) -> &'static str {
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
fn superseded_writes(
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

/// The status change an event made, read from the stored item when that
/// event is still the subject's state (it was applied before: a redelivery,
/// a replay): from the kept `previous_status` ([`StatusChange::stored`]). A
/// winner's change is so published again by every later copy, even after it
/// was published (at least once; consumers dedupe on `id`).
fn redelivered_change(
    item: &HashMap<String, AttributeValue>,
    key: &str,
    status: Option<&str>,
) -> StatusChange {
    let text = |name| item.get(name).and_then(|v| v.as_s().ok());
    if status.is_none() || text(attr::LAST_EVENT_KEY).map(String::as_str) != Some(key) {
        return StatusChange::Unchanged;
    }
    match text(attr::PREVIOUS_STATUS) {
        // Written before `previous_status` was kept: not known to be a change.
        None => StatusChange::Unchanged,
        Some(previous) if previous.is_empty() || Some(previous.as_str()) != status => {
            StatusChange::from_stored(previous)
        }
        Some(_) => StatusChange::Unchanged,
    }
}

/// The attribute that keeps an event's status change until it is published.
pub fn unpublished_attribute(event_key: &str) -> String {
    format!("{}{event_key}", attr::UNPUBLISHED_PREFIX)
}

/// The status change an event made that is not known to be published yet,
/// read from the stored item (a later copy of an event applied before, whether
/// or not it is still the subject's state): from its `unpublished#{key}`
/// attribute. `None` when the item has no such attribute.
fn unpublished_change(
    item: &HashMap<String, AttributeValue>,
    key: &str,
    status: Option<&str>,
) -> Option<StatusChange> {
    let previous = item.get(&unpublished_attribute(key))?.as_s().ok()?;
    Some(match status {
        Some(status) if previous.is_empty() || previous != status => {
            StatusChange::from_stored(previous)
        }
        _ => StatusChange::Unchanged,
    })
}

/// The signer's identity (as [`verify::Signer::identity`]: the email, else the
/// name; blank values do not count) as a one-element string set.
fn signer_set(event: &Event) -> Option<AttributeValue> {
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

impl StatusTable {
    /// The status table `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        StatusTable {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item key of a subject: `{provider}#{subject}`, the subject hashed
    /// when it is too long for a key ([`subject_key`]).
    pub fn key(provider: Provider, subject: &str) -> String {
        format!("{provider}#{}", subject_key(subject))
    }

    /// Applies one event to its subject's item. `fallback_time_ms` (the queue
    /// message's arrival time) ranks an event that carries no provider time.
    ///
    /// One conditional `UpdateItem` writes the event's status, type, time, key,
    /// rank and present fields, each with its `{field}_rank` (never erasing a
    /// known field with an absent one), and adds its signer, if the event
    /// outranks what is stored. When it does not, the failed condition returns
    /// the stored item (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), and the
    /// event writes only what that item lacks (`superseded_writes`): its
    /// signer, and each field whose stored value comes from a lower-ranked
    /// event, one `UpdateItem` each. So applying the same event again is one
    /// call and changes nothing.
    pub async fn apply(&self, event: &Event, fallback_time_ms: i64) -> Result<Applied, StoreError> {
        self.apply_event(event, fallback_time_ms)
            .await
            .map(|change| change.applied)
    }

    /// [`StatusTable::apply`], also telling whether the status changed. The
    /// winning write keeps the status it replaced (`previous_status`, copied
    /// in the same `UpdateItem`) and returns the old item (`ALL_OLD`): no
    /// extra call.
    pub async fn apply_event(
        &self,
        event: &Event,
        fallback_time_ms: i64,
    ) -> Result<Change, StoreError> {
        self.apply_keeping(event, fallback_time_ms, false).await
    }

    /// [`StatusTable::apply_event`] (which keeps no change); `keep_changes`
    /// says whether a winning
    /// write keeps the event's status change on the item until
    /// [`StatusTable::forget_published`] (off when nothing is published, so
    /// no attribute waits for a removal).
    pub async fn apply_keeping(
        &self,
        event: &Event,
        fallback_time_ms: i64,
        keep_changes: bool,
    ) -> Result<Change, StoreError> {
        let Some(subject) = event.subject.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(Change {
                applied: Applied::NoSubject,
                status_change: StatusChange::Unchanged,
                unpublished: false,
                already_applied: false,
            });
        };
        let key = Self::key(event.provider, subject);
        let update = StatusUpdate::of(event, fallback_time_ms);
        let signers = signer_set(event);
        let fields = fields(event);

        let mut expr = Expr::default();
        expr.set(attr::PROVIDER, s(event.provider.as_str()));
        expr.set(attr::SUBJECT, s(cap(subject, MAX_FIELD_BYTES)));
        expr.set(attr::RANK_CLASS, n(update.rank.class));
        expr.set(attr::EVENT_TIME, n(update.rank.time_ms));
        expr.set(attr::LAST_EVENT_KEY, s(&update.rank.key));
        expr.set(
            attr::LAST_EVENT_TYPE,
            s(cap(&event.event_type, MAX_FIELD_BYTES)),
        );
        expr.set(attr::UPDATED_AT, n(domain::now_ms()));
        let status = update
            .status
            .as_deref()
            .map(|status| cap(status, MAX_FIELD_BYTES));
        if let Some(status) = status {
            // A status-less event wins only over status-less events (its class
            // is lowest), so there is never a status for it to erase.
            let (prev, current) = (expr.name(attr::PREVIOUS_STATUS), expr.name(attr::STATUS));
            let none = expr.value(attr::PREVIOUS_STATUS, s(""));
            // Operands read the item as it was before this update.
            expr.set
                .push(format!("{prev} = if_not_exists({current}, {none})"));
            if keep_changes {
                // Kept until published, in the very write that makes the
                // change: no copy of the event can find the status changed
                // and the change unrecorded.
                expr.names.insert(
                    "#unpublished".into(),
                    unpublished_attribute(&update.rank.key),
                );
                expr.set
                    .push(format!("#unpublished = if_not_exists({current}, {none})"));
            }
            expr.set(attr::STATUS, s(status));
        }
        let rank = rank_text(&update.rank);
        for (name, value) in &fields {
            expr.set(name, value.clone());
            expr.set(rank_attribute(name), s(&rank));
        }
        if let Some(set) = &signers {
            expr.add(attr::SIGNERS, set.clone());
        }
        let pk = expr.name(attr::PK);
        let (rc, t, k) = (
            expr.name(attr::RANK_CLASS),
            expr.name(attr::EVENT_TIME),
            expr.name(attr::LAST_EVENT_KEY),
        );
        let (vc, vt, vk) = (
            format!(":{}", attr::RANK_CLASS),
            format!(":{}", attr::EVENT_TIME),
            format!(":{}", attr::LAST_EVENT_KEY),
        );
        let condition = format!(
            "attribute_not_exists({pk}) OR attribute_not_exists({rc}) OR {rc} < {vc} \
             OR ({rc} = {vc} AND ({t} < {vt} OR ({t} = {vt} AND {k} < {vk})))"
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(&key))
            .update_expression(expr.update_expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            // ALL_OLD, not UPDATED_OLD: whether UPDATED_OLD returns an attribute
            // set to its own value is not documented, and moto leaves it out, so
            // an unchanged status would read as none (a first status).
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let stored = match result {
            Ok(out) => {
                let before = out
                    .attributes()
                    .and_then(|old| old.get(attr::STATUS))
                    .and_then(|v| v.as_s().ok());
                // A status-less event leaves the status alone; any other
                // changes it when it differs, or when there was none.
                let status_change = match (status, before) {
                    (None, _) => StatusChange::Unchanged,
                    (Some(_), None) => StatusChange::First,
                    (Some(status), Some(before)) if before != status => {
                        StatusChange::From(before.clone())
                    }
                    (Some(_), Some(_)) => StatusChange::Unchanged,
                };
                return Ok(Change {
                    applied: Applied::Updated,
                    status_change,
                    unpublished: keep_changes && status.is_some(),
                    already_applied: false,
                });
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().cloned()
                }
                _ => return Err(StoreError::aws("DynamoDB.UpdateItem", err)),
            },
        };

        // Superseded: add its signer, and its fields where the stored value comes
        // from a lower-ranked event (or is missing).
        for write in superseded_writes(fields, signers, stored.as_ref(), &rank) {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(attr::PK, s(&key))
                .update_expression(write.update_expression())
                .set_condition_expression(write.condition)
                .set_expression_attribute_names(Some(write.names))
                .set_expression_attribute_values(Some(write.values))
                .send()
                .await;
            match result {
                Ok(_) => {}
                // A higher-ranked event wrote this field meanwhile: it stays.
                Err(err)
                    if matches!(
                        err.as_service_error(),
                        Some(UpdateItemError::ConditionalCheckFailedException(_))
                    ) => {}
                Err(err) => return Err(StoreError::aws("DynamoDB.UpdateItem", err)),
            }
        }
        let already_applied = stored.as_ref().is_some_and(|item| {
            item.get(attr::LAST_EVENT_KEY).and_then(|v| v.as_s().ok()) == Some(&update.rank.key)
        });
        // The change kept until published, whoever the state is now; else,
        // for the current winner, the change it made.
        let kept = stored
            .as_ref()
            .and_then(|item| unpublished_change(item, &update.rank.key, status));
        let unpublished = kept.is_some();
        let status_change = match kept {
            Some(change) => change,
            None => stored
                .as_ref()
                .map(|item| redelivered_change(item, &update.rank.key, status))
                .unwrap_or_default(),
        };
        Ok(Change {
            applied: Applied::Superseded,
            unpublished,
            status_change,
            already_applied,
        })
    }

    /// Removes the kept status changes of `event_keys` (one subject's events
    /// whose entries the bus took), in one `UpdateItem`. Never creates an
    /// item; removing what is not there is a no-op.
    pub async fn forget_published(
        &self,
        provider: Provider,
        subject: &str,
        event_keys: &[&str],
    ) -> Result<(), StoreError> {
        if event_keys.is_empty() {
            return Ok(());
        }
        let mut names = HashMap::from([("#pk".to_owned(), attr::PK.to_owned())]);
        let mut removed = Vec::with_capacity(event_keys.len());
        for (i, key) in event_keys.iter().enumerate() {
            names.insert(format!("#u{i}"), unpublished_attribute(key));
            removed.push(format!("#u{i}"));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(Self::key(provider, subject)))
            .update_expression(format!("REMOVE {}", removed.join(", ")))
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(StoreError::aws("DynamoDB.UpdateItem", err)),
        }
    }

    /// Reads a subject's item (strongly consistent).
    pub async fn get(
        &self,
        provider: Provider,
        subject: &str,
    ) -> Result<Option<StatusItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(Self::key(provider, subject)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.GetItem", e))?;
        out.item().map(item_from).transpose()
    }
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        what: "status item",
        reason,
    }
}

fn opt_s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn req_s(item: &HashMap<String, AttributeValue>, name: &str) -> Result<String, StoreError> {
    opt_s(item, name).ok_or_else(|| corrupt(format!("missing string {name}")))
}

fn req_n(item: &HashMap<String, AttributeValue>, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(format!("missing number {name}")))
}

fn item_from(item: &HashMap<String, AttributeValue>) -> Result<StatusItem, StoreError> {
    let external_metadata = opt_s(item, attr::EXTERNAL_METADATA)
        .map(|text| {
            JsonText::new(text).ok_or_else(|| corrupt("external_metadata is not JSON".into()))
        })
        .transpose()?;
    let signers = item
        .get(attr::SIGNERS)
        .and_then(|v| v.as_ss().ok())
        .map(|set| set.iter().cloned().collect())
        .unwrap_or_default();
    Ok(StatusItem {
        provider: req_s(item, attr::PROVIDER)?,
        subject: req_s(item, attr::SUBJECT)?,
        status: opt_s(item, attr::STATUS),
        last_event_type: req_s(item, attr::LAST_EVENT_TYPE)?,
        event_time_ms: req_n(item, attr::EVENT_TIME)?,
        last_event_key: req_s(item, attr::LAST_EVENT_KEY)?,
        rank_class: u8::try_from(req_n(item, attr::RANK_CLASS)?)
            .map_err(|_| corrupt("rank_class out of range".into()))?,
        updated_at_ms: req_n(item, attr::UPDATED_AT)?,
        title: opt_s(item, attr::TITLE),
        reference: opt_s(item, attr::REFERENCE),
        external_metadata,
        contract_kind: opt_s(item, attr::CONTRACT_KIND),
        workspace: opt_s(item, attr::WORKSPACE),
        document_id: opt_s(item, attr::DOCUMENT_ID),
        counterparty: opt_s(item, attr::COUNTERPARTY),
        signers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::sync::Rank;

    #[test]
    fn a_redelivered_winner_reads_its_change_back() {
        let item = |previous: Option<&str>| {
            let mut item = HashMap::from([
                (attr::LAST_EVENT_KEY.to_owned(), s("k")),
                (attr::STATUS.to_owned(), s("EXECUTED")),
            ]);
            if let Some(p) = previous {
                item.insert(attr::PREVIOUS_STATUS.to_owned(), s(p));
            }
            item
        };
        let executed = Some("EXECUTED");
        assert_eq!(
            redelivered_change(&item(Some("SIGN")), "k", executed),
            StatusChange::From("SIGN".to_owned())
        );
        assert_eq!(
            redelivered_change(&item(Some("")), "k", executed),
            StatusChange::First,
            "the subject's first status"
        );
        assert_eq!(
            redelivered_change(&item(Some("EXECUTED")), "k", executed),
            StatusChange::Unchanged
        );
        assert_eq!(
            redelivered_change(&item(None), "k", executed),
            StatusChange::Unchanged
        );
        assert_eq!(
            redelivered_change(&item(Some("SIGN")), "other", executed),
            StatusChange::Unchanged,
            "not the subject's state"
        );
        assert_eq!(
            redelivered_change(&item(Some("")), "k", None),
            StatusChange::Unchanged
        );
    }

    #[test]
    fn a_later_copy_reads_the_kept_change_whoever_is_the_state() {
        let item = |kept: Option<&str>, winner: &str| {
            let mut item = HashMap::from([
                (attr::LAST_EVENT_KEY.to_owned(), s(winner)),
                (attr::STATUS.to_owned(), s("EXECUTED")),
            ]);
            if let Some(p) = kept {
                item.insert(unpublished_attribute("k"), s(p));
            }
            item
        };
        let executed = Some("EXECUTED");
        for winner in ["k", "later"] {
            assert_eq!(
                unpublished_change(&item(Some("SIGN"), winner), "k", executed),
                Some(StatusChange::From("SIGN".to_owned())),
                "winner {winner}"
            );
            assert_eq!(
                unpublished_change(&item(Some(""), winner), "k", executed),
                Some(StatusChange::First),
                "the subject's first status"
            );
            // Kept for a win that did not change the status: no change.
            assert_eq!(
                unpublished_change(&item(Some("EXECUTED"), winner), "k", executed),
                Some(StatusChange::Unchanged)
            );
            // Published (removed) or never kept.
            assert_eq!(unpublished_change(&item(None, winner), "k", executed), None);
        }
        assert_eq!(
            unpublished_change(&item(Some("SIGN"), "k"), "other", executed),
            None,
            "another event's change"
        );
    }

    #[test]
    fn a_change_is_kept_and_read_back_as_it_was() {
        for change in [StatusChange::First, StatusChange::From("SIGN".to_owned())] {
            let stored = change.stored().unwrap();
            assert_eq!(StatusChange::from_stored(stored), change);
        }
        assert_eq!(StatusChange::Unchanged.stored(), None);
    }

    #[test]
    fn expressions_name_every_placeholder_once() {
        let mut e = Expr::default();
        e.set(attr::STATUS, s("SENT"));
        e.set(attr::TITLE, s("t"));
        e.add(attr::SIGNERS, AttributeValue::Ss(vec!["a".into()]));
        assert_eq!(
            e.update_expression(),
            "SET #status = :status, #title = :title ADD #signers :signers"
        );
        assert_eq!(e.names.len(), 3);
        assert_eq!(e.values.len(), 3);
        let mut only_add = Expr::default();
        only_add.add(attr::SIGNERS, AttributeValue::Ss(vec!["a".into()]));
        assert_eq!(only_add.update_expression(), "ADD #signers :signers");
    }

    #[test]
    fn every_field_has_its_own_rank_attribute() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "provider": "spotdraft", "key": "k", "event_type": "CONTRACT_SIGNED",
            "title": "T", "reference": "R", "external_metadata": {"a": 1},
            "workspace": "W", "document_id": "D", "counterparty": "C"
        }))
        .unwrap();
        let names: Vec<&str> = fields(&event).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 6, "every field of the event: {names:?}");
        let ranks: BTreeSet<&str> = names.iter().map(|&n| rank_attribute(n)).collect();
        assert_eq!(ranks.len(), names.len(), "{ranks:?}");
        assert!(
            !ranks.contains("field_rank"),
            "a field without its own rank"
        );
    }

    #[test]
    fn rank_text_sorts_as_the_rank_does() {
        let rank = |class, time_ms, key: &str| Rank {
            class,
            time_ms,
            key: key.into(),
        };
        let mut ranks = vec![
            rank(4, -5, "a"),
            rank(1, 1_795_341_600_000, "b"),
            rank(1, 1_795_341_600_000, "a"),
            rank(1, -1_000, "z"),
            rank(1, 0, "z"),
            rank(0, i64::MAX, "z"),
            rank(3, i64::MIN, ""),
            rank(1, 99, "a"),
            rank(1, 100, "a"),
        ];
        let mut texts: Vec<String> = ranks.iter().map(rank_text).collect();
        ranks.sort();
        texts.sort();
        assert_eq!(texts, ranks.iter().map(rank_text).collect::<Vec<_>>());
    }

    #[test]
    fn a_superseded_event_writes_the_fields_it_outranks() {
        let fields = || vec![(attr::TITLE, s("T")), (attr::WORKSPACE, s("W"))];
        let signer = || Some(AttributeValue::Ss(vec!["a@example.com".into()]));
        // Each write as (update expression, condition).
        let writes = |stored: Option<&HashMap<String, AttributeValue>>, rank: &str| {
            superseded_writes(fields(), signer(), stored, rank)
                .into_iter()
                .map(|w| (w.update_expression(), w.condition))
                .collect::<Vec<_>>()
        };
        let add = ("ADD #signers :signers".to_owned(), None);
        let set = |f: &str| {
            (
                format!("SET #{f} = :{f}, #{f}_rank = :{f}_rank"),
                Some(format!(
                    "attribute_not_exists(#{f}_rank) OR #{f}_rank < :{f}_rank"
                )),
            )
        };
        // Nothing returned: everything.
        assert_eq!(
            writes(None, "1|5"),
            [add.clone(), set("title"), set("workspace")]
        );
        let mut stored: HashMap<String, AttributeValue> = HashMap::from([
            (attr::TITLE.into(), s("older title")),
            ("title_rank".into(), s("1|3")),
            (attr::WORKSPACE.into(), s("W")),
            ("workspace_rank".into(), s("1|7")),
            (
                attr::SIGNERS.into(),
                AttributeValue::Ss(vec!["b@example.com".into()]),
            ),
        ]);
        // The title came from a lower rank: replaced. The workspace from a
        // higher one: kept, whatever the values.
        assert_eq!(writes(Some(&stored), "1|5"), [add, set("title")]);
        stored.insert(
            attr::SIGNERS.into(),
            AttributeValue::Ss(vec!["a@example.com".into(), "b@example.com".into()]),
        );
        stored.insert("title_rank".into(), s("1|5"));
        // The same event again (equal rank) writes nothing.
        assert_eq!(writes(Some(&stored), "1|5"), []);
        // A field the item lacks is written.
        stored.remove(attr::WORKSPACE);
        stored.remove("workspace_rank");
        assert_eq!(writes(Some(&stored), "1|5"), [set("workspace")]);
        // An event without fields or signer writes nothing.
        assert!(superseded_writes(vec![], None, None, "1|5").is_empty());
    }

    #[test]
    fn absent_and_empty_fields_are_not_written() {
        let mut event: Event = serde_json::from_value(serde_json::json!({
            "provider": "spotdraft", "key": "k", "event_type": "CONTRACT_SIGNED",
            "title": "", "reference": "R-1", "external_metadata": {"b": 1, "a": 2},
            "signer": {"name": "N", "email": " "}
        }))
        .unwrap();
        let names: Vec<_> = fields(&event).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [attr::REFERENCE, attr::EXTERNAL_METADATA]);
        assert_eq!(
            fields(&event)[1].1,
            s(r#"{"a":2,"b":1}"#),
            "metadata is stored as canonical JSON"
        );
        // The email is preferred; a blank one falls back to the name.
        assert_eq!(
            signer_set(&event),
            Some(AttributeValue::Ss(vec!["N".into()]))
        );
        event.signer.as_mut().unwrap().name = None;
        assert_eq!(signer_set(&event), None);
        event.signer.as_mut().unwrap().email = Some("x@example.com".into());
        assert_eq!(
            signer_set(&event),
            Some(AttributeValue::Ss(vec!["x@example.com".into()]))
        );
    }
}
