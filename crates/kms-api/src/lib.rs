//! kms-api: the AWS JSON 1.1 protocol. One request, one path:
//! body limit and request id -> SigV4 -> principal -> `X-Amz-Target` ->
//! operation -> decode -> service method -> encode; on error the domain
//! error becomes an AWS exception in [`error`].

pub mod audit;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod peer;
pub mod sigv4;
pub mod sts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use kms_core::identity::Credential;
use kms_core::ports::{AuditSink, Clock};
use kms_core::service::Regions;
use kms_core::validate::Validate;
use kms_core::{Error, Kms, RequestContext};
use serde::{de::DeserializeOwned, Serialize};

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Default request body limit. The largest legitimate KMS request (a 32 KiB
/// key policy, escaped) is far below it.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

mod dispatch;

/// The operator API (`KmsAdmin.<name>`): ours, not AWS's.
macro_rules! admin_operations {
    ($( $name:ident => $method:ident ),+ $(,)?) => {
        /// Every operator API operation, named as in `X-Amz-Target`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AdminOperation { $($name),+ }

        impl AdminOperation {
            pub const ALL: &'static [AdminOperation] = &[$(AdminOperation::$name),+];

            pub fn from_name(name: &str) -> Option<AdminOperation> {
                match name {
                    $(stringify!($name) => Some(AdminOperation::$name),)+
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(AdminOperation::$name => stringify!($name)),+ }
            }
        }

        async fn dispatch_admin(kms: &Kms, ctx: &RequestContext, op: AdminOperation, body: &[u8]) -> Result<Vec<u8>, Error> {
            match op {
                $(AdminOperation::$name => encode(&kms.$method(ctx, serde_json::from_slice(body).map_err(serialization)?).await?),)+
            }
        }
    };
}

admin_operations! {
    CreateUser => create_user,
    ListUsers => list_users,
    DeleteUser => delete_user,
    CreateAccessKey => create_access_key,
    DeleteAccessKey => delete_access_key,
    AdvanceClock => advance_clock,
    GetKeyUsage => get_key_usage,
    PutUserPolicy => put_user_policy,
    GetUserPolicy => get_user_policy,
    DeleteUserPolicy => delete_user_policy,
    ListUserPolicies => list_user_policies,
    TagUser => tag_user,
    CreateRole => create_role,
    ListRoles => list_roles,
    DeleteRole => delete_role,
    PutRolePolicy => put_role_policy,
    DeleteRolePolicy => delete_role_policy,
    UpdateAssumeRolePolicy => update_assume_role_policy,
    Simulate => simulate,
    SetFault => set_fault,
    ListFaults => list_faults,
    ClearFaults => clear_faults,
    Reset => reset,
    Backup => backup,
}

/// An operation a target names: one of AWS KMS's (`TrentService.<name>`,
/// the generated [`kms_core::model::Operation`]) or of the operator API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Kms(KmsOperation),
    Admin(AdminOperation),
}

pub use kms_core::model::Operation as KmsOperation;

impl Operation {
    /// How many operations there are (KMS's, then the operator API's).
    pub const COUNT: usize = KmsOperation::ALL.len() + AdminOperation::ALL.len();

    pub fn from_target(target: &str) -> Option<Operation> {
        match target.split_once('.')? {
            ("TrentService", name) => KmsOperation::from_name(name).map(Operation::Kms),
            ("KmsAdmin", name) => AdminOperation::from_name(name).map(Operation::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::Kms(op) => op.name(),
            Operation::Admin(op) => op.name(),
        }
    }

    /// `TrentService` for KMS, `KmsAdmin` for the operator API.
    pub fn prefix(self) -> &'static str {
        match self {
            Operation::Kms(_) => "TrentService",
            Operation::Admin(_) => "KmsAdmin",
        }
    }

    /// A dense index in `0..COUNT` (for per-operation tables).
    pub fn index(self) -> usize {
        match self {
            Operation::Kms(op) => KmsOperation::ALL.iter().position(|o| *o == op).unwrap_or(0),
            Operation::Admin(op) => {
                KmsOperation::ALL.len() + AdminOperation::ALL.iter().position(|o| *o == op).unwrap_or(0)
            }
        }
    }

