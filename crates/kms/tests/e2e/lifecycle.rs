//! Key material lifecycle through the official client: rotations (on
//! demand, and scheduled ones by the service clock, across a restart),
//! imported material (wrapped here with aws-lc-rs; scripts/lifecycle.py
//! wraps with Python's `cryptography` for every algorithm and spec), expiry,
//! and the audit records of what the background job does.

use std::time::Duration;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, IncludeKeyMaterial, KeyMaterialState, KeySpec, KeyState, KeyUsageType,
    OriginType, RotationType, WrappingKeySpec,
};
use serde_json::Value;

use crate::harness::*;
use crate::symmetric::{advance, dev_server};

const DAY: i64 = 86400;

async fn encrypt(kms: &aws_sdk_kms::Client, key: &str, pt: &[u8]) -> Blob {
    kms.encrypt().key_id(key).plaintext(Blob::new(pt.to_vec())).send().await.unwrap().ciphertext_blob.unwrap()
}

/// Decrypts `blob`, checks the plaintext, returns the material id Decrypt names.
async fn decrypt(kms: &aws_sdk_kms::Client, blob: &Blob, pt: &[u8]) -> String {
    let d = kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    assert_eq!(d.plaintext().unwrap().as_ref(), pt);
    d.key_material_id().unwrap().to_string()
}

/// RotateKeyOnDemand, then wait for it to finish.
pub async fn rotate_now(kms: &aws_sdk_kms::Client, key: &str) -> String {
    let r = kms.rotate_key_on_demand().key_id(key).send().await.unwrap();
    wait_rotation(kms, key).await;
    r.key_id().unwrap().to_string()
}

