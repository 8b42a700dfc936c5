//! Authorization through the wire, with several principals in two accounts:
//! key policies, identity policies, the root delegation, explicit denies,
//! cross-account use, conditions, and the decision in the audit record.

use aws_sdk_kms::primitives::Blob;

use crate::harness::*;

const A: &str = "111122223333";
const B: &str = "444455556666";

fn key_policy(statements: &str) -> String {
    // The admin keeps PutKeyPolicy (the lockout safety check).
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/admin"}},"Action":"kms:*","Resource":"*"}},{statements}]}}"#
    )
}

#[tokio::test]
async fn key_policies_identity_policies_and_both_must_allow() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let admin_raw = ts.raw();
    let admin = ts.sdk();
    let ep = ts.endpoint();
    let (ak, sk) = create_user(&admin_raw, "alice", None).await;
    let alice = sdk_client(&ep, &ak, &sk);
    allow_all(&admin_raw, "alice", None).await;
    let (bk, bs) = create_user(&admin_raw, "bob", None).await;
    let bob = sdk_client(&ep, &bk, &bs);
    let (ck, cs) = create_user(&admin_raw, "carol", Some(B)).await;
    let carol = sdk_client(&ep, &ck, &cs);
    put_user_policy(
        &admin_raw,
        "carol",
        Some(B),
        "use-keys",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"UseKeys","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}"#,
    )
    .await;
    let pt = || Blob::new(b"secret".to_vec());

    // 1. The default key policy delegates to IAM: alice (IAM allows) may, bob (no IAM policy) may not.
    let k1 = admin.create_key().send().await.unwrap().key_metadata.unwrap();
    alice.encrypt().key_id(k1.key_id()).plaintext(pt()).send().await.unwrap();
    let e = bob.encrypt().key_id(k1.key_id()).plaintext(pt()).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "AccessDeniedException".into(),
            format!("User: arn:aws:iam::{A}:user/bob is not authorized to perform: kms:Encrypt on resource: {} because no identity-based policy allows the kms:Encrypt action", k1.arn().unwrap())
        )
    );

    // 2. A key policy without the root delegation: an IAM policy alone allows nothing;
    //    a key policy naming bob directly allows bob with no IAM policy at all.
    let p2 = key_policy(&format!(
        r#"{{"Sid":"BobUses","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/bob"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#
    ));
    let k2 = admin.create_key().policy(p2).send().await.unwrap().key_metadata.unwrap();
    let e = alice.encrypt().key_id(k2.key_id()).plaintext(pt()).send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "AccessDeniedException");
    assert!(m.ends_with("because no resource-based policy allows the kms:Encrypt action"), "{m}");
    let blob = bob.encrypt().key_id(k2.key_id()).plaintext(pt()).send().await.unwrap().ciphertext_blob.unwrap();
    bob.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    let e = bob.schedule_key_deletion().key_id(k2.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException", "management operations are checked too");

    // 3. An explicit deny in the key policy wins over alice's IAM allow.
    let p3 = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"NoAlice","Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{A}:user/alice"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    let k3 = admin.create_key().policy(p3).send().await.unwrap().key_metadata.unwrap();
    let blob3 = alice.encrypt().key_id(k3.key_id()).plaintext(pt()).send().await.unwrap().ciphertext_blob.unwrap();
    let e = alice.decrypt().ciphertext_blob(blob3).send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "AccessDeniedException");
    assert!(m.ends_with("with an explicit deny in a resource-based policy"), "{m}");

    // 4. An explicit deny in an identity policy.
    put_user_policy(
        &admin_raw,
        "alice",
        None,
        "no-generate",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:GenerateDataKey","Resource":"*"}]}"#,
    )
    .await;
    let e = alice.generate_data_key().key_id(k1.key_id()).number_of_bytes(32).send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "AccessDeniedException");
    assert!(m.ends_with("with an explicit deny in an identity-based policy"), "{m}");

    // 5. Cross-account: works only when the key policy names the other account and its IAM allows.
    let e = carol.encrypt().key_id(k1.arn().unwrap()).plaintext(pt()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");
    let p5 = key_policy(&format!(
        r#"{{"Sid":"OtherAccount","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}}"#
    ));
    let k5 = admin.create_key().policy(p5).send().await.unwrap().key_metadata.unwrap();
    let blob5 =
        carol.encrypt().key_id(k5.arn().unwrap()).plaintext(pt()).send().await.unwrap().ciphertext_blob.unwrap();
    carol.decrypt().ciphertext_blob(blob5).send().await.unwrap();
    let e = carol.encrypt().key_id(k5.key_id()).plaintext(pt()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException", "a bare key id names a key in the caller's account");
    put_user_policy(
        &admin_raw,
        "carol",
        Some(B),
        "use-keys",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}"#,
    )
    .await;
    let e = carol.encrypt().key_id(k5.arn().unwrap()).plaintext(pt()).send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "AccessDeniedException");
    assert!(m.ends_with("because no identity-based policy allows the kms:Encrypt action"), "{m}");

    // 6. Conditions: bob may decrypt only with tenant=acme in the encryption context.
    let p6 = key_policy(&format!(
        r#"{{"Sid":"BobAcme","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/bob"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:tenant":"acme"}}}}}}"#
    ));
    let k6 = admin.create_key().policy(p6).send().await.unwrap().key_metadata.unwrap();
    let good = bob
        .encrypt()
        .key_id(k6.key_id())
        .plaintext(pt())
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    bob.decrypt().ciphertext_blob(good).encryption_context("tenant", "acme").send().await.unwrap();
    let e = bob
        .encrypt()
        .key_id(k6.key_id())
        .plaintext(pt())
        .encryption_context("tenant", "other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");

    // 6b. aws:SourceIp is the connection's address: loopback here.
    let p6b = key_policy(&format!(
        r#"{{"Sid":"BobLoopback","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/bob"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.0/8"}}}}}},{{"Sid":"BobElsewhere","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/bob"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"IpAddress":{{"aws:SourceIp":"10.0.0.0/8"}}}}}}"#
    ));
    let k6b = admin.create_key().policy(p6b).send().await.unwrap().key_metadata.unwrap();
    let blob6b = bob.encrypt().key_id(k6b.key_id()).plaintext(pt()).send().await.unwrap().ciphertext_blob.unwrap();
    let e = bob.decrypt().ciphertext_blob(blob6b).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");

    // 7. The simulator answers without making the call, naming the statement.
    let sim = |principal: String, action: &'static str, key: String, ec: serde_json::Value| {
        let admin_raw = &admin_raw;
        async move {
            let r = admin_raw
                .call(
                    "KmsAdmin.Simulate",
                    &serde_json::json!({"PrincipalArn": principal, "Action": action, "KeyId": key, "EncryptionContext": ec}),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()
        }
    };
    let bob_arn = format!("arn:aws:iam::{A}:user/bob");
    let yes = sim(bob_arn.clone(), "kms:Decrypt", k6.key_id().to_string(), serde_json::json!({"tenant": "acme"})).await;
    assert_eq!(yes["Allowed"], true);
    assert_eq!(yes["DecidedBy"], "allowed by key policy statement \"BobAcme\"");
    let no = sim(bob_arn.clone(), "kms:Decrypt", k6.key_id().to_string(), serde_json::json!({"tenant": "other"})).await;
    assert_eq!(no["Allowed"], false);
    assert!(no["Message"].as_str().unwrap().contains("no resource-based policy allows the kms:Decrypt action"));
    let denied =
        sim(format!("arn:aws:iam::{A}:user/alice"), "kms:Decrypt", k3.key_id().to_string(), serde_json::json!({}))
            .await;
    assert_eq!(denied["DecidedBy"], "denied by key policy statement \"NoAlice\"");

    // 8. Identity-only operations.
    let e = bob.list_keys().send().await.unwrap_err();
    assert!(err_of(e).1.contains("kms:ListKeys on resource: *"));

    // 8b. Remembered allows end with what made them: alice's Encrypt on k1 is allowed
    //     (many times, so the server remembers it), then denied once her identity
    //     policy no longer allows it, and allowed again; then denied by a new key policy.
    let k8 = admin.create_key().send().await.unwrap().key_metadata.unwrap();
    for _ in 0..3 {
        alice.encrypt().key_id(k8.key_id()).plaintext(pt()).send().await.unwrap();
    }
    put_user_policy(
        &admin_raw,
        "alice",
        None,
        "no-encrypt",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}"#,
    )
    .await;
    let e = alice.encrypt().key_id(k8.key_id()).plaintext(pt()).send().await.unwrap_err();
    assert!(err_of(e).1.ends_with("with an explicit deny in an identity-based policy"));
    put_user_policy(
        &admin_raw,
        "alice",
        None,
        "no-encrypt",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}"#,
    )
    .await;
    for _ in 0..3 {
        alice.encrypt().key_id(k8.key_id()).plaintext(pt()).send().await.unwrap();
    }
    let p8 = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"NoAliceEncrypt","Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{A}:user/alice"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    admin.put_key_policy().key_id(k8.key_id()).policy(p8).send().await.unwrap();
    let e = alice.encrypt().key_id(k8.key_id()).plaintext(pt()).send().await.unwrap_err();
    assert!(err_of(e).1.ends_with("with an explicit deny in a resource-based policy"));
    ts.stop().await;

    // 9. The audit record names the deciding statement.
    let events = kms_audit::query::events(&dir.path().join("audit")).unwrap();
    let bob_enc = events
        .iter()
        .find(|e| e["eventName"] == "Encrypt" && e["userIdentity"]["userName"] == "bob" && e["errorCode"].is_null())
        .unwrap();
    assert_eq!(bob_enc["additionalEventData"]["authorizationDecision"], "allowed by key policy statement \"BobUses\"");
    let denied =
        events.iter().find(|e| e["eventName"] == "Decrypt" && e["errorCode"] == "AccessDeniedException").unwrap();
    assert_eq!(denied["additionalEventData"]["authorizationDecision"], "denied by key policy statement \"NoAlice\"");
}

