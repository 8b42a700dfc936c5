//! Asymmetric and HMAC keys through the wire with the official client:
//! every key spec created with every key usage AWS allows, and used with
//! every algorithm. Results are checked by implementations independent of
//! the server's: the `openssl` command line (RSA, ECDSA, Ed25519, SM2,
//! OAEP, SM2PKE, ECDH, PKCS#8 / SPKI), the RustCrypto `ml-dsa` crate and
//! aws-lc-rs for ML-DSA (each checks what the other one made in the
//! server), and the RFC 8032 verification equation over curve25519-dalek
//! for Ed25519ph, which OpenSSL 3.0 lacks.

// The deprecated `CustomerMasterKeySpec` members are part of what is checked.
#![allow(deprecated)]

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    CustomerMasterKeySpec, DataKeyPairSpec, DataKeySpec, EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec,
    KeyMetadata, KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;
use base64::Engine as _;

use crate::harness::*;
use crate::symmetric::dev_server;

// ---------------------------------------------------------------- helpers

/// A scratch directory for files handed to `openssl`.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }
    fn path(&self, name: &str) -> String {
        self.0.path().join(name).to_str().unwrap().to_string()
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    /// A DER SubjectPublicKeyInfo written as PEM.
    fn public_pem(&self, name: &str, spki: &[u8]) -> String {
        self.file(name, &pem("PUBLIC KEY", spki))
    }
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Runs `openssl`; `Err(stderr)` when it fails.
fn try_openssl(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("the `openssl` command line is needed by the asymmetric end-to-end tests");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    try_openssl(args).unwrap_or_else(|e| panic!("openssl {args:?}: {e}"))
}

fn digest(alg: &str, data: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest as d;
    let which = match alg {
        a if a.ends_with("256") || a == "SM2DSA" => &d::SHA256,
        a if a.ends_with("384") => &d::SHA384,
        _ => &d::SHA512,
    };
    d::digest(which, data).as_ref().to_vec()
}

fn openssl_md(alg: &str) -> &'static str {
    match alg {
        a if a.ends_with("256") => "-sha256",
        a if a.ends_with("384") => "-sha384",
        _ => "-sha512",
    }
}

const SM2_ID: &str = "distid:1234567812345678";

/// Whether OpenSSL accepts `sig` as `alg`'s signature of `msg` under the
/// SPKI `public` (RSA PKCS#1 v1.5 and PSS, ECDSA, SM2DSA, Ed25519).
fn openssl_verifies(dir: &Dir, alg: &str, public: &str, msg: &[u8], sig: &[u8]) -> bool {
    let m = dir.file("message", msg);
    let s = dir.file("signature", sig);
    let r = match alg {
        "SM2DSA" => try_openssl(&[
            "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-digest", "sm3", "-pkeyopt", SM2_ID, "-in",
            &m, "-sigfile", &s,
        ]),
        "ED25519_SHA_512" => {
            try_openssl(&["pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-in", &m, "-sigfile", &s])
        }
        _ => {
            let mut args = vec!["dgst", openssl_md(alg), "-verify", public, "-signature", &s];
            if alg.starts_with("RSASSA_PSS") {
                args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]);
            }
            args.push(&m);
            try_openssl(&args)
        }
    };
    r.is_ok()
}

/// ML-DSA verification by the RustCrypto `ml-dsa` crate (pure ML-DSA, empty context).
fn ml_dsa_crate_verifies(spec: &str, spki: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    macro_rules! check {
        ($p:ty) => {{
            use ml_dsa::pkcs8::DecodePublicKey as _;
            match (ml_dsa::VerifyingKey::<$p>::from_public_key_der(spki), ml_dsa::Signature::<$p>::try_from(sig)) {
                (Ok(key), Ok(sig)) => ml_dsa::signature::Verifier::verify(&key, msg, &sig).is_ok(),
                _ => false,
            }
        }};
    }
    match spec {
        "ML_DSA_44" => check!(ml_dsa::MlDsa44),
        "ML_DSA_65" => check!(ml_dsa::MlDsa65),
        _ => check!(ml_dsa::MlDsa87),
    }
}

/// ML-DSA verification by aws-lc.
fn aws_lc_ml_dsa_verifies(spec: &str, spki: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    use aws_lc_rs::signature as s;
    let alg = match spec {
        "ML_DSA_44" => &s::ML_DSA_44,
        "ML_DSA_65" => &s::ML_DSA_65,
        _ => &s::ML_DSA_87,
    };
    s::UnparsedPublicKey::new(alg, spki).verify(msg, sig).is_ok()
}

fn sha512(data: &[u8]) -> [u8; 64] {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, data).as_ref().try_into().unwrap()
}

/// RFC 8032 section 5.1.7 for Ed25519ph (empty context): the signature
/// (R, S) of `message`, whose prehash is SHA-512(message), is valid under
/// public key A when [S]B = R + [k]A with
/// k = SHA-512(dom2(1, "") || R || A || SHA-512(message)).
fn ed25519ph_verifies(spki: &[u8], message: &[u8], sig: &[u8]) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    if sig.len() != 64 || spki.len() < 32 {
        return false;
    }
    let a_bytes: [u8; 32] = spki[spki.len() - 32..].try_into().unwrap();
    let Some(a) = CompressedEdwardsY(a_bytes).decompress() else { return false };
    let r: [u8; 32] = sig[..32].try_into().unwrap();
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(sig[32..].try_into().unwrap())) else {
        return false;
    };
    let mut input = b"SigEd25519 no Ed25519 collisions".to_vec();
    input.extend([1u8, 0u8]);
    input.extend(r);
    input.extend(a_bytes);
    input.extend(sha512(message));
    let k = Scalar::from_bytes_mod_order_wide(&sha512(&input));
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &(-a), &s).compress().to_bytes() == r
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn names<T: AsRef<str>>(v: &Option<Vec<T>>) -> Option<Vec<String>> {
    v.as_ref().map(|l| l.iter().map(|x| x.as_ref().to_string()).collect())
}

fn list(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

async fn create(kms: &Client, spec: &str, usage: &str) -> KeyMetadata {
    kms.create_key()
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::from(usage))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {spec} {usage}: {e:?}"))
        .key_metadata
        .unwrap()
}

pub async fn public_key(kms: &Client, key: &str) -> Vec<u8> {
    kms.get_public_key().key_id(key).send().await.unwrap().public_key().unwrap().as_ref().to_vec()
}

pub async fn sign(kms: &Client, key: &str, alg: &str, mt: &str, msg: &[u8]) -> Result<Vec<u8>, (String, String)> {
    kms.sign()
        .key_id(key)
        .signing_algorithm(SigningAlgorithmSpec::from(alg))
        .message_type(MessageType::from(mt))
        .message(Blob::new(msg.to_vec()))
        .send()
        .await
        .map(|o| {
            assert_eq!(o.signing_algorithm().map(|a| a.as_str()), Some(alg));
            o.signature().unwrap().as_ref().to_vec()
        })
        .map_err(err_of)
}

pub async fn verify(
    kms: &Client,
    key: &str,
    alg: &str,
    mt: &str,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), (String, String)> {
    kms.verify()
        .key_id(key)
        .signing_algorithm(SigningAlgorithmSpec::from(alg))
        .message_type(MessageType::from(mt))
        .message(Blob::new(msg.to_vec()))
        .signature(Blob::new(sig.to_vec()))
        .send()
        .await
        .map(|o| assert!(o.signature_valid()))
        .map_err(err_of)
}

const RSA_SIGNING: &[&str] = &[
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
];