/// Wait for an on-demand rotation to finish, as AWS's own tests do.
pub async fn wait_rotation(kms: &aws_sdk_kms::Client, key: &str) {
    for _ in 0..200 {
        let s = kms.get_key_rotation_status().key_id(key).send().await.unwrap();
        if s.on_demand_rotation_start_date().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the on-demand rotation of {key} did not finish");
}

async fn current_material(kms: &aws_sdk_kms::Client, key: &str) -> String {
    let md = kms.describe_key().key_id(key).send().await.unwrap().key_metadata.unwrap();
    md.current_key_material_id().unwrap().to_string()
}

/// Three on-demand rotations and one scheduled one; every ciphertext still
/// decrypts with the material it was made under, across restarts. The
/// scheduled rotation happens with the server stopped and the store opened
/// by the service alone with a clock 91 days ahead: the queue is the store's.
#[tokio::test]
async fn rotations_keep_every_ciphertext_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let md = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let (id, arn) = (md.key_id().to_string(), md.arn().unwrap().to_string());
    let mut made = vec![(encrypt(&kms, &id, b"c0").await, b"c0".to_vec(), current_material(&kms, &id).await)];
    for i in 1..=3 {
        assert_eq!(rotate_now(&kms, &id).await, arn, "RotateKeyOnDemand answers the key ARN");
        let pt = format!("c{i}").into_bytes();
        made.push((encrypt(&kms, &id, &pt).await, pt, current_material(&kms, &id).await));
    }
    let materials: std::collections::BTreeSet<_> = made.iter().map(|m| m.2.clone()).collect();
    assert_eq!(materials.len(), 4, "every rotation makes a new material");
    for (blob, pt, mid) in &made {
        assert_eq!(&decrypt(&kms, blob, pt).await, mid);
    }
    let listed = kms.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(listed.rotations().len(), 3, "ROTATIONS_ONLY: the rotations, not the first material");
    assert!(listed.rotations().iter().all(|r| r.rotation_type() == Some(&RotationType::OnDemand)));
    let all = kms.list_key_rotations().key_id(&id).include_key_material(IncludeKeyMaterial::AllKeyMaterial);
    let all = all.send().await.unwrap();
    let states: Vec<_> = all.rotations().iter().map(|r| r.key_material_state().unwrap().clone()).collect();
    assert_eq!(states.len(), 4);
    assert_eq!(states[3], KeyMaterialState::Current, "oldest first, the current one last");
    assert!(all.rotations()[0].rotation_date().is_none(), "the first material has no rotation date");
    // ReEncrypt brings an old ciphertext to the current material.
    let re = kms.re_encrypt().ciphertext_blob(made[0].0.clone()).destination_key_id(&id).send().await.unwrap();
    assert_eq!(re.source_key_material_id(), Some(made[0].2.as_str()));
    assert_eq!(re.destination_key_material_id(), Some(made[3].2.as_str()));
    kms.enable_key_rotation().key_id(&id).rotation_period_in_days(90).send().await.unwrap();
    ts.stop().await;

    // The service alone on the same store, 91 days later.
    {
        let root = std::fs::read_to_string(dir.path().join(kms::root::ROOT_KEY_FILE)).unwrap();
        let root = kms_core::crypto::RootKey::from_encoded(&root).unwrap();
        let store = kms_store::RedbStore::open(&dir.path().join(kms::server::DB_FILE)).unwrap();
        let clock = kms_core::ports::Clock::adjustable();
        assert!(clock.advance(91 * DAY * 1000));
        let cfg = kms_core::service::RegionsConfig {
            partition: "aws".into(),
            default_region: "us-east-1".into(),
            served: kms_core::service::Served::List(vec!["us-east-1".into()]),
            deletion_guard_days: 0,
            peers: Default::default(),
            quotas: Default::default(),
            hsm: None,
            xks: None,
        };
        let regions =
            kms_core::service::Regions::open(std::sync::Arc::new(store), root, std::sync::Arc::new(clock), cfg)
                .await
                .unwrap();
        let service = regions.get("us-east-1").await.unwrap().unwrap();
        assert_eq!(regions.run_jobs().await.unwrap(), 1, "the key due for rotation rotates");
        let events = service.take_job_events();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].event_name, events[0].rotation_type), ("RotateKey", Some("AUTOMATIC")));
        assert_eq!(events[0].previous_key_material_id.as_deref(), Some(made[3].2.as_str()));
        assert_eq!(regions.run_jobs().await.unwrap(), 0, "nothing is due twice");
    }

    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    for (blob, pt, mid) in &made {
        assert_eq!(&decrypt(&kms, blob, pt).await, mid, "after the restart");
    }
    let listed = kms.list_key_rotations().key_id(&id).send().await.unwrap();
    let types: Vec<_> = listed.rotations().iter().map(|r| r.rotation_type().unwrap().clone()).collect();
    assert_eq!(types.last(), Some(&RotationType::Automatic), "{types:?}");
    let after = listed.rotations().last().unwrap().key_material_id().unwrap().to_string();
    assert_eq!(current_material(&kms, &id).await, after);
    let c4 = encrypt(&kms, &id, b"c4").await;
    assert_eq!(decrypt(&kms, &c4, b"c4").await, after, "new ciphertexts use the new material");
    ts.stop().await;
}

/// CreateKey with origin EXTERNAL (the key waits for its material).
pub async fn external_key(
    kms: &aws_sdk_kms::Client,
    spec: KeySpec,
    usage: KeyUsageType,
) -> aws_sdk_kms::types::KeyMetadata {
    let k = kms.create_key().origin(OriginType::External).key_spec(spec).key_usage(usage).send().await.unwrap();
    k.key_metadata.unwrap()
}

/// RSA-OAEP-SHA-256 under the wrapping public key of GetParametersForImport.
fn wrap_oaep(spki: &[u8], material: &[u8]) -> Vec<u8> {
    let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(spki).unwrap()).unwrap();
    let mut out = vec![0u8; key.ciphertext_size()];
    key.encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None).unwrap().to_vec()
}

/// GetParametersForImport, wrap, ImportKeyMaterial (`valid_to`: expiring).
pub async fn import(kms: &aws_sdk_kms::Client, key: &str, material: &[u8], valid_to: Option<i64>) -> Option<String> {
    try_import(kms, key, material, valid_to).await.unwrap()
}

