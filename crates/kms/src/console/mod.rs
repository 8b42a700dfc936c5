//! The web console at `/console/` (docs/CONSOLE.md): an HTML shell, a
//! little JavaScript and CSS embedded in the binary, sign-in into a
//! server-side session, and a JSON endpoint that runs API operations as the
//! session's principal through [`Api::handle_console`] (the API's own
//! authorization, errors and audit). It holds no business rules: what the
//! pages show is what the operations answer.
//!
//! Beyond the API: the audit search and verification of this server's own
//! audit directory, and its metrics, for administrators only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use kms_api::{Api, HttpResponse};
use kms_core::identity::{Credential, CredentialResolver};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::config::ConsoleSettings;

/// Where the console lives.
pub const PREFIX: &str = "/console";
const COOKIE: &str = "kms_console";
const CSRF_HEADER: &str = "x-csrf-token";
/// Sign-in and audit-search bodies are small; API calls take the API's limit.
const MAX_FORM_BODY: usize = 64 * 1024;
/// At most this many events of a search are sent (the newest); the
/// timeline counts every match.
const MAX_EVENTS: usize = 500;
/// Failed sign-ins are remembered this long per source address.
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most sessions at once (beyond: the oldest are dropped).
const MAX_SESSIONS: usize = 10_000;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const ICON_SVG: &str = include_str!("assets/icon.svg");

struct Session {
    access_key_id: String,
    csrf: String,
    created: Instant,
    last_used: Instant,
}

struct Failures {
    count: u32,
    last: Instant,
}

/// The console's state, held by the server.
pub struct Console {
    api: Arc<Api>,
    settings: ConsoleSettings,
    tls: bool,
    audit_dir: PathBuf,
    max_body: usize,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

fn random_token() -> Result<String, kms_core::Error> {
    let mut b = [0u8; 32];
    kms_core::crypto::fill_random(&mut b)?;
    Ok(kms_core::crypto::hex(&b))
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    r
}

fn json_reply(status: StatusCode, v: &Value) -> HttpResponse {
    reply(status, "application/json", serde_json::to_vec(v).unwrap_or_default())
}

/// An error in the API's shape (`__type`, `message`).
fn error(status: StatusCode, type_name: &str, message: &str) -> HttpResponse {
    json_reply(status, &json!({"__type": type_name, "message": message}))
}

fn cookie_of<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    access_key_id: String,
    secret_access_key: String,
}

