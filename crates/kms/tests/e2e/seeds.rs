//! Seed files (docs/SEEDS.md) and `kms admin reset`: every kind of entry
//! loads into `--dev` and into a data directory, a restart with the same
//! seed changes nothing, seeded material decrypts across servers, bad
//! seeds and conflicts are refused naming their line, nothing of a failed
//! seed remains, and a reset returns a `--dev` server to its seed.

use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyState;
use base64::Engine as _;
use kms::config::{Config, FileConfig, Overrides};

use crate::harness::*;

const SYM: &str = "11111111-1111-4111-8111-111111111111";
const HMAC: &str = "22222222-2222-4222-8222-222222222222";
const RSA: &str = "33333333-3333-4333-8333-333333333333";
const OFF: &str = "44444444-4444-4444-8444-444444444444";
const EXT: &str = "55555555-5555-4555-8555-555555555555";
const MRK: &str = "mrk-66666666666666666666666666666666";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A seed with every kind of entry, for `account`.
fn full_seed(account: &str, rsa_pkcs8: &[u8]) -> String {
    format!(
        r#"
# users, with fixed access keys and identity policies
[[users]]
name = "alice"
access_keys = [{{ id = "AKIAALICE00000000001", secret = "alice-secret" }}]
tags = {{ team = "payments" }}
[users.policies]
use-keys = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}}]}}'

[[roles]]
name = "app"
trust_policy = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}'
[roles.policies]
decrypt = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}]}}'

[[keys]]
id = "{SYM}"
description = "orders"
aliases = ["alias/orders", "alias/orders-v2"]
tags = {{ env = "test" }}
rotation_period_days = 90
material_seed = "orders test material"
[[keys.grants]]
name = "app-decrypt"
grantee_principal = "arn:aws:iam::{account}:role/app"
operations = ["Decrypt"]
encryption_context_subset = {{ tenant = "a" }}

[[keys]]
id = "{HMAC}"
key_spec = "HMAC_256"
key_usage = "GENERATE_VERIFY_MAC"
material = "{hmac}"

[[keys]]
id = "{RSA}"
key_spec = "RSA_2048"
key_usage = "SIGN_VERIFY"
material = "{rsa}"
policy = '{{"Version":"2012-10-17","Statement":[{{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}'

[[keys]]
id = "{OFF}"
enabled = false

[[keys]]
id = "{EXT}"
origin = "EXTERNAL"

[[keys]]
id = "{MRK}"
region = "us-west-2"
multi_region = true
aliases = ["alias/west"]
"#,
        hmac = b64(&[7u8; 32]),
        rsa = b64(rsa_pkcs8),
    )
}

fn rsa_pkcs8() -> Vec<u8> {
    kms_crypto::generate(kms_crypto::KeySpec::Rsa2048).unwrap().private_key.expose().to_vec()
}

fn write_seed(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("seed.toml");
    std::fs::write(&p, text).unwrap();
    p
}

async fn start(o: Overrides) -> Result<kms::server::Server, String> {
    let cfg = Config::build(FileConfig::default(), &o)?;
    kms::server::start(cfg).await
}

fn dev(seed: &Path) -> Overrides {
    Overrides {
        listen: Some("127.0.0.1:0".into()),
        dev: true,
        seed_file: Some(seed.to_path_buf()),
        ..Default::default()
    }
}

async fn encrypt(kms: &aws_sdk_kms::Client, key: &str) -> Blob {
    kms.encrypt().key_id(key).plaintext(Blob::new(b"seeded")).send().await.unwrap().ciphertext_blob.unwrap()
}

