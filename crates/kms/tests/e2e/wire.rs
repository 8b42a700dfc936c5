//! The generated wire layer, through the official client and raw requests:
//! the model's constraints with AWS's texts, type errors, the operations
//! not built yet, and the service rules the model cannot express.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    GrantConstraints, GrantOperation, KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec, Tag,
};

use crate::harness::*;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

#[tokio::test]
async fn tags_are_checked_as_aws_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let long_key = "k".repeat(200);
    let e = kms.create_key().tags(tag(&long_key, "v")).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "ValidationException".into(),
            format!("1 validation error detected: Value '{long_key}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128")
        )
    );
    let long_value = "v".repeat(300);
    let e = kms.create_key().tags(tag("a", "b")).tags(tag("k", &long_value)).send().await.unwrap_err();
    assert_eq!(
        err_of(e).1,
        format!("1 validation error detected: Value '{long_value}' at 'tags.2.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256")
    );
    let e = kms.create_key().tags(tag("dup", "1")).tags(tag("dup", "2")).send().await.unwrap_err();
    assert_eq!(err_of(e), ("TagException".into(), "Duplicate tag keys".into()));
    for reserved in ["aws:key1", "AWS:key1"] {
        let e = kms.create_key().tags(tag(reserved, "v")).send().await.unwrap_err();
        assert_eq!(err_of(e), ("TagException".into(), "Tags beginning with aws: are reserved".into()));
    }
    let mut many = kms.create_key();
    for i in 0..51 {
        many = many.tags(tag(&format!("t{i}"), "v"));
    }
    assert_eq!(err_of(many.send().await.unwrap_err()), ("TagException".into(), "Too many tags".into()));
    // Nothing was created by the refused calls.
    assert!(kms.list_keys().send().await.unwrap().keys().is_empty());

    let id = kms.create_key().tags(tag("a", "1")).send().await.unwrap().key_metadata.unwrap().key_id;
    let e = kms.tag_resource().key_id(&id).tags(tag("aws:x", "v")).send().await.unwrap_err();
    assert_eq!(err_of(e), ("TagException".into(), "Tags beginning with aws: are reserved".into()));
    let e = kms.tag_resource().key_id(&id).tags(tag("b", "1")).tags(tag("b", "2")).send().await.unwrap_err();
    assert_eq!(err_of(e), ("TagException".into(), "Duplicate tag keys".into()));
    let e = kms.tag_resource().key_id(&id).tags(tag(&long_key, "v")).send().await.unwrap_err();
    assert!(err_of(e).1.contains("at 'tags.1.member.tagKey'"));
    let e = kms.untag_resource().key_id(&id).tag_keys(&long_key).send().await.unwrap_err();
    assert_eq!(
        err_of(e).1,
        format!("1 validation error detected: Value '[{long_key}]' at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]")
    );
    // The existing tag is untouched; an existing key's tag is replaced.
    kms.tag_resource().key_id(&id).tags(tag("a", "2")).send().await.unwrap();
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(tags.tags(), &[tag("a", "2")]);
    ts.stop().await;
}

