//! ML_KEM_512/768/1024 (FIPS 203): encapsulation and decapsulation from
//! aws-lc-rs; key derivation from the 64-byte seed and the DER encodings
//! from the RustCrypto `ml-kem` crate, because aws-lc-rs (1.19) can neither
//! expand a seed into a key pair nor encode ML-KEM keys as PKCS#8 or SPKI.
//!
//! Key formats (RFC 9935, the LAMPS ML-KEM algorithm identifiers, formerly
//! draft-ietf-lamps-kyber-certificates):
//!
//! - Public key: DER SubjectPublicKeyInfo with the OID id-alg-ml-kem-512,
//!   -768 or -1024 (2.16.840.1.101.3.4.4.1, .2, .3), parameters absent, and
//!   the 800, 1184 or 1568-byte encapsulation key as the BIT STRING; what AWS
//!   KMS's `GetPublicKey` returns for ML-KEM keys.
//! - Private key: DER PKCS#8 v1 `PrivateKeyInfo` whose `privateKey` holds
//!   the seed form of RFC 9935, `seed [0] IMPLICIT OCTET STRING (SIZE
//!   (64))`, the seed `d || z` of FIPS 203 `ML-KEM.KeyGen_internal` (86
//!   bytes in all). AWS's documentation does not say which of the RFC's
//!   three forms (seed, expanded key, both) `GenerateDataKeyPair` returns;
//!   the seed form is the one the RFC recommends and OpenSSL 3.5 writes by
//!   default, it is the same 64 bytes for every parameter set, and a seed
//!   always expands to a valid key (an expanded key would need checking).
//!   Only this form is read back: the crate reads the keys it made.
//!
//! The private key is kept as the seed; decapsulating expands it (FIPS 203
//! key generation) and hands the expanded decapsulation key (FIPS 203
//! encoding `dk_pke || ek || H(ek) || z`) to aws-lc-rs. [`crate::PrivateKey`]
//! keeps the expanded aws-lc-rs key so that this happens once per key.
//!
//! Decapsulation uses implicit rejection (FIPS 203): a ciphertext of the
//! right length always yields a 32-byte secret, a wrong one a pseudo-random
//! secret; only a ciphertext of the wrong length is an error
//! ([`Error::MalformedCiphertext`]), as AWS documents for `Decapsulate`.

use aws_lc_rs::kem::{self, AlgorithmId, Ciphertext, DecapsulationKey};
use ml_kem::kem::{Decapsulator as _, KeyExport as _};
use ml_kem::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
#[allow(deprecated)] // the FIPS 203 expanded key is what aws-lc-rs loads
use ml_kem::ExpandedKeyEncoding;
use ml_kem::{Kem, MlKem1024, MlKem512, MlKem768, Seed};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{Error, Result};
use crate::secret::{KeyPair, SecretBytes};
use crate::spec::{encapsulation_ciphertext_len, EncapsulationAlgorithm, KeySpec};

/// Length of the ML-KEM seed `d || z` that the PKCS#8 private key holds.
const SEED_LEN: usize = 64;

fn kem_algorithm(spec: KeySpec) -> Result<&'static kem::Algorithm<AlgorithmId>> {
    match spec {
        KeySpec::MlKem512 => Ok(&kem::ML_KEM_512),
        KeySpec::MlKem768 => Ok(&kem::ML_KEM_768),
        KeySpec::MlKem1024 => Ok(&kem::ML_KEM_1024),
        _ => Err(Error::UnsupportedOperation { spec }),
    }
}

/// What the RustCrypto parameter sets must offer here: seed expansion, the
/// DER encodings and the expanded key (`ExpandedKeyEncoding`, deprecated in
/// `ml-kem` in favour of seeds, but the only form aws-lc-rs loads).
#[allow(deprecated)]
trait Params:
    Kem<
    DecapsulationKey: From<Seed> + DecodePrivateKey + EncodePrivateKey + ExpandedKeyEncoding,
    EncapsulationKey: DecodePublicKey + EncodePublicKey,
>
{
}

#[allow(deprecated)]
impl<K> Params for K where
    K: Kem<
        DecapsulationKey: From<Seed> + DecodePrivateKey + EncodePrivateKey + ExpandedKeyEncoding,
        EncapsulationKey: DecodePublicKey + EncodePublicKey,
    >
{
}

/// Runs `f` with the RustCrypto parameter set of an ML-KEM `spec`.
macro_rules! with_params {
    ($spec:expr, $f:ident ( $($arg:expr),* )) => {
        match $spec {
            KeySpec::MlKem512 => $f::<MlKem512>($($arg),*),
            KeySpec::MlKem768 => $f::<MlKem768>($($arg),*),
            KeySpec::MlKem1024 => $f::<MlKem1024>($($arg),*),
            spec => Err(Error::UnsupportedOperation { spec }),
        }
    };
}

pub(crate) fn generate(spec: KeySpec) -> Result<KeyPair> {
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    aws_lc_rs::rand::fill(seed.as_mut_slice()).map_err(|_| Error::Internal("random source"))?;
    with_params!(spec, encode_pair(&seed))
}

