//! Request quotas and overload protection through the official client:
//! ThrottlingException over a quota (per account), the SDK's standard
//! retries riding it out, control-plane quotas, metrics, the audit record,
//! and a full server answering at once.

use std::time::{Duration, Instant};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeySpec;

use crate::harness::*;

const THROTTLED: &str = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";

fn with_retries(endpoint: &str, ak: &str, sk: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(10))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

#[tokio::test]
async fn quotas_throttle_per_account_and_retries_ride_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = kms::config::parse_file(
        "[quotas.rates]\nCreateKey = 3\n[quotas.accounts.111122223333]\ncryptographic-symmetric = 50\n",
    )
    .unwrap();
    let mut ts = TestServer::start_configured(dir.path(), file, overrides(dir.path())).await;
    let kms = ts.sdk();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;

    // A burst of 500 with retries off: the excess is throttled.
    let started = Instant::now();
    let (mut ok, mut throttled) = (0u32, 0u32);
    for _ in 0..500 {
        match kms.encrypt().key_id(&id).plaintext(Blob::new(b"x")).send().await {
            Ok(_) => ok += 1,
            Err(e) => {
                let (code, msg) = err_of(e);
                assert_eq!((code.as_str(), msg.as_str()), ("ThrottlingException", THROTTLED));
                throttled += 1;
            }
        }
    }
    let refilled = (started.elapsed().as_secs_f64() * 50.0).ceil() as u32;
    assert!(ok >= 50 && ok <= 50 + refilled + 1, "{ok} succeeded in {:?}", started.elapsed());
    assert_eq!(ok + throttled, 500);
    // GenerateDataKey and Decrypt share the quota; DescribeKey does not.
    kms.describe_key().key_id(&id).send().await.unwrap();

    // Another account is not affected.
    let admin = ts.raw();
    let (ak, sk) = create_user(&admin, "other", Some("444455556666")).await;
    allow_all(&admin, "other", Some("444455556666")).await;
    let other = sdk_client(&ts.endpoint(), &ak, &sk);
    let oid = other.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    for _ in 0..200 {
        other.encrypt().key_id(&oid).plaintext(Blob::new(b"x")).send().await.unwrap();
    }

    // With the SDK's standard retry mode every call gets through.
    let retrying = with_retries(&ts.endpoint(), &ts.access_key, &ts.secret);
    for _ in 0..120 {
        retrying.encrypt().key_id(&id).plaintext(Blob::new(b"x")).send().await.unwrap();
    }

    // A control-plane quota of its own (3 CreateKey/s here, AWS: 5).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut codes = vec![];
    for _ in 0..6 {
        codes.push(kms.create_key().send().await.map(|_| "ok".to_string()).unwrap_or_else(|e| err_of(e).0));
    }
    assert_eq!(codes.iter().filter(|c| *c == "ThrottlingException").count(), 3, "{codes:?}");

    // Metrics and the audit trail.
    let m = reqwest_metrics(&ts.endpoint()).await;
    assert!(
        m.lines().any(|l| l.starts_with(
            "kms_throttled_requests_total{region=\"us-east-1\",quota=\"cryptographic-symmetric\",account=\"111122223333\"}"
        )),
        "{m}"
    );
    assert!(m.contains("quota=\"CreateKey\",account=\"111122223333\"} 3"), "{m}");
    ts.stop().await;
    let events = crate::lifecycle::audit_events(&dir.path().join("audit"));
    let throttled_events = events.iter().filter(|e| e["errorCode"] == "ThrottlingException").count();
    assert!(throttled_events as u32 >= throttled, "{throttled_events} audit events for {throttled} throttled calls");
}

async fn reqwest_metrics(endpoint: &str) -> String {
    let addr = endpoint.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn keys_per_account_are_limited_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = || kms::config::parse_file("[quotas]\nkeys_per_account = 3\n").unwrap();
    let mut ts = TestServer::start_configured(dir.path(), file(), overrides(dir.path())).await;
    let kms = ts.sdk();
    for _ in 0..3 {
        kms.create_key().send().await.unwrap();
    }
    let e = err_of(kms.create_key().send().await.unwrap_err());
    assert_eq!(e.0, "LimitExceededException");
    assert!(e.1.contains("111122223333") && e.1.contains("3 KMS keys"), "{}", e.1);
    ts.stop().await;
    // The count comes from the store after a restart.
    let mut ts = TestServer::start_configured(dir.path(), file(), overrides(dir.path())).await;
    let kms = ts.sdk();
    assert_eq!(err_of(kms.create_key().send().await.unwrap_err()).0, "LimitExceededException");
    // `kms_keys` counts the stored keys by state: a plain key (the store's
    // binary form) and keys with more in their records.
    let ids: Vec<String> =
        kms.list_keys().send().await.unwrap().keys().iter().map(|k| k.key_id().unwrap().to_string()).collect();
    kms.disable_key().key_id(&ids[0]).send().await.unwrap();
    kms.schedule_key_deletion().key_id(&ids[1]).pending_window_in_days(7).send().await.unwrap();
    let m = reqwest_metrics(&ts.endpoint()).await;
    for (state, n) in [("Enabled", 1), ("Disabled", 1), ("PendingDeletion", 1)] {
        assert!(m.contains(&format!("kms_keys{{region=\"us-east-1\",state=\"{state}\"}} {n}\n")), "{state}: {m}");
    }
    ts.stop().await;
}

