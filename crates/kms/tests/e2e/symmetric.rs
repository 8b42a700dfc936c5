//! The symmetric key API through the official client: lifecycle, data keys,
//! re-encryption, aliases, tags, key policies and scheduled deletion.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};
use kms::server::Server;

use crate::harness::*;

/// A `--dev` server: in memory, test/test, adjustable clock.
pub async fn dev_server() -> Server {
    let o = kms::config::Overrides { listen: Some("127.0.0.1:0".into()), dev: true, ..Default::default() };
    let cfg = kms::config::Config::build(kms::config::FileConfig::default(), &o).unwrap();
    kms::server::start(cfg).await.unwrap()
}

pub async fn advance(server: &Server, seconds: i64) -> kms::client::Reply {
    raw_client(&format!("http://{}", server.addr), "test", "test")
        .call("KmsAdmin.AdvanceClock", &serde_json::json!({ "Seconds": seconds }))
        .await
        .unwrap()
}

const DAY: i64 = 86400;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

#[tokio::test]
async fn lifecycle_states_and_messages() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let md = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let (id, arn) = (md.key_id().to_string(), md.arn().unwrap().to_string());
    let pt = || Blob::new(b"x".to_vec());

    kms.update_key_description().key_id(&id).description("new").send().await.unwrap();
    let d = kms.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.description(), Some("new"));

    kms.disable_key().key_id(&id).send().await.unwrap();
    let d = kms.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.key_state(), Some(&KeyState::Disabled));
    assert!(!d.enabled());
    let e = kms.encrypt().key_id(&id).plaintext(pt()).send().await.unwrap_err();
    assert_eq!(err_of(e), ("DisabledException".into(), format!("{arn} is disabled.")));
    kms.enable_key().key_id(&id).send().await.unwrap();
    kms.encrypt().key_id(&id).plaintext(pt()).send().await.unwrap();

    // Deletion window limits.
    let e = kms.schedule_key_deletion().key_id(&id).pending_window_in_days(6).send().await.unwrap_err();
    assert_eq!(
        err_of(e).1,
        "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7"
    );
    let e = kms.schedule_key_deletion().key_id(&id).pending_window_in_days(31).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");

    // Default window is 30 days; the key is PendingDeletion and unusable.
    let s = kms.schedule_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(s.key_id(), Some(arn.as_str()));
    assert_eq!(s.pending_window_in_days(), Some(30));
    assert_eq!(s.key_state(), Some(&KeyState::PendingDeletion));
    let d = kms.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(d.pending_deletion_window_in_days(), Some(30));
    assert!(d.deletion_date().is_some());
    let e = kms.encrypt().key_id(&id).plaintext(pt()).send().await.unwrap_err();
    assert_eq!(err_of(e), ("KMSInvalidStateException".into(), format!("{arn} is pending deletion.")));
    let e = kms.enable_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    let e = kms.schedule_key_deletion().key_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    // Still listed while pending.
    assert!(kms.list_keys().send().await.unwrap().keys().iter().any(|k| k.key_id() == Some(id.as_str())));

    // Cancel leaves the key Disabled.
    let c = kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(c.key_id(), Some(arn.as_str()));
    let d = kms.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.key_state(), Some(&KeyState::Disabled));
    assert!(d.deletion_date().is_none());
    let e = kms.cancel_key_deletion().key_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");

    // Management operations take key ids and ARNs, not aliases.
    kms.enable_key().key_id(&id).send().await.unwrap();
    kms.create_alias().alias_name("alias/life").target_key_id(&id).send().await.unwrap();
    let e = kms.disable_key().key_id("alias/life").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException");
    server.shutdown().await;
}