/// Everything the full seed makes, as the API shows it.
async fn check_seeded(kms: &aws_sdk_kms::Client, endpoint: &str, account: &str) {
    let d = kms.describe_key().key_id("alias/orders").send().await.unwrap().key_metadata.unwrap();
    assert_eq!((d.key_id.as_str(), d.description.as_deref()), (SYM, Some("orders")));
    assert_eq!(d.arn.as_deref(), Some(format!("arn:aws:kms:us-east-1:{account}:key/{SYM}").as_str()));
    let r = kms.get_key_rotation_status().key_id(SYM).send().await.unwrap();
    assert_eq!((r.key_rotation_enabled, r.rotation_period_in_days), (true, Some(90)));
    let tags = kms.list_resource_tags().key_id(SYM).send().await.unwrap().tags.unwrap();
    assert_eq!((tags[0].tag_key.as_str(), tags[0].tag_value.as_str()), ("env", "test"));
    let grants = kms.list_grants().key_id(SYM).send().await.unwrap().grants.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].name.as_deref(), Some("app-decrypt"));
    let aliases = kms.list_aliases().key_id(SYM).send().await.unwrap().aliases.unwrap();
    assert_eq!(aliases.len(), 2);

    let h = kms.describe_key().key_id(HMAC).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(h.key_spec.unwrap().as_str(), "HMAC_256");
    let rsa = kms.describe_key().key_id(RSA).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(rsa.key_usage.unwrap().as_str(), "SIGN_VERIFY");
    let policy = kms.get_key_policy().key_id(RSA).send().await.unwrap().policy.unwrap();
    assert!(policy.contains("\"Sid\":\"root\""), "{policy}");
    let off = kms.describe_key().key_id(OFF).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(off.key_state, Some(KeyState::Disabled));
    let ext = kms.describe_key().key_id(EXT).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(ext.key_state, Some(KeyState::PendingImport));
    // The multi-Region key of the `--dev` seed, in its region.
    if account == "000000000000" {
        let west = sdk_client_in(endpoint, "test", "test", "us-west-2");
        let m = west.describe_key().key_id("alias/west").send().await.unwrap().key_metadata.unwrap();
        assert_eq!((m.key_id.as_str(), m.multi_region), (MRK, Some(true)));
    }

    // The seeded user's fixed access key works, with its policy.
    let alice = sdk_client(endpoint, "AKIAALICE00000000001", "alice-secret");
    let blob = encrypt(&alice, SYM).await;
    alice.decrypt().ciphertext_blob(blob).send().await.unwrap();
    let (code, _) = err_of(alice.create_key().send().await.unwrap_err());
    assert_eq!(code, "AccessDeniedException");
}

#[tokio::test]
async fn a_seed_loads_into_dev_and_its_material_decrypts_in_the_next_server() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_pkcs8();
    let seed = write_seed(dir.path(), &full_seed("000000000000", &rsa));
    let a = start(dev(&seed)).await.unwrap();
    let endpoint = format!("http://{}", a.addr);
    let kms = sdk_client(&endpoint, "test", "test");
    check_seeded(&kms, &endpoint, "000000000000").await;
    let blob = encrypt(&kms, "alias/orders").await;
    let mac = kms
        .generate_mac()
        .key_id(HMAC)
        .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"m"))
        .send()
        .await
        .unwrap()
        .mac
        .unwrap();
    let public = kms.get_public_key().key_id(RSA).send().await.unwrap().public_key.unwrap();
    a.shutdown().await;

    // A fresh server from the same seed: same ciphertext, MAC and public key.
    let b = start(dev(&seed)).await.unwrap();
    let kms = sdk_client(&format!("http://{}", b.addr), "test", "test");
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap().plaintext.unwrap();
    assert_eq!(plain.as_ref(), b"seeded");
    let v = kms
        .verify_mac()
        .key_id(HMAC)
        .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"m"))
        .mac(mac)
        .send()
        .await
        .unwrap();
    assert!(v.mac_valid);
    assert_eq!(kms.get_public_key().key_id(RSA).send().await.unwrap().public_key.unwrap(), public);
    b.shutdown().await;
}

