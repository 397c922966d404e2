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

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

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

async fn serve(listener: TcpListener, upstream: String, state: Arc<Mutex<State>>) {
    // Connection tasks live in this set: aborting the server drops them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, upstream.clone(), Arc::clone(&state)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Longest a forwarded call may take at moto before the proxy gives up on it.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

async fn connection(mut client: TcpStream, upstream: String, state: Arc<Mutex<State>>) {
    let _ = client.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let request = match read_message(&mut client, &mut buf, Kind::Request).await {
            Ok(Some(request)) => request,
            _ => return,
        };
        let target = request.header("x-amz-target").map(str::to_owned);
        let index = {
            let mut state = state.lock().unwrap();
            state.recorded.push(request.recorded());
            state.recorded.len() - 1
        };
        if let Some(refusal) = eventbridge_refusal(target.as_deref(), &request.body) {
            state.lock().unwrap().recorded[index].status = Some(400);
            if client.write_all(&refusal.to_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let decided = state
            .lock()
            .unwrap()
            .decide(target.as_deref(), &request.body);
        let (fault, needles) = match decided {
            Some((fault, needles)) => (Some(fault), needles),
            None => (None, Vec::new()),
        };
        let response = match fault {
            Some(Fault::RefuseEntry(detail_type)) => {
                match crate::eventbridge::without_entry(&request.body, detail_type, &needles) {
                    Some((rest, at)) => {
                        let shortened = Message {
                            start_line: request.start_line.clone(),
                            headers: request.headers.clone(),
                            body: rest,
                            head_answer: false,
                        };
                        forward(&upstream, &shortened).await.map(|mut answer| {
                            answer.body = crate::eventbridge::with_refused_entry(&answer.body, at);
                            answer
                        })
                    }
                    None => forward(&upstream, &request).await,
                }
            }
            None => forward(&upstream, &request).await,
            Some(Fault::ServerError) => Ok(error_response(&request, 500, false)),
            Some(Fault::Throttle) => Ok(error_response(&request, 400, true)),
            Some(Fault::Reset) => return reset(client),
            Some(Fault::ResetAfterForward) => {
                let _ = forward(&upstream, &request).await;
                return reset(client);
            }
            Some(Fault::Hang(delay)) => {
                // Ends early if the caller gives up and closes its side.
                let mut probe = [0u8; 1];
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = client.read(&mut probe) => {}
                }
                return;
            }
            Some(Fault::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                forward(&upstream, &request).await
            }
        };
        if let Ok(response) = &response {
            let status = response
                .start_line
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok());
            state.lock().unwrap().recorded[index].status = status;
        }
        let Ok(response) = response else {
            // moto unreachable: answer as a gateway would.
            let _ = client
                .write_all(&Message::simple(502, "Bad Gateway", b"").to_bytes())
                .await;
            return;
        };
        if client.write_all(&response.to_bytes()).await.is_err() {
            return;
        }
    }
}

/// Drops the connection with a TCP reset (SO_LINGER 0), not an orderly close.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn forward(upstream: &str, request: &Message) -> io::Result<Message> {
    tokio::time::timeout(UPSTREAM_TIMEOUT, async {
        let mut moto = TcpStream::connect(upstream).await?;
        let mut out = format!("{} HTTP/1.1\r\n", request.start_line).into_bytes();
        for (name, value) in &request.headers {
            if !is_framing_header(name) && !name.eq_ignore_ascii_case("expect") {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                request.body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&request.body);
        moto.write_all(&out).await?;
        let mut buf = Vec::new();
        let kind = if request.start_line.starts_with("HEAD ") {
            Kind::ResponseToHead
        } else {
            Kind::Response
        };
        read_message(&mut moto, &mut buf, kind)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "moto closed"))
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "moto did not answer"))?
}

/// The error document the service would send, in its JSON protocol.
fn error_response(request: &Message, status: u16, throttle: bool) -> Message {
    let target = request.header("x-amz-target").unwrap_or("");
    let code = match (target.split('.').next().unwrap_or(""), throttle) {
        ("DynamoDB_20120810", true) => "ProvisionedThroughputExceededException",
        ("DynamoDB_20120810", false) => "InternalServerError",
        ("AmazonSQS", false) => "InternalError",
        ("secretsmanager", false) => "InternalServiceError",
        (_, true) => "ThrottlingException",
        (_, false) => "InternalFailure",
    };
    let message = if throttle {
        "Rate exceeded (injected by the fault proxy)"
    } else {
        "Internal error (injected by the fault proxy)"
    };
    let body = serde_json::json!({"__type": code, "message": message}).to_string();
    let reason = if status == 500 {
        "Internal Server Error"
    } else {
        "Bad Request"
    };
    let content_type = request
        .header("content-type")
        .unwrap_or("application/x-amz-json-1.0")
        .to_owned();
    let mut response = Message::simple(status, reason, body.as_bytes());
    response
        .headers
        .push(("Content-Type".into(), content_type.into_bytes()));
    response
        .headers
        .push(("x-amzn-ErrorType".into(), code.as_bytes().to_vec()));
    response.headers.push((
        "x-amzn-RequestId".into(),
        uuid::Uuid::new_v4().to_string().into_bytes(),
    ));
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
    /// The answer to a `HEAD`: no body, whatever its `Content-Length` says.
    ResponseToHead,
}

