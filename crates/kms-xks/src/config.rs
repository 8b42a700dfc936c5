//! The proxy's configuration (`kms-xks-proxy.example.toml`): one TOML file, unknown keys rejected,
//! validated into a [`ProxyConfig`] before anything starts. Secrets (the
//! SigV4 secret access keys) come from files or environment variables,
//! never from the file itself.
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! data_dir = "/var/lib/kms-xks"
//! regions = ["us-east-1"]            # credential scopes accepted
//! tls_cert_file = "/etc/kms-xks/cert.pem"
//! tls_key_file = "/etc/kms-xks/key.pem"
//! # client_ca_file = "/etc/kms-xks/kms-client-ca.pem"   # mTLS (optional)
//! # client_subject = "cks.kms.us-east-1.amazonaws.com"
//!
//! [[path]]
//! uri_path = "/tenant-a/kms/xks/v1"  # the store's XksProxyUriPath
//! allowed_principals = ["arn:aws:iam::111122223333:*"]   # optional
//! allowed_key_arns = ["arn:aws:kms:us-east-1:111122223333:key/*"]
//! [[path.credentials]]
//! access_key_id = "AKIAXKSPROXYTENANTAA"
//! secret_access_key_file = "/etc/kms-xks/tenant-a.secret"
//! ```

use std::path::{Path, PathBuf};

use kms_core::crypto::SecretString;
use serde::Deserialize;

/// The file, as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub regions: Vec<String>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    pub client_subject: Option<String>,
    /// Plain HTTP (no TLS): only behind a TLS-terminating load balancer.
    #[serde(default)]
    pub insecure_http: bool,
    pub root_key_file: Option<PathBuf>,
    pub audit_file: Option<PathBuf>,
    #[serde(default, rename = "path")]
    pub paths: Vec<PathFile>,
    pub testing: Option<Testing>,
    /// Keys in a PKCS#11 token (`keys create --pkcs11`).
    pub pkcs11: Option<Pkcs11File>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11File {
    pub module: PathBuf,
    pub token_label: String,
    pub pin_file: Option<PathBuf>,
    pub pin_env: Option<String>,
}

/// The token, validated, with its user PIN.
#[derive(Debug)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    pub token_label: String,
    pub pin: SecretString,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathFile {
    pub uri_path: String,
    #[serde(default)]
    pub credentials: Vec<CredentialFile>,
    pub allowed_principals: Option<Vec<String>>,
    pub allowed_key_arns: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialFile {
    pub access_key_id: String,
    pub secret_access_key_file: Option<PathBuf>,
    pub secret_access_key_env: Option<String>,
}

/// Faults for tests of the KMS side (a slow or lying proxy). Never set in
/// production: the proxy logs a warning at start when it is.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Testing {
    /// Answer every request this many milliseconds late.
    #[serde(default)]
    pub delay_ms: u64,
    /// Flip a bit of every Encrypt response's ciphertext (after the CDIV
    /// is computed), so that the caller's integrity check fails.
    #[serde(default)]
    pub tamper_ciphertext: bool,
}

/// One served URI path with its credentials and policy.
#[derive(Debug)]
pub struct PathConfig {
    /// `[/<prefix>]/kms/xks/v1`, without a trailing slash.
    pub uri_path: String,
    pub credentials: Vec<(String, SecretString)>,
    pub allowed_principals: Option<Vec<String>>,
    pub allowed_key_arns: Option<Vec<String>>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct ProxyConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    pub regions: Vec<String>,
    /// `None` only with `insecure_http`.
    pub tls: Option<TlsFiles>,
    pub root_key_file: Option<PathBuf>,
    pub audit_file: PathBuf,
    pub paths: Vec<PathConfig>,
    pub testing: Testing,
    pub pkcs11: Option<Pkcs11Config>,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub client_subject: Option<String>,
}

/// Whether `p` is a valid `XksProxyUriPath` (the KMS model's pattern:
/// `^(/[a-zA-Z0-9\/_-]+/kms/xks/v\d{1,2})$|^(/kms/xks/v\d{1,2})$`, 10 to 128 characters).
pub fn valid_uri_path(p: &str) -> bool {
    if p.len() < 10 || p.len() > 128 {
        return false;
    }
    let Some(at) = p.rfind("/kms/xks/v") else { return false };
    let version = &p[at + "/kms/xks/v".len()..];
    if version.is_empty() || version.len() > 2 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let prefix = &p[..at];
    prefix.is_empty()
        || (prefix.len() >= 2
            && prefix.starts_with('/')
            && prefix[1..].bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-')))
}

fn read_secret(c: &CredentialFile) -> Result<SecretString, String> {
    let text = match (&c.secret_access_key_file, &c.secret_access_key_env) {
        (Some(f), None) => std::fs::read_to_string(f)
            .map_err(|e| format!("credentials {}: secret_access_key_file {}: {e}", c.access_key_id, f.display()))?,
        (None, Some(v)) => std::env::var(v)
            .map_err(|_| format!("credentials {}: the environment variable {v} is not set", c.access_key_id))?,
        _ => {
            return Err(format!(
                "credentials {}: give exactly one of secret_access_key_file and secret_access_key_env",
                c.access_key_id
            ))
        }
    };
    let s = text.trim().to_string();
    // The KMS model: RawSecretAccessKey is 43 to 64 of [a-zA-Z0-9/+=].
    if s.len() < 43 || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'='))
    {
        return Err(format!(
            "credentials {}: the secret access key must be 43 to 64 of A-Z a-z 0-9 / + =",
            c.access_key_id
        ));
    }
    Ok(SecretString::new(s))
}

