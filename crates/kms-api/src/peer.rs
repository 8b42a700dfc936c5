//! The peer protocol between servers that replicate multi-Region keys
//! (docs/REGIONS.md): `POST /` with `X-Amz-Target: KmsPeer.<call>`, JSON
//! bodies, SigV4 with the deployment's shared peer secret (access key id
//! [`PEER_ACCESS_KEY_ID`], service [`PEER_SERVICE`], the receiving region),
//! and every answer signed back ([`RESPONSE_SIGNATURE_HEADER`]: an HMAC of
//! the request's signature and the answer's body under the same derived
//! key), so that both directions are authenticated and an answer cannot be
//! replayed for another request. Key material crosses only wrapped for the
//! receiving server's X25519 peer key (`kms_core::crypto::PeerWrap`).

use std::sync::Arc;

use aws_lc_rs::hmac;
use kms_core::crypto::SecretString;
use kms_core::identity::{Credential, CredentialResolver, Principal};
use kms_core::Error;

use crate::sigv4;

/// The SigV4 service name of peer calls.
pub const PEER_SERVICE: &str = "kms-peer";
/// The access key id peer calls are signed with (the secret is the peer secret).
pub const PEER_ACCESS_KEY_ID: &str = "KMSPEER";
/// The answer's signature.
pub const RESPONSE_SIGNATURE_HEADER: &str = "x-kms-peer-signature";
/// `X-Amz-Target` prefix of peer calls.
pub const TARGET_PREFIX: &str = "KmsPeer.";
/// Ask for the receiver's public key for wrapping material: `{}` ->
/// `{"PublicKey": base64}`.
pub const WRAPPING_KEY: &str = "KmsPeer.WrappingKey";
/// Deliver a `kms_core::service::PeerMessage`: the message -> `{}`.
pub const DELIVER: &str = "KmsPeer.Deliver";

/// The answer to [`WRAPPING_KEY`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct WrappingKeyResponse {
    #[serde(rename = "PublicKey", with = "kms_core::model::b64")]
    pub public_key: Vec<u8>,
}

/// The peer secret, as the credential peer calls verify against.
pub struct PeerAuth {
    cred: Arc<Credential>,
    pub(crate) verifier: sigv4::Verifier,
}

impl PeerAuth {
    pub fn new(secret: SecretString) -> Self {
        let principal = Principal::internal("kms-peer");
        PeerAuth {
            cred: Arc::new(Credential {
                access_key_id: PEER_ACCESS_KEY_ID.into(),
                secret,
                principal: Arc::new(principal),
            }),
            verifier: sigv4::Verifier::new(PEER_SERVICE),
        }
    }

    pub fn secret(&self) -> &SecretString {
        &self.cred.secret
    }
}

impl CredentialResolver for PeerAuth {
    fn resolve(&self, access_key_id: &str, session_token: Option<&str>) -> Result<Arc<Credential>, Error> {
        if access_key_id == PEER_ACCESS_KEY_ID && session_token.is_none() {
            Ok(self.cred.clone())
        } else {
            Err(Error::UnrecognizedClient)
        }
    }
}

/// The signature of an answer to the request whose `Authorization` header
/// is `authorization`: hex HMAC-SHA256, under the request's derived SigV4
/// key, of `kms-peer-response\n<request signature>\n<hex SHA-256 of body>`.
/// `None` when the header is not a SigV4 header.
pub fn response_signature(secret: &SecretString, authorization: &str, body: &[u8]) -> Option<String> {
    let auth = sigv4::parse_authorization(authorization).ok()?;
    let key = sigv4::signing_key(secret.expose(), auth.date, auth.region, auth.service);
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut msg = format!("kms-peer-response\n{}\n", auth.signature).into_bytes();
    msg.extend_from_slice(kms_core::crypto::hex(&kms_core::crypto::sha256(body)).as_bytes());
    Some(kms_core::crypto::hex(hmac::sign(&key, &msg).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_bound_to_the_request_and_the_secret() {
        let s = SecretString::new("peer secret".into());
        let auth = "AWS4-HMAC-SHA256 Credential=KMSPEER/20261202/us-west-2/kms-peer/aws4_request, SignedHeaders=host, Signature=abcd";
        let a = response_signature(&s, auth, b"{}").unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, response_signature(&s, auth, b"{ }").unwrap());
        assert_ne!(a, response_signature(&SecretString::new("other".into()), auth, b"{}").unwrap());
        assert_ne!(a, response_signature(&s, &auth.replace("abcd", "abce"), b"{}").unwrap());
        assert!(response_signature(&s, "Basic x", b"{}").is_none());
    }
}
