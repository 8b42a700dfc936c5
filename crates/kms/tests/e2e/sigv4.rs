//! SigV4 failures, built as raw signed requests and then tampered with.

use crate::harness::*;
use kms::client::Client;

const LIST: &str = "TrentService.ListKeys";

async fn send(c: &Client, req: http::Request<http_body_util::Full<bytes::Bytes>>) -> (String, String) {
    let r = c.send(req).await.unwrap();
    assert_ne!(r.status, 200);
    assert!(r.headers.get("x-amzn-requestid").is_some());
    r.error().unwrap()
}

#[tokio::test]
async fn signature_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let good = ts.raw();

    // A correct request passes.
    let r = good.send(good.signed_request(LIST, b"{}", now()).unwrap()).await.unwrap();
    assert_eq!(r.status, 200);

    // Wrong secret.
    let wrong = raw_client(&ts.endpoint(), &ts.access_key, "0000000000000000000000000000000000000000");
    let (t, m) = send(&wrong, wrong.signed_request(LIST, b"{}", now()).unwrap()).await;
    assert_eq!(t, "InvalidSignatureException");
    assert!(m.starts_with("The request signature we calculated does not match"), "{m}");

    // The official client with a wrong secret gets the same.
    let e = sdk_client(&ts.endpoint(), &ts.access_key, "wrongwrongwrongwrongwrongwrongwrongwrong")
        .list_keys()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "InvalidSignatureException");

    // Unknown access key id.
    let unknown = raw_client(&ts.endpoint(), "AKIAAAAAAAAAAAAAAAAA", &ts.secret);
    let (t, m) = send(&unknown, unknown.signed_request(LIST, b"{}", now()).unwrap()).await;
    assert_eq!(t, "UnrecognizedClientException");
    assert_eq!(m, "The security token included in the request is invalid.");

    // Tampered body.
    let mut req = good.signed_request(LIST, b"{}", now()).unwrap();
    *req.body_mut() = http_body_util::Full::new(bytes::Bytes::from_static(b"{\"Limit\":1}"));
    req.headers_mut().remove("content-length");
    assert_eq!(send(&good, req).await.0, "InvalidSignatureException");

    // Tampered target.
    let mut req = good.signed_request(LIST, b"{}", now()).unwrap();
    req.headers_mut().insert("x-amz-target", "TrentService.CreateKey".parse().unwrap());
    assert_eq!(send(&good, req).await.0, "InvalidSignatureException");

    // Expired and future dates.
    let (t, m) = send(&good, good.signed_request(LIST, b"{}", now() - 16 * 60).unwrap()).await;
    assert_eq!(t, "InvalidSignatureException");
    assert!(m.starts_with("Signature expired: "), "{m}");
    let (t, m) = send(&good, good.signed_request(LIST, b"{}", now() + 16 * 60).unwrap()).await;
    assert_eq!(t, "InvalidSignatureException");
    assert!(m.starts_with("Signature not yet current: "), "{m}");
    // Within the window is fine.
    let r = good.send(good.signed_request(LIST, b"{}", now() - 10 * 60).unwrap()).await.unwrap();
    assert_eq!(r.status, 200);

    // Wrong region, through the official client.
    let e =
        sdk_client_in(&ts.endpoint(), &ts.access_key, &ts.secret, "eu-west-1").list_keys().send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "InvalidSignatureException");
    assert!(m.contains("'eu-west-1'"), "{m}");

    // Wrong service in the scope.
    let mut req = good.signed_request(LIST, b"{}", now()).unwrap();
    let auth = req.headers()["authorization"].to_str().unwrap().replace("/kms/aws4_request", "/s3/aws4_request");
    req.headers_mut().insert("authorization", auth.parse().unwrap());
    let (t, m) = send(&good, req).await;
    assert_eq!(t, "InvalidSignatureException");
    assert!(m.contains("correct service"), "{m}");

    // Missing authentication.
    let mut req = good.signed_request(LIST, b"{}", now()).unwrap();
    req.headers_mut().remove("authorization");
    assert_eq!(send(&good, req).await.0, "MissingAuthenticationTokenException");

    // Incomplete signature.
    let mut req = good.signed_request(LIST, b"{}", now()).unwrap();
    let auth = req.headers()["authorization"].to_str().unwrap();
    let cut = auth[..auth.find(", Signature=").unwrap()].to_string();
    req.headers_mut().insert("authorization", cut.parse().unwrap());
    let (t, m) = send(&good, req).await;
    assert_eq!(t, "IncompleteSignatureException");
    assert!(m.contains("'Signature'"), "{m}");

    // A session token we did not issue.
    let mut req = good.signed_request(LIST, b"{}", now()).unwrap();
    req.headers_mut().insert("x-amz-security-token", "FwoGZXIvYXdzEXAMPLE".parse().unwrap());
    assert_eq!(send(&good, req).await.0, "UnrecognizedClientException");
    ts.stop().await;
}
