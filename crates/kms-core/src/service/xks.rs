//! External key stores (`EXTERNAL_KEY_STORE`, docs/XKS.md): what the
//! service asks of an XKS proxy ([`XksProxy`]) and what it makes of the
//! answers. The proxy calls carry the spec's `requestMetadata`, are bounded
//! by its 250 ms budget, and every failure becomes the KMS exception and
//! message of the spec's table ("KMS Considerations" under "Error codes"),
//! which depend on the operation: Create/UpdateCustomKeyStore, CreateKey,
//! or a cryptographic operation. The proxy's own `errorMessage` is never
//! passed on.
//!
//! Double encryption: a key in an external key store has key material
//! held here (sealed under the root key, like any key's) and its external
//! key at the proxy. Encrypt seals under the material here (AAD = the
//! blob's header and the encryption context), then sends that to the
//! proxy's Encrypt with the same AAD, asking for the ciphertext data
//! integrity value, which is checked. After the 50-byte header the blob
//! holds: IV length (1), IV, tag (16), metadata length (1), metadata, the
//! proxy's ciphertext. Decrypt runs in reverse: the proxy first, then here.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{poisoned, Kms, LiveKey, RequestContext};
use crate::crypto::SecretString;
use crate::error::{Error, Result};
use crate::model::*;
use crate::ports::{XksCallError, XksProxy, XksTarget};
use crate::types::{CustomKeyStoreRecord, XksProxyRecord};

/// The spec: a proxy call that takes longer fails.
pub const XKS_TIMEOUT: Duration = Duration::from_millis(250);

/// Which KMS operation a proxy failure is reported for (the spec's table
/// gives each its own exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum XksUse {
    /// Create/UpdateCustomKeyStore.
    Store,
    CreateKey,
    Crypto,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(v: &Value, name: &str) -> std::result::Result<Vec<u8>, XksCallError> {
    v[name]
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| XksCallError::Malformed(format!("{name} is missing or not base64")))
}

const NOT_CONNECTED: &str = "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.";
const MALFORMED: &str = "AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator.";

/// The spec's message for a failure.
fn message(e: &XksCallError) -> &'static str {
    match e {
        XksCallError::Proxy { error_name: Some(n), .. } => match n.as_str() {
            "ValidationException" => MALFORMED,
            "InvalidStateException" => "The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request.",
            "InvalidCiphertextException" => "The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid.",
            "InvalidKeyUsageException" => "The external key associated with this KMS key in an external key store does not support the requested operation. Enable the operation on the key in your external key manager, and try the request again.",
            "AuthenticationFailedException" => "The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the XKS proxy authentication credentials for your external key store and update if necessary.",
            "AccessDeniedException" => "The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for this operation, and try the request again.",
            "KeyNotFoundException" => "The external key associated with this KMS key in an external key store was not found in its external key manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the correct external key ID.",
            "InvalidUriPathException" => "The external key store proxy rejected the request because of an invalid URI path. Verify the URI path for your external key store and update if necessary.",
            "UnsupportedOperationException" => "The external key store proxy rejected the request because it does not support the requested operation. If you see this error repeatedly, report it to your external key store proxy administrator.",
            "DependencyTimeoutException" => "The external key store proxy did not respond to the request in the time allotted. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.",
            "ThrottlingException" => "The external key store proxy rejected the request due to a very high request rate. Reduce the frequency of your calls using KMS keys in this external key store.",
            "InternalException" => "The external key store proxy rejected the request because it cannot communicate with the external key manager. Verify that the external key store proxy configuration is correct and that the external key manager is available.",
            _ => MALFORMED,
        },
        XksCallError::Proxy { error_name: None, .. } | XksCallError::Malformed(_) => MALFORMED,
        XksCallError::Connect(_) => "AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external keystore.",
        XksCallError::Tls(_) => "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, including its certificate.",
        XksCallError::Timeout => "AWS KMS rejected the request because the external key store proxy did not respond in time. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.",
    }
}

fn error_name(e: &XksCallError) -> Option<&str> {
    match e {
        XksCallError::Proxy { error_name, .. } => error_name.as_deref(),
        _ => None,
    }
}