#[tokio::test]
async fn a_seed_in_a_data_directory_is_applied_once_and_conflicts_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let account = "111122223333";
    let seed = write_seed(
        dir.path(),
        &full_seed(account, &rsa_pkcs8()).replace(
            // The data-directory server serves us-east-1 only.
            "region = \"us-west-2\"\nmulti_region = true\naliases = [\"alias/west\"]",
            "multi_region = true",
        ),
    );
    let o = Overrides { seed_file: Some(seed.clone()), ..overrides(&data) };
    let mut s = TestServer::start_with(&data, o.clone()).await;
    let kms = s.sdk();
    check_seeded(&kms, &s.endpoint(), account).await;
    let created = kms.describe_key().key_id(SYM).send().await.unwrap().key_metadata.unwrap().creation_date;
    // What the application changes is its own: a restart keeps it.
    kms.disable_key().key_id(HMAC).send().await.unwrap();
    let blob = encrypt(&kms, SYM).await;
    s.stop().await;

    let mut s = TestServer::start_with(&data, o.clone()).await;
    let kms = s.sdk();
    let d = kms.describe_key().key_id(SYM).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.creation_date, created);
    assert_eq!(kms.list_grants().key_id(SYM).send().await.unwrap().grants.unwrap().len(), 1);
    let h = kms.describe_key().key_id(HMAC).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(h.key_state, Some(KeyState::Disabled));
    kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    let keys = kms.list_keys().send().await.unwrap().keys.unwrap().len();
    s.stop().await;

    // Conflicts: another spec for a seeded id, an alias on another key, an
    // access key of another secret. Each names its line; nothing is written.
    let new_key = "77777777-7777-4777-8777-777777777777";
    for (bad, expect) in [
        (format!("[[keys]]\nid = \"{new_key}\"\n\n[[keys]]\nid = \"{HMAC}\"\n"), "line 4 (key 22222222"),
        (format!("[[keys]]\nid = \"{new_key}\"\naliases = [\"alias/orders\"]\n"), "alias/orders is an alias of key"),
        (
            "[[users]]\nname = \"bob\"\naccess_keys = [{ id = \"AKIAALICE00000000001\", secret = \"x\" }]\n".into(),
            "belongs to arn:aws:iam::111122223333:user/alice",
        ),
    ] {
        let p = dir.path().join("conflict.toml");
        std::fs::write(&p, &bad).unwrap();
        let err = start(Overrides { seed_file: Some(p), ..overrides(&data) }).await.err().unwrap();
        assert!(err.contains("conflicts with the existing state") && err.contains(expect), "{err}");
    }
    // A failure while applying (a policy that does not parse, after a new
    // key): the new key is rolled back too.
    let p = dir.path().join("late.toml");
    std::fs::write(&p, format!("[[keys]]\nid = \"{new_key}\"\n\n[[keys]]\nid = \"88888888-8888-4888-8888-888888888888\"\npolicy = \"{{nope\"\n")).unwrap();
    let err = start(Overrides { seed_file: Some(p), ..overrides(&data) }).await.err().unwrap();
    assert!(err.contains("line 4 (key 88888888") && err.contains("MalformedPolicyDocumentException"), "{err}");
    let mut s = TestServer::start_with(&data, overrides(&data)).await;
    let kms = s.sdk();
    assert_eq!(kms.list_keys().send().await.unwrap().keys.unwrap().len(), keys);
    assert_eq!(err_of(kms.describe_key().key_id(new_key).send().await.unwrap_err()).0, "NotFoundException");
    s.stop().await;
}

