//! One keep-alive HTTP/1.1 connection that sends SigV4-signed AWS JSON 1.1
//! requests (signed at send time, like any SDK would) or plain GETs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where and as whom to send requests.
pub struct Target {
    /// `host:port` as written in the endpoint: the `host` header.
    pub host: HeaderValue,
    pub addr: SocketAddr,
    /// Signs as the benchmark's identity for service `kms` in its region.
    pub signer: kms_api::sigv4::Signer,
    pub timeout: Duration,
}

impl Target {
    pub async fn new(
        endpoint: &str,
        region: &str,
        access_key_id: String,
        secret: String,
        timeout: Duration,
    ) -> Result<Arc<Self>, String> {
        let uri: http::Uri = endpoint.parse().map_err(|_| format!("invalid endpoint URL '{endpoint}'"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("endpoint '{endpoint}': only http://host:port is supported"));
        }
        let authority = uri.authority().ok_or_else(|| format!("endpoint '{endpoint}' has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await
            .map_err(|e| format!("cannot resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority} resolves to no address"))?;
        let signer = kms_api::sigv4::Signer::new(&access_key_id, &secret, None, region, "kms")
            .map_err(|e| format!("cannot sign as {access_key_id}: {e}"))?;
        Ok(Arc::new(Target { host: header(authority.as_str())?, addr, signer, timeout }))
    }
}

/// Read `[profile]` from an AWS shared-credentials (INI) file.
pub fn read_credentials_file(path: &Path, profile: &str) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut current = String::new();
    let (mut ak, mut sk) = (None, None);
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().trim_start_matches("profile ").to_string();
        } else if current == profile {
            match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("aws_access_key_id", v)) => ak = Some(v.to_string()),
                Some(("aws_secret_access_key", v)) => sk = Some(v.to_string()),
                _ => {}
            }
        }
    }
    match (ak, sk) {
        (Some(a), Some(s)) => Ok((a, s)),
        _ => Err(format!("{}: profile [{profile}] has no aws_access_key_id/aws_secret_access_key", path.display())),
    }
}

/// What a call returned.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// The AWS error type of an error answer (`__type` without its
    /// namespace), if the body says.
    pub fn error_type(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        let t = v.get("__type")?.as_str()?;
        Some(t.rsplit('#').next().unwrap_or(t).to_string())
    }

    /// A `ThrottlingException` (a request quota, or overload protection).
    pub fn is_throttling(&self) -> bool {
        self.status == 400 && self.error_type().as_deref() == Some("ThrottlingException")
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("response is not JSON: {e}"))
    }

    /// `HTTP <status>: <body>` (truncated), for error reports.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(400).collect();
        format!("HTTP {}: {}", self.status, text)
    }
}

/// A request prepared once and signed at every send.
#[derive(Debug, Clone)]
pub enum Call {
    /// Unsigned `GET <path>`.
    Get(&'static str),
    /// Signed `POST /` with `x-amz-target: <target>`.
    Kms { target: HeaderValue, body: Bytes },
}

impl Call {
    pub fn kms(target: &str, body: &serde_json::Value) -> Result<Call, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        Ok(Call::Kms { target: header(target)?, body: Bytes::from(body) })
    }
}

fn header(v: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(v).map_err(|e| format!("invalid header value: {e}"))
}

pub fn now_epoch_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Build the HTTP request for `call`, signing it now.
pub fn build(target: &Target, call: &Call) -> Result<Request<Full<Bytes>>, String> {
    build_at(target, call, now_epoch_secs())
}

/// Build the HTTP request for `call`, signed as at `now` (seconds since
/// the epoch): the replay pool signs requests ahead of time.
pub fn build_at(target: &Target, call: &Call, now: i64) -> Result<Request<Full<Bytes>>, String> {
    let (method, path, headers, body) = parts(target, call, now)?;
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = http::Uri::from_static(path);
    *req.headers_mut() = headers;
    Ok(req)
}

/// Method, path, headers (signed as at `now` for a KMS call) and body of
/// `call`'s request, without `content-length`.
pub fn parts(target: &Target, call: &Call, now: i64) -> Result<(Method, &'static str, HeaderMap, Bytes), String> {
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(http::header::HOST, target.host.clone());
    match call {
        Call::Get(path) => Ok((Method::GET, path, headers, Bytes::new())),
        Call::Kms { target: op, body } => {
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(kms_api::JSON_CONTENT_TYPE));
            headers.insert("x-amz-target", op.clone());
            let auth =
                target.signer.sign("POST", "/", &mut headers, body, now).map_err(|e| format!("cannot sign: {e}"))?;
            headers.insert(http::header::AUTHORIZATION, header(&auth)?);
            Ok((Method::POST, "/", headers, body.clone()))
        }
    }
}

/// Drives a connection's I/O. It never completes: once the connection has
/// ended it stays pending, and the request side sees hyper's error instead.
type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One keep-alive HTTP/1.1 connection, reopened after a transport error.
/// Its I/O is driven by whichever task sends on it (no helper task), so a
/// load-generator connection is exactly one task.
pub struct Conn {
    target: Arc<Target>,
    link: Option<(SendRequest<Full<Bytes>>, Driver)>,
    /// TCP connections opened so far.
    pub opened: u64,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Self {
        Conn { target, link: None, opened: 0 }
    }