#[derive(Deserialize)]
struct Call {
    target: String,
    #[serde(default)]
    body: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AuditSearch {
    start: Option<String>,
    end: Option<String>,
    event_name: Option<String>,
    key: Option<String>,
    principal: Option<String>,
    error_code: Option<String>,
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Console {
    pub fn new(api: Arc<Api>, settings: ConsoleSettings, tls: bool, audit_dir: PathBuf, max_body: usize) -> Self {
        Console {
            api,
            settings,
            tls,
            audit_dir,
            max_body,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `path` is the console's.
    pub fn owns(path: &str) -> bool {
        path == PREFIX || path.starts_with("/console/")
    }

    /// Handle a request under `/console`.
    pub async fn handle<B>(&self, req: Request<B>, peer: Option<SocketAddr>) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        match (&parts.method, path.as_str()) {
            (&Method::GET, "/console") => {
                let mut r = reply(StatusCode::PERMANENT_REDIRECT, "text/plain", "");
                r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/console/"));
                r
            }
            (&Method::GET, "/console/") => reply(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML),
            (&Method::GET, "/console/app.js") => reply(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS),
            (&Method::GET, "/console/app.css") => reply(StatusCode::OK, "text/css; charset=utf-8", APP_CSS),
            (&Method::GET, "/console/icon.svg") => reply(StatusCode::OK, "image/svg+xml", ICON_SVG),
            (&Method::GET, "/console/api/session") => match self.session(&parts.headers) {
                Ok((cred, csrf)) => json_reply(StatusCode::OK, &whoami(&cred, &csrf)),
                // Not an error: the page asks to know whether to show the sign-in form.
                Err(_) => json_reply(StatusCode::OK, &json!({"signedIn": false})),
            },
            (&Method::POST, p) if p.starts_with("/console/api/") => {
                // JSON only: a cross-site form cannot send it without a preflight.
                let is_json = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                if !is_json {
                    return error(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UnsupportedMediaType",
                        "Console requests are JSON.",
                    );
                }
                let limit = if p == "/console/api/call" { self.max_body } else { MAX_FORM_BODY };
                let body = match read_body(body, limit).await {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                if p == "/console/api/signin" {
                    return self.sign_in(&body, peer).await;
                }
                let (cred, csrf) = match self.session(&parts.headers) {
                    Ok(s) => s,
                    Err(r) => return r,
                };
                let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
                if !bool::from(sent.ct_eq(csrf.as_bytes())) {
                    return error(
                        StatusCode::FORBIDDEN,
                        "InvalidCsrfToken",
                        "This request needs the session's CSRF token in the X-CSRF-Token header. Reload the console.",
                    );
                }
                match p {
                    "/console/api/signout" => self.sign_out(&parts.headers),
                    "/console/api/call" => self.call(cred, &body, peer).await,
                    "/console/api/audit" => self.audit_search(&cred, &body).await,
                    "/console/api/verify" => self.audit_verify(&cred).await,
                    "/console/api/metrics" => self.metrics(&cred).await,
                    _ => error(StatusCode::NOT_FOUND, "NotFound", "No such console endpoint."),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "NotFound", "No such console page."),
        }
    }

    /// The session a request's cookie names, still valid, and its
    /// credential (resolved again: a deleted access key ends the session).
    #[allow(clippy::result_large_err)]
    fn session(&self, headers: &http::HeaderMap) -> Result<(Arc<Credential>, String), HttpResponse> {
        let expired = || error(StatusCode::UNAUTHORIZED, "NotSignedIn", "Sign in to use the console.");
        let Some(id) = cookie_of(headers, COOKIE) else { return Err(expired()) };
        let (ak, csrf) = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let Some(s) = sessions.get_mut(id) else { return Err(expired()) };
            if now.duration_since(s.last_used) > self.settings.idle_timeout
                || now.duration_since(s.created) > self.settings.absolute_timeout
            {
                sessions.remove(id);
                return Err(error(
                    StatusCode::UNAUTHORIZED,
                    "SessionExpired",
                    "Your session has ended. Sign in again.",
                ));
            }
            s.last_used = now;
            (s.access_key_id.clone(), s.csrf.clone())
        };
        match self.api.regions().resolve(&ak, None) {
            Ok(c) => Ok((c, csrf)),
            Err(_) => {
                self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
                Err(expired())
            }
        }
    }

    /// How long a sign-in from `ip` waits: nothing at first, then doubling
    /// from 250 ms with each recent failure, to 8 s.
    fn delay_for(&self, ip: Option<IpAddr>) -> Duration {
        let Some(ip) = ip else { return Duration::ZERO };
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&ip) {
            Some(f) if f.last.elapsed() < FAILURE_WINDOW && f.count > 0 => {
                Duration::from_millis(250u64.saturating_mul(1 << (f.count - 1).min(5))).min(Duration::from_secs(8))
            }
            _ => Duration::ZERO,
        }
    }

    fn note_failure(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > MAX_SESSIONS {
            failures.retain(|_, f| f.last.elapsed() < FAILURE_WINDOW);
        }
        let f = failures.entry(ip).or_insert(Failures { count: 0, last: Instant::now() });
        if f.last.elapsed() >= FAILURE_WINDOW {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = Instant::now();
    }

    async fn sign_in(&self, body: &[u8], peer: Option<SocketAddr>) -> HttpResponse {
        let ip = peer.map(|p| p.ip());
        let delay = self.delay_for(ip);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let Ok(req) = serde_json::from_slice::<SignIn>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "Give an access key id and a secret access key.",
            );
        };
        let secret = kms_core::crypto::SecretString::new(req.secret_access_key);
        let resolved = self.api.regions().resolve(req.access_key_id.trim(), None).ok();
        // Compared in constant time, against a dummy when the key is unknown.
        let expected = resolved.as_ref().map(|c| c.secret.expose().as_bytes()).unwrap_or(&[0u8; 40]);
        let matches: bool = secret.expose().as_bytes().ct_eq(expected).into();
        let Some(cred) = resolved.filter(|_| matches) else {
            self.note_failure(ip);
            tracing::info!(access_key_id = %req.access_key_id.chars().take(128).collect::<String>(), source = ?ip, "console sign-in refused");
            return error(
                StatusCode::UNAUTHORIZED,
                "UnrecognizedClientException",
                "The access key id or the secret access key is not valid.",
            );
        };
        if let Some(ip) = ip {
            self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&ip);
        }
        let (Ok(id), Ok(csrf)) = (random_token(), random_token()) else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "KMSInternalException", "No randomness for a session.");
        };
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            let (idle, absolute) = (self.settings.idle_timeout, self.settings.absolute_timeout);
            sessions.retain(|_, s| s.last_used.elapsed() <= idle && s.created.elapsed() <= absolute);
            if sessions.len() >= MAX_SESSIONS {
                if let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k.clone()) {
                    sessions.remove(&oldest);
                }
            }
            let now = Instant::now();
            sessions.insert(
                id.clone(),
                Session { access_key_id: cred.access_key_id.clone(), csrf: csrf.clone(), created: now, last_used: now },
            );
        }
        tracing::info!(access_key_id = %cred.access_key_id, principal = %cred.principal.arn, "console sign-in");
        let mut r = json_reply(StatusCode::OK, &whoami(&cred, &csrf));
        let secure = if self.tls { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}={id}; Path=/console/; HttpOnly; SameSite=Strict{secure}");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        r
    }

    fn sign_out(&self, headers: &http::HeaderMap) -> HttpResponse {
        if let Some(id) = cookie_of(headers, COOKIE) {
            self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        }
        let mut r = json_reply(StatusCode::OK, &json!({"signedOut": true}));
        let secure = if self.tls { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}=; Path=/console/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        r
    }

    /// One API operation as the session's principal: the API's answer as is.
    async fn call(&self, cred: Arc<Credential>, body: &[u8], peer: Option<SocketAddr>) -> HttpResponse {
        let Ok(call) = serde_json::from_slice::<Call>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                "A console call is {\"target\", \"body\"}.",
            );
        };
        let op_body = serde_json::to_vec(&call.body.unwrap_or_else(|| json!({}))).unwrap_or_default();
        let mut r = self.api.handle_console(cred, &call.target, Bytes::from(op_body), peer).await;
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    #[allow(clippy::result_large_err)]
    fn require_admin(cred: &Credential, what: &str) -> Result<(), HttpResponse> {
        if cred.principal.admin {
            return Ok(());
        }
        Err(error(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            &format!(
                "User: {} is not authorized to perform: {what} (the console shows it to administrators only)",
                cred.principal.arn
            ),
        ))
    }

    /// The audit search over this server's own directory (administrators).
    async fn audit_search(&self, cred: &Credential, body: &[u8]) -> HttpResponse {
        if let Err(r) = Self::require_admin(cred, "console:SearchAuditTrail") {
            return r;
        }
        let Ok(s) = serde_json::from_slice::<AuditSearch>(body) else {
            return error(StatusCode::BAD_REQUEST, "SerializationException", "Not an audit search.");
        };
        let filter = kms_audit::query::Filter {
            start: nonempty(s.start),
            end: nonempty(s.end),
            event_name: nonempty(s.event_name),
            key: nonempty(s.key),
            principal: nonempty(s.principal),
            error_code: nonempty(s.error_code),
            read_only: None,
        };
        let dirs = vec![self.audit_dir.clone()];
        let found = tokio::task::spawn_blocking(move || kms_audit::query::query(&dirs, &filter)).await;
        let events = match found {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, "AuditReadError", &e),
            Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "AuditReadError", "The search failed."),
        };
        // Calls per minute, by outcome.
        let mut minutes: std::collections::BTreeMap<String, [u64; 3]> = Default::default();
        for e in &events {
            let minute: String = e["eventTime"].as_str().unwrap_or("").chars().take(16).collect();
            let slot = match e["errorCode"].as_str() {
                None => 0,
                Some("AccessDeniedException") => 1,
                Some(_) => 2,
            };
            minutes.entry(minute).or_default()[slot] += 1;
        }
        let timeline: Vec<Value> = minutes
            .into_iter()
            .map(|(m, [ok, denied, err])| json!({"minute": m, "ok": ok, "denied": denied, "error": err}))
            .collect();
        let total = events.len();
        let newest: Vec<Value> = events.into_iter().rev().take(MAX_EVENTS).collect();
        json_reply(StatusCode::OK, &json!({"total": total, "events": newest, "timeline": timeline}))
    }

    async fn audit_verify(&self, cred: &Credential) -> HttpResponse {
        if let Err(r) = Self::require_admin(cred, "console:VerifyAuditTrail") {
            return r;
        }
        let dir = self.audit_dir.clone();
        match tokio::task::spawn_blocking(move || kms_audit::verify::verify_dir(&dir, None)).await {
            Ok(Ok(r)) => json_reply(
                StatusCode::OK,
                &json!({"ok": true, "files": r.files, "records": r.records, "digests": r.digests}),
            ),
            Ok(Err(e)) => json_reply(StatusCode::OK, &json!({"ok": false, "problem": e})),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "AuditReadError", "Verification failed to run."),
        }
    }

    async fn metrics(&self, cred: &Credential) -> HttpResponse {
        if let Err(r) = Self::require_admin(cred, "console:ViewMetrics") {
            return r;
        }
        reply(StatusCode::OK, "text/plain; charset=utf-8", self.api.render_metrics().await)
    }
}

fn whoami(cred: &Credential, csrf: &str) -> Value {
    json!({
        "signedIn": true,
        "accessKeyId": cred.access_key_id,
        "arn": cred.principal.arn,
        "account": cred.principal.account,
        "userName": cred.principal.user_name,
        "admin": cred.principal.admin,
        "csrfToken": csrf,
    })
}

async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, HttpResponse>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(error(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge", "The request is too large.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = http::HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; kms_console=abc; b=2"));
        assert_eq!(cookie_of(&h, COOKIE), Some("abc"));
        assert_eq!(cookie_of(&h, "c"), None);
    }
}