/// The KMS exception for a failed proxy call made for `u`.
pub(super) fn map_error(e: &XksCallError, u: XksUse) -> Error {
    let m = message(e).to_string();
    let name = error_name(e);
    match u {
        XksUse::Crypto => Error::InvalidState(m),
        XksUse::CreateKey => match name {
            Some("KeyNotFoundException") => Error::XksKeyNotFound(m),
            Some("InvalidStateException" | "InvalidKeyUsageException") => Error::XksKeyInvalidConfiguration(m),
            Some("AccessDeniedException") => Error::InvalidState(m),
            // The spec's "XksKeyInvalidResponseException" is no KMS
            // exception: the model's XksProxyInvalidResponseException is meant.
            Some("UnsupportedOperationException") => Error::XksProxyInvalidResponse(m),
            _ => Error::CustomKeyStoreInvalidState(m),
        },
        XksUse::Store => match (e, name) {
            (_, Some("AuthenticationFailedException")) => Error::XksProxyIncorrectAuthenticationCredential(m),
            (_, Some("InvalidUriPathException")) => Error::XksProxyInvalidConfiguration(m),
            (_, Some("ThrottlingException" | "DependencyTimeoutException")) => Error::XksProxyUriUnreachable(m),
            (XksCallError::Connect(_) | XksCallError::Tls(_) | XksCallError::Timeout, _) => {
                Error::XksProxyUriUnreachable(m)
            }
            _ => Error::XksProxyInvalidResponse(m),
        },
    }
}

/// The `ConnectionErrorCode` of a failed connection.
pub(super) fn connection_code(e: &XksCallError) -> ConnectionErrorCodeType {
    match (e, error_name(e)) {
        (_, Some("AuthenticationFailedException")) => ConnectionErrorCodeType::InvalidCredentials,
        (_, Some("AccessDeniedException")) => ConnectionErrorCodeType::XksProxyAccessDenied,
        (_, Some("InvalidUriPathException")) => ConnectionErrorCodeType::XksProxyInvalidConfiguration,
        (_, Some("DependencyTimeoutException")) | (XksCallError::Timeout, _) => {
            ConnectionErrorCodeType::XksProxyTimedOut
        }
        (_, Some("ThrottlingException")) | (XksCallError::Connect(_), _) => {
            ConnectionErrorCodeType::XksProxyNotReachable
        }
        (XksCallError::Tls(_), _) => ConnectionErrorCodeType::XksProxyInvalidTlsConfiguration,
        _ => ConnectionErrorCodeType::XksProxyInvalidResponse,
    }
}

/// Check the XKS members of a store (the pattern checks are the wire
/// layer's): connectivity, and what VPC connectivity needs.
pub(super) fn vpc_not_found(name: &str) -> Error {
    Error::XksProxyVpcEndpointServiceNotFound(format!(
        "The request was rejected because KMS could not find the specified VPC endpoint service {name}: this server has no Amazon VPC; use XksProxyConnectivity PUBLIC_ENDPOINT."
    ))
}

impl Kms {
    fn xks_port(&self) -> std::result::Result<&Arc<dyn XksProxy>, XksCallError> {
        self.shared
            .xks
            .as_ref()
            .ok_or_else(|| XksCallError::Connect("this server has no XKS proxy client configured".into()))
    }

    /// One proxy call for store `r`, within the budget.
    pub(super) async fn xks_call(
        &self,
        r: &CustomKeyStoreRecord,
        suffix: &str,
        body: &Value,
    ) -> std::result::Result<Value, XksCallError> {
        let x = r.xks.as_ref().ok_or_else(|| XksCallError::Malformed("not an external key store".into()))?;
        let secret = self
            .shared
            .root
            .open(&CustomKeyStoreRecord::secret_binding(&r.id), &r.sealed_password)
            .map_err(|e| XksCallError::Malformed(format!("the credential does not open: {e}")))?;
        let secret = SecretString::new(String::from_utf8_lossy(secret.expose()).into_owned());
        let target = XksTarget {
            endpoint: &x.uri_endpoint,
            uri_path: &x.uri_path,
            access_key_id: &x.access_key_id,
            secret: &secret,
            region: &self.loc.region,
        };
        let port = self.xks_port()?;
        let out = match tokio::time::timeout(XKS_TIMEOUT, port.call(&target, suffix, body)).await {
            Ok(r) => r,
            Err(_) => Err(XksCallError::Timeout),
        };
        if let Err(e) = &out {
            tracing::warn!(custom_key_store = %r.id, call = suffix, error = ?e, "XKS proxy call failed");
        }
        out
    }

