//! The ingest function's accept-once protocol against DynamoDB and SQS over the
//! wire (moto on loopback), driven with real API Gateway v1, v2 and function-URL
//! events.

mod delivery;
mod enqueue;
mod input;
mod secrets;

use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Event, Provider};

async fn send(app: &ingest::App, request: lambda_http::Request) -> (u16, Value) {
    answer(ingest::handle(app, request).await)
}

fn event_of(provider: Provider, body: &[u8], format: BodyFormat) -> Event {
    Event::parse(provider, format, body).unwrap()
}
