//! Grant ids and grant tokens.

use base64::Engine as _;

use crate::crypto::{fill_random, hex};
use crate::error::Result;

const TOKEN_PREFIX: &str = "kgt1.";

/// A new grant id (64 lowercase hex digits) and its grant token.
pub fn new_grant() -> Result<(String, String)> {
    let mut raw = [0u8; 64];
    fill_random(&mut raw)?;
    let id = hex(&raw[..32]);
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
    Ok((id, token))
}

/// The grant id a well-formed token names.
pub fn token_grant_id(token: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.strip_prefix(TOKEN_PREFIX)?).ok()?;
    (raw.len() == 64).then(|| hex(&raw[..32]))
}

pub fn is_grant_token(token: &str) -> bool {
    token_grant_id(token).is_some()
}

pub fn is_grant_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_name_their_grant() {
        let (id, token) = super::new_grant().unwrap();
        assert!(super::is_grant_id(&id));
        assert_eq!(super::token_grant_id(&token).as_deref(), Some(id.as_str()));
        assert!(!super::is_grant_token("garbage"));
    }
}
