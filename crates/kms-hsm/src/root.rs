//! The PKCS#11 token (an HSM, or SoftHSM2) that wraps the root key
//! (docs/ROOT-KEY.md, `[root_key.pkcs11]`): a non-extractable AES-256 key
//! in the token, found by its label (generated in the token on first use),
//! and AES-GCM run by the token. Every call is blocking work, run off the
//! async runtime by the caller.

use std::path::PathBuf;

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kms_core::crypto::SecretString;

use crate::token::err;

/// `[root_key.pkcs11]`, validated (the PIN read).
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The PKCS#11 module (a shared library).
    pub module: PathBuf,
    pub token_label: String,
    /// The label of the AES key in the token.
    pub key_label: String,
    /// The token's user PIN.
    pub pin: std::sync::Arc<SecretString>,
}

/// What the token was asked to protect is bound to this (GCM's AAD).
const AAD: &[u8] = b"kms root key v1";
const IV_LEN: usize = 12;

/// An open, logged-in session with the token (finalized when dropped).
struct Open {
    session: Session,
    _ctx: Pkcs11,
}

fn open(t: &TokenConfig) -> Result<Open, String> {
    let ctx = crate::token::load(&t.module)?;
    let slot = crate::token::slot(&ctx, &t.token_label)?
        .ok_or_else(|| format!("no PKCS#11 token labelled '{}' in {}", t.token_label, t.module.display()))?;
    let session = ctx.open_rw_session(slot).map_err(err("C_OpenSession"))?;
    let pin = AuthPin::new(t.pin.expose().into());
    session.login(UserType::User, Some(&pin)).map_err(|e| match e {
        cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::PinIncorrect, _) => {
            format!("the PIN of PKCS#11 token '{}' is incorrect", t.token_label)
        }
        e => format!("PKCS#11 C_Login: {e}"),
    })?;
    Ok(Open { session, _ctx: ctx })
}

/// The wrapping key, generated in the token when `create` and missing.
fn key(o: &Open, t: &TokenConfig, create: bool) -> Result<ObjectHandle, String> {
    let label = Attribute::Label(t.key_label.as_bytes().to_vec());
    let found = o
        .session
        .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES), label.clone()])
        .map_err(err("C_FindObjects"))?;
    match (found.as_slice(), create) {
        ([k], _) => Ok(*k),
        ([], true) => o
            .session
            .generate_key(&Mechanism::AesKeyGen, &crate::token::aes_key_template(&t.key_label))
            .map_err(err("C_GenerateKey")),
        ([], false) => Err(format!("PKCS#11 token '{}' has no AES key labelled '{}'", t.token_label, t.key_label)),
        (_, _) => Err(format!("PKCS#11 token '{}' has several AES keys labelled '{}'", t.token_label, t.key_label)),
    }
}

/// Encrypt `plaintext` with the token's key (made if missing): the IV and
/// the ciphertext with its tag.
pub fn wrap(t: &TokenConfig, plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let o = open(t)?;
    let k = key(&o, t, true)?;
    let mut iv = o.session.generate_random_vec(IV_LEN as u32).map_err(err("C_GenerateRandom"))?;
    let params = GcmParams::new(&mut iv, AAD, 128.into()).map_err(|e| format!("PKCS#11 GCM parameters: {e}"))?;
    let out = o.session.encrypt(&Mechanism::AesGcm(params), k, plaintext).map_err(err("C_Encrypt"))?;
    Ok((iv, out))
}

/// Decrypt what [`wrap`] made.
pub fn unwrap(t: &TokenConfig, iv: &[u8], ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let o = open(t)?;
    let k = key(&o, t, false)?;
    let mut iv = iv.to_vec();
    let params = GcmParams::new(&mut iv, AAD, 128.into()).map_err(|e| format!("PKCS#11 GCM parameters: {e}"))?;
    let out = o.session.decrypt(&Mechanism::AesGcm(params), k, ciphertext).map_err(err("C_Decrypt"))?;
    Ok(zeroize::Zeroizing::new(out))
}
