//! Asymmetric and HMAC keys: Sign, Verify, GetPublicKey, GenerateMac,
//! VerifyMac, DeriveSharedSecret, GenerateDataKeyPair,
//! GenerateDataKeyPairWithoutPlaintext, and what CreateKey, DescribeKey,
//! Encrypt and Decrypt need to know about these key specs. The
//! cryptography is `kms-crypto`'s; this module checks key usage, algorithms
//! and message types first, with AWS's exceptions and messages.

use std::sync::Arc;

use kms_crypto as c;

use super::{Access, Kms, LiveKey, RequestContext};
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::model::*;

/// The `kms-crypto` spec of a key spec; `None` for `SYMMETRIC_DEFAULT` and
/// the specs this server does not implement (ML-KEM).
pub(super) fn crypto_spec(spec: KeySpec) -> Option<c::KeySpec> {
    c::KeySpec::parse(spec.as_str())
}

/// A FIPS build refuses the specs outside the AWS-LC FIPS module
/// (docs/FIPS.md), for new keys and for keys a non-FIPS build made.
pub(super) fn fips_check(spec: &str) -> Result<()> {
    match c::KeySpec::parse(spec) {
        Some(cs) if c::FIPS && !cs.in_fips_module() => Err(Error::UnsupportedOperation(format!(
            "KeySpec {spec} is not available in this FIPS build of the server: its cryptography is not all in the AWS-LC FIPS module."
        ))),
        _ => Ok(()),
    }
}

/// The `kms-crypto` spec of a key that must have one (its usage says so).
fn spec_of(k: &LiveKey) -> Result<c::KeySpec> {
    crypto_spec(k.record.key_spec).ok_or_else(|| Error::internal(format!("no cryptography for {}", k.record.key_spec)))
}

fn names<T: std::fmt::Display>(items: &[T]) -> Option<Vec<String>> {
    Some(items.iter().map(ToString::to_string).collect())
}

/// The algorithm lists `DescribeKey` and `GetPublicKey` show for a key: only
/// the list that belongs to its key usage.
#[derive(Default)]
pub(super) struct Algorithms {
    pub encryption: Option<Vec<String>>,
    pub signing: Option<Vec<String>>,
    pub mac: Option<Vec<String>>,
    pub key_agreement: Option<Vec<String>>,
    pub encapsulation: Option<Vec<String>>,
}

pub(super) fn algorithms(spec: KeySpec, usage: KeyUsage) -> Algorithms {
    let mut a = Algorithms::default();
    let Some(cs) = crypto_spec(spec) else {
        if spec == KeySpec::SymmetricDefault {
            a.encryption = Some(vec![EncryptionAlgorithm::SymmetricDefault.as_str().to_string()]);
        }
        return a;
    };
    match usage {
        KeyUsage::EncryptDecrypt => a.encryption = names(c::encryption_algorithms(cs)),
        KeyUsage::SignVerify => a.signing = names(c::signing_algorithms(cs)),
        KeyUsage::GenerateVerifyMac => a.mac = names(c::mac_algorithms(cs)),
        KeyUsage::KeyAgreement => a.key_agreement = names(c::key_agreement_algorithms(cs)),
        KeyUsage::EncapsulateDecapsulate => a.encapsulation = names(c::encapsulation_algorithms(cs)),
    }
    a
}

/// The deprecated `CustomerMasterKeySpec`: AWS still returns it, with the
/// key spec's value, also for the specs its enum lacks (an ML-DSA key shows
/// `"CustomerMasterKeySpec": "ML_DSA_65"`).
pub(super) fn customer_master_key_spec(spec: KeySpec) -> Option<String> {
    Some(spec.as_str().to_string())
}

/// Generates a key of `spec` on a blocking thread (RSA-4096 takes seconds).
pub(super) async fn generate(spec: c::KeySpec) -> Result<c::KeyPair> {
    tokio::task::spawn_blocking(move || c::generate(spec)).await.map_err(Error::internal)?.map_err(crypto_error)
}