/// Every signing key spec with the algorithms DescribeKey lists for it.
const SIGNING: &[(&str, &[&str])] = &[
    ("RSA_2048", RSA_SIGNING),
    ("RSA_3072", RSA_SIGNING),
    ("RSA_4096", RSA_SIGNING),
    ("ECC_NIST_P256", &["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", &["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", &["ECDSA_SHA_512"]),
    ("ECC_SECG_P256K1", &["ECDSA_SHA_256"]),
    ("SM2", &["SM2DSA"]),
    ("ECC_NIST_EDWARDS25519", &["ED25519_SHA_512", "ED25519_PH_SHA_512"]),
    ("ML_DSA_44", &["ML_DSA_SHAKE_256"]),
    ("ML_DSA_65", &["ML_DSA_SHAKE_256"]),
    ("ML_DSA_87", &["ML_DSA_SHAKE_256"]),
];

// ---------------------------------------------------------------- CreateKey, DescribeKey, GetPublicKey

#[tokio::test]
async fn every_spec_and_usage_is_created_and_described_as_aws_does() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let dir = Dir::new();

    // KeyUsage defaults to ENCRYPT_DECRYPT where the spec allows it, else it is required.
    let rsa = kms.create_key().key_spec(KeySpec::Rsa2048).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(rsa.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    let sm2 = kms.create_key().key_spec(KeySpec::Sm2).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(sm2.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    for spec in ["ECC_NIST_P256", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "HMAC_256", "ML_DSA_44"] {
        let e = kms.create_key().key_spec(KeySpec::from(spec)).send().await.unwrap_err();
        assert_eq!(
            err_of(e),
            (
                "ValidationException".into(),
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into()
            ),
            "{spec}"
        );
    }
    // Combinations AWS refuses.
    for (spec, usage) in [
        ("RSA_2048", "KEY_AGREEMENT"),
        ("RSA_4096", "GENERATE_VERIFY_MAC"),
        ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P521", "GENERATE_VERIFY_MAC"),
        ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
        ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"),
        ("ECC_NIST_EDWARDS25519", "ENCRYPT_DECRYPT"),
        ("SM2", "GENERATE_VERIFY_MAC"),
        ("HMAC_256", "SIGN_VERIFY"),
        ("HMAC_512", "ENCRYPT_DECRYPT"),
        ("ML_DSA_65", "ENCRYPT_DECRYPT"),
        ("ML_DSA_87", "KEY_AGREEMENT"),
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "GENERATE_VERIFY_MAC"),
    ] {
        let e = kms
            .create_key()
            .key_spec(KeySpec::from(spec))
            .key_usage(KeyUsageType::from(usage))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err_of(e),
            ("ValidationException".into(), format!("KeyUsage {usage} is not compatible with KeySpec {spec}")),
        );
    }
    // The legacy member works too.
    let legacy = kms
        .create_key()
        .customer_master_key_spec(CustomerMasterKeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(legacy.key_spec(), Some(&KeySpec::EccNistP256));

    // Every spec with every usage AWS allows: only the algorithm list of the usage.
    const RSA_ENC: &[&str] = &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"];
    #[rustfmt::skip]
    let table: &[(&str, &str, &[&str], &str)] = &[
        // (spec, usage, algorithms, what `openssl pkey -text` says about the public key)
        ("RSA_2048", "ENCRYPT_DECRYPT", RSA_ENC, "Public-Key: (2048 bit)"),
        ("RSA_2048", "SIGN_VERIFY", RSA_SIGNING, "Public-Key: (2048 bit)"),
        ("RSA_3072", "ENCRYPT_DECRYPT", RSA_ENC, "Public-Key: (3072 bit)"),
        ("RSA_3072", "SIGN_VERIFY", RSA_SIGNING, "Public-Key: (3072 bit)"),
        ("RSA_4096", "ENCRYPT_DECRYPT", RSA_ENC, "Public-Key: (4096 bit)"),
        ("RSA_4096", "SIGN_VERIFY", RSA_SIGNING, "Public-Key: (4096 bit)"),
        ("ECC_NIST_P256", "SIGN_VERIFY", &["ECDSA_SHA_256"], "ASN1 OID: prime256v1"),
        ("ECC_NIST_P256", "KEY_AGREEMENT", &["ECDH"], "ASN1 OID: prime256v1"),
        ("ECC_NIST_P384", "SIGN_VERIFY", &["ECDSA_SHA_384"], "ASN1 OID: secp384r1"),
        ("ECC_NIST_P384", "KEY_AGREEMENT", &["ECDH"], "ASN1 OID: secp384r1"),
        ("ECC_NIST_P521", "SIGN_VERIFY", &["ECDSA_SHA_512"], "ASN1 OID: secp521r1"),
        ("ECC_NIST_P521", "KEY_AGREEMENT", &["ECDH"], "ASN1 OID: secp521r1"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", &["ECDSA_SHA_256"], "ASN1 OID: secp256k1"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", &["ED25519_SHA_512", "ED25519_PH_SHA_512"], "ED25519 Public-Key"),
        ("SM2", "ENCRYPT_DECRYPT", &["SM2PKE"], "ASN1 OID: SM2"),
        ("SM2", "SIGN_VERIFY", &["SM2DSA"], "ASN1 OID: SM2"),
        ("SM2", "KEY_AGREEMENT", &["ECDH"], "ASN1 OID: SM2"),
        ("HMAC_224", "GENERATE_VERIFY_MAC", &["HMAC_SHA_224"], ""),
        ("HMAC_256", "GENERATE_VERIFY_MAC", &["HMAC_SHA_256"], ""),
        ("HMAC_384", "GENERATE_VERIFY_MAC", &["HMAC_SHA_384"], ""),
        ("HMAC_512", "GENERATE_VERIFY_MAC", &["HMAC_SHA_512"], ""),
        ("ML_DSA_44", "SIGN_VERIFY", &["ML_DSA_SHAKE_256"], ""),
        ("ML_DSA_65", "SIGN_VERIFY", &["ML_DSA_SHAKE_256"], ""),
        ("ML_DSA_87", "SIGN_VERIFY", &["ML_DSA_SHAKE_256"], ""),
        ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE", &["ML_KEM"], ""),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", &["ML_KEM"], ""),
        ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", &["ML_KEM"], ""),
    ];
    for &(spec, usage, algorithms, text) in table {
        let what = format!("{spec} {usage}");
        let created = create(&kms, spec, usage).await;
        let md = kms.describe_key().key_id(created.key_id()).send().await.unwrap().key_metadata.unwrap();
        assert_eq!(md.key_spec().map(|s| s.as_str()), Some(spec), "{what}");
        assert_eq!(md.key_usage().map(|s| s.as_str()), Some(usage), "{what}");
        let expect = |u: &str| if u == usage { list(algorithms) } else { None };
        assert_eq!(names(&md.encryption_algorithms), expect("ENCRYPT_DECRYPT"), "{what}");
        assert_eq!(names(&md.signing_algorithms), expect("SIGN_VERIFY"), "{what}");
        assert_eq!(names(&md.mac_algorithms), expect("GENERATE_VERIFY_MAC"), "{what}");
        assert_eq!(names(&md.key_agreement_algorithms), expect("KEY_AGREEMENT"), "{what}");
        assert_eq!(names(&md.encapsulation_algorithms), expect("ENCAPSULATE_DECAPSULATE"), "{what}");
        assert_eq!(md.current_key_material_id(), None, "{what}: AWS shows material ids for symmetric keys only");
        // AWS fills the deprecated member with the key spec, also for the
        // specs its enum lacks (an ML-DSA key shows "ML_DSA_65").
        assert_eq!(md.customer_master_key_spec().map(|s| s.as_str()), Some(spec), "{what}");
        assert_eq!(created.signing_algorithms, md.signing_algorithms, "{what}: CreateKey shows the same metadata");

        if spec.starts_with("HMAC") {
            let e = kms.get_public_key().key_id(md.key_id()).send().await.unwrap_err();
            assert_eq!(
                err_of(e),
                (
                    "UnsupportedOperationException".into(),
                    format!("{} key spec is {spec} which is not valid for this operation.", md.arn().unwrap())
                )
            );
            continue;
        }
        let out = kms.get_public_key().key_id(md.key_id()).send().await.unwrap();
        assert_eq!(out.key_id(), md.arn(), "{what}");
        assert_eq!(out.key_spec(), md.key_spec(), "{what}");
        assert_eq!(out.key_usage(), md.key_usage(), "{what}");
        assert_eq!(out.customer_master_key_spec(), md.customer_master_key_spec(), "{what}");
        assert_eq!(names(&out.encryption_algorithms), expect("ENCRYPT_DECRYPT"), "{what}");
        assert_eq!(names(&out.signing_algorithms), expect("SIGN_VERIFY"), "{what}");
        assert_eq!(names(&out.key_agreement_algorithms), expect("KEY_AGREEMENT"), "{what}");
        assert_eq!(names(&out.encapsulation_algorithms), expect("ENCAPSULATE_DECAPSULATE"), "{what}");
        let spki = out.public_key().unwrap().as_ref().to_vec();
        if let Some(n) = spec.strip_prefix("ML_KEM_") {
            // OpenSSL 3.0 has no ML-KEM: the SPKI names id-alg-ml-kem-<n>
            // (2.16.840.1.101.3.4.4.x) and holds the raw encapsulation key
            // (tests/e2e/mlkem.rs checks it against kyber-py).
            let (x, len) = match n {
                "512" => (1, 800),
                "768" => (2, 1184),
                _ => (3, 1568),
            };
            let oid = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, x];
            assert!(spki.windows(oid.len()).any(|w| w == oid), "{what}: OID");
            assert_eq!(spki.len(), len + 22, "{what}: SPKI length");
            continue;
        }
        if spec.starts_with("ML_DSA") {
            // OpenSSL 3.0 has no ML-DSA; the ml-dsa crate parses the SPKI.
            use ml_dsa::pkcs8::DecodePublicKey as _;
            let ok = match spec {
                "ML_DSA_44" => ml_dsa::VerifyingKey::<ml_dsa::MlDsa44>::from_public_key_der(&spki).is_ok(),
                "ML_DSA_65" => ml_dsa::VerifyingKey::<ml_dsa::MlDsa65>::from_public_key_der(&spki).is_ok(),
                _ => ml_dsa::VerifyingKey::<ml_dsa::MlDsa87>::from_public_key_der(&spki).is_ok(),
            };
            assert!(ok, "{what}: SPKI does not parse");
            continue;
        }
        // A DER SPKI of the right type: OpenSSL parses it and re-encodes it identically.
        let f = dir.file("spki.der", &spki);
        let described =
            String::from_utf8(openssl(&["pkey", "-pubin", "-inform", "DER", "-in", &f, "-noout", "-text"])).unwrap();
        assert!(described.contains(text), "{what}: {described}");
        assert_eq!(openssl(&["pkey", "-pubin", "-inform", "DER", "-in", &f, "-outform", "DER"]), spki, "{what}");
    }

    // Symmetric keys have no public key.
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    assert_eq!(names(&sym.encryption_algorithms), list(&["SYMMETRIC_DEFAULT"]));
    assert!(sym.signing_algorithms.is_none() && sym.mac_algorithms.is_none());
    let e = kms.get_public_key().key_id(sym.key_id()).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "UnsupportedOperationException".into(),
            format!("{} key spec is SYMMETRIC_DEFAULT which is not valid for this operation.", sym.arn().unwrap())
        )
    );

    // Key state gates asymmetric keys too.
    let k = create(&kms, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let arn = k.arn().unwrap().to_string();
    kms.disable_key().key_id(k.key_id()).send().await.unwrap();
    let e = kms.get_public_key().key_id(k.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e), ("DisabledException".into(), format!("{arn} is disabled.")));
    let e = sign(&kms, k.key_id(), "ECDSA_SHA_256", "RAW", b"m").await.unwrap_err();
    assert_eq!(e, ("DisabledException".into(), format!("{arn} is disabled.")));
    kms.enable_key().key_id(k.key_id()).send().await.unwrap();
    kms.schedule_key_deletion().key_id(k.key_id()).send().await.unwrap();
    let e = sign(&kms, k.key_id(), "ECDSA_SHA_256", "RAW", b"m").await.unwrap_err();
    assert_eq!(e, ("KMSInvalidStateException".into(), format!("{arn} is pending deletion.")));
    server.shutdown().await;
}