    /// The operation at `index` (the inverse of [`Operation::index`]).
    pub fn from_index(index: usize) -> Option<Operation> {
        match KmsOperation::ALL.get(index) {
            Some(op) => Some(Operation::Kms(*op)),
            None => AdminOperation::ALL.get(index - KmsOperation::ALL.len()).copied().map(Operation::Admin),
        }
    }
}

async fn dispatch(kms: &Kms, ctx: &RequestContext, op: Operation, body: &[u8]) -> Result<Vec<u8>, Error> {
    match op {
        Operation::Kms(op) => dispatch::dispatch(kms, ctx, op, body).await,
        Operation::Admin(op) => dispatch_admin(kms, ctx, op, body).await,
    }
}

/// The body of a successful call whose operation has no output members.
pub(crate) const EMPTY: &[u8] = b"{}";

/// Decode a KMS request and check it against the model: a JSON or type
/// error is `SerializationException`, a constraint `ValidationException`.
pub(crate) fn decode<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Error> {
    let req: T = serde_json::from_slice(body).map_err(serialization)?;
    req.validate()?;
    Ok(req)
}

/// Decode and validate the request of `target` without calling the service
/// (for the fuzzer): the error a request would get from the wire layer, or
/// whether the decoded request re-encodes to the same members.
pub fn decode_request(target: &str, body: &[u8]) -> Result<bool, Error> {
    match Operation::from_target(target) {
        Some(Operation::Kms(op)) => dispatch::decode_only(op, body),
        Some(Operation::Admin(_)) => Ok(true),
        None => Err(Error::UnknownOperation),
    }
}

/// Whether `req` survives encoding and decoding unchanged.
pub(crate) fn reencodes<T: Serialize + DeserializeOwned + PartialEq>(req: T) -> Result<bool, Error> {
    let bytes = encode(&req)?;
    Ok(serde_json::from_slice::<T>(&bytes).is_ok_and(|again| again == req))
}

/// A serde error as AWS's `SerializationException`: a body that is not
/// JSON gets no message; a member of the wrong type gets Coral's text
/// (`STRING_VALUE can not be converted to an Integer`, `Expected list or
/// null`, ...).
fn serialization(e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => Error::Serialization(coral_type_message(&e.to_string())),
        Category::Syntax | Category::Eof | Category::Io => Error::Serialization(String::new()),
    }
}