/// One HTTP/1.1 request or response with its body de-framed.
#[derive(Debug)]
struct Message {
    /// `METHOD PATH` of a request, `CODE REASON` of a response.
    start_line: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// The answer to a `HEAD` (its `Content-Length` describes no body here).
    head_answer: bool,
}

impl Message {
    fn simple(status: u16, reason: &str, body: &[u8]) -> Message {
        Message {
            start_line: format!("{status} {reason}"),
            headers: Vec::new(),
            body: body.to_vec(),
            head_answer: false,
        }
    }

    /// A request as [`FaultProxy::recorded`] keeps it.
    fn recorded(&self) -> Recorded {
        let (method, target) = self
            .start_line
            .split_once(' ')
            .unwrap_or((self.start_line.as_str(), "/"));
        let amz_target = self.header("x-amz-target").map(str::to_owned);
        Recorded {
            method: method.to_owned(),
            target: target.to_owned(),
            authorization: self.header("authorization").map(str::to_owned),
            body: if amz_target.is_some() {
                self.body.clone()
            } else {
                Vec::new()
            },
            amz_target,
            status: None,
            function: self.header(crate::iam::FUNCTION_HEADER).map(str::to_owned),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The response as sent to the client: framing headers replaced by an exact
    /// `Content-Length`, so the client connection can stay open. The answer to
    /// a `HEAD` keeps its own (the size of what a `GET` would return).
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {}\r\n", self.start_line).into_bytes();
        for (name, value) in &self.headers {
            if !is_framing_header(name) {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
        let length = match (self.head_answer, self.header("content-length")) {
            (true, Some(length)) => length.trim().to_owned(),
            _ => self.body.len().to_string(),
        };
        out.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

fn is_framing_header(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "content-length",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Reads more bytes into `buf`; `false` at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// Reads one message from `stream` (bytes already read are in `buf`; what
/// follows the message stays there). `None` when the stream ends cleanly
/// before a message starts.
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    kind: Kind,
) -> io::Result<Option<Message>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let (head_len, start_line, headers) = loop {
        if let Some(parsed) = parse_head(buf, kind).map_err(|_| bad("malformed HTTP head"))? {
            break parsed;
        }
        if buf.len() > 64 * 1024 {
            return Err(bad("HTTP head too large"));
        }
        if !fill(stream, buf).await? {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(bad("stream ended inside an HTTP head"))
            };
        }
    };
    buf.drain(..head_len);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
    };
    let no_body = kind == Kind::ResponseToHead
        || kind == Kind::Response
            && (start_line.starts_with('1')
                || start_line.starts_with("204")
                || start_line.starts_with("304"));
    let body = if no_body {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        read_chunked(stream, buf).await?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        while buf.len() < len {
            if !fill(stream, buf).await? {
                return Err(bad("stream ended inside a body"));
            }
        }
        buf.drain(..len).collect()
    } else if kind == Kind::Response {
        while fill(stream, buf).await? {}
        std::mem::take(buf)
    } else {
        Vec::new()
    };
    Ok(Some(Message {
        start_line,
        headers,
        body,
        head_answer: kind == Kind::ResponseToHead,
    }))
}

type Head = (usize, String, Vec<(String, Vec<u8>)>);

fn parse_head(buf: &[u8], kind: Kind) -> Result<Option<Head>, httparse::Error> {
    let mut slots = [httparse::EMPTY_HEADER; 96];
    let owned = |headers: &[httparse::Header<'_>]| {
        headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect::<Vec<_>>()
    };
    match kind {
        Kind::Request => {
            let mut req = httparse::Request::new(&mut slots);
            match req.parse(buf)? {
                httparse::Status::Partial => Ok(None),
                httparse::Status::Complete(n) => Ok(Some((
                    n,
                    format!(
                        "{} {}",
                        req.method.unwrap_or("GET"),
                        req.path.unwrap_or("/")
                    ),
                    owned(req.headers),
                ))),
            }
        }
        Kind::Response | Kind::ResponseToHead => {
            let mut res = httparse::Response::new(&mut slots);
            match res.parse(buf)? {
                httparse::Status::Partial => Ok(None),
                httparse::Status::Complete(n) => Ok(Some((
                    n,
                    format!("{} {}", res.code.unwrap_or(502), res.reason.unwrap_or("")),
                    owned(res.headers),
                ))),
            }
        }
    }
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed chunked body");
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if !fill(stream, buf).await? {
                return Err(bad());
            }
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).to_string();
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad())?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    let empty = i == 0;
                    buf.drain(..i + 2);
                    if empty {
                        return Ok(body);
                    }
                } else if !fill(stream, buf).await? {
                    return Ok(body);
                }
            }
        }
        while buf.len() < size + 2 {
            if !fill(stream, buf).await? {
                return Err(bad());
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
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
