//! The AWS JSON 1.1 wire protocol: targets, malformed bodies, validation,
//! request ids, the body limit and the health endpoint.

use crate::harness::*;
use kms::config::Overrides;

#[tokio::test]
async fn protocol_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let c = ts.raw();
    let call = |target: &'static str, body: &'static [u8]| {
        let c = &c;
        async move { c.send(c.signed_request(target, body, now()).unwrap()).await.unwrap() }
    };

    let r = call("TrentService.NoSuchThing", b"{}").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().unwrap().0, "UnknownOperationException");
    let r = call("", b"{}").await;
    assert_eq!(r.error().unwrap().0, "UnknownOperationException");

    let r = call("TrentService.ListKeys", b"{not json").await;
    assert_eq!(r.error().unwrap().0, "SerializationException");
    let r = call("TrentService.ListKeys", br#"{"Limit": "ten"}"#).await;
    assert_eq!(r.error().unwrap().0, "SerializationException");
    let r = call("TrentService.Encrypt", br#"{"KeyId": "x", "Plaintext": "%%%"}"#).await;
    assert_eq!(r.error().unwrap().0, "SerializationException");

    let r = call("TrentService.DescribeKey", b"{}").await;
    assert_eq!(
        r.error().unwrap(),
        (
            "ValidationException".into(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
                .into()
        )
    );
    let r = call("TrentService.ListKeys", br#"{"Limit": 0}"#).await;
    assert_eq!(
        r.error().unwrap().1,
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    let r = call("TrentService.CreateKey", br#"{"KeyUsage": "NOPE"}"#).await;
    let (t, m) = r.error().unwrap();
    assert_eq!(t, "ValidationException");
    // AWS's order, not the model's.
    assert!(
        m.contains("Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC"),
        "{m}"
    );
    let r = call("TrentService.ListKeys", br#"{"Marker": "garbage"}"#).await;
    assert_eq!(r.error().unwrap().0, "InvalidMarkerException");

    // Every response carries a request id; success has the JSON 1.1 type.
    let r = call("TrentService.ListKeys", b"{}").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/x-amz-json-1.1");
    assert_eq!(r.headers["x-amzn-requestid"].len(), 36);

    // The body limit.
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = c.send(c.signed_request("TrentService.ListKeys", &big, now()).unwrap()).await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.error().unwrap().0, "RequestEntityTooLargeException");

    // Health needs no signature.
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let resp = http.get(format!("{}/health", ts.endpoint()).parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-amzn-requestid").is_some());
    ts.stop().await;
}

/// The API over TLS (`tls_cert`, `tls_key`): a client that trusts the CA is
/// answered as over HTTP; clear HTTP to the same port, and a client that
/// trusts another CA, are not.
#[tokio::test]
async fn api_over_tls() {
    let (data, certs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ca, other) = (certs.path().join("ca"), certs.path().join("other"));
    crate::xksproxy::make_ca(&ca, "client");
    crate::xksproxy::make_ca(&other, "client");
    let o = Overrides {
        tls_cert: Some(ca.join("server.pem")),
        tls_key: Some(ca.join("server.key")),
        ..overrides(data.path())
    };
    let mut ts = TestServer::start_with(data.path(), o).await;
    let https = format!("https://localhost:{}", ts.addr().port());
    let c = raw_client_tls(&https, &ts.access_key, &ts.secret, &ca.join("ca.pem"));
    let r = c.send(c.signed_request("TrentService.CreateKey", b"{}", now()).unwrap()).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let id = v["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let body = serde_json::to_vec(&serde_json::json!({"KeyId": id, "Plaintext": "aGVsbG8="})).unwrap();
    let r = c.send(c.signed_request("TrentService.Encrypt", &body, now()).unwrap()).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");

    let clear = ts.raw();
    assert!(clear.send(clear.signed_request("TrentService.ListKeys", b"{}", now()).unwrap()).await.is_err());
    let wrong = raw_client_tls(&https, &ts.access_key, &ts.secret, &other.join("ca.pem"));
    let e = wrong.send(wrong.signed_request("TrentService.ListKeys", b"{}", now()).unwrap()).await.unwrap_err();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    ts.stop().await;
}
