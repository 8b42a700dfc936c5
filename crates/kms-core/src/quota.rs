//! Request quotas (docs/QUOTAS.md): AWS's classes of operations, each a
//! token bucket per account and region, refilled continuously at its rate
//! (requests per second) and holding at most one second of it. A call over
//! its quota is `ThrottlingException` before the service does any work for
//! it (control-plane calls before their request is decoded; cryptographic
//! calls, whose class depends on the key, once the key is resolved and
//! before authorization and cryptography).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::model::{KeySpec, Operation};

/// AWS's message (HTTP 400).
pub const THROTTLED: &str = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";

/// A quota: what it counts, as named in the configuration and in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaClass {
    /// Symmetric cryptographic operations (and HMAC, and GenerateRandom).
    Symmetric,
    /// Cryptographic operations with RSA keys.
    Rsa,
    /// Cryptographic operations with ECC and SM2 keys.
    Ecc,
    /// Sign and Verify with ML-DSA keys.
    MlDsa,
    /// Encapsulate and Decapsulate with ML-KEM keys (no AWS figure; ours).
    MlKem,
    /// GenerateDataKeyPair(WithoutPlaintext) of one pair spec.
    DataKeyPair(KeySpec),
    /// Cryptographic operations with the keys of one custom key store, and
    /// its GenerateRandom: a bucket per store, charged on top of the
    /// account's (AWS: 1,800/s per store, not adjustable).
    CustomKeyStore,
    /// One control-plane operation's own quota.
    Operation(Operation),
}

impl QuotaClass {
    /// The name in `[quotas]` and in `/metrics`.
    pub fn name(self) -> String {
        match self {
            QuotaClass::Symmetric => "cryptographic-symmetric".into(),
            QuotaClass::Rsa => "cryptographic-rsa".into(),
            QuotaClass::Ecc => "cryptographic-ecc".into(),
            QuotaClass::MlDsa => "cryptographic-ml-dsa".into(),
            QuotaClass::MlKem => "cryptographic-ml-kem".into(),
            QuotaClass::DataKeyPair(s) => format!("GenerateDataKeyPair-{}", s.as_str()),
            QuotaClass::CustomKeyStore => "custom-key-store".into(),
            QuotaClass::Operation(op) => op.name().to_string(),
        }
    }

    pub fn parse(name: &str) -> Option<QuotaClass> {
        Some(match name {
            "cryptographic-symmetric" => QuotaClass::Symmetric,
            "cryptographic-rsa" => QuotaClass::Rsa,
            "cryptographic-ecc" => QuotaClass::Ecc,
            "cryptographic-ml-dsa" => QuotaClass::MlDsa,
            "cryptographic-ml-kem" => QuotaClass::MlKem,
            "custom-key-store" => QuotaClass::CustomKeyStore,
            _ => match name.strip_prefix("GenerateDataKeyPair-") {
                Some(spec) => QuotaClass::DataKeyPair(KeySpec::parse(spec)?),
                None => {
                    QuotaClass::Operation(Operation::from_name(name).filter(|op| control_plane_rate(*op).is_some())?)
                }
            },
        })
    }

    /// The class of a cryptographic operation with a key of `spec`.
    pub fn of_key(spec: KeySpec) -> QuotaClass {
        use KeySpec::*;
        match spec {
            SymmetricDefault | Hmac224 | Hmac256 | Hmac384 | Hmac512 => QuotaClass::Symmetric,
            Rsa2048 | Rsa3072 | Rsa4096 => QuotaClass::Rsa,
            EccNistP256 | EccNistP384 | EccNistP521 | EccSecgP256k1 | EccNistEdwards25519 | Sm2 => QuotaClass::Ecc,
            MlDsa44 | MlDsa65 | MlDsa87 => QuotaClass::MlDsa,
            MlKem512 | MlKem768 | MlKem1024 => QuotaClass::MlKem,
        }
    }

    /// AWS's default rate in `region` (requests per second).
    pub fn aws_rate(self, region: &str) -> f64 {
        match self {
            QuotaClass::Symmetric => match region {
                "us-east-1" | "us-west-2" | "eu-west-1" => 100_000.0,
                "us-east-2" | "ap-southeast-1" | "ap-southeast-2" | "ap-northeast-1" | "eu-central-1" | "eu-west-2" => {
                    20_000.0
                }
                _ => 10_000.0,
            },
            QuotaClass::Rsa | QuotaClass::Ecc | QuotaClass::MlDsa | QuotaClass::MlKem => 1_000.0,
            QuotaClass::CustomKeyStore => 1_800.0,
            QuotaClass::DataKeyPair(spec) => {
                let china = region.starts_with("cn-");
                match spec {
                    KeySpec::Rsa2048 if china => 1.0,
                    KeySpec::Rsa3072 if china => 0.5,
                    KeySpec::Rsa4096 if china => 0.1,
                    KeySpec::Rsa2048 => 20.0,
                    KeySpec::Rsa3072 => 4.0,
                    KeySpec::Rsa4096 => 1.0,
                    KeySpec::Sm2 => 25.0,
                    _ => 100.0,
                }
            }
            QuotaClass::Operation(op) => control_plane_rate(op).unwrap_or(f64::INFINITY),
        }
    }
}