#[tokio::test]
async fn deletion_window_really_destroys_the_key() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let md = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let id = md.key_id().to_string();
    let keep = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_string();
    kms.create_alias().alias_name("alias/doomed").target_key_id(&id).send().await.unwrap();
    let blob = kms
        .encrypt()
        .key_id("alias/doomed")
        .plaintext(Blob::new(b"bye".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    kms.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.unwrap();

    // Six days later the key is still there, pending deletion.
    assert_eq!(advance(&server, 6 * DAY).await.status, 200);
    let d = kms.describe_key().key_id(&id).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.key_state(), Some(&KeyState::PendingDeletion));

    // Eight days after scheduling it is gone: key, material and alias.
    assert_eq!(advance(&server, 2 * DAY).await.status, 200);
    let e = kms.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException");
    let ids: Vec<String> =
        kms.list_keys().send().await.unwrap().keys().iter().map(|k| k.key_id().unwrap().to_string()).collect();
    assert_eq!(ids, vec![keep.clone()]);
    assert!(kms.list_aliases().send().await.unwrap().aliases().is_empty());
    let e = kms.decrypt().ciphertext_blob(blob).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidCiphertextException");
    assert!(server.api.regions().get_open("us-east-1").unwrap().store().get_key(&id).await.unwrap().is_none());
    kms.describe_key().key_id(&keep).send().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn clock_moves_only_in_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let r = ts.raw().call("KmsAdmin.AdvanceClock", &serde_json::json!({"Seconds": 60})).await.unwrap();
    assert_eq!(r.error().unwrap().0, "UnsupportedOperationException");
    ts.stop().await;
}

#[tokio::test]
async fn data_keys_reencrypt_and_random() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let a = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let b = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias().alias_name("alias/b").target_key_id(b.key_id()).send().await.unwrap();

    let dk = kms
        .generate_data_key()
        .key_id(a.key_id())
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    assert_eq!(dk.key_id(), a.arn());
    assert_eq!(dk.key_material_id(), a.current_key_material_id());
    let dec = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), dk.plaintext().unwrap().as_ref());

    let dk = kms.generate_data_key().key_id(a.key_id()).key_spec(DataKeySpec::Aes128).send().await.unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 16);
    let dk = kms.generate_data_key().key_id(a.key_id()).number_of_bytes(1024).send().await.unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 1024);
    let e = kms.generate_data_key().key_id(a.key_id()).number_of_bytes(1025).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    let e = kms.generate_data_key().key_id(a.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    let e = kms
        .generate_data_key()
        .key_id(a.key_id())
        .key_spec(DataKeySpec::Aes256)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "DryRunOperationException");

    let wp =
        kms.generate_data_key_without_plaintext().key_id("alias/b").key_spec(DataKeySpec::Aes256).send().await.unwrap();
    assert_eq!(wp.key_id(), b.arn());
    let dec = kms.decrypt().ciphertext_blob(wp.ciphertext_blob().unwrap().clone()).send().await.unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref().len(), 32);

    // ReEncrypt from a to b, changing the context.
    let blob = kms
        .encrypt()
        .key_id(a.key_id())
        .plaintext(Blob::new(b"move me".to_vec()))
        .encryption_context("from", "a")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let re = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("from", "a")
        .destination_key_id("alias/b")
        .destination_encryption_context("to", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(re.source_key_id(), a.arn());
    assert_eq!(re.key_id(), b.arn());
    assert_eq!(re.source_key_material_id(), a.current_key_material_id());
    assert_eq!(re.destination_key_material_id(), b.current_key_material_id());
    let dec = kms
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .encryption_context("to", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"move me");
    assert_eq!(dec.key_id(), b.arn());
    let e = kms.re_encrypt().ciphertext_blob(blob.clone()).destination_key_id(b.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidCiphertextException");
    let e = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_key_id(b.key_id())
        .source_encryption_context("from", "a")
        .destination_key_id(b.key_id())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "IncorrectKeyException");

    let r = kms.generate_random().number_of_bytes(64).send().await.unwrap();
    assert_eq!(r.plaintext().unwrap().as_ref().len(), 64);
    let r2 = kms.generate_random().number_of_bytes(64).send().await.unwrap();
    assert_ne!(r.plaintext().unwrap().as_ref(), r2.plaintext().unwrap().as_ref());
    let e = kms.generate_random().number_of_bytes(1025).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");

    // Last usage is tracked per key.
    let u = kms.get_key_last_usage().key_id(b.key_id()).send().await.unwrap();
    assert_eq!(u.key_id(), b.arn());
    let last = u.key_last_usage().unwrap();
    assert_eq!(last.operation().map(|o| o.as_str()), Some("Decrypt"));
    assert!(last.kms_request_id().is_some_and(|r| r.len() == 36));
    server.shutdown().await;
}

