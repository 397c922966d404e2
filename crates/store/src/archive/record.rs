//! The status item's `document` attribute: what was archived, recorded only
//! when no document of the same or a higher rank is there.

use crate::error::StoreError;
use crate::guarded::{Guarded, GuardedUpdate};
use crate::schema::attr;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::limits::status_key;
use std::collections::HashMap;
use verify::Provider;

/// Status item attribute: the archived document (a map, see [`DocumentRecord`]).
pub const DOCUMENT_ATTR: &str = "document";

/// Status item attribute: the archived document's rank (see [`DocumentRecord::rank`]).
pub const DOCUMENT_RANK_ATTR: &str = "document_rank";

/// The `document` the status item records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocumentRecord {
    /// `s3://bucket/key`.
    pub s3_uri: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// Content type.
    pub content_type: String,
    /// The provider's version id (SpotDraft `current_version_id`; Subnoto: the document uuid).
    pub version: String,
    /// The provider's file name (personal data possible: never logged).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file_name: Option<String>,
    /// When it was archived, RFC 3339.
    pub archived_at: String,
    /// S3 object version (versioned bucket).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub s3_version_id: Option<String>,
    /// When the provider was asked for the document, ms (orders versions that
    /// are not numbers).
    #[serde(skip)]
    pub fetched_at_ms: i64,
}

impl DocumentRecord {
    /// A string that sorts like "newer": a numeric provider version (SpotDraft's
    /// version ids) as `v` + 20 digits; anything else by when the provider was
    /// asked (it answers its current version), `t` + 20 digits. A later fetch
    /// of the current document is never older than an earlier one.
    pub fn rank(&self) -> String {
        match self.version.trim().parse::<u64>() {
            Ok(n) => format!("v{n:020}"),
            Err(_) => format!("t{:020}", self.fetched_at_ms.max(0)),
        }
    }

    pub(super) fn to_item(&self) -> AttributeValue {
        let mut m = HashMap::new();
        let s = |v: &str| AttributeValue::S(v.to_owned());
        m.insert("s3_uri".to_owned(), s(&self.s3_uri));
        m.insert("sha256".to_owned(), s(&self.sha256));
        m.insert(
            "bytes".to_owned(),
            AttributeValue::N(self.bytes.to_string()),
        );
        m.insert("content_type".to_owned(), s(&self.content_type));
        m.insert("version".to_owned(), s(&self.version));
        m.insert("archived_at".to_owned(), s(&self.archived_at));
        if let Some(f) = &self.file_name {
            m.insert("file_name".to_owned(), s(f));
        }
        if let Some(v) = &self.s3_version_id {
            m.insert("s3_version_id".to_owned(), s(v));
        }
        AttributeValue::M(m)
    }

    /// Reads a stored `document` map back.
    pub fn from_item(value: &AttributeValue) -> Option<DocumentRecord> {
        let m = value.as_m().ok()?;
        let s = |k: &str| m.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some(DocumentRecord {
            s3_uri: s("s3_uri")?,
            sha256: s("sha256")?,
            bytes: m.get("bytes")?.as_n().ok()?.parse().ok()?,
            content_type: s("content_type").unwrap_or_default(),
            version: s("version").unwrap_or_default(),
            file_name: s("file_name"),
            archived_at: s("archived_at").unwrap_or_default(),
            s3_version_id: s("s3_version_id"),
            fetched_at_ms: 0,
        })
    }
}

/// What [`StatusDocuments::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The item now names this document.
    Written,
    /// The item already named this very version.
    Same,
    /// The item names a newer version; left alone.
    Newer(Option<DocumentRecord>),
    /// There is no status item for the subject (yet).
    NoItem,
}

/// The `document` attribute of status items.
#[derive(Debug, Clone)]
pub struct StatusDocuments {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
}

impl StatusDocuments {
    /// The status table `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        StatusDocuments {
            client,
            table: table.into(),
        }
    }

    /// Sets `document` on the subject's status item, only when the item exists
    /// and holds no document of the same or a higher rank. One `UpdateItem`; a
    /// refused one says why from the item it returns.
    pub async fn record(
        &self,
        provider: Provider,
        subject: &str,
        doc: &DocumentRecord,
    ) -> Result<Recorded, StoreError> {
        let rank = doc.rank();
        let update = GuardedUpdate {
            update: "SET #doc = :doc, #rank = :rank",
            condition: "attribute_not_exists(#rank) OR #rank < :rank",
            names: &[("#doc", DOCUMENT_ATTR), ("#rank", DOCUMENT_RANK_ATTR)],
            values: vec![
                (":doc", doc.to_item()),
                (":rank", AttributeValue::S(rank.clone())),
            ],
        };
        Ok(
            match update
                .send(&self.client, &self.table, provider, subject)
                .await?
            {
                Guarded::Written => Recorded::Written,
                Guarded::NoItem => Recorded::NoItem,
                Guarded::Refused(item) => {
                    let stored_rank = item
                        .get(DOCUMENT_RANK_ATTR)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default();
                    let stored = item.get(DOCUMENT_ATTR).and_then(DocumentRecord::from_item);
                    let same_version = stored
                        .as_ref()
                        .is_some_and(|s| s.version == doc.version && s.sha256 == doc.sha256);
                    if stored_rank == rank || same_version {
                        Recorded::Same
                    } else {
                        Recorded::Newer(stored)
                    }
                }
            },
        )
    }

    /// The subject's recorded document, if any (and whether the item exists).
    pub async fn get(
        &self,
        provider: Provider,
        subject: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(status_key(provider, subject)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.GetItem", e))?;
        Ok(out.item)
    }
}
