//! The client side of the peer protocol (`kms_api::peer`): one [`PeerClient`]
//! per region another server serves. Each call opens a connection (HTTP, or
//! HTTPS verified against `peers.ca_file`), is signed with the peer secret,
//! is bounded by `peers.timeout_secs`, and accepts an answer only with a
//! valid answer signature. Any failure is `Error::PeerUnavailable`: the
//! caller (the background job) retries with backoff.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
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
        let mut headers = http::HeaderMap::new();
        let hv = |s: &str| http::HeaderValue::from_str(s).map_err(|_| Error::internal("header value"));
        let host = self.endpoint.authority().ok_or_else(|| self.unavailable("no host"))?.as_str().to_string();
        headers.insert("host", hv(&host)?);
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
        let resp =
            crate::client::send_once(&self.endpoint, self.tls.as_ref(), req).await.map_err(|e| self.unavailable(e))?;
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
