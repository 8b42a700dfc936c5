//! kms-api: the AWS JSON 1.1 protocol. One request, one path:
//! body limit and request id -> SigV4 -> principal -> `X-Amz-Target` ->
//! operation -> decode -> service method -> encode; on error the domain
//! error becomes an AWS exception in [`error`].

pub mod error;
pub mod sigv4;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use kms_core::ports::Clock;
use kms_core::{Error, Kms, RequestContext};
use serde::{de::DeserializeOwned, Serialize};

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Default request body limit. The largest legitimate KMS request (a 32 KiB
/// key policy, escaped) is far below it.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

macro_rules! operations {
    ($( $prefix:literal $name:ident => $method:ident ),+ $(,)?) => {
        /// Every operation, named as in `X-Amz-Target`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($name),+ }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$name),+];

            pub fn from_target(target: &str) -> Option<Operation> {
                let (prefix, name) = target.split_once('.')?;
                match (prefix, name) {
                    $(($prefix, stringify!($name)) => Some(Operation::$name),)+
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Operation::$name => stringify!($name)),+ }
            }

            /// `TrentService` for KMS, `KmsAdmin` for the operator API.
            pub fn prefix(self) -> &'static str {
                match self { $(Operation::$name => $prefix),+ }
            }
        }

        async fn dispatch(kms: &Kms, ctx: &RequestContext, op: Operation, body: &[u8]) -> Result<Vec<u8>, Error> {
            match op {
                $(Operation::$name => encode(&kms.$method(ctx, decode(body)?).await?),)+
            }
        }
    };
}

operations! {
    "TrentService" CreateKey => create_key,
    "TrentService" DescribeKey => describe_key,
    "TrentService" ListKeys => list_keys,
    "TrentService" UpdateKeyDescription => update_key_description,
    "TrentService" EnableKey => enable_key,
    "TrentService" DisableKey => disable_key,
    "TrentService" ScheduleKeyDeletion => schedule_key_deletion,
    "TrentService" CancelKeyDeletion => cancel_key_deletion,
    "TrentService" GetKeyLastUsage => get_key_last_usage,
    "TrentService" Encrypt => encrypt,
    "TrentService" Decrypt => decrypt,
    "TrentService" ReEncrypt => re_encrypt,
    "TrentService" GenerateDataKey => generate_data_key,
    "TrentService" GenerateDataKeyWithoutPlaintext => generate_data_key_without_plaintext,
    "TrentService" GenerateRandom => generate_random,
    "TrentService" CreateAlias => create_alias,
    "TrentService" UpdateAlias => update_alias,
    "TrentService" DeleteAlias => delete_alias,
    "TrentService" ListAliases => list_aliases,
    "TrentService" TagResource => tag_resource,
    "TrentService" UntagResource => untag_resource,
    "TrentService" ListResourceTags => list_resource_tags,
    "TrentService" PutKeyPolicy => put_key_policy,
    "TrentService" GetKeyPolicy => get_key_policy,
    "TrentService" ListKeyPolicies => list_key_policies,
    "KmsAdmin" CreateUser => create_user,
    "KmsAdmin" ListUsers => list_users,
    "KmsAdmin" DeleteUser => delete_user,
    "KmsAdmin" CreateAccessKey => create_access_key,
    "KmsAdmin" DeleteAccessKey => delete_access_key,
    "KmsAdmin" AdvanceClock => advance_clock,
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        // Drop serde's position suffix; keep what was wrong.
        let msg = msg.split(" at line ").next().unwrap_or("").to_string();
        Error::Serialization(msg)
    })
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(Error::internal)
}

/// The protocol front end, shared by every connection.
pub struct Api {
    kms: Arc<Kms>,
    verifier: sigv4::Verifier,
    max_body: usize,
}

pub type HttpResponse = Response<Full<Bytes>>;

fn response(
    status: StatusCode,
    request_id: &str,
    content_type: &'static str,
    body: Vec<u8>,
) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn error_response(e: &Error, request_id: &str) -> HttpResponse {
    let aws = error::to_aws(e);
    let mut body = serde_json::Map::new();
    body.insert("__type".into(), aws.type_name.into());
    if let Some(m) = aws.message {
        body.insert("message".into(), m.into());
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut r = response(aws.status, request_id, JSON_CONTENT_TYPE, bytes);
    if let Ok(v) = HeaderValue::from_str(aws.type_name) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn new_request_id() -> String {
    let mut b = [0u8; 16];
    if kms_core::crypto::fill_random(&mut b).is_err() {
        return "00000000-0000-4000-8000-000000000000".into();
    }
    uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .hyphenated()
        .to_string()
}

impl Api {
    pub fn new(kms: Arc<Kms>, max_body: usize) -> Self {
        let verifier = sigv4::Verifier::new(&kms.location().region, "kms");
        Api {
            kms,
            verifier,
            max_body,
        }
    }

    pub fn kms(&self) -> &Arc<Kms> {
        &self.kms
    }

    /// Handle one HTTP request.
    pub async fn handle<B>(&self, req: Request<B>) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = new_request_id();
        let started = Instant::now();
        if req.method() == Method::GET && req.uri().path() == "/health" {
            return response(
                StatusCode::OK,
                &request_id,
                "application/json",
                br#"{"status":"ok"}"#.to_vec(),
            );
        }
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (result, who) = self.handle_kms(req, &request_id).await;
        let elapsed_us = started.elapsed().as_micros() as u64;
        match result {
            Ok(body) => {
                tracing::info!(request_id = %request_id, target = %target, principal = %who, status = 200, elapsed_us, "request");
                response(StatusCode::OK, &request_id, JSON_CONTENT_TYPE, body)
            }
            Err(e) => {
                let aws = error::to_aws(&e);
                if let Error::Internal(detail) = &e {
                    tracing::error!(request_id = %request_id, target = %target, principal = %who, error = %detail, "internal error");
                }
                tracing::info!(request_id = %request_id, target = %target, principal = %who, status = aws.status.as_u16(), error = aws.type_name, elapsed_us, "request");
                error_response(&e, &request_id)
            }
        }
    }

    /// Returns the outcome and, for the log, the caller's access key id.
    async fn handle_kms<B>(
        &self,
        req: Request<B>,
        request_id: &str,
    ) -> (Result<Vec<u8>, Error>, String)
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        if parts.method != Method::POST {
            return (Err(Error::UnknownOperation), String::new());
        }
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return (Err(Error::RequestTooLarge(self.max_body)), String::new());
        }
        let body = match Limited::new(body, self.max_body).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    return (Err(Error::RequestTooLarge(self.max_body)), String::new());
                }
                return (
                    Err(Error::Serialization(
                        "could not read the request body".into(),
                    )),
                    String::new(),
                );
            }
        };
        let signed = sigv4::RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body: &body,
        };
        let now = Clock::real_now_ms() / 1000;
        let cred = match self.verifier.verify(&signed, self.kms.as_ref(), now) {
            Ok(c) => c,
            Err(e) => return (Err(e), String::new()),
        };
        let who = cred.access_key_id.clone();
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(op) = Operation::from_target(target) else {
            return (Err(Error::UnknownOperation), who);
        };
        let ctx = RequestContext {
            request_id: request_id.to_string(),
            principal: cred.principal.clone(),
            access_key_id: cred.access_key_id.clone(),
        };
        (dispatch(&self.kms, &ctx, op, &body).await, who)
    }
}
