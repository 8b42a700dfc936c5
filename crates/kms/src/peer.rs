//! The client side of the peer protocol (`kms_api::peer`): one [`PeerClient`]
//! per region another server serves. Each call opens a connection (HTTP, or
//! HTTPS verified against `peers.ca_file`), is signed with the peer secret,
//! is bounded by `peers.timeout_secs`, and accepts an answer only with a
//! valid answer signature. Any failure is `Error::PeerUnavailable`: the
//! caller (the background job) retries with backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use kms_api::peer::{self, WrappingKeyResponse};
use kms_core::crypto::SecretString;
use kms_core::ports::{Clock, Peer};
use kms_core::service::PeerMessage;
use kms_core::Error;

pub struct PeerClient {
    region: String,
    endpoint: http::Uri,
    secret: SecretString,
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

/// The TLS client configuration for `https://` peers: the CA certificates of `ca_file` only.
pub fn tls_connector(ca_file: &std::path::Path) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("peers.ca_file {}: {e}", ca_file.display()))?
    {
        let cert = cert.map_err(|e| format!("peers.ca_file {}: {e}", ca_file.display()))?;
        roots.add(cert).map_err(|e| format!("peers.ca_file {}: {e}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("peers.ca_file {}: no certificate found", ca_file.display()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

impl PeerClient {
    pub fn new(
        region: &str,
        endpoint: http::Uri,
        secret: SecretString,
        tls: Option<tokio_rustls::TlsConnector>,
        timeout: Duration,
    ) -> Self {
        PeerClient { region: region.to_string(), endpoint, secret, tls, timeout }
    }

    fn unavailable(&self, what: impl std::fmt::Display) -> Error {
        Error::PeerUnavailable(format!("peer {} ({}): {what}", self.region, self.endpoint))
    }

    /// One signed call; the answer's body once its signature checks.
    async fn call(&self, target: &str, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        match tokio::time::timeout(self.timeout, self.exchange(target, body)).await {
            Ok(r) => r,
            Err(_) => Err(self.unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }

    async fn exchange(&self, target: &str, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        let authority = self.endpoint.authority().ok_or_else(|| self.unavailable("no host"))?.clone();
        let https = self.endpoint.scheme_str() == Some("https");
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((authority.host(), port)).await.map_err(|e| self.unavailable(e))?;
        let _ = tcp.set_nodelay(true);
        let mut headers = http::HeaderMap::new();
        let hv = |s: &str| http::HeaderValue::from_str(s).map_err(|_| Error::internal("header value"));
        headers.insert("host", hv(authority.as_str())?);
        headers.insert("content-type", hv(kms_api::JSON_CONTENT_TYPE)?);
        headers.insert("x-amz-target", hv(target)?);
        let signer = kms_api::sigv4::Signer::new(
            peer::PEER_ACCESS_KEY_ID,
            self.secret.expose(),
            None,
            &self.region,
            peer::PEER_SERVICE,
        )?;
        let auth = signer.sign("POST", "/", &mut headers, &body, Clock::real_now_ms() / 1000)?;
        headers.insert("authorization", hv(&auth)?);
        let mut req = http::Request::post("/").body(Full::new(Bytes::from(body))).map_err(Error::internal)?;
        *req.headers_mut() = headers;
        let resp = match &self.tls {
            Some(tls) if https => {
                let name = rustls::pki_types::ServerName::try_from(authority.host().to_string())
                    .map_err(|e| self.unavailable(e))?;
                let stream = tls.connect(name, tcp).await.map_err(|e| self.unavailable(e))?;
                send(TokioIo::new(stream), req).await
            }
            None if !https => send(TokioIo::new(tcp), req).await,
            _ => return Err(self.unavailable("https needs peers.ca_file")),
        }
        .map_err(|e| self.unavailable(e))?;
        let status = resp.status();
        let signature =
            resp.headers().get(peer::RESPONSE_SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = resp.into_body().collect().await.map_err(|e| self.unavailable(e))?.to_bytes().to_vec();
        let expected = peer::response_signature(&self.secret, &auth, &bytes).unwrap_or_default();
        if !signature.is_some_and(|s| kms_core::crypto::ct_eq(s.as_bytes(), expected.as_bytes())) {
            return Err(self.unavailable(format!(
                "answer {status} without a valid peer signature (is the peer secret the same on both servers?)"
            )));
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(self.unavailable(format!("refused the call: {status} {text}")));
        }
        Ok(bytes)
    }
}

async fn send<T>(io: T, req: http::Request<Full<Bytes>>) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

#[async_trait]
impl Peer for PeerClient {
    async fn wrapping_key(&self) -> Result<Vec<u8>, Error> {
        let body = self.call(peer::WRAPPING_KEY, b"{}".to_vec()).await?;
        let r: WrappingKeyResponse = serde_json::from_slice(&body).map_err(|e| self.unavailable(e))?;
        Ok(r.public_key)
    }

    async fn deliver(&self, message: &PeerMessage) -> Result<(), Error> {
        let body = serde_json::to_vec(message).map_err(Error::internal)?;
        self.call(peer::DELIVER, body).await.map(|_| ())
    }
}
