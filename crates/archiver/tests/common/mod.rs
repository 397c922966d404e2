//! The archiver's test stack: moto (the harness's server on loopback) with a
//! status table, a versioned bucket, the archive queue and its DLQ, a bus
//! whose archive rule fills the queue, and a watch queue receiving the
//! archiver's own `Contract Document Archived` events.

#![allow(dead_code)]

pub mod provider;

use std::collections::HashMap;

use archiver::{App, ArchiverConfig};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::{moto, sdk_config_for, Stack};
use serde_json::{json, Value};
use store::archive::{ArchiveClients, DocumentStore};
use store::StatusTable;
use testkit::resources as schema;
use verify::Provider;

#[allow(unused_imports)] // not every test file uses every one
pub use provider::{Fault, ProviderServer, Route};

/// One test's resources.
pub struct ArchiveStack {
    /// Tables and clients.
    pub stack: Stack,
    /// The S3 client.
    pub archive: ArchiveClients,
    /// Bucket name.
    pub bucket: String,
    /// Archive queue.
    pub queue_url: String,
    /// Its DLQ.
    pub dlq_url: String,
    /// Bus name.
    pub bus: String,
    /// Receives `Contract Document Archived` from the bus.
    pub watch_url: String,
    /// Receipt handles of the last [`ArchiveStack::receive`].
    last_handles: std::sync::Mutex<Vec<String>>,
}

impl ArchiveStack {
    /// Creates everything under a unique name.
    pub async fn new() -> ArchiveStack {
        let stack = Stack::new().await;
        let sdk = sdk_config_for(&moto().endpoint).await;
        let archive = ArchiveClients::new(&sdk, &stack.clients.calls);
        let bucket = format!("{}-documents", stack.name);
        schema::create_bucket(&archive.s3, &bucket).await.unwrap();
        let (queue_url, dlq_url) =
            schema::create_archive_queues(&stack.clients.sqs, &format!("{}-archive", stack.name))
                .await
                .unwrap();
        let bus = format!("{}-bus", stack.name);
        schema::create_archive_route(&stack.clients.events, &stack.clients.sqs, &bus, &queue_url)
            .await
            .unwrap();
        let watch_url = stack
            .clients
            .sqs
            .create_queue()
            .queue_name(format!("{}-watch", stack.name))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        testkit::resources::route_to_queue(
            &stack.clients.events,
            &stack.clients.sqs,
            &bus,
            &format!("{bus}-watch"),
            &json!({"source": ["contract-hooks"], "detail-type": ["Contract Document Archived", "Contract Metadata Captured"]})
                .to_string(),
            &watch_url,
            "watch",
        )
        .await
        .unwrap();
        ArchiveStack {
            stack,
            archive,
            bucket,
            queue_url,
            dlq_url,
            bus,
            watch_url,
            last_handles: Default::default(),
        }
    }

    /// Makes the messages of the last receive visible again, as if their
    /// back-off had passed.
    pub async fn make_visible(&self) {
        let handles = std::mem::take(&mut *self.last_handles.lock().unwrap());
        for h in handles {
            // A deleted message's handle fails: ignored.
            let _ = self
                .stack
                .clients
                .sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(h)
                .visibility_timeout(0)
                .send()
                .await;
        }
    }

    /// The archiver's settings for this stack and `server`, plus `extra`.
    pub fn config(
        &self,
        server: Option<&ProviderServer>,
        extra: &[(&str, &str)],
    ) -> ArchiverConfig {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("STATUS_TABLE".into(), self.stack.status_table.clone());
        vars.insert("ARCHIVE_BUCKET".into(), self.bucket.clone());
        vars.insert("ARCHIVE_QUEUE_URL".into(), self.queue_url.clone());
        vars.insert("ARCHIVE_DLQ_URL".into(), self.dlq_url.clone());
        vars.insert("EVENT_BUS_NAME".into(), self.bus.clone());
        vars.insert("SPOTDRAFT_REQUESTS_PER_SECOND".into(), "10".into());
        // The provider server is http on loopback: the development setting
        // (a test of the refusal overrides it with "").
        vars.insert("ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS".into(), "true".into());
        if let Some(server) = server {
            vars.insert("SPOTDRAFT_API_BASE_URL".into(), server.base.clone());
            vars.insert(
                "SPOTDRAFT_API_CREDENTIALS".into(),
                json!({"client_id": provider::CLIENT_ID, "client_secret": provider::CLIENT_SECRET})
                    .to_string(),
            );
        }
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        ArchiverConfig::from_lookup(|k| vars.get(k).cloned()).unwrap()
    }

