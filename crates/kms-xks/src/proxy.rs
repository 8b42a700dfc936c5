//! The listener of `kms xks-proxy`: HTTPS (rustls, optional mTLS), the
//! routing of the spec's four URIs under each configured URI path, SigV4
//! (service `kms-xks-proxy`, the configured regions, 5 minutes of skew),
//! the policy of each path, the operations, and the audit trail.
//!
//! The order of the checks, and so which error a request with several
//! faults gets: the URI path (404 `InvalidUriPathException`), the method
//! (405), the body size (501), SigV4 (401), the body (400
//! `ValidationException`), the policy (403), the key (404
//! `KeyNotFoundException`, 400 `InvalidStateException`), the operation.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use kms_api::listen;
use kms_api::sigv4::{self, RequestParts, Verifier};
use kms_core::crypto::{RootKey, SecretString};
use kms_core::identity::{Credential, CredentialResolver, Principal};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{pattern_matches, PathConfig, ProxyConfig, Testing, TlsFiles};
use crate::error::{Result, XksError};
use crate::keys::{KeyStatus, KeyStore};
use crate::wire::{self, b64, Operation, Request as XksRequest};

/// The SigV4 service name of proxy calls.
pub const SERVICE: &str = "kms-xks-proxy";
/// The spec: requests more than 5 minutes old or ahead are refused.
pub const MAX_SKEW_SECS: i64 = 300;
/// The largest request body read (base64 of 4300 bytes of plaintext and
/// 8192 of AAD, with room for the metadata).
pub const MAX_BODY: usize = 64 * 1024;

struct PathAuth {
    cfg: PathConfig,
    creds: Vec<Arc<Credential>>,
}

impl CredentialResolver for PathAuth {
    fn resolve(&self, access_key_id: &str, _token: Option<&str>) -> kms_core::error::Result<Arc<Credential>> {
        self.creds
            .iter()
            .find(|c| c.access_key_id == access_key_id)
            .cloned()
            .ok_or(kms_core::error::Error::UnrecognizedClient)
    }
}

/// The proxy: its paths, keys, verifier and audit trail.
pub struct Proxy {
    paths: Vec<PathAuth>,
    /// The PKCS#11 token, when configured (logged in at start).
    token: Option<Arc<dyn kms_core::ports::HsmConnection>>,
    regions: Vec<String>,
    keys: KeyStore,
    verifier: Verifier,
    audit: Audit,
    testing: Testing,
}

/// A running proxy.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    pub async fn wait(self) {
        let _ = self.task.await;
    }

    pub fn trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// What one call was, for the audit trail.
#[derive(Default)]
struct Outcome {
    uri_path: Option<String>,
    operation: Option<&'static str>,
    key_id: Option<String>,
    access_key_id: Option<String>,
    metadata: Option<Value>,
    denied_by: Option<String>,
}

type HttpResponse = Response<Full<Bytes>>;

fn json_response(status: u16, body: Vec<u8>) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

impl Proxy {
    pub fn new(cfg: &mut ProxyConfig, root: Arc<RootKey>) -> std::result::Result<Proxy, String> {
        let keys = KeyStore::open(&cfg.data_dir, root)?;
        let token = cfg.pkcs11.as_ref().map(crate::keys::open_token).transpose()?;
        let audit = Audit::open(&cfg.audit_file)?;
        let paths = std::mem::take(&mut cfg.paths)
            .into_iter()
            .map(|p| {
                let creds = p
                    .credentials
                    .iter()
                    .map(|(id, secret)| {
                        Arc::new(Credential {
                            access_key_id: id.clone(),
                            secret: SecretString::new(secret.expose().to_string()),
                            principal: Arc::new(Principal::internal("xks-proxy")),
                        })
                    })
                    .collect();
                PathAuth { cfg: p, creds }
            })
            .collect();
        Ok(Proxy {
            token,
            paths,
            regions: cfg.regions.clone(),
            keys,
            verifier: Verifier::with_max_skew(SERVICE, MAX_SKEW_SECS),
            audit,
            testing: cfg.testing.clone(),
        })
    }

