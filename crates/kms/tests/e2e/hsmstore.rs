//! Custom key stores of type AWS_CLOUDHSM over a real SoftHSM2 token
//! (`[[hsm_clusters]]`, docs/HSM.md), through the official client: the
//! lifecycle and its errors, keys made in the token (checked with opensc's
//! `pkcs11-tool`, an independent PKCS#11 client), keys while the store is
//! disconnected, a restart, the token's PIN changed behind the store's
//! back, deletion destroying the token's object.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{ConnectionStateType, CustomKeyStoresListEntry, DataKeySpec, KeyState, OriginType};

use crate::harness::*;
use crate::hsmroot::{add_token, admin, serve, serve_with, softhsm, MODULE};

const CLUSTER: &str = "cluster-234567abcdefg";
const ANCHOR: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUA\n-----END CERTIFICATE-----\n";
const PIN: &str = "kmsuser-pin1";

/// A cluster entry of the server's configuration.
fn cluster(id: &str, token: &str, anchor: Option<&Path>) -> String {
    let mut s = format!("[[hsm_clusters]]\nid = \"{id}\"\nmodule = \"{MODULE}\"\ntoken_label = \"{token}\"\n");
    if let Some(a) = anchor {
        s.push_str(&format!("trust_anchor_file = \"{}\"\n", a.display()));
    }
    s
}