    /// Sign the next requests as `target`'s identity (same server, same
    /// connection).
    pub fn sign_as(&mut self, target: &Arc<Target>) {
        self.target = target.clone();
    }

    /// Open the connection now (rather than on the first request).
    pub async fn connect(&mut self) -> Result<(), String> {
        if self.link.as_ref().is_some_and(|(s, _)| !s.is_closed()) {
            return Ok(());
        }
        self.link = None;
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.target.addr))?;
        self.opened += 1;
        stream.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let driver: Driver = Box::pin(async move {
            let _ = conn.await;
            std::future::pending::<()>().await
        });
        self.link = Some((sender, driver));
        Ok(())
    }

    /// A connection ready for a request. A connection the server closed
    /// while idle is replaced (the request was not sent, so not an error).
    async fn ready(&mut self) -> Result<(), String> {
        for _ in 0..2 {
            self.connect().await?;
            let (sender, driver) = self.link.as_mut().ok_or("not connected")?;
            let ready = tokio::select! {
                r = sender.ready() => r.is_ok(),
                _ = driver => false,
            };
            if ready {
                return Ok(());
            }
            self.link = None;
        }
        Err("the server closed the connection twice before a request was sent".into())
    }

    /// Sign (if needed) and send `call`; read the whole response.
    /// `Err` is a transport error or a timeout.
    pub async fn send(&mut self, call: &Call) -> Result<Reply, String> {
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout, self.exchange(call)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.link = None;
                Err(e)
            }
            Err(_) => {
                self.link = None;
                Err(format!("no response within {} s", timeout.as_secs_f64()))
            }
        }
    }

    async fn exchange(&mut self, call: &Call) -> Result<Reply, String> {
        self.ready().await?;
        // Signed once the connection is ready, right before it is sent.
        let req = build(&self.target, call)?;
        let (sender, driver) = self.link.as_mut().ok_or("not connected")?;
        let exchange = async {
            let resp = sender.send_request(req).await.map_err(|e| format!("request failed: {e}"))?;
            let status = resp.status().as_u16();
            let body =
                resp.into_body().collect().await.map_err(|e| format!("reading the response body: {e}"))?.to_bytes();
            Ok(Reply { status, body })
        };
        tokio::select! {
            r = exchange => r,
            _ = driver => Err("connection driver stopped".into()),
        }
    }

    /// Send a signed KMS call and return its JSON, or the error.
    pub async fn call(&mut self, op: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
        let reply = self.send(&Call::kms(op, body)?).await?;
        if !reply.ok() {
            return Err(format!("{op}: {}", reply.describe()));
        }
        reply.json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file() {
        let dir = std::env::temp_dir().join(format!("kms-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials");
        std::fs::write(
            &path,
            "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n[other]\naws_access_key_id=X\n",
        )
        .unwrap();
        assert_eq!(read_credentials_file(&path, "default").unwrap(), ("AK".to_string(), "SK".to_string()));
        assert!(read_credentials_file(&path, "other").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn throttling_is_recognised() {
        let reply = |status, body: &'static str| Reply { status, body: Bytes::from_static(body.as_bytes()) };
        assert!(reply(400, r#"{"__type":"ThrottlingException","message":"slow down"}"#).is_throttling());
        assert!(reply(400, r#"{"__type":"com.amazonaws.kms#ThrottlingException"}"#).is_throttling());
        assert!(!reply(400, r#"{"__type":"NotFoundException"}"#).is_throttling());
        assert!(!reply(500, r#"{"__type":"ThrottlingException"}"#).is_throttling());
        assert!(!reply(400, "not json").is_throttling());
        assert_eq!(
            reply(400, r#"{"__type":"KMSInternalException"}"#).error_type().as_deref(),
            Some("KMSInternalException")
        );
    }

    #[test]
    fn signed_request_has_the_aws_headers() {
        let target = Target {
            host: HeaderValue::from_static("127.0.0.1:1"),
            addr: "127.0.0.1:1".parse().unwrap(),
            signer: kms_api::sigv4::Signer::new("AK", "SK", None, "us-east-1", "kms").unwrap(),
            timeout: Duration::from_secs(1),
        };
        let call = Call::kms("TrentService.ListKeys", &serde_json::json!({})).unwrap();
        let req = build(&target, &call).unwrap();
        let h = req.headers();
        assert_eq!(h["x-amz-target"], "TrentService.ListKeys");
        assert_eq!(h["host"], "127.0.0.1:1");
        assert!(h.contains_key("x-amz-date"));
        let auth = h["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"), "{auth}");
        assert!(auth.contains("/us-east-1/kms/aws4_request"), "{auth}");
        let get = build(&target, &Call::Get("/health")).unwrap();
        assert_eq!(get.method(), Method::GET);
        assert!(!get.headers().contains_key("authorization"));
    }
}
