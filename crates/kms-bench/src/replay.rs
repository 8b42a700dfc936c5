//! Replay (`--replay`): the load generator's cost taken out of the
//! measurement. Each connection signs a pool of requests once, before the
//! clock starts, as complete HTTP/1.1 request bytes, and then writes them
//! in turn to a raw keep-alive TCP connection, reading each response with a
//! minimal parser (status line, `content-length`, body). No signing, no
//! hyper, no header map per request: a write and a read or two.
//!
//! The server still verifies every signature as usual; it (like AWS) does
//! not refuse a request it has seen before. The pool's requests are signed
//! one second apart (distinct `X-Amz-Date`s, so distinct signatures), and
//! signed again after [`RESIGN_AFTER`], well inside SigV4's 15-minute skew
//! window, so a run of any length keeps being accepted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{self, Call, Reply, Target};

/// A pool is signed again once it is this old. Its oldest request was then
/// signed `RESIGN_AFTER + pool size` seconds ago: under the server's 15
/// minutes for any pool size up to [`MAX_POOL`].
pub const RESIGN_AFTER: Duration = Duration::from_secs(5 * 60);

/// At most this many requests in a pool (one signing second each).
pub const MAX_POOL: usize = 300;

/// The default pool size per connection.
pub const DEFAULT_POOL: usize = 60;

/// `call` as the bytes of an HTTP/1.1 request, signed as at `now`.
pub fn request_bytes(target: &Target, call: &Call, now: i64) -> Result<Bytes, String> {
    let (method, path, headers, body) = client::parts(target, call, now)?;
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if method != http::Method::GET || !body.is_empty() {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}

/// One connection's pre-signed requests, sent in turn.
pub struct Pool {
    requests: Vec<Bytes>,
    next: usize,
    signed: Instant,
    /// Times the pool was signed again during the run.
    pub resigned: u64,
}

impl Pool {
    /// `size` requests (clamped to 1..=[`MAX_POOL`]) signed as at now, now
    /// - 1 s, ...; the first one sent is `start % size` (connections start
    ///   at different places).
    pub fn new(target: &Target, call: &Call, size: usize, start: usize) -> Result<Pool, String> {
        let size = match call {
            // Unsigned: every request is the same.
            Call::Get(_) => 1,
            Call::Kms { .. } => size.clamp(1, MAX_POOL),
        };
        let now = client::now_epoch_secs();
        let requests = (0..size).map(|i| request_bytes(target, call, now - i as i64)).collect::<Result<Vec<_>, _>>()?;
        Ok(Pool { requests, next: start % size, signed: Instant::now(), resigned: 0 })
    }

    /// The next request to send, signing the pool again first when it is
    /// [`RESIGN_AFTER`] old.
    pub fn next(&mut self, target: &Target, call: &Call) -> Result<Bytes, String> {
        if self.signed.elapsed() >= RESIGN_AFTER {
            let fresh = Pool::new(target, call, self.requests.len(), self.next)?;
            *self = Pool { resigned: self.resigned + 1, ..fresh };
        }
        let req = self.requests[self.next].clone();
        self.next = (self.next + 1) % self.requests.len();
        Ok(req)
    }
}

/// A response's head: what the closed loop needs from it.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    /// Bytes up to and including the blank line.
    len: usize,
    status: u16,
    content_length: usize,
    close: bool,
}