    /// GetHealthStatus: `Ok` when at least one external key manager is
    /// not `UNAVAILABLE`.
    pub(super) async fn xks_health(
        &self,
        r: &CustomKeyStoreRecord,
        ctx_request_id: &str,
        operation: &str,
    ) -> std::result::Result<(), XksCallError> {
        let body = json!({"requestMetadata": {"kmsRequestId": ctx_request_id, "kmsOperation": operation}});
        let v = self.xks_call(r, "health", &body).await?;
        let fleet = v["ekmFleetDetails"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| XksCallError::Malformed("ekmFleetDetails is missing".into()))?;
        if v["xksProxyFleetSize"].as_i64().is_none_or(|n| n < 1) {
            return Err(XksCallError::Malformed("xksProxyFleetSize is missing".into()));
        }
        if fleet.iter().all(|e| e["healthStatus"] == "UNAVAILABLE") {
            return Err(XksCallError::Connect("every external key manager is UNAVAILABLE".into()));
        }
        Ok(())
    }

    /// The XKS members of CreateCustomKeyStore, checked: the record to keep
    /// and the secret access key.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn xks_members(
        &self,
        id: &str,
        endpoint: Option<String>,
        path: Option<String>,
        connectivity: Option<String>,
        vpc_name: Option<String>,
        vpc_owner: Option<String>,
        cred: Option<XksProxyAuthenticationCredential>,
    ) -> Result<(XksProxyRecord, Vec<u8>)> {
        let connectivity = match connectivity.as_deref() {
            Some(c) => XksProxyConnectivityType::parse(c).ok_or_else(|| Error::internal("validated enum"))?,
            None => XksProxyConnectivityType::PublicEndpoint,
        };
        let (Some(uri_endpoint), Some(uri_path), Some(cred)) = (endpoint, path, cred) else {
            return Err(Error::Validation(
                "XksProxyUriEndpoint, XksProxyUriPath and XksProxyAuthenticationCredential are required for a custom key store of type EXTERNAL_KEY_STORE.".into(),
            ));
        };
        match connectivity {
            XksProxyConnectivityType::VpcEndpointService => {
                let Some(name) = vpc_name else {
                    return Err(Error::Validation(
                        "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is VPC_ENDPOINT_SERVICE."
                            .into(),
                    ));
                };
                return Err(vpc_not_found(&name));
            }
            XksProxyConnectivityType::PublicEndpoint => {
                if vpc_name.is_some() || vpc_owner.is_some() {
                    return Err(Error::Validation(
                        "XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are valid only when XksProxyConnectivity is VPC_ENDPOINT_SERVICE.".into(),
                    ));
                }
            }
        }
        let access_key_id = cred.access_key_id.map(|s| s.expose().to_string()).unwrap_or_default();
        let secret = cred.raw_secret_access_key.ok_or_else(|| Error::internal("validated member"))?;
        let sealed = self.shared.root.seal(&CustomKeyStoreRecord::secret_binding(id), secret.expose().as_bytes())?;
        Ok((
            XksProxyRecord {
                connectivity,
                uri_endpoint,
                uri_path,
                access_key_id,
                vpc_endpoint_service_name: None,
                vpc_endpoint_service_owner: None,
            },
            sealed,
        ))
    }

    /// Endpoint and path must be unique among the account's stores.
    pub(super) fn xks_uri_in_use(&self, account: &str, except: &str, x: &XksProxyRecord) -> Result<()> {
        let taken = self.custom_key_stores.read().map_err(poisoned)?.values().any(|s| {
            s.account == account
                && s.id != except
                && s.xks.as_ref().is_some_and(|o| o.uri_endpoint == x.uri_endpoint && o.uri_path == x.uri_path)
        });
        if taken {
            return Err(Error::XksProxyUriInUse(format!(
                "The combination of XksProxyUriEndpoint {} and XksProxyUriPath {} is already associated with an external key store in this account and Region.",
                x.uri_endpoint, x.uri_path
            )));
        }
        Ok(())
    }

    /// CreateKey in an external key store: the external key must exist,
    /// be AES_256 with ENCRYPT and DECRYPT, be ENABLED, and not back
    /// another key of the store.
    pub(super) async fn xks_check_key(&self, ctx: &RequestContext, store_id: &str, xks_key_id: &str) -> Result<()> {
        let r = self.custom_key_store(ctx, store_id)?;
        if r.state != ConnectionStateType::Connected {
            return Err(Error::CustomKeyStoreInvalidState(NOT_CONNECTED.into()));
        }
        let in_use = self
            .keys_in_store(&r)
            .await?
            .iter()
            .any(|k| k.custom_key_store.as_ref().and_then(|c| c.xks_key_id.as_deref()) == Some(xks_key_id));
        if in_use {
            return Err(Error::XksKeyAlreadyInUse(format!(
                "The external key {xks_key_id} is already associated with a KMS key in custom key store {store_id}."
            )));
        }
        let body = json!({"requestMetadata": {
            "awsPrincipalArn": ctx.principal.arn,
            "kmsOperation": "CreateKey",
            "kmsRequestId": ctx.request_id,
        }});
        let v = self
            .xks_call(&r, &format!("keys/{xks_key_id}/metadata"), &body)
            .await
            .map_err(|e| map_error(&e, XksUse::CreateKey))?;
        let usage: Vec<&str> =
            v["keyUsage"].as_array().map(|a| a.iter().filter_map(|u| u.as_str()).collect()).unwrap_or_default();
        let (Some(spec), Some(status)) = (v["keySpec"].as_str(), v["keyStatus"].as_str()) else {
            return Err(Error::CustomKeyStoreInvalidState(MALFORMED.into()));
        };
        if spec != "AES_256" || !usage.contains(&"ENCRYPT") || !usage.contains(&"DECRYPT") || status != "ENABLED" {
            return Err(Error::XksKeyInvalidConfiguration(format!(
                "The external key {xks_key_id} must be an AES_256 key with ENCRYPT and DECRYPT, and ENABLED; its proxy says {spec}, {usage:?}, {status}."
            )));
        }
        Ok(())
    }

    fn xks_place(&self, k: &LiveKey) -> Result<(CustomKeyStoreRecord, String)> {
        let place = k.record.custom_key_store.as_ref().ok_or_else(|| Error::internal("XKS key without a store"))?;
        let r = self
            .custom_key_stores
            .read()
            .map_err(poisoned)?
            .get(&place.id)
            .cloned()
            .ok_or_else(|| Error::internal("XKS key's store is gone"))?;
        if r.state != ConnectionStateType::Connected {
            return Err(Error::InvalidState(NOT_CONNECTED.into()));
        }
        let id = place.xks_key_id.clone().ok_or_else(|| Error::internal("XKS key without XksKeyId"))?;
        Ok((r, id))
    }

    fn xks_metadata(ctx: &RequestContext, k: &LiveKey, operation: &str) -> Value {
        json!({
            "awsPrincipalArn": ctx.principal.arn,
            "kmsKeyArn": k.arn,
            "kmsOperation": operation,
            "kmsRequestId": ctx.request_id,
        })
    }

    /// The proxy's layer of double encryption: what follows the header.
    pub(super) async fn xks_encrypt(
        &self,
        ctx: &RequestContext,
        k: &LiveKey,
        operation: &str,
        aad: &[u8],
        inner: &[u8],
    ) -> Result<Vec<u8>> {
        let (r, id) = self.xks_place(k)?;
        let body = json!({
            "requestMetadata": Self::xks_metadata(ctx, k, operation),
            "additionalAuthenticatedData": b64(aad),
            "plaintext": b64(inner),
            "encryptionAlgorithm": "AES_GCM",
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
        });
        let answer = async {
            let v = self.xks_call(&r, &format!("keys/{id}/encrypt"), &body).await?;
            let ct = unb64(&v, "ciphertext")?;
            let iv = unb64(&v, "initializationVector")?;
            let tag = unb64(&v, "authenticationTag")?;
            let meta = match v.get("ciphertextMetadata") {
                Some(Value::String(_)) => unb64(&v, "ciphertextMetadata")?,
                _ => vec![],
            };
            let cdiv = unb64(&v, "ciphertextDataIntegrityValue")?;
            if !(iv.len() == 12 || iv.len() == 16) || tag.len() != 16 || meta.len() > 20 || ct.len() != inner.len() {
                return Err(XksCallError::Malformed("ciphertext, IV, tag or metadata of the wrong size".into()));
            }
            let expected = crate::crypto::sha256(&[aad, &meta, &iv, &ct, &tag].concat());
            if !crate::crypto::ct_eq(&expected, &cdiv) {
                return Err(XksCallError::Malformed("the ciphertext data integrity value does not match".into()));
            }
            let mut out = Vec::with_capacity(2 + iv.len() + 16 + meta.len() + ct.len());
            out.push(iv.len() as u8);
            out.extend_from_slice(&iv);
            out.extend_from_slice(&tag);
            out.push(meta.len() as u8);
            out.extend_from_slice(&meta);
            out.extend_from_slice(&ct);
            Ok(out)
        };
        answer.await.map_err(|e| map_error(&e, XksUse::Crypto))
    }

    /// The inverse: the inner ciphertext (nonce, ciphertext, tag) back.
    pub(super) async fn xks_decrypt(
        &self,
        ctx: &RequestContext,
        k: &LiveKey,
        operation: &str,
        aad: &[u8],
        outer: &[u8],
    ) -> Result<Vec<u8>> {
        let (iv, tag, meta, ct) = split_outer(outer).ok_or(Error::InvalidCiphertext)?;
        let (r, id) = self.xks_place(k)?;
        let mut body = json!({
            "requestMetadata": Self::xks_metadata(ctx, k, operation),
            "additionalAuthenticatedData": b64(aad),
            "ciphertext": b64(ct),
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": b64(iv),
            "authenticationTag": b64(tag),
        });
        if !meta.is_empty() {
            body["ciphertextMetadata"] = Value::String(b64(meta));
        }
        let answer = async {
            let v = self.xks_call(&r, &format!("keys/{id}/decrypt"), &body).await?;
            unb64(&v, "plaintext")
        };
        answer.await.map_err(|e| map_error(&e, XksUse::Crypto))
    }
}

