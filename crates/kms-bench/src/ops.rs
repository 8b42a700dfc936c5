//! The operations the load generator knows, as data. Adding one is one
//! entry in [`OPS`]: its name, the key it needs (created in setup with
//! CreateKey), whether it needs a ciphertext or a second key, and the
//! request body.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::client::{Call, Conn};

/// A kind of key an operation needs; setup creates one of each kind used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Symmetric,
    /// A second symmetric key (ReEncrypt's destination).
    SymmetricDestination,
    /// A symmetric key rotated on demand 25 times (AWS's limit): 26
    /// materials; its ciphertext is made under the newest.
    SymmetricRotated,
    Rsa2048Sign,
    EccP256Sign,
    Hmac256,
}

impl KeyKind {
    fn create_key_body(self) -> Value {
        let (spec, usage) = match self {
            KeyKind::Symmetric | KeyKind::SymmetricDestination | KeyKind::SymmetricRotated => {
                ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
            }
            KeyKind::Rsa2048Sign => ("RSA_2048", "SIGN_VERIFY"),
            KeyKind::EccP256Sign => ("ECC_NIST_P256", "SIGN_VERIFY"),
            KeyKind::Hmac256 => ("HMAC_256", "GENERATE_VERIFY_MAC"),
        };
        json!({
            "KeySpec": spec,
            "KeyUsage": usage,
            "Description": "kms-bench",
        })
    }
}

/// What setup made for an operation.
pub struct Fixture {
    pub key_id: String,
    /// Set when the spec asks for `dest_key`.
    pub dest_key_id: String,
    /// Base64 ciphertext of 32 bytes under `key_id`, when the spec asks.
    pub ciphertext: String,
}

pub enum Kind {
    /// Unsigned `GET <path>`: the ceiling of the HTTP stack.
    Get(&'static str),
    Kms {
        /// `X-Amz-Target`.
        target: &'static str,
        key: KeyKind,
        needs_ciphertext: bool,
        needs_dest_key: bool,
        body: fn(&Fixture) -> Value,
    },
}

pub struct OpSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// In the default `--ops` set.
    pub default: bool,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Deterministic, non-constant plaintext of `n` bytes.
pub fn plaintext(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|i| (i * 131 + 7) as u8).collect();
    b64(&bytes)
}

const fn kms(name: &'static str, target: &'static str, key: KeyKind, body: fn(&Fixture) -> Value) -> OpSpec {
    OpSpec {
        name,
        kind: Kind::Kms { target, key, needs_ciphertext: false, needs_dest_key: false, body },
        default: true,
    }
}

const fn with_ciphertext(mut op: OpSpec) -> OpSpec {
    if let Kind::Kms { ref mut needs_ciphertext, .. } = op.kind {
        *needs_ciphertext = true;
    }
    op
}

const fn with_dest_key(mut op: OpSpec) -> OpSpec {
    if let Kind::Kms { ref mut needs_dest_key, .. } = op.kind {
        *needs_dest_key = true;
    }
    op
}

pub static OPS: &[OpSpec] = &[
    kms(
        "encrypt-32",
        "TrentService.Encrypt",
        KeyKind::Symmetric,
        |f| json!({"KeyId": f.key_id, "Plaintext": plaintext(32)}),
    ),
    kms(
        "encrypt-4k",
        "TrentService.Encrypt",
        KeyKind::Symmetric,
        |f| json!({"KeyId": f.key_id, "Plaintext": plaintext(4096)}),
    ),
    with_ciphertext(kms(
        "decrypt",
        "TrentService.Decrypt",
        KeyKind::Symmetric,
        |f| json!({"CiphertextBlob": f.ciphertext}),
    )),
    // The same two with a key of 26 materials (docs/PERFORMANCE.md).
    kms(
        "encrypt-32-rotated",
        "TrentService.Encrypt",
        KeyKind::SymmetricRotated,
        |f| json!({"KeyId": f.key_id, "Plaintext": plaintext(32)}),
    ),
    with_ciphertext(kms(
        "decrypt-rotated",
        "TrentService.Decrypt",
        KeyKind::SymmetricRotated,
        |f| json!({"CiphertextBlob": f.ciphertext}),
    )),
    kms(
        "generate-data-key",
        "TrentService.GenerateDataKey",
        KeyKind::Symmetric,
        |f| json!({"KeyId": f.key_id, "KeySpec": "AES_256"}),
    ),
    with_dest_key(with_ciphertext(kms(
        "re-encrypt",
        "TrentService.ReEncrypt",
        KeyKind::Symmetric,
        |f| json!({"CiphertextBlob": f.ciphertext, "DestinationKeyId": f.dest_key_id}),
    ))),
    OpSpec { name: "health", kind: Kind::Get("/health"), default: true },
    kms("sign-rsa2048", "TrentService.Sign", KeyKind::Rsa2048Sign, |f| {
        json!({"KeyId": f.key_id, "Message": plaintext(32), "MessageType": "RAW",
                   "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"})
    }),
    kms("sign-p256", "TrentService.Sign", KeyKind::EccP256Sign, |f| {
        json!({"KeyId": f.key_id, "Message": plaintext(32), "MessageType": "RAW",
                   "SigningAlgorithm": "ECDSA_SHA_256"})
    }),
    kms(
        "generate-mac",
        "TrentService.GenerateMac",
        KeyKind::Hmac256,
        |f| json!({"KeyId": f.key_id, "Message": plaintext(32), "MacAlgorithm": "HMAC_SHA_256"}),
    ),
];

