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

/// `kms migrate` from the embedded store to PostgreSQL and back, and `kms
/// restore` of a backup into an empty PostgreSQL database: every
/// ciphertext made before decrypts after each move.
#[tokio::test]
async fn stores_move_between_backends() {
    let pg = TestPostgres::start();
    pg.createdb("restored");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let toml = |name: &str, url: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, format!("store = \"{url}\"\n")).unwrap();
        p.display().to_string()
    };
    let to_pg = toml("pg.toml", &pg.url());
    let restored_pg = toml("restored.toml", &pg.url_of("restored"));

    // On the embedded store first.
    let mut ts = TestServer::start(&dir).await;
    let kms = ts.sdk();
    let id = kms.create_key().description("moved").send().await.unwrap().key_metadata.unwrap().key_id;
    kms.create_alias().alias_name("alias/moved").target_key_id(&id).send().await.unwrap();
    let blob = kms.encrypt().key_id(&id).plaintext(Blob::new(b"moved twice")).send().await.unwrap();
    let blob = blob.ciphertext_blob.unwrap();
    ts.stop().await;
    let d = dir.display().to_string();
    let migrate = |args: Vec<String>| async move {
        let mut all = vec!["migrate".to_string(), "--data-dir".to_string()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        kms_cli(&refs, &[]).await
    };
    let out = migrate(vec![d.clone(), "--to-config".into(), to_pg.clone()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrated"), "{}", String::from_utf8_lossy(&out.stdout));
    // The target must be empty: a second migration is refused.
    let out = migrate(vec![d.clone(), "--to-config".into(), to_pg.clone()]).await;
    assert!(!out.status.success());
    let same = migrate(vec![d.clone()]).await;
    assert!(String::from_utf8_lossy(&same.stderr).contains("same store"), "{}", String::from_utf8_lossy(&same.stderr));

    // The same data directory (root key, credentials) on PostgreSQL.
    std::fs::rename(dir.join(kms::server::DB_FILE), tmp.path().join("old.redb")).unwrap();
    let file = || kms::config::parse_file(&format!("store = \"{}\"", pg.url())).unwrap();
    let mut ts = TestServer::start_configured(&dir, file(), overrides(&dir)).await;
    let kms = ts.sdk();
    let plain = kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap().plaintext.unwrap();
    assert_eq!(plain.as_ref(), b"moved twice");
    assert_eq!(kms.describe_key().key_id("alias/moved").send().await.unwrap().key_metadata.unwrap().key_id, id);
    let backup = tmp.path().join("pg.backup");
    let b = backup.display().to_string();
    let out = kms_cli(
        &["backup", "--endpoint-url", &ts.endpoint(), "--out", &b],
        &[("AWS_ACCESS_KEY_ID", &ts.access_key), ("AWS_SECRET_ACCESS_KEY", &ts.secret)],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ts.stop().await;

    // The backup into an empty PostgreSQL database; then not again.
    let out = kms_cli(&["restore", "--from", &b, "--data-dir", &d, "--config", &restored_pg], &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kms_cli(&["restore", "--from", &b, "--data-dir", &d, "--config", &restored_pg], &[]).await;
    assert!(!out.status.success());
    let restored = || kms::config::parse_file(&format!("store = \"{}\"", pg.url_of("restored"))).unwrap();
    let mut ts = TestServer::start_configured(&dir, restored(), overrides(&dir)).await;
    let plain = ts.sdk().decrypt().ciphertext_blob(blob.clone()).send().await.unwrap().plaintext.unwrap();
    assert_eq!(plain.as_ref(), b"moved twice");
    ts.stop().await;

    // And back to the embedded store.
    let out = migrate(vec![d.clone(), "--from-config".into(), restored_pg.clone()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut ts = TestServer::start(&dir).await;
    let plain = ts.sdk().decrypt().ciphertext_blob(blob).send().await.unwrap().plaintext.unwrap();
    assert_eq!(plain.as_ref(), b"moved twice");
    ts.stop().await;
}