// ---------------------------------------------------------------- Sign, Verify

#[tokio::test]
async fn signatures_of_every_spec_and_algorithm_verify_independently() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let dir = Dir::new();
    let message = b"Signed by the service, checked by someone else.".to_vec();

    for &(spec, algorithms) in SIGNING {
        let md = create(&kms, spec, "SIGN_VERIFY").await;
        let key = md.key_id();
        let spki = public_key(&kms, key).await;
        let public = dir.public_pem("public.pem", &spki);
        for &alg in algorithms {
            let what = format!("{spec} {alg}");
            let ml_dsa = alg == "ML_DSA_SHAKE_256";
            if alg != "ED25519_PH_SHA_512" {
                // RAW: the service signs the message.
                let sig = sign(&kms, key, alg, "RAW", &message).await.unwrap();
                if ml_dsa {
                    // Signed by aws-lc in the service, verified by RustCrypto here.
                    assert!(ml_dsa_crate_verifies(spec, &spki, &message, &sig), "{what}");
                } else {
                    assert!(openssl_verifies(&dir, alg, &public, &message, &sig), "{what}: OpenSSL rejects");
                    assert!(!openssl_verifies(&dir, alg, &public, b"another message", &sig), "{what}");
                }
                verify(&kms, key, alg, "RAW", &message, &sig).await.unwrap();
                // A changed signature or message raises KMSInvalidSignatureException, with no message.
                let mut bad = sig.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                let e = verify(&kms, key, alg, "RAW", &message, &bad).await.unwrap_err();
                assert_eq!(e, ("KMSInvalidSignatureException".into(), String::new()), "{what}");
                let e = verify(&kms, key, alg, "RAW", b"another message", &sig).await.unwrap_err();
                assert_eq!(e.0, "KMSInvalidSignatureException", "{what}");
                if !ml_dsa && alg != "ED25519_SHA_512" && alg != "SM2DSA" {
                    // A RAW signature verifies as the signature of the message's DIGEST.
                    verify(&kms, key, alg, "DIGEST", &digest(alg, &message), &sig).await.unwrap();
                }
            }
            match alg {
                "ML_DSA_SHAKE_256" => {
                    // EXTERNAL_MU: the service signs mu (with the ml-dsa crate); aws-lc verifies
                    // the signature as one of the message itself.
                    let mu = kms_crypto::ml_dsa_external_mu(kms_crypto::KeySpec::parse(spec).unwrap(), &spki, &message)
                        .unwrap();
                    let sig = sign(&kms, key, alg, "EXTERNAL_MU", &mu).await.unwrap();
                    assert!(aws_lc_ml_dsa_verifies(spec, &spki, &message, &sig), "{what} EXTERNAL_MU");
                    assert!(ml_dsa_crate_verifies(spec, &spki, &message, &sig), "{what} EXTERNAL_MU");
                    verify(&kms, key, alg, "RAW", &message, &sig).await.unwrap();
                    verify(&kms, key, alg, "EXTERNAL_MU", &mu, &sig).await.unwrap();
                    let e = sign(&kms, key, alg, "EXTERNAL_MU", &mu[..32]).await.unwrap_err();
                    assert_eq!(
                        e,
                        (
                            "ValidationException".into(),
                            "Digest is invalid length for algorithm ML_DSA_SHAKE_256.".into()
                        )
                    );
                    let e = sign(&kms, key, alg, "DIGEST", &mu).await.unwrap_err();
                    assert_eq!(
                        e,
                        (
                            "ValidationException".into(),
                            "Message type DIGEST is incompatible with algorithm ML_DSA_SHAKE_256.".into()
                        )
                    );
                }
                "ED25519_SHA_512" => {
                    let e = sign(&kms, key, alg, "DIGEST", &sha512(&message)).await.unwrap_err();
                    assert_eq!(
                        e,
                        (
                            "ValidationException".into(),
                            "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.".into()
                        )
                    );
                }
                "ED25519_PH_SHA_512" => {
                    // The caller's SHA-512 digest d is signed as Ed25519ph of d (KMS hashes it once more).
                    let d = sha512(&message);
                    let sig = sign(&kms, key, alg, "DIGEST", &d).await.unwrap();
                    assert!(ed25519ph_verifies(&spki, &d, &sig), "{what}");
                    assert!(!ed25519ph_verifies(&spki, &message, &sig), "{what}");
                    verify(&kms, key, alg, "DIGEST", &d, &sig).await.unwrap();
                    let e = verify(&kms, key, "ED25519_SHA_512", "RAW", &d, &sig).await.unwrap_err();
                    assert_eq!(e.0, "KMSInvalidSignatureException");
                    let e = sign(&kms, key, alg, "RAW", &message).await.unwrap_err();
                    assert_eq!(
                        e,
                        (
                            "ValidationException".into(),
                            "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.".into()
                        )
                    );
                    let e = sign(&kms, key, alg, "DIGEST", &d[..32]).await.unwrap_err();
                    assert_eq!(
                        e,
                        (
                            "ValidationException".into(),
                            "Digest is invalid length for algorithm ED25519_PH_SHA_512.".into()
                        )
                    );
                }
                "SM2DSA" => {
                    // DIGEST is e = SM3(Z || M), signed as is: OpenSSL's pkeyutl without -rawin
                    // verifies a signature of a given e.
                    let e_value = digest("SHA_256", b"an SM2 digest e");
                    let sig = sign(&kms, key, alg, "DIGEST", &e_value).await.unwrap();
                    let ef = dir.file("e", &e_value);
                    let sf = dir.file("sig", &sig);
                    openssl(&["pkeyutl", "-verify", "-pubin", "-inkey", &public, "-in", &ef, "-sigfile", &sf]);
                    verify(&kms, key, alg, "DIGEST", &e_value, &sig).await.unwrap();
                }
                _ => {
                    // DIGEST: the service signs the caller's digest; OpenSSL verifies it as
                    // the signature of the message itself.
                    let d = digest(alg, &message);
                    let sig = sign(&kms, key, alg, "DIGEST", &d).await.unwrap();
                    assert!(openssl_verifies(&dir, alg, &public, &message, &sig), "{what} DIGEST");
                    verify(&kms, key, alg, "RAW", &message, &sig).await.unwrap();
                    verify(&kms, key, alg, "DIGEST", &d, &sig).await.unwrap();
                    let e = sign(&kms, key, alg, "DIGEST", &d[1..]).await.unwrap_err();
                    assert_eq!(
                        e,
                        ("ValidationException".into(), format!("Digest is invalid length for algorithm {alg}."))
                    );
                    let e = verify(&kms, key, alg, "DIGEST", &message, &sig).await.unwrap_err();
                    assert_eq!(e.0, "ValidationException");
                    let e = sign(&kms, key, alg, "EXTERNAL_MU", &[0; 64]).await.unwrap_err();
                    assert_eq!(
                        e,
                        (
                            "ValidationException".into(),
                            format!("Message type EXTERNAL_MU is incompatible with algorithm {alg}.")
                        )
                    );
                }
            }
        }
        // An algorithm of another spec.
        let foreign = if spec.starts_with("RSA") { "ECDSA_SHA_256" } else { "RSASSA_PSS_SHA_256" };
        let e = sign(&kms, key, foreign, "RAW", &message).await.unwrap_err();
        assert_eq!(
            e,
            ("InvalidKeyUsageException".into(), format!("Algorithm {foreign} is incompatible with key spec {spec}."))
        );
        // DryRun answers after every check.
        let e = kms
            .sign()
            .key_id(key)
            .signing_algorithm(SigningAlgorithmSpec::from(algorithms[0]))
            .message(Blob::new(message.clone()))
            .dry_run(true)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_of(e).0, "DryRunOperationException", "{spec}");
    }

    // Signing with keys of other usages.
    let enc = create(&kms, "RSA_2048", "ENCRYPT_DECRYPT").await;
    let e = sign(&kms, enc.key_id(), "RSASSA_PSS_SHA_256", "RAW", &message).await.unwrap_err();
    assert_eq!(
        e,
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is ENCRYPT_DECRYPT which is not valid for Sign.", enc.arn().unwrap())
        )
    );
    let mac = create(&kms, "HMAC_224", "GENERATE_VERIFY_MAC").await;
    let e = sign(&kms, mac.key_id(), "RSASSA_PSS_SHA_256", "RAW", &message).await.unwrap_err();
    assert_eq!(
        e,
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.", mac.arn().unwrap())
        )
    );
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let e = verify(&kms, sym.key_id(), "ECDSA_SHA_256", "RAW", &message, b"random text").await.unwrap_err();
    assert_eq!(
        e,
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is ENCRYPT_DECRYPT which is not valid for Verify.", sym.arn().unwrap())
        )
    );
    // Last usage is tracked.
    let k = create(&kms, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let sig = sign(&kms, k.key_id(), "ECDSA_SHA_256", "RAW", &message).await.unwrap();
    let u = kms.get_key_last_usage().key_id(k.key_id()).send().await.unwrap();
    assert_eq!(u.key_last_usage().unwrap().operation().map(|o| o.as_str()), Some("Sign"));
    verify(&kms, k.key_id(), "ECDSA_SHA_256", "RAW", &message, &sig).await.unwrap();
    kms.get_public_key().key_id(k.key_id()).send().await.unwrap();
    let u = kms.get_key_last_usage().key_id(k.key_id()).send().await.unwrap();
    assert_eq!(
        u.key_last_usage().unwrap().operation().map(|o| o.as_str()),
        Some("Verify"),
        "GetPublicKey is not tracked"
    );
    server.shutdown().await;
}