/// Whether `id` is a valid access key id (the KMS model: 20 to 30 of A-Z 2-7).
pub fn valid_access_key_id(id: &str) -> bool {
    (20..=30).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

impl ProxyConfig {
    pub fn load(path: &Path) -> Result<ProxyConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::build(file)
    }

    pub fn build(f: FileConfig) -> Result<ProxyConfig, String> {
        let data_dir = f.data_dir.ok_or("data_dir is required")?;
        if f.regions.is_empty() {
            return Err("regions is required: the AWS Regions whose KMS signs requests (the SigV4 scope)".into());
        }
        let tls = match (f.insecure_http, f.tls_cert_file, f.tls_key_file) {
            (true, None, None) => None,
            (true, _, _) => return Err("insecure_http and tls_cert_file/tls_key_file exclude each other".into()),
            (false, Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: f.client_ca_file.clone(),
                client_subject: f.client_subject.clone(),
            }),
            (false, _, _) => return Err("tls_cert_file and tls_key_file are required (or insecure_http = true)".into()),
        };
        if tls.is_none() && (f.client_ca_file.is_some() || f.client_subject.is_some()) {
            return Err("client_ca_file and client_subject need TLS".into());
        }
        if f.client_subject.is_some() && f.client_ca_file.is_none() {
            return Err("client_subject needs client_ca_file".into());
        }
        if f.paths.is_empty() {
            return Err("at least one [[path]] is required".into());
        }
        let mut paths = Vec::new();
        for p in f.paths {
            let uri_path = p.uri_path.trim_end_matches('/').to_string();
            if !valid_uri_path(&uri_path) {
                return Err(format!(
                    "path {uri_path}: not a valid XksProxyUriPath ([/<prefix>]/kms/xks/v<N>, 10 to 128 characters)"
                ));
            }
            if paths.iter().any(|q: &PathConfig| q.uri_path == uri_path) {
                return Err(format!("path {uri_path}: given twice"));
            }
            if p.credentials.is_empty() {
                return Err(format!("path {uri_path}: at least one [[path.credentials]] is required"));
            }
            let mut credentials = Vec::new();
            for c in &p.credentials {
                if !valid_access_key_id(&c.access_key_id) {
                    return Err(format!(
                        "path {uri_path}: access key id {} must be 20 to 30 of A-Z 2-7",
                        c.access_key_id
                    ));
                }
                credentials.push((c.access_key_id.clone(), read_secret(c)?));
            }
            paths.push(PathConfig {
                uri_path,
                credentials,
                allowed_principals: p.allowed_principals,
                allowed_key_arns: p.allowed_key_arns,
            });
        }
        let pkcs11 = match f.pkcs11 {
            None => None,
            Some(p) => {
                let pin = match (&p.pin_file, &p.pin_env) {
                    (Some(f), None) => std::fs::read_to_string(f)
                        .map_err(|e| format!("pkcs11.pin_file {}: {e}", f.display()))?
                        .trim()
                        .to_string(),
                    (None, Some(v)) => std::env::var(v).map_err(|_| format!("pkcs11.pin_env: {v} is not set"))?,
                    _ => return Err("pkcs11: give exactly one of pin_file and pin_env".into()),
                };
                if p.token_label.is_empty() || p.token_label.len() > 32 {
                    return Err("pkcs11.token_label must be 1 to 32 characters".into());
                }
                Some(Pkcs11Config { module: p.module, token_label: p.token_label, pin: SecretString::new(pin) })
            }
        };
        Ok(ProxyConfig {
            pkcs11,
            listen: f.listen.unwrap_or_else(|| "127.0.0.1:8443".into()),
            audit_file: f.audit_file.unwrap_or_else(|| data_dir.join("xks-audit.jsonl")),
            data_dir,
            regions: f.regions,
            tls,
            root_key_file: f.root_key_file,
            paths,
            testing: f.testing.unwrap_or_default(),
        })
    }
}

/// A policy pattern: exact, or a prefix ending in `*`.
pub fn pattern_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths() {
        for ok in ["/kms/xks/v1", "/a/kms/xks/v1", "/a-b/c_d/kms/xks/v12"] {
            assert!(valid_uri_path(ok), "{ok}");
        }
        for bad in ["/kms/xks/v", "kms/xks/v1", "/a b/kms/xks/v1", "/kms/xks/v123", "/x/kms/xks/v1/", "/kms/xks/w1"] {
            assert!(!valid_uri_path(bad), "{bad}");
        }
    }

    #[test]
    fn the_example_parses() {
        let f: FileConfig = toml::from_str(include_str!("../../../kms-xks-proxy.example.toml")).unwrap();
        assert_eq!(f.paths[0].uri_path, "/kms/xks/v1");
        assert_eq!(f.regions, ["us-east-1"]);
        assert!(valid_access_key_id(&f.paths[0].credentials[0].access_key_id));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("listen = \"x\"\nbogus = 1\n").is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("arn:aws:iam::1:*", "arn:aws:iam::1:user/a"));
        assert!(!pattern_matches("arn:aws:iam::1:user/a", "arn:aws:iam::1:user/ab"));
    }
}