/// A `kms-crypto` error as the AWS exception it stands for. The service
/// checks algorithms, message types and lengths before calling
/// `kms-crypto` (so that the messages can name everything AWS's do); this
/// mapping is the safety net.
pub(super) fn crypto_error(e: c::Error) -> Error {
    match e {
        c::Error::UnsupportedAlgorithm { spec, algorithm } => {
            Error::InvalidKeyUsage(format!("Algorithm {algorithm} is incompatible with key spec {spec}."))
        }
        c::Error::UnsupportedOperation { spec } => {
            Error::InvalidKeyUsage(format!("Key spec {spec} is not valid for this operation."))
        }
        c::Error::UnsupportedMessageType { algorithm, message_type } => {
            Error::Validation(message_type_message(message_type, algorithm))
        }
        c::Error::InvalidDigestLength { algorithm, .. } => Error::Validation(digest_message(algorithm)),
        c::Error::PlaintextTooLong { max, .. } => {
            Error::Validation(format!("The plaintext cannot be larger than {max} bytes."))
        }
        // AWS answers a peer public key it cannot use with an empty message.
        c::Error::MalformedPublicKey { .. } => Error::Validation(String::new()),
        c::Error::MalformedCiphertext | c::Error::DecryptionFailed => Error::InvalidCiphertext,
        c::Error::InvalidKeyMaterial { spec } => Error::internal(format!("stored {spec} key material does not parse")),
        c::Error::Internal(what) => Error::internal(what),
    }
}

fn digest_message(algorithm: c::SigningAlgorithm) -> String {
    format!("Digest is invalid length for algorithm {algorithm}.")
}

fn message_type_message(message_type: c::MessageType, algorithm: c::SigningAlgorithm) -> String {
    format!("Message type {message_type} is incompatible with algorithm {algorithm}.")
}

/// `InvalidKeyUsageException` unless the key has `usage`.
fn require_usage(k: &LiveKey, usage: KeyUsage, operation: &str) -> Result<()> {
    if k.record.key_usage == usage {
        return Ok(());
    }
    Err(usage_error(k, operation))
}

/// AWS's message for a key whose usage does not allow the operation.
pub(super) fn usage_error(k: &LiveKey, operation: &str) -> Error {
    Error::InvalidKeyUsage(format!("{} key usage is {} which is not valid for {operation}.", k.arn, k.record.key_usage))
}

/// AWS's message for an algorithm the key spec does not support.
pub(super) fn algorithm_error(algorithm: &str, spec: KeySpec) -> Error {
    Error::InvalidKeyUsage(format!("Algorithm {algorithm} is incompatible with key spec {spec}."))
}

/// The public key of an asymmetric key.
fn public_key(k: &LiveKey) -> Result<&[u8]> {
    k.record.public_key.as_deref().ok_or_else(|| Error::internal("asymmetric key without a public key"))
}

/// A signing request, checked against the key: the algorithm belongs to the
/// key spec, the message type to the algorithm, a digest has the
/// algorithm's length.
struct Signing {
    spec: c::KeySpec,
    algorithm: c::SigningAlgorithm,
    message_type: c::MessageType,
}

fn signing(k: &LiveKey, operation: &str, algorithm: &str, message_type: &str, message: &[u8]) -> Result<Signing> {
    require_usage(k, KeyUsage::SignVerify, operation)?;
    let spec = spec_of(k)?;
    let alg = c::SigningAlgorithm::parse(algorithm)
        .filter(|a| c::signing_algorithms(spec).contains(a))
        .ok_or_else(|| algorithm_error(algorithm, k.record.key_spec))?;
    let mt = c::MessageType::parse(message_type).ok_or_else(|| Error::internal("validated enum"))?;
    if !c::message_types(alg).contains(&mt) {
        return Err(Error::Validation(message_type_message(mt, alg)));
    }
    let expected = match mt {
        c::MessageType::Raw => None,
        c::MessageType::Digest => c::digest_len(alg),
        c::MessageType::ExternalMu => Some(c::MU_LEN),
    };
    if expected.is_some_and(|n| n != message.len()) {
        return Err(Error::Validation(digest_message(alg)));
    }
    Ok(Signing { spec, algorithm: alg, message_type: mt })
}

