//! Fault injection: a small HTTP/1.1 proxy on `127.0.0.1:0` in front of moto.
//!
//! It forwards every request and, when told to, fails chosen AWS API calls. A
//! call is chosen by its `X-Amz-Target` header (`DynamoDB_20120810.PutItem`,
//! `AmazonSQS.SendMessage`, `secretsmanager.GetSecretValue`, …) and optionally
//! by text its JSON body contains (a table name, an item key). A rule fails the
//! next N matching calls, or every one until cleared; each SDK *attempt* is a
//! call, so a rule's hit count shows how often the SDK retried.
//!
//! The functions under test get clients whose endpoint is the proxy
//! ([`crate::clients_via`]); the tests' own set-up and assertions keep talking to
//! moto directly, so they never see an injected fault.
//!
//! The proxy also keeps every request it sees ([`FaultProxy::recorded`]): what a
//! function asked AWS, checked against its role by [`crate::iam`].
//!
//! Hand-rolled on tokio (request head parsed with `httparse`) rather than on a
//! hyper server: the test build already has hyper's client only, and enabling
//! its server would rebuild the whole AWS SDK. Each request to moto uses a
//! fresh connection with `Connection: close`; the client side keeps alive.

mod connection;
mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use connection::serve;
use http::Message;

/// `X-Amz-Target` values of the calls the functions make.
pub mod target {
    /// The ledger's conditional put.
    pub const PUT_ITEM: &str = "DynamoDB_20120810.PutItem";
    /// Lease take/release, mark processed/failed, status updates.
    pub const UPDATE_ITEM: &str = "DynamoDB_20120810.UpdateItem";
    /// The sweep's pending-index query.
    pub const QUERY: &str = "DynamoDB_20120810.Query";
    /// The sweep's read of an item it re-enqueues (the index holds no body).
    pub const GET_ITEM: &str = "DynamoDB_20120810.GetItem";
    /// The enqueue.
    pub const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";
    /// Publishing to the bus.
    pub const PUT_EVENTS: &str = "AWSEvents.PutEvents";
    /// Loading the webhook secrets.
    pub const GET_SECRET_VALUE: &str = "secretsmanager.GetSecretValue";
}

/// What a matching call gets instead of moto's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with the service's internal-error body; not forwarded.
    ServerError,
    /// HTTP 400 throttling error (DynamoDB `ProvisionedThroughputExceededException`,
    /// otherwise `ThrottlingException`); not forwarded.
    Throttle,
    /// The connection is reset (RST) once the request has been read; it never
    /// reaches moto.
    Reset,
    /// The request is forwarded and applied by moto, then the connection is
    /// reset: the caller never sees the answer of a call that took effect.
    ResetAfterForward,
    /// No answer for this long (meant to be past the SDK's attempt timeout),
    /// then the connection is closed; the request never reaches moto.
    Hang(Duration),
    /// Held this long, then forwarded and answered: a slow dependency that
    /// applies the call even though the caller may have given up on it.
    Slow(Duration),
    /// `PutEvents` only: the first entry of this detail-type whose detail
    /// contains the rule's texts is refused (an `InternalFailure` result in
    /// its place), the others are forwarded and taken.
    RefuseEntry(&'static str),
}

/// How many matching calls a rule fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// The next `n` matching calls, then the rule is spent.
    Next(usize),
    /// Every matching call until [`FaultProxy::clear`].
    UntilCleared,
}

/// Which calls a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    target: String,
    body_contains: Vec<String>,
}

impl Call {
    /// Calls whose `X-Amz-Target` is `target` (see [`target`]).
    pub fn new(target: &str) -> Call {
        Call {
            target: target.to_owned(),
            body_contains: Vec::new(),
        }
    }

    /// …on DynamoDB table `table` (the body names it as `"TableName":"…"`).
    pub fn on_table(self, table: &str) -> Call {
        self.containing(&format!("\"TableName\":\"{table}\""))
    }

    /// …whose body contains `text` (all such conditions must hold).
    pub fn containing(mut self, text: &str) -> Call {
        self.body_contains.push(text.to_owned());
        self
    }