pub fn find(name: &str) -> Option<&'static OpSpec> {
    OPS.iter().find(|o| o.name == name)
}

pub fn default_names() -> Vec<&'static str> {
    OPS.iter().filter(|o| o.default).map(|o| o.name).collect()
}

pub fn all_names() -> Vec<&'static str> {
    OPS.iter().map(|o| o.name).collect()
}

/// On-demand rotations of [`KeyKind::SymmetricRotated`].
const ROTATIONS: usize = 25;

/// An external key store to make keys in (`--xks-endpoint`).
pub struct XksBench {
    pub endpoint: String,
    pub path: String,
    pub access_key: String,
    pub secret: String,
    pub keys: Vec<String>,
}

/// Creates keys and ciphertexts once and shares them between operations.
pub struct Setup {
    conn: Conn,
    keys: HashMap<KeyKind, String>,
    ciphertexts: HashMap<KeyKind, String>,
    /// The HSM key store symmetric keys are made in (`--hsm-cluster`).
    custom_key_store: Option<String>,
    /// The external key store (and its external key ids) symmetric keys
    /// are made in (`--xks-store`).
    xks: Option<(String, Vec<String>)>,
}

impl Setup {
    pub fn new(conn: Conn) -> Self {
        Setup { conn, keys: HashMap::new(), ciphertexts: HashMap::new(), custom_key_store: None, xks: None }
    }

    /// Make the symmetric keys in a new external key store on the proxy
    /// of `x`, once it is connected.
    pub async fn use_xks(&mut self, x: XksBench) -> Result<(), String> {
        let body = json!({
            "CustomKeyStoreName": format!("kms-bench-xks-{}", std::process::id()),
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyUriEndpoint": x.endpoint,
            "XksProxyUriPath": x.path,
            "XksProxyConnectivity": "PUBLIC_ENDPOINT",
            "XksProxyAuthenticationCredential": {"AccessKeyId": x.access_key, "RawSecretAccessKey": x.secret},
        });
        // A store on this proxy made by an earlier run is used again (the
        // endpoint and path of a store are unique in an account).
        let all = self.conn.call("TrentService.DescribeCustomKeyStores", &json!({})).await?;
        let existing = all["CustomKeyStores"].as_array().and_then(|a| {
            a.iter().find(|s| {
                s["XksProxyConfiguration"]["UriEndpoint"] == x.endpoint.as_str()
                    && s["XksProxyConfiguration"]["UriPath"] == x.path.as_str()
            })
        });
        let id = match existing {
            Some(s) => s["CustomKeyStoreId"].as_str().unwrap_or_default().to_string(),
            None => {
                let out = self.conn.call("TrentService.CreateCustomKeyStore", &body).await?;
                let id =
                    out["CustomKeyStoreId"].as_str().ok_or("CreateCustomKeyStore: no CustomKeyStoreId")?.to_string();
                self.conn.call("TrentService.ConnectCustomKeyStore", &json!({"CustomKeyStoreId": id})).await?;
                id
            }
        };
        for _ in 0..1000 {
            let d = self.conn.call("TrentService.DescribeCustomKeyStores", &json!({"CustomKeyStoreId": id})).await?;
            match d["CustomKeyStores"][0]["ConnectionState"].as_str() {
                Some("CONNECTED") => {
                    self.xks = Some((id, x.keys));
                    return Ok(());
                }
                Some("CONNECTING") => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                other => return Err(format!("custom key store {id}: {other:?} ({})", d["CustomKeyStores"][0])),
            }
        }
        Err(format!("custom key store {id} did not connect"))
    }