    /// Answer one request, and write it to the audit trail.
    pub async fn handle<B>(&self, req: Request<B>) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let mut out = Outcome::default();
        let result = self.answer(req, &mut out).await;
        if self.testing.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.testing.delay_ms)).await;
        }
        let (status, error_name, response) = match result {
            Ok(Some((status, body))) => (status, None, json_response(status, body)),
            Ok(None) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                r.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
                (405, None, r)
            }
            Err(e) => {
                let (name, status) = e.name_and_status();
                if matches!(e, XksError::Internal(_) | XksError::AuthenticationFailed(_)) {
                    tracing::warn!(error = %e, error_name = name, "xks request refused");
                }
                (status, Some(name), json_response(status, e.body()))
            }
        };
        self.audit.write(&out, status, error_name, started.elapsed());
        response
    }

    /// `Ok(None)`: 405.
    async fn answer<B>(&self, req: Request<B>, out: &mut Outcome) -> Result<Option<(u16, Vec<u8>)>>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        let (auth, op, key_id) = self.route(&path)?;
        out.uri_path = Some(auth.cfg.uri_path.clone());
        out.operation = Some(op.as_str());
        out.key_id = key_id.clone();
        if req.method() != http::Method::POST {
            return Ok(None);
        }
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|_| {
                XksError::UnsupportedOperation(format!("request bodies over {MAX_BODY} bytes are not supported"))
            })?
            .to_bytes();
        // SigV4: the region of the scope must be one of ours.
        let served = sigv4::scope_region(&parts.headers).is_some_and(|r| self.regions.iter().any(|s| s == r));
        let now = kms_core::ports::Clock::real_now_ms() / 1000;
        let cred = self
            .verifier
            .verify(&RequestParts::of(&parts, &body), auth, now, served)
            .map_err(|e| XksError::AuthenticationFailed(e.to_string()))?;
        out.access_key_id = Some(cred.access_key_id.clone());
        let request = wire::parse(op, &body)?;
        out.metadata = Some(request.metadata().to_json());
        if op != Operation::GetHealthStatus {
            self.authorize(auth, request.metadata(), out)?;
        }
        if let XksRequest::GetHealthStatus { .. } = request {
            return Ok(Some((200, self.health().await)));
        }
        let id = key_id.unwrap_or_default();
        if !wire::valid_key_id(&id) {
            return Err(XksError::Validation("the external key id in the URI is not valid".into()));
        }
        let key =
            self.keys.get(&id)?.ok_or_else(|| XksError::KeyNotFound(format!("External key {id} was not found")))?;
        let body = match request {
            XksRequest::GetKeyMetadata { .. } => serde_json::to_vec(&json!({
                "keySpec": "AES_256",
                "keyUsage": ["ENCRYPT", "DECRYPT"],
                "keyStatus": key.status.as_str(),
            })),
            XksRequest::Encrypt(r) => {
                enabled(key.status, &id)?;
                let aad = wire::gcm_aad(r.aad.as_deref(), None);
                let (iv, mut ct, tag) = match key.in_token() {
                    false => key.encrypt(None, &aad, &r.plaintext)?,
                    true => {
                        let (k, t, pt) = (key.clone(), self.token.clone(), r.plaintext.clone());
                        blocking(move || k.encrypt(t.as_deref(), &aad, &pt)).await?
                    }
                };
                let mut resp = json!({
                    "authenticationTag": b64(&tag),
                    "initializationVector": b64(&iv),
                });
                if r.cdiv {
                    let v = wire::cdiv(r.aad.as_deref(), None, &iv, &ct, &tag);
                    resp["ciphertextDataIntegrityValue"] = Value::String(b64(&v));
                }
                if self.testing.tamper_ciphertext {
                    if let Some(b) = ct.first_mut() {
                        *b ^= 1;
                    }
                }
                resp["ciphertext"] = Value::String(b64(&ct));
                serde_json::to_vec(&resp)
            }
            XksRequest::Decrypt(r) => {
                enabled(key.status, &id)?;
                let aad = wire::gcm_aad(r.aad.as_deref(), r.ciphertext_metadata.as_deref());
                let pt = match key.in_token() {
                    false => key.decrypt(None, &aad, &r.iv, &r.ciphertext, &r.tag)?,
                    true => {
                        let (k, t) = (key.clone(), self.token.clone());
                        blocking(move || k.decrypt(t.as_deref(), &aad, &r.iv, &r.ciphertext, &r.tag)).await?
                    }
                };
                serde_json::to_vec(&json!({"plaintext": b64(pt.expose())}))
            }
            XksRequest::GetHealthStatus { .. } => return Ok(Some((200, self.health().await))),
        };
        Ok(Some((200, body.map_err(|e| XksError::Internal(e.to_string()))?)))
    }

    /// The path entry, operation and key id of a URI path.
    fn route(&self, path: &str) -> Result<(&PathAuth, Operation, Option<String>)> {
        let invalid = || XksError::InvalidUriPath(format!("The URI path {} is not valid", printable_path(path)));
        for p in &self.paths {
            let Some(rest) = path.strip_prefix(p.cfg.uri_path.as_str()) else { continue };
            if rest == "/health" {
                return Ok((p, Operation::GetHealthStatus, None));
            }
            let Some(rest) = rest.strip_prefix("/keys/") else { continue };
            let Some((id, op)) = rest.rsplit_once('/') else { return Err(invalid()) };
            let op = match op {
                "metadata" => Operation::GetKeyMetadata,
                "encrypt" => Operation::Encrypt,
                "decrypt" => Operation::Decrypt,
                _ => return Err(invalid()),
            };
            if id.is_empty() || id.contains('/') {
                return Err(invalid());
            }
            return Ok((p, op, Some(id.to_string())));
        }
        Err(invalid())
    }

    /// The path's policy: the principal and the KMS key ARN must match
    /// one of its patterns, where it has any.
    fn authorize(&self, p: &PathAuth, md: &wire::RequestMetadata, out: &mut Outcome) -> Result<()> {
        let check = |what: &str, list: &Option<Vec<String>>, value: &Option<String>| -> Result<()> {
            let Some(list) = list else { return Ok(()) };
            let v = value.as_deref().unwrap_or_default();
            if list.iter().any(|pat| pattern_matches(pat, v)) {
                Ok(())
            } else {
                Err(XksError::AccessDenied(format!("The {what} is not allowed by this proxy's policy")))
            }
        };
        if let Err(e) = check("principal", &p.cfg.allowed_principals, &md.aws_principal_arn) {
            out.denied_by = Some(format!("{}: allowed_principals", p.cfg.uri_path));
            return Err(e);
        }
        // GetKeyMetadata carries no key ARN (CreateKey has none yet).
        if md.kms_key_arn.is_some() {
            if let Err(e) = check("KMS key", &p.cfg.allowed_key_arns, &md.kms_key_arn) {
                out.denied_by = Some(format!("{}: allowed_key_arns", p.cfg.uri_path));
                return Err(e);
            }
        }
        Ok(())
    }

    /// GetHealthStatus: a deep check of the key store (it reads, its keys
    /// open, the root key seals and opens).
    async fn health(&self) -> Vec<u8> {
        let status = match self.keys.check() {
            Ok(()) => "ACTIVE",
            Err(e) => {
                tracing::warn!(error = %e, "xks key store unhealthy");
                "UNAVAILABLE"
            }
        };
        let mut fleet =
            vec![json!({"id": "sealed-key-store", "model": "kms sealed key store", "healthStatus": status})];
        if let Some(t) = self.token.clone() {
            // Deep: the token answers a call.
            let ok = blocking(move || t.random(16).map_err(|e| XksError::Internal(e.to_string()))).await.is_ok();
            let status = if ok { "ACTIVE" } else { "UNAVAILABLE" };
            fleet.push(json!({"id": "pkcs11-token", "model": "PKCS#11 token", "healthStatus": status}));
        }
        serde_json::to_vec(&json!({
            "xksProxyFleetSize": 1,
            "xksProxyVendor": "kms",
            "xksProxyModel": format!("kms xks-proxy {}", env!("CARGO_PKG_VERSION")),
            "ekmVendor": "kms",
            "ekmFleetDetails": fleet,
        }))
        .unwrap_or_default()
    }
}