/// serde's `invalid type: <found>, expected <wanted> at line ..` in Coral's words.
fn coral_type_message(serde: &str) -> String {
    let msg = serde.split(" at line ").next().unwrap_or("");
    let Some(rest) = msg.strip_prefix("invalid type: ") else {
        // A blob that is not base64, and the like: serde's text is ours.
        return msg.to_string();
    };
    let (found, wanted) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let wanted_kind = if wanted.starts_with("struct ") {
        "structure"
    } else if wanted.contains("sequence") {
        "list"
    } else if wanted.contains("map") {
        "map"
    } else if wanted.starts_with('i') || wanted.starts_with('u') || wanted.contains("integer") {
        "an Integer"
    } else if wanted.contains("bool") {
        "a Boolean"
    } else if wanted.starts_with('f') {
        "a Date"
    } else {
        "a String"
    };
    let found_kind = if found.starts_with("sequence") {
        "list"
    } else if found.starts_with("map") {
        "map"
    } else if found.starts_with("string") {
        "STRING_VALUE"
    } else if found.starts_with("boolean `true`") {
        "TRUE_VALUE"
    } else if found.starts_with("boolean") {
        "FALSE_VALUE"
    } else {
        "NUMBER_VALUE"
    };
    match (found_kind, wanted_kind) {
        ("list", _) => "Start of list found where not expected".into(),
        ("map", _) => "Start of structure or map found where not expected.".into(),
        (_, "list") => "Expected list or null".into(),
        (_, "structure") => "Expected null".into(),
        (_, "map") => "Expected map or null".into(),
        (f, w) => format!("{f} can not be converted to {w}"),
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(Error::internal)
}

/// The protocol front end, shared by every connection.
pub struct Api {
    regions: Arc<Regions>,
    verifier: sigv4::Verifier,
    max_body: usize,
    /// SigV4 for STS calls (credential scope service `sts`).
    sts_verifier: sigv4::Verifier,
    audit: Option<Arc<dyn AuditSink>>,
    /// Answer requests even when their audit event cannot be written.
    audit_fail_open: bool,
    metrics: metrics::Metrics,
    ids: RequestIds,
    extra_metrics: Vec<Arc<dyn ExtraMetrics>>,
    /// The listener speaks TLS (`aws:SecureTransport`).
    secure_transport: bool,
    /// Replication peers' calls (`KmsPeer.*`), when peers are configured.
    peer: Option<peer::PeerAuth>,
    /// Requests being handled, and the most allowed at once (overload
    /// protection: beyond it a request is answered `ThrottlingException`
    /// at once, never queued).
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: usize,
    /// Requests refused because the server was full.
    overloaded: std::sync::atomic::AtomicU64,
}

/// Leaves the in-flight count when the request is answered (or dropped).
struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Background job events written to the audit log at a time.
const JOB_EVENTS_IN_FLIGHT: usize = 256;

/// A source of extra `/metrics` lines (audit writer, key states).
#[async_trait::async_trait]
pub trait ExtraMetrics: Send + Sync {
    async fn render(&self, out: &mut String);
}

pub type HttpResponse = Response<Full<Bytes>>;

fn response(status: StatusCode, request_id: &str, content_type: &'static str, body: Vec<u8>) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn error_response(aws: &error::AwsError, request_id: &str) -> HttpResponse {
    let mut body = serde_json::Map::new();
    body.insert("__type".into(), aws.type_name.into());
    if let Some(m) = &aws.message {
        body.insert("message".into(), m.clone().into());
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut r = response(aws.status, request_id, JSON_CONTENT_TYPE, bytes);
    if let Ok(v) = HeaderValue::from_str(aws.type_name) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// Request and event ids: UUIDs in the version 4 layout that are unique
/// rather than unpredictable (nothing is keyed on them), so no DRBG call per
/// request: a random per-process base, and a counter spread over the low
/// 62 bits by an odd multiplier (a bijection modulo 2^62, so no two counters
/// collide; the top two bits of that half are the UUID variant).
struct RequestIds {
    base: u128,
    next: std::sync::atomic::AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let mut b = [0u8; 16];
        // Without randomness the ids are still unique within this process.
        let _ = kms_core::crypto::fill_random(&mut b);
        RequestIds { base: u128::from_le_bytes(b), next: std::sync::atomic::AtomicU64::new(0) }
    }

    fn next(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let v = self.base ^ u128::from(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (u64::MAX >> 2));
        let id = uuid::Builder::from_random_bytes(v.to_be_bytes()).into_uuid();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut buf).to_string()
    }
}

/// The `userAgent` of the console's calls in their audit records.
pub const CONSOLE_USER_AGENT: &str = "kms-console";

/// Where a call came from, for its audit record.
struct Caller<'a> {
    peer: Option<SocketAddr>,
    user_agent: Option<&'a str>,
    /// The access key id an Authorization header named that did not authenticate.
    claimed_access_key: Option<&'a str>,
    /// A web console session made the call.
    console: bool,
}

/// What processing a call produced, before it is audited.
struct Processed {
    /// The service of the request's region (`None` before it is known: the
    /// audit record then names the home region).
    service: Option<Arc<Kms>>,
    result: Result<Vec<u8>, Error>,
    op: Option<Operation>,
    cred: Option<Arc<Credential>>,
    body: Bytes,
    facts: kms_core::service::Facts,
    /// A query-protocol (STS) call: its action and what its audit record shows.
    query: Option<Query>,
}

struct Query {
    action: String,
    request: serde_json::Value,
    response: Option<serde_json::Value>,
}

impl Processed {
    fn failed(e: Error, body: Bytes) -> Self {
        Processed { service: None, result: Err(e), op: None, cred: None, body, facts: Default::default(), query: None }
    }
}