    fn matches(&self, target: Option<&str>, body: &[u8]) -> bool {
        target == Some(self.target.as_str())
            && self
                .body_contains
                .iter()
                .all(|needle| contains(body, needle.as_bytes()))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A rule's handle, for [`FaultProxy::hits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(usize);

#[derive(Debug)]
struct Rule {
    id: RuleId,
    call: Call,
    fault: Fault,
    remaining: Option<usize>,
}

/// One request as the proxy received it: enough to tell which AWS operation it
/// is and on what (the body only for the JSON protocols, where it names the
/// table, queue, secret or bus; an S3 body is the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `GET`, `PUT`, …
    pub method: String,
    /// Path and query, as sent (`/bucket/key?versionId=…`).
    pub target: String,
    /// The `X-Amz-Target` header of the JSON protocols.
    pub amz_target: Option<String>,
    /// The SigV4 `Authorization` header (its credential scope names the service
    /// and region).
    pub authorization: Option<String>,
    /// The body when `amz_target` is set, else empty.
    pub body: Vec<u8>,
    /// The HTTP status answered (none when the connection was reset or hung).
    pub status: Option<u16>,
    /// The function whose clients sent it ([`crate::iam::FUNCTION_HEADER`]).
    pub function: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    next_id: usize,
    hits: HashMap<RuleId, usize>,
    calls: HashMap<String, usize>,
    recorded: Vec<Recorded>,
}

/// Every `PutEvents` that passes the proxy must keep EventBridge's limits
/// ([`crate::eventbridge`]); one that breaks them is answered as AWS would,
/// a `ValidationException`, never forwarded.
fn eventbridge_refusal(target: Option<&str>, body: &[u8]) -> Option<Message> {
    if target != Some(target::PUT_EVENTS) {
        return None;
    }
    let why = crate::eventbridge::violation(body)?;
    eprintln!("fault proxy: PutEvents refused as AWS would: {why}");
    let body = serde_json::json!({"__type": "ValidationException", "message": why}).to_string();
    Some(Message {
        start_line: "400 Bad Request".into(),
        headers: vec![(
            "Content-Type".into(),
            b"application/x-amz-json-1.1".to_vec(),
        )],
        body: body.into_bytes(),
        head_answer: false,
    })
}

impl State {
    /// Counts the call and picks the fault of the first live rule it matches.
    /// Also gives the rule's body texts (what `RefuseEntry` looks for).
    fn decide(&mut self, target: Option<&str>, body: &[u8]) -> Option<(Fault, Vec<String>)> {
        *self
            .calls
            .entry(target.unwrap_or("-").to_owned())
            .or_default() += 1;
        let rule = self
            .rules
            .iter_mut()
            .find(|r| r.remaining != Some(0) && r.call.matches(target, body))?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        *self.hits.entry(rule.id).or_default() += 1;
        Some((rule.fault, rule.call.body_contains.clone()))
    }
}

/// The proxy. Stops (and drops every open connection) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    endpoint: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`, moto's endpoint). Runs on the caller's tokio
    /// runtime.
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("upstream must be http://host:port, got {upstream}"))
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fault proxy on loopback");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let server = tokio::spawn(serve(listener, upstream, Arc::clone(&state)));
        FaultProxy {
            endpoint,
            state,
            server,
        }
    }

    /// Same, on a runtime of the harness's own (one thread, for the whole test
    /// process) instead of the caller's: it keeps serving when the runtime of
    /// the test that started it is gone, and needs no `async` caller.
    pub fn start_detached(upstream: &str) -> FaultProxy {
        static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("harness-proxy")
                .enable_all()
                .build()
                .expect("the proxy runtime starts")
        });
        let upstream = upstream.to_owned();
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(FaultProxy::start(&upstream)))
                .join()
                .expect("the proxy starts")
        })
    }

    /// `http://127.0.0.1:PORT`: the endpoint to give the functions' SDK clients.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Fails `times` calls matching `call` with `fault`. Rules are tried in the
    /// order they were added; the first live match applies.
    pub fn fail(&self, call: Call, fault: Fault, times: Times) -> RuleId {
        let mut state = self.state.lock().unwrap();
        let id = RuleId(state.next_id);
        state.next_id += 1;
        state.rules.push(Rule {
            id,
            call,
            fault,
            remaining: match times {
                Times::Next(n) => Some(n),
                Times::UntilCleared => None,
            },
        });
        state.hits.insert(id, 0);
        id
    }

    /// Removes every rule: from now on everything is forwarded. Hit counts stay.
    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// How many calls `rule` has failed so far.
    pub fn hits(&self, rule: RuleId) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(&rule)
            .copied()
            .unwrap_or(0)
    }

    /// Every request seen so far (failed or forwarded), in arrival order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().recorded.clone()
    }

    /// How many requests with this `X-Amz-Target` the proxy has seen (failed
    /// or forwarded).
    pub fn calls(&self, target: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(target)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_target_and_body_and_run_out() {
        let mut state = State::default();
        state.rules.push(Rule {
            id: RuleId(0),
            call: Call::new(target::PUT_ITEM).on_table("t-events"),
            fault: Fault::Throttle,
            remaining: Some(2),
        });
        state.hits.insert(RuleId(0), 0);
        let events = br#"{"TableName":"t-events","Item":{}}"#;
        let status = br#"{"TableName":"t-events-x","Item":{}}"#;
        assert_eq!(state.decide(Some(target::PUT_ITEM), status), None);
        assert_eq!(state.decide(Some(target::UPDATE_ITEM), events), None);
        assert_eq!(state.decide(None, events), None);
        assert_eq!(
            state
                .decide(Some(target::PUT_ITEM), events)
                .map(|(fault, _)| fault),
            Some(Fault::Throttle)
        );
        assert_eq!(
            state
                .decide(Some(target::PUT_ITEM), events)
                .map(|(fault, _)| fault),
            Some(Fault::Throttle)
        );
        assert_eq!(state.decide(Some(target::PUT_ITEM), events), None);
        assert_eq!(state.hits[&RuleId(0)], 2);
        assert_eq!(state.calls[target::PUT_ITEM], 4);
    }

    #[test]
    fn the_answer_to_a_head_keeps_its_content_length() {
        let mut m = Message::simple(200, "OK", b"");
        m.headers
            .push(("Content-Length".into(), b"12582917".to_vec()));
        m.head_answer = true;
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Length: 12582917\r\n\r\n"
        );
    }

    #[test]
    fn framing_headers_are_replaced() {
        let mut m = Message::simple(200, "OK", b"abc");
        m.headers
            .push(("Transfer-Encoding".into(), b"chunked".to_vec()));
        m.headers.push(("X-Other".into(), b"1".to_vec()));
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nX-Other: 1\r\nContent-Length: 3\r\n\r\nabc"
        );
    }
}