/// Token calls block: off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| XksError::Internal(e.to_string()))?
}

fn enabled(status: KeyStatus, id: &str) -> Result<()> {
    match status {
        KeyStatus::Enabled => Ok(()),
        KeyStatus::Disabled => Err(XksError::InvalidState(format!("External key {id} is disabled"))),
    }
}

fn printable_path(p: &str) -> String {
    p.chars().filter(|c| c.is_ascii_graphic()).take(200).collect()
}

// ------------------------------------------------------------------ audit

/// The audit trail: one JSON line per call, appended with one write (no
/// plaintext, ciphertext or secret in it), each line chained to the one
/// before by `chain` = hex SHA-256 of the previous chain value and the
/// line without it, so that a line removed or changed shows.
struct Audit {
    state: Mutex<(std::fs::File, String)>,
}

impl Audit {
    fn open(path: &Path) -> std::result::Result<Audit, String> {
        let bad = |e: std::io::Error| format!("audit file {}: {e}", path.display());
        let last = match std::fs::read_to_string(path) {
            Ok(t) => t
                .lines()
                .last()
                .and_then(|l| serde_json::from_str::<Value>(l).ok())
                .and_then(|v| v["chain"].as_str().map(str::to_string))
                .unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(bad(e)),
        };
        let mut o = std::fs::OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let f = o.open(path).map_err(bad)?;
        Ok(Audit { state: Mutex::new((f, last)) })
    }

