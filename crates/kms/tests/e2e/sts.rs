//! Roles and STS: AssumeRole (query protocol, as the SDKs send it) issues
//! temporary credentials that the official KMS client uses; the assumed-role
//! ARN is evaluated like AWS's; sessions expire.

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;

use crate::harness::*;
use crate::symmetric::{advance, dev_server};

const ACCOUNT: &str = "000000000000";

pub(crate) fn session_client(endpoint: &str, ak: &str, sk: &str, token: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ak, sk, Some(token.to_string()), None, "sts"))
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

pub(crate) fn xml_field(xml: &str, tag: &str) -> String {
    let start = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

#[tokio::test]
async fn assume_role_sessions_are_authorized_like_aws_and_expire() {
    let server = dev_server().await;
    let ep = format!("http://{}", server.addr);
    let admin = raw_client(&ep, "test", "test");
    let kms = sdk_client(&ep, "test", "test");

    // A role that the account may assume, allowed to encrypt and decrypt.
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let r = admin
        .call("KmsAdmin.CreateRole", &serde_json::json!({"RoleName": "app", "AssumeRolePolicyDocument": trust}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = admin
        .call(
            "KmsAdmin.PutRolePolicy",
            &serde_json::json!({"RoleName": "app", "PolicyName": "crypto",
                "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}"#}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();

    // GetCallerIdentity.
    let who =
        admin.send(admin.signed_query("Action=GetCallerIdentity&Version=2011-06-15", now()).unwrap()).await.unwrap();
    assert_eq!(who.status, 200);
    let xml = String::from_utf8(who.body).unwrap();
    assert_eq!(xml_field(&xml, "Arn"), format!("arn:aws:iam::{ACCOUNT}:user/test"));
    assert_eq!(xml_field(&xml, "Account"), ACCOUNT);

    // AssumeRole.
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let form = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=worker-1&DurationSeconds=900",
        role_arn.replace(':', "%3A").replace('/', "%2F")
    );
    let r = admin.send(admin.signed_query(&form, now()).unwrap()).await.unwrap();
    let xml = String::from_utf8(r.body).unwrap();
    assert_eq!(r.status, 200, "{xml}");
    assert_eq!(r.headers["content-type"], "text/xml");
    let ak = xml_field(&xml, "AccessKeyId");
    assert!(ak.starts_with("ASIA"));
    let sk = xml_field(&xml, "SecretAccessKey");
    let token = xml_field(&xml, "SessionToken");
    assert_eq!(xml_field(&xml, "Arn"), format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/worker-1"));
    assert!(xml_field(&xml, "AssumedRoleId").starts_with("AROA"));

    // The session's credentials work with the official client, within the role's policy.
    let session = session_client(&ep, &ak, &sk, &token);
    let blob = session
        .encrypt()
        .key_id(key.key_id())
        .plaintext(Blob::new(b"from a role".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    assert_eq!(
        session.decrypt().ciphertext_blob(blob).send().await.unwrap().plaintext().unwrap().as_ref(),
        b"from a role"
    );
    let e = session.create_key().send().await.unwrap_err();
    let (t, m) = err_of(e);
    assert_eq!(t, "AccessDeniedException");
    assert!(m.starts_with(&format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/app/worker-1 is not authorized")), "{m}");

    // A key policy naming the role allows its sessions directly; a deny for the role denies them.
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"NoApp","Effect":"Deny","Principal":{{"AWS":"{role_arn}"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    kms.put_key_policy().key_id(key.key_id()).policy(deny).send().await.unwrap();
    let e = session.encrypt().key_id(key.key_id()).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap_err();
    assert!(err_of(e).1.ends_with("with an explicit deny in a resource-based policy"));

    // A wrong token is refused; a trust policy that does not name the caller refuses AssumeRole.
    let bad = session_client(&ep, &ak, &sk, "wrong-token");
    let e = bad.list_keys().send().await.unwrap_err();
    assert_eq!(err_of(e).0, "UnrecognizedClientException");
    let (uk, us) = create_user(&admin, "outsider", Some("999999999999")).await;
    let outsider = raw_client(&ep, &uk, &us);
    let r = outsider.send(outsider.signed_query(&form, now()).unwrap()).await.unwrap();
    assert_eq!(r.status, 403);
    let xml = String::from_utf8(r.body).unwrap();
    assert_eq!(xml_field(&xml, "Code"), "AccessDenied");

    // 15 minutes later the session has expired.
    assert_eq!(advance(&server, 901).await.status, 200);
    let e = session.list_keys().send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ExpiredTokenException");
    server.shutdown().await;
}
