//! Issue 21, items 2 and 3, over the wire: what ingest accepts, the bus must
//! take. Every PutEvents goes through the fault proxy, which refuses what
//! EventBridge refuses (`integration_tests::eventbridge`: entry size as AWS
//! counts it, int64 integers, …), so an entry that AWS would refuse fails
//! here. A signed body of exactly `MAX_BODY_BYTES` with one field taking all
//! of it, and metadata with integers beyond int64, are processed without a
//! failure and published (cut and marked `truncated`, numbers as text).

use integration_tests::faults::FaultProxy;
use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Provider};

const MAX_BODY_BYTES: usize = 262_144;

/// The executed sample with `path` set to a string that makes the body
/// exactly `MAX_BODY_BYTES` long.
fn padded(contract_id: u64, path: &[&str], fill: char) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&sample("spotdraft-contract-executed.json")).unwrap();
    body["contract_id"] = contract_id.into();
    body["activity_data"]["signatory"] =
        serde_json::json!({"name": "Lena Fischer", "email": "l@x"});
    let set = |body: &mut Value, text: String| {
        let mut at = &mut *body;
        for key in &path[..path.len() - 1] {
            at = if let Ok(i) = key.parse::<usize>() {
                &mut at[i]
            } else {
                &mut at[*key]
            };
        }
        at[path[path.len() - 1]] = Value::String(text);
    };
    set(&mut body, String::new());
    let base = serde_json::to_vec(&body).unwrap().len();
    // Bytes of one `fill` in JSON (escaped characters take more).
    let each = serde_json::to_string(&fill.to_string()).unwrap().len() - 2;
    let room = (MAX_BODY_BYTES - base) / each;
    set(&mut body, fill.to_string().repeat(room));
    let mut bytes = serde_json::to_vec(&body).unwrap();
    // Top up with spaces (insignificant whitespace) to the exact size.
    bytes.extend(std::iter::repeat_n(b' ', MAX_BODY_BYTES - bytes.len()));
    assert_eq!(bytes.len(), MAX_BODY_BYTES);
    bytes
}

async fn deliver_and_publish(bodies: &[(String, Vec<u8>)]) -> Vec<Value> {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let ingest = stack.ingest(&[]).await;
    let proxy = FaultProxy::start(&moto().endpoint).await;
    let processor = stack.processor_with(
        &clients_via(proxy.endpoint()).await,
        &[("EVENT_BUS_NAME", &sub.bus)],
    );
    let mut records = Vec::new();
    for (name, body) in bodies {
        let request = signed_request(
            EventKind::ApiGatewayV2,
            Provider::SpotDraft,
            body,
            BodyFormat::Json,
        );
        let (status, answer) = answer(ingest::handle(&ingest, request).await);
        assert_eq!(status, 202, "{name}: {answer}");
        for m in stack.drain_queue_raw().await {
            records.push(sqs_record(name, Some(&m.body), 1));
        }
    }
    for chunk in records.chunks(10) {
        let report = processor::process_batch(&processor, &sqs_event(chunk.to_vec())).await;
        assert!(report.failed.is_empty(), "refused on the bus: {report:?}");
    }
    bus_received(&stack, &sub).await
}

#[tokio::test]
async fn a_body_of_the_largest_size_with_any_field_taking_it_all_is_published() {
    let cases: Vec<(String, Vec<u8>)> = [
        (vec!["contract_status"], 'S'),
        (vec!["activity"], 'A'),
        (vec!["contract_title"], '\u{1}'),
        (vec!["contract_reference_id"], 'é'),
        (vec!["contract_kind"], 'K'),
        (vec!["counterparties", "0", "organization_name"], '"'),
        (vec!["activity_data", "signatory", "email"], 'm'),
        (vec!["activity_data", "signatory", "name"], '\u{7f}'),
        (vec!["external_metadata", "crm"], 'c'),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (path, fill))| (path.join("."), padded(i as u64 + 1, &path, fill)))
    .collect();
    let events = deliver_and_publish(&cases).await;
    assert_eq!(events.len(), cases.len(), "one entry per event");
    for e in &events {
        let size = "contract-hooks".len()
            + e["detail-type"].as_str().unwrap().len()
            + serde_json::to_string(&e["detail"]).unwrap().len();
        assert!(size < 262_144, "{size}");
        let subject: usize = e["detail"]["subject"].as_str().unwrap().parse().unwrap();
        let case = &cases[subject - 1].0;
        assert_eq!(e["detail"]["truncated"], true, "{case}");
    }
}

#[tokio::test]
async fn integers_beyond_int64_are_published_as_their_exact_text() {
    let mut body: Value =
        serde_json::from_slice(&sample("spotdraft-contract-executed.json")).unwrap();
    // Placeholders, replaced by the digits as text (serde_json without
    // arbitrary precision would round them).
    body["external_metadata"]["deal_id"] = "__DEAL__".into();
    body["external_metadata"]["big"] = "__BIG__".into();
    body["external_metadata"]["small"] = 7.into();
    let text = serde_json::to_string(&body)
        .unwrap()
        .replace("\"__DEAL__\"", "12345678901234567890")
        .replace("\"__BIG__\"", "123456789012345678901234567890");
    assert!(text.contains(":12345678901234567890,"), "{text}");
    let events = deliver_and_publish(&[("numbers".into(), text.into_bytes())]).await;
    assert_eq!(events.len(), 1);
    let meta = &events[0]["detail"]["external_metadata"];
    assert_eq!(meta["deal_id"], "12345678901234567890");
    assert_eq!(meta["big"], "123456789012345678901234567890");
    assert_eq!(meta["small"], 7);
    assert_eq!(meta["crm"], "salesforce");
}
