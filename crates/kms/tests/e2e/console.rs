//! The web console's server side (docs/CONSOLE.md), over plain HTTP: the
//! pages and their headers, sign-in, the session cookie, CSRF, calls run as
//! the signed-in principal and marked in the audit record, sign-out, and
//! `--no-console`. The pages themselves are tested in Chromium by
//! scripts/console/console.mjs.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::harness::{overrides, TestServer};

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(http: &Http, req: http::Request<Full<Bytes>>) -> Answer {
    let r = http.request(req).await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

async fn get(http: &Http, url: String) -> Answer {
    send(http, http::Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
}

async fn post(http: &Http, url: String, cookie: Option<&str>, csrf: Option<&str>, body: &Value) -> Answer {
    let mut b = http::Request::post(url).header("content-type", "application/json");
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    if let Some(t) = csrf {
        b = b.header("x-csrf-token", t);
    }
    send(http, b.body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap()))).unwrap()).await
}

#[tokio::test]
async fn console_sessions_csrf_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let mut ts = TestServer::start(dir.path()).await;
    let base = ts.endpoint();
    let http: Http = Client::builder(TokioExecutor::new()).build_http();

    // The pages: embedded, with a strict content security policy.
    let page = get(&http, format!("{base}/console/")).await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(String::from_utf8_lossy(&page.body).contains("/console/app.js"));
    for (asset, kind) in [("app.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg+xml")] {
        let a = get(&http, format!("{base}/console/{asset}")).await;
        assert_eq!(a.status, 200, "{asset}");
        assert!(a.headers["content-type"].to_str().unwrap().starts_with(kind), "{asset}");
    }
    assert_eq!(get(&http, format!("{base}/console")).await.headers["location"], "/console/");
    assert_eq!(get(&http, format!("{base}/console/api/session")).await.json()["signedIn"], false);

    // A wrong secret: AWS's exception, no cookie; the next attempt from the
    // same source waits.
    let signin = format!("{base}/console/api/signin");
    let wrong =
        post(&http, signin.clone(), None, None, &json!({"accessKeyId": ts.access_key, "secretAccessKey": "x"})).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["__type"], "UnrecognizedClientException");
    assert!(wrong.headers.get("set-cookie").is_none());
    let t = std::time::Instant::now();
    let unknown =
        post(&http, signin.clone(), None, None, &json!({"accessKeyId": "AKIANOTAKEY", "secretAccessKey": "x"})).await;
    assert_eq!(unknown.status, 401);
    assert!(t.elapsed() >= std::time::Duration::from_millis(200), "the second failure was not slowed");

    // The right one: a session cookie, HttpOnly and SameSite=Strict (not
    // Secure over plain HTTP), and the CSRF token in the answer only.
    let ok =
        post(&http, signin, None, None, &json!({"accessKeyId": ts.access_key, "secretAccessKey": ts.secret})).await;
    assert_eq!(ok.status, 200);
    let me = ok.json();
    assert_eq!(me["arn"], "arn:aws:iam::111122223333:user/admin");
    assert_eq!(me["admin"], true);
    assert!(!String::from_utf8_lossy(&ok.body).contains(&ts.secret), "the secret is never sent back");
    let set_cookie = ok.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && set_cookie.contains("Path=/console/")
    );
    assert!(!set_cookie.contains("Secure"));
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let csrf = me["csrfToken"].as_str().unwrap().to_string();
    assert_eq!(csrf.len(), 64);
    assert!(!cookie.contains(&csrf));

    // Calls: refused without the CSRF token, with a wrong one, or not JSON.
    let call = format!("{base}/console/api/call");
    let create = json!({"target": "TrentService.CreateKey", "body": {"Description": "from the console"}});
    for token in [None, Some("0".repeat(64).as_str()), Some("")] {
        let r = post(&http, call.clone(), Some(&cookie), token, &create).await;
        assert_eq!(r.status, 403, "{token:?}");
        assert_eq!(r.json()["__type"], "InvalidCsrfToken");
    }
    let form = http::Request::post(call.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .body(Full::new(Bytes::from_static(b"target=TrentService.CreateKey")))
        .unwrap();
    assert_eq!(send(&http, form).await.status, 415);
    // Without a session: signed out.
    assert_eq!(post(&http, call.clone(), None, Some(&csrf), &create).await.status, 401);
    let sdk = ts.sdk();
    assert_eq!(sdk.list_keys().send().await.unwrap().keys().len(), 0, "no refused call made a key");

    // With both: the API's own answer, as the signed-in principal.
    let made = post(&http, call.clone(), Some(&cookie), Some(&csrf), &create).await;
    assert_eq!(made.status, 200, "{}", String::from_utf8_lossy(&made.body));
    let key_id = made.json()["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let refused = post(
        &http,
        call.clone(),
        Some(&cookie),
        Some(&csrf),
        &json!({"target": "TrentService.PutKeyPolicy", "body": {"KeyId": key_id, "Policy": "{"}}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["__type"], "MalformedPolicyDocumentException");
    let no_op = post(&http, call.clone(), Some(&cookie), Some(&csrf), &json!({"target": "TrentService.Nope"})).await;
    assert_eq!(no_op.status, 400);

    // The audit record of the console's call is marked; the search and
    // verification endpoints answer administrators.
    let audit =
        post(&http, format!("{base}/console/api/audit"), Some(&cookie), Some(&csrf), &json!({"key": key_id})).await;
    assert_eq!(audit.status, 200);
    let found = audit.json();
    let ev = found["events"].as_array().unwrap().iter().find(|e| e["eventName"] == "CreateKey").cloned().unwrap();
    assert_eq!(ev["sessionCredentialFromConsole"], "true");
    assert_eq!(ev["userAgent"], "kms-console");
    assert_eq!(ev["userIdentity"]["arn"], "arn:aws:iam::111122223333:user/admin");
    assert!(found["timeline"].as_array().unwrap().iter().any(|m| m["ok"].as_u64().unwrap() > 0));
    let verified = post(&http, format!("{base}/console/api/verify"), Some(&cookie), Some(&csrf), &json!({})).await;
    assert_eq!(verified.json()["ok"], true);
    let metrics = post(&http, format!("{base}/console/api/metrics"), Some(&cookie), Some(&csrf), &json!({})).await;
    assert!(String::from_utf8_lossy(&metrics.body).contains("kms_audit_fsync_seconds_count"));

    // Sign-out ends the session on the server.
    let out = post(&http, format!("{base}/console/api/signout"), Some(&cookie), Some(&csrf), &json!({})).await;
    assert_eq!(out.status, 200);
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(post(&http, call, Some(&cookie), Some(&csrf), &create).await.status, 401);
    ts.stop().await;

    // --no-console: the API answers /console/ as any unsigned request.
    let mut off =
        TestServer::start_with(dir.path(), kms::config::Overrides { no_console: true, ..overrides(dir.path()) }).await;
    let page = get(&http, format!("{}/console/", off.endpoint())).await;
    assert_ne!(page.status, 200);
    assert!(!page.headers.get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("text/html")));
    off.stop().await;
}
