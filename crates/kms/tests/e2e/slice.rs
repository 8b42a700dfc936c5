//! The first slice through the official client: CreateKey, DescribeKey,
//! ListKeys, Encrypt, Decrypt, and the operator API.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};

use crate::harness::*;

#[tokio::test]
async fn create_describe_list_encrypt_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();

    let md = kms.create_key().description("first").send().await.unwrap().key_metadata.unwrap();
    let id = md.key_id().to_string();
    let arn = md.arn().unwrap().to_string();
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:111122223333:key/{id}"));
    assert_eq!(md.aws_account_id(), Some("111122223333"));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(md.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(md.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(md.description(), Some("first"));
    assert!(md.enabled());
    assert_eq!(md.current_key_material_id().map(str::len), Some(64));

    // No description: "" as AWS returns it.
    let md2 = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    assert_eq!(md2.description(), Some(""));

    for name in [id.clone(), arn.clone()] {
        let d = kms.describe_key().key_id(name).send().await.unwrap().key_metadata.unwrap();
        assert_eq!(d.key_id(), id);
        assert_eq!(d.arn(), Some(arn.as_str()));
    }

    let listed = kms.list_keys().send().await.unwrap();
    assert!(!listed.truncated());
    let ids: Vec<_> = listed.keys().iter().map(|k| k.key_id().unwrap().to_string()).collect();
    assert!(ids.contains(&id) && ids.contains(&md2.key_id().to_string()));
    let page = kms.list_keys().limit(1).send().await.unwrap();
    assert!(page.truncated());
    assert_eq!(page.keys().len(), 1);
    let rest = kms.list_keys().limit(1).marker(page.next_marker().unwrap()).send().await.unwrap();
    assert_eq!(rest.keys().len(), 1);
    assert_ne!(rest.keys()[0].key_id(), page.keys()[0].key_id());
    assert!(!rest.truncated());

    let enc = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"hello world".to_vec()))
        .encryption_context("purpose", "test")
        .encryption_context("b", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(enc.key_id(), Some(arn.as_str()));
    let blob = enc.ciphertext_blob().unwrap().clone();

    // Decrypt needs no KeyId; context order does not matter.
    let dec = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("b", "2")
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"hello world");
    assert_eq!(dec.key_id(), Some(arn.as_str()));
    assert_eq!(dec.key_material_id(), md.current_key_material_id());

    // Wrong or missing context.
    let e = kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidCiphertextException");
    let e = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "other")
        .encryption_context("b", "2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "InvalidCiphertextException");

    // A KeyId naming another key.
    let e = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .key_id(md2.key_id())
        .encryption_context("purpose", "test")
        .encryption_context("b", "2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "IncorrectKeyException");

    // Tampered ciphertext.
    let mut bad = blob.as_ref().to_vec();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let e = kms.decrypt().ciphertext_blob(Blob::new(bad)).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidCiphertextException");

    // Limits and unknown keys.
    let e = kms.encrypt().key_id(&id).plaintext(Blob::new(vec![0u8; 4097])).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "ValidationException".into(),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096".into()
        )
    );
    let missing = "11111111-2222-3333-4444-555555555555";
    let e = kms.describe_key().key_id(missing).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        ("NotFoundException".into(), format!("Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist"))
    );
    let e = kms.describe_key().key_id("not-a-key").send().await.unwrap_err();
    assert_eq!(err_of(e), ("NotFoundException".into(), "Invalid keyId 'not-a-key'".into()));
    let e = kms.encrypt().key_id(&id).plaintext(Blob::new(b"x".to_vec())).dry_run(true).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "DryRunOperationException");
    let e = kms.create_key().key_spec(KeySpec::MlKem768).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "ValidationException".into(),
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into()
        )
    );
    ts.stop().await;
}

#[tokio::test]
async fn operator_creates_users_with_working_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let admin = ts.raw();
    let r = admin.call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": "alice"})).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["Arn"], "arn:aws:iam::111122223333:user/alice");
    let ak = v["AccessKeyId"].as_str().unwrap();
    let sk = v["SecretAccessKey"].as_str().unwrap();
    assert!(ak.starts_with("AKIA") && ak.len() == 20);
    assert_eq!(sk.len(), 40);

    // Alice's credentials work with the official client; without an
    // identity policy she may do nothing.
    let alice = sdk_client(&ts.endpoint(), ak, sk);
    let e = alice.create_key().send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "AccessDeniedException".into(),
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action".into()
        )
    );
    allow_all(&admin, "alice", None).await;
    let key = alice.create_key().send().await.unwrap().key_metadata.unwrap();
    assert!(key.arn().unwrap().contains(":111122223333:key/"));

    // A user in another account sees only its own keys.
    let r = admin
        .call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": "bob", "AccountId": "444455556666"}))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["Arn"], "arn:aws:iam::444455556666:user/bob");
    let bob = sdk_client(&ts.endpoint(), v["AccessKeyId"].as_str().unwrap(), v["SecretAccessKey"].as_str().unwrap());
    allow_all(&admin, "bob", Some("444455556666")).await;
    assert!(bob.list_keys().send().await.unwrap().keys().is_empty());
    let e = bob.describe_key().key_id(key.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException");

    // Not an admin: the operator API is refused.
    let alice_raw = raw_client(&ts.endpoint(), ak, sk);
    let r = alice_raw.call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": "mallory"})).await.unwrap();
    assert_eq!(r.error().unwrap().0, "AccessDeniedException");

    // Duplicate user.
    let r = admin.call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": "alice"})).await.unwrap();
    assert_eq!(r.error().unwrap().0, "AlreadyExistsException");

    // A second key for alice; list; delete the first: it stops working.
    let r = admin.call("KmsAdmin.CreateAccessKey", &serde_json::json!({"UserName": "alice"})).await.unwrap();
    let v2: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v2["Arn"], "arn:aws:iam::111122223333:user/alice");
    let r = admin.call("KmsAdmin.ListUsers", &serde_json::json!({})).await.unwrap();
    let users: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let alice_row = users["Users"].as_array().unwrap().iter().find(|u| u["UserName"] == "alice").unwrap();
    assert_eq!(alice_row["AccessKeyIds"].as_array().unwrap().len(), 2);
    let r = admin.call("KmsAdmin.DeleteAccessKey", &serde_json::json!({"AccessKeyId": ak})).await.unwrap();
    assert_eq!(r.status, 200);
    let e = alice.list_keys().send().await.unwrap_err();
    assert_eq!(err_of(e).0, "UnrecognizedClientException");
    let alice2 =
        sdk_client(&ts.endpoint(), v2["AccessKeyId"].as_str().unwrap(), v2["SecretAccessKey"].as_str().unwrap());
    alice2.list_keys().send().await.unwrap();
    let r = admin.call("KmsAdmin.DeleteUser", &serde_json::json!({"UserName": "alice"})).await.unwrap();
    assert_eq!(r.status, 200);
    let e = alice2.list_keys().send().await.unwrap_err();
    assert_eq!(err_of(e).0, "UnrecognizedClientException");
    ts.stop().await;
}

#[tokio::test]
async fn dev_mode_uses_well_known_credentials() {
    let o = kms::config::Overrides { listen: Some("127.0.0.1:0".into()), dev: true, ..Default::default() };
    let cfg = kms::config::Config::build(kms::config::FileConfig::default(), &o).unwrap();
    let server = kms::server::start(cfg).await.unwrap();
    assert!(server.bootstrap_credentials.is_none());
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let md = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    assert!(md.arn().unwrap().starts_with("arn:aws:kms:us-east-1:000000000000:key/"));
    server.shutdown().await;
}