/// `pkcs11-tool --list-objects` of the token, logged in (pkcs11-tool takes
/// a label that starts another for it: the tests' labels are no prefixes).
fn token_objects(conf: &Path, token: &str, pin: &str) -> String {
    let out = Command::new("pkcs11-tool")
        .args([
            "--module",
            MODULE,
            "--token-label",
            token,
            "--login",
            "--pin",
            pin,
            "--list-objects",
            "--type",
            "secrkey",
        ])
        .env("SOFTHSM2_CONF", conf)
        .output()
        .expect("pkcs11-tool (apt-get install opensc)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn store_entry(kms: &aws_sdk_kms::Client, id: &str) -> CustomKeyStoresListEntry {
    let out = kms.describe_custom_key_stores().custom_key_store_id(id).send().await.unwrap();
    out.custom_key_stores()[0].clone()
}

/// Wait for the store to leave CONNECTING.
async fn settled(kms: &aws_sdk_kms::Client, id: &str) -> CustomKeyStoresListEntry {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = store_entry(kms, id).await;
        if e.connection_state() != Some(&ConnectionStateType::Connecting) || Instant::now() > deadline {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn key_state(kms: &aws_sdk_kms::Client, key: &str) -> KeyState {
    kms.describe_key().key_id(key).send().await.unwrap().key_metadata.unwrap().key_state.unwrap()
}

#[tokio::test]
async fn a_cloudhsm_key_store_over_a_pkcs11_token() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = softhsm(tmp.path(), "kms-keys", PIN);
    add_token(&conf, "spare-keys", PIN);
    let anchor = tmp.path().join("customerCA.crt");
    std::fs::write(&anchor, ANCHOR).unwrap();
    let config = tmp.path().join("kms.toml");
    let text = cluster(CLUSTER, "kms-keys", Some(&anchor))
        + &cluster("cluster-234567abcdefh", "kms-keys", None)
        + &cluster("cluster-234567abcdefi", "spare-keys", None)
        + &cluster("cluster-234567abcdefj", "no-such-token", None);
    std::fs::write(&config, text).unwrap();
    let data = tmp.path().join("data");
    let s = serve(&data, &config, &conf).await.unwrap();
    let (ak, sk) = admin(&data);
    let kms = sdk_client(&s.endpoint, &ak, &sk);

    // CreateCustomKeyStore and its errors.
    let create = |name: &str, cluster: &str, anchor: &str, pin: &str| {
        kms.create_custom_key_store()
            .custom_key_store_name(name)
            .cloud_hsm_cluster_id(cluster)
            .trust_anchor_certificate(anchor)
            .key_store_password(pin)
    };
    let e = create("s", "cluster-234567abcdefk", ANCHOR, PIN).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CloudHsmClusterNotFoundException");
    let e = create("s", CLUSTER, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", PIN).send().await;
    assert_eq!(err_of(e.unwrap_err()).0, "IncorrectTrustAnchorException");
    let e = create("s", "cluster-234567abcdefj", ANCHOR, PIN).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CloudHsmClusterNotActiveException");
    let e = kms.create_custom_key_store().custom_key_store_name("s").cloud_hsm_cluster_id(CLUSTER).send().await;
    assert_eq!(err_of(e.unwrap_err()).0, "ValidationException");
    // The wrong password first, as a store whose PIN changed would have.
    let id = create("store", CLUSTER, ANCHOR, "wrong-pin1").send().await.unwrap().custom_key_store_id.unwrap();
    assert!(id.starts_with("cks-") && id.len() == 21, "{id}");
    let e = create("store", "cluster-234567abcdefi", ANCHOR, PIN).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreNameInUseException");
    // Another cluster naming the same token is the same HSM.
    let e = create("other", "cluster-234567abcdefh", ANCHOR, PIN).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CloudHsmClusterInUseException");

    let e = store_entry(&kms, &id).await;
    assert_eq!(e.custom_key_store_name(), Some("store"));
    assert_eq!(e.cloud_hsm_cluster_id(), Some(CLUSTER));
    assert_eq!(e.trust_anchor_certificate(), Some(ANCHOR));
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Disconnected));
    assert_eq!(e.connection_error_code(), None);
    assert_eq!(e.custom_key_store_type().map(|t| t.as_str()), Some("AWS_CLOUDHSM"));
    assert!(e.creation_date().is_some());
    let by_name = kms.describe_custom_key_stores().custom_key_store_name("store").send().await.unwrap();
    assert_eq!(by_name.custom_key_stores()[0].custom_key_store_id(), Some(id.as_str()));
    let e = kms.describe_custom_key_stores().custom_key_store_name("nope").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreNotFoundException");

    // No key in a store that is not connected.
    let new_key = || kms.create_key().origin(OriginType::AwsCloudhsm).custom_key_store_id(&id);
    assert_eq!(err_of(new_key().send().await.unwrap_err()).0, "CustomKeyStoreInvalidStateException");
    let e = kms.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreInvalidStateException");

    // The wrong PIN: FAILED with INVALID_CREDENTIALS; Connect again is refused
    // until Disconnect.
    kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = settled(&kms, &id).await;
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Failed));
    assert_eq!(e.connection_error_code().map(|c| c.as_str()), Some("INVALID_CREDENTIALS"));
    let e = kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreInvalidStateException");
    let e = kms.update_custom_key_store().custom_key_store_id(&id).key_store_password(PIN).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreInvalidStateException");
    kms.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    kms.update_custom_key_store().custom_key_store_id(&id).key_store_password(PIN).send().await.unwrap();
    let e = kms.update_custom_key_store().custom_key_store_id(&id).cloud_hsm_cluster_id("cluster-234567abcdefi");
    assert_eq!(err_of(e.send().await.unwrap_err()).0, "CloudHsmClusterNotRelatedException");
    kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = settled(&kms, &id).await;
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Connected), "{e:?}");
    assert_eq!(e.connection_error_code(), None);
    // Connected: the name may change, nothing else.
    kms.update_custom_key_store().custom_key_store_id(&id).new_custom_key_store_name("hsm").send().await.unwrap();
    let e = kms.update_custom_key_store().custom_key_store_id(&id).key_store_password(PIN).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreInvalidStateException");

    // A key made in the token; the cryptography runs there.
    let md = new_key().description("in the HSM").send().await.unwrap().key_metadata.unwrap();
    assert_eq!(md.origin(), Some(&OriginType::AwsCloudhsm));
    assert_eq!(md.custom_key_store_id(), Some(id.as_str()));
    assert_eq!(md.cloud_hsm_cluster_id(), Some(CLUSTER));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    let key = md.key_id;
    let objects = token_objects(&conf, "kms-keys", PIN);
    let ours = objects.split("Secret Key Object").find(|o| o.contains(&key)).unwrap_or_else(|| panic!("{objects}"));
    assert!(
        ours.contains("AES length 32") && ours.contains("sensitive") && ours.contains("never extractable"),
        "{ours}"
    );
    let ctx = ("purpose", "hsm");
    let blob = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"sealed in the token"))
        .encryption_context(ctx.0, ctx.1)
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let plain = |b: Blob| kms.decrypt().ciphertext_blob(b).encryption_context(ctx.0, ctx.1).send();
    let out = plain(blob.clone()).await.unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"sealed in the token");
    assert_eq!(out.key_id.as_deref(), Some(md.arn.as_deref().unwrap()));
    let e = kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidCiphertextException");
    let mut tampered = blob.clone().into_inner();
    let n = tampered.len();
    tampered[n - 1] ^= 1;
    assert_eq!(err_of(plain(Blob::new(tampered)).await.unwrap_err()).0, "InvalidCiphertextException");
    let dk = kms.generate_data_key().key_id(&key).key_spec(DataKeySpec::Aes256).send().await.unwrap();
    let again = kms.decrypt().ciphertext_blob(dk.ciphertext_blob.unwrap()).send().await.unwrap();
    assert_eq!(again.plaintext, dk.plaintext);
    let soft = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let re = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context(ctx.0, ctx.1)
        .destination_key_id(&soft)
        .send()
        .await
        .unwrap();
    let back = kms.decrypt().ciphertext_blob(re.ciphertext_blob.unwrap()).send().await.unwrap();
    assert_eq!(back.plaintext.unwrap().as_ref(), b"sealed in the token");
    let r = kms.generate_random().number_of_bytes(48).custom_key_store_id(&id).send().await.unwrap();
    assert_eq!(r.plaintext.unwrap().as_ref().len(), 48);
    let e = kms.generate_random().number_of_bytes(8).custom_key_store_id("cks-00000000000000000").send().await;
    assert_eq!(err_of(e.unwrap_err()).0, "CustomKeyStoreNotFoundException");
    // What keys in custom key stores cannot be or do.
    let e = new_key().key_spec(aws_sdk_kms::types::KeySpec::Rsa2048).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "UnsupportedOperationException");
    let e = kms.create_key().origin(OriginType::AwsCloudhsm).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "UnsupportedOperationException");
    let e = kms.enable_key_rotation().key_id(&key).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "UnsupportedOperationException");
    let e = kms.generate_data_key_pair().key_id(&key).key_pair_spec(aws_sdk_kms::types::DataKeyPairSpec::EccNistP256);
    assert_eq!(err_of(e.send().await.unwrap_err()).0, "UnsupportedOperationException");

    // A restart: the store connects again by itself, and old ciphertexts open.
    drop(s);
    let s = serve(&data, &config, &conf).await.unwrap();
    let kms = sdk_client(&s.endpoint, &ak, &sk);
    assert_eq!(settled(&kms, &id).await.connection_state(), Some(&ConnectionStateType::Connected));
    let out = kms.decrypt().ciphertext_blob(blob.clone()).encryption_context(ctx.0, ctx.1).send().await.unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"sealed in the token");

    // Disconnected: keys Unavailable, their use refused; managed still.
    kms.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    assert_eq!(key_state(&kms, &key).await, KeyState::Unavailable);
    let e = kms.encrypt().key_id(&key).plaintext(Blob::new(b"x")).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    let e = kms.decrypt().ciphertext_blob(blob.clone()).encryption_context(ctx.0, ctx.1).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    kms.update_key_description().key_id(&key).description("still managed").send().await.unwrap();
    let e = kms.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreHasCMKsException");
    // The PIN changed in the token, the store not updated: INVALID_CREDENTIALS.
    let out = Command::new("pkcs11-tool")
        .args(["--module", MODULE, "--token-label", "kms-keys", "--login", "--pin", PIN, "--change-pin"])
        .args(["--new-pin", "changed-pin1"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = settled(&kms, &id).await;
    assert_eq!(e.connection_error_code().map(|c| c.as_str()), Some("INVALID_CREDENTIALS"));
    assert_eq!(key_state(&kms, &key).await, KeyState::Unavailable);
    kms.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    kms.update_custom_key_store().custom_key_store_id(&id).key_store_password("changed-pin1").send().await.unwrap();
    kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    assert_eq!(settled(&kms, &id).await.connection_state(), Some(&ConnectionStateType::Connected));
    assert_eq!(key_state(&kms, &key).await, KeyState::Enabled);
    let out = kms.decrypt().ciphertext_blob(blob).encryption_context(ctx.0, ctx.1).send().await.unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"sealed in the token");
    // The password is sealed: not in the data directory in the clear.
    assert!(!contains_bytes(&data, b"changed-pin1"), "the store's password is in the data directory");
    drop(s);
}

