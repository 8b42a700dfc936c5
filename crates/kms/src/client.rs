//! A small SigV4-signing client for the AWS JSON 1.1 protocol, used by the
//! operator CLI (`kms admin`) and to unwrap a root key that another KMS
//! protects. It finds the endpoint, region and credentials the way the AWS
//! CLI does. Plain HTTP goes through a connection pool; HTTPS (verified
//! against a CA file) opens a connection per call, as the peer client does
//! ([`send_once`]).

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use kms_core::crypto::SecretString;

/// Credentials for signing.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: SecretString,
    pub session_token: Option<String>,
}

/// What a call returned.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// `(__type, message)` of an error reply.
    pub fn error(&self) -> Option<(String, String)> {
        if self.status == 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let t = v["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("").to_string();
        let m = v["message"].as_str().or(v["Message"].as_str()).unwrap_or("").to_string();
        Some((t, m))
    }
}

pub struct Client {
    pub endpoint: http::Uri,
    pub region: String,
    pub creds: Credentials,
    http: HyperClient<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    tls: Option<tokio_rustls::TlsConnector>,
}

/// A TLS client configuration that trusts the CA certificates of `ca_file`
/// only; `what` names the setting in messages.
pub fn tls_connector(ca_file: &std::path::Path, what: &str) -> Result<tokio_rustls::TlsConnector, String> {
    let roots = kms_api::listen::pem_roots(ca_file, what)?;
    let cfg = rustls::ClientConfig::builder_with_provider(kms_api::listen::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg)))
}

/// Send `req` to `endpoint` over a connection of its own: HTTP, or HTTPS
/// verified with `tls` (an `https` endpoint without `tls` is refused).
pub async fn send_once(
    endpoint: &http::Uri,
    tls: Option<&tokio_rustls::TlsConnector>,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String> {
    use hyper_util::rt::TokioIo;
    let authority = endpoint.authority().ok_or("the endpoint has no host")?;
    let https = endpoint.scheme_str() == Some("https");
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((authority.host(), port)).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    match tls {
        Some(tls) if https => {
            let name =
                rustls::pki_types::ServerName::try_from(authority.host().to_string()).map_err(|e| e.to_string())?;
            let stream = tls.connect(name, tcp).await.map_err(|e| e.to_string())?;
            exchange(TokioIo::new(stream), req).await
        }
        None if !https => exchange(TokioIo::new(tcp), req).await,
        _ => Err("https needs a CA file".into()),
    }
}

async fn exchange<T>(io: T, req: http::Request<Full<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// Parse an AWS shared-credentials (INI) file and return one profile.
pub fn read_profile(text: &str, profile: &str) -> Option<Credentials> {
    let mut current = String::new();
    let (mut ak, mut sk, mut tok) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().trim_start_matches("profile ").to_string();
            continue;
        }
        if current != profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => ak = Some(v),
                "aws_secret_access_key" => sk = Some(SecretString::new(v)),
                "aws_session_token" => tok = Some(v),
                _ => {}
            }
        }
    }
    Some(Credentials { access_key_id: ak?, secret: sk?, session_token: tok })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Credentials the AWS way: environment variables, then the shared
/// credentials file (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`)
/// for `--profile`, `AWS_PROFILE` or `default`.
pub fn resolve_credentials(profile: Option<&str>) -> Result<Credentials, String> {
    if profile.is_none() {
        if let (Some(ak), Some(sk)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Credentials {
                access_key_id: ak,
                secret: SecretString::new(sk),
                session_token: env("AWS_SESSION_TOKEN"),
            });
        }
    }
    let profile = profile.map(str::to_string).or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into());
    let path = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws").join("credentials")))
        .ok_or("no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_SHARED_CREDENTIALS_FILE")?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("no credentials in the environment and cannot read {}: {e}", path.display()))?;
    read_profile(&text, &profile).ok_or_else(|| format!("profile '{profile}' not found in {}", path.display()))
}

pub fn resolve_region(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| crate::config::DEFAULT_REGION.into())
}

pub fn resolve_endpoint(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| env("AWS_ENDPOINT_URL_KMS"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("http://{}", crate::config::DEFAULT_LISTEN))
}

impl Client {
    pub fn new(endpoint: &str, region: &str, creds: Credentials) -> Result<Self, String> {
        Self::with_tls(endpoint, region, creds, None)
    }

