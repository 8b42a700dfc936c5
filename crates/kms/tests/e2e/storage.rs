//! Durability and protection at rest: restart, no plaintext in the data
//! directory, wrong or missing root key.

use aws_sdk_kms::primitives::Blob;
use kms_core::crypto::RootKey;
use kms_core::types::KeyRecord;

use crate::harness::*;

#[tokio::test]
async fn ciphertext_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_string();
    let blob = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"across restarts".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    ts.stop().await;

    let mut ts2 = TestServer::start(dir.path()).await;
    assert_eq!(ts2.access_key, ts.access_key, "bootstrap must not run twice");
    let kms = ts2.sdk();
    let dec = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"across restarts");
    let listed = kms.list_keys().send().await.unwrap();
    assert_eq!(listed.keys().len(), 1);
    ts2.stop().await;
}

/// Files under `dir` (recursively) that contain `needle`.
pub fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            hits.extend(files_contain(&p, needle));
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name == "credentials" {
            continue; // the bootstrap file is the operator's copy, by design
        }
        let data = std::fs::read(&p).unwrap();
        if data.windows(needle.len()).any(|w| w == needle) {
            hits.push(name);
        }
    }
    hits
}

#[tokio::test]
async fn data_dir_holds_no_plaintext_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_string();
    let r = ts.raw().call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": "carol"})).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let carol_secret = v["SecretAccessKey"].as_str().unwrap().to_string();
    ts.stop().await;

    // Open the record the way the server does and recover the material.
    let store = kms_store::RedbStore::open(&dir.path().join("kms.redb")).unwrap();
    let rec = kms_core::ports::Store::get_key(&store, &id).await.unwrap().unwrap();
    drop(store);
    let root = RootKey::from_encoded(&std::fs::read_to_string(dir.path().join("root.key")).unwrap()).unwrap();
    let m = &rec.materials[0];
    let material = root.open(&KeyRecord::material_binding(&id, &m.id), &m.sealed).unwrap();
    assert_eq!(material.len(), 32);

    assert_eq!(files_contain(dir.path(), material.expose()), Vec::<String>::new());
    assert_eq!(files_contain(dir.path(), carol_secret.as_bytes()), Vec::<String>::new());
    assert_eq!(files_contain(dir.path(), ts.secret.as_bytes()), Vec::<String>::new());
}

#[tokio::test]
async fn wrong_or_missing_root_key_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    ts.stop().await;

    // A different root key.
    let other = dir.path().join("other.key");
    std::fs::write(&other, RootKey::generate_encoded().unwrap().as_bytes()).unwrap();
    let mut o = overrides(dir.path());
    o.root_key_file = Some(other);
    let cfg = kms::config::Config::build(kms::config::FileConfig::default(), &o).unwrap();
    let e = kms::server::start(cfg).await.err().unwrap();
    assert!(e.contains("root key does not match"), "{e}");

    // The root key file removed: no silent re-initialisation.
    std::fs::remove_file(dir.path().join("root.key")).unwrap();
    let cfg = kms::config::Config::build(kms::config::FileConfig::default(), &overrides(dir.path())).unwrap();
    let e = kms::server::start(cfg).await.err().unwrap();
    assert!(e.contains("missing"), "{e}");
    assert!(!dir.path().join("root.key").exists());
}

/// Imported material is sealed like generated material: neither the
/// symmetric nor the HMAC bytes a client imported are in the data
/// directory, and both still work after a restart.
#[tokio::test]
async fn imported_material_is_sealed_in_the_data_dir() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec, OriginType};
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let aes: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0x5c).collect();
    let hmac: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(53) ^ 0xa3).collect();
    let sym = kms.create_key().origin(OriginType::External).send().await.unwrap().key_metadata.unwrap();
    crate::lifecycle::import(&kms, sym.key_id(), &aes, None).await;
    let mac_key = crate::lifecycle::external_key(&kms, KeySpec::Hmac384, KeyUsageType::GenerateVerifyMac).await;
    crate::lifecycle::import(&kms, mac_key.key_id(), &hmac, None).await;
    let blob = kms
        .encrypt()
        .key_id(sym.key_id())
        .plaintext(Blob::new(b"imported".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    ts.stop().await;
    for needle in [&aes, &hmac] {
        assert!(files_contain(dir.path(), needle).is_empty(), "imported material in the data directory");
    }
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let d = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(d.plaintext().unwrap().as_ref(), b"imported");
    let mac = kms
        .generate_mac()
        .key_id(mac_key.key_id())
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .message(Blob::new(b"m".to_vec()))
        .send()
        .await
        .unwrap();
    let local = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA384, &hmac), b"m");
    assert_eq!(mac.mac().unwrap().as_ref(), local.as_ref());
    ts.stop().await;
}