#[tokio::test]
async fn resource_quotas_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let file =
        kms::config::parse_file("[quotas]\naliases_per_key = 2\ngrants_per_key = 1\nkey_policy_bytes = 600\n").unwrap();
    let mut ts = TestServer::start_configured(dir.path(), file, overrides(dir.path())).await;
    let kms = ts.sdk();
    let id = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let other = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    for a in ["alias/a", "alias/b"] {
        kms.create_alias().alias_name(a).target_key_id(&id).send().await.unwrap();
    }
    kms.create_alias().alias_name("alias/c").target_key_id(&other).send().await.unwrap();
    let e = err_of(kms.create_alias().alias_name("alias/d").target_key_id(&id).send().await.unwrap_err());
    assert_eq!(e.0, "LimitExceededException");
    assert!(e.1.starts_with("Cannot create more than 2 aliases for key arn:aws:kms:"), "{}", e.1);
    let e = err_of(kms.update_alias().alias_name("alias/c").target_key_id(&id).send().await.unwrap_err());
    assert_eq!(e.0, "LimitExceededException");

    let grant = || {
        kms.create_grant()
            .key_id(&id)
            .grantee_principal("arn:aws:iam::111122223333:user/someone")
            .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
            .send()
    };
    grant().await.unwrap();
    let e = err_of(grant().await.unwrap_err());
    assert_eq!(e.0, "LimitExceededException");
    assert!(e.1.contains("grant limit of 1 for"), "{}", e.1);

    let policy = kms.get_key_policy().key_id(&id).send().await.unwrap().policy.unwrap();
    assert!(policy.len() <= 600, "the default policy fits: {}", policy.len());
    let padded = policy.replacen("\"Version\"", &format!("\"Id\": \"{}\", \"Version\"", "x".repeat(600)), 1);
    let e = err_of(kms.put_key_policy().key_id(&id).policy(padded).send().await.unwrap_err());
    assert_eq!(e.0, "LimitExceededException");
    assert_eq!(e.1, "The key policy exceeds the maximum size of 600 bytes.");
    ts.stop().await;
    for bad in ["aliases_per_key = 0", "key_policy_bytes = 131073"] {
        let e = kms::config::Config::build(
            kms::config::parse_file(&format!("[quotas]\n{bad}\n")).unwrap(),
            &kms::config::Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("must be between 1 and"), "{e}");
    }
}

#[tokio::test]
async fn a_full_server_answers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = kms::config::parse_file("max_in_flight = 1\n").unwrap();
    let mut ts = TestServer::start_configured(dir.path(), file, overrides(dir.path())).await;
    let kms = ts.sdk();
    // RSA-4096 generation keeps one request in flight for a while.
    let slow = {
        let kms = kms.clone();
        tokio::spawn(async move {
            kms.create_key()
                .key_spec(KeySpec::Rsa4096)
                .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
                .send()
                .await
        })
    };
    let mut refused = None;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) && !slow.is_finished() {
        let asked = Instant::now();
        if let Err(e) = kms.list_keys().send().await {
            refused = Some((err_of(e), asked.elapsed()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ((code, msg), took) = refused.expect("a second request while the server is full is refused");
    assert_eq!((code.as_str(), msg.as_str()), ("ThrottlingException", THROTTLED));
    assert!(took < Duration::from_millis(500), "refused at once, not queued ({took:?})");
    slow.await.unwrap().unwrap();
    kms.list_keys().send().await.unwrap();
    let m = reqwest_metrics(&ts.endpoint()).await;
    assert!(m.lines().any(|l| l.starts_with("kms_overloaded_total ") && !l.ends_with(" 0")), "{m}");
    ts.stop().await;
}