/// The audit view of a query-protocol request: its parameters, lowerCamelCase.
fn query_request(form: &[(String, String)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in form {
        if k != "Action" && k != "Version" {
            let mut c = k.chars();
            let key: String = c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default();
            m.insert(key, v.clone().into());
        }
    }
    serde_json::Value::Object(m)
}

/// The `KeyId` member of a request body, if it has one (for key-scoped faults).
fn request_key_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct KeyIdOnly {
        #[serde(rename = "KeyId")]
        key_id: Option<String>,
    }
    serde_json::from_slice::<KeyIdOnly>(body).ok()?.key_id
}

/// The access key id an Authorization header names (not a secret).
fn claimed_access_key(headers: &http::HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let cred = v.split("Credential=").nth(1)?;
    cred.split('/').next().filter(|s| !s.is_empty() && s.len() <= 128)
}

impl Api {
    pub fn new(regions: Arc<Regions>, max_body: usize) -> Self {
        Api {
            regions,
            verifier: sigv4::Verifier::new("kms"),
            sts_verifier: sigv4::Verifier::new("sts"),
            max_body,
            audit: None,
            audit_fail_open: false,
            metrics: metrics::Metrics::default(),
            ids: RequestIds::new(),
            extra_metrics: vec![],
            secure_transport: false,
            peer: None,
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            max_in_flight: usize::MAX,
            overloaded: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Handle at most `n` requests at once (the rest: `ThrottlingException`).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Answer replication peers' calls, authenticated with `secret`.
    pub fn with_peer_secret(mut self, secret: kms_core::crypto::SecretString) -> Self {
        self.peer = Some(peer::PeerAuth::new(secret));
        self
    }

    /// Record every call in `sink`, answering only once the event is durable.
    /// With `fail_open`, a call whose event cannot be written is still answered.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>, fail_open: bool) -> Self {
        self.audit = Some(sink);
        self.audit_fail_open = fail_open;
        self
    }

    pub fn with_metrics(mut self, source: Arc<dyn ExtraMetrics>) -> Self {
        self.extra_metrics.push(source);
        self
    }

    /// Requests arrive over TLS.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.secure_transport = tls;
        self
    }

    pub fn regions(&self) -> &Arc<Regions> {
        &self.regions
    }

    /// The service of `region` (in `--dev`, opened on first use), once the
    /// request naming it is authenticated.
    async fn region_kms(&self, region: &str) -> Result<Arc<Kms>, Error> {
        self.regions.get(region).await?.ok_or_else(|| Error::internal(format!("region {region} is not served")))
    }