/// Whether any file under `dir` contains `needle`.
fn contains_bytes(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            contains_bytes(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test]
async fn deleting_keys_and_stores_and_the_quota() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = softhsm(tmp.path(), "t0", PIN);
    let mut text = cluster("cluster-234567abcdeaa", "t0", None);
    for i in 1..=10 {
        add_token(&conf, &format!("u{i}"), PIN);
        text += &cluster(&format!("cluster-234567abcdea{}", (b'a' + i as u8) as char), &format!("u{i}"), None);
    }
    // A store's own request quota, on top of the account's.
    text += "[quotas.rates]\ncustom-key-store = 3\n";
    let config = tmp.path().join("kms.toml");
    std::fs::write(&config, text).unwrap();
    let c = config.display().to_string();
    let s = serve_with(&["--dev", "--config", &c], &tmp.path().join("dev"), &conf).await.unwrap();
    let kms = sdk_client(&s.endpoint, "test", "test");
    let create = |i: usize| {
        kms.create_custom_key_store()
            .custom_key_store_name(format!("store-{i}"))
            .cloud_hsm_cluster_id(format!("cluster-234567abcdea{}", (b'a' + i as u8) as char))
            .trust_anchor_certificate(ANCHOR)
            .key_store_password(PIN)
            .send()
    };
    let mut ids = vec![];
    for i in 0..10 {
        ids.push(create(i).await.unwrap().custom_key_store_id.unwrap());
    }
    assert_eq!(err_of(create(10).await.unwrap_err()).0, "LimitExceededException");
    // Pagination.
    let page = kms.describe_custom_key_stores().limit(4).send().await.unwrap();
    assert!(page.truncated() && page.custom_key_stores().len() == 4);
    let rest = kms.describe_custom_key_stores().marker(page.next_marker().unwrap()).send().await.unwrap();
    assert_eq!(rest.custom_key_stores().len(), 6);
    let e = kms.describe_custom_key_stores().marker("cks-nope").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidMarkerException");
    for id in &ids[1..] {
        kms.delete_custom_key_store().custom_key_store_id(id).send().await.unwrap();
    }

    let id = &ids[0];
    kms.connect_custom_key_store().custom_key_store_id(id).send().await.unwrap();
    assert_eq!(settled(&kms, id).await.connection_state(), Some(&ConnectionStateType::Connected));
    let e = kms.delete_custom_key_store().custom_key_store_id(id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreInvalidStateException");
    let key = kms
        .create_key()
        .origin(OriginType::AwsCloudhsm)
        .custom_key_store_id(id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    assert!(token_objects(&conf, "t0", PIN).contains(&key));
    let mut throttled = 0;
    for _ in 0..6 {
        if let Err(e) = kms.generate_random().number_of_bytes(8).custom_key_store_id(id).send().await {
            assert_eq!(err_of(e).0, "ThrottlingException");
            throttled += 1;
        }
    }
    assert!(throttled >= 2, "a store allowed 3/s served {} of 6 at once", 6 - throttled);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Pending deletion stays so while the store is disconnected; cancelled
    // then, the key waits Unavailable, and comes back Disabled.
    kms.schedule_key_deletion().key_id(&key).pending_window_in_days(7).send().await.unwrap();
    kms.disconnect_custom_key_store().custom_key_store_id(id).send().await.unwrap();
    assert_eq!(key_state(&kms, &key).await, KeyState::PendingDeletion);
    kms.cancel_key_deletion().key_id(&key).send().await.unwrap();
    assert_eq!(key_state(&kms, &key).await, KeyState::Unavailable);
    kms.connect_custom_key_store().custom_key_store_id(id).send().await.unwrap();
    assert_eq!(settled(&kms, id).await.connection_state(), Some(&ConnectionStateType::Connected));
    assert_eq!(key_state(&kms, &key).await, KeyState::Disabled);
    // Deleted after its window: the token's object is destroyed.
    kms.schedule_key_deletion().key_id(&key).pending_window_in_days(7).send().await.unwrap();
    let out = kms_cli(
        &["admin", "clock", "advance", "8d", "--endpoint-url", &s.endpoint],
        &[("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(err_of(kms.describe_key().key_id(&key).send().await.unwrap_err()).0, "NotFoundException");
    assert!(!token_objects(&conf, "t0", PIN).contains(&key), "the key's object is still in the token");
    kms.disconnect_custom_key_store().custom_key_store_id(id).send().await.unwrap();
    kms.delete_custom_key_store().custom_key_store_id(id).send().await.unwrap();
    assert!(kms.describe_custom_key_stores().send().await.unwrap().custom_key_stores().is_empty());
    drop(s);
}
