//! The `key_pointers` attributes of status items: an executed contract's
//! metadata values as the archiver last fetched them (JSON text, at most
//! [`domain::limits::MAX_KEY_POINTERS_BYTES`]), their SHA-256, and the SHA-256
//! last announced on the bus. A value set is announced once: written, then
//! published, then marked published; a redelivery after a lost publish
//! publishes again (at least once), one after the mark publishes nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use verify::Provider;

use crate::error::StoreError;
use crate::guarded::{Guarded, GuardedUpdate};
use crate::schema::attr;
use domain::limits::status_key;

/// Status item attribute: the values, JSON text.
pub const KEY_POINTERS_ATTR: &str = "key_pointers";
/// Status item attribute: SHA-256 (hex) of [`KEY_POINTERS_ATTR`].
pub const KEY_POINTERS_SHA256_ATTR: &str = "key_pointers_sha256";
/// Status item attribute: when the values were fetched, RFC 3339.
pub const KEY_POINTERS_AT_ATTR: &str = "key_pointers_at";
/// Status item attribute: the SHA-256 last published as `Contract Metadata Captured`.
pub const KEY_POINTERS_PUBLISHED_ATTR: &str = "key_pointers_published_sha256";

/// What [`StatusMetadata::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataRecorded {
    /// Written: these values were not announced yet.
    Written,
    /// These very values were already announced.
    Unchanged,
    /// No status item for the subject (yet).
    NoItem,
}

/// The values the status table holds for a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMetadata {
    /// JSON text.
    pub values: String,
    /// Its SHA-256.
    pub sha256: String,
    /// When fetched.
    pub fetched_at: String,
}

impl StoredMetadata {
    /// Reads the attributes of a status item, when it has them.
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<StoredMetadata> {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some(StoredMetadata {
            values: s(KEY_POINTERS_ATTR)?,
            sha256: s(KEY_POINTERS_SHA256_ATTR).unwrap_or_default(),
            fetched_at: s(KEY_POINTERS_AT_ATTR).unwrap_or_default(),
        })
    }
}

/// The metadata attributes of status items.
#[derive(Debug, Clone)]
pub struct StatusMetadata {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl StatusMetadata {
    /// The status table `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        StatusMetadata {
            client,
            table: table.into(),
        }
    }

    /// Writes the values on the subject's item unless these very values
    /// (`sha256`) were already published. One `UpdateItem`.
    pub async fn record(
        &self,
        provider: Provider,
        subject: &str,
        values: &str,
        sha256: &str,
        fetched_at: &str,
    ) -> Result<MetadataRecorded, StoreError> {
        let update = GuardedUpdate {
            update: "SET #kp = :kp, #h = :h, #at = :at",
            condition: "attribute_not_exists(#pub) OR #pub <> :h",
            names: &[
                ("#kp", KEY_POINTERS_ATTR),
                ("#h", KEY_POINTERS_SHA256_ATTR),
                ("#at", KEY_POINTERS_AT_ATTR),
                ("#pub", KEY_POINTERS_PUBLISHED_ATTR),
            ],
            values: vec![
                (":kp", AttributeValue::S(values.to_owned())),
                (":h", AttributeValue::S(sha256.to_owned())),
                (":at", AttributeValue::S(fetched_at.to_owned())),
            ],
        };
        Ok(
            match update
                .send(&self.client, &self.table, provider, subject)
                .await?
            {
                Guarded::Written => MetadataRecorded::Written,
                Guarded::NoItem => MetadataRecorded::NoItem,
                Guarded::Refused(_) => MetadataRecorded::Unchanged,
            },
        )
    }

    /// Notes that the values `sha256` were published. One `UpdateItem`.
    pub async fn mark_published(
        &self,
        provider: Provider,
        subject: &str,
        sha256: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(status_key(provider, subject)))
            .update_expression("SET #pub = :h")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#pub", KEY_POINTERS_PUBLISHED_ATTR)
            .expression_attribute_values(":h", AttributeValue::S(sha256.to_owned()))
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.UpdateItem", e.into_service_error()))?;
        Ok(())
    }
}