    /// The `/metrics` text (also shown by the console's health page).
    pub async fn render_metrics(&self) -> String {
        use std::fmt::Write as _;
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = String::with_capacity(4096);
        self.metrics.render(&mut out);
        let _ = writeln!(
            out,
            "# HELP kms_in_flight Requests being handled.\n# TYPE kms_in_flight gauge\nkms_in_flight {}",
            self.in_flight.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kms_overloaded_total Requests refused at once because max_in_flight were being handled.\n# TYPE kms_overloaded_total counter\nkms_overloaded_total {}",
            self.overloaded.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kms_throttled_requests_total Calls over a request quota (AWS's ThrottledRequests), by region, quota and account.\n# TYPE kms_throttled_requests_total counter"
        );
        for kms in self.regions.all() {
            let region = &kms.location().region;
            for (class, account, n) in kms.throttled() {
                let _ = writeln!(
                    out,
                    "kms_throttled_requests_total{{region=\"{region}\",quota=\"{class}\",account=\"{account}\"}} {n}"
                );
            }
        }
        for m in &self.extra_metrics {
            m.render(&mut out).await;
        }
        out
    }

    /// Write the audit records of what the background job did
    /// ([`Kms::take_job_events`]). A record that cannot be written is
    /// logged: the change it records has happened already.
    pub async fn record_job_events(&self) {
        for kms in self.regions.all() {
            self.record_region_job_events(&kms).await;
        }
    }

    async fn record_region_job_events(&self, kms: &Kms) {
        let events = kms.take_job_events();
        let Some(sink) = &self.audit else { return };
        // Many at a time, so that the writer's group commit covers them
        // (one fsync per event would make a pass over many keys slow).
        for chunk in events.chunks(JOB_EVENTS_IN_FLIGHT) {
            let mut writes = tokio::task::JoinSet::new();
            for e in chunk {
                let time = kms_core::time::rfc3339(Clock::real_now_ms());
                let record = audit::service_event(e, &self.ids.next(), &time, &kms.location().region);
                let (sink, name, key) = (sink.clone(), e.event_name, e.key_arn.clone());
                writes.spawn(async move {
                    if let Err(err) = sink.record(record).await {
                        tracing::error!(event = name, key = %key, error = %err, "audit event of the background job not written");
                    }
                });
            }
            while writes.join_next().await.is_some() {}
        }
    }

    /// Handle one HTTP request from `peer`.
    pub async fn handle<B>(&self, req: Request<B>, peer: Option<SocketAddr>) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = self.ids.next();
        let started = Instant::now();
        // Health and metrics: answered whatever the load, and not counted in
        // flight (so that watching a full server does not refuse a request).
        if req.method() == Method::GET {
            match req.uri().path() {
                "/health" => {
                    let body: &[u8] = if kms_core::FIPS {
                        br#"{"status":"ok","fips":true}"#
                    } else {
                        br#"{"status":"ok","fips":false}"#
                    };
                    return response(StatusCode::OK, &request_id, "application/json", body.to_vec());
                }
                "/metrics" if peer.is_some_and(|p| p.ip().is_loopback()) => {
                    let text = self.render_metrics().await.into_bytes();
                    return response(StatusCode::OK, &request_id, "text/plain; version=0.0.4", text);
                }
                _ => {}
            }
        }
        // Overload protection: a full server answers at once, before reading
        // the body.
        let Some(_in_flight) = self.enter() else {
            return error_response(&error::to_aws(&Error::Throttling), &request_id);
        };
        let (parts, body) = req.into_parts();
        let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
        let target = header("x-amz-target").unwrap_or("");
        if target.starts_with(peer::TARGET_PREFIX) {
            return self.handle_peer(&parts, body, target, &request_id).await;
        }
        let p = self.process(&parts, body, &request_id, peer).await;
        let claimed = if p.cred.is_none() { claimed_access_key(&parts.headers) } else { None };
        let from = Caller { peer, user_agent: header("user-agent"), claimed_access_key: claimed, console: false };
        self.finish(p, target, &request_id, started, &from).await
    }

