//! The server on PostgreSQL (`store = "postgres://..."`): a key made and
//! used before a restart decrypts after it, from the database alone (the
//! data directory keeps the root key, credentials and audit trail only);
//! another data directory's root key does not open the database; and the
//! database's files hold no plaintext key material or secret.

use aws_sdk_kms::primitives::Blob;
use kms_core::crypto::RootKey;
use kms_core::types::KeyRecord;
use kms_store::testing::TestPostgres;

use crate::harness::*;

#[tokio::test]
async fn postgres_store_survives_restart() {
    let mut pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let file = || kms::config::parse_file(&format!("store = \"{}\"", pg.url())).unwrap();
    let mut ts = TestServer::start_configured(dir.path(), file(), overrides(dir.path())).await;
    let kms = ts.sdk();
    let id =
        kms.create_key().description("on postgres").send().await.unwrap().key_metadata.unwrap().key_id().to_string();
    kms.create_alias().alias_name("alias/pg").target_key_id(&id).send().await.unwrap();
    let blob = kms
        .encrypt()
        .key_id("alias/pg")
        .plaintext(Blob::new(b"kept in postgres".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    ts.stop().await;
    assert!(!dir.path().join("kms.redb").exists(), "no embedded database beside PostgreSQL");

    let mut ts2 = TestServer::start_configured(dir.path(), file(), overrides(dir.path())).await;
    assert_eq!(ts2.access_key, ts.access_key, "bootstrap must not run twice");
    let kms = ts2.sdk();
    let dec = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"kept in postgres");
    assert_eq!(dec.key_id(), Some(format!("arn:aws:kms:us-east-1:111122223333:key/{id}").as_str()));
    let meta = kms.describe_key().key_id("alias/pg").send().await.unwrap().key_metadata.unwrap();
    assert_eq!(meta.description(), Some("on postgres"));
    assert_eq!(kms.list_keys().send().await.unwrap().keys().len(), 1);
    ts2.stop().await;

    // Another data directory on the same database: without the root key
    // no key is made for it, and another root key does not open it.
    let other = tempfile::tempdir().unwrap();
    let cfg = kms::config::Config::build(file(), &overrides(other.path())).unwrap();
    let e = kms::server::start(cfg).await.err().unwrap();
    assert!(e.contains("root key"), "{e}");
    assert!(!other.path().join("root.key").exists());
    let key = other.path().join("other.key");
    std::fs::write(&key, RootKey::generate_encoded().unwrap().as_bytes()).unwrap();
    let o = kms::config::Overrides { root_key_file: Some(key), ..overrides(other.path()) };
    let e = kms::server::start(kms::config::Config::build(file(), &o).unwrap()).await.err().unwrap();
    assert!(e.contains("root key does not match"), "{e}");

    // The material as the server opens it, then looked for in every file
    // of the stopped cluster (tables and write-ahead log).
    let store = kms_store::PgStore::connect(&kms_store::PgConfig::parse(&pg.url()).unwrap()).await.unwrap();
    let rec = kms_core::ports::Store::get_key(&store, &id).await.unwrap().unwrap();
    drop(store);
    let root = RootKey::from_encoded(&std::fs::read_to_string(dir.path().join("root.key")).unwrap()).unwrap();
    let m = &rec.materials[0];
    let material = root.open(&KeyRecord::material_binding(&id, &m.id), &m.sealed).unwrap();
    pg.stop();
    let data = pg.dir().join("data");
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    assert!(!crate::storage::files_contain(&data, b64(&m.sealed).as_bytes()).is_empty(), "the scan finds records");
    assert_eq!(crate::storage::files_contain(&data, material.expose()), Vec::<String>::new());
    assert_eq!(crate::storage::files_contain(&data, b64(material.expose()).as_bytes()), Vec::<String>::new());
    assert_eq!(crate::storage::files_contain(&data, ts.secret.as_bytes()), Vec::<String>::new());
}
