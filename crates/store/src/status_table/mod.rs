//! The status table: one item per subject (`{provider}#{subject}`) holding the
//! state of the highest-ranked event seen for it (see [`domain::sync`]), plus the
//! signers seen so far whatever their order.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use verify::{Event, Provider};

use domain::limits::{cap, MAX_FIELD_BYTES};
use domain::sync::{rank_text, StatusUpdate};
use domain::StatusChange;

use crate::error::StoreError;
use crate::schema::attr;

mod expr;
pub(crate) mod item;
#[cfg(test)]
mod tests;
mod view;

use expr::*;
pub use item::StatusItem;
use item::*;
pub use view::{plain_json, RecentCursor, RecentPage, RecentSubject, StatusView};

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

/// The DynamoDB status table.
#[derive(Debug, Clone)]
pub struct StatusTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
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
        domain::limits::status_key(provider, subject)
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

    /// The DynamoDB client (for the operator's scan in `crate::ops`).
    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
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
