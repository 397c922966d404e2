//! One conditional `UpdateItem` on a subject's status item, the refused item
//! read back from the failed condition itself (no extra read): the shape of
//! every status-item writer outside the status sync (documents, metadata).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use domain::limits::status_key;
use verify::Provider;

use crate::error::StoreError;
use crate::schema::attr;

/// What a guarded update did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Guarded {
    /// The condition held; the item is updated.
    Written,
    /// The condition failed on this item (its attributes before the call).
    Refused(HashMap<String, AttributeValue>),
    /// There is no status item for the subject.
    NoItem,
}

/// A guarded update: `update` when the item exists and `condition` holds,
/// with `names` (`#x` → attribute) and `values` (`:x` → value).
pub(crate) struct GuardedUpdate<'a> {
    /// `SET …` expression.
    pub update: &'a str,
    /// Condition besides the item existing.
    pub condition: &'a str,
    /// Expression attribute names.
    pub names: &'a [(&'a str, &'a str)],
    /// Expression attribute values.
    pub values: Vec<(&'a str, AttributeValue)>,
}

impl GuardedUpdate<'_> {
    /// Sends it to `table` for the subject's item. One `UpdateItem`.
    pub(crate) async fn send(
        self,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        provider: Provider,
        subject: &str,
    ) -> Result<Guarded, StoreError> {
        let mut request = client
            .update_item()
            .table_name(table)
            .key(attr::PK, AttributeValue::S(status_key(provider, subject)))
            .update_expression(self.update)
            .condition_expression(format!("attribute_exists(pk) AND ({})", self.condition))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, name) in self.names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in self.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        match request.send().await {
            Ok(_) => Ok(Guarded::Written),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(e) => Ok(match e.item {
                    Some(item) => Guarded::Refused(item),
                    None => Guarded::NoItem,
                }),
                other => Err(StoreError::aws("DynamoDB.UpdateItem", other)),
            },
        }
    }
}
