//! Cryptographic building blocks, all from aws-lc-rs. Nothing here is
//! hand-rolled: AES-256-GCM, HMAC and SHA-256 come from the provider, this
//! module only fixes formats and wraps secrets so that they are zeroized on
//! drop and never printed.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

pub const TAG_LEN: usize = 16;
pub const AES256_KEY_LEN: usize = 32;

/// Fill `buf` from the operating system's CSPRNG (through aws-lc).
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new().fill(buf).map_err(|_| Error::internal("random source failed"))
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// Secret bytes: zeroized on drop, redacted in `Debug`, compared in
/// constant time. One type for the whole workspace: `kms-crypto`'s.
pub use kms_crypto::SecretBytes;

/// A secret string (a secret access key): zeroized on drop, redacted in
/// `Debug`, compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(s: String) -> Self {
        SecretString(Zeroizing::new(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// A ready-to-use AES-256-GCM key. The raw bytes exist only while it is
/// built; aws-lc keeps (and cleans up) the expanded key schedule.
pub struct AesKey(LessSafeKey);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

impl AesKey {
    pub fn new(raw: &[u8]) -> Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, raw).map_err(|_| Error::internal("bad AES-256 key length"))?;
        Ok(AesKey(LessSafeKey::new(unbound)))
    }

    /// Encrypt `plaintext` under a fresh random nonce; returns
    /// `nonce || ciphertext || tag` appended to `out`.
    pub fn seal_into(&self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[start..])
            .map_err(|_| Error::internal("AES-GCM seal failed"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypt `nonce || ciphertext || tag`. `None` when authentication fails.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(rest.to_vec());
        let n = self.0.open_in_place(nonce, Aad::from(aad), &mut buf).ok()?.len();
        buf.truncate(n);
        Some(SecretBytes::new(std::mem::take(&mut *buf)))
    }
}

/// Symmetric key material of a KMS key (256 bits). No `Serialize`, no
/// `Clone`, redacted `Debug`, zeroized on drop.
pub struct KeyMaterial(Zeroizing<[u8; AES256_KEY_LEN]>);

impl KeyMaterial {
    pub fn generate() -> Result<Self> {
        let mut k = Zeroizing::new([0u8; AES256_KEY_LEN]);
        fill_random(&mut k[..])?;
        Ok(KeyMaterial(k))
    }
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let arr: [u8; AES256_KEY_LEN] = b.try_into().map_err(|_| Error::internal("bad key material length"))?;
        Ok(KeyMaterial(Zeroizing::new(arr)))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0[..]
    }
    pub fn aes(&self) -> Result<AesKey> {
        AesKey::new(&self.0[..])
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

/// The root key: every key material and secret access key is sealed under
/// it before it reaches storage. Sealing binds the record it protects (the
/// `binding` string) as AAD, so a sealed value moved to another record does
/// not open.
pub struct RootKey {
    aes: AesKey,
}

const SEAL_VERSION: u8 = 1;

impl RootKey {
    pub fn generate_encoded() -> Result<Zeroizing<String>> {
        let mut k = Zeroizing::new([0u8; AES256_KEY_LEN]);
        fill_random(&mut k[..])?;
        Ok(Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&k[..])))
    }

    /// Parse a root key from its encoded form (base64 of 32 bytes, surrounding
    /// whitespace ignored). The error message never echoes the input.
    pub fn from_encoded(s: &str) -> std::result::Result<Self, String> {
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| "the root key is not valid base64".to_string())?;
        if raw.len() != AES256_KEY_LEN {
            raw.zeroize();
            return Err(format!("the root key must be {AES256_KEY_LEN} bytes (base64-encoded)"));
        }
        let aes = AesKey::new(&raw).map_err(|e| e.to_string());
        raw.zeroize();
        Ok(RootKey { aes: aes? })
    }

    pub fn seal(&self, binding: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(SEAL_VERSION);
        self.aes.seal_into(&Self::aad(binding), plaintext, &mut out)?;
        Ok(out)
    }

    pub fn open(&self, binding: &str, sealed: &[u8]) -> Result<SecretBytes> {
        match sealed.split_first() {
            Some((&SEAL_VERSION, rest)) => self
                .aes
                .open(&Self::aad(binding), rest)
                .ok_or_else(|| Error::internal(format!("sealed value for {binding} does not open under the root key"))),
            _ => Err(Error::internal(format!("sealed value for {binding} has an unknown format"))),
        }
    }

    fn aad(binding: &str) -> Vec<u8> {
        let mut a = b"kms-root-seal-v1:".to_vec();
        a.extend_from_slice(binding.as_bytes());
        a
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA-256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_seal_binds_record() {
        let enc = RootKey::generate_encoded().unwrap();
        let rk = RootKey::from_encoded(&enc).unwrap();
        let sealed = rk.seal("key/a", b"secret").unwrap();
        assert_eq!(rk.open("key/a", &sealed).unwrap().expose(), b"secret");
        assert!(rk.open("key/b", &sealed).is_err());
        let other = RootKey::from_encoded(&RootKey::generate_encoded().unwrap()).unwrap();
        assert!(other.open("key/a", &sealed).is_err());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn debug_is_redacted() {
        let m = KeyMaterial::generate().unwrap();
        assert_eq!(format!("{m:?}"), "KeyMaterial(<redacted>)");
        let s = SecretString::new("abc".into());
        assert!(!format!("{s:?}").contains("abc"));
        assert!(RootKey::from_encoded("not base64!").unwrap_err().contains("base64"));
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 4231 test case 2.
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}

/// The key a server receives replicated key material under (multi-Region
/// keys between servers): an X25519 key pair whose private half is a
/// service secret sealed under the root key. A sender agrees an ephemeral
/// X25519 key with the receiver's public key and derives (HKDF-SHA256) the
/// AES-256-GCM key that seals each material, bound to its binding (key id
/// and material id): only the receiver can open it, neither the sender's
/// own keys nor anything on the wire.
pub struct PeerKey {
    private: aws_lc_rs::agreement::PrivateKey,
}

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerKey(<redacted>)")
    }
}

