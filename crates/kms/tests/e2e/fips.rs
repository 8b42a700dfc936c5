//! The FIPS build (`--features fips`, docs/FIPS.md) says what it is, and
//! refuses the key specs outside the AWS-LC FIPS module; the default build
//! says it is not FIPS and serves them. CI runs this file in both builds.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, SigningAlgorithmSpec};

use crate::harness::*;

#[tokio::test]
async fn the_build_says_whether_it_is_fips_and_serves_accordingly() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let kms = ts.sdk();
    let health = get(&format!("{}/health", ts.endpoint())).await;
    let version = kms_cli(&["--version"], &[]).await;
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    assert_eq!(health, format!(r#"{{"status":"ok","fips":{}}}"#, kms_core::FIPS));
    assert_eq!(version.contains("FIPS"), kms_core::FIPS, "{version}");

    // In the FIPS module: symmetric, RSA, NIST P curves, HMAC.
    let rsa = kms.create_key().key_spec(KeySpec::Rsa2048).key_usage(KeyUsageType::SignVerify).send().await.unwrap();
    let rsa = rsa.key_metadata.unwrap().key_id;
    let sig = kms
        .sign()
        .key_id(&rsa)
        .message(Blob::new(b"fips"))
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .send()
        .await
        .unwrap();
    assert!(sig.signature.is_some());
    kms.create_key().key_spec(KeySpec::EccNistP384).key_usage(KeyUsageType::SignVerify).send().await.unwrap();
    kms.create_key().key_spec(KeySpec::Hmac256).key_usage(KeyUsageType::GenerateVerifyMac).send().await.unwrap();
    let sym = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    kms.encrypt().key_id(&sym).plaintext(Blob::new(b"x")).send().await.unwrap();

    // Outside it: refused in the FIPS build, served otherwise.
    for (spec, usage) in [
        (KeySpec::Sm2, KeyUsageType::SignVerify),
        (KeySpec::EccSecgP256K1, KeyUsageType::SignVerify),
        (KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify),
        (KeySpec::MlDsa65, KeyUsageType::SignVerify),
        (KeySpec::MlKem768, KeyUsageType::from("ENCAPSULATE_DECAPSULATE")),
    ] {
        let r = kms.create_key().key_spec(spec.clone()).key_usage(usage).send().await;
        match kms_core::FIPS {
            true => {
                let (code, message) = err_of(r.unwrap_err());
                assert_eq!(code, "UnsupportedOperationException", "{spec:?}");
                assert!(message.contains("not available in this FIPS build"), "{message}");
            }
            false => assert!(r.is_ok(), "{spec:?}: {r:?}"),
        }
    }
    ts.stop().await;
}

/// The body of an unsigned GET (the health endpoint).
async fn get(url: &str) -> String {
    use http_body_util::BodyExt;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let resp = http.get(url.parse().unwrap()).await.unwrap();
    String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}
