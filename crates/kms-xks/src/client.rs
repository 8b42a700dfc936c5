//! The KMS side's HTTP client of XKS proxies: kms-core's [`XksProxy`] port.
//! HTTPS only (rustls, verified against the configured CA bundle), SigV4
//! with service `kms-xks-proxy` and the caller's region over `host` and
//! `x-amz-date` (the spec, Appendix A), HTTP/1.1 keep-alive connections
//! kept per host. The service bounds each call by 250 ms; a failed reused
//! connection (closed by the proxy meanwhile) is retried once on a new one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use kms_api::sigv4::Signer;
use kms_core::ports::{XksCallError, XksProxy, XksTarget};

use crate::proxy::SERVICE;

/// Idle connections kept per host (as many as calls in flight at once, so
/// that a busy server does not open and close TLS connections).
const IDLE_PER_HOST: usize = 1024;

/// The client.
pub struct XksClient {
    tls: tokio_rustls::TlsConnector,
    /// Host names answered by another address (a test proxy on loopback,
    /// or a proxy reached on another port than 443).
    resolve: HashMap<String, SocketAddr>,
    idle: Mutex<HashMap<String, Vec<SendRequest<Full<Bytes>>>>>,
}

impl XksClient {
    /// A client that trusts the certificates in `ca_file` (PEM).
    pub fn new(ca_file: &std::path::Path, resolve: HashMap<String, SocketAddr>) -> Result<XksClient, String> {
        Self::with_client_cert(ca_file, resolve, None)
    }

    /// [`XksClient::new`], presenting a client certificate (`cert`, `key`:
    /// PEM files) to proxies that ask for one (mTLS).
    pub fn with_client_cert(
        ca_file: &std::path::Path,
        resolve: HashMap<String, SocketAddr>,
        client: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Result<XksClient, String> {
        let roots = kms_api::listen::pem_roots(ca_file, "xks.ca_file")?;
        let builder = rustls::ClientConfig::builder_with_provider(kms_api::listen::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots);
        let mut cfg = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let id = kms_api::listen::Identity::from_pem_files(
                    cert,
                    key,
                    ("xks.client_cert_file", "xks.client_key_file"),
                )?;
                builder
                    .with_client_auth_cert(id.certs, id.key)
                    .map_err(|e| format!("xks.client_cert_file {}: {e}", cert.display()))?
            }
        };
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(XksClient {
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            resolve,
            idle: Mutex::new(HashMap::new()),
        })
    }

    async fn connect(&self, host: &str) -> Result<SendRequest<Full<Bytes>>, XksCallError> {
        let tcp = match self.resolve.get(host) {
            Some(a) => tokio::net::TcpStream::connect(a).await,
            None => tokio::net::TcpStream::connect((host, 443)).await,
        }
        .map_err(|e| XksCallError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name =
            rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| XksCallError::Tls(e.to_string()))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| XksCallError::Tls(e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| XksCallError::Malformed(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn take_idle(&self, host: &str) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(host)?;
        while let Some(s) = list.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, host: &str, s: SendRequest<Full<Bytes>>) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(host.to_string()).or_default();
            if list.len() < IDLE_PER_HOST {
                list.push(s);
            }
        }
    }
}

fn request(
    host: &str,
    path: &str,
    body: &[u8],
    t: &XksTarget<'_>,
    now: i64,
) -> Result<http::Request<Full<Bytes>>, XksCallError> {
    let bad = |e: &dyn std::fmt::Display| XksCallError::Malformed(e.to_string());
    let signer = Signer::new(t.access_key_id, t.secret.expose(), None, t.region, SERVICE).map_err(|e| bad(&e))?;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, host.parse().map_err(|e| bad(&e))?);
    let auth = signer.sign("POST", path, &mut headers, body, now).map_err(|e| bad(&e))?;
    let mut b = http::Request::builder().method("POST").uri(path);
    for (k, v) in &headers {
        b = b.header(k, v);
    }
    b.header(http::header::AUTHORIZATION, auth)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| bad(&e))
}

#[async_trait]
impl XksProxy for XksClient {
    async fn call(
        &self,
        t: &XksTarget<'_>,
        suffix: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, XksCallError> {
        let host = t
            .endpoint
            .strip_prefix("https://")
            .ok_or_else(|| XksCallError::Connect("the endpoint is not https".into()))?;
        let path = format!("{}/{suffix}", t.uri_path);
        let bytes = serde_json::to_vec(body).map_err(|e| XksCallError::Malformed(e.to_string()))?;
        let now = kms_core::ports::Clock::real_now_ms() / 1000;
        let (mut sender, reused) = match self.take_idle(host) {
            Some(s) => (s, true),
            None => (self.connect(host).await?, false),
        };
        let resp = match sender.send_request(request(host, &path, &bytes, t, now)?).await {
            Ok(r) => r,
            Err(_) if reused => {
                sender = self.connect(host).await?;
                sender
                    .send_request(request(host, &path, &bytes, t, now)?)
                    .await
                    .map_err(|e| XksCallError::Malformed(e.to_string()))?
            }
            Err(e) => return Err(XksCallError::Malformed(e.to_string())),
        };
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| XksCallError::Malformed(e.to_string()))?.to_bytes();
        self.put_idle(host, sender);
        let value: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        if status == 200 {
            return value
                .filter(|v| v.is_object())
                .ok_or_else(|| XksCallError::Malformed("the body of a 200 is not a JSON object".into()));
        }
        let error_name = value.and_then(|v| v["errorName"].as_str().map(str::to_string));
        Err(XksCallError::Proxy { status, error_name })
    }
}