#[tokio::test]
async fn type_errors_and_model_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let c = ts.raw();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let blob = kms.encrypt().key_id(&id).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap();
    let ct = base64_of(blob.ciphertext_blob().unwrap().as_ref());
    let call = |target: &'static str, body: serde_json::Value| {
        let c = &c;
        async move { c.call(target, &body).await.unwrap() }
    };

    // A member the server does not use is still type-checked.
    for (recipient, message) in [(serde_json::json!("x"), "Expected null"), (serde_json::json!(5), "Expected null")] {
        let r = call("TrentService.Decrypt", serde_json::json!({"CiphertextBlob": ct, "Recipient": recipient})).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.error().unwrap(), ("SerializationException".into(), message.into()));
    }
    let r = call(
        "TrentService.Decrypt",
        serde_json::json!({"CiphertextBlob": ct, "Recipient": {"KeyEncryptionAlgorithm": "NOPE"}}),
    )
    .await;
    assert_eq!(
        r.error().unwrap().1,
        "1 validation error detected: Value 'NOPE' at 'recipient.keyEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_256]"
    );
    let r = call("TrentService.ListKeys", serde_json::json!({"Limit": "ten"})).await;
    assert_eq!(
        r.error().unwrap(),
        ("SerializationException".into(), "STRING_VALUE can not be converted to an Integer".into())
    );
    let r = call("TrentService.DescribeKey", serde_json::json!({"KeyId": 5})).await;
    assert_eq!(r.error().unwrap().1, "NUMBER_VALUE can not be converted to a String");
    let r = call("TrentService.CreateKey", serde_json::json!({"Tags": "x"})).await;
    assert_eq!(r.error().unwrap().1, "Expected list or null");
    let r = call("TrentService.CreateKey", serde_json::json!({"Description": ["x"]})).await;
    assert_eq!(r.error().unwrap().1, "Start of list found where not expected");
    let r = call("TrentService.Encrypt", serde_json::json!({"KeyId": id, "Plaintext": "eA==", "EncryptionContext": 1}))
        .await;
    assert_eq!(r.error().unwrap().1, "Expected map or null");
    // A body that is not JSON: no message, as AWS.
    let r = c.send(c.signed_request("TrentService.ListKeys", b"{", now()).unwrap()).await.unwrap();
    assert_eq!(r.error().unwrap(), ("SerializationException".into(), String::new()));
    assert!(!String::from_utf8_lossy(&r.body).contains("message"));

    // Several violations at once, blobs and sensitive members never echoed.
    let r = call(
        "TrentService.Encrypt",
        serde_json::json!({"KeyId": "", "Plaintext": base64_of(&[0u8; 4097]), "EncryptionAlgorithm": "X"}),
    )
    .await;
    assert_eq!(
        r.error().unwrap().1,
        "3 validation errors detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1; Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096; Value 'X' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE, SYMMETRIC_DEFAULT]"
    );
    let r = call("TrentService.Decrypt", serde_json::json!({"CiphertextBlob": ""})).await;
    assert_eq!(
        r.error().unwrap().1,
        "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    let r = call("TrentService.Encrypt", serde_json::json!({"KeyId": id})).await;
    assert_eq!(
        r.error().unwrap().1,
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must not be null"
    );
    let r = call(
        "TrentService.CreateGrant",
        serde_json::json!({"KeyId": id, "GranteePrincipal": "a b", "Operations": ["Encrypt", "Foo"]}),
    )
    .await;
    let m = r.error().unwrap().1;
    assert!(m.starts_with("2 validation errors detected: Value 'a b' at 'granteePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$; Value '[Encrypt, Foo]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [Decrypt, Encrypt,"), "{m}");
    let r = call("TrentService.ListKeys", serde_json::json!({"ResourceOwners": []})).await;
    assert_eq!(
        r.error().unwrap().1,
        "1 validation error detected: Value '[]' at 'resourceOwners' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );

    // GenerateRandom: the service requires what the model leaves optional.
    let e = kms.generate_random().send().await.unwrap_err();
    assert_eq!(err_of(e), ("ValidationException".into(), "NumberOfBytes is required.".into()));
    let e = kms.generate_random().number_of_bytes(1025).send().await.unwrap_err();
    assert_eq!(
        err_of(e).1,
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
    );
    ts.stop().await;
}

#[tokio::test]
async fn dry_run_is_http_400() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let r = ts
        .raw()
        .call("TrentService.Encrypt", &serde_json::json!({"KeyId": id, "Plaintext": "eA==", "DryRun": true}))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error().unwrap(),
        ("DryRunOperationException".into(), "The request would have succeeded, but the DryRun option is set.".into())
    );
    ts.stop().await;
}

#[tokio::test]
async fn grants_must_fit_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let grantee = "arn:aws:iam::111122223333:user/bob";
    let grant = || kms.create_grant().key_id(&sym).grantee_principal(grantee);
    let e = grant().operations(GrantOperation::Sign).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        (
            "ValidationException".into(),
            "Grant operation Sign is not valid for a KMS key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT.".into()
        )
    );
    let subset = GrantConstraints::builder().encryption_context_subset("app", "x").build();
    let e = grant().operations(GrantOperation::DescribeKey).constraints(subset.clone()).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    let e = grant().operations(GrantOperation::CreateGrant).send().await.unwrap_err();
    assert_eq!(
        err_of(e),
        ("ValidationException".into(), "Grants must not contain only the CreateGrant operation.".into())
    );
    let both =
        GrantConstraints::builder().encryption_context_subset("a", "b").encryption_context_equals("a", "b").build();
    let e = grant().operations(GrantOperation::Decrypt).constraints(both).send().await.unwrap_err();
    assert_eq!(err_of(e), ("ValidationException".into(), "More than one constraint supplied".into()));
    // A constraint with an operation that takes an encryption context is
    // fine, DescribeKey beside it too.
    grant()
        .operations(GrantOperation::Decrypt)
        .operations(GrantOperation::DescribeKey)
        .constraints(subset.clone())
        .send()
        .await
        .unwrap();
    // Asymmetric keys take no encryption context, so no constraint.
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
    let e = kms
        .create_grant()
        .key_id(&signer)
        .grantee_principal(grantee)
        .operations(GrantOperation::Sign)
        .constraints(subset)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    kms.create_grant()
        .key_id(&signer)
        .grantee_principal(grantee)
        .operations(GrantOperation::Sign)
        .send()
        .await
        .unwrap();
    assert_eq!(kms.list_grants().key_id(&sym).send().await.unwrap().grants().len(), 1);
    ts.stop().await;
}

