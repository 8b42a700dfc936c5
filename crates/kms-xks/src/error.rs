//! The proxy's errors and their one mapping to the spec's error names and
//! HTTP status codes (spec, "Error codes"). The body is
//! `{"errorName": ..., "errorMessage": ...}`; messages are printable ASCII
//! under 512 characters and never carry secrets, plaintext or key
//! material.

/// Every way a proxy call fails.
#[derive(Debug, thiserror::Error)]
pub enum XksError {
    /// 400: an input parameter is invalid.
    #[error("{0}")]
    Validation(String),
    /// 400: the external key is disabled.
    #[error("{0}")]
    InvalidState(String),
    /// 400: ciphertext, IV, AAD or tag do not authenticate (Decrypt).
    #[error("{0}")]
    InvalidCiphertext(String),
    /// 400: the key does not support the operation.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// 401: the SigV4 signature does not verify. The detail is logged, the
    /// client gets a generic message.
    #[error("{0}")]
    AuthenticationFailed(String),
    /// 403: refused by the proxy's policy.
    #[error("{0}")]
    AccessDenied(String),
    /// 404: no such external key.
    #[error("{0}")]
    KeyNotFound(String),
    /// 404: the URI path is not one the proxy serves.
    #[error("{0}")]
    InvalidUriPath(String),
    /// 429: too many requests.
    #[error("{0}")]
    Throttling(String),
    /// 501: not implemented, or a size beyond what this proxy supports.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// 503: a dependency (the token) timed out.
    #[error("{0}")]
    DependencyTimeout(String),
    /// 500: logged in full, answered with a generic message.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, XksError>;

impl XksError {
    /// The spec's error name and HTTP status.
    pub fn name_and_status(&self) -> (&'static str, u16) {
        match self {
            XksError::Validation(_) => ("ValidationException", 400),
            XksError::InvalidState(_) => ("InvalidStateException", 400),
            XksError::InvalidCiphertext(_) => ("InvalidCiphertextException", 400),
            XksError::InvalidKeyUsage(_) => ("InvalidKeyUsageException", 400),
            XksError::AuthenticationFailed(_) => ("AuthenticationFailedException", 401),
            XksError::AccessDenied(_) => ("AccessDeniedException", 403),
            XksError::KeyNotFound(_) => ("KeyNotFoundException", 404),
            XksError::InvalidUriPath(_) => ("InvalidUriPathException", 404),
            XksError::Throttling(_) => ("ThrottlingException", 429),
            XksError::UnsupportedOperation(_) => ("UnsupportedOperationException", 501),
            XksError::DependencyTimeout(_) => ("DependencyTimeoutException", 503),
            XksError::Internal(_) => ("InternalException", 500),
        }
    }

    /// What the client is told: the message, except for authentication
    /// and internal failures, whose detail only the log gets.
    pub fn client_message(&self) -> String {
        let m = match self {
            XksError::AuthenticationFailed(_) => {
                "The request was rejected due to an invalid AWS SigV4 signature.".to_string()
            }
            XksError::Internal(_) => "The XKS proxy failed to process the request.".to_string(),
            other => other.to_string(),
        };
        printable(&m)
    }

    /// The JSON body of the error response.
    pub fn body(&self) -> Vec<u8> {
        let (name, _) = self.name_and_status();
        serde_json::to_vec(&serde_json::json!({"errorName": name, "errorMessage": self.client_message()}))
            .unwrap_or_default()
    }
}

/// Printable ASCII only (0x20..=0x7e), under 512 characters.
fn printable(s: &str) -> String {
    s.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).take(511).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_printable_ascii_and_short() {
        let e = XksError::Validation(format!("bad \u{e9}\n{}", "x".repeat(600)));
        let m = e.client_message();
        assert!(m.len() < 512);
        assert!(m.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }

    #[test]
    fn internal_details_stay_in_the_log() {
        let e = XksError::Internal("store at /secret/path failed".into());
        assert!(!e.client_message().contains("/secret"));
        assert_eq!(e.name_and_status(), ("InternalException", 500));
    }
}