/// The Ed25519ph verifier above, checked against RFC 8032 section 7.3 (message "abc").
#[test]
fn ed25519ph_verifier_matches_rfc8032() {
    let mut spki = hex("302a300506032b6570032100");
    spki.extend(hex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"));
    let sig = hex(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
    );
    assert!(ed25519ph_verifies(&spki, b"abc", &sig));
    assert!(!ed25519ph_verifies(&spki, b"abd", &sig));
}

// ---------------------------------------------------------------- Encrypt, Decrypt, ReEncrypt

#[tokio::test]
async fn rsa_and_sm2_ciphertexts_interoperate_with_openssl() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let dir = Dir::new();
    let limits: &[(&str, &str, usize, &str)] = &[
        ("RSA_2048", "RSAES_OAEP_SHA_1", 214, "sha1"),
        ("RSA_2048", "RSAES_OAEP_SHA_256", 190, "sha256"),
        ("RSA_3072", "RSAES_OAEP_SHA_1", 342, "sha1"),
        ("RSA_3072", "RSAES_OAEP_SHA_256", 318, "sha256"),
        ("RSA_4096", "RSAES_OAEP_SHA_1", 470, "sha1"),
        ("RSA_4096", "RSAES_OAEP_SHA_256", 446, "sha256"),
        ("SM2", "SM2PKE", 1024, ""),
    ];
    let mut keys = std::collections::BTreeMap::new();
    for &(spec, alg, max, md) in limits {
        let what = format!("{spec} {alg}");
        if !keys.contains_key(spec) {
            let k = create(&kms, spec, "ENCRYPT_DECRYPT").await;
            let spki = public_key(&kms, k.key_id()).await;
            keys.insert(spec, (k, spki));
        }
        let (k, spki) = &keys[spec];
        let key = k.key_id();
        let public = dir.public_pem("public.pem", spki);
        let algorithm = EncryptionAlgorithmSpec::from(alg);
        let plaintext: Vec<u8> = (0..max).map(|i| (i * 7 + 3) as u8).collect();

        // The service encrypts the largest plaintext AWS allows and decrypts it (KeyId required).
        let enc = kms
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(plaintext.clone()))
            .encryption_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(enc.encryption_algorithm(), Some(&algorithm), "{what}");
        assert_eq!(enc.key_id(), k.arn(), "{what}");
        let blob = enc.ciphertext_blob().unwrap().clone();
        let modulus = match spec {
            "RSA_2048" => Some(256),
            "RSA_3072" => Some(384),
            "RSA_4096" => Some(512),
            _ => None,
        };
        if let Some(n) = modulus {
            assert_eq!(blob.as_ref().len(), n, "{what}: a raw RSA ciphertext");
        }
        let dec = kms
            .decrypt()
            .key_id(key)
            .ciphertext_blob(blob.clone())
            .encryption_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(dec.plaintext().unwrap().as_ref(), &plaintext[..], "{what}");
        assert_eq!(dec.encryption_algorithm(), Some(&algorithm), "{what}");
        assert_eq!(dec.key_id(), k.arn());
        assert_eq!(dec.key_material_id(), None, "{what}");
        let e = kms.decrypt().ciphertext_blob(blob.clone()).encryption_algorithm(algorithm.clone()).send().await;
        assert_eq!(err_of(e.unwrap_err()).0, "InvalidCiphertextException", "{what}: no KeyId");

        // A ciphertext made by OpenSSL with the public key from GetPublicKey decrypts in the service.
        let p = dir.file("plain", &plaintext);
        let theirs = if spec == "SM2" {
            openssl(&["pkeyutl", "-encrypt", "-pubin", "-inkey", &public, "-in", &p])
        } else {
            let oaep = format!("rsa_oaep_md:{md}");
            let mgf1 = format!("rsa_mgf1_md:{md}");
            openssl(&[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-inkey",
                &public,
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &oaep,
                "-pkeyopt",
                &mgf1,
                "-in",
                &p,
            ])
        };
        let dec = kms
            .decrypt()
            .key_id(key)
            .ciphertext_blob(Blob::new(theirs.clone()))
            .encryption_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(dec.plaintext().unwrap().as_ref(), &plaintext[..], "{what}: OpenSSL's ciphertext");

        // One byte more than AWS allows.
        let e = kms
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(vec![1; max + 1]))
            .encryption_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err_of(e),
            (
                "ValidationException".into(),
                format!("Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes.")
            )
        );
        // Damaged ciphertexts, another algorithm.
        let mut bad = theirs.clone();
        bad[10] ^= 1;
        let e = kms.decrypt().key_id(key).ciphertext_blob(Blob::new(bad)).encryption_algorithm(algorithm.clone());
        assert_eq!(err_of(e.send().await.unwrap_err()).0, "InvalidCiphertextException", "{what}");
        if spec.starts_with("RSA") {
            let other = if alg == "RSAES_OAEP_SHA_1" { "RSAES_OAEP_SHA_256" } else { "RSAES_OAEP_SHA_1" };
            let e = kms
                .decrypt()
                .key_id(key)
                .ciphertext_blob(Blob::new(theirs))
                .encryption_algorithm(EncryptionAlgorithmSpec::from(other))
                .send()
                .await
                .unwrap_err();
            assert_eq!(err_of(e).0, "InvalidCiphertextException", "{what}");
        }
    }

    let (rsa, _) = &keys["RSA_2048"];
    let rsa_arn = rsa.arn().unwrap();
    let pt = || Blob::new(b"small".to_vec());
    // An asymmetric key needs its algorithm named.
    let e = kms.encrypt().key_id(rsa.key_id()).plaintext(pt()).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.".into()
        )
    );
    let e = kms
        .encrypt()
        .key_id(rsa.key_id())
        .plaintext(pt())
        .encryption_algorithm(EncryptionAlgorithmSpec::Sm2Pke)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        ("InvalidKeyUsageException".into(), "Algorithm SM2PKE is incompatible with key spec RSA_2048.".into())
    );
    let e = kms
        .encrypt()
        .key_id(rsa.key_id())
        .plaintext(pt())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException", "asymmetric encryption takes no encryption context");
    let e = kms
        .encrypt()
        .key_id(rsa.key_id())
        .plaintext(pt())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "DryRunOperationException");
    // Symmetric keys take only SYMMETRIC_DEFAULT; no data keys under asymmetric keys.
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let e = kms
        .encrypt()
        .key_id(sym.key_id())
        .plaintext(pt())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.".into()
        )
    );
    let e = kms.generate_data_key().key_id(rsa.key_id()).key_spec(DataKeySpec::Aes256).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.".into()
        )
    );
    // Encrypt with a signing key (AWS's message).
    let signer = create(&kms, "RSA_2048", "SIGN_VERIFY").await;
    let e = kms
        .encrypt()
        .key_id(signer.key_id())
        .plaintext(pt())
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is SIGN_VERIFY which is not valid for Encrypt.", signer.arn().unwrap())
        )
    );
    // A symmetric ciphertext with an HMAC key named: IncorrectKeyException (AWS's answer).
    let hmac = create(&kms, "HMAC_224", "GENERATE_VERIFY_MAC").await;
    let blob = kms.encrypt().key_id(sym.key_id()).plaintext(pt()).send().await.unwrap().ciphertext_blob.unwrap();
    let e = kms.decrypt().ciphertext_blob(blob.clone()).key_id(hmac.key_id()).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "IncorrectKeyException".into(),
            "The key ID in the request does not identify a CMK that can perform this operation.".into()
        )
    );

    // ReEncrypt between a symmetric and an asymmetric key, both ways.
    let to_rsa = kms
        .re_encrypt()
        .ciphertext_blob(blob)
        .destination_key_id(rsa.key_id())
        .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(to_rsa.key_id(), Some(rsa_arn));
    assert_eq!(to_rsa.destination_encryption_algorithm(), Some(&EncryptionAlgorithmSpec::RsaesOaepSha256));
    assert_eq!(to_rsa.destination_key_material_id(), None);
    let back = kms
        .re_encrypt()
        .ciphertext_blob(to_rsa.ciphertext_blob().unwrap().clone())
        .source_key_id(rsa.key_id())
        .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .destination_key_id(sym.key_id())
        .destination_encryption_context("to", "sym")
        .send()
        .await
        .unwrap();
    assert_eq!(back.source_key_id(), Some(rsa_arn));
    assert_eq!(back.source_encryption_algorithm(), Some(&EncryptionAlgorithmSpec::RsaesOaepSha256));
    let dec = kms
        .decrypt()
        .ciphertext_blob(back.ciphertext_blob().unwrap().clone())
        .encryption_context("to", "sym")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"small");
    let u = kms.get_key_last_usage().key_id(rsa.key_id()).send().await.unwrap();
    assert_eq!(u.key_last_usage().unwrap().operation().map(|o| o.as_str()), Some("ReEncrypt"));
    server.shutdown().await;
}