    /// A client of an `http://` endpoint, or of an `https://` one whose
    /// certificate `tls` verifies.
    pub fn with_tls(
        endpoint: &str,
        region: &str,
        creds: Credentials,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> Result<Self, String> {
        let endpoint: http::Uri = endpoint.parse().map_err(|_| format!("invalid endpoint URL '{endpoint}'"))?;
        match (endpoint.scheme_str(), &tls) {
            (Some("http"), _) | (Some("https"), Some(_)) => {}
            (Some("https"), None) => return Err(format!("{endpoint}: https needs a CA file")),
            (Some(other), _) => return Err(format!("endpoint scheme '{other}' is not supported (use http or https)")),
            (None, _) => return Err("the endpoint URL needs a scheme (http://host:port)".into()),
        }
        let http = HyperClient::builder(TokioExecutor::new()).build_http();
        Ok(Client { endpoint, region: region.into(), creds, http, tls })
    }

    /// Build a signed request for `target` (e.g. `TrentService.ListKeys`).
    pub fn signed_request(&self, target: &str, body: &[u8], now: i64) -> Result<http::Request<Full<Bytes>>, String> {
        self.signed("kms", kms_api::JSON_CONTENT_TYPE, Some(target), body, now)
    }

    /// Build a signed query-protocol (STS) request with a form body.
    pub fn signed_query(&self, form: &str, now: i64) -> Result<http::Request<Full<Bytes>>, String> {
        self.signed("sts", "application/x-www-form-urlencoded; charset=utf-8", None, form.as_bytes(), now)
    }

    fn signed(
        &self,
        service: &str,
        content_type: &str,
        target: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let host = self.endpoint.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        let bad = |e: http::header::InvalidHeaderValue| e.to_string();
        headers.insert("host", host.parse().map_err(bad)?);
        headers.insert("content-type", content_type.parse().map_err(bad)?);
        if let Some(t) = target {
            headers.insert("x-amz-target", t.parse().map_err(bad)?);
        }
        let signer = kms_api::sigv4::Signer::new(
            &self.creds.access_key_id,
            self.creds.secret.expose(),
            self.creds.session_token.as_deref(),
            &self.region,
            service,
        )
        .map_err(|e| e.to_string())?;
        let auth = signer.sign("POST", "/", &mut headers, body, now).map_err(|e| e.to_string())?;
        headers.insert("authorization", auth.parse().map_err(bad)?);
        let uri = format!("{}://{}/", self.endpoint.scheme_str().unwrap_or("http"), host);
        let mut req =
            http::Request::post(uri).body(Full::new(Bytes::copy_from_slice(body))).map_err(|e| e.to_string())?;
        *req.headers_mut() = headers;
        Ok(req)
    }

    /// Send a request as built (possibly altered after signing).
    pub async fn send(&self, req: http::Request<Full<Bytes>>) -> Result<Reply, String> {
        self.send_with_progress(req, |_, _| {}).await
    }

    /// [`Client::send`], telling `progress` (bytes received, of how many if
    /// the server said) as the answer's body arrives.
    pub async fn send_with_progress(
        &self,
        req: http::Request<Full<Bytes>>,
        mut progress: impl FnMut(usize, Option<usize>),
    ) -> Result<Reply, String> {
        let resp = match &self.tls {
            None => self.http.request(req).await.map_err(|e| e.to_string()),
            Some(tls) => send_once(&self.endpoint, Some(tls), req).await,
        }
        .map_err(|e| format!("cannot reach {}: {e}", self.endpoint))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let total = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
        let mut body = resp.into_body();
        let mut out = Vec::with_capacity(total.unwrap_or(0).min(1 << 30));
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
                out.extend_from_slice(&data);
                progress(out.len(), total);
            }
        }
        Ok(Reply { status, headers, body: out })
    }

    /// Sign and send one call.
    pub async fn call(&self, target: &str, body: &serde_json::Value) -> Result<Reply, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let now = kms_core::ports::Clock::real_now_ms() / 1000;
        self.send(self.signed_request(target, &bytes, now)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n[other]\naws_access_key_id=C\naws_secret_access_key=D\n";
        let c = read_profile(text, "other").unwrap();
        assert_eq!(c.access_key_id, "C");
        assert_eq!(c.secret.expose(), "D");
        assert!(read_profile(text, "missing").is_none());
    }
}