/// HKDF-SHA256's salt for seeded key material.
const SEED_MATERIAL_SALT: &[u8] = b"kms seed material v1";

/// Key material a seed derives from a string (docs/SEEDS.md): HKDF-SHA256
/// with salt `kms seed material v1`, the string's UTF-8 bytes as input key
/// material and the key id as info, `len` bytes.
pub fn derive_seed_material(seed: &str, key_id: &str, len: usize) -> Result<SecretBytes> {
    use aws_lc_rs::hkdf;
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SEED_MATERIAL_SALT).extract(seed.as_bytes());
    let info = [key_id.as_bytes()];
    let okm = prk.expand(&info, Len(len)).map_err(|_| Error::internal("hkdf"))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    okm.fill(&mut out).map_err(|_| Error::internal("hkdf"))?;
    Ok(SecretBytes::new(std::mem::take(&mut *out)))
}

/// The material id of seeded material: HMAC-SHA256 keyed with the
/// material over `kms seed material id v1` and the key id, in hex (a key
/// check value: it tells nothing of the material).
pub fn seed_material_id(key_id: &str, material: &[u8]) -> String {
    hex(&hmac_sha256(material, format!("kms seed material id v1/{key_id}").as_bytes()))
}

const PEER_WRAP_INFO: &[u8] = b"kms peer material wrap v1";

fn peer_wrap_key(shared: &[u8], ephemeral_public: &[u8], receiver_public: &[u8]) -> Result<AesKey> {
    use aws_lc_rs::hkdf;
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, &[ephemeral_public, receiver_public].concat());
    let prk = salt.extract(shared);
    let info = [PEER_WRAP_INFO];
    let okm = prk.expand(&info, hkdf::HKDF_SHA256).map_err(|_| Error::internal("hkdf"))?;
    let mut raw = Zeroizing::new([0u8; AES256_KEY_LEN]);
    okm.fill(&mut raw[..]).map_err(|_| Error::internal("hkdf"))?;
    AesKey::new(&raw[..])
}