    /// Make symmetric keys in a new custom key store on `cluster`, once it
    /// is connected.
    pub async fn use_hsm(&mut self, cluster: &str, pin: &str) -> Result<(), String> {
        let body = json!({
            "CustomKeyStoreName": format!("kms-bench-{}", std::process::id()),
            "CloudHsmClusterId": cluster,
            "TrustAnchorCertificate": "kms-bench",
            "KeyStorePassword": pin,
        });
        let out = self.conn.call("TrentService.CreateCustomKeyStore", &body).await?;
        let id = out["CustomKeyStoreId"].as_str().ok_or("CreateCustomKeyStore: no CustomKeyStoreId")?.to_string();
        self.conn.call("TrentService.ConnectCustomKeyStore", &json!({"CustomKeyStoreId": id})).await?;
        for _ in 0..1000 {
            let d = self.conn.call("TrentService.DescribeCustomKeyStores", &json!({"CustomKeyStoreId": id})).await?;
            match d["CustomKeyStores"][0]["ConnectionState"].as_str() {
                Some("CONNECTED") => {
                    self.custom_key_store = Some(id);
                    return Ok(());
                }
                Some("CONNECTING") => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                other => return Err(format!("custom key store {id}: {other:?} ({})", d["CustomKeyStores"][0])),
            }
        }
        Err(format!("custom key store {id} did not connect"))
    }

    async fn key(&mut self, kind: KeyKind) -> Result<String, String> {
        if let Some(id) = self.keys.get(&kind) {
            return Ok(id.clone());
        }
        let mut body = kind.create_key_body();
        if let (Some(store), KeyKind::Symmetric | KeyKind::SymmetricDestination) = (&self.custom_key_store, kind) {
            body["Origin"] = json!("AWS_CLOUDHSM");
            body["CustomKeyStoreId"] = json!(store);
        }
        if let (Some((store, ids)), KeyKind::Symmetric | KeyKind::SymmetricDestination) = (&self.xks, kind) {
            let i = usize::from(kind == KeyKind::SymmetricDestination);
            let xks_key = ids.get(i).ok_or("--xks-keys needs two external key ids")?;
            body["Origin"] = json!("EXTERNAL_KEY_STORE");
            body["CustomKeyStoreId"] = json!(store);
            body["XksKeyId"] = json!(xks_key);
        }
        let out = self.conn.call("TrentService.CreateKey", &body).await?;
        let id =
            out["KeyMetadata"]["KeyId"].as_str().ok_or("CreateKey: no KeyMetadata.KeyId in the response")?.to_string();
        if kind == KeyKind::SymmetricRotated {
            for _ in 0..ROTATIONS {
                self.rotate(&id).await?;
            }
        }
        self.keys.insert(kind, id.clone());
        Ok(id)
    }

    /// RotateKeyOnDemand, then wait until it has finished.
    async fn rotate(&mut self, id: &str) -> Result<(), String> {
        self.conn.call("TrentService.RotateKeyOnDemand", &json!({"KeyId": id})).await?;
        for _ in 0..1000 {
            let s = self.conn.call("TrentService.GetKeyRotationStatus", &json!({"KeyId": id})).await?;
            if s.get("OnDemandRotationStartDate").is_none() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(format!("the on-demand rotation of {id} did not finish"))
    }

    async fn ciphertext(&mut self, kind: KeyKind, key_id: &str) -> Result<String, String> {
        if let Some(c) = self.ciphertexts.get(&kind) {
            return Ok(c.clone());
        }
        let out = self.conn.call("TrentService.Encrypt", &json!({"KeyId": key_id, "Plaintext": plaintext(32)})).await?;
        let blob = out["CiphertextBlob"].as_str().ok_or("Encrypt: no CiphertextBlob in the response")?.to_string();
        self.ciphertexts.insert(kind, blob.clone());
        Ok(blob)
    }

    /// The request `op` sends, with everything it needs created.
    pub async fn prepare(&mut self, op: &OpSpec) -> Result<Call, String> {
        match &op.kind {
            Kind::Get(path) => Ok(Call::Get(path)),
            Kind::Kms { target, key, needs_ciphertext, needs_dest_key, body } => {
                let key_id = self.key(*key).await?;
                let ciphertext = match needs_ciphertext {
                    true => self.ciphertext(*key, &key_id).await?,
                    false => String::new(),
                };
                let dest_key_id = match needs_dest_key {
                    true => self.key(KeyKind::SymmetricDestination).await?,
                    false => String::new(),
                };
                let fixture = Fixture { key_id, dest_key_id, ciphertext };
                Call::kms(target, &body(&fixture))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_known() {
        let names = all_names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for n in default_names() {
            assert!(find(n).is_some());
        }
        assert!(default_names().contains(&"health"));
        assert!(default_names().contains(&"sign-p256"));
    }

    #[test]
    fn plaintext_sizes() {
        let b = base64::engine::general_purpose::STANDARD;
        assert_eq!(b.decode(plaintext(32)).unwrap().len(), 32);
        assert_eq!(b.decode(plaintext(4096)).unwrap().len(), 4096);
    }
}
