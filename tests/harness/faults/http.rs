//! HTTP/1.1 messages read off a stream, their bodies de-framed (`Content-Length` or chunked).

use std::io;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::Recorded;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Request,
    Response,
    /// The answer to a `HEAD`: no body, whatever its `Content-Length` says.
    ResponseToHead,
}

/// One HTTP/1.1 request or response with its body de-framed.
#[derive(Debug)]
pub(super) struct Message {
    /// `METHOD PATH` of a request, `CODE REASON` of a response.
    pub(super) start_line: String,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) body: Vec<u8>,
    /// The answer to a `HEAD` (its `Content-Length` describes no body here).
    pub(super) head_answer: bool,
}

impl Message {
    pub(super) fn simple(status: u16, reason: &str, body: &[u8]) -> Message {
        Message {
            start_line: format!("{status} {reason}"),
            headers: Vec::new(),
            body: body.to_vec(),
            head_answer: false,
        }
    }

    /// A request as [`FaultProxy::recorded`] keeps it.
    pub(super) fn recorded(&self) -> Recorded {
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

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The response as sent to the client: framing headers replaced by an exact
    /// `Content-Length`, so the client connection can stay open. The answer to
    /// a `HEAD` keeps its own (the size of what a `GET` would return).
    pub(super) fn to_bytes(&self) -> Vec<u8> {
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

pub(super) fn is_framing_header(name: &str) -> bool {
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
pub(super) async fn read_message(
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