/// [`import`], answering the error code of the call that failed.
pub async fn try_import(
    kms: &aws_sdk_kms::Client,
    key: &str,
    material: &[u8],
    valid_to: Option<i64>,
) -> Result<Option<String>, String> {
    let p = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .map_err(|e| err_of(e).0)?;
    let wrapped = wrap_oaep(p.public_key().unwrap().as_ref(), material);
    let mut req = kms
        .import_key_material()
        .key_id(key)
        .import_token(p.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrapped));
    req = match valid_to {
        Some(t) => req.valid_to(DateTime::from_secs(t)).expiration_model(ExpirationModelType::KeyMaterialExpires),
        None => req.expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire),
    };
    Ok(req.send().await.map_err(|e| err_of(e).0)?.key_material_id().map(str::to_string))
}

pub fn audit_events(dir: &std::path::Path) -> Vec<Value> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                // A line: {"prev", "hash", "event": the CloudTrail record}.
                out.push(v.get("event").cloned().unwrap_or(v));
            }
        }
    }
    out
}

/// Imported symmetric material: PendingImport until imported, expiry by
/// the service clock, re-import of the same bytes, on-demand rotation to
/// new imported material; the background job's audit records.
#[tokio::test]
async fn imported_material_expires_returns_and_rotates_by_the_clock() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let md = kms.create_key().origin(OriginType::External).send().await.unwrap().key_metadata.unwrap();
    let id = md.key_id().to_string();
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
    assert!(md.current_key_material_id().is_none() && md.expiration_model().is_none());
    let e = kms.encrypt().key_id(&id).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap_err();
    assert_eq!(err_of(e), ("KMSInvalidStateException".into(), format!("{} is pending import.", md.arn().unwrap())));

    let a = [0xA1u8; 32];
    let now = now();
    let mid_a = import(&kms, &id, &a, Some(now + 2 * DAY)).await.unwrap();
    let md = kms.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(md.expiration_model(), Some(&ExpirationModelType::KeyMaterialExpires));
    assert_eq!(md.valid_to().map(|t| t.secs()), Some(now + 2 * DAY));
    assert_eq!(md.current_key_material_id(), Some(mid_a.as_str()));
    let c1 = encrypt(&kms, &id, b"under A").await;

    // Two days later the material is gone; the same bytes bring it back.
    assert_eq!(advance(&server, 3 * DAY).await.status, 200);
    let md = kms.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
    assert!(md.expiration_model().is_none(), "no ExpirationModel without material");
    assert_eq!(md.current_key_material_id(), Some(mid_a.as_str()), "AWS keeps the id");
    let e = kms.decrypt().ciphertext_blob(c1.clone()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    assert_eq!(import(&kms, &id, &a, None).await.as_deref(), Some(mid_a.as_str()), "the same id for the same bytes");
    assert_eq!(decrypt(&kms, &c1, b"under A").await, mid_a);

    // New material waits for RotateKeyOnDemand.
    let p = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let b = [0xB2u8; 32];
    let r = kms
        .import_key_material()
        .key_id(&id)
        .import_token(p.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrap_oaep(p.public_key().unwrap().as_ref(), &b)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(aws_sdk_kms::types::ImportType::NewKeyMaterial)
        .key_material_description("material B")
        .send()
        .await
        .unwrap();
    let mid_b = r.key_material_id().unwrap().to_string();
    assert_eq!(current_material(&kms, &id).await, mid_a, "pending material is not current yet");
    rotate_now(&kms, &id).await;
    assert_eq!(current_material(&kms, &id).await, mid_b);
    assert_eq!(decrypt(&kms, &c1, b"under A").await, mid_a);
    let all = kms.list_key_rotations().key_id(&id).include_key_material(IncludeKeyMaterial::AllKeyMaterial);
    let all = all.send().await.unwrap();
    let last = all.rotations().last().unwrap();
    assert_eq!(last.key_material_id(), Some(mid_b.as_str()));
    assert_eq!(last.rotation_type(), Some(&RotationType::OnDemand));
    assert_eq!(last.key_material_description(), Some("material B"));
    let e = kms.rotate_key_on_demand().key_id(&id).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "KMSInvalidStateException".into(),
            format!("No available key material pending rotation for the key: {}.", md.arn().unwrap())
        )
    );

    // A scheduled rotation of an AWS_KMS key, then the audit trail.
    let k = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.enable_key_rotation().key_id(k.key_id()).rotation_period_in_days(90).send().await.unwrap();
    assert_eq!(advance(&server, 91 * DAY).await.status, 200);
    let status = kms.get_key_rotation_status().key_id(k.key_id()).send().await.unwrap();
    assert!(status.key_rotation_enabled());
    assert!(status.next_rotation_date().unwrap().secs() > now + 91 * DAY, "the next date moved on");
    let events = audit_events(&server.audit_dir);
    let service: Vec<&Value> = events.iter().filter(|e| e["eventType"] == "AwsServiceEvent").collect();
    let find = |name: &str, key: &str| {
        service.iter().find(|e| e["eventName"] == name && e["serviceEventDetails"]["keyId"] == key).copied()
    };
    let expired = find("DeleteExpiredKeyMaterial", &id).expect("DeleteExpiredKeyMaterial recorded");
    assert_eq!(expired["serviceEventDetails"]["keyMaterialId"], mid_a.as_str());
    let on_demand = find("RotateKey", &id).expect("the on-demand rotation recorded");
    assert_eq!(on_demand["serviceEventDetails"]["rotationType"], "ON_DEMAND");
    assert_eq!(on_demand["serviceEventDetails"]["currentKeyMaterialId"], mid_b.as_str());
    let scheduled = find("RotateKey", k.key_id()).expect("the scheduled rotation recorded");
    assert_eq!(scheduled["serviceEventDetails"]["rotationType"], "AUTOMATIC");
    assert_eq!(scheduled["userIdentity"]["invokedBy"], "AWS Internal");
    let log = serde_json::to_string(&events).unwrap();
    for secret in [hex(&a), hex(&b)] {
        assert!(!log.contains(&secret), "imported material in the audit log");
    }
    server.shutdown().await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Imported HMAC and ECC material: the MAC matches one computed here, a