    fn write(&self, o: &Outcome, status: u16, error_name: Option<&str>, took: Duration) {
        let mut v = json!({
            "time": kms_core::ports::Clock::real_now_ms(),
            "uriPath": o.uri_path,
            "operation": o.operation,
            "keyId": o.key_id,
            "accessKeyId": o.access_key_id,
            "requestMetadata": o.metadata,
            "status": status,
            "errorName": error_name,
            "deniedBy": o.denied_by,
            "micros": took.as_micros() as u64,
        });
        let Ok(mut state) = self.state.lock() else { return };
        let line = v.to_string();
        let mut msg = state.1.clone().into_bytes();
        msg.push(b'\n');
        msg.extend_from_slice(line.as_bytes());
        let chain = kms_core::crypto::hex(&kms_core::crypto::sha256(&msg));
        v["chain"] = Value::String(chain.clone());
        let mut out = v.to_string().into_bytes();
        out.push(b'\n');
        if let Err(e) = state.0.write_all(&out) {
            tracing::error!(error = %e, "xks audit trail not written");
            return;
        }
        state.1 = chain;
    }
}

/// Check an audit file's chain: `Ok(lines)` or the first broken line (1-based).
pub fn verify_audit(path: &Path) -> std::result::Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut prev = String::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let mut v: Value = serde_json::from_str(line).map_err(|_| format!("line {}: not JSON", i + 1))?;
        let chain = v.as_object_mut().and_then(|m| m.remove("chain"));
        let Some(Value::String(chain)) = chain else { return Err(format!("line {}: no chain", i + 1)) };
        let mut msg = prev.into_bytes();
        msg.push(b'\n');
        msg.extend_from_slice(v.to_string().as_bytes());
        if kms_core::crypto::hex(&kms_core::crypto::sha256(&msg)) != chain {
            return Err(format!("line {}: the chain is broken", i + 1));
        }
        prev = chain;
        n += 1;
    }
    Ok(n)
}

// ------------------------------------------------------------------ listener

fn tls_acceptor(t: &TlsFiles) -> std::result::Result<tokio_rustls::TlsAcceptor, String> {
    let identity = listen::Identity::from_pem_files(&t.cert, &t.key, ("tls_cert_file", "tls_key_file"))?;
    let client_roots = t.client_ca.as_deref().map(|ca| listen::pem_roots(ca, "client_ca_file")).transpose()?;
    listen::tls_acceptor(identity, client_roots)
}

/// The common names (OID 2.5.4.3) in a DER certificate, subject and
/// issuer both: enough to compare the client's subject CN with the one
/// configured (an issuer named like the client is not a real risk: the
/// chain is verified against the configured CA first).
pub fn common_names(der: &[u8]) -> Vec<String> {
    const CN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
    let mut out = Vec::new();
    let mut i = 0;
    while i + CN_OID.len() + 2 <= der.len() {
        if der[i..i + CN_OID.len()] == CN_OID {
            let tag = der[i + 5];
            let len = der[i + 6] as usize;
            let start = i + 7;
            if matches!(tag, 0x0c | 0x13 | 0x16) && len < 0x80 && start + len <= der.len() {
                if let Ok(s) = std::str::from_utf8(&der[start..start + len]) {
                    out.push(s.to_string());
                }
            }
            i = start;
        } else {
            i += 1;
        }
    }
    out
}

/// Bind and serve. Returns once the listener is bound.
pub async fn start(mut cfg: ProxyConfig, root: Arc<RootKey>) -> std::result::Result<Running, String> {
    let tls = cfg.tls.as_ref().map(tls_acceptor).transpose()?;
    let subject = cfg.tls.as_ref().and_then(|t| t.client_subject.clone());
    if cfg.testing.delay_ms > 0 || cfg.testing.tamper_ciphertext {
        tracing::warn!(
            delay_ms = cfg.testing.delay_ms,
            tamper = cfg.testing.tamper_ciphertext,
            "[testing] faults are on: never in production"
        );
    }
    let listener = TcpListener::bind(&cfg.listen).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let proxy = Arc::new(Proxy::new(&mut cfg, root)?);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, proxy, tls, subject, rx));
    tracing::info!(%addr, "xks proxy listening");
    Ok(Running { addr, shutdown: tx, task })
}

async fn accept_loop(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    subject: Option<String>,
    shutdown: watch::Receiver<bool>,
) {
    // With mTLS, the client certificate (verified against client_ca_file)
    // must also name the configured subject.
    let check_client = subject.map(|want| -> listen::ClientCheck {
        Arc::new(move |conn: &rustls::ServerConnection| {
            let ok = conn
                .peer_certificates()
                .and_then(|c| c.first())
                .is_some_and(|c| common_names(c.as_ref()).contains(&want));
            if !ok {
                tracing::warn!(expected = %want, "TLS client certificate subject refused");
            }
            ok
        })
    });
    let handler = move |req, _peer| {
        let p = proxy.clone();
        async move { p.handle(req).await }
    };
    let listen = listen::Listen { tls, max_connections: None, check_client, drain: Duration::from_secs(10) };
    listen::serve(listener, listen, handler, shutdown).await;
}