#[tokio::test]
async fn aliases() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let a = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let b = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias().alias_name("alias/app").target_key_id(a.key_id()).send().await.unwrap();
    kms.create_alias().alias_name("alias/other").target_key_id(b.arn().unwrap()).send().await.unwrap();

    // An alias works wherever a key id does: name and ARN.
    let alias_arn = "arn:aws:kms:us-east-1:000000000000:alias/app";
    for name in ["alias/app", alias_arn] {
        let d = kms.describe_key().key_id(name).send().await.unwrap().key_metadata.unwrap();
        assert_eq!(d.key_id(), a.key_id());
        let enc = kms.encrypt().key_id(name).plaintext(Blob::new(b"p".to_vec())).send().await.unwrap();
        assert_eq!(enc.key_id(), a.arn());
    }

    let list = kms.list_aliases().send().await.unwrap();
    let names: Vec<_> = list.aliases().iter().map(|x| x.alias_name().unwrap()).collect();
    assert_eq!(names, ["alias/app", "alias/other"]);
    let app = &list.aliases()[0];
    assert_eq!(app.target_key_id(), Some(a.key_id()), "TargetKeyId is the bare id");
    assert_eq!(app.alias_arn(), Some(alias_arn));
    assert!(app.creation_date().is_some() && app.last_updated_date().is_some());
    let only_b = kms.list_aliases().key_id(b.key_id()).send().await.unwrap();
    assert_eq!(only_b.aliases().len(), 1);
    let page = kms.list_aliases().limit(1).send().await.unwrap();
    assert!(page.truncated());
    let rest = kms.list_aliases().limit(1).marker(page.next_marker().unwrap()).send().await.unwrap();
    assert_eq!(rest.aliases()[0].alias_name(), Some("alias/other"));
    assert!(!rest.truncated());

    // Update, delete.
    kms.update_alias().alias_name("alias/app").target_key_id(b.key_id()).send().await.unwrap();
    let d = kms.describe_key().key_id("alias/app").send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.key_id(), b.key_id());
    kms.delete_alias().alias_name("alias/app").send().await.unwrap();
    let e = kms.describe_key().key_id("alias/app").send().await.unwrap_err();
    assert_eq!(err_of(e), ("NotFoundException".into(), format!("Alias '{alias_arn}' is not found.")));

    // The rules.
    let e = kms.create_alias().alias_name("alias/other").target_key_id(a.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AlreadyExistsException");
    let e = kms.create_alias().alias_name("noprefix").target_key_id(a.key_id()).send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "ValidationException");
    assert!(m.starts_with("Alias must start with the prefix \"alias/\""), "{m}");
    let e = kms.create_alias().alias_name("alias/aws/mine").target_key_id(a.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotAuthorizedException");
    let e = kms.create_alias().alias_name("alias/bad name!").target_key_id(a.key_id()).send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "ValidationException");
    assert!(m.contains("Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"), "{m}");
    let long = format!("alias/{}", "x".repeat(251));
    let e = kms.create_alias().alias_name(long).target_key_id(a.key_id()).send().await.unwrap_err();
    assert!(err_of(e).1.contains("Member must have length less than or equal to 256"));
    let e = kms.delete_alias().alias_name("alias/none").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException");
    let e = kms.update_alias().alias_name("alias/none").target_key_id(a.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException");

    // 50 aliases per key.
    for i in 0..49 {
        kms.create_alias().alias_name(format!("alias/n{i}")).target_key_id(b.key_id()).send().await.unwrap();
    }
    let e = kms.create_alias().alias_name("alias/n49").target_key_id(b.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "LimitExceededException");

    // A key pending deletion takes no new alias.
    kms.schedule_key_deletion().key_id(a.key_id()).send().await.unwrap();
    let e = kms.create_alias().alias_name("alias/late").target_key_id(a.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    server.shutdown().await;
}

#[tokio::test]
async fn tags() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let k = kms.create_key().tags(tag("team", "core")).send().await.unwrap().key_metadata.unwrap();
    let id = k.key_id();
    kms.tag_resource().key_id(id).tags(tag("env", "prod")).tags(tag("team", "platform")).send().await.unwrap();
    let tags = kms.list_resource_tags().key_id(id).send().await.unwrap();
    let pairs: Vec<_> = tags.tags().iter().map(|t| (t.tag_key(), t.tag_value())).collect();
    assert_eq!(pairs, [("team", "platform"), ("env", "prod")]);
    assert!(!tags.truncated());
    kms.untag_resource().key_id(id).tag_keys("team").send().await.unwrap();
    let tags = kms.list_resource_tags().key_id(id).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1);

    let e = kms.tag_resource().key_id(id).tags(tag("aws:reserved", "x")).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "TagException");
    let e = kms.create_key().tags(tag("aws:x", "y")).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "TagException");
    let e = kms.tag_resource().key_id(id).tags(tag(&"k".repeat(129), "x")).send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "ValidationException");
    assert!(m.contains("'tags.1.member.tagKey'") && m.contains("less than or equal to 128"), "{m}");
    let e = kms.tag_resource().key_id(id).tags(tag("k", &"v".repeat(257))).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");

    // 50 tags per key.
    let mut req = kms.tag_resource().key_id(id);
    for i in 0..49 {
        req = req.tags(tag(&format!("t{i}"), "v"));
    }
    req.send().await.unwrap();
    let e = kms.tag_resource().key_id(id).tags(tag("one-more", "v")).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "TagException");
    // Pagination.
    let page = kms.list_resource_tags().key_id(id).limit(20).send().await.unwrap();
    assert_eq!(page.tags().len(), 20);
    assert!(page.truncated());
    let next = kms.list_resource_tags().key_id(id).limit(40).marker(page.next_marker().unwrap()).send().await.unwrap();
    assert_eq!(next.tags().len(), 30);
    assert!(!next.truncated());
    server.shutdown().await;
}