#[tokio::test]
async fn bad_seed_files_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, expect) in [
        ("[[keys]]\nid = \"x\"\ncolour = \"red\"\n", "line 3"),
        ("[[keys]]\nid = \"x\"\ncolour = \"red\"\n", "unknown field `colour`"),
        (&format!("\n[[keys]]\nid = \"{SYM}\"\nmaterial = \"***\"\n") as &str, "line 2: material is not base64"),
        (&format!("[[keys]]\nid = \"{SYM}\"\nmaterial = \"{}\"\n", b64(&[1; 16])), "is 32 bytes, not 16"),
        (&format!("[[keys]]\nid = \"{RSA}\"\nkey_spec = \"RSA_2048\"\nkey_usage = \"SIGN_VERIFY\"\nmaterial_seed = \"s\"\n"), "cannot be derived"),
        ("[[keys]]\nid = \"not-a-key-id\"\n", "is not a key id"),
        (&format!("[[keys]]\nid = \"{SYM}\"\nkey_spec = \"AES_512\"\n"), "ValidationException"),
        (&format!("[[keys]]\nid = \"{SYM}\"\n[[keys]]\nid = \"{SYM}\"\n"), "line 3 (key 11111111-1111-4111-8111-111111111111): key 11111111-1111-4111-8111-111111111111 is seeded twice"),
        ("[[users]]\nname = \"u\"\naccount = \"12\"\n", "not a 12-digit account id"),
        (&format!("[[keys]]\nid = \"{SYM}\"\nregion = \"eu-west-1\"\n"), "region eu-west-1 is not served"),
    ] {
        let p = write_seed(dir.path(), text);
        let data = dir.path().join("data");
        let err = start(Overrides { seed_file: Some(p), ..overrides(&data) }).await.err().unwrap();
        assert!(err.contains(expect), "{text}: {err}");
    }
}

#[tokio::test]
async fn reset_returns_a_dev_server_to_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), &full_seed("000000000000", &rsa_pkcs8()));
    let server = start(dev(&seed)).await.unwrap();
    let endpoint = format!("http://{}", server.addr);
    let kms = sdk_client(&endpoint, "test", "test");
    let ops = raw_client(&endpoint, "test", "test");
    let blob = encrypt(&kms, SYM).await;

    // A test changes things.
    let extra = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    kms.create_alias().alias_name("alias/extra").target_key_id(&extra).send().await.unwrap();
    kms.delete_alias().alias_name("alias/orders").send().await.unwrap();
    kms.disable_key().key_id(SYM).send().await.unwrap();
    kms.schedule_key_deletion().key_id(HMAC).pending_window_in_days(7).send().await.unwrap();
    let west = sdk_client_in(&endpoint, "test", "test", "eu-central-1");
    west.create_key().send().await.unwrap();
    let r = ops.call("KmsAdmin.CreateUser", &serde_json::json!({"UserName": "temp"})).await.unwrap();
    let temp: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let r = ops
        .call("KmsAdmin.SetFault", &serde_json::json!({"Operation": "ListKeys", "Error": "ThrottlingException"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // `kms admin reset`, through the CLI.
    let out = kms_cli(
        &["admin", "--endpoint-url", &endpoint, "reset"],
        &[("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    check_seeded(&kms, &endpoint, "000000000000").await;
    assert_eq!(err_of(kms.describe_key().key_id(&extra).send().await.unwrap_err()).0, "NotFoundException");
    assert_eq!(err_of(kms.describe_key().key_id("alias/extra").send().await.unwrap_err()).0, "NotFoundException");
    let d = kms.describe_key().key_id(SYM).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.key_state, Some(KeyState::Enabled));
    let h = kms.describe_key().key_id(HMAC).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(h.key_state, Some(KeyState::Enabled));
    assert!(west.list_keys().send().await.unwrap().keys.unwrap().is_empty());
    let temp = sdk_client(&endpoint, temp["AccessKeyId"].as_str().unwrap(), temp["SecretAccessKey"].as_str().unwrap());
    assert_eq!(err_of(temp.list_keys().send().await.unwrap_err()).0, "UnrecognizedClientException");
    kms.list_keys().send().await.unwrap();
    kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    // Again: a reset can be repeated.
    kms.disable_key().key_id(SYM).send().await.unwrap();
    let r = ops.call("KmsAdmin.Reset", &serde_json::json!({})).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = kms.describe_key().key_id(SYM).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(d.key_state, Some(KeyState::Enabled));
    server.shutdown().await;

    // Without --dev: refused.
    let data = dir.path().join("data");
    let mut s = TestServer::start(&data).await;
    let r = s.raw().call("KmsAdmin.Reset", &serde_json::json!({})).await.unwrap();
    let (code, message) = r.error().unwrap();
    assert_eq!(code, "UnsupportedOperationException");
    assert!(message.contains("--dev"), "{message}");
    s.stop().await;
}