/// Parse a response head at the start of `buf`; `Ok(None)` while it is
/// incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err("response head over 64 KiB".into());
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let (mut content_length, mut close) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed response header: {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse().map_err(|_| format!("bad content-length: {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("transfer-encoding {value} is not supported by --replay"));
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let content_length = content_length.ok_or("response without content-length")?;
    Ok(Some(Head { len: end + 4, status, content_length, close }))
}

/// One raw keep-alive connection for pre-built requests, reopened after a
/// transport error.
pub struct RawConn {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// TCP connections opened so far.
    pub opened: u64,
}

impl RawConn {
    pub fn new(target: &Target) -> Self {
        RawConn {
            addr: target.addr,
            timeout: target.timeout,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
            opened: 0,
        }
    }

    pub async fn connect(&mut self) -> Result<(), String> {
        if self.stream.is_some() {
            return Ok(());
        }
        let stream =
            TcpStream::connect(self.addr).await.map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        stream.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
        self.opened += 1;
        self.stream = Some(stream);
        Ok(())
    }

    /// Send `request` and read the whole response. The body is kept only
    /// for an error answer. `Err` is a transport error or a timeout.
    pub async fn send(&mut self, request: &[u8]) -> Result<Reply, String> {
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err(format!("no response within {} s", self.timeout.as_secs_f64()))
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Reply, String> {
        self.connect().await?;
        let stream = self.stream.as_mut().ok_or("not connected")?;
        stream.write_all(request).await.map_err(|e| format!("write failed: {e}"))?;
        self.buf.clear();
        let head = loop {
            if let Some(h) = parse_head(&self.buf)? {
                break h;
            }
            read_more(stream, &mut self.buf).await?;
        };
        let total = head.len + head.content_length;
        while self.buf.len() < total {
            read_more(stream, &mut self.buf).await?;
        }
        if self.buf.len() > total {
            return Err("more bytes than one response (the closed loop sends one request at a time)".into());
        }
        let body = match head.status {
            200 => Bytes::new(),
            _ => Bytes::copy_from_slice(&self.buf[head.len..total]),
        };
        if head.close {
            self.stream = None;
        }
        Ok(Reply { status: head.status, body })
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.reserve(8 * 1024);
    match stream.read_buf(buf).await {
        Ok(0) => Err("the server closed the connection".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn target() -> Target {
        Target {
            host: HeaderValue::from_static("127.0.0.1:1"),
            addr: "127.0.0.1:1".parse().unwrap(),
            signer: kms_api::sigv4::Signer::new("AK", "SK", None, "us-east-1", "kms").unwrap(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn request_bytes_are_a_signed_http_request() {
        let call = Call::kms("TrentService.Encrypt", &serde_json::json!({"KeyId": "k"})).unwrap();
        let bytes = request_bytes(&target(), &call, 1_700_000_000).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("POST / HTTP/1.1\r\nhost: 127.0.0.1:1\r\n"), "{text}");
        assert!(text.contains("\r\nx-amz-target: TrentService.Encrypt\r\n"));
        assert!(text.contains("\r\nx-amz-date: 20231114T221320Z\r\n"));
        assert!(text.contains("\r\nauthorization: AWS4-HMAC-SHA256 Credential=AK/20231114/us-east-1/kms/aws4_request"));
        assert!(text.ends_with("\r\ncontent-length: 13\r\n\r\n{\"KeyId\":\"k\"}"), "{text}");
        let get = request_bytes(&target(), &Call::Get("/health"), 0).unwrap();
        assert_eq!(&get[..], b"GET /health HTTP/1.1\r\nhost: 127.0.0.1:1\r\n\r\n");
    }

    #[test]
    fn pool_signs_distinct_requests_and_cycles() {
        let call = Call::kms("TrentService.Encrypt", &serde_json::json!({})).unwrap();
        let t = target();
        let mut pool = Pool::new(&t, &call, 3, 5).unwrap();
        let all: Vec<Bytes> = (0..6).map(|_| pool.next(&t, &call).unwrap()).collect();
        assert_ne!(all[0], all[1]);
        assert_ne!(all[1], all[2]);
        assert_eq!(all[0], all[3]);
        assert_eq!(Pool::new(&t, &Call::Get("/health"), 50, 0).unwrap().requests.len(), 1);
        assert_eq!(Pool::new(&t, &call, 10_000, 0).unwrap().requests.len(), MAX_POOL);
    }

    #[test]
    fn response_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap(), None);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ndate: x\r\n\r\nhello").unwrap().unwrap();
        assert_eq!(h, Head { len: 47, status: 200, content_length: 5, close: false });
        let h = parse_head(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
        assert_eq!(h.map(|h| (h.status, h.close)), Some((400, true)));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }
}
