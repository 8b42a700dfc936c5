//! Starting and stopping servers for tests.

use std::path::Path;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use kms::client::{self, Client};
use kms::config::{Config, FileConfig, Overrides};
use kms::server::Server;

pub struct TestServer {
    pub server: Option<Server>,
    pub access_key: String,
    pub secret: String,
}

pub fn overrides(dir: &Path) -> Overrides {
    Overrides { listen: Some("127.0.0.1:0".into()), data_dir: Some(dir.to_path_buf()), ..Default::default() }
}

impl TestServer {
    /// Start a server on `dir` (first start bootstraps the admin user).
    pub async fn start(dir: &Path) -> TestServer {
        Self::start_with(dir, overrides(dir)).await
    }

    pub async fn start_with(dir: &Path, o: Overrides) -> TestServer {
        Self::start_configured(dir, FileConfig::default(), o).await
    }

    /// Start a server with a configuration file's settings.
    pub async fn start_configured(dir: &Path, file: FileConfig, o: Overrides) -> TestServer {
        let cfg = Config::build(file, &o).unwrap();
        let server = kms::server::start(cfg).await.unwrap();
        let text = std::fs::read_to_string(dir.join("credentials")).unwrap();
        let c = client::read_profile(&text, "default").unwrap();
        TestServer { server: Some(server), access_key: c.access_key_id, secret: c.secret.expose().to_string() }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().unwrap().addr
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn sdk(&self) -> aws_sdk_kms::Client {
        sdk_client(&self.endpoint(), &self.access_key, &self.secret)
    }

    pub fn raw(&self) -> Client {
        raw_client(&self.endpoint(), &self.access_key, &self.secret)
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

pub fn sdk_client(endpoint: &str, ak: &str, sk: &str) -> aws_sdk_kms::Client {
    sdk_client_in(endpoint, ak, sk, "us-east-1")
}

pub fn sdk_client_in(endpoint: &str, ak: &str, sk: &str, region: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

pub fn raw_client(endpoint: &str, ak: &str, sk: &str) -> Client {
    let creds = client::Credentials { access_key_id: ak.into(), secret: kms_core_secret(sk), session_token: None };
    Client::new(endpoint, "us-east-1", creds).unwrap()
}

/// [`raw_client`] of an `https://` endpoint whose certificate chains to
/// the CA certificates of `ca_file`.
pub fn raw_client_tls(endpoint: &str, ak: &str, sk: &str, ca_file: &Path) -> Client {
    let creds = client::Credentials { access_key_id: ak.into(), secret: kms_core_secret(sk), session_token: None };
    let tls = client::tls_connector(ca_file, "ca_file").unwrap();
    Client::with_tls(endpoint, "us-east-1", creds, Some(tls)).unwrap()
}

fn kms_core_secret(s: &str) -> kms_core::crypto::SecretString {
    kms_core::crypto::SecretString::new(s.to_string())
}

/// The AWS exception name and message of an SDK error.
pub fn err_of<E, R>(e: aws_sdk_kms::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(se) => (se.code().unwrap_or("").to_string(), se.message().unwrap_or("").to_string()),
        None => panic!("not a service error: {e:?}"),
    }
}

pub fn now() -> i64 {
    kms_core::ports::Clock::real_now_ms() / 1000
}

/// Give `user` an inline identity policy allowing every KMS action.
pub async fn allow_all(admin: &Client, user: &str, account: Option<&str>) {
    put_user_policy(
        admin,
        user,
        account,
        "kms-all",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    )
    .await;
}

pub async fn put_user_policy(admin: &Client, user: &str, account: Option<&str>, name: &str, doc: &str) {
    let r = admin
        .call(
            "KmsAdmin.PutUserPolicy",
            &serde_json::json!({"UserName": user, "AccountId": account, "PolicyName": name, "PolicyDocument": doc}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// Create a user; returns (access key id, secret).
pub async fn create_user(admin: &Client, user: &str, account: Option<&str>) -> (String, String) {
    let r =
        admin.call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": user, "AccountId": account})).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    (v["AccessKeyId"].as_str().unwrap().to_string(), v["SecretAccessKey"].as_str().unwrap().to_string())
}

/// Run the `kms` binary with `args` and the environment `env` (with no
/// `AWS_PROFILE`, `KMS_ROOT_KEY` or `KMS_PKCS11_PIN` of the test's own), off
/// the runtime, which goes on serving the servers of the test meanwhile.
pub async fn kms_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kms"))
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("KMS_ROOT_KEY")
            .env_remove("KMS_PKCS11_PIN")
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .unwrap()
}
