//! Imported key material (crates/kms-crypto/src/import.rs), the bytes a
//! client hands ImportKeyMaterial.
//!
//! * The first byte picks a key spec, the rest is a would-be DER PKCS#8
//!   private key: `import_private_key` accepts it or refuses it with
//!   `InvalidKeyMaterial` / `UnsupportedOperation`, never panics; what it
//!   accepts re-imports to the same private and public key (the encoding
//!   it stores is a fixed point).
//! * The same bytes as wrapped material under a fixed RSA-2048 wrapping key,
//!   with each wrapping algorithm: `unwrap_key_material` opens it or fails
//!   with `DecryptionFailed`, never panics.
#![no_main]

use std::sync::OnceLock;

use kms_crypto::{import_private_key, unwrap_key_material, Error, KeySpec, WrappingAlgorithm};
use libfuzzer_sys::fuzz_target;

const SPECS: &[KeySpec] = &[
    KeySpec::Rsa2048,
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
    KeySpec::EccNistEdwards25519,
    KeySpec::Sm2,
    KeySpec::MlDsa44,
];

const ALGORITHMS: &[WrappingAlgorithm] = &[
    WrappingAlgorithm::RsaesOaepSha1,
    WrappingAlgorithm::RsaesOaepSha256,
    WrappingAlgorithm::RsaAesKeyWrapSha1,
    WrappingAlgorithm::RsaAesKeyWrapSha256,
];

fn wrapping_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| kms_crypto::generate(KeySpec::Rsa2048).expect("RSA key").private_key.expose().to_vec())
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, der)) = data.split_first() else { return };
    let spec = SPECS[pick as usize % SPECS.len()];
    match import_private_key(spec, der) {
        Ok(pair) => {
            let again = import_private_key(spec, pair.private_key.expose()).expect("a stored key re-imports");
            assert_eq!(
                again.private_key.expose(),
                pair.private_key.expose(),
                "{spec:?}: the encoding is a fixed point"
            );
            assert_eq!(again.public_key, pair.public_key, "{spec:?}: the same public key");
        }
        Err(Error::InvalidKeyMaterial { .. } | Error::UnsupportedOperation { .. }) => {}
        Err(e) => panic!("{spec:?}: unexpected error {e:?}"),
    }
    let algorithm = ALGORITHMS[pick as usize % ALGORITHMS.len()];
    match unwrap_key_material(KeySpec::Rsa2048, wrapping_key(), algorithm, der) {
        Ok(_) | Err(Error::DecryptionFailed) => {}
        Err(e) => panic!("{algorithm:?}: unexpected error {e:?}"),
    }
});