// ---------------------------------------------------------------- GenerateMac, VerifyMac

#[tokio::test]
async fn hmac_keys_generate_and_verify_macs() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let message = Blob::new(b"authenticate me".to_vec());
    let mut macs = vec![];
    for (spec, alg, len) in [
        ("HMAC_224", "HMAC_SHA_224", 28),
        ("HMAC_256", "HMAC_SHA_256", 32),
        ("HMAC_384", "HMAC_SHA_384", 48),
        ("HMAC_512", "HMAC_SHA_512", 64),
    ] {
        let k = create(&kms, spec, "GENERATE_VERIFY_MAC").await;
        let algorithm = MacAlgorithmSpec::from(alg);
        let out =
            kms.generate_mac().key_id(k.key_id()).message(message.clone()).mac_algorithm(algorithm.clone()).send();
        let out = out.await.unwrap();
        assert_eq!(out.key_id(), k.arn());
        assert_eq!(out.mac_algorithm(), Some(&algorithm));
        let mac = out.mac().unwrap().as_ref().to_vec();
        assert_eq!(mac.len(), len, "{spec}");
        // HMAC is deterministic.
        let again = kms.generate_mac().key_id(k.key_id()).message(message.clone()).mac_algorithm(algorithm.clone());
        assert_eq!(again.send().await.unwrap().mac().unwrap().as_ref(), &mac[..], "{spec}");
        let v = kms
            .verify_mac()
            .key_id(k.key_id())
            .message(message.clone())
            .mac_algorithm(algorithm.clone())
            .mac(Blob::new(mac.clone()))
            .send()
            .await
            .unwrap();
        assert!(v.mac_valid());
        assert_eq!(v.key_id(), k.arn());
        let mut bad = mac.clone();
        bad[0] ^= 1;
        for (msg, tag) in [
            (message.clone(), bad),
            (Blob::new(b"authenticate you".to_vec()), mac.clone()),
            (message.clone(), mac[..len - 1].to_vec()),
        ] {
            let e = kms
                .verify_mac()
                .key_id(k.key_id())
                .message(msg)
                .mac_algorithm(algorithm.clone())
                .mac(Blob::new(tag))
                .send()
                .await
                .unwrap_err();
            assert_eq!(err_of(e), ("KMSInvalidMacException".into(), String::new()), "{spec}");
        }
        // Another HMAC algorithm (AWS's message).
        let other = if alg == "HMAC_SHA_512" { "HMAC_SHA_256" } else { "HMAC_SHA_512" };
        let e = kms
            .generate_mac()
            .key_id(k.key_id())
            .message(message.clone())
            .mac_algorithm(MacAlgorithmSpec::from(other))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err_of(e),
            ("InvalidKeyUsageException".into(), format!("Algorithm {other} is incompatible with key spec {spec}."))
        );
        let e = kms
            .generate_mac()
            .key_id(k.key_id())
            .message(message.clone())
            .mac_algorithm(algorithm.clone())
            .dry_run(true)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_of(e).0, "DryRunOperationException");
        macs.push(mac);
    }
    let k = create(&kms, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    let mac = kms
        .generate_mac()
        .key_id(k.key_id())
        .message(message.clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert_ne!(mac.mac().unwrap().as_ref(), &macs[1][..], "two HMAC_256 keys, two keys");

    // GenerateMac with a symmetric key, Encrypt with an HMAC key (AWS's messages).
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let e = kms
        .generate_mac()
        .key_id(sym.key_id())
        .message(message.clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha224)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.", sym.arn().unwrap())
        )
    );
    let e = kms.encrypt().key_id(k.key_id()).plaintext(message.clone()).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt.", k.arn().unwrap())
        )
    );
    let e = kms
        .generate_mac()
        .key_id(k.key_id())
        .message(Blob::new(vec![0; 4097]))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "ValidationException".into(),
            "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096".into()
        )
    );
    // What the SDK cannot send: an unknown algorithm, missing members (AWS's texts).
    let raw = raw_client(&format!("http://{}", server.addr), "test", "test");
    let r = raw
        .call(
            "TrentService.GenerateMac",
            &serde_json::json!({"KeyId": k.key_id(), "Message": b64(b"m"), "MacAlgorithm": "INVALID"}),
        )
        .await
        .unwrap();
    assert_eq!(
        r.error().unwrap(),
        (
            "ValidationException".into(),
            "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]".into()
        )
    );
    let r = raw.call("TrentService.Sign", &serde_json::json!({"KeyId": k.key_id(), "Message": b64(b"m")})).await;
    assert_eq!(
        r.unwrap().error().unwrap().1,
        "1 validation error detected: Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null"
    );
    let u = kms.get_key_last_usage().key_id(k.key_id()).send().await.unwrap();
    assert_eq!(u.key_last_usage().unwrap().operation().map(|o| o.as_str()), Some("GenerateMac"));
    server.shutdown().await;
}

