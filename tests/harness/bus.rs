//! A subscriber to the stack's bus: a rule sending every contract-hooks event to a queue.

use serde_json::Value;

use crate::Stack;

/// A bus with a rule that sends every contract-hooks event to a queue.
pub struct Subscriber {
    /// The bus name.
    pub bus: String,
    /// The subscriber queue.
    pub queue_url: String,
}

/// Creates a bus for `stack` and a rule sending every contract-hooks event
/// on it to a new queue (what a user's own system would subscribe).
pub async fn subscribe_to_bus(stack: &Stack) -> Subscriber {
    let bus = format!("{}-bus", stack.name);
    let events = &stack.clients.events;
    events.create_event_bus().name(&bus).send().await.unwrap();
    let (queue_url, _) =
        testkit::resources::create_queues(&stack.clients.sqs, &format!("{}-sub", stack.name))
            .await
            .unwrap();
    testkit::resources::route_to_queue(
        events,
        &stack.clients.sqs,
        &bus,
        "all-contract-events",
        r#"{"source":["contract-hooks"]}"#,
        &queue_url,
        "queue",
    )
    .await
    .unwrap();
    Subscriber { bus, queue_url }
}

/// Every EventBridge event (as JSON) the subscriber's queue received.
pub async fn bus_received(stack: &Stack, sub: &Subscriber) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&sub.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = page.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(&sub.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out
}
