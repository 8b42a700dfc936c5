//! The XKS proxy (`kms xks-proxy`, docs/XKS.md) answering raw requests
//! built from the spec (`aws/aws-kms-xksproxy-api-spec`), over HTTPS with a
//! throwaway CA made by the `openssl` CLI, signed with the project's SigV4
//! signer: the four operations, and the exact status code and error name
//! of each bad request. The proxy runs as a child process; its keys are
//! made and disabled with `kms xks-proxy keys`. Nothing here uses the
//! proxy's own code (crate kms-xks) to check it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

pub(crate) const AK: &str = "AKIAXKSPROXYTESTAAAA";
pub(crate) const SK: &str = "xksProxySecretAccessKeyForTests0123456789abcdef";
pub(crate) const AK2: &str = "AKIAXKSPROXYTENANTBB";
pub(crate) const SK2: &str = "tenantBSecretAccessKeyForTheXksProxy0123456789";
pub(crate) const PRINCIPAL: &str = "arn:aws:iam::111122223333:user/Alice";
pub(crate) const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub(crate) fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A throwaway CA in `dir` (ca.pem) and a server certificate it signed for
/// `localhost`, `xks.test` and 127.0.0.1 (server.pem, server.key), and a
/// client certificate with the subject CN `cn` (client.pem, client.key).
pub(crate) fn make_ca(dir: &Path, cn: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kms test CA"]);
    openssl(&a, dir);
    std::fs::write(dir.join("server.cnf"), "subjectAltName=DNS:localhost,DNS:xks.test,IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, subj) in [("server", "/CN=xks.test"), ("client", &*format!("/CN={cn}"))] {
        let mut a = vec!["req"];
        a.extend(ec);
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        a.extend(["-keyout", &key, "-out", &csr, "-subj", subj]);
        openssl(&a, dir);
        let mut s = vec!["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
        let ext = format!("{name}.cnf");
        s.extend(["-out", &pem, "-days", "2", "-extfile", &ext]);
        openssl(&s, dir);
    }
}

/// `kms xks-proxy serve` as a child, stopped when dropped.
pub(crate) struct ProxyChild {
    child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) config: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl ProxyChild {
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port and configuration.
    pub(crate) async fn restart(&mut self) {
        self.stop();
        let c = spawn_proxy(&self.config, &self.log, &self.env).await.unwrap();
        self.child = Some(c);
    }
}

impl Drop for ProxyChild {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn spawn_proxy(config: &Path, log: &Path, env: &[(String, String)]) -> Result<Child, String> {
    let text = std::fs::read_to_string(config).unwrap();
    let port: u16 = text
        .lines()
        .find_map(|l| l.strip_prefix("listen = \"127.0.0.1:"))
        .and_then(|r| r.trim_end_matches('"').parse().ok())
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["xks-proxy", "serve", "--config"])
        .arg(config)
        .env_remove("KMS_ROOT_KEY")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(std::fs::read_to_string(log).unwrap_or_default());
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("the proxy did not start".into())
}

/// Write the proxy's configuration in `dir` (certificates from
/// `make_ca(dir/"ca")`) with `extra` appended, and start it.
pub(crate) async fn start_proxy(dir: &Path, extra: &str) -> ProxyChild {
    start_proxy_env(dir, extra, &[]).await
}

/// [`start_proxy`] with more environment variables.
pub(crate) async fn start_proxy_env(dir: &Path, extra: &str, env: &[(&str, &str)]) -> ProxyChild {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let port = free_port();
    let ca = dir.join("ca");
    std::fs::write(dir.join("sk1"), SK).unwrap();
    std::fs::write(dir.join("sk2"), SK2).unwrap();
    let config = dir.join("xks-proxy.toml");
    let text = format!(
        r#"listen = "127.0.0.1:{port}"
data_dir = "{data}"
regions = ["us-east-1"]
tls_cert_file = "{ca}/server.pem"
tls_key_file = "{ca}/server.key"
{extra}
[[path]]
uri_path = "/kms/xks/v1"
[[path.credentials]]
access_key_id = "{AK}"
secret_access_key_file = "{dir}/sk1"

[[path]]
uri_path = "/tenant-b/kms/xks/v1"
allowed_principals = ["arn:aws:iam::111122223333:user/Alice"]
allowed_key_arns = ["arn:aws:kms:us-east-1:111122223333:key/*"]
[[path.credentials]]
access_key_id = "{AK2}"
secret_access_key_file = "{dir}/sk2"
"#,
        data = dir.join("data").display(),
        ca = ca.display(),
        dir = dir.display(),
    );
    std::fs::write(&config, text).unwrap();
    let log = dir.join("xks-proxy.log");
    let child = spawn_proxy(&config, &log, &env).await.unwrap();
    ProxyChild { child: Some(child), port, config, log, env }
}

/// `kms xks-proxy keys ...` on the proxy's data directory.
pub(crate) async fn proxy_keys(dir: &Path, args: &[&str]) -> String {
    let data = dir.join("data").display().to_string();
    let mut a = vec!["xks-proxy", "keys", "--data-dir", &data];
    a.extend(args);
    let out = crate::harness::kms_cli(&a, &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A raw signed request to the proxy.
struct Raw {
    endpoint: http::Uri,
    tls: tokio_rustls::TlsConnector,
}

impl Raw {
    fn new(port: u16, ca: &Path) -> Raw {
        Raw {
            endpoint: format!("https://localhost:{port}").parse().unwrap(),
            tls: kms::client::tls_connector(&ca.join("ca.pem"), "ca").unwrap(),
        }
    }

    /// Sign with (`ak`, `sk`) for `region` and `service` at `now`.
    #[allow(clippy::too_many_arguments)]
    async fn send_as(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        ak: &str,
        sk: &str,
        region: &str,
        service: &str,
        now: i64,
    ) -> (u16, Value) {
        let signer = kms_api::sigv4::Signer::new(ak, sk, None, region, service).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("host", self.endpoint.authority().unwrap().as_str().parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let auth = signer.sign(method, path, &mut headers, body, now).unwrap();
        let mut b = http::Request::builder().method(method).uri(path);
        for (k, v) in &headers {
            b = b.header(k, v);
        }
        let req = b.header("authorization", auth).body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let resp = kms::client::send_once(&self.endpoint, Some(&self.tls), req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, v)
    }

    async fn send(&self, path: &str, body: &Value) -> (u16, Value) {
        let b = serde_json::to_vec(body).unwrap();
        self.send_as("POST", path, &b, AK, SK, "us-east-1", "kms-xks-proxy", crate::harness::now()).await
    }
}

fn md(op: &str) -> Value {
    json!({"awsPrincipalArn": PRINCIPAL, "kmsKeyArn": KEY_ARN, "kmsOperation": op, "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"})
}

fn error_name(v: &Value) -> &str {
    v["errorName"].as_str().unwrap_or("")
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    kms_core::crypto::sha256(&parts.concat()).to_vec()
}

#[tokio::test]
async fn xks_proxy_answers_the_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_ca(&dir.join("ca"), "cks.kms.us-east-1.amazonaws.com");
    proxy_keys(dir, &["create", "key-1"]).await;
    let mut proxy = start_proxy(dir, "").await;
    let raw = Raw::new(proxy.port, &dir.join("ca"));
    let v1 = "/kms/xks/v1";

    // GetHealthStatus.
    let (s, v) = raw
        .send(
            &format!("{v1}/health"),
            &json!({"requestMetadata": {"kmsRequestId": "r1", "kmsOperation": "CreateCustomKeyStore"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["xksProxyFleetSize"].as_i64().unwrap() > 0);
    for f in ["xksProxyVendor", "xksProxyModel", "ekmVendor"] {
        assert!(v[f].is_string(), "{f}");
    }
    assert_eq!(v["ekmFleetDetails"][0]["healthStatus"], "ACTIVE");

    // GetKeyMetadata.
    let (s, v) = raw
        .send(
            &format!("{v1}/keys/key-1/metadata"),
            &json!({"requestMetadata": {"awsPrincipalArn": PRINCIPAL, "kmsOperation": "CreateKey", "kmsRequestId": "r2"}}),
        )
        .await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"}))
    );

    // Encrypt with AAD and CDIV, then Decrypt.
    let aad = b"project=nile,department=marketing";
    let (s, e) = raw
        .send(
            &format!("{v1}/keys/key-1/encrypt"),
            &json!({"requestMetadata": md("Encrypt"), "additionalAuthenticatedData": b64(aad), "plaintext": b64(b"Hello World!"),
                    "encryptionAlgorithm": "AES_GCM", "ciphertextDataIntegrityValueAlgorithm": "SHA_256"}),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    let (ct, iv, tag) = (
        unb64(e["ciphertext"].as_str().unwrap()),
        unb64(e["initializationVector"].as_str().unwrap()),
        unb64(e["authenticationTag"].as_str().unwrap()),
    );
    assert_eq!((ct.len(), tag.len()), (12, 16));
    assert!(iv.len() == 12 || iv.len() == 16);
    assert_eq!(unb64(e["ciphertextDataIntegrityValue"].as_str().unwrap()), sha256(&[aad, &iv, &ct, &tag]));
    let decrypt = |aad: &[u8], ct: &[u8]| {
        json!({"requestMetadata": md("Decrypt"), "additionalAuthenticatedData": b64(aad), "ciphertext": b64(ct),
               "encryptionAlgorithm": "AES_GCM", "initializationVector": b64(&iv), "authenticationTag": b64(&tag)})
    };
    let (s, d) = raw.send(&format!("{v1}/keys/key-1/decrypt"), &decrypt(aad, &ct)).await;
    assert_eq!((s, unb64(d["plaintext"].as_str().unwrap())), (200, b"Hello World!".to_vec()));
    // Without AAD too.
    let (s, e2) = raw
        .send(
            &format!("{v1}/keys/key-1/encrypt"),
            &json!({"requestMetadata": md("Encrypt"), "plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(e2.get("ciphertextDataIntegrityValue").is_none());

    // Bad ciphertexts: 400 InvalidCiphertextException.
    let mut bad = ct.clone();
    bad[0] ^= 1;
    for body in [decrypt(b"other aad", &ct), decrypt(aad, &bad)] {
        let (s, v) = raw.send(&format!("{v1}/keys/key-1/decrypt"), &body).await;
        assert_eq!((s, error_name(&v)), (400, "InvalidCiphertextException"), "{v}");
    }

    // Bad requests: the spec's status and error name for each.
    let enc = |extra: Value| {
        let mut b = json!({"requestMetadata": md("Encrypt"), "plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: Vec<(String, Value, u16, &str)> = vec![
        (format!("{v1}/keys/nope/encrypt"), enc(json!({})), 404, "KeyNotFoundException"),
        (format!("{v1}/keys/nope/metadata"), json!({"requestMetadata": md("CreateKey")}), 404, "KeyNotFoundException"),
        (format!("{v1}/keys/key-1/sign"), enc(json!({})), 404, "InvalidUriPathException"),
        ("/kms/xks/v2/keys/key-1/encrypt".into(), enc(json!({})), 404, "InvalidUriPathException"),
        ("/other/kms/xks/v1/health".into(), json!({}), 404, "InvalidUriPathException"),
        (
            format!("{v1}/keys/key-1/encrypt"),
            enc(json!({"encryptionAlgorithm": "RSAES_OAEP_SHA_256"})),
            400,
            "ValidationException",
        ),
        (format!("{v1}/keys/key-1/encrypt"), enc(json!({"encryptionAlgorithm": null})), 400, "ValidationException"),
        (format!("{v1}/keys/key-1/encrypt"), enc(json!({"plaintext": null})), 400, "ValidationException"),
        (format!("{v1}/keys/key-1/encrypt"), enc(json!({"plaintext": "not base64!"})), 400, "ValidationException"),
        (format!("{v1}/keys/key-1/encrypt"), enc(json!({"requestMetadata": null})), 400, "ValidationException"),
        (
            format!("{v1}/keys/key-1/encrypt"),
            enc(
                json!({"requestMetadata": {"awsPrincipalArn": PRINCIPAL, "kmsOperation": "Encrypt", "kmsRequestId": "r"}}),
            ),
            400,
            "ValidationException",
        ),
        (
            format!("{v1}/keys/key-1/encrypt"),
            enc(json!({"ciphertextDataIntegrityValueAlgorithm": "MD5"})),
            400,
            "ValidationException",
        ),
        (
            format!("{v1}/keys/key-1/encrypt"),
            enc(json!({"plaintext": b64(&[0u8; 4301])})),
            501,
            "UnsupportedOperationException",
        ),
        (
            format!("{v1}/keys/key-1/encrypt"),
            enc(json!({"additionalAuthenticatedData": b64(&[0u8; 8193])})),
            501,
            "UnsupportedOperationException",
        ),
        (
            format!("{v1}/keys/key-1/decrypt"),
            json!({"requestMetadata": md("Decrypt"), "ciphertext": b64(&ct), "encryptionAlgorithm": "AES_GCM", "initializationVector": b64(&[0u8; 8]), "authenticationTag": b64(&tag)}),
            400,
            "ValidationException",
        ),
        (
            format!("{v1}/keys/key-1/decrypt"),
            json!({"requestMetadata": md("Decrypt"), "ciphertext": b64(&ct), "encryptionAlgorithm": "AES_GCM", "initializationVector": b64(&iv)}),
            400,
            "ValidationException",
        ),
    ];
    for (path, body, status, name) in cases {
        let (s, v) = raw.send(&path, &body).await;
        assert_eq!((s, error_name(&v)), (status, name), "{path} {body}: {v}");
        let m = v["errorMessage"].as_str().unwrap_or("");
        assert!(m.len() < 512 && m.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{m}");
    }
    // Not JSON.
    let (s, v) = raw
        .send_as(
            "POST",
            &format!("{v1}/keys/key-1/encrypt"),
            b"{not json",
            AK,
            SK,
            "us-east-1",
            "kms-xks-proxy",
            crate::harness::now(),
        )
        .await;
    assert_eq!((s, error_name(&v)), (400, "ValidationException"));

    // GET on each of the four URIs: 405.
    for op in ["keys/key-1/metadata", "keys/key-1/encrypt", "keys/key-1/decrypt", "health"] {
        let (s, _) = raw
            .send_as("GET", &format!("{v1}/{op}"), b"", AK, SK, "us-east-1", "kms-xks-proxy", crate::harness::now())
            .await;
        assert_eq!(s, 405, "{op}");
    }

    // SigV4: 401 AuthenticationFailedException for a wrong secret, an
    // unknown key id, another path's credentials, another service or
    // region in the scope, a request 6 minutes old or ahead.
    let body = serde_json::to_vec(&enc(json!({}))).unwrap();
    let now = crate::harness::now();
    let path = format!("{v1}/keys/key-1/encrypt");
    for (ak, sk, region, service, at) in [
        (AK, SK2, "us-east-1", "kms-xks-proxy", now),
        ("AKIAUNKNOWNUNKNOWN22", SK, "us-east-1", "kms-xks-proxy", now),
        (AK2, SK2, "us-east-1", "kms-xks-proxy", now),
        (AK, SK, "us-east-1", "kms", now),
        (AK, SK, "eu-west-1", "kms-xks-proxy", now),
        (AK, SK, "us-east-1", "kms-xks-proxy", now - 360),
        (AK, SK, "us-east-1", "kms-xks-proxy", now + 360),
    ] {
        let (s, v) = raw.send_as("POST", &path, &body, ak, sk, region, service, at).await;
        assert_eq!((s, error_name(&v)), (401, "AuthenticationFailedException"), "{ak} {region} {service} {at}");
    }
    // 4 minutes of skew is fine.
    let (s, _) = raw.send_as("POST", &path, &body, AK, SK, "us-east-1", "kms-xks-proxy", now - 240).await;
    assert_eq!(s, 200);
    // Unsigned.
    let req = http::Request::builder()
        .method("POST")
        .uri(&path)
        .header("host", format!("localhost:{}", proxy.port))
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let resp = kms::client::send_once(&raw.endpoint, Some(&raw.tls), req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // The second path: its own credentials, its policy (403 AccessDeniedException).
    let b = "/tenant-b/kms/xks/v1";
    let tenant = |body: &Value| {
        let body = serde_json::to_vec(body).unwrap();
        let raw = &raw;
        let path = format!("{b}/keys/key-1/encrypt");
        async move { raw.send_as("POST", &path, &body, AK2, SK2, "us-east-1", "kms-xks-proxy", crate::harness::now()).await }
    };
    assert_eq!(tenant(&enc(json!({}))).await.0, 200);
    let mut other = md("Encrypt");
    other["awsPrincipalArn"] = json!("arn:aws:iam::111122223333:user/Mallory");
    let (s, v) = tenant(&enc(json!({"requestMetadata": other}))).await;
    assert_eq!((s, error_name(&v)), (403, "AccessDeniedException"));
    let mut other = md("Encrypt");
    other["kmsKeyArn"] = json!("arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let (s, v) = tenant(&enc(json!({"requestMetadata": other}))).await;
    assert_eq!((s, error_name(&v)), (403, "AccessDeniedException"));
    // The health check is never refused by policy.
    let hb = serde_json::to_vec(&json!({"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}))
        .unwrap();
    let (s, _) = raw.send_as("POST", &format!("{b}/health"), &hb, AK2, SK2, "us-east-1", "kms-xks-proxy", now).await;
    assert_eq!(s, 200);

    // The kill switch at the proxy: a disabled key refuses Encrypt and
    // Decrypt (400 InvalidStateException) from the next call on, says
    // DISABLED in its metadata; enabled again, the old ciphertext decrypts.
    proxy_keys(dir, &["disable", "key-1"]).await;
    let (s, v) = raw.send(&path, &enc(json!({}))).await;
    assert_eq!((s, error_name(&v)), (400, "InvalidStateException"));
    let (s, v) = raw.send(&format!("{v1}/keys/key-1/decrypt"), &decrypt(aad, &ct)).await;
    assert_eq!((s, error_name(&v)), (400, "InvalidStateException"));
    let (_, v) = raw.send(&format!("{v1}/keys/key-1/metadata"), &json!({"requestMetadata": md("DescribeKey")})).await;
    assert_eq!(v["keyStatus"], "DISABLED");
    proxy_keys(dir, &["enable", "key-1"]).await;
    let (s, d) = raw.send(&format!("{v1}/keys/key-1/decrypt"), &decrypt(aad, &ct)).await;
    assert_eq!((s, unb64(d["plaintext"].as_str().unwrap())), (200, b"Hello World!".to_vec()));

    // The keys survive a restart (sealed under the data directory's root key).
    proxy.restart().await;
    let (s, _) = raw.send(&format!("{v1}/keys/key-1/decrypt"), &decrypt(aad, &ct)).await;
    assert_eq!(s, 200);
    assert!(proxy_keys(dir, &["list"]).await.contains("key-1\tENABLED"));
    proxy.stop();

    // The audit trail: every call, with its request id, never the plaintext;
    // its chain verifies, and a changed line breaks it.
    let audit_path = dir.join("data").join("xks-audit.jsonl");
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert!(audit.lines().count() > 40, "{}", audit.lines().count());
    assert!(audit.contains("4112f4d6-db54-4af4-ae30-c55a22a8dfae"));
    assert!(audit.contains("\"AccessDeniedException\"") && audit.contains("allowed_principals"));
    assert!(!audit.contains(&b64(b"Hello World!")) && !audit.contains("Hello World"));
    let out = crate::harness::kms_cli(&["xks-proxy", "verify-audit", audit_path.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&audit_path, audit.replacen("\"status\":200", "\"status\":201", 1)).unwrap();
    let out = crate::harness::kms_cli(&["xks-proxy", "verify-audit", audit_path.to_str().unwrap()], &[]).await;
    assert!(!out.status.success());
}

/// mTLS: with `client_ca_file` and `client_subject`, a client without a
/// certificate, or with one of another subject, gets no connection.
#[tokio::test]
async fn xks_proxy_mtls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = dir.join("ca");
    make_ca(&ca, "cks.kms.us-east-1.amazonaws.com");
    let extra =
        format!("client_ca_file = \"{}/ca.pem\"\nclient_subject = \"cks.kms.us-east-1.amazonaws.com\"\n", ca.display());
    let proxy = start_proxy(dir, &extra).await;
    // No client certificate: the handshake fails.
    let raw = Raw::new(proxy.port, &ca);
    let req = http::Request::builder()
        .method("POST")
        .uri("/kms/xks/v1/health")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(kms::client::send_once(&raw.endpoint, Some(&raw.tls), req).await.is_err());
    // With the client certificate: answered.
    let tls = client_tls(&ca, "client");
    let raw = Raw { endpoint: raw.endpoint, tls };
    let (s, _) = raw
        .send(
            "/kms/xks/v1/health",
            &json!({"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}),
        )
        .await;
    assert_eq!(s, 200);
    // Another subject, same CA: refused.
    let other = dir.join("other");
    make_ca(&other, "cks.kms.eu-west-1.amazonaws.com");
    std::fs::copy(ca.join("ca.key"), other.join("ca.key")).unwrap();
    std::fs::copy(ca.join("ca.pem"), other.join("ca.pem")).unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "client.pem",
            "-days",
            "2",
            "-extfile",
            "client.cnf",
        ],
        &other,
    );
    let raw = Raw { endpoint: raw.endpoint, tls: client_tls(&other, "client") };
    let req = http::Request::builder()
        .method("POST")
        .uri("/kms/xks/v1/health")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(kms::client::send_once(&raw.endpoint, Some(&raw.tls), req).await.is_err());
}

pub(crate) fn client_tls(ca: &Path, name: &str) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(ca.join(format!("{name}.pem"))).unwrap().map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_file(ca.join(format!("{name}.key"))).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
}

/// Keys in a PKCS#11 token (SoftHSM2): made there by `keys create
/// --pkcs11` (the object checked with opensc's `pkcs11-tool`), AES-GCM
/// run there, disabled and enabled like the sealed keys; the health check
/// lists the token.
#[tokio::test]
async fn xks_proxy_keys_in_a_pkcs11_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_ca(&dir.join("ca"), "cks.kms.us-east-1.amazonaws.com");
    let conf = crate::hsmroot::softhsm(dir, "xks-token", "xks-pin-1");
    let conf_s = conf.display().to_string();
    std::fs::write(dir.join("pin"), "xks-pin-1").unwrap();
    let extra = format!(
        "[pkcs11]\nmodule = \"{}\"\ntoken_label = \"xks-token\"\npin_file = \"{}\"\n",
        crate::hsmroot::MODULE,
        dir.join("pin").display()
    );
    let env = [("SOFTHSM2_CONF", conf_s.as_str())];
    let mut proxy = start_proxy_env(dir, &extra, &env).await;
    let config = proxy.config.display().to_string();
    let out =
        crate::harness::kms_cli(&["xks-proxy", "keys", "--config", &config, "create", "tk-1", "--pkcs11"], &env).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = crate::harness::kms_cli(&["xks-proxy", "keys", "--config", &config, "list"], &env).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("tk-1\tENABLED\tpkcs11"));
    // The object is in the token (an independent PKCS#11 client says so).
    let objects = std::process::Command::new("pkcs11-tool")
        .args(["--module", crate::hsmroot::MODULE, "--token-label", "xks-token", "--login", "--pin", "xks-pin-1"])
        .args(["--list-objects", "--type", "secrkey"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("pkcs11-tool (apt-get install opensc)");
    assert!(String::from_utf8_lossy(&objects.stdout).contains("tk-1"), "{}", String::from_utf8_lossy(&objects.stdout));
    // The proxy was started before the key was made: it sees it at once.
    let raw = Raw::new(proxy.port, &dir.join("ca"));
    let (s, v) = raw
        .send(
            "/kms/xks/v1/health",
            &json!({"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["ekmFleetDetails"][1]["healthStatus"], "ACTIVE", "{v}");
    let aad = b"aad";
    let (s, e) = raw
        .send("/kms/xks/v1/keys/tk-1/encrypt", &json!({"requestMetadata": md("Encrypt"), "additionalAuthenticatedData": b64(aad), "plaintext": b64(b"in the token"), "encryptionAlgorithm": "AES_GCM", "ciphertextDataIntegrityValueAlgorithm": "SHA_256"}))
        .await;
    assert_eq!(s, 200, "{e}");
    let (ct, iv, tag) = (
        unb64(e["ciphertext"].as_str().unwrap()),
        unb64(e["initializationVector"].as_str().unwrap()),
        unb64(e["authenticationTag"].as_str().unwrap()),
    );
    assert_eq!(unb64(e["ciphertextDataIntegrityValue"].as_str().unwrap()), sha256(&[aad, &iv, &ct, &tag]));
    let decrypt = |aad: &[u8]| {
        json!({"requestMetadata": md("Decrypt"), "additionalAuthenticatedData": b64(aad), "ciphertext": b64(&ct),
               "encryptionAlgorithm": "AES_GCM", "initializationVector": b64(&iv), "authenticationTag": b64(&tag)})
    };
    let (s, d) = raw.send("/kms/xks/v1/keys/tk-1/decrypt", &decrypt(aad)).await;
    assert_eq!((s, unb64(d["plaintext"].as_str().unwrap())), (200, b"in the token".to_vec()));
    let (s, v) = raw.send("/kms/xks/v1/keys/tk-1/decrypt", &decrypt(b"other")).await;
    assert_eq!((s, error_name(&v)), (400, "InvalidCiphertextException"));
    let out = crate::harness::kms_cli(&["xks-proxy", "keys", "--config", &config, "disable", "tk-1"], &env).await;
    assert!(out.status.success());
    let (s, v) = raw.send("/kms/xks/v1/keys/tk-1/decrypt", &decrypt(aad)).await;
    assert_eq!((s, error_name(&v)), (400, "InvalidStateException"));
    proxy.stop();
}
