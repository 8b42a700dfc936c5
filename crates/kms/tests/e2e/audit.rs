//! The audit trail through the wire: one event per call, the right fields,
//! no secrets anywhere in the log directory, and tamper detection.

use std::path::{Path, PathBuf};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine as _;
use serde_json::Value;

use crate::harness::*;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn dir_contains(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if contains(&std::fs::read(&p).unwrap(), needle) {
            hits.push(p);
        }
    }
    hits
}

/// A server with a short digest interval; returns the audit dir after a
/// scripted mix of calls, and what the script knows about them.
#[tokio::test]
async fn every_call_leaves_one_event_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let raw = ts.raw();
    let mut calls = 0usize;

    let key = kms.create_key().description("audited").send().await.unwrap().key_metadata.unwrap();
    calls += 1;
    let plaintext = b"TOP-SECRET-PLAINTEXT-0123456789";
    let enc = kms
        .encrypt()
        .key_id(key.key_id())
        .plaintext(Blob::new(plaintext.to_vec()))
        .encryption_context("tenant", "acme")
        .send()
        .await
        .unwrap();
    calls += 1;
    let blob = enc.ciphertext_blob().unwrap().clone();
    kms.decrypt().ciphertext_blob(blob.clone()).encryption_context("tenant", "acme").send().await.unwrap();
    calls += 1;
    let dk = kms.generate_data_key().key_id(key.key_id()).key_spec(DataKeySpec::Aes256).send().await.unwrap();
    calls += 1;
    let data_key = dk.plaintext().unwrap().as_ref().to_vec();
    // Failures: not found, validation, bad ciphertext.
    kms.describe_key().key_id("11111111-2222-3333-4444-555555555555").send().await.unwrap_err();
    calls += 1;
    kms.encrypt().key_id(key.key_id()).plaintext(Blob::new(vec![0; 5000])).send().await.unwrap_err();
    calls += 1;
    kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap_err();
    calls += 1;
    // Unauthenticated: wrong secret, unknown key id, no signature.
    sdk_client(&ts.endpoint(), &ts.access_key, "0000000000000000000000000000000000000000")
        .list_keys()
        .send()
        .await
        .unwrap_err();
    calls += 1;
    sdk_client(&ts.endpoint(), "AKIAUNKNOWNUNKNOWN00", &ts.secret).list_keys().send().await.unwrap_err();
    calls += 1;
    let mut req = raw.signed_request("TrentService.ListKeys", b"{}", now()).unwrap();
    req.headers_mut().remove("authorization");
    let unsigned = raw.send(req).await.unwrap();
    assert_eq!(unsigned.error().unwrap().0, "MissingAuthenticationTokenException");
    calls += 1;
    // An operator call whose response holds a secret.
    let r = raw.call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": "audited-user"})).await.unwrap();
    let created: Value = serde_json::from_slice(&r.body).unwrap();
    let user_secret = created["SecretAccessKey"].as_str().unwrap().to_string();
    let admin_request_id = r.headers["x-amzn-requestid"].to_str().unwrap().to_string();
    calls += 1;
    ts.stop().await;

    let audit_dir = dir.path().join("audit");
    let events = kms_audit::query::events(&audit_dir).unwrap();
    assert_eq!(events.len(), calls, "exactly one event per call");

    let by = |name: &str| events.iter().filter(|e| e["eventName"] == name).collect::<Vec<_>>();
    let e = by("Encrypt")[0];
    assert_eq!(e["eventSource"], "kms.amazonaws.com");
    assert_eq!(e["eventVersion"], "1.11");
    assert_eq!(e["eventType"], "AwsApiCall");
    assert_eq!(e["eventCategory"], "Management");
    assert_eq!(e["managementEvent"], true);
    assert_eq!(e["readOnly"], true);
    assert_eq!(e["awsRegion"], "us-east-1");
    assert_eq!(e["sourceIPAddress"], "127.0.0.1");
    assert!(e["userAgent"].as_str().unwrap().contains("aws-sdk-rust"));
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
    assert_eq!(e["userIdentity"]["arn"], "arn:aws:iam::111122223333:user/admin");
    assert_eq!(e["userIdentity"]["accessKeyId"], ts.access_key.as_str());
    assert_eq!(e["requestParameters"]["keyId"], key.key_id());
    assert_eq!(e["requestParameters"]["encryptionContext"]["tenant"], "acme");
    assert_eq!(e["responseElements"], Value::Null);
    assert_eq!(e["resources"][0]["ARN"], key.arn().unwrap());
    assert_eq!(e["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(e["recipientAccountId"], "111122223333");
    assert_eq!(e["additionalEventData"]["keyMaterialId"], key.current_key_material_id().unwrap());
    assert_eq!(e["eventID"].as_str().unwrap().len(), 36);
    let create = by("CreateKey")[0];
    assert_eq!(create["readOnly"], false);
    assert_eq!(create["responseElements"]["keyMetadata"]["keyId"], key.key_id());
    let missing = by("DescribeKey")[0];
    assert_eq!(missing["errorCode"], "NotFoundException");
    assert!(missing["errorMessage"].as_str().unwrap().contains("does not exist"));
    let bad_decrypt = &by("Decrypt")[1];
    assert_eq!(bad_decrypt["errorCode"], "InvalidCiphertextException");
    let unauth: Vec<_> = by("ListKeys");
    assert_eq!(unauth.len(), 3);
    let codes: Vec<_> = unauth.iter().map(|e| e["errorCode"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        ["InvalidSignatureException", "UnrecognizedClientException", "MissingAuthenticationTokenException"]
    );
    assert_eq!(unauth[1]["userIdentity"]["accessKeyId"], "AKIAUNKNOWNUNKNOWN00");
    assert_eq!(unauth[2]["userIdentity"]["type"], "Unknown");
    let admin = by("CreateUser")[0];
    assert_eq!(admin["eventSource"], "kms-admin");
    assert_eq!(admin["requestID"], admin_request_id.as_str());
    assert_eq!(admin["responseElements"]["arn"], "arn:aws:iam::111122223333:user/audited-user");

    // No plaintext, data key or secret, raw or base64, anywhere in the directory.
    for secret in [
        plaintext.to_vec(),
        b64(plaintext).into_bytes(),
        data_key.clone(),
        b64(&data_key).into_bytes(),
        user_secret.clone().into_bytes(),
        ts.secret.clone().into_bytes(),
        b64(blob.as_ref()).into_bytes(),
    ] {
        assert_eq!(dir_contains(&audit_dir, &secret), Vec::<PathBuf>::new());
    }

    // Query filters.
    let f = kms_audit::query::Filter { key: Some(key.key_id().to_string()), ..Default::default() };
    let for_key = kms_audit::query::query(std::slice::from_ref(&audit_dir), &f).unwrap();
    assert_eq!(for_key.len(), 5, "CreateKey, Encrypt, 2x Decrypt, GenerateDataKey");
    let f = kms_audit::query::Filter { error_code: Some("NotFoundException".into()), ..Default::default() };
    assert_eq!(kms_audit::query::query(std::slice::from_ref(&audit_dir), &f).unwrap().len(), 1);

    // Verification passes on the untouched log.
    let report = kms_audit::verify::verify_dir(&audit_dir, None).unwrap();
    assert_eq!(report.records, calls as u64);
    assert!(report.digests >= 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn lines(p: &Path) -> Vec<Vec<u8>> {
    std::fs::read(p).unwrap().split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| l.to_vec()).collect()
}

fn write_lines(p: &Path, ls: &[Vec<u8>]) {
    let mut out = vec![];
    for l in ls {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    std::fs::write(p, out).unwrap();
}

#[tokio::test]
async fn verify_names_every_kind_of_tampering() {
    let dir = tempfile::tempdir().unwrap();
    // Two server runs: two log files, each closed with a digest.
    for _ in 0..2 {
        let mut ts = TestServer::start(dir.path()).await;
        let kms = ts.sdk();
        let k = kms.create_key().send().await.unwrap().key_metadata.unwrap();
        for i in 0..4 {
            kms.encrypt().key_id(k.key_id()).plaintext(Blob::new(vec![i; 8])).send().await.unwrap();
        }
        ts.stop().await;
    }
    let audit = dir.path().join("audit");
    kms_audit::verify::verify_dir(&audit, None).unwrap();
    let log1 = "audit-00000001.log";

    let tampered = |name: &str, f: &dyn Fn(&Path)| {
        let d = dir.path().join(format!("t-{name}"));
        copy_dir(&audit, &d);
        f(&d);
        kms_audit::verify::verify_dir(&d, None).unwrap_err()
    };

    let e = tampered("edit", &|d| {
        let p = d.join(log1);
        let text = std::fs::read_to_string(&p).unwrap().replacen("\"Encrypt\"", "\"Decrypt\"", 1);
        std::fs::write(&p, text).unwrap();
    });
    assert!(e.contains(log1) && e.contains("line 2") && e.contains("modified"), "{e}");

    let e = tampered("delete", &|d| {
        let p = d.join(log1);
        let mut ls = lines(&p);
        ls.remove(2);
        write_lines(&p, &ls);
    });
    assert!(e.contains(log1) && e.contains("line 3"), "{e}");

    let e = tampered("swap", &|d| {
        let p = d.join(log1);
        let mut ls = lines(&p);
        ls.swap(1, 2);
        write_lines(&p, &ls);
    });
    assert!(e.contains(log1) && e.contains("line 2") && e.contains("reordered"), "{e}");

    let e = tampered("truncate", &|d| {
        let p = d.join(log1);
        let ls = lines(&p);
        write_lines(&p, &ls[..ls.len() - 1]);
    });
    assert!(e.contains(log1) && e.contains("truncated"), "{e}");

    let e = tampered("digest", &|d| {
        let p = d.join("digest-00000001.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        v["records"] = 1.into();
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    });
    assert!(e.contains("digest-00000001.json") && e.contains("signature"), "{e}");

    let e = tampered("drop-file", &|d| {
        std::fs::remove_file(d.join(log1)).unwrap();
    });
    assert!(e.contains(log1), "{e}");
}

/// Two nodes' audit trails (issue 15: each node keeps its own chain):
/// `kms audit query` and `export` take both directories and merge by time;
/// `kms audit verify` checks each and names the one that fails.
#[tokio::test]
async fn several_nodes_trails_verify_and_merge_by_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = TestServer::start(&a_dir).await;
    let mut b = TestServer::start(&b_dir).await;
    let (ka, kb) = (a.sdk(), b.sdk());
    // eventTime is to the second (as CloudTrail's): calls a second apart.
    for i in 0..3u8 {
        let kms = if i % 2 == 0 { &ka } else { &kb };
        kms.generate_random().number_of_bytes(8 + i as i32).send().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    }
    a.stop().await;
    b.stop().await;
    let (a_audit, b_audit) = (a_dir.join("audit"), b_dir.join("audit"));
    let (ad, bd) = (a_audit.display().to_string(), b_audit.display().to_string());

    let out = kms_cli(&["audit", "query", "--dir", &ad, "--dir", &bd, "--event-name", "GenerateRandom"], &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 3);
    let times: Vec<&str> = events.iter().map(|e| e["eventTime"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "merged by eventTime");
    // Alternating nodes: the merge interleaves the two directories.
    let sizes: Vec<i64> =
        events.iter().map(|e| e["requestParameters"]["numberOfBytes"].as_i64().unwrap_or_default()).collect();
    assert_eq!(sizes, [8, 9, 10]);

    let out = kms_cli(&["audit", "verify", "--dir", &ad, "--dir", &bd], &[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.matches("audit log ok: ").count() == 2, "{text}");
    // One node's trail tampered with: the failure names its directory.
    let log = b_audit.join("audit-00000001.log");
    let edited = std::fs::read_to_string(&log).unwrap().replacen("GenerateRandom", "GenerateRandoM", 1);
    std::fs::write(&log, edited).unwrap();
    let out = kms_cli(&["audit", "verify", "--dir", &ad, "--dir", &bd], &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(&format!("FAILED: {bd}: ")), "{err}");
}
