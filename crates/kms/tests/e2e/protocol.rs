//! The AWS JSON 1.1 wire protocol: targets, malformed bodies, validation,
//! request ids, the body limit and the health endpoint.

use crate::harness::*;

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
