//! One client connection: its requests forwarded to moto, or answered with the fault a rule
//! chose.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::http::{is_framing_header, read_message, Kind, Message};
use super::{eventbridge_refusal, Fault, State};

pub(super) async fn serve(listener: TcpListener, upstream: String, state: Arc<Mutex<State>>) {
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