fn encode_pair<K: Params>(seed: &[u8; SEED_LEN]) -> Result<KeyPair> {
    let dk = K::DecapsulationKey::from(Seed::from(*seed));
    let private = dk.to_pkcs8_der().map_err(|_| Error::Internal("ML-KEM PKCS#8 encoding"))?;
    let public = dk.encapsulation_key().to_public_key_der().map_err(|_| Error::Internal("ML-KEM SPKI encoding"))?;
    Ok(KeyPair { private_key: SecretBytes::from_slice(private.as_bytes()), public_key: Some(public.into_vec()) })
}

/// Checks the algorithm (there is one) and the ciphertext length.
pub(crate) fn check(spec: KeySpec, algorithm: EncapsulationAlgorithm, ciphertext: &[u8]) -> Result<()> {
    let EncapsulationAlgorithm::MlKem = algorithm;
    let expected = encapsulation_ciphertext_len(spec).ok_or(Error::UnsupportedOperation { spec })?;
    if ciphertext.len() != expected {
        return Err(Error::MalformedCiphertext);
    }
    Ok(())
}

/// The aws-lc-rs decapsulation key of the PKCS#8 `private_key` of `spec`:
/// the seed expanded once (FIPS 203 key generation).
pub(crate) fn load_decapsulation_key(spec: KeySpec, private_key: &[u8]) -> Result<DecapsulationKey> {
    let alg = kem_algorithm(spec)?;
    with_params!(spec, load(spec, alg, private_key))
}

#[allow(deprecated)]
fn load<K: Params>(
    spec: KeySpec,
    alg: &'static kem::Algorithm<AlgorithmId>,
    private_key: &[u8],
) -> Result<DecapsulationKey> {
    let dk = K::DecapsulationKey::from_pkcs8_der(private_key).map_err(|_| Error::InvalidKeyMaterial { spec })?;
    let mut expanded = dk.to_expanded_bytes();
    let key = DecapsulationKey::new(alg, &expanded);
    expanded.as_mut_slice().zeroize();
    key.map_err(|_| Error::InvalidKeyMaterial { spec })
}

/// Decapsulates a ciphertext that [`check`] accepted.
pub(crate) fn decapsulate_with(key: &DecapsulationKey, ciphertext: &[u8]) -> Result<SecretBytes> {
    let secret = key.decapsulate(Ciphertext::from(ciphertext)).map_err(|_| Error::Internal("ML-KEM decapsulation"))?;
    Ok(SecretBytes::from_slice(secret.as_ref()))
}

pub(crate) fn decapsulate(
    spec: KeySpec,
    private_key: &[u8],
    algorithm: EncapsulationAlgorithm,
    ciphertext: &[u8],
) -> Result<SecretBytes> {
    check(spec, algorithm, ciphertext)?;
    decapsulate_with(&load_decapsulation_key(spec, private_key)?, ciphertext)
}

pub(crate) fn encapsulate(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: EncapsulationAlgorithm,
) -> Result<(Vec<u8>, SecretBytes)> {
    let EncapsulationAlgorithm::MlKem = algorithm;
    let alg = kem_algorithm(spec)?;
    let raw = with_params!(spec, raw_public_key(spec, public_key))?;
    let key = kem::EncapsulationKey::new(alg, &raw).map_err(|_| Error::MalformedPublicKey { spec })?;
    let (ciphertext, secret) = key.encapsulate().map_err(|_| Error::Internal("ML-KEM encapsulation"))?;
    Ok((ciphertext.as_ref().to_vec(), SecretBytes::from_slice(secret.as_ref())))
}

/// The raw encapsulation key of a DER SPKI of the parameter set: the OID,
/// the length and the FIPS 203 modulus check, and nothing but the canonical
/// encoding (parameters absent, no trailing data).
fn raw_public_key<K: Params>(spec: KeySpec, public_key: &[u8]) -> Result<Vec<u8>> {
    let malformed = Error::MalformedPublicKey { spec };
    let ek = K::EncapsulationKey::from_public_key_der(public_key).map_err(|_| malformed.clone())?;
    let canonical = ek.to_public_key_der().map_err(|_| Error::Internal("ML-KEM SPKI encoding"))?;
    if canonical.as_bytes() != public_key {
        return Err(malformed);
    }
    Ok(ek.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Seed expansion and both encodings give the keys of the RFC 9935
    /// appendix C examples (as kyber-py computed them, in
    /// `tests/data/ml_kem_kyber_py.txt`); the public API cannot take a
    /// chosen seed, so this is checked here.
    #[test]
    fn keys_from_a_known_seed() {
        let data = include_str!("../tests/data/ml_kem_kyber_py.txt");
        let mut n = 0;
        for record in data.split("\n\n").filter(|r| r.starts_with("spec = ")) {
            let field = |name: &str| {
                let line = record.lines().find(|l| l.starts_with(&format!("{name} ="))).unwrap();
                line.split_once('=').unwrap().1.trim().to_string()
            };
            let spec = KeySpec::parse(&field("spec")).unwrap();
            let seed: [u8; SEED_LEN] = hex(&field("seed")).try_into().unwrap();
            let pair = with_params!(spec, encode_pair(&seed)).unwrap();
            assert_eq!(pair.private_key.expose(), hex(&field("private")), "{spec}");
            assert_eq!(pair.public_key.unwrap(), hex(&field("public")), "{spec}");
            n += 1;
        }
        assert_eq!(n, 3);
    }
}