#[tokio::test]
async fn ed25519_message_types_are_aws_s() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let k = kms
        .create_key()
        .key_spec(KeySpec::EccNistEdwards25519)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    // AWS: ED25519_SHA_512 requires RAW, ED25519_PH_SHA_512 requires DIGEST
    // (a 64-byte SHA-512 digest); the two are not interchangeable.
    let sign = |alg: SigningAlgorithmSpec, mt: MessageType, m: Vec<u8>| {
        kms.sign().key_id(&k).signing_algorithm(alg).message_type(mt).message(Blob::new(m)).send()
    };
    let e = sign(SigningAlgorithmSpec::Ed25519PhSha512, MessageType::Raw, b"m".to_vec()).await.unwrap_err();
    assert_eq!(
        err_of(e),
        ("ValidationException".into(), "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.".into())
    );
    let e = sign(SigningAlgorithmSpec::Ed25519Sha512, MessageType::Digest, vec![0; 64]).await.unwrap_err();
    assert_eq!(
        err_of(e),
        ("ValidationException".into(), "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.".into())
    );
    sign(SigningAlgorithmSpec::Ed25519PhSha512, MessageType::Digest, vec![7; 64]).await.unwrap();
    sign(SigningAlgorithmSpec::Ed25519Sha512, MessageType::Raw, b"m".to_vec()).await.unwrap();
    ts.stop().await;
}

#[tokio::test]
async fn requests_are_validated_before_the_service_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    // Custom key stores: none here, and no HSM configured.
    let stores = kms.describe_custom_key_stores().send().await.unwrap();
    assert!(stores.custom_key_stores().is_empty() && !stores.truncated());
    let e = kms.connect_custom_key_store().custom_key_store_id("cks-1234567890abcdef0").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreNotFoundException");
    let e = kms
        .create_custom_key_store()
        .custom_key_store_name("s")
        .cloud_hsm_cluster_id("cluster-234567abcdef")
        .trust_anchor_certificate("-----BEGIN CERTIFICATE-----")
        .key_store_password("kmsuser-password")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "CloudHsmClusterNotFoundException");
    // The request is validated and the key resolved first.
    let e = kms.enable_key_rotation().key_id(&id).rotation_period_in_days(10).send().await.unwrap_err();
    assert_eq!(
        err_of(e).1,
        "1 validation error detected: Value '10' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90"
    );
    let e = kms.replicate_key().key_id("11111111-2222-3333-4444-555555555555").replica_region("us-west-2");
    assert_eq!(err_of(e.send().await.unwrap_err()).0, "NotFoundException");
    // Targets AWS does not have stay unknown.
    let r = ts.raw().call("TrentService.FlyToTheMoon", &serde_json::json!({})).await.unwrap();
    assert_eq!(r.error().unwrap().0, "UnknownOperationException");
    ts.stop().await;
}

#[tokio::test]
async fn list_keys_resource_owners() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    // The Rust SDK (1.129) predates ResourceOwners: a raw request.
    let c = ts.raw();
    let ids = |owners: serde_json::Value| {
        let c = &c;
        async move {
            let r = c.call("TrentService.ListKeys", &serde_json::json!({"ResourceOwners": owners})).await.unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["Keys"].as_array().unwrap().iter().map(|k| k["KeyId"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(serde_json::json!(["SELF"])).await, vec![id.clone()]);
    // No Resource Access Manager here: no key is shared that way.
    assert!(ids(serde_json::json!(["OTHER_ACCOUNTS_VIA_RAM"])).await.is_empty());
    assert_eq!(ids(serde_json::json!(["OTHER_ACCOUNTS_VIA_RAM", "SELF"])).await, vec![id]);
    ts.stop().await;
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}