// ---------------------------------------------------------------- DeriveSharedSecret

#[tokio::test]
async fn shared_secrets_match_the_peer_side() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let dir = Dir::new();
    let derive = |key: String, peer: Vec<u8>| {
        let kms = kms.clone();
        async move {
            kms.derive_shared_secret()
                .key_id(key)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(Blob::new(peer))
                .send()
                .await
        }
    };
    let mut peers = vec![];
    for (spec, curve, len) in
        [("ECC_NIST_P256", "P-256", 32), ("ECC_NIST_P384", "P-384", 48), ("ECC_NIST_P521", "P-521", 66)]
    {
        let k = create(&kms, spec, "KEY_AGREEMENT").await;
        let ours = dir.public_pem("kms.pem", &public_key(&kms, k.key_id()).await);
        // The peer: a key OpenSSL generates; it derives with the KMS key's public key.
        let peer = dir.path("peer.pem");
        let curve_opt = format!("ec_paramgen_curve:{curve}");
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", &curve_opt, "-out", &peer]);
        let peer_spki = openssl(&["pkey", "-in", &peer, "-pubout", "-outform", "DER"]);
        let theirs = openssl(&["pkeyutl", "-derive", "-inkey", &peer, "-peerkey", &ours]);
        let out = derive(k.key_id().to_string(), peer_spki.clone()).await.unwrap();
        assert_eq!(out.shared_secret().unwrap().as_ref(), &theirs[..], "{spec}");
        assert_eq!(theirs.len(), len);
        assert_eq!(out.key_id(), k.arn());
        assert_eq!(out.key_agreement_algorithm(), Some(&KeyAgreementAlgorithmSpec::Ecdh));
        assert_eq!(out.key_origin().map(|o| o.as_str()), Some("AWS_KMS"));
        peers.push((k, peer_spki));
    }
    // SM2: OpenSSL refuses to derive with SM2 keys; the peer side is kms-crypto.
    let k = create(&kms, "SM2", "KEY_AGREEMENT").await;
    let sm2_spki = public_key(&kms, k.key_id()).await;
    let peer = kms_crypto::generate(kms_crypto::KeySpec::Sm2).unwrap();
    let out = derive(k.key_id().to_string(), peer.public_key.clone().unwrap()).await.unwrap();
    let theirs = kms_crypto::derive_shared_secret(
        kms_crypto::KeySpec::Sm2,
        kms_crypto::KeyAgreementAlgorithm::Ecdh,
        peer.private_key.expose(),
        &sm2_spki,
    )
    .unwrap();
    assert_eq!(out.shared_secret().unwrap().as_ref(), theirs.expose());

    // A public key that is not an SPKI, or on another curve: ValidationException with no message (AWS).
    let (p256, _) = &peers[0];
    let (_, p384_peer) = &peers[1];
    for bad in [b"not a public key".to_vec(), p384_peer.clone()] {
        let e = derive(p256.key_id().to_string(), bad).await.unwrap_err();
        assert_eq!(err_of(e), ("ValidationException".into(), String::new()));
    }
    // Keys of other usages (AWS's messages).
    let signer = create(&kms, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let e = derive(signer.key_id().to_string(), peers[0].1.clone()).await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.", signer.arn().unwrap())
        )
    );
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let e = derive(sym.key_id().to_string(), peers[0].1.clone()).await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!("{} key usage is ENCRYPT_DECRYPT which is not valid for DeriveSharedSecret.", sym.arn().unwrap())
        )
    );
    let e = kms
        .derive_shared_secret()
        .key_id(p256.key_id())
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peers[0].1.clone()))
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "DryRunOperationException");
    let raw = raw_client(&format!("http://{}", server.addr), "test", "test");
    let r = raw
        .call(
            "TrentService.DeriveSharedSecret",
            &serde_json::json!({"KeyId": p256.key_id(), "KeyAgreementAlgorithm": "INVALID", "PublicKey": b64(&peers[0].1)}),
        )
        .await
        .unwrap();
    assert_eq!(
        r.error().unwrap(),
        (
            "ValidationException".into(),
            "1 validation error detected: Value 'INVALID' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]".into()
        )
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- GenerateDataKeyPair

#[tokio::test]
async fn data_key_pairs_are_openssl_keys_wrapped_under_a_symmetric_key() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let dir = Dir::new();
    let wrap = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let public_of = |pkcs8: &[u8]| {
        let f = dir.file("private.der", pkcs8);
        // The private key is PKCS#8 (version 0), and OpenSSL derives the returned public key from it.
        let parsed = String::from_utf8(openssl(&["asn1parse", "-inform", "DER", "-in", &f])).unwrap();
        assert!(parsed.lines().nth(1).is_some_and(|l| l.contains("INTEGER           :00")), "{parsed}");
        openssl(&["pkey", "-inform", "DER", "-in", &f, "-pubout", "-outform", "DER"])
    };
    for spec in [
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "SM2",
        "ECC_NIST_EDWARDS25519",
    ] {
        let pair = kms
            .generate_data_key_pair()
            .key_id(wrap.key_id())
            .key_pair_spec(DataKeyPairSpec::from(spec))
            .encryption_context("purpose", "e2e")
            .send()
            .await
            .unwrap();
        assert_eq!(pair.key_id(), wrap.arn());
        assert_eq!(pair.key_pair_spec().map(|s| s.as_str()), Some(spec));
        assert_eq!(pair.key_material_id(), wrap.current_key_material_id());
        let private = pair.private_key_plaintext().unwrap().as_ref().to_vec();
        let public = pair.public_key().unwrap().as_ref().to_vec();
        assert_eq!(public_of(&private), public, "{spec}");
        // The encrypted private key is an ordinary ciphertext of the wrapping key and context.
        let blob = pair.private_key_ciphertext_blob().unwrap().clone();
        let dec = kms.decrypt().ciphertext_blob(blob.clone()).encryption_context("purpose", "e2e").send().await;
        assert_eq!(dec.unwrap().plaintext().unwrap().as_ref(), &private[..], "{spec}");
        let e = kms.decrypt().ciphertext_blob(blob).send().await.unwrap_err();
        assert_eq!(err_of(e).0, "InvalidCiphertextException");

        let pair = kms
            .generate_data_key_pair_without_plaintext()
            .key_id(wrap.key_id())
            .key_pair_spec(DataKeyPairSpec::from(spec))
            .send()
            .await
            .unwrap();
        assert_eq!(pair.key_pair_spec().map(|s| s.as_str()), Some(spec));
        let dec = kms.decrypt().ciphertext_blob(pair.private_key_ciphertext_blob().unwrap().clone()).send().await;
        let private = dec.unwrap().plaintext().unwrap().as_ref().to_vec();
        assert_eq!(public_of(&private), pair.public_key().unwrap().as_ref(), "{spec}");
    }
    // A pair's private key signs; the public key verifies (OpenSSL both sides).
    let pair = kms
        .generate_data_key_pair()
        .key_id(wrap.key_id())
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap();
    let key = dir.file("pair.der", pair.private_key_plaintext().unwrap().as_ref());
    let public = dir.public_pem("pair.pem", pair.public_key().unwrap().as_ref());
    let m = dir.file("m", b"data key pair");
    let sig = dir.path("sig");
    openssl(&["dgst", "-sha256", "-keyform", "DER", "-sign", &key, "-out", &sig, &m]);
    openssl(&["dgst", "-sha256", "-verify", &public, "-signature", &sig, &m]);

    // Only under symmetric encryption keys; ML-KEM pairs are not implemented.
    let rsa = create(&kms, "RSA_2048", "ENCRYPT_DECRYPT").await;
    let e = kms
        .generate_data_key_pair()
        .key_id(rsa.key_id())
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.".into()
        )
    );
    let signer = create(&kms, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let e = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(signer.key_id())
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "InvalidKeyUsageException".into(),
            format!(
                "{} key usage is SIGN_VERIFY which is not valid for GenerateDataKeyPairWithoutPlaintext.",
                signer.arn().unwrap()
            )
        )
    );
    let e = kms
        .generate_data_key_pair()
        .key_id(wrap.key_id())
        .key_pair_spec(DataKeyPairSpec::Rsa4096)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "DryRunOperationException");
    let u = kms.get_key_last_usage().key_id(wrap.key_id()).send().await.unwrap();
    assert_eq!(u.key_last_usage().unwrap().operation().map(|o| o.as_str()), Some("GenerateDataKeyPair"));
    server.shutdown().await;
}

