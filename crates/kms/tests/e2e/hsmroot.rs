//! The root key wrapped by a key in a PKCS#11 token (`[root_key.pkcs11]`,
//! docs/ROOT-KEY.md), with a real SoftHSM2 token made in a temporary
//! directory. The server runs as a child process, so that SoftHSM2's
//! configuration (`SOFTHSM2_CONF`) is its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use kms::root::{ROOT_KEY_FILE, TOKEN_ROOT_KEY_FILE};

use crate::harness::*;

pub(crate) const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM2 configuration whose tokens live in `dir`, with one token.
pub(crate) fn softhsm(dir: &Path, label: &str, pin: &str) -> PathBuf {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is not installed ({MODULE}); .ci/run installs it (apt-get install softhsm2)"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\n", tokens.display()))
        .unwrap();
    add_token(&conf, label, pin);
    conf
}

/// Another token in the SoftHSM2 configuration `conf`.
pub(crate) fn add_token(conf: &Path, label: &str, pin: &str) {
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label, "--so-pin", "0000", "--pin", pin])
        .env("SOFTHSM2_CONF", conf)
        .output()
        .expect("softhsm2-util (apt-get install softhsm2)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `kms serve` as a child, stopped when dropped.
pub(crate) struct ServeChild {
    child: Child,
    pub(crate) endpoint: String,
}

impl ServeChild {
    /// SIGKILL, and wait for the process to end.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Start `kms serve` on `data` with `config`; the child, or its stderr if
/// it exited.
pub(crate) async fn serve(data: &Path, config: &Path, conf: &Path) -> Result<ServeChild, String> {
    let (d, c) = (data.display().to_string(), config.display().to_string());
    serve_with(&["--data-dir", &d, "--config", &c], &data.with_extension("log"), conf).await
}

/// Start `kms serve` with `args` (besides --listen), its log in `log`.
pub(crate) async fn serve_with(args: &[&str], log: &Path, conf: &Path) -> Result<ServeChild, String> {
    let port = free_port();
    let log = log.with_extension(format!("{port}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .env_remove("KMS_ROOT_KEY")
        .env_remove("KMS_PKCS11_PIN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut c = ServeChild { child, endpoint: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.child.try_wait() {
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(c);
    Err("the server did not start".into())
}

pub(crate) fn admin(data: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data.join("credentials")).unwrap();
    let c = kms::client::read_profile(&text, "default").unwrap();
    (c.access_key_id, c.secret.expose().to_string())
}

async fn rewrap(args: &[&str], conf: &Path) -> std::process::Output {
    let mut all = vec!["admin", "rewrap-root"];
    all.extend(args);
    kms_cli(&all, &[("SOFTHSM2_CONF", &conf.display().to_string())]).await
}

#[tokio::test]
async fn a_root_key_wrapped_by_a_pkcs11_token() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = softhsm(tmp.path(), "kms-root", "1234");
    let data = tmp.path().join("data");
    let pin = tmp.path().join("pin");
    std::fs::write(&pin, "1234\n").unwrap();
    let config = tmp.path().join("kms.toml");
    let text = format!(
        "[root_key.pkcs11]\nmodule = \"{MODULE}\"\ntoken_label = \"kms-root\"\npin_file = \"{}\"\n",
        pin.display()
    );
    std::fs::write(&config, &text).unwrap();

    let s = serve(&data, &config, &conf).await.unwrap();
    assert!(data.join(TOKEN_ROOT_KEY_FILE).exists() && !data.join(ROOT_KEY_FILE).exists());
    let (ak, sk) = admin(&data);
    let kms = sdk_client(&s.endpoint, &ak, &sk);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let blob = kms.encrypt().key_id(&key).plaintext(Blob::new(b"hsm")).send().await.unwrap().ciphertext_blob.unwrap();
    drop(s);
    let s = serve(&data, &config, &conf).await.unwrap();
    let kms = sdk_client(&s.endpoint, &ak, &sk);
    assert_eq!(kms.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap().plaintext.unwrap().as_ref(), b"hsm");
    drop(s);

    // A wrong PIN, and the token gone: refused, saying why.
    let wrong = tmp.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        text.replace(&pin.display().to_string(), &tmp.path().join("wrong-pin").display().to_string()),
    )
    .unwrap();
    std::fs::write(tmp.path().join("wrong-pin"), "9999").unwrap();
    let err = serve(&data, &wrong, &conf).await.err().unwrap();
    assert!(err.contains("PIN of PKCS#11 token 'kms-root' is incorrect") && err.contains("refusing to start"), "{err}");
    let elsewhere = softhsm(&tmp.path().join("other"), "another", "1234");
    let err = serve(&data, &config, &elsewhere).await.err().unwrap();
    assert!(err.contains("no PKCS#11 token labelled 'kms-root'"), "{err}");

    // To a file and back.
    let d = data.display().to_string();
    let c = config.display().to_string();
    let out = rewrap(&["--data-dir", &d, "--to-file", "--from-config", &c], &conf).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(data.join(ROOT_KEY_FILE).exists() && !data.join(TOKEN_ROOT_KEY_FILE).exists());
    let plain = tmp.path().join("plain.toml");
    std::fs::write(&plain, "").unwrap();
    let s = serve(&data, &plain, &conf).await.unwrap();
    sdk_client(&s.endpoint, &ak, &sk).decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    drop(s);
    let out = rewrap(&["--data-dir", &d, "--config", &c], &conf).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!data.join(ROOT_KEY_FILE).exists() && data.join(TOKEN_ROOT_KEY_FILE).exists());
    let s = serve(&data, &config, &conf).await.unwrap();
    sdk_client(&s.endpoint, &ak, &sk).decrypt().ciphertext_blob(blob).send().await.unwrap();
    drop(s);
}
