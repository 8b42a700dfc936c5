//! The root key wrapped by another KMS (`[root_key.kms]`, docs/ROOT-KEY.md):
//! a new data directory's root key is wrapped by a key of another server
//! and unwrapped at every start; without that server (or with its key
//! disabled) the server refuses to start, clearly and at once; `kms admin
//! rewrap-root` moves the root key to a file and back without touching the
//! records.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use kms::config::{parse_file, Config, Overrides};
use kms::root::{ROOT_KEY_FILE, WRAPPED_ROOT_KEY_FILE};

use crate::harness::*;

fn config_text(endpoint: &str, key: &str, creds: &Path) -> String {
    format!(
        "[root_key.kms]\nendpoint = \"{endpoint}\"\nkey_id = \"{key}\"\ncredentials_file = \"{}\"\n",
        creds.display()
    )
}

async fn start(dir: &Path, text: &str) -> Result<kms::server::Server, String> {
    kms::server::start(Config::build(parse_file(text)?, &overrides(dir))?).await
}

/// `kms admin rewrap-root ARGS` with these AWS credentials.
async fn rewrap(args: Vec<String>, ak: &str, sk: &str) -> std::process::Output {
    let mut all = vec!["admin", "rewrap-root"];
    all.extend(args.iter().map(String::as_str));
    kms_cli(&all, &[("AWS_ACCESS_KEY_ID", ak), ("AWS_SECRET_ACCESS_KEY", sk)]).await
}

#[tokio::test]
async fn a_root_key_wrapped_by_another_kms() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let listen_a = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let o_a = Overrides { listen: Some(listen_a.to_string()), ..overrides(&dir_a) };
    let mut a = TestServer::start_with(&dir_a, o_a.clone()).await;
    let wrapping = a.sdk().create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap();
    let creds = tmp.path().join("a-credentials");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n", a.access_key, a.secret),
    )
    .unwrap();
    let text = config_text(&a.endpoint(), &wrapping, &creds);

    // First start: a new root key, wrapped; no root key file.
    let mut b = TestServer::start_configured(&dir_b, parse_file(&text).unwrap(), overrides(&dir_b)).await;
    assert!(dir_b.join(WRAPPED_ROOT_KEY_FILE).exists() && !dir_b.join(ROOT_KEY_FILE).exists());
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir_b.join(WRAPPED_ROOT_KEY_FILE)).unwrap()).unwrap();
    assert_eq!(recorded["KeyId"], wrapping.as_str());
    let key = b.sdk().create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let blob = b.sdk().encrypt().key_id(&key).plaintext(Blob::new(b"sealed")).send().await.unwrap().ciphertext_blob;
    let blob = blob.unwrap();
    b.stop().await;
    // The other KMS saw the Decrypt (its audit trail names the key).
    let mut b = TestServer::start_configured(&dir_b, parse_file(&text).unwrap(), overrides(&dir_b)).await;
    b.sdk().decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    b.stop().await;

    // The other KMS's key disabled, then the other KMS gone: refused at once.
    a.sdk().disable_key().key_id(&wrapping).send().await.unwrap();
    let err = start(&dir_b, &text).await.err().unwrap();
    assert!(err.contains("cannot unwrap the root key") && err.contains("DisabledException"), "{err}");
    a.sdk().enable_key().key_id(&wrapping).send().await.unwrap();
    a.stop().await;
    let t = Instant::now();
    let err = start(&dir_b, &text).await.err().unwrap();
    assert!(err.contains("cannot unwrap the root key") && err.contains("refusing to start"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(11), "{:?}", t.elapsed());
    // Back: it starts again.
    let mut a = TestServer::start_with(&dir_a, o_a.clone()).await;
    let mut b = TestServer::start_configured(&dir_b, parse_file(&text).unwrap(), overrides(&dir_b)).await;
    b.sdk().decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    b.stop().await;

    // To a file (unwrapped with what root.key.kms records and the AWS
    // environment's credentials), then back under the other KMS.
    let d = dir_b.display().to_string();
    let out = rewrap(vec!["--data-dir".into(), d.clone(), "--to-file".into()], &a.access_key, &a.secret).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir_b.join(ROOT_KEY_FILE).exists() && !dir_b.join(WRAPPED_ROOT_KEY_FILE).exists());
    let err = start(&dir_b, &text).await.err().unwrap();
    assert!(err.contains("kms admin rewrap-root"), "{err}");
    let mut b = TestServer::start(&dir_b).await;
    b.sdk().decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    b.stop().await;
    let cfg = tmp.path().join("b.toml");
    std::fs::write(&cfg, &text).unwrap();
    let args = vec!["--data-dir".into(), d, "--config".into(), cfg.display().to_string()];
    let out = rewrap(args, "unused", "unused").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir_b.join(ROOT_KEY_FILE).exists() && dir_b.join(WRAPPED_ROOT_KEY_FILE).exists());
    let err = start(&dir_b, "").await.err().unwrap();
    assert!(err.contains("set [root_key.kms]"), "{err}");
    let mut b = TestServer::start_configured(&dir_b, parse_file(&text).unwrap(), overrides(&dir_b)).await;
    b.sdk().decrypt().ciphertext_blob(blob).send().await.unwrap();
    b.stop().await;
    a.stop().await;

    // Configuration errors.
    for (bad, expect) in [
        ("[root_key.kms]\nendpoint = \"https://h:1\"\nkey_id = \"k\"\n", "needs ca_file"),
        ("[root_key.kms]\nendpoint = \"ftp://h\"\nkey_id = \"k\"\n", "must be http"),
        ("[root_key.kms]\nendpoint = \"http://h:1\"\n", "missing field `key_id`"),
    ] {
        let e = parse_file(bad).and_then(|f| Config::build(f, &Overrides::default()).map(|_| ())).unwrap_err();
        assert!(e.contains(expect), "{bad}: {e}");
    }
}