/// An HMAC request, checked against the key.
fn mac_params(k: &LiveKey, operation: &str, algorithm: &str) -> Result<(c::KeySpec, c::MacAlgorithm)> {
    require_usage(k, KeyUsage::GenerateVerifyMac, operation)?;
    let spec = spec_of(k)?;
    let alg = c::MacAlgorithm::parse(algorithm)
        .filter(|a| c::mac_algorithms(spec).contains(a))
        .ok_or_else(|| algorithm_error(algorithm, k.record.key_spec))?;
    Ok((spec, alg))
}

/// Asymmetric encryption with an `ENCRYPT_DECRYPT` key whose usage and
/// algorithm `check_encrypt_decrypt` accepted.
pub(super) fn encryption(k: &LiveKey, algorithm: Option<&str>) -> Result<(c::KeySpec, c::EncryptionAlgorithm)> {
    let spec = spec_of(k)?;
    let name = algorithm.unwrap_or("SYMMETRIC_DEFAULT");
    let alg = c::EncryptionAlgorithm::parse(name)
        .filter(|a| c::encryption_algorithms(spec).contains(a))
        .ok_or_else(|| algorithm_error(name, k.record.key_spec))?;
    Ok((spec, alg))
}

/// Whether an `ENCRYPT_DECRYPT` key of `spec` supports `algorithm`
/// (`SYMMETRIC_DEFAULT` for symmetric keys).
pub(super) fn supports_encryption(spec: KeySpec, algorithm: &str) -> bool {
    match crypto_spec(spec) {
        Some(cs) => c::encryption_algorithms(cs).iter().any(|a| a.as_str() == algorithm),
        None => spec == KeySpec::SymmetricDefault && algorithm == EncryptionAlgorithm::SymmetricDefault.as_str(),
    }
}

/// Asymmetric encryption algorithms take no encryption context.
pub(super) fn no_context(ec: &crate::ciphertext::EncryptionContext) -> Result<()> {
    if ec.is_empty() {
        return Ok(());
    }
    Err(Error::Validation("EncryptionContext is not supported for asymmetric KMS keys.".into()))
}

/// Asymmetric `Encrypt`: AWS's plaintext limit, then the public-key operation.
pub(super) fn encrypt(k: &LiveKey, algorithm: Option<&str>, plaintext: &[u8], dry_run: bool) -> Result<Vec<u8>> {
    let (spec, alg) = encryption(k, algorithm)?;
    let max = c::max_plaintext_len(spec, alg).ok_or_else(|| algorithm_error(alg.as_str(), k.record.key_spec))?;
    if plaintext.len() > max {
        return Err(Error::Validation(format!(
            "Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes."
        )));
    }
    if dry_run {
        return Err(Error::DryRunOperation);
    }
    c::encrypt(spec, public_key(k)?, alg, plaintext).map_err(crypto_error)
}

/// Asymmetric `Decrypt` of a raw RSAES-OAEP or SM2PKE ciphertext.
pub(super) async fn decrypt(k: &Arc<LiveKey>, algorithm: Option<&str>, ciphertext: &[u8]) -> Result<SecretBytes> {
    let (_, alg) = encryption(k, algorithm)?;
    let ciphertext = ciphertext.to_vec();
    private_op(k, move |p| p.decrypt(alg, &ciphertext)).await
}

/// Runs an operation with the key's private key: inline for EC and Ed25519
/// keys (tens of microseconds), on the blocking pool for RSA, SM2 and ML-DSA
/// keys (from about 300 µs for an RSA-2048 signature to milliseconds for
/// RSA-4096), so that a slow private-key operation never holds up the
/// runtime's workers and the requests queued on them.
async fn private_op<T: Send + 'static>(
    k: &Arc<LiveKey>,
    op: impl FnOnce(&c::PrivateKey) -> std::result::Result<T, c::Error> + Send + 'static,
) -> Result<T> {
    use c::KeySpec as S;
    let slow = matches!(
        k.private_key()?.spec(),
        S::Rsa2048 | S::Rsa3072 | S::Rsa4096 | S::Sm2 | S::MlDsa44 | S::MlDsa65 | S::MlDsa87
    );
    if !slow {
        return op(k.private_key()?).map_err(crypto_error);
    }
    let k = k.clone();
    tokio::task::spawn_blocking(move || op(k.private_key()?).map_err(crypto_error)).await.map_err(Error::internal)?
}

