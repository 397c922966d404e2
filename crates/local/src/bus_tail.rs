//! `contract-hooks-local dev` shows the contract events as the processor publishes
//! them: a queue subscribed to the local bus (what a user's own system would
//! do with a rule), read in a loop, one line per event. Ids, types and
//! lifecycles only: names and emails stay on the bus.

use std::time::Duration;

use serde_json::Value;

/// Subscribes a `{bus}-tail` queue to every `contract-hooks` event on `bus`
/// and prints each one as it arrives, until the task is dropped.
pub async fn start(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{bus}-tail"))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    testkit::resources::route_to_queue(
        events,
        sqs,
        bus,
        &format!("{bus}-tail"),
        r#"{"source":["contract-hooks"]}"#,
        &queue_url,
        "tail",
    )
    .await?;
    let sqs = sqs.clone();
    Ok(tokio::spawn(async move {
        loop {
            let received = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .send()
                .await;
            let messages = match received {
                Ok(out) => out.messages.unwrap_or_default(),
                Err(e) => {
                    eprintln!("bus tail: {e}");
                    Vec::new()
                }
            };
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            for m in messages {
                if let Some(line) = m.body().and_then(describe) {
                    println!("{line}");
                }
                if let Some(handle) = m.receipt_handle() {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
        }
    }))
}

/// One line for an EventBridge event: `bus: Contract Status Changed spotdraft
/// 48213 draft -> executed (CONTRACT_EXECUTED)`; a subject's first status is
/// `new -> draft`. `None` for anything that is not one.
pub fn describe(body: &str) -> Option<String> {
    let event: Value = serde_json::from_str(body).ok()?;
    let detail_type = event["detail-type"].as_str()?;
    let d = &event["detail"];
    let text = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
    let what = match detail_type {
        "Contract Status Changed" => {
            let from = if d.get("previous_status").is_some() {
                text("previous_lifecycle")
            } else {
                "new".to_owned()
            };
            format!(
                "{from} -> {} ({})",
                text("lifecycle"),
                text("provider_event_type")
            )
        }
        "Contract Event" => format!("{} ({})", text("provider_event_type"), text("lifecycle")),
        _ => d["document"]["s3_uri"].as_str().unwrap_or("").to_owned(),
    };
    Some(format!(
        "bus: {detail_type} {} {} {what}",
        text("provider"),
        text("subject")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_changed_and_nothing_personal() {
        let changed = r#"{"detail-type":"Contract Status Changed","detail":{"provider":"spotdraft","subject":"48213","provider_event_type":"CONTRACT_EXECUTED","lifecycle":"executed","previous_status":"DRAFT","previous_lifecycle":"draft","signer":{"email":"j@example.com"}}}"#;
        assert_eq!(
            describe(changed).unwrap(),
            "bus: Contract Status Changed spotdraft 48213 draft -> executed (CONTRACT_EXECUTED)"
        );
        let first = r#"{"detail-type":"Contract Status Changed","detail":{"provider":"spotdraft","subject":"48213","provider_event_type":"CONTRACT_CREATED","lifecycle":"draft","previous_lifecycle":"unknown"}}"#;
        assert_eq!(
            describe(first).unwrap(),
            "bus: Contract Status Changed spotdraft 48213 new -> draft (CONTRACT_CREATED)"
        );
        let event = r#"{"detail-type":"Contract Event","detail":{"provider":"subnoto","subject":"e1","provider_event_type":"ENVELOPE_SIGNED","lifecycle":"signing","title":"Secret deal"}}"#;
        let line = describe(event).unwrap();
        assert_eq!(
            line,
            "bus: Contract Event subnoto e1 ENVELOPE_SIGNED (signing)"
        );
        assert!(describe("not json").is_none());
    }
}