#[tokio::test]
async fn key_policies() {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let k = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let id = k.key_id();
    let p = kms.get_key_policy().key_id(id).send().await.unwrap();
    assert_eq!(p.policy_name(), Some("default"));
    let doc: serde_json::Value = serde_json::from_str(p.policy().unwrap()).unwrap();
    assert_eq!(doc["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::000000000000:root");
    assert_eq!(doc["Statement"][0]["Action"], "kms:*");
    let names = kms.list_key_policies().key_id(id).send().await.unwrap();
    assert_eq!(names.policy_names(), ["default"]);

    let new_policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"000000000000"}}}]}"#;
    kms.put_key_policy().key_id(id).policy_name("default").policy(new_policy).send().await.unwrap();
    assert_eq!(kms.get_key_policy().key_id(id).send().await.unwrap().policy(), Some(new_policy));

    let e = kms.put_key_policy().key_id(id).policy("{not json").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "MalformedPolicyDocumentException");
    let lockout = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let e = kms.put_key_policy().key_id(id).policy(lockout).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "MalformedPolicyDocumentException".into(),
            "The new key policy will not allow you to update the key policy in the future.".into()
        )
    );
    kms.put_key_policy().key_id(id).policy(lockout).bypass_policy_lockout_safety_check(true).send().await.unwrap();
    let e = kms.create_key().policy("[]").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "MalformedPolicyDocumentException");
    let e = kms.get_key_policy().key_id(id).policy_name("other").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException");
    server.shutdown().await;
}