impl Kms {
    pub async fn sign(&self, ctx: &RequestContext, req: SignRequest) -> Result<SignResponse> {
        let algorithm = req.signing_algorithm.clone().unwrap_or_default();
        let message_type = req.message_type.clone().unwrap_or_else(|| "RAW".into());
        let access = Access::new("kms:Sign")
            .with("kms:SigningAlgorithm", vec![algorithm.clone()])
            .with("kms:MessageType", vec![message_type.clone()]);
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &access).await?;
        Self::usable(&k)?;
        let message = req.message.unwrap_or_default();
        let s = signing(&k, "Sign", &algorithm, &message_type, message.expose())?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let (alg, message_type) = (s.algorithm, s.message_type);
        let signature = private_op(&k, move |p| p.sign(alg, message_type, message.expose())).await?;
        k.record_use("Sign", self.clock.now_ms(), ctx);
        Ok(SignResponse { key_id: Some(k.arn.clone()), signature: Some(signature), signing_algorithm: Some(algorithm) })
    }

    pub async fn verify(&self, ctx: &RequestContext, req: VerifyRequest) -> Result<VerifyResponse> {
        let algorithm = req.signing_algorithm.clone().unwrap_or_default();
        let message_type = req.message_type.clone().unwrap_or_else(|| "RAW".into());
        let access = Access::new("kms:Verify")
            .with("kms:SigningAlgorithm", vec![algorithm.clone()])
            .with("kms:MessageType", vec![message_type.clone()]);
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &access).await?;
        Self::usable(&k)?;
        let message = req.message.unwrap_or_default();
        let s = signing(&k, "Verify", &algorithm, &message_type, message.expose())?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let signature = req.signature.unwrap_or_default();
        let valid = c::verify(s.spec, public_key(&k)?, s.algorithm, s.message_type, message.expose(), &signature)
            .map_err(crypto_error)?;
        if !valid {
            return Err(Error::KmsInvalidSignature);
        }
        k.record_use("Verify", self.clock.now_ms(), ctx);
        Ok(VerifyResponse {
            key_id: Some(k.arn.clone()),
            signature_valid: Some(true),
            signing_algorithm: Some(algorithm),
        })
    }

    pub async fn get_public_key(&self, ctx: &RequestContext, req: GetPublicKeyRequest) -> Result<GetPublicKeyResponse> {
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &Access::new("kms:GetPublicKey")).await?;
        Self::usable(&k)?;
        let r = &k.record;
        let Some(public_key) = r.public_key.clone() else {
            return Err(Error::UnsupportedOperation(format!(
                "{} key spec is {} which is not valid for this operation.",
                k.arn, r.key_spec
            )));
        };
        // Not a cryptographic operation: GetKeyLastUsage does not track it.
        let a = algorithms(r.key_spec, r.key_usage);
        Ok(GetPublicKeyResponse {
            key_id: Some(k.arn.clone()),
            public_key: Some(public_key),
            customer_master_key_spec: customer_master_key_spec(r.key_spec),
            key_spec: Some(r.key_spec.as_str().to_string()),
            key_usage: Some(r.key_usage.as_str().to_string()),
            encryption_algorithms: a.encryption,
            signing_algorithms: a.signing,
            key_agreement_algorithms: a.key_agreement,
            encapsulation_algorithms: a.encapsulation,
        })
    }

    pub async fn generate_mac(&self, ctx: &RequestContext, req: GenerateMacRequest) -> Result<GenerateMacResponse> {
        let algorithm = req.mac_algorithm.clone().unwrap_or_default();
        let access = Access::new("kms:GenerateMac").with("kms:MacAlgorithm", vec![algorithm.clone()]);
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &access).await?;
        Self::usable(&k)?;
        let (spec, alg) = mac_params(&k, "GenerateMac", &algorithm)?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let message = req.message.unwrap_or_default();
        let mac = c::mac(spec, alg, k.hmac_key()?, message.expose()).map_err(crypto_error)?;
        k.record_use("GenerateMac", self.clock.now_ms(), ctx);
        Ok(GenerateMacResponse { mac: Some(mac), mac_algorithm: Some(algorithm), key_id: Some(k.arn.clone()) })
    }

    pub async fn verify_mac(&self, ctx: &RequestContext, req: VerifyMacRequest) -> Result<VerifyMacResponse> {
        let algorithm = req.mac_algorithm.clone().unwrap_or_default();
        let access = Access::new("kms:VerifyMac").with("kms:MacAlgorithm", vec![algorithm.clone()]);
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &access).await?;
        Self::usable(&k)?;
        let (spec, alg) = mac_params(&k, "VerifyMac", &algorithm)?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let message = req.message.unwrap_or_default();
        let tag = req.mac.unwrap_or_default();
        if !c::verify_mac(spec, alg, k.hmac_key()?, message.expose(), &tag).map_err(crypto_error)? {
            return Err(Error::KmsInvalidMac);
        }
        k.record_use("VerifyMac", self.clock.now_ms(), ctx);
        Ok(VerifyMacResponse { key_id: Some(k.arn.clone()), mac_valid: Some(true), mac_algorithm: Some(algorithm) })
    }

    pub async fn derive_shared_secret(
        &self,
        ctx: &RequestContext,
        req: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse> {
        let algorithm = req.key_agreement_algorithm.clone().unwrap_or_default();
        let access = Access::new("kms:DeriveSharedSecret").with("kms:KeyAgreementAlgorithm", vec![algorithm.clone()]);
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &access).await?;
        Self::usable(&k)?;
        require_usage(&k, KeyUsage::KeyAgreement, "DeriveSharedSecret")?;
        let spec = spec_of(&k)?;
        let alg = c::KeyAgreementAlgorithm::parse(&algorithm)
            .filter(|a| c::key_agreement_algorithms(spec).contains(a))
            .ok_or_else(|| algorithm_error(&algorithm, k.record.key_spec))?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let peer = req.public_key.unwrap_or_default();
        let secret = private_op(&k, move |p| p.derive_shared_secret(alg, &peer)).await?;
        k.record_use("DeriveSharedSecret", self.clock.now_ms(), ctx);
        Ok(DeriveSharedSecretResponse {
            key_id: Some(k.arn.clone()),
            shared_secret: Some(secret),
            key_agreement_algorithm: Some(algorithm),
            key_origin: Some(k.record.origin.as_str().to_string()),
            ciphertext_for_recipient: None,
        })
    }

    /// The ML-KEM algorithm of a request, checked against the key.
    fn encapsulation(k: &LiveKey, operation: &str, algorithm: &str) -> Result<(c::KeySpec, c::EncapsulationAlgorithm)> {
        require_usage(k, KeyUsage::EncapsulateDecapsulate, operation)?;
        let spec = spec_of(k)?;
        let alg = c::EncapsulationAlgorithm::parse(algorithm)
            .filter(|a| c::encapsulation_algorithms(spec).contains(a))
            .ok_or_else(|| algorithm_error(algorithm, k.record.key_spec))?;
        Ok((spec, alg))
    }

    pub async fn encapsulate(&self, ctx: &RequestContext, req: EncapsulateRequest) -> Result<EncapsulateResponse> {
        let algorithm = req.encapsulation_algorithm.clone().unwrap_or_default();
        let access = Access::new("kms:Encapsulate").with("kms:EncapsulationAlgorithm", vec![algorithm.clone()]);
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &access).await?;
        Self::usable(&k)?;
        let (spec, alg) = Self::encapsulation(&k, "Encapsulate", &algorithm)?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let (ciphertext, secret) = c::encapsulate(spec, public_key(&k)?, alg).map_err(crypto_error)?;
        k.record_use("Encapsulate", self.clock.now_ms(), ctx);
        Ok(EncapsulateResponse {
            key_id: Some(k.arn.clone()),
            shared_secret: Some(secret),
            shared_secret_ciphertext_blob: Some(ciphertext),
            encapsulation_algorithm: Some(algorithm),
        })
    }

    pub async fn decapsulate(&self, ctx: &RequestContext, req: DecapsulateRequest) -> Result<DecapsulateResponse> {
        let algorithm = req.encapsulation_algorithm.clone().unwrap_or_default();
        let access = Access::new("kms:Decapsulate").with("kms:EncapsulationAlgorithm", vec![algorithm.clone()]);
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &access).await?;
        Self::usable(&k)?;
        let (_, alg) = Self::encapsulation(&k, "Decapsulate", &algorithm)?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        // A ciphertext of the wrong length is InvalidCiphertextException;
        // any other gives a secret (FIPS 203 implicit rejection).
        let ciphertext = req.shared_secret_ciphertext_blob.unwrap_or_default();
        let secret = private_op(&k, move |p| p.decapsulate(alg, &ciphertext)).await?;
        k.record_use("Decapsulate", self.clock.now_ms(), ctx);
        Ok(DecapsulateResponse {
            key_id: Some(k.arn.clone()),
            shared_secret: Some(secret),
            encapsulation_algorithm: Some(algorithm),
        })
    }

    async fn data_key_pair(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyPairRequest,
        operation: &str,
    ) -> Result<GenerateDataKeyPairResponse> {
        let pair_spec = req.key_pair_spec.clone().unwrap_or_default();
        let ec = req.encryption_context.unwrap_or_default();
        let action = format!("kms:{operation}");
        let access = Access::new(&action)
            .context(&ec)
            .encryption_algorithm(None)
            .with("kms:DataKeyPairSpec", vec![pair_spec.clone()]);
        let k = self.encryption_key(ctx, req.key_id.as_deref().unwrap_or_default(), operation, None, &access).await?;
        if k.record.custom_key_store.is_some() {
            return Err(Error::UnsupportedOperation(format!(
                "{operation} does not support KMS keys in a custom key store."
            )));
        }
        fips_check(&pair_spec)?;
        let spec = c::KeySpec::parse(&pair_spec).filter(|s| s.is_data_key_pair_spec()).ok_or_else(|| {
            Error::UnsupportedOperation(format!("KeyPairSpec {pair_spec} is not supported by this server yet."))
        })?;
        if let (false, Some(wire)) = (self.quotas.is_off(), KeySpec::parse(&pair_spec)) {
            self.quotas.charge(&ctx.principal.account, crate::quota::QuotaClass::DataKeyPair(wire))?;
        }
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let pair = generate(spec).await?;
        let public_key = pair.public_key.clone().ok_or_else(|| Error::internal("key pair without a public key"))?;
        let (blob, material_id) = self.seal(ctx, &k, &ec, pair.private_key.expose(), "GenerateDataKeyPair").await?;
        k.record_use(operation, self.clock.now_ms(), ctx);
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: Some(blob),
            private_key_plaintext: Some(pair.private_key),
            public_key: Some(public_key),
            key_id: Some(k.arn.clone()),
            key_pair_spec: Some(pair_spec),
            key_material_id: Some(material_id),
            ciphertext_for_recipient: None,
        })
    }

    pub async fn generate_data_key_pair(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse> {
        self.data_key_pair(ctx, req, "GenerateDataKeyPair").await
    }

    pub async fn generate_data_key_pair_without_plaintext(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyPairWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyPairWithoutPlaintextResponse> {
        let req = GenerateDataKeyPairRequest {
            encryption_context: req.encryption_context,
            key_id: req.key_id,
            key_pair_spec: req.key_pair_spec,
            grant_tokens: req.grant_tokens,
            recipient: None,
            dry_run: req.dry_run,
        };
        let out = self.data_key_pair(ctx, req, "GenerateDataKeyPairWithoutPlaintext").await?;
        Ok(GenerateDataKeyPairWithoutPlaintextResponse {
            private_key_ciphertext_blob: out.private_key_ciphertext_blob,
            public_key: out.public_key,
            key_id: out.key_id,
            key_pair_spec: out.key_pair_spec,
            key_material_id: out.key_material_id,
        })
    }
}