/// IV, tag, metadata and ciphertext of the proxy's layer.
type Outer<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

fn split_outer(b: &[u8]) -> Option<Outer<'_>> {
    let (&iv_len, rest) = b.split_first()?;
    let iv_len = iv_len as usize;
    if iv_len != 12 && iv_len != 16 {
        return None;
    }
    let (iv, rest) = rest.split_at_checked(iv_len)?;
    let (tag, rest) = rest.split_at_checked(16)?;
    let (&m_len, rest) = rest.split_first()?;
    let (meta, ct) = rest.split_at_checked(m_len as usize)?;
    if meta.len() > 20 || ct.is_empty() {
        return None;
    }
    Some((iv, tag, meta, ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_table() {
        let p = |n: &str| XksCallError::Proxy { status: 400, error_name: Some(n.into()) };
        assert!(matches!(
            map_error(&p("AuthenticationFailedException"), XksUse::Store),
            Error::XksProxyIncorrectAuthenticationCredential(_)
        ));
        assert!(matches!(
            map_error(&p("AuthenticationFailedException"), XksUse::CreateKey),
            Error::CustomKeyStoreInvalidState(_)
        ));
        assert!(matches!(map_error(&p("KeyNotFoundException"), XksUse::CreateKey), Error::XksKeyNotFound(_)));
        assert!(matches!(
            map_error(&p("InvalidStateException"), XksUse::CreateKey),
            Error::XksKeyInvalidConfiguration(_)
        ));
        assert!(matches!(
            map_error(&p("InvalidUriPathException"), XksUse::Store),
            Error::XksProxyInvalidConfiguration(_)
        ));
        assert!(matches!(map_error(&XksCallError::Timeout, XksUse::Store), Error::XksProxyUriUnreachable(_)));
        assert!(matches!(
            map_error(&XksCallError::Malformed("x".into()), XksUse::Store),
            Error::XksProxyInvalidResponse(_)
        ));
        assert!(matches!(map_error(&XksCallError::Timeout, XksUse::Crypto), Error::InvalidState(_)));
        assert_eq!(connection_code(&p("AuthenticationFailedException")), ConnectionErrorCodeType::InvalidCredentials);
        assert_eq!(connection_code(&XksCallError::Connect("x".into())), ConnectionErrorCodeType::XksProxyNotReachable);
        assert_eq!(
            connection_code(&XksCallError::Tls("x".into())),
            ConnectionErrorCodeType::XksProxyInvalidTlsConfiguration
        );
    }

    #[test]
    fn outer_layer() {
        let mut b = vec![12];
        b.extend([1u8; 12]);
        b.extend([2u8; 16]);
        b.push(0);
        b.extend([3u8; 40]);
        let (iv, tag, meta, ct) = split_outer(&b).unwrap();
        assert_eq!((iv.len(), tag.len(), meta.len(), ct.len()), (12, 16, 0, 40));
        assert!(split_outer(&b[..20]).is_none());
        b[0] = 13;
        assert!(split_outer(&b).is_none());
    }
}
