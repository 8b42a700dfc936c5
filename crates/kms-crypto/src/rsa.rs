//! RSA (RSA_2048/3072/4096): key generation, RSASSA-PSS and PKCS#1 v1.5
//! signatures over messages or precomputed digests, RSAES-OAEP. All from
//! aws-lc-rs.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{EncryptionAlgorithm, KeySpec, MessageType, SigningAlgorithm};

fn bits(spec: KeySpec) -> Result<usize> {
    match spec {
        KeySpec::Rsa2048 => Ok(2048),
        KeySpec::Rsa3072 => Ok(3072),
        KeySpec::Rsa4096 => Ok(4096),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

pub(crate) fn generate(spec: KeySpec) -> Result<KeyPair> {
    let size = match bits(spec)? {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        _ => KeySize::Rsa4096,
    };
    let pair = RsaKeyPair::generate(size).map_err(|_| Error::Internal("RSA key generation"))?;
    let private =
        AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(|_| Error::Internal("RSA PKCS#8 encoding"))?;
    let public = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(pair.public_key())
        .map_err(|_| Error::Internal("RSA SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_ref()), public_key: Some(public.as_ref().to_vec()) })
}

/// Checks an imported DER PKCS#8 RSA private key against `spec` and returns
/// it re-encoded as generated keys are, with its public key.
pub(crate) fn import(spec: KeySpec, pkcs8: &[u8]) -> Result<KeyPair> {
    let bits = bits(spec)?;
    let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| Error::InvalidKeyMaterial { spec })?;
    if pair.public_modulus_len() * 8 != bits {
        return Err(Error::InvalidKeyMaterial { spec });
    }
    let private =
        AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(|_| Error::Internal("RSA PKCS#8 encoding"))?;
    let public = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(pair.public_key())
        .map_err(|_| Error::Internal("RSA SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_ref()), public_key: Some(public.as_ref().to_vec()) })
}

/// The modulus length in bytes of an RSA spec.
pub(crate) fn modulus_len(spec: KeySpec) -> Result<usize> {
    Ok(bits(spec)? / 8)
}

struct SigningParams {
    encoding: &'static dyn signature::RsaEncoding,
    verification: &'static signature::RsaParameters,
    digest: &'static digest::Algorithm,
}

fn signing_params(spec: KeySpec, algorithm: SigningAlgorithm) -> Result<SigningParams> {
    use SigningAlgorithm as S;
    bits(spec)?;
    let (encoding, verification, digest): (&'static dyn signature::RsaEncoding, _, _) = match algorithm {
        S::RsassaPssSha256 => (&signature::RSA_PSS_SHA256, &signature::RSA_PSS_2048_8192_SHA256, &digest::SHA256),
        S::RsassaPssSha384 => (&signature::RSA_PSS_SHA384, &signature::RSA_PSS_2048_8192_SHA384, &digest::SHA384),
        S::RsassaPssSha512 => (&signature::RSA_PSS_SHA512, &signature::RSA_PSS_2048_8192_SHA512, &digest::SHA512),
        S::RsassaPkcs1V15Sha256 => {
            (&signature::RSA_PKCS1_SHA256, &signature::RSA_PKCS1_2048_8192_SHA256, &digest::SHA256)
        }
        S::RsassaPkcs1V15Sha384 => {
            (&signature::RSA_PKCS1_SHA384, &signature::RSA_PKCS1_2048_8192_SHA384, &digest::SHA384)
        }
        S::RsassaPkcs1V15Sha512 => {
            (&signature::RSA_PKCS1_SHA512, &signature::RSA_PKCS1_2048_8192_SHA512, &digest::SHA512)
        }
        _ => return Err(Error::UnsupportedAlgorithm { spec, algorithm: algorithm.as_str() }),
    };
    Ok(SigningParams { encoding, verification, digest })
}

/// The message as the digest aws-lc signs for `DIGEST` messages; `None`
/// for `RAW` ones (aws-lc hashes them).
fn prepare_digest(
    params: &SigningParams,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Option<Digest>> {
    match message_type {
        MessageType::Raw => Ok(None),
        MessageType::Digest => Digest::import_less_safe(message, params.digest).map(Some).map_err(|_| {
            Error::InvalidDigestLength { algorithm, expected: params.digest.output_len(), actual: message.len() }
        }),
        MessageType::ExternalMu => Err(Error::UnsupportedMessageType { algorithm, message_type }),
    }
}

pub(crate) fn load_signing_key(spec: KeySpec, private_key: &[u8]) -> Result<RsaKeyPair> {
    let pair = RsaKeyPair::from_pkcs8(private_key).map_err(|_| Error::InvalidKeyMaterial { spec })?;
    if pair.public_modulus_len() * 8 != bits(spec)? {
        return Err(Error::InvalidKeyMaterial { spec });
    }
    Ok(pair)
}

pub(crate) fn sign(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    sign_with(spec, &load_signing_key(spec, private_key)?, algorithm, message_type, message)
}

/// [`sign`] with a parsed key.
pub(crate) fn sign_with(
    spec: KeySpec,
    pair: &RsaKeyPair,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    let params = signing_params(spec, algorithm)?;
    let digest = prepare_digest(&params, algorithm, message_type, message)?;
    let mut signature = vec![0u8; pair.public_modulus_len()];
    let signed = match &digest {
        None => pair.sign(params.encoding, &SystemRandom::new(), message, &mut signature),
        Some(digest) => pair.sign_digest(params.encoding, digest, &mut signature),
    };
    signed.map_err(|_| Error::Internal("RSA signing"))?;
    Ok(signature)
}

/// Checks that `public_key` is an RSA SPKI of the spec's size.
fn check_public_key(spec: KeySpec, public_key: &[u8]) -> Result<()> {
    let key =
        aws_lc_rs::rsa::PublicEncryptingKey::from_der(public_key).map_err(|_| Error::MalformedPublicKey { spec })?;
    if key.key_size_bits() != bits(spec)? {
        return Err(Error::MalformedPublicKey { spec });
    }
    Ok(())
}

pub(crate) fn verify(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool> {
    let params = signing_params(spec, algorithm)?;
    let digest = prepare_digest(&params, algorithm, message_type, message)?;
    check_public_key(spec, public_key)?;
    let key = UnparsedPublicKey::new(params.verification, public_key)
        .parse()
        .map_err(|_| Error::MalformedPublicKey { spec })?;
    let verified = match &digest {
        None => key.verify_sig(message, signature),
        Some(digest) => key.verify_digest_sig(digest, signature),
    };
    Ok(verified.is_ok())
}

fn oaep(spec: KeySpec, algorithm: EncryptionAlgorithm) -> Result<&'static OaepAlgorithm> {
    bits(spec)?;
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(&OAEP_SHA256_MGF1SHA256),
        EncryptionAlgorithm::Sm2Pke => Err(Error::UnsupportedAlgorithm { spec, algorithm: algorithm.as_str() }),
    }
}

pub(crate) fn encrypt(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: EncryptionAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let oaep_alg = oaep(spec, algorithm)?;
    let max = crate::spec::max_plaintext_len(spec, algorithm)
        .ok_or(Error::UnsupportedAlgorithm { spec, algorithm: algorithm.as_str() })?;
    if plaintext.len() > max {
        return Err(Error::PlaintextTooLong { max, actual: plaintext.len() });
    }
    let key = PublicEncryptingKey::from_der(public_key).map_err(|_| Error::MalformedPublicKey { spec })?;
    if key.key_size_bits() != bits(spec)? {
        return Err(Error::MalformedPublicKey { spec });
    }
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| Error::MalformedPublicKey { spec })?;
    let mut ciphertext = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(oaep_alg, plaintext, &mut ciphertext, None)
        .map_err(|_| Error::Internal("RSA-OAEP encryption"))?
        .len();
    ciphertext.truncate(len);
    Ok(ciphertext)
}

pub(crate) fn load_decrypting_key(spec: KeySpec, private_key: &[u8]) -> Result<OaepPrivateDecryptingKey> {
    let key = PrivateDecryptingKey::from_pkcs8(private_key).map_err(|_| Error::InvalidKeyMaterial { spec })?;
    if key.key_size_bits() != bits(spec)? {
        return Err(Error::InvalidKeyMaterial { spec });
    }
    OaepPrivateDecryptingKey::new(key).map_err(|_| Error::InvalidKeyMaterial { spec })
}

pub(crate) fn decrypt(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: EncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    decrypt_with(spec, &load_decrypting_key(spec, private_key)?, algorithm, ciphertext)
}

/// [`decrypt`] with a parsed key.
pub(crate) fn decrypt_with(
    spec: KeySpec,
    key: &OaepPrivateDecryptingKey,
    algorithm: EncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    let oaep_alg = oaep(spec, algorithm)?;
    if ciphertext.len() != key.key_size_bytes() {
        return Err(Error::MalformedCiphertext);
    }
    let mut buffer = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let plaintext = key.decrypt(oaep_alg, ciphertext, &mut buffer, None).map_err(|_| Error::DecryptionFailed)?;
    Ok(SecretBytes::from_slice(plaintext))
}
