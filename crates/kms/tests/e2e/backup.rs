//! Backup and restore (docs/BACKUP.md): `kms backup` of a running server
//! under load, `kms restore` into an empty data directory, and a server on
//! it that decrypts, verifies and authenticates as before; a damaged file,
//! another root key and a data directory in use are refused.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, SigningAlgorithmSpec};

use crate::harness::*;

async fn backup_cli(endpoint: &str, ak: &str, sk: &str, out: &std::path::Path) -> std::process::Output {
    let out = out.display().to_string();
    kms_cli(
        &["backup", "--endpoint-url", endpoint, "--out", &out],
        &[("AWS_ACCESS_KEY_ID", ak), ("AWS_SECRET_ACCESS_KEY", sk)],
    )
    .await
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = TestServer::start(&a_dir).await;
    let kms = a.sdk();
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    kms.create_alias().alias_name("alias/kept").target_key_id(&key).send().await.unwrap();
    let signer = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let (uak, usk) = create_user(&a.raw(), "reader", None).await;
    allow_all(&a.raw(), "reader", None).await;
    let blob = kms.encrypt().key_id("alias/kept").plaintext(Blob::new(b"kept")).send().await.unwrap();
    let blob = blob.ciphertext_blob.unwrap();
    let sig = kms
        .sign()
        .key_id(&signer)
        .message(Blob::new(b"m"))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap()
        .signature
        .unwrap();

    // Under load: Encrypt calls go on while the backup is taken.
    let load = {
        let kms = kms.clone();
        let key = key.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                kms.encrypt().key_id(&key).plaintext(Blob::new(b"x")).send().await.unwrap();
            }
        })
    };
    let file = tmp.path().join("kms.backup");
    let out = backup_cli(&a.endpoint(), &a.access_key, &a.secret, &file).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    load.await.unwrap();
    let again = backup_cli(&a.endpoint(), &a.access_key, &a.secret, &file).await;
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("kept") && text.contains("\"Format\":\"kms-backup\""));

    // Restore with the root key (and the operator's credentials file).
    std::fs::create_dir_all(&b_dir).unwrap();
    for f in [kms::root::ROOT_KEY_FILE, "credentials"] {
        std::fs::copy(a_dir.join(f), b_dir.join(f)).unwrap();
    }
    kms::backup::restore(&file, &b_dir, None).await.unwrap();
    let err = kms::backup::restore(&file, &b_dir, None).await.unwrap_err();
    assert!(err.contains("must be an empty store"), "{err}");
    a.stop().await;
    let mut b = TestServer::start(&b_dir).await;
    let kms = b.sdk();
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap().plaintext.unwrap();
    assert_eq!(plain.as_ref(), b"kept");
    let v = kms
        .verify()
        .key_id(&signer)
        .message(Blob::new(b"m"))
        .signature(sig)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    assert!(v.signature_valid);
    sdk_client(&b.endpoint(), &uak, &usk).describe_key().key_id("alias/kept").send().await.unwrap();
    b.stop().await;

    // A flipped byte, another root key.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = text.find("\"Snapshot\":\"").unwrap() + 40;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let damaged = tmp.path().join("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let c_dir = tmp.path().join("c");
    std::fs::create_dir_all(&c_dir).unwrap();
    std::fs::copy(a_dir.join(kms::root::ROOT_KEY_FILE), c_dir.join(kms::root::ROOT_KEY_FILE)).unwrap();
    let err = kms::backup::restore(&damaged, &c_dir, None).await.unwrap_err();
    assert!(err.contains("damaged"), "{err}");
    let d_dir = tmp.path().join("d");
    std::fs::create_dir_all(&d_dir).unwrap();
    let other = kms_core::crypto::RootKey::generate_encoded().unwrap();
    std::fs::write(d_dir.join(kms::root::ROOT_KEY_FILE), other.as_str()).unwrap();
    let err = kms::backup::restore(&file, &d_dir, None).await.unwrap_err();
    assert!(err.contains("another root key"), "{err}");
    assert!(!d_dir.join(kms::server::DB_FILE).exists() && !c_dir.join(kms::server::DB_FILE).exists());
}