#[tokio::test]
async fn grants_allow_exactly_what_they_say_until_revoked() {
    use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let admin_raw = ts.raw();
    let admin = ts.sdk();
    let ep = ts.endpoint();
    let (bk, bs) = create_user(&admin_raw, "bob", None).await;
    let bob = sdk_client(&ep, &bk, &bs);
    let (ak, asec) = create_user(&admin_raw, "alice", None).await;
    let alice = sdk_client(&ep, &ak, &asec);
    allow_all(&admin_raw, "alice", None).await;
    let k = admin.create_key().send().await.unwrap().key_metadata.unwrap();
    let bob_arn = format!("arn:aws:iam::{A}:user/bob");
    let alice_arn = format!("arn:aws:iam::{A}:user/alice");
    let pt = || Blob::new(b"granted".to_vec());

    let e =
        bob.encrypt().key_id(k.key_id()).plaintext(pt()).encryption_context("tenant", "acme").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");

    let g = admin
        .create_grant()
        .key_id(k.key_id())
        .grantee_principal(&bob_arn)
        .retiring_principal(&alice_arn)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(GrantConstraints::builder().encryption_context_subset("tenant", "acme").build())
        .name("bob-acme")
        .send()
        .await
        .unwrap();
    let grant_id = g.grant_id().unwrap().to_string();
    assert_eq!(grant_id.len(), 64);
    // The grant works on the very next request, with its token or without.
    let blob = bob
        .encrypt()
        .key_id(k.key_id())
        .plaintext(pt())
        .encryption_context("tenant", "acme")
        .encryption_context("extra", "ok")
        .grant_tokens(g.grant_token().unwrap())
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let out = bob
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("tenant", "acme")
        .encryption_context("extra", "ok")
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"granted");
    // Only with the constrained context, only the granted operations.
    let e = bob
        .encrypt()
        .key_id(k.key_id())
        .plaintext(pt())
        .encryption_context("tenant", "other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");
    let e = bob
        .generate_data_key()
        .key_id(k.key_id())
        .number_of_bytes(16)
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");
    let e = bob.encrypt().key_id(k.key_id()).plaintext(pt()).grant_tokens("not-a-token").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidGrantTokenException");

    // Idempotent by name; listed with its constraints.
    let again = admin
        .create_grant()
        .key_id(k.key_id())
        .grantee_principal(&bob_arn)
        .retiring_principal(&alice_arn)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(GrantConstraints::builder().encryption_context_subset("tenant", "acme").build())
        .name("bob-acme")
        .send()
        .await
        .unwrap();
    assert_eq!(again.grant_id(), Some(grant_id.as_str()));
    let listed = admin.list_grants().key_id(k.key_id()).send().await.unwrap();
    assert_eq!(listed.grants().len(), 1);
    let entry = &listed.grants()[0];
    assert_eq!(entry.key_id(), k.arn());
    assert_eq!(entry.grantee_principal(), Some(bob_arn.as_str()));
    assert_eq!(entry.issuing_account(), Some(format!("arn:aws:iam::{A}:root").as_str()));
    assert_eq!(entry.name(), Some("bob-acme"));
    assert_eq!(entry.constraints().unwrap().encryption_context_subset().unwrap()["tenant"], "acme");
    let retirable = alice.list_retirable_grants().retiring_principal(&alice_arn).send().await.unwrap();
    assert_eq!(retirable.grants().len(), 1);

    // Revoked: it stops working at once.
    admin.revoke_grant().key_id(k.key_id()).grant_id(&grant_id).send().await.unwrap();
    let e = bob
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("tenant", "acme")
        .encryption_context("extra", "ok")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");
    assert!(admin.list_grants().key_id(k.key_id()).send().await.unwrap().grants().is_empty());
    let e = admin.revoke_grant().key_id(k.key_id()).grant_id(&grant_id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "NotFoundException");

    // Retired by its retiring principal, with the token.
    let g2 = admin
        .create_grant()
        .key_id(k.key_id())
        .grantee_principal(&bob_arn)
        .retiring_principal(&alice_arn)
        .operations(GrantOperation::DescribeKey)
        .send()
        .await
        .unwrap();
    bob.describe_key().key_id(k.key_id()).send().await.unwrap();
    let e = bob.retire_grant().grant_token(g2.grant_token().unwrap()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException", "bob is neither the retiring principal nor allowed RetireGrant");
    alice.retire_grant().grant_token(g2.grant_token().unwrap()).send().await.unwrap();
    let e = bob.describe_key().key_id(k.key_id()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "AccessDeniedException");
    ts.stop().await;

    let events = kms_audit::query::events(&dir.path().join("audit")).unwrap();
    let granted = events
        .iter()
        .find(|e| e["eventName"] == "Decrypt" && e["userIdentity"]["userName"] == "bob" && e["errorCode"].is_null())
        .unwrap();
    assert_eq!(granted["additionalEventData"]["authorizationDecision"], format!("allowed by grant {grant_id}"));
}