/// AWS's per-operation quotas of the control plane (requests per second).
fn control_plane_rate(op: Operation) -> Option<f64> {
    use Operation::*;
    Some(match op {
        CancelKeyDeletion
        | ConnectCustomKeyStore
        | CreateAlias
        | CreateCustomKeyStore
        | CreateKey
        | DeleteCustomKeyStore
        | DescribeCustomKeyStores
        | DisableKey
        | DisableKeyRotation
        | DisconnectCustomKeyStore
        | EnableKey
        | GetKeyLastUsage
        | ReplicateKey
        | RotateKeyOnDemand
        | UntagResource
        | UpdateAlias
        | UpdateCustomKeyStore
        | UpdateKeyDescription
        | UpdatePrimaryRegion => 5.0,
        TagResource => 10.0,
        DeleteAlias
        | DeleteImportedKeyMaterial
        | EnableKeyRotation
        | ImportKeyMaterial
        | PutKeyPolicy
        | ScheduleKeyDeletion => 15.0,
        CreateGrant | RetireGrant | RevokeGrant => 50.0,
        ListGrants | ListKeyPolicies | ListKeyRotations | ListRetirableGrants => 100.0,
        ListAliases | ListKeys => 500.0,
        GetKeyPolicy | GetKeyRotationStatus => 1_000.0,
        DescribeKey | GetPublicKey | ListResourceTags => 2_000.0,
        GetParametersForImport => 1.0,
        _ => return None,
    })
}

/// The class an operation is charged to before it runs: its control-plane
/// quota, or the symmetric quota for GenerateRandom. `None` for the
/// cryptographic operations (charged by key, [`QuotaClass::of_key`]) and
/// for operations AWS gives no quota.
pub fn class_of_operation(op: Operation) -> Option<QuotaClass> {
    match op {
        Operation::GenerateRandom => Some(QuotaClass::Symmetric),
        op => control_plane_rate(op).map(|_| QuotaClass::Operation(op)),
    }
}

/// The configured quotas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaConfig {
    /// Start from AWS's default rates (else: no quota but the ones set).
    pub aws_preset: bool,
    /// Rates that replace the preset's for every account.
    pub rates: HashMap<QuotaClass, f64>,
    /// Rates for one account (over `rates` and the preset).
    pub accounts: HashMap<String, HashMap<QuotaClass, f64>>,
    /// Most keys an account may have in a region (in any state); `None`:
    /// no limit (the AWS preset: 100,000).
    pub keys_per_account: Option<u64>,
    /// Resource quotas that always apply; `None`: AWS's value.
    pub aliases_per_key: Option<usize>,
    pub grants_per_key: Option<usize>,
    pub key_policy_bytes: Option<usize>,
}

/// AWS's resource quotas: aliases per key, grants per key, key policy size.
pub const AWS_ALIASES_PER_KEY: usize = 50;
pub const AWS_GRANTS_PER_KEY: usize = 50_000;
pub const AWS_KEY_POLICY_BYTES: usize = 32 * 1024;

/// AWS's quota of KMS keys per account and Region.
pub const AWS_KEYS_PER_ACCOUNT: u64 = 100_000;

impl QuotaConfig {
    /// No request quota at all.
    pub fn is_off(&self) -> bool {
        !self.aws_preset && self.rates.is_empty() && self.accounts.is_empty()
    }

    pub fn aliases_per_key(&self) -> usize {
        self.aliases_per_key.unwrap_or(AWS_ALIASES_PER_KEY)
    }

    pub fn grants_per_key(&self) -> usize {
        self.grants_per_key.unwrap_or(AWS_GRANTS_PER_KEY)
    }

    pub fn key_policy_bytes(&self) -> usize {
        self.key_policy_bytes.unwrap_or(AWS_KEY_POLICY_BYTES)
    }

    /// The keys-per-account limit in force.
    pub fn key_limit(&self) -> Option<u64> {
        self.keys_per_account.or(self.aws_preset.then_some(AWS_KEYS_PER_ACCOUNT))
    }

