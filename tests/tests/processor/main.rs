//! The processor against DynamoDB and SQS over the wire (moto on loopback), fed
//! with queue messages produced by the real ingest path: signed requests go
//! through `ingest::handle`, the queue is drained, and its messages are handed
//! to the processor as Lambda's SQS event source mapping would.

mod delivery_order;
mod failures;
mod samples;
mod superseded;
mod sweep;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use serde_json::Value;
use store::QueueMessage;
use verify::{BodyFormat, Event, Provider};

/// Delivers every body through the ingest handler (each must be accepted) and
/// returns the queue messages it produced.
async fn ingest_all(stack: &Stack, bodies: &[(Provider, Vec<u8>)]) -> Vec<RawMessage> {
    let app = stack.ingest(&[]).await;
    for (provider, body) in bodies {
        let request = signed_request(EventKind::ApiGatewayV2, *provider, body, BodyFormat::Json);
        let (status, answer) = answer(ingest::handle(&app, request).await);
        assert_eq!(status, accepted_status(*provider), "{provider}: {answer}");
    }
    let messages = stack.drain_queue_raw().await;
    assert_eq!(
        messages.len(),
        bodies.len(),
        "one message per accepted event"
    );
    messages
}

/// A batch of `messages`, the i-th record with message id `{prefix}{i}`.
fn batch(messages: &[&RawMessage], prefix: &str, receive_count: u32) -> Vec<Value> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| sqs_record(&format!("{prefix}{i}"), Some(&m.body), receive_count))
        .collect()
}

fn parsed(message: &RawMessage) -> QueueMessage {
    QueueMessage::from_json(&message.body).unwrap()
}

fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> BTreeSet<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// Status items without `updated_at` (the only field that depends on when).
fn without_updated_at(
    items: BTreeMap<String, HashMap<String, AttributeValue>>,
) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    items
        .into_iter()
        .map(|(k, mut item)| {
            item.remove(store::schema::attr::UPDATED_AT);
            // The status the winning event replaced: delivery history (what
            // a retried publish says changed), not the subject's state.
            item.remove(store::schema::attr::PREVIOUS_STATUS);
            (k, item)
        })
        .collect()
}

async fn assert_all_processed(stack: &Stack, keys: impl IntoIterator<Item = String>) {
    let ledger = stack.ledger();
    for key in keys {
        let entry = ledger.get(&key).await.unwrap().expect("ledger item");
        assert_eq!(entry.status, "PROCESSED", "{key}");
        assert!(
            !entry.pending,
            "{key}: processed items leave the pending index"
        );
    }
    for shard in 0..store::schema::PENDING_SHARDS {
        let pending = ledger.pending(shard, i64::MAX, 1000).await.unwrap();
        assert!(
            pending.is_empty(),
            "shard {shard} still lists {}",
            pending.len()
        );
    }
}

const MSA: &str = "Master Services Agreement - Acme Corp";
const WORKSPACE: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";
const DOCUMENT: &str = "d9c8b7a6-9584-4736-a2b1-c0d9e8f7a6b5";
const ENVELOPE: &str = "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f";

const DS_ACCOUNT: &str = "5f0c3d2e-8a41-4b6c-9e27-1d3f5a7b9c01";
const DS_ENVELOPE: &str = "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21";
const DS_MSA: &str = "Please DocuSign: Master Services Agreement - Acme Corp.pdf";

fn sample_event(name: &str) -> Event {
    let provider: Provider = name.split('-').next().unwrap().parse().unwrap();
    Event::parse(provider, BodyFormat::Json, &sample(name)).unwrap()
}
