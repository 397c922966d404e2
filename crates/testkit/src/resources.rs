//! The AWS resources of template.yaml, created on an emulator (moto) for the
//! local stack and the tests: the ledger and status tables, the event and
//! archive queues with their dead-letter queues, the bus rules that route to
//! them, and the versioned document bucket.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use store::archive::*;
use store::schema::*;
use store::StoreError;

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema fields are set")
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .expect("attribute fields are set")
}

/// Creates the ledger table: `pk` hash key, TTL on `expires_at`, and the sparse
/// `pending-index` (`pending_shard`, `received_at`, projecting
/// [`PENDING_INDEX_ATTRIBUTES`]).
pub async fn create_ledger_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), StoreError> {
    let index = GlobalSecondaryIndex::builder()
        .index_name(PENDING_INDEX)
        .key_schema(key(attr::PENDING_SHARD, KeyType::Hash))
        .key_schema(key(attr::RECEIVED_AT, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(PENDING_INDEX_ATTRIBUTES.map(str::to_owned).to_vec()))
                .build(),
        )
        .build()
        .expect("index fields are set");
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(attr::PK, ScalarAttributeType::S))
        .attribute_definitions(attribute(attr::PENDING_SHARD, ScalarAttributeType::S))
        .attribute_definitions(attribute(attr::RECEIVED_AT, ScalarAttributeType::N))
        .key_schema(key(attr::PK, KeyType::Hash))
        .global_secondary_indexes(index)
        .send()
        .await
        .map_err(|e| StoreError::aws("DynamoDB.CreateTable", e))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attr::EXPIRES_AT)
                .enabled(true)
                .build()
                .expect("ttl fields are set"),
        )
        .send()
        .await
        .map_err(|e| StoreError::aws("DynamoDB.UpdateTimeToLive", e))?;
    Ok(())
}

/// Creates the status table: `pk` (`{provider}#{subject}`) hash key.
pub async fn create_status_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), StoreError> {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(attr::PK, ScalarAttributeType::S))
        .key_schema(key(attr::PK, KeyType::Hash))
        .send()
        .await
        .map_err(|e| StoreError::aws("DynamoDB.CreateTable", e))?;
    Ok(())
}

/// Creates the event queue and its dead-letter queue (`{name}-dlq`); returns
/// `(queue_url, dlq_url)`.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(String, String), StoreError> {
    create_queue_with_dlq(client, name, VISIBILITY_TIMEOUT_SECS, MAX_RECEIVE_COUNT).await
}

/// Creates the queue `name` with `visibility_timeout_secs` and a dead-letter
/// queue `{name}-dlq` (14 days' retention) it moves a message to after
/// `max_receive_count` receives; returns `(queue_url, dlq_url)`.
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> Result<(String, String), StoreError> {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = queue_arn(client, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    });
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    Ok((url, dlq_url))
}

/// Creates (or updates) the rule `rule` on `bus` with `pattern`, sending what
/// it matches to the SQS queue `queue_url` (target id `target_id`). Local
/// stack and tests; template.yaml declares the deployed rules.
pub async fn route_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    rule: &str,
    pattern: &str,
    queue_url: &str,
    target_id: &str,
) -> Result<(), StoreError> {
    events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern)
        .send()
        .await
        .map_err(|e| StoreError::aws("EventBridge.PutRule", e))?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id(target_id)
        .arn(queue_arn(sqs, queue_url).await?)
        .build()
        .map_err(|e| StoreError::aws_other("EventBridge.PutTargets", e))?;
    events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .map_err(|e| StoreError::aws("EventBridge.PutTargets", e))?;
    Ok(())
}

/// A queue's ARN.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, StoreError> {
    Ok(client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default())
}

/// Creates a versioned bucket.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), StoreError> {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| StoreError::aws("S3.CreateBucket", e))?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| StoreError::aws("S3.PutBucketVersioning", e))?;
    Ok(())
}

/// Creates the archive queue (`name`, retention
/// [`ARCHIVE_RETENTION_SECS`]) and `{name}-dlq`.
pub async fn create_archive_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(String, String), StoreError> {
    let (url, dlq_url) = create_queue_with_dlq(
        sqs,
        name,
        ARCHIVE_VISIBILITY_TIMEOUT_SECS,
        ARCHIVE_MAX_RECEIVE_COUNT,
    )
    .await?;
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod,
            ARCHIVE_RETENTION_SECS.to_string(),
        )
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.SetQueueAttributes", e))?;
    Ok((url, dlq_url))
}

/// Creates the bus `bus` (unless `default`) and the rule sending
/// executed-status events to the archive queue.
pub async fn create_archive_route(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    queue_url: &str,
) -> Result<(), StoreError> {
    if bus != "default" {
        events
            .create_event_bus()
            .name(bus)
            .send()
            .await
            .map_err(|e| StoreError::aws("EventBridge.CreateEventBus", e))?;
    }
    let rule = format!("{bus}-archive");
    route_to_queue(
        events,
        sqs,
        bus,
        &rule,
        &archive_rule_pattern().to_string(),
        queue_url,
        "archive-queue",
    )
    .await
}

/// Adds the metadata routes to [`create_archive_route`]'s: the archive
/// rule's second target (a metadata job per execution) and the
/// key-pointer rule, both into the archive queue.
pub async fn create_metadata_routes(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    queue_url: &str,
) -> Result<(), StoreError> {
    let rule = format!("{bus}-archive");
    let (paths, template) = metadata_target_input();
    let paths: HashMap<String, String> = serde_json::from_value(paths)
        .map_err(|e| StoreError::aws_other("EventBridge.PutTargets", e))?;
    let transformer = aws_sdk_eventbridge::types::InputTransformer::builder()
        .set_input_paths_map(Some(paths))
        .input_template(template)
        .build()
        .map_err(|e| StoreError::aws_other("EventBridge.PutTargets", e))?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("metadata-queue")
        .arn(queue_arn(sqs, queue_url).await?)
        .input_transformer(transformer)
        .build()
        .map_err(|e| StoreError::aws_other("EventBridge.PutTargets", e))?;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .map_err(|e| StoreError::aws("EventBridge.PutTargets", e))?;
    route_to_queue(
        events,
        sqs,
        bus,
        &format!("{bus}-key-pointers"),
        &key_pointer_rule_pattern().to_string(),
        queue_url,
        "archive-queue",
    )
    .await
}