    /// The rate of `class` for `account` in `region`; `None`: unlimited.
    fn rate(&self, account: &str, region: &str, class: QuotaClass) -> Option<f64> {
        if let Some(r) = self.accounts.get(account).and_then(|m| m.get(&class)) {
            return Some(*r);
        }
        if let Some(r) = self.rates.get(&class) {
            return Some(*r);
        }
        self.aws_preset.then(|| class.aws_rate(region)).filter(|r| r.is_finite())
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The token buckets of one region.
pub struct Quotas {
    cfg: QuotaConfig,
    region: String,
    buckets: Mutex<HashMap<(String, QuotaClass), Bucket>>,
    /// Throttled calls by (class, account), for `/metrics`.
    throttled: Mutex<HashMap<(QuotaClass, String), u64>>,
}

/// Most buckets kept; past it, the full ones (nothing to remember) go.
const MAX_BUCKETS: usize = 100_000;

impl Quotas {
    pub fn new(cfg: QuotaConfig, region: &str) -> Self {
        Quotas {
            cfg,
            region: region.to_string(),
            buckets: Mutex::new(HashMap::new()),
            throttled: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.cfg.is_off()
    }

    pub fn key_limit(&self) -> Option<u64> {
        self.cfg.key_limit()
    }

    /// Take one request of `class` for `account`, or `ThrottlingException`.
    pub fn charge(&self, account: &str, class: QuotaClass) -> Result<()> {
        self.charge_at(account, class, Instant::now())
    }

    fn charge_at(&self, account: &str, class: QuotaClass, now: Instant) -> Result<()> {
        let Some(rate) = self.cfg.rate(account, &self.region, class) else { return Ok(()) };
        let mut buckets = self.buckets.lock().map_err(|_| Error::internal("quota lock poisoned"))?;
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|(a, c), b| {
                let r = self.cfg.rate(a, &self.region, *c).unwrap_or(f64::INFINITY);
                b.tokens + now.duration_since(b.at).as_secs_f64() * r < r.max(1.0)
            });
        }
        let capacity = rate.max(1.0);
        let b = buckets.entry((account.to_string(), class)).or_insert(Bucket { tokens: capacity, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        drop(buckets);
        if let Ok(mut t) = self.throttled.lock() {
            *t.entry((class, account.to_string())).or_insert(0) += 1;
        }
        Err(Error::Throttling)
    }

    /// Throttled calls so far, by (class, account), sorted.
    pub fn throttled(&self) -> Vec<(String, String, u64)> {
        let mut out: Vec<_> = self
            .throttled
            .lock()
            .map(|t| t.iter().map(|((c, a), n)| (c.name(), a.clone(), *n)).collect())
            .unwrap_or_default();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_holds_a_second_and_refills_at_its_rate() {
        let mut cfg = QuotaConfig::default();
        cfg.accounts.insert("111122223333".into(), HashMap::from([(QuotaClass::Symmetric, 50.0)]));
        let q = Quotas::new(cfg, "us-east-1");
        let t0 = Instant::now();
        let ok = (0..500).filter(|_| q.charge_at("111122223333", QuotaClass::Symmetric, t0).is_ok()).count();
        assert_eq!(ok, 50);
        assert!(matches!(q.charge_at("111122223333", QuotaClass::Symmetric, t0), Err(Error::Throttling)));
        // 100 ms later, 5 more.
        let t1 = t0 + Duration::from_millis(100);
        let ok = (0..100).filter(|_| q.charge_at("111122223333", QuotaClass::Symmetric, t1).is_ok()).count();
        assert_eq!(ok, 5);
        // Other accounts and classes have no quota here.
        assert!((0..1000).all(|_| q.charge_at("444455556666", QuotaClass::Symmetric, t0).is_ok()));
        assert!((0..1000).all(|_| q.charge_at("111122223333", QuotaClass::Rsa, t0).is_ok()));
        assert_eq!(q.throttled(), vec![("cryptographic-symmetric".into(), "111122223333".into(), 451 + 95)]);
    }

    #[test]
    fn the_aws_preset_and_names() {
        let cfg = QuotaConfig { aws_preset: true, ..Default::default() };
        assert_eq!(cfg.rate("a", "us-east-1", QuotaClass::Symmetric), Some(100_000.0));
        assert_eq!(cfg.rate("a", "eu-north-1", QuotaClass::Symmetric), Some(10_000.0));
        assert_eq!(cfg.rate("a", "ap-northeast-1", QuotaClass::Symmetric), Some(20_000.0));
        assert_eq!(cfg.rate("a", "x-y-1", QuotaClass::Operation(Operation::CreateKey)), Some(5.0));
        assert_eq!(cfg.rate("a", "x-y-1", QuotaClass::Operation(Operation::GetParametersForImport)), Some(1.0));
        assert_eq!(cfg.rate("a", "x-y-1", QuotaClass::DataKeyPair(KeySpec::Rsa4096)), Some(1.0));
        assert_eq!(class_of_operation(Operation::Encrypt), None);
        assert_eq!(class_of_operation(Operation::GenerateRandom), Some(QuotaClass::Symmetric));
        for c in [
            QuotaClass::Symmetric,
            QuotaClass::Rsa,
            QuotaClass::Ecc,
            QuotaClass::MlDsa,
            QuotaClass::MlKem,
            QuotaClass::DataKeyPair(KeySpec::EccNistP256),
            QuotaClass::Operation(Operation::ListKeys),
        ] {
            assert_eq!(QuotaClass::parse(&c.name()), Some(c));
        }
        assert_eq!(QuotaClass::parse("Encrypt"), None, "cryptographic operations are charged by class");
        assert_eq!(QuotaClass::parse("nope"), None);
        assert!(QuotaConfig::default().is_off());
    }
}