/// signature verifies with the public key derived here.
#[tokio::test]
async fn imported_hmac_and_ecc_material_interoperate() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let hmac_key = [0x5Au8; 32];
    let k = external_key(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    assert_eq!(import(&kms, k.key_id(), &hmac_key, None).await, None, "no material id for HMAC keys");
    let mac = kms
        .generate_mac()
        .key_id(k.key_id())
        .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"message".to_vec()))
        .send()
        .await
        .unwrap();
    let local = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &hmac_key), b"message");
    assert_eq!(mac.mac().unwrap().as_ref(), local.as_ref());

    let pair = kms_crypto::generate(kms_crypto::KeySpec::EccNistP256).unwrap();
    let k = external_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let e = kms.get_public_key().key_id(k.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    import(&kms, k.key_id(), pair.private_key.expose(), None).await;
    let public = kms.get_public_key().key_id(k.key_id()).send().await.unwrap();
    assert_eq!(public.public_key().unwrap().as_ref(), pair.public_key.as_deref().unwrap());
    let sig = kms
        .sign()
        .key_id(k.key_id())
        .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256)
        .message(Blob::new(b"signed".to_vec()))
        .send()
        .await
        .unwrap();
    let ok = kms_crypto::verify(
        kms_crypto::KeySpec::EccNistP256,
        pair.public_key.as_deref().unwrap(),
        kms_crypto::SigningAlgorithm::EcdsaSha256,
        kms_crypto::MessageType::Raw,
        b"signed",
        sig.signature().unwrap().as_ref(),
    )
    .unwrap();
    assert!(ok, "the signature verifies with the imported key's public key");
    // Other material later: refused.
    let other = kms_crypto::generate(kms_crypto::KeySpec::EccNistP256).unwrap();
    let p = kms
        .get_parameters_for_import()
        .key_id(k.key_id())
        .wrapping_algorithm(AlgorithmSpec::RsaAesKeyWrapSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let wrapped = rsa_aes_wrap(p.public_key().unwrap().as_ref(), other.private_key.expose());
    let e = kms
        .import_key_material()
        .key_id(k.key_id())
        .import_token(p.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "IncorrectKeyMaterialException");
    server.shutdown().await;
}