impl PeerKey {
    /// A new private key (32 random bytes), to be sealed and kept.
    pub fn generate_secret() -> Result<Vec<u8>> {
        let mut k = vec![0u8; 32];
        fill_random(&mut k)?;
        Ok(k)
    }

    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        let private = aws_lc_rs::agreement::PrivateKey::from_private_key(&aws_lc_rs::agreement::X25519, secret)
            .map_err(|_| Error::internal("bad peer wrapping key"))?;
        Ok(PeerKey { private })
    }

    /// The public key senders wrap for (32 bytes).
    pub fn public(&self) -> Result<Vec<u8>> {
        Ok(self.private.compute_public_key().map_err(|_| Error::internal("peer public key"))?.as_ref().to_vec())
    }

    /// The key that opens what a sender wrapped with `ephemeral_public`.
    pub fn unwrapper(&self, ephemeral_public: &[u8]) -> Result<PeerUnwrap> {
        let mine = self.public()?;
        let peer = aws_lc_rs::agreement::UnparsedPublicKey::new(&aws_lc_rs::agreement::X25519, ephemeral_public);
        let key = aws_lc_rs::agreement::agree(&self.private, peer, Error::internal("peer key agreement"), |s| {
            peer_wrap_key(s, ephemeral_public, &mine)
        })?;
        Ok(PeerUnwrap(key))
    }
}

/// Opens material wrapped for this server ([`PeerKey::unwrapper`]).
pub struct PeerUnwrap(AesKey);

impl PeerUnwrap {
    pub fn open(&self, binding: &str, wrapped: &[u8]) -> Result<SecretBytes> {
        self.0.open(binding.as_bytes(), wrapped).ok_or_else(|| Error::internal("wrapped peer material does not open"))
    }
}

/// Wraps material for the server whose [`PeerKey::public`] is `receiver_public`.
pub struct PeerWrap {
    key: AesKey,
    /// The ephemeral public key the receiver needs.
    pub ephemeral_public: Vec<u8>,
}

impl PeerWrap {
    pub fn new(receiver_public: &[u8]) -> Result<Self> {
        use aws_lc_rs::agreement;
        let eph = agreement::PrivateKey::generate(&agreement::X25519).map_err(|_| Error::internal("x25519"))?;
        let ephemeral_public = eph.compute_public_key().map_err(|_| Error::internal("x25519"))?.as_ref().to_vec();
        let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, receiver_public);
        let key = agreement::agree(&eph, peer, Error::internal("the peer's wrapping key is not an X25519 key"), |s| {
            peer_wrap_key(s, &ephemeral_public, receiver_public)
        })?;
        Ok(PeerWrap { key, ephemeral_public })
    }

    pub fn seal(&self, binding: &str, material: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(NONCE_LEN + material.len() + TAG_LEN);
        self.key.seal_into(binding.as_bytes(), material, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod peer_tests {
    use super::*;

    #[test]
    fn material_wrapped_for_a_peer_opens_only_there() {
        let receiver = PeerKey::from_secret(&PeerKey::generate_secret().unwrap()).unwrap();
        let other = PeerKey::from_secret(&PeerKey::generate_secret().unwrap()).unwrap();
        let w = PeerWrap::new(&receiver.public().unwrap()).unwrap();
        let sealed = w.seal("key-material/k/m", b"secret material").unwrap();
        assert!(!sealed.windows(6).any(|x| x == b"secret"));
        let opened = receiver.unwrapper(&w.ephemeral_public).unwrap().open("key-material/k/m", &sealed).unwrap();
        assert_eq!(opened.expose(), b"secret material");
        assert!(receiver.unwrapper(&w.ephemeral_public).unwrap().open("key-material/k/other", &sealed).is_err());
        assert!(other.unwrapper(&w.ephemeral_public).unwrap().open("key-material/k/m", &sealed).is_err());
        assert!(PeerWrap::new(b"short").is_err());
    }
}
