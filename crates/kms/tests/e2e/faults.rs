//! Fault injection (`--dev`): chosen calls fail with the chosen AWS
//! exception, for a count or at a rate, scoped to a key, or slow down;
//! marked in the audit record; refused without `--dev`.

use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;

use crate::harness::*;
use crate::symmetric::dev_server;

async fn admin(c: &kms::client::Client, target: &str, body: serde_json::Value) -> serde_json::Value {
    let r = c.call(target, &body).await.unwrap();
    assert_eq!(r.status, 200, "{target}: {}", String::from_utf8_lossy(&r.body));
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn faults_fail_or_slow_the_calls_they_name() {
    let server = dev_server().await;
    let endpoint = format!("http://{}", server.addr);
    let kms = sdk_client(&endpoint, "test", "test");
    let ops = raw_client(&endpoint, "test", "test");
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    kms.create_alias().alias_name("alias/app").target_key_id(&id).send().await.unwrap();
    let enc = |key: &str| kms.encrypt().key_id(key).plaintext(Blob::new(b"x")).send();

    // The next two Encrypt calls are throttled, then calls go through.
    let f = admin(
        &ops,
        "KmsAdmin.SetFault",
        serde_json::json!({"Operation": "Encrypt", "Error": "ThrottlingException", "Count": 2}),
    )
    .await;
    let fault_id = f["FaultId"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(err_of(enc(&id).await.unwrap_err()).0, "ThrottlingException");
    }
    enc(&id).await.unwrap();
    kms.describe_key().key_id(&id).send().await.unwrap();

    // Scoped to the alias as the call names it; other exceptions.
    for (error, status) in [
        ("KMSInternalException", 500),
        ("DependencyTimeoutException", 503),
        ("KeyUnavailableException", 500),
        ("KMSInvalidStateException", 400),
    ] {
        admin(
            &ops,
            "KmsAdmin.SetFault",
            serde_json::json!({"Operation": "Encrypt", "KeyId": "alias/app", "Error": error, "Count": 1}),
        )
        .await;
        enc(&id).await.unwrap();
        let r = ops
            .call("TrentService.Encrypt", &serde_json::json!({"KeyId": "alias/app", "Plaintext": "eA=="}))
            .await
            .unwrap();
        assert_eq!((r.error().unwrap().0.as_str(), r.status), (error, status));
        enc("alias/app").await.unwrap();
    }

    // Latency.
    admin(&ops, "KmsAdmin.SetFault", serde_json::json!({"Operation": "Decrypt", "LatencyMs": 300})).await;
    let blob = enc(&id).await.unwrap().ciphertext_blob.unwrap();
    let t = Instant::now();
    kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    let listed = admin(&ops, "KmsAdmin.ListFaults", serde_json::json!({})).await;
    assert_eq!(listed["Faults"].as_array().unwrap().len(), 1);
    assert_eq!(listed["Faults"][0]["Hits"], 1);
    admin(&ops, "KmsAdmin.ClearFaults", serde_json::json!({})).await;
    let t = Instant::now();
    kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(300));

    // Bad requests.
    let r = ops.call("KmsAdmin.SetFault", &serde_json::json!({"Error": "NoSuchException"})).await.unwrap();
    assert_eq!(r.error().unwrap().0, "ValidationException");
    let r = ops.call("KmsAdmin.ClearFaults", &serde_json::json!({"FaultId": fault_id})).await.unwrap();
    assert_eq!(r.error().unwrap().0, "NotFoundException", "a used-up fault is gone");

    server.shutdown().await;
}

#[tokio::test]
async fn faults_are_refused_without_dev_and_marked_in_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let r = ts.raw().call("KmsAdmin.SetFault", &serde_json::json!({"Error": "ThrottlingException"})).await.unwrap();
    assert_eq!(r.error().unwrap().0, "UnsupportedOperationException");
    ts.stop().await;

    let server = dev_server().await;
    let endpoint = format!("http://{}", server.addr);
    let ops = raw_client(&endpoint, "test", "test");
    admin(&ops, "KmsAdmin.SetFault", serde_json::json!({"Operation": "ListKeys", "Error": "KMSInternalException"}))
        .await;
    let kms = sdk_client(&endpoint, "test", "test");
    assert_eq!(err_of(kms.list_keys().send().await.unwrap_err()).0, "KMSInternalException");
    let audit = server.audit_dir.clone();
    // Read the trail before shutdown removes the --dev audit directory.
    let mut marked = false;
    for _ in 0..50 {
        let events = crate::lifecycle::audit_events(&audit);
        if events.iter().any(|e| {
            e["eventName"] == "ListKeys"
                && e["additionalEventData"]["injectedFault"]
                    .as_str()
                    .is_some_and(|f| f.contains("KMSInternalException"))
        }) {
            marked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(marked, "the injected fault is in the audit record");
    server.shutdown().await;
}