// ---------------------------------------------------------------- authorization, audit, restart

const A: &str = "111122223333";

fn policy_with(statements: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/admin"}},"Action":"kms:*","Resource":"*"}},{statements}]}}"#
    )
}

fn allow_bob(sid: &str, actions: &str, condition: &str) -> String {
    format!(
        r#"{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/bob"}},"Action":{actions},"Resource":"*","Condition":{{"StringEquals":{condition}}}}}"#
    )
}

/// Files under `dir` (recursively) that contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if std::fs::read(&p).unwrap().windows(needle.len()).any(|w| w == needle) {
            hits.push(p.display().to_string());
        }
    }
    hits
}

#[tokio::test]
async fn condition_keys_grants_audit_and_restart() {
    use aws_sdk_kms::types::GrantOperation;
    let data = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(data.path()).await;
    let admin = ts.sdk();
    let admin_raw = ts.raw();
    let ep = ts.endpoint();
    let (bk, bs) = create_user(&admin_raw, "bob", None).await;
    let bob = sdk_client(&ep, &bk, &bs);
    let (ck, cs) = create_user(&admin_raw, "carol", None).await;
    let carol = sdk_client(&ep, &ck, &cs);
    let dir = Dir::new();
    let message = b"a message only the caller should see".to_vec();

    let rsa_policy = policy_with(&format!(
        "{},{}",
        allow_bob(
            "BobSignsPss",
            r#"["kms:Sign","kms:Verify"]"#,
            r#"{"kms:SigningAlgorithm":"RSASSA_PSS_SHA_256","kms:MessageType":"RAW"}"#
        ),
        allow_bob("BobReads", r#""kms:GetPublicKey""#, r#"{"kms:CallerAccount":"111122223333"}"#)
    ));
    let rsa = admin
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify)
        .policy(rsa_policy)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let mac_policy = policy_with(&allow_bob(
        "BobMacs",
        r#"["kms:GenerateMac","kms:VerifyMac"]"#,
        r#"{"kms:MacAlgorithm":"HMAC_SHA_256"}"#,
    ));
    let hmac = admin
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .policy(mac_policy)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let ka_policy =
        policy_with(&allow_bob("BobAgrees", r#""kms:DeriveSharedSecret""#, r#"{"kms:KeyAgreementAlgorithm":"ECDH"}"#));
    let ka = admin
        .create_key()
        .key_spec(KeySpec::EccNistP384)
        .key_usage(KeyUsageType::KeyAgreement)
        .policy(ka_policy)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let wrap_policy = policy_with(&allow_bob(
        "BobPairs",
        r#"["kms:GenerateDataKeyPair","kms:GenerateDataKeyPairWithoutPlaintext"]"#,
        r#"{"kms:DataKeyPairSpec":"ECC_NIST_P256","kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#,
    ));
    let wrap = admin.create_key().policy(wrap_policy).send().await.unwrap().key_metadata.unwrap();

    // kms:SigningAlgorithm and kms:MessageType.
    let spki = public_key(&bob, rsa.key_id()).await;
    let public = dir.public_pem("rsa.pem", &spki);
    let sig = sign(&bob, rsa.key_id(), "RSASSA_PSS_SHA_256", "RAW", &message).await.unwrap();
    assert!(openssl_verifies(&dir, "RSASSA_PSS_SHA_256", &public, &message, &sig));
    verify(&bob, rsa.key_id(), "RSASSA_PSS_SHA_256", "RAW", &message, &sig).await.unwrap();
    let e = sign(&bob, rsa.key_id(), "RSASSA_PKCS1_V1_5_SHA_256", "RAW", &message).await.unwrap_err();
    assert_eq!(e.0, "AccessDeniedException");
    assert!(e.1.contains("kms:Sign"), "{}", e.1);
    let e = sign(&bob, rsa.key_id(), "RSASSA_PSS_SHA_256", "DIGEST", &digest("SHA_256", &message)).await.unwrap_err();
    assert_eq!(e.0, "AccessDeniedException");
    // kms:MacAlgorithm.
    let mac = bob
        .generate_mac()
        .key_id(hmac.key_id())
        .message(Blob::new(message.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac
        .unwrap();
    // kms:KeyAgreementAlgorithm.
    let peer = kms_crypto::generate(kms_crypto::KeySpec::EccNistP384).unwrap();
    let shared = bob
        .derive_shared_secret()
        .key_id(ka.key_id())
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer.public_key.clone().unwrap()))
        .send()
        .await
        .unwrap()
        .shared_secret
        .unwrap();
    // kms:DataKeyPairSpec.
    let pair = bob
        .generate_data_key_pair()
        .key_id(wrap.key_id())
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap();
    let private = pair.private_key_plaintext().unwrap().as_ref().to_vec();
    let e = bob
        .generate_data_key_pair()
        .key_id(wrap.key_id())
        .key_pair_spec(DataKeyPairSpec::EccNistP384)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");

    // A grant: carol may sign (and only sign) with the RSA key.
    let e = sign(&carol, rsa.key_id(), "RSASSA_PSS_SHA_256", "RAW", &message).await.unwrap_err();
    assert_eq!(e.0, "AccessDeniedException");
    admin
        .create_grant()
        .key_id(rsa.key_id())
        .grantee_principal(format!("arn:aws:iam::{A}:user/carol"))
        .operations(GrantOperation::Sign)
        .send()
        .await
        .unwrap();
    let carol_sig = sign(&carol, rsa.key_id(), "RSASSA_PKCS1_V1_5_SHA_512", "RAW", &message).await.unwrap();
    assert!(openssl_verifies(&dir, "RSASSA_PKCS1_V1_5_SHA_512", &public, &message, &carol_sig));
    let e = verify(&carol, rsa.key_id(), "RSASSA_PKCS1_V1_5_SHA_512", "RAW", &message, &carol_sig).await.unwrap_err();
    assert_eq!(e.0, "AccessDeniedException");
    ts.stop().await;

    // The audit trail: every call recorded with its key, no secret anywhere.
    let audit = data.path().join("audit");
    for secret in [&message[..], &sig[..], &carol_sig[..], &private[..], mac.as_ref(), shared.as_ref()] {
        assert_eq!(files_containing(&audit, b64(secret).as_bytes()), Vec::<String>::new());
        assert_eq!(files_containing(&audit, secret), Vec::<String>::new());
    }
    let events = kms_audit::query::events(&audit).unwrap();
    let signed = events
        .iter()
        .find(|e| e["eventName"] == "Sign" && e["userIdentity"]["userName"] == "bob" && e["errorCode"].is_null())
        .unwrap();
    assert_eq!(signed["requestParameters"]["signingAlgorithm"], "RSASSA_PSS_SHA_256");
    assert_eq!(signed["requestParameters"]["messageType"], "RAW");
    assert!(signed["requestParameters"].get("message").is_none());
    assert!(signed["responseElements"].is_null());
    assert_eq!(signed["resources"][0]["ARN"], rsa.arn().unwrap());
    assert_eq!(
        signed["additionalEventData"]["authorizationDecision"],
        "allowed by key policy statement \"BobSignsPss\""
    );
    for name in ["GetPublicKey", "GenerateMac", "DeriveSharedSecret", "GenerateDataKeyPair", "Verify"] {
        let ev = events.iter().find(|e| e["eventName"] == name && e["errorCode"].is_null()).unwrap();
        assert!(ev["responseElements"].is_null(), "{name}");
        assert_eq!(ev["readOnly"], true, "{name}");
    }

    // At rest: the private key is sealed (the record holds only the public key in clear).
    let store = kms_store::RedbStore::open(&data.path().join("kms.redb")).unwrap();
    let rec = kms_core::ports::Store::get_key(&store, rsa.key_id()).await.unwrap().unwrap();
    drop(store);
    assert_eq!(rec.public_key.as_deref(), Some(&spki[..]));
    let root = kms_core::crypto::RootKey::from_encoded(&std::fs::read_to_string(data.path().join("root.key")).unwrap())
        .unwrap();
    let m = &rec.materials[0];
    let pkcs8 = root.open(&kms_core::types::KeyRecord::material_binding(rsa.key_id(), &m.id), &m.sealed).unwrap();
    let f = dir.file("kms.der", pkcs8.expose());
    assert_eq!(openssl(&["pkey", "-inform", "DER", "-in", &f, "-pubout", "-outform", "DER"]), spki);
    std::fs::remove_file(&f).unwrap();
    let data_files = files_containing(data.path(), pkcs8.expose());
    assert_eq!(data_files, Vec::<String>::new());

    // After a restart the keys open from the store: same public key, same HMAC key.
    let mut ts = TestServer::start(data.path()).await;
    let admin = ts.sdk();
    assert_eq!(public_key(&admin, rsa.key_id()).await, spki);
    let sig = sign(&admin, rsa.key_id(), "RSASSA_PSS_SHA_512", "RAW", &message).await.unwrap();
    assert!(openssl_verifies(&dir, "RSASSA_PSS_SHA_512", &public, &message, &sig));
    let again = admin
        .generate_mac()
        .key_id(hmac.key_id())
        .message(Blob::new(message.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(again.mac().unwrap(), &mac);
    let again = admin
        .derive_shared_secret()
        .key_id(ka.key_id())
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer.public_key.clone().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.shared_secret().unwrap(), &shared);
    let u = admin.get_key_last_usage().key_id(ka.key_id()).send().await.unwrap();
    assert_eq!(u.key_last_usage().unwrap().operation().map(|o| o.as_str()), Some("DeriveSharedSecret"));
    ts.stop().await;
}