/// RSA_AES_KEY_WRAP_SHA_256: RSA-OAEP of a fresh AES key, then AES-KWP of the material.
fn rsa_aes_wrap(spki: &[u8], material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
    let mut aes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut aes).unwrap();
    let mut out = wrap_oaep(spki, &aes);
    let mut kwp = vec![0u8; material.len() + 16];
    out.extend_from_slice(AesKek::new(&AES_256, &aes).unwrap().wrap_with_padding(material, &mut kwp).unwrap());
    out
}

/// Safe deletion (beyond AWS): with `deletion.refuse_if_used_within_days`,
/// a key used recently is not scheduled for deletion unless tagged; the
/// operator sees its last use with `kms admin key-usage`.
#[tokio::test]
async fn the_deletion_guard_keeps_keys_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let file = kms::config::FileConfig {
        deletion: Some(kms::config::DeletionFileConfig { refuse_if_used_within_days: Some(30) }),
        ..Default::default()
    };
    let cfg = kms::config::Config::build(file, &overrides(dir.path())).unwrap();
    let server = kms::server::start(cfg).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("credentials")).unwrap();
    let c = kms::client::read_profile(&text, "default").unwrap();
    let endpoint = format!("http://{}", server.addr);
    let kms = sdk_client(&endpoint, &c.access_key_id, c.secret.expose());
    let raw = raw_client(&endpoint, &c.access_key_id, c.secret.expose());

    let unused = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.schedule_key_deletion().key_id(unused.key_id()).pending_window_in_days(7).send().await.unwrap();

    let used = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let arn = used.arn().unwrap().to_string();
    encrypt(&kms, used.key_id(), b"in use").await;
    let e = kms.schedule_key_deletion().key_id(used.key_id()).send().await.unwrap_err();
    let (code, message) = err_of(e);
    assert_eq!(code, "KMSInvalidStateException");
    assert!(message.starts_with(&format!("{arn} was used by Encrypt at ")), "{message}");
    assert!(message.contains("kms-allow-deletion-in-use=true"), "{message}");
    let r = raw.call("KmsAdmin.GetKeyUsage", &serde_json::json!({"KeyId": used.key_id()})).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["KeyId"], arn.as_str());
    assert_eq!(v["LastUsage"]["Operation"], "Encrypt");
    assert!(v["LastUsage"]["Principal"].as_str().unwrap().ends_with(":user/admin"), "{v}");
    assert_eq!((v["DeletionGuardDays"].as_u64(), v["DeletionAllowed"].as_bool()), (Some(30), Some(false)));

    let tag = aws_sdk_kms::types::Tag::builder().tag_key("kms-allow-deletion-in-use").tag_value("true").build();
    kms.tag_resource().key_id(used.key_id()).tags(tag.unwrap()).send().await.unwrap();
    let r = kms.schedule_key_deletion().key_id(used.key_id()).pending_window_in_days(7).send().await.unwrap();
    assert_eq!(r.key_state(), Some(&KeyState::PendingDeletion));
    server.shutdown().await;
}

