//! Several `kms serve` nodes on one PostgreSQL database (docs/DEPLOYMENT.md):
//! any node serves any key; a change on one (a key disabled, a grant
//! revoked, an access key deleted) is refused by the other within a second
//! although it had used the key just before; each node's audit trail
//! verifies and the trails merge; a node killed with SIGKILL under load
//! loses no acknowledged write, and the background job moves to the node
//! left.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use kms_store::testing::TestPostgres;

use crate::harness::*;
use crate::hsmroot::{admin, serve, ServeChild};

/// How long another node may serve a change's old state.
const BOUND: Duration = Duration::from_secs(1);

async fn node(tmp: &Path, name: &str, config: &Path, root_key_from: Option<&Path>) -> ServeChild {
    let data = tmp.join(name);
    if let Some(other) = root_key_from {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::copy(other.join("root.key"), data.join("root.key")).unwrap();
    }
    serve(&data, config, &tmp.join("no-softhsm.conf")).await.unwrap()
}

/// Repeat `call` until it fails (within [`BOUND`] of `since`, else the
/// test fails); the error's AWS exception name.
async fn refused_within<F, Fut>(since: Instant, what: &str, mut call: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    loop {
        if let Err(code) = call().await {
            assert!(since.elapsed() <= BOUND, "{what}: refused only after {:?}", since.elapsed());
            return code;
        }
        assert!(since.elapsed() <= BOUND, "{what}: still served after {:?}", since.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_nodes_on_one_database() {
    let pg = TestPostgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("kms.toml");
    std::fs::write(&config, format!("store = \"{}\"\n", pg.url())).unwrap();
    let a = node(tmp.path(), "a", &config, None).await;
    let b = node(tmp.path(), "b", &config, Some(&tmp.path().join("a"))).await;
    let (ak, sk) = admin(&tmp.path().join("a"));
    let (ka, kb) = (sdk_client(&a.endpoint, &ak, &sk), sdk_client(&b.endpoint, &ak, &sk));

    // A key made on A is used on B, and the other way round.
    let key = ka.create_key().description("shared").send().await.unwrap().key_metadata.unwrap().key_id;
    let blob = ka.encrypt().key_id(&key).plaintext(Blob::new(b"one database")).send().await.unwrap();
    let plain = kb.decrypt().ciphertext_blob(blob.ciphertext_blob.unwrap()).send().await.unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"one database");
    kb.create_alias().alias_name("alias/shared").target_key_id(&key).send().await.unwrap();
    let encrypt = |kms: &aws_sdk_kms::Client, key: &str| {
        let call = kms.encrypt().key_id(key).plaintext(Blob::new(b"x"));
        async move { call.send().await.map(drop).map_err(|e| err_of(e).0) }
    };
    let t = Instant::now();
    loop {
        // The alias B made reaches A.
        if encrypt(&ka, "alias/shared").await.is_ok() {
            break;
        }
        assert!(t.elapsed() <= BOUND, "B's alias unknown on A after {:?}", t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Disabled on B while A has the key in its cache: A refuses within a
    // second; enabled again, A serves it again.
    encrypt(&ka, &key).await.unwrap();
    kb.disable_key().key_id(&key).send().await.unwrap();
    let code = refused_within(Instant::now(), "disabled key", || encrypt(&ka, &key)).await;
    assert_eq!(code, "DisabledException");
    kb.enable_key().key_id(&key).send().await.unwrap();
    let t = Instant::now();
    while encrypt(&ka, &key).await.is_err() {
        assert!(t.elapsed() <= BOUND, "enabled key still refused on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A grant made on A lets a user without policies encrypt through A;
    // revoked on B, A refuses within a second.
    let raw_b = raw_client(&b.endpoint, &ak, &sk);
    let (uak, usk) = create_user(&raw_b, "app", None).await;
    let app_a = sdk_client(&a.endpoint, &uak, &usk);
    let t = Instant::now();
    loop {
        // The new user's access key reaches A (AccessDenied: no policy yet).
        match encrypt(&app_a, &key).await {
            Err(code) if code == "AccessDeniedException" => break,
            other => assert!(t.elapsed() <= BOUND, "app on A: {other:?} after {:?}", t.elapsed()),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let grant = ka
        .create_grant()
        .key_id(&key)
        .grantee_principal("arn:aws:iam::111122223333:user/app")
        .operations(aws_sdk_kms::types::GrantOperation::Encrypt)
        .send()
        .await
        .unwrap()
        .grant_id
        .unwrap();
    encrypt(&app_a, &key).await.unwrap();
    kb.revoke_grant().key_id(&key).grant_id(&grant).send().await.unwrap();
    let code = refused_within(Instant::now(), "revoked grant", || encrypt(&app_a, &key)).await;
    assert_eq!(code, "AccessDeniedException");

    // The user's access key deleted on B: A no longer knows it within a
    // second (the user may call GenerateRandom, and does through A first).
    let gen = |kms: &aws_sdk_kms::Client| {
        let call = kms.generate_random().number_of_bytes(8);
        async move { call.send().await.map(drop).map_err(|e| err_of(e).0) }
    };
    let random =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:GenerateRandom","Resource":"*"}]}"#;
    put_user_policy(&raw_b, "app", None, "random", random).await;
    let t = Instant::now();
    while gen(&app_a).await.is_err() {
        assert!(t.elapsed() <= BOUND, "the user's new policy unknown on A after {:?}", t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = raw_b.call("KmsAdmin.DeleteAccessKey", &serde_json::json!({"AccessKeyId": uak})).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let code = refused_within(Instant::now(), "deleted access key", || gen(&app_a)).await;
    assert_eq!(code, "UnrecognizedClientException");

    // A role session made on A works on B; the role deleted on A, B
    // refuses the session within a second.
    let raw_a = raw_client(&a.endpoint, &ak, &sk);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
    let r = raw_a
        .call("KmsAdmin.CreateRole", &serde_json::json!({"RoleName": "worker", "AssumeRolePolicyDocument": trust}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:GenerateRandom","Resource":"*"}]}"#;
    let r = raw_a
        .call(
            "KmsAdmin.PutRolePolicy",
            &serde_json::json!({"RoleName": "worker", "PolicyName": "random", "PolicyDocument": policy}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let form = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fworker&RoleSessionName=w1";
    let r = raw_a.send(raw_a.signed_query(form, now()).unwrap()).await.unwrap();
    let xml = String::from_utf8(r.body).unwrap();
    assert_eq!(r.status, 200, "{xml}");
    let field = |f: &str| crate::sts::xml_field(&xml, f);
    let on_b = crate::sts::session_client(
        &b.endpoint,
        &field("AccessKeyId"),
        &field("SecretAccessKey"),
        &field("SessionToken"),
    );
    // (The role's policy, put on A, reaches B within the bound.)
    let t = Instant::now();
    while let Err(code) = gen(&on_b).await {
        assert!(t.elapsed() <= BOUND, "the session on B: {code} after {:?}", t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = raw_a.call("KmsAdmin.DeleteRole", &serde_json::json!({"RoleName": "worker"})).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let code = refused_within(Instant::now(), "deleted role", || gen(&on_b)).await;
    assert_eq!(code, "UnrecognizedClientException");

    // Two writers of one key at once, one on each node: both changes kept
    // (the store writes over the revision read; the loser retries).
    let tags = |kms: aws_sdk_kms::Client, prefix: &'static str, key: String| async move {
        for i in 0..10 {
            let tag =
                aws_sdk_kms::types::Tag::builder().tag_key(format!("{prefix}{i}")).tag_value("v").build().unwrap();
            kms.tag_resource().key_id(&key).tags(tag).send().await.unwrap();
        }
    };
    tokio::join!(tags(ka.clone(), "a", key.clone()), tags(kb.clone(), "b", key.clone()));
    let listed = kb.list_resource_tags().key_id(&key).send().await.unwrap();
    assert_eq!(listed.tags().len(), 20, "{:?}", listed.tags());

    // Node A (it started first: it runs the background job) killed with
    // SIGKILL while both nodes serve: B never fails, and every key A
    // acknowledged before it died is there.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load_b = {
        let (kb, key, stop) = (kb.clone(), key.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                kb.encrypt().key_id(&key).plaintext(Blob::new(b"load")).send().await.expect("B failed under load");
                n += 1;
            }
            n
        })
    };
    let writes_a = {
        let ka = ka.clone();
        tokio::spawn(async move {
            let mut made = vec![];
            while let Ok(k) = ka.create_key().description("before the kill").send().await {
                made.push(k.key_metadata.unwrap().key_id);
            }
            made
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut a = a;
    a.kill();
    let made = writes_a.await.unwrap();
    assert!(!made.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(load_b.await.unwrap() > 0);
    for k in &made {
        let meta = kb.describe_key().key_id(k).send().await.unwrap().key_metadata.unwrap();
        assert_eq!(meta.description(), Some("before the kill"));
    }

    // The background job runs on B now: an on-demand rotation asked of B
    // finishes.
    kb.rotate_key_on_demand().key_id(&key).send().await.unwrap();
    let t = Instant::now();
    while kb.list_key_rotations().key_id(&key).send().await.unwrap().rotations().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "the rotation did not finish on B");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(b);

    // Each node's trail verifies on its own, and they merge by time.
    let (ad, bd) = (tmp.path().join("a/audit"), tmp.path().join("b/audit"));
    let (ad, bd) = (ad.display().to_string(), bd.display().to_string());
    let out = kms_cli(&["audit", "verify", "--dir", &ad, "--dir", &bd], &[]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.matches("audit log ok: ").count() == 2,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kms_cli(&["audit", "query", "--dir", &ad, "--dir", &bd, "--event-name", "DisableKey"], &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = kms_cli(&["audit", "query", "--dir", &ad, "--dir", &bd, "--event-name", "Encrypt"], &[]).await;
    let times: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["eventTime"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert!(times.len() > 2 && times == sorted, "merged by time");
}

/// The database stopped under load: within a second and a half calls fail
/// (nothing is served from the cache once the change feed is gone), each
/// at once, with KMSInternalException; the node recovers by itself when
/// the database is back, and what was acknowledged before is there.
#[tokio::test]
async fn database_outage_fails_closed_and_recovers() {
    let mut pg = TestPostgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("kms.toml");
    std::fs::write(&config, format!("store = \"{}\"\n", pg.url())).unwrap();
    let a = node(tmp.path(), "a", &config, None).await;
    let (ak, sk) = admin(&tmp.path().join("a"));
    let kms = sdk_client(&a.endpoint, &ak, &sk);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let blob = kms.encrypt().key_id(&key).plaintext(Blob::new(b"kept")).send().await.unwrap().ciphertext_blob.unwrap();
    // Load through the whole outage: four callers encrypting, each call
    // timed; what each got, by outcome.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (kms, key, stop) = (kms.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut slowest) = (0, 0, Duration::ZERO);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = Instant::now();
                    match kms.encrypt().key_id(&key).plaintext(Blob::new(b"load")).send().await {
                        Ok(_) => ok += 1,
                        Err(_) => {
                            failed += 1;
                            slowest = slowest.max(t.elapsed());
                        }
                    }
                }
                (ok, failed, slowest)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    pg.stop();
    let stopped = Instant::now();
    let code = loop {
        let t = Instant::now();
        match kms.decrypt().ciphertext_blob(blob.clone()).send().await {
            Ok(_) => assert!(
                stopped.elapsed() < Duration::from_millis(1500),
                "served from the cache after {:?}",
                stopped.elapsed()
            ),
            Err(e) => {
                assert!(t.elapsed() < Duration::from_secs(5), "a failure took {:?}", t.elapsed());
                break err_of(e).0;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(code, "KMSInternalException");
    for _ in 0..3 {
        let t = Instant::now();
        let e = kms.encrypt().key_id(&key).plaintext(Blob::new(b"x")).send().await.unwrap_err();
        assert_eq!(err_of(e).0, "KMSInternalException");
        assert!(t.elapsed() < Duration::from_secs(5), "a failure took {:?}", t.elapsed());
    }

    pg.start_again();
    let t = Instant::now();
    loop {
        match kms.decrypt().ciphertext_blob(blob.clone()).send().await {
            Ok(d) => {
                assert_eq!(d.plaintext.unwrap().as_ref(), b"kept");
                break;
            }
            Err(_) => assert!(t.elapsed() < Duration::from_secs(10), "no recovery after {:?}", t.elapsed()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in load {
        let (ok, failed, slowest) = task.await.unwrap();
        assert!(ok > 0 && failed > 0, "{ok} served, {failed} failed");
        assert!(slowest < Duration::from_secs(5), "a failure under load took {slowest:?}");
    }
    kms.create_key().send().await.unwrap();
    assert_eq!(kms.list_keys().send().await.unwrap().keys().len(), 2);
    drop(a);
}

/// A primary with a synchronous streaming standby, the node configured with
/// both hosts (`target_session_attrs=read-write`): the primary is stopped
/// and the standby promoted; the node reconnects by itself, and every
/// write acknowledged before the failover is there after it.
#[tokio::test]
async fn failover_to_a_promoted_standby() {
    let mut primary = TestPostgres::start();
    let standby = primary.standby();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("kms.toml");
    let url = format!(
        "postgres://kms@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write&connect_timeout=2",
        primary.port(),
        standby.port()
    );
    std::fs::write(&config, format!("store = \"{url}\"\n")).unwrap();
    let a = node(tmp.path(), "a", &config, None).await;
    let (ak, sk) = admin(&tmp.path().join("a"));
    let kms = sdk_client(&a.endpoint, &ak, &sk);
    let mut made = vec![];
    for i in 0..20 {
        let key = kms.create_key().description(format!("key {i}")).send().await.unwrap().key_metadata.unwrap().key_id;
        let blob = kms.encrypt().key_id(&key).plaintext(Blob::new(format!("secret {i}"))).send().await.unwrap();
        made.push((key, blob.ciphertext_blob.unwrap()));
    }
    kms.disable_key().key_id(&made[0].0).send().await.unwrap();

    primary.stop();
    standby.promote();
    let t = Instant::now();
    while kms.create_key().description("after").send().await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "the node did not reconnect to the new primary");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, (key, blob)) in made.iter().enumerate().skip(1) {
        let plain = kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap().plaintext.unwrap();
        assert_eq!(plain.as_ref(), format!("secret {i}").as_bytes());
        let meta = kms.describe_key().key_id(key).send().await.unwrap().key_metadata.unwrap();
        assert_eq!(meta.description(), Some(format!("key {i}").as_str()));
    }
    let first = kms.describe_key().key_id(&made[0].0).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(first.key_state(), Some(&aws_sdk_kms::types::KeyState::Disabled));
    assert_eq!(kms.list_keys().limit(100).send().await.unwrap().keys().len(), 21);
    drop(a);
}
