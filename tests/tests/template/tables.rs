//! The ledger and status tables against the ones `store::schema` creates.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::cfn::{at, show, template};
use integration_tests::Stack;
use serde_yaml::Value as Yaml;
use store::schema;

use crate::resource;

fn yaml_keys(v: &Yaml) -> Vec<(String, String)> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|k| (show(at(k, &["AttributeName"])), show(at(k, &["KeyType"]))))
        .collect()
}

fn sdk_keys(keys: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> Vec<(String, String)> {
    keys.iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect()
}

type IndexShape = (Vec<(String, String)>, String, BTreeSet<String>);

/// Compares a table created by `store::schema` in moto with the template's.
async fn assert_table_matches(stack: &Stack, created: &str, logical: &str) {
    let t = template();
    let tr = resource(&t, logical, "AWS::DynamoDB::Table");
    let p = at(tr, &["Properties"]);
    let ddb = &stack.clients.dynamodb;
    let described = ddb
        .describe_table()
        .table_name(created)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();

    assert_eq!(
        yaml_keys(at(p, &["KeySchema"])),
        sdk_keys(described.key_schema()),
        "{logical} key schema"
    );
    let yaml_attrs: BTreeSet<(String, String)> = at(p, &["AttributeDefinitions"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                show(at(a, &["AttributeName"])),
                show(at(a, &["AttributeType"])),
            )
        })
        .collect();
    let sdk_attrs: BTreeSet<(String, String)> = described
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(yaml_attrs, sdk_attrs, "{logical} attribute definitions");
    assert_eq!(
        show(at(p, &["BillingMode"])),
        "PAY_PER_REQUEST",
        "{logical}"
    );
    if let Some(summary) = described.billing_mode_summary() {
        assert_eq!(
            summary.billing_mode().map(|b| b.as_str()),
            Some("PAY_PER_REQUEST"),
            "{logical}: schema.rs bills differently"
        );
    }

    let yaml_indexes: BTreeMap<String, IndexShape> = p
        .get("GlobalSecondaryIndexes")
        .and_then(Yaml::as_sequence)
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let projection = at(i, &["Projection"]);
            let non_key: BTreeSet<String> = projection
                .get("NonKeyAttributes")
                .and_then(Yaml::as_sequence)
                .map(|v| v.iter().map(show).collect())
                .unwrap_or_default();
            (
                show(at(i, &["IndexName"])),
                (
                    yaml_keys(at(i, &["KeySchema"])),
                    show(at(projection, &["ProjectionType"])),
                    non_key,
                ),
            )
        })
        .collect();
    let sdk_indexes: BTreeMap<String, IndexShape> = described
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let projection = i.projection().unwrap();
            (
                i.index_name().unwrap().to_owned(),
                (
                    sdk_keys(i.key_schema()),
                    projection.projection_type().unwrap().as_str().to_owned(),
                    projection.non_key_attributes().iter().cloned().collect(),
                ),
            )
        })
        .collect();
    assert_eq!(
        yaml_indexes, sdk_indexes,
        "{logical} global secondary indexes (name, keys, projection)"
    );
    assert!(p.get("LocalSecondaryIndexes").is_none());
    assert!(described.local_secondary_indexes().is_empty());

    let ttl = ddb
        .describe_time_to_live()
        .table_name(created)
        .send()
        .await
        .unwrap()
        .time_to_live_description;
    let sdk_ttl = ttl
        .filter(|d| d.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED"))
        .and_then(|d| d.attribute_name().map(str::to_owned));
    let yaml_ttl = p.get("TimeToLiveSpecification").map(|spec| {
        assert_eq!(
            show(at(spec, &["Enabled"])),
            "true",
            "{logical} TTL enabled"
        );
        show(at(spec, &["AttributeName"]))
    });
    assert_eq!(yaml_ttl, sdk_ttl, "{logical} TTL attribute");

    assert_eq!(
        show(at(
            p,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled"
            ]
        )),
        "true",
        "{logical} point-in-time recovery"
    );
    assert_eq!(
        show(at(p, &["SSESpecification", "SSEEnabled"])),
        "true",
        "{logical} SSE"
    );
    assert_eq!(show(at(tr, &["DeletionPolicy"])), "Retain", "{logical}");
    assert_eq!(
        show(at(tr, &["UpdateReplacePolicy"])),
        "Retain",
        "{logical}"
    );
}

#[tokio::test]
async fn ledger_table_matches_the_schema() {
    let stack = Stack::new().await;
    assert_table_matches(&stack, &stack.events_table, "EventsTable").await;
    // The names the code relies on, spelled out for the reader of a failure.
    let t = template();
    let index = &at(
        &t,
        &[
            "Resources",
            "EventsTable",
            "Properties",
            "GlobalSecondaryIndexes",
        ],
    )[0];
    assert_eq!(show(at(index, &["IndexName"])), schema::PENDING_INDEX);
    assert_eq!(
        yaml_keys(at(index, &["KeySchema"])),
        [
            (schema::attr::PENDING_SHARD.to_owned(), "HASH".to_owned()),
            (schema::attr::RECEIVED_AT.to_owned(), "RANGE".to_owned())
        ]
    );
    assert_eq!(
        show(at(
            &t,
            &[
                "Resources",
                "EventsTable",
                "Properties",
                "TimeToLiveSpecification",
                "AttributeName"
            ]
        )),
        schema::attr::EXPIRES_AT
    );
}

#[tokio::test]
async fn status_table_matches_the_schema() {
    let stack = Stack::new().await;
    assert_table_matches(&stack, &stack.status_table, "StatusTable").await;
}