/// SM2: an SM2 wrapping key with SM2PKE (the client side with kms-crypto's
/// RustCrypto SM2, as Python's `cryptography` has no SM2), for symmetric
/// material and for an SM2 private key, whose signatures verify with the
/// public key derived here; and an SM2 private key under RSA_AES_KEY_WRAP.
#[tokio::test]
async fn sm2_wrapping_and_sm2_material() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let params = |key: String, alg: AlgorithmSpec, spec: WrappingKeySpec| {
        let kms = kms.clone();
        async move {
            kms.get_parameters_for_import().key_id(key).wrapping_algorithm(alg).wrapping_key_spec(spec).send().await
        }
    };
    let import = |key: String, token: Blob, wrapped: Vec<u8>| {
        let kms = kms.clone();
        async move {
            kms.import_key_material()
                .key_id(key)
                .import_token(token)
                .encrypted_key_material(Blob::new(wrapped))
                .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
                .send()
                .await
        }
    };
    let sm2_wrap = |spki: &[u8], material: &[u8]| {
        kms_crypto::encrypt(kms_crypto::KeySpec::Sm2, spki, kms_crypto::EncryptionAlgorithm::Sm2Pke, material).unwrap()
    };

    // SM2PKE needs an SM2 wrapping key, and an SM2 wrapping key SM2PKE.
    let sym = kms.create_key().origin(OriginType::External).send().await.unwrap().key_metadata.unwrap();
    let e = params(sym.key_id().into(), AlgorithmSpec::Sm2Pke, WrappingKeySpec::Rsa2048).await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    let e = params(sym.key_id().into(), AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Sm2).await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    let e = params(sym.key_id().into(), AlgorithmSpec::RsaesPkcs1V15, WrappingKeySpec::Rsa2048).await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException", "RSAES_PKCS1_V1_5 is withdrawn");

    let p = params(sym.key_id().into(), AlgorithmSpec::Sm2Pke, WrappingKeySpec::Sm2).await.unwrap();
    let material = [0x77u8; 32];
    let wrapped = sm2_wrap(p.public_key().unwrap().as_ref(), &material);
    import(sym.key_id().into(), p.import_token().unwrap().clone(), wrapped).await.unwrap();
    let blob = encrypt(&kms, sym.key_id(), b"under SM2-wrapped material").await;
    decrypt(&kms, &blob, b"under SM2-wrapped material").await;

    // An SM2 signing key, wrapped both ways; the same key imported twice.
    let pair = kms_crypto::generate(kms_crypto::KeySpec::Sm2).unwrap();
    for (alg, spec) in
        [(AlgorithmSpec::Sm2Pke, WrappingKeySpec::Sm2), (AlgorithmSpec::RsaAesKeyWrapSha256, WrappingKeySpec::Rsa3072)]
    {
        let k = external_key(&kms, KeySpec::Sm2, KeyUsageType::SignVerify).await;
        let p = params(k.key_id().into(), alg.clone(), spec).await.unwrap();
        let spki = p.public_key().unwrap().as_ref();
        let wrapped = match alg {
            AlgorithmSpec::Sm2Pke => sm2_wrap(spki, pair.private_key.expose()),
            _ => rsa_aes_wrap(spki, pair.private_key.expose()),
        };
        import(k.key_id().into(), p.import_token().unwrap().clone(), wrapped).await.unwrap();
        let public = kms.get_public_key().key_id(k.key_id()).send().await.unwrap();
        assert_eq!(public.public_key().unwrap().as_ref(), pair.public_key.as_deref().unwrap());
        let sig = kms
            .sign()
            .key_id(k.key_id())
            .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::Sm2Dsa)
            .message(Blob::new(b"signed with SM2".to_vec()))
            .send()
            .await
            .unwrap();
        let ok = kms_crypto::verify(
            kms_crypto::KeySpec::Sm2,
            pair.public_key.as_deref().unwrap(),
            kms_crypto::SigningAlgorithm::Sm2Dsa,
            kms_crypto::MessageType::Raw,
            b"signed with SM2",
            sig.signature().unwrap().as_ref(),
        )
        .unwrap();
        assert!(ok, "{alg:?}: the SM2 signature verifies with the imported key's public key");
    }
    server.shutdown().await;
}