    /// Count a request in flight until the guard drops; `None` (counted
    /// as overloaded) when the server is full: the caller answers
    /// `ThrottlingException` at once.
    fn enter(&self) -> Option<InFlight<'_>> {
        let in_flight = self.in_flight.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let guard = InFlight(&self.in_flight);
        if in_flight >= self.max_in_flight {
            self.overloaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.metrics.observe(None, 400, 0);
            return None;
        }
        Some(guard)
    }

    /// Run `target` (`TrentService.<name>` or `KmsAdmin.<name>`) with `body`
    /// as `cred`, for the web console: the credential comes from a console
    /// session instead of a SigV4 signature; everything after (quota,
    /// decoding, the service method, authorization, the audit record, the
    /// answer) is the API's own path. The record is marked as coming from
    /// the console (`sessionCredentialFromConsole`).
    pub async fn handle_console(
        &self,
        cred: Arc<Credential>,
        target: &str,
        body: Bytes,
        peer: Option<SocketAddr>,
    ) -> HttpResponse {
        let request_id = self.ids.next();
        let started = Instant::now();
        let Some(_in_flight) = self.enter() else {
            return error_response(&error::to_aws(&Error::Throttling), &request_id);
        };
        let region = self.regions.home().to_string();
        let p = match self.region_kms(&region).await {
            Ok(kms) => self.process_as(kms, cred, target, body, &request_id, peer).await,
            Err(e) => Processed::failed(e, body),
        };
        let from = Caller { peer, user_agent: Some(CONSOLE_USER_AGENT), claimed_access_key: None, console: true };
        self.finish(p, target, &request_id, started, &from).await
    }

    /// After a call: its audit record (the answer waits until it is
    /// durable), metrics, the log line, the HTTP answer.
    async fn finish(
        &self,
        p: Processed,
        target: &str,
        request_id: &str,
        started: Instant,
        from: &Caller<'_>,
    ) -> HttpResponse {
        let peer = from.peer;
        let mut result = p.result;
        if let Some(sink) = &self.audit {
            let aws_err = result.as_ref().err().map(error::to_aws);
            let time_ms = Clock::real_now_ms();
            let event_id = self.ids.next();
            let time = kms_core::time::rfc3339(time_ms);
            // The bodies are transcoded, not parsed, and a cryptographic response is never read.
            let (event_source, event_name, request, response) = match &p.query {
                Some(q) => (
                    "sts.amazonaws.com",
                    q.action.as_str(),
                    audit::Body::Value(&q.request),
                    q.response.as_ref().map_or(audit::Body::None, audit::Body::Value),
                ),
                None => (
                    audit::event_source(p.op),
                    match p.op {
                        Some(op) => op.name(),
                        None => target.rsplit('.').next().unwrap_or(""),
                    },
                    audit::Body::Json(&p.body),
                    result.as_deref().map_or(audit::Body::None, audit::Body::Json),
                ),
            };
            let event = audit::event(&audit::Call {
                request_id,
                event_id: &event_id,
                time: &time,
                region: p.service.as_ref().map_or(self.regions.home(), |k| k.location().region.as_str()),
                event_source,
                event_name,
                cred: p.cred.as_deref(),
                claimed_access_key: from.claimed_access_key,
                source_ip: peer.map(|p| p.ip()),
                user_agent: from.user_agent,
                console: from.console,
                request,
                response,
                error: aws_err.as_ref(),
                facts: p.facts,
            });
            if let Err(e) = sink.record(event).await {
                tracing::error!(request_id = %request_id, error = %e, fail_open = self.audit_fail_open, "audit event not written");
                if !self.audit_fail_open {
                    result = Err(Error::Internal(format!("audit log unavailable: {e}")));
                }
            }
        }
        // `clock advance` ran the background job: its events are recorded
        // before the answer, like the call's own.
        if matches!(p.op, Some(Operation::Admin(AdminOperation::AdvanceClock))) {
            self.record_job_events().await;
        }
        let who = p.cred.as_ref().map(|c| c.access_key_id.as_str()).unwrap_or("");
        let elapsed_us = started.elapsed().as_micros() as u64;
        let target: std::borrow::Cow<'_, str> = match &p.query {
            Some(q) => format!("sts.{}", q.action).into(),
            None => target.into(),
        };
        let content_type = if p.query.is_some() { sts::CONTENT_TYPE } else { JSON_CONTENT_TYPE };
        match result {
            Ok(body) => {
                self.metrics.observe(p.op, 200, elapsed_us);
                tracing::debug!(request_id = %request_id, target = %target, principal = %who, status = 200, elapsed_us, "request");
                response(StatusCode::OK, request_id, content_type, body)
            }
            Err(e) => {
                let aws = error::to_aws(&e);
                self.metrics.observe(p.op, aws.status.as_u16(), elapsed_us);
                if let Error::Internal(detail) = &e {
                    tracing::error!(request_id = %request_id, target = %target, principal = %who, error = %detail, "internal error");
                }
                tracing::debug!(request_id = %request_id, target = %target, principal = %who, status = aws.status.as_u16(), error = aws.type_name, elapsed_us, "request");
                if p.query.is_some() {
                    let (code, status, sender) = error::to_sts(&e);
                    let msg = aws.message.clone().unwrap_or_default();
                    return response(status, request_id, content_type, sts::error_xml(code, &msg, sender, request_id));
                }
                error_response(&aws, request_id)
            }
        }
    }

    /// The request body, within the body limit.
    async fn read_body<B>(&self, parts: &http::request::Parts, body: B) -> Result<Bytes, Error>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(Error::RequestTooLarge(self.max_body));
        }
        match Limited::new(body, self.max_body).collect().await {
            Ok(b) => Ok(b.to_bytes()),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                Err(Error::RequestTooLarge(self.max_body))
            }
            Err(_) => Err(Error::Serialization("could not read the request body".into())),
        }
    }

    /// A replication peer's call (`KmsPeer.*`, see [`peer`]): SigV4 with the
    /// peer secret, then the call; the answer is signed back.
    async fn handle_peer<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
        target: &str,
        request_id: &str,
    ) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let result = self.process_peer(parts, body, target).await;
        let (status, bytes) = match &result {
            Ok(b) => (StatusCode::OK, b.clone()),
            Err(e) => {
                let aws = error::to_aws(e);
                tracing::warn!(request_id, target, error = aws.type_name, detail = %e, "peer call refused");
                let body = serde_json::json!({"__type": aws.type_name, "message": aws.message.unwrap_or_default()});
                (aws.status, serde_json::to_vec(&body).unwrap_or_default())
            }
        };
        let mut resp = response(status, request_id, JSON_CONTENT_TYPE, bytes.clone());
        let auth = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if let (Some(p), Some(auth)) = (&self.peer, auth) {
            if let Some(sig) = peer::response_signature(p.secret(), auth, &bytes) {
                if let Ok(v) = HeaderValue::from_str(&sig) {
                    resp.headers_mut().insert(peer::RESPONSE_SIGNATURE_HEADER, v);
                }
            }
        }
        resp
    }

    async fn process_peer<B>(&self, parts: &http::request::Parts, body: B, target: &str) -> Result<Vec<u8>, Error>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Some(auth) = &self.peer else { return Err(Error::UnknownOperation) };
        let body = self.read_body(parts, body).await?;
        let signed = sigv4::RequestParts::of(parts, &body);
        let region = sigv4::scope_region(&parts.headers).unwrap_or("");
        auth.verifier.verify(&signed, auth, Clock::real_now_ms() / 1000, self.regions.serves(region))?;
        match target {
            peer::WRAPPING_KEY => {
                let key = self.regions.peer_public_key().await?;
                encode(&peer::WrappingKeyResponse { public_key: key })
            }
            peer::DELIVER => {
                let msg: kms_core::service::PeerMessage = serde_json::from_slice(&body).map_err(serialization)?;
                tracing::debug!(to = msg.to_region(), "peer message");
                self.regions.receive(msg).await?;
                Ok(b"{}".to_vec())
            }
            _ => Err(Error::UnknownOperation),
        }
    }

    /// Body limit, SigV4, target, dispatch.
    async fn process<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
        request_id: &str,
        peer: Option<SocketAddr>,
    ) -> Processed
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if parts.method != Method::POST {
            return Processed::failed(Error::UnknownOperation, Bytes::new());
        }
        let body = match self.read_body(parts, body).await {
            Ok(b) => b,
            Err(e) => return Processed::failed(e, Bytes::new()),
        };
        let signed = sigv4::RequestParts::of(parts, &body);
        let now = Clock::real_now_ms() / 1000;
        let region = sigv4::scope_region(&parts.headers).unwrap_or("");
        let served = self.regions.serves(region);
        if sts::is_query(&parts.headers) {
            return self.process_query(region, served, signed, &body, request_id, peer, now).await;
        }
        let cred = match self.verifier.verify(&signed, self.regions.as_ref(), now, served) {
            Ok(c) => c,
            Err(e) => return Processed::failed(e, body),
        };
        let kms = match self.region_kms(region).await {
            Ok(k) => k,
            Err(e) => return Processed::failed(e, body),
        };
        let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
        self.process_as(kms, cred, target, body, request_id, peer).await
    }

    /// An authenticated call: target, quota, dispatch (shared by SigV4
    /// requests and the console).
    async fn process_as(
        &self,
        kms: Arc<Kms>,
        cred: Arc<Credential>,
        target: &str,
        body: Bytes,
        request_id: &str,
        peer: Option<SocketAddr>,
    ) -> Processed {
        let Some(op) = Operation::from_target(target) else {
            return Processed {
                service: Some(kms),
                result: Err(Error::UnknownOperation),
                op: None,
                cred: Some(cred),
                body,
                facts: Default::default(),
                query: None,
            };
        };
        let ctx = RequestContext::new(request_id.to_string(), cred.principal.clone(), cred.access_key_id.clone())
            .from_connection(peer.map(|p| p.ip()), self.secure_transport);
        let result = match Self::admit(&kms, &ctx, op, &body).await {
            Ok(()) => dispatch(&kms, &ctx, op, &body).await,
            Err(e) => Err(e),
        };
        Processed {
            service: Some(kms),
            result,
            op: Some(op),
            cred: Some(cred),
            body,
            facts: ctx.into_facts(),
            query: None,
        }
    }

    /// Before a KMS call is decoded: an injected fault (`--dev`; the body is
    /// parsed for its KeyId only while faults are set), then its quota.
    async fn admit(kms: &Kms, ctx: &RequestContext, op: Operation, body: &[u8]) -> Result<(), Error> {
        let Operation::Kms(o) = op else { return Ok(()) };
        if kms.faults_active() {
            if let Some(f) = kms.injected_fault(o.name(), request_key_id(body).as_deref()) {
                if f.latency_ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(f.latency_ms)).await;
                }
                ctx.note_fault(&format!("{} ({})", f.fault_id, f.error.unwrap_or("latency")));
                if let Some(e) = f.into_error() {
                    return Err(e);
                }
            }
        }
        kms.admit(ctx, o)
    }

    /// A query-protocol (STS) call: SigV4 for service `sts`, then the action.
    #[allow(clippy::too_many_arguments)]
    async fn process_query(
        &self,
        region: &str,
        served: bool,
        signed: sigv4::RequestParts<'_>,
        body: &Bytes,
        request_id: &str,
        peer: Option<SocketAddr>,
        now: i64,
    ) -> Processed {
        let form = sts::parse_form(body);
        let mut query = Query {
            action: sts::action(&form).unwrap_or("").to_string(),
            request: query_request(&form),
            response: None,
        };
        let authenticated = match self.sts_verifier.verify(&signed, self.regions.as_ref(), now, served) {
            Ok(c) => self.region_kms(region).await.map(|k| (c, k)),
            Err(e) => Err(e),
        };
        let (cred, kms) = match authenticated {
            Ok(ck) => ck,
            Err(e) => {
                let mut p = Processed::failed(e, body.clone());
                p.query = Some(query);
                return p;
            }
        };
        let ctx = RequestContext::new(request_id.to_string(), cred.principal.clone(), cred.access_key_id.clone())
            .from_connection(peer.map(|p| p.ip()), self.secure_transport);
        let result = match sts::dispatch(&kms, &ctx, &form).await {
            Ok((xml, audit)) => {
                query.response = Some(audit).filter(|v| !v.is_null());
                Ok(xml)
            }
            Err(e) => Err(e),
        };
        Processed {
            service: Some(kms),
            result,
            op: None,
            cred: Some(cred),
            body: body.clone(),
            facts: ctx.into_facts(),
            query: Some(query),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_version_4_uuids() {
        let ids = RequestIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let id = ids.next();
            let u = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(u.get_version_num(), 4, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert!(seen.insert(id));
        }
        assert_ne!(RequestIds::new().next(), RequestIds::new().next());
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn decoded_requests_reencode_to_the_same_members() {
        let ok = [
            ("TrentService.Encrypt", r#"{"KeyId":"alias/x","Plaintext":"eA==","EncryptionContext":{"a":"b"}}"#),
            ("TrentService.CreateKey", r#"{"Tags":[{"TagKey":"k","TagValue":""}],"KeySpec":"ML_KEM_768"}"#),
            (
                "TrentService.CreateGrant",
                r#"{"KeyId":"k","GranteePrincipal":"p","Operations":["Decrypt"],"Constraints":{"EncryptionContextSubset":{"a":"b"}}}"#,
            ),
            (
                "TrentService.ImportKeyMaterial",
                r#"{"KeyId":"k","ImportToken":"eA==","EncryptedKeyMaterial":"eA==","ValidTo":1700000000.5}"#,
            ),
        ];
        for (target, body) in ok {
            assert!(decode_request(target, body.as_bytes()).unwrap(), "{target}");
        }
        assert!(matches!(decode_request("TrentService.Encrypt", b"{}"), Err(Error::Validation(_))));
        assert!(matches!(decode_request("TrentService.Nope", b"{}"), Err(Error::UnknownOperation)));
    }
}