    /// An app over this stack (small multipart parts, so moto sees multipart uploads).
    pub async fn app(&self, server: Option<&ProviderServer>, extra: &[(&str, &str)]) -> App {
        let mut app = App::new(
            &self.config(server, extra),
            &self.stack.clients,
            &self.archive,
        )
        .await
        .unwrap();
        app.documents = DocumentStore::new(self.archive.s3.clone(), &self.bucket)
            .with_part_bytes(5 * 1024 * 1024);
        app
    }

    /// A status item as the processor leaves it.
    pub async fn seed_status(&self, provider: Provider, subject: &str) {
        self.stack
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.stack.status_table)
            .item("pk", AttributeValue::S(StatusTable::key(provider, subject)))
            .item("provider", AttributeValue::S(provider.as_str().into()))
            .item("subject", AttributeValue::S(subject.into()))
            .item("status", AttributeValue::S("EXECUTED".into()))
            .send()
            .await
            .unwrap();
    }

    /// Puts `Contract Status Changed` with `detail` on the bus (the processor's event).
    pub async fn publish(&self, detail: Value) {
        self.publish_as("Contract Status Changed", detail).await
    }

    /// Puts an event of `detail_type` with `detail` on the bus.
    pub async fn publish_as(&self, detail_type: &str, detail: Value) {
        let out = self
            .stack
            .clients
            .events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source("contract-hooks")
                    .detail_type(detail_type)
                    .detail(detail.to_string())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_entry_count(), 0);
    }

    /// Receives what the archive queue has visible (up to 10), as the event
    /// source mapping would hand it over (real receipt handles).
    pub async fn receive(&self) -> SqsEvent {
        let out = self
            .stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        *self.last_handles.lock().unwrap() = out
            .messages()
            .iter()
            .filter_map(|m| m.receipt_handle().map(str::to_owned))
            .collect();
        let records: Vec<Value> = out
            .messages()
            .iter()
            .map(|m| {
                use aws_sdk_sqs::types::MessageSystemAttributeName as A;
                let attr = |name: &A| m.attributes().and_then(|a| a.get(name)).cloned();
                let count = attr(&A::ApproximateReceiveCount).unwrap_or_else(|| "1".into());
                let sent = attr(&A::SentTimestamp).unwrap_or_else(|| domain::now_ms().to_string());
                json!({
                    "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                    "attributes": {"ApproximateReceiveCount": count, "SentTimestamp": sent},
                    "messageAttributes": {},
                    "md5OfBody": "0", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:archive", "awsRegion": "us-east-1"
                })
            })
            .collect();
        serde_json::from_value(json!({"Records": records})).unwrap()
    }

    /// Multipart uploads left open in the bucket.
    pub async fn open_uploads(&self) -> usize {
        self.archive
            .s3
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap()
            .uploads()
            .len()
    }

    /// Deletes what the batch did not report failed (the event source mapping's part).
    pub async fn settle(
        &self,
        event: &SqsEvent,
        response: &aws_lambda_events::event::sqs::SqsBatchResponse,
    ) {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for r in &event.records {
            if !failed.contains(&r.message_id.as_deref().unwrap_or("")) {
                self.stack
                    .clients
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(r.receipt_handle.clone().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Messages of a queue (received and deleted), with their attributes.
    pub async fn drain(&self, url: &str) -> Vec<(String, HashMap<String, String>)> {
        let mut all = Vec::new();
        loop {
            let out = self
                .stack
                .clients
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                return all;
            }
            for m in out.messages() {
                let attrs = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.clone(), v.string_value().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                all.push((m.body().unwrap_or("").to_owned(), attrs));
                self.stack
                    .clients
                    .sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// The `Contract Document Archived` events published so far (details).
    pub async fn archived_events(&self) -> Vec<Value> {
        self.watched()
            .await
            .into_iter()
            .inspect(|(t, _)| assert_eq!(t, "Contract Document Archived"))
            .map(|(_, d)| d)
            .collect()
    }

    /// Every watched event published so far: (detail-type, detail).
    pub async fn watched(&self) -> Vec<(String, Value)> {
        self.drain(&self.watch_url)
            .await
            .into_iter()
            .map(|(body, _)| serde_json::from_str::<Value>(&body).unwrap())
            .map(|e| {
                (
                    e["detail-type"].as_str().unwrap_or("").to_owned(),
                    e["detail"].clone(),
                )
            })
            .collect()
    }

    /// Adds the metadata routes (the archive rule's metadata target, the
    /// key-pointer rule).
    pub async fn route_metadata(&self) {
        schema::create_metadata_routes(
            &self.stack.clients.events,
            &self.stack.clients.sqs,
            &self.bus,
            &self.queue_url,
        )
        .await
        .unwrap();
    }

    /// The status item, as DynamoDB holds it.
    pub async fn status_item(
        &self,
        provider: Provider,
        subject: &str,
    ) -> HashMap<String, AttributeValue> {
        self.stack
            .clients
            .dynamodb
            .get_item()
            .table_name(&self.stack.status_table)
            .key("pk", AttributeValue::S(StatusTable::key(provider, subject)))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_default()
    }

    /// Every object version under `prefix`: (key, version id).
    pub async fn object_versions(&self, prefix: &str) -> Vec<(String, String)> {
        let out = self
            .archive
            .s3
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        out.versions()
            .iter()
            .map(|v| {
                (
                    v.key().unwrap_or("").to_owned(),
                    v.version_id().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The status item's `document`, as JSON.
    pub async fn document(&self, provider: Provider, subject: &str) -> Option<Value> {
        let item = self
            .stack
            .clients
            .dynamodb
            .get_item()
            .table_name(&self.stack.status_table)
            .key("pk", AttributeValue::S(StatusTable::key(provider, subject)))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        let doc = store::archive::DocumentRecord::from_item(item.get("document")?)?;
        Some(serde_json::to_value(doc).unwrap())
    }

    /// Visible and in-flight messages of a queue.
    pub async fn depth(&self, url: &str) -> (u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .stack
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let a = out.attributes().unwrap();
        let n = |k: &A| a.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            n(&A::ApproximateNumberOfMessages),
            n(&A::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

/// The processor's `Contract Status Changed` detail for an executed SpotDraft contract.
pub fn spotdraft_executed(contract_id: &str, kind: Option<&str>) -> Value {
    let mut detail = json!({
        "version": "2", "id": format!("spotdraft#{contract_id}-executed"), "provider": "spotdraft",
        "subject": contract_id, "provider_event_type": "CONTRACT_EXECUTED", "status": "EXECUTED",
        "lifecycle": "executed", "previous_status": "SIGN", "previous_lifecycle": "out_for_signature",
        "occurred_at": "2026-11-22T10:00:00Z", "received_at": "2026-11-22T10:00:01Z",
        "rank": "1|00000000001795000000|k", "title": "Master Services Agreement",
        "counterparties": [{"name": "Jane Doe", "email": "jane@example.com"}]
    });
    if let Some(kind) = kind {
        detail["contract_kind"] = kind.into();
    }
    detail
}

/// Makes every record of `event` look queued `age` ago (`SentTimestamp`).
pub fn aged(mut event: SqsEvent, age: std::time::Duration) -> SqsEvent {
    let sent = domain::now_ms() - age.as_millis() as i64;
    for r in &mut event.records {
        r.attributes
            .insert("SentTimestamp".into(), sent.to_string());
    }
    event
}

/// SHA-256, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
