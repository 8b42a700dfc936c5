//! External key stores (`EXTERNAL_KEY_STORE`, docs/XKS.md) through the
//! official client, against our XKS proxy (`kms xks-proxy`, a child
//! process) over HTTPS with a throwaway CA: the lifecycle and its errors,
//! keys over external keys, double encryption round trips, the kill
//! switch (the external key disabled, the proxy stopped), a slow proxy
//! beyond the 250 ms budget, a proxy whose answer is tampered with.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, CustomKeyStoresListEntry, DataKeySpec, KeyState,
    OriginType, XksProxyAuthenticationCredentialType, XksProxyConnectivityType,
};

use crate::harness::*;
use crate::xksproxy::{make_ca, proxy_keys, start_proxy, ProxyChild, AK, SK, SK2};

const ENDPOINT: &str = "https://xks.test";
const PATH: &str = "/kms/xks/v1";

fn cred(ak: &str, sk: &str) -> XksProxyAuthenticationCredentialType {
    XksProxyAuthenticationCredentialType::builder().access_key_id(ak).raw_secret_access_key(sk).build().unwrap()
}

async fn store_entry(kms: &aws_sdk_kms::Client, id: &str) -> CustomKeyStoresListEntry {
    let out = kms.describe_custom_key_stores().custom_key_store_id(id).send().await.unwrap();
    out.custom_key_stores()[0].clone()
}

async fn settled(kms: &aws_sdk_kms::Client, id: &str) -> CustomKeyStoresListEntry {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = store_entry(kms, id).await;
        if e.connection_state() != Some(&ConnectionStateType::Connecting) || Instant::now() > deadline {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn key_state(kms: &aws_sdk_kms::Client, key: &str) -> KeyState {
    kms.describe_key().key_id(key).send().await.unwrap().key_metadata.unwrap().key_state.unwrap()
}

/// Restart the proxy with `[testing]` set to `testing` ("" for none).
async fn restart_with(proxy: &mut ProxyChild, testing: &str) {
    let text = std::fs::read_to_string(&proxy.config).unwrap();
    let base = match text.find("[testing]") {
        Some(at) => {
            let end = text[at..].find("[[path]]").map(|e| at + e).unwrap();
            format!("{}{}", &text[..at], &text[end..])
        }
        None => text,
    };
    let at = base.find("[[path]]").unwrap();
    let text = format!("{}{testing}{}", &base[..at], &base[at..]);
    std::fs::write(&proxy.config, text).unwrap();
    proxy.restart().await;
}

async fn kms_server(dir: &Path, port: u16) -> TestServer {
    let data = dir.join("kms");
    std::fs::create_dir_all(&data).unwrap();
    let mut resolve = BTreeMap::new();
    resolve.insert("xks.test".to_string(), format!("127.0.0.1:{port}"));
    // A host nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    resolve.insert("down.test".to_string(), format!("127.0.0.1:{closed}"));
    let file = kms::config::FileConfig {
        xks: Some(kms::config::XksFileConfig {
            ca_file: dir.join("ca").join("ca.pem"),
            resolve,
            client_cert_file: Some(dir.join("ca").join("client.pem")),
            client_key_file: Some(dir.join("ca").join("client.key")),
        }),
        ..Default::default()
    };
    TestServer::start_configured(&data, file, overrides(&data)).await
}

#[tokio::test]
async fn xks_external_key_store_through_our_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_ca(&dir.join("ca"), "cks.kms.us-east-1.amazonaws.com");
    proxy_keys(dir, &["create", "ext-key-1"]).await;
    proxy_keys(dir, &["create", "ext-key-2"]).await;
    proxy_keys(dir, &["create", "ext-key-off"]).await;
    proxy_keys(dir, &["disable", "ext-key-off"]).await;
    // The proxy requires the client certificate, with the subject AWS KMS presents.
    let ca = dir.join("ca").display().to_string();
    let mtls = format!("client_ca_file = \"{ca}/ca.pem\"\nclient_subject = \"cks.kms.us-east-1.amazonaws.com\"\n");
    let mut proxy = start_proxy(dir, &mtls).await;
    let mut server = kms_server(dir, proxy.port).await;
    let kms = server.sdk();

    // CreateCustomKeyStore and its errors: the proxy is checked at once.
    let create = |name: &str, endpoint: &str, path: &str, ak: &str, sk: &str| {
        kms.create_custom_key_store()
            .custom_key_store_name(name)
            .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
            .xks_proxy_uri_endpoint(endpoint)
            .xks_proxy_uri_path(path)
            .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
            .xks_proxy_authentication_credential(cred(ak, sk))
    };
    for (endpoint, path, ak, sk, want) in [
        (ENDPOINT, PATH, AK, SK2, "XksProxyIncorrectAuthenticationCredentialException"),
        (ENDPOINT, "/nope/kms/xks/v1", AK, SK, "XksProxyInvalidConfigurationException"),
        ("https://down.test", PATH, AK, SK, "XksProxyUriUnreachableException"),
        ("https://localhost", PATH, AK, SK, "XksProxyUriUnreachableException"),
    ] {
        let e = create("s", endpoint, path, ak, sk).send().await.unwrap_err();
        assert_eq!(err_of(e).0, want, "{endpoint}{path}");
    }
    let e = create("s", ENDPOINT, "/kms/xks/v1/", AK, SK).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "ValidationException");
    let e = kms
        .create_custom_key_store()
        .custom_key_store_name("vpc")
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_uri_endpoint(ENDPOINT)
        .xks_proxy_uri_path(PATH)
        .xks_proxy_connectivity(XksProxyConnectivityType::VpcEndpointService)
        .xks_proxy_vpc_endpoint_service_name("com.amazonaws.vpce.us-east-1.vpce-svc-example1")
        .xks_proxy_authentication_credential(cred(AK, SK))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_of(e).0, "XksProxyVpcEndpointServiceNotFoundException");
    let t0 = Instant::now();
    let id = create("ext", ENDPOINT, PATH, AK, SK).send().await.unwrap().custom_key_store_id.unwrap();
    eprintln!("CreateCustomKeyStore (health check, new TLS connection): {:?}", t0.elapsed());
    assert!(id.starts_with("cks-") && id.len() == 21);
    let e = create("ext2", ENDPOINT, PATH, AK, SK).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "XksProxyUriInUseException");
    let e = create("ext", ENDPOINT, "/tenant-b/kms/xks/v1", "AKIAXKSPROXYTENANTBB", SK2).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreNameInUseException");

    // DescribeCustomKeyStores: the proxy configuration, no secret.
    let e = store_entry(&kms, &id).await;
    assert_eq!(e.custom_key_store_type(), Some(&CustomKeyStoreType::ExternalKeyStore));
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Disconnected));
    assert!(e.cloud_hsm_cluster_id().is_none() && e.trust_anchor_certificate().is_none());
    let x = e.xks_proxy_configuration().unwrap();
    assert_eq!(x.connectivity(), Some(&XksProxyConnectivityType::PublicEndpoint));
    assert_eq!((x.uri_endpoint(), x.uri_path(), x.access_key_id()), (Some(ENDPOINT), Some(PATH), Some(AK)));
    let raw = server.raw().call("TrentService.DescribeCustomKeyStores", &serde_json::json!({})).await.unwrap();
    assert!(!String::from_utf8_lossy(&raw.body).contains(SK));

    // No key before the store is connected; GenerateRandom never.
    let new_key = |xks_key: &str| {
        kms.create_key().origin(OriginType::ExternalKeyStore).custom_key_store_id(&id).xks_key_id(xks_key)
    };
    assert_eq!(err_of(new_key("ext-key-1").send().await.unwrap_err()).0, "CustomKeyStoreInvalidStateException");
    let e = kms.generate_random().number_of_bytes(8).custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "UnsupportedOperationException");

    // Connect: CONNECTED once the proxy answers GetHealthStatus.
    kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = settled(&kms, &id).await;
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Connected), "{e:?}");
    assert!(e.connection_error_code().is_none());

    // CreateKey over an external key, and its errors.
    let md = new_key("ext-key-1").description("xks").send().await.unwrap().key_metadata.unwrap();
    let key = md.key_id().to_string();
    assert_eq!(md.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(md.custom_key_store_id(), Some(id.as_str()));
    assert_eq!(md.xks_key_configuration().and_then(|c| c.id()), Some("ext-key-1"));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert!(md.cloud_hsm_cluster_id().is_none());
    let described = kms.describe_key().key_id(&key).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(described.xks_key_configuration().and_then(|c| c.id()), Some("ext-key-1"));
    for (xks_key, want) in [
        ("no-such-key", "XksKeyNotFoundException"),
        ("ext-key-1", "XksKeyAlreadyInUseException"),
        ("ext-key-off", "XksKeyInvalidConfigurationException"),
    ] {
        assert_eq!(err_of(new_key(xks_key).send().await.unwrap_err()).0, want, "{xks_key}");
    }
    let e = kms.create_key().origin(OriginType::ExternalKeyStore).custom_key_store_id(&id).send().await;
    assert_eq!(err_of(e.unwrap_err()).0, "ValidationException");
    let e = kms.create_key().xks_key_id("ext-key-2").send().await;
    assert_eq!(err_of(e.unwrap_err()).0, "ValidationException");

    // Round trips: Encrypt/Decrypt with a context, GenerateDataKey*,
    // ReEncrypt to a software key and back.
    let ctx = ("purpose", "xks-test");
    let enc =
        || kms.encrypt().key_id(&key).plaintext(Blob::new(b"sovereign data".to_vec())).encryption_context(ctx.0, ctx.1);
    let blob = enc().send().await.unwrap().ciphertext_blob.unwrap();
    let dec = |b: Blob| kms.decrypt().ciphertext_blob(b).encryption_context(ctx.0, ctx.1);
    let out = dec(blob.clone()).send().await.unwrap();
    assert_eq!(out.key_id(), md.arn());
    assert_eq!(out.plaintext.unwrap().as_ref(), b"sovereign data");
    let dk = kms.generate_data_key().key_id(&key).key_spec(DataKeySpec::Aes256).send().await.unwrap();
    let again = kms.decrypt().ciphertext_blob(dk.ciphertext_blob.unwrap()).send().await.unwrap();
    assert_eq!(again.plaintext.unwrap().as_ref(), dk.plaintext.unwrap().as_ref());
    let wp = kms.generate_data_key_without_plaintext().key_id(&key).number_of_bytes(64).send().await.unwrap();
    assert_eq!(
        kms.decrypt()
            .ciphertext_blob(wp.ciphertext_blob.unwrap())
            .send()
            .await
            .unwrap()
            .plaintext
            .unwrap()
            .as_ref()
            .len(),
        64
    );
    let soft = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_string();
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context(ctx.0, ctx.1)
        .destination_key_id(&soft)
        .send()
        .await
        .unwrap();
    let back =
        kms.re_encrypt().ciphertext_blob(moved.ciphertext_blob.unwrap()).destination_key_id(&key).send().await.unwrap();
    let plain = kms.decrypt().ciphertext_blob(back.ciphertext_blob.unwrap()).send().await.unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"sovereign data");
    // The largest plaintext.
    let big = kms.encrypt().key_id(&key).plaintext(Blob::new(vec![7u8; 4096])).send().await.unwrap();
    assert_eq!(
        kms.decrypt()
            .ciphertext_blob(big.ciphertext_blob.unwrap())
            .send()
            .await
            .unwrap()
            .plaintext
            .unwrap()
            .as_ref()
            .len(),
        4096
    );
    // A wrong context, or a changed byte: the proxy refuses (the spec: KMSInvalidStateException).
    let e =
        kms.decrypt().ciphertext_blob(blob.clone()).encryption_context("purpose", "other").send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    let mut bad = blob.clone().into_inner();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let e = dec(Blob::new(bad)).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "KMSInvalidStateException");
    let e = dec(Blob::new(blob.as_ref()[..60].to_vec())).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "InvalidCiphertextException");

    // The kill switch at the proxy: the external key disabled, the KMS key
    // is unusable from the next call on; enabled again, old ciphertexts decrypt.
    proxy_keys(dir, &["disable", "ext-key-1"]).await;
    let (name, msg) = err_of(enc().send().await.unwrap_err());
    assert_eq!(name, "KMSInvalidStateException");
    assert!(msg.contains("is not enabled in the external key manager"), "{msg}");
    assert_eq!(err_of(dec(blob.clone()).send().await.unwrap_err()).0, "KMSInvalidStateException");
    assert_eq!(key_state(&kms, &key).await, KeyState::Enabled);
    proxy_keys(dir, &["enable", "ext-key-1"]).await;
    assert_eq!(dec(blob.clone()).send().await.unwrap().plaintext.unwrap().as_ref(), b"sovereign data");

    // The kill switch by stopping the proxy: KMSInvalidStateException at
    // once; started again, everything works.
    proxy.stop();
    let t0 = Instant::now();
    let (name, msg) = err_of(enc().send().await.unwrap_err());
    assert_eq!(name, "KMSInvalidStateException");
    assert!(msg.contains("cannot communicate with the external key store proxy"), "{msg}");
    assert_eq!(err_of(dec(blob.clone()).send().await.unwrap_err()).0, "KMSInvalidStateException");
    assert!(t0.elapsed() < Duration::from_millis(600), "{:?}", t0.elapsed());
    proxy.restart().await;
    assert_eq!(dec(blob.clone()).send().await.unwrap().plaintext.unwrap().as_ref(), b"sovereign data");

    // A proxy slower than 250 ms: the call fails after the budget, not later.
    restart_with(&mut proxy, "[testing]\ndelay_ms = 600\n").await;
    let t0 = Instant::now();
    let (name, msg) = err_of(enc().send().await.unwrap_err());
    let took = t0.elapsed();
    assert_eq!(name, "KMSInvalidStateException");
    assert!(msg.contains("did not respond in time"), "{msg}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(500), "{took:?}");

    // A tampered answer: the ciphertext data integrity value does not match.
    restart_with(&mut proxy, "[testing]\ntamper_ciphertext = true\n").await;
    let (name, msg) = err_of(enc().send().await.unwrap_err());
    assert_eq!(name, "KMSInvalidStateException");
    assert!(msg.contains("cannot interpret the response"), "{msg}");
    restart_with(&mut proxy, "").await;
    enc().send().await.unwrap();

    // UpdateCustomKeyStore while CONNECTED: the name, and credentials that
    // the proxy accepts; wrong ones are refused (the proxy is asked first).
    kms.update_custom_key_store()
        .custom_key_store_id(&id)
        .new_custom_key_store_name("ext-renamed")
        .send()
        .await
        .unwrap();
    let e = kms
        .update_custom_key_store()
        .custom_key_store_id(&id)
        .xks_proxy_authentication_credential(cred(AK, SK2))
        .send()
        .await;
    assert_eq!(err_of(e.unwrap_err()).0, "XksProxyIncorrectAuthenticationCredentialException");
    let e =
        kms.update_custom_key_store().custom_key_store_id(&id).xks_proxy_uri_endpoint("https://down.test").send().await;
    assert_eq!(err_of(e.unwrap_err()).0, "CustomKeyStoreInvalidStateException");
    enc().send().await.unwrap();
    let e = kms.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreInvalidStateException");

    // Disconnect: the key is Unavailable, and comes back on Connect.
    kms.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    assert_eq!(key_state(&kms, &key).await, KeyState::Unavailable);
    let (name, _) = err_of(enc().send().await.unwrap_err());
    assert_eq!(name, "KMSInvalidStateException");
    // Connect with the proxy stopped: FAILED, XKS_PROXY_NOT_REACHABLE.
    proxy.stop();
    kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = settled(&kms, &id).await;
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Failed));
    assert_eq!(e.connection_error_code(), Some(&ConnectionErrorCodeType::XksProxyNotReachable));
    let e2 = kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e2).0, "CustomKeyStoreInvalidStateException");
    kms.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    proxy.restart().await;
    kms.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    assert_eq!(settled(&kms, &id).await.connection_state(), Some(&ConnectionStateType::Connected));
    assert_eq!(key_state(&kms, &key).await, KeyState::Enabled);
    assert_eq!(dec(blob.clone()).send().await.unwrap().plaintext.unwrap().as_ref(), b"sovereign data");

    // A restart of the server: the store connects again by itself.
    server.stop().await;
    let mut server = kms_server(dir, proxy.port).await;
    let kms = server.sdk();
    assert_eq!(settled(&kms, &id).await.connection_state(), Some(&ConnectionStateType::Connected));
    let out = kms.decrypt().ciphertext_blob(blob.clone()).encryption_context(ctx.0, ctx.1).send().await.unwrap();
    assert_eq!(out.plaintext.unwrap().as_ref(), b"sovereign data");

    // Latency on loopback: Encrypt through the proxy against a software key.
    let soft_key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_string();
    let times = |samples: &mut Vec<Duration>| samples.sort();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..400 {
        let (k, v) = if i % 2 == 0 { (&key, &mut a) } else { (&soft_key, &mut b) };
        let t = Instant::now();
        kms.encrypt().key_id(k).plaintext(Blob::new(vec![1u8; 64])).send().await.unwrap();
        v.push(t.elapsed());
    }
    times(&mut a);
    times(&mut b);
    let p = |v: &Vec<Duration>, q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    eprintln!(
        "Encrypt (debug build, loopback): XKS p50 {:?} p99 {:?}; software p50 {:?} p99 {:?}",
        p(&a, 0.5),
        p(&a, 0.99),
        p(&b, 0.5),
        p(&b, 0.99)
    );

    // Keys must go before the store: CustomKeyStoreHasCMKsException.
    kms.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = kms.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(err_of(e).0, "CustomKeyStoreHasCMKsException");
    server.stop().await;
    proxy.stop();

    // Neither the secret access key nor a plaintext is in the KMS's audit
    // trail or its data directory's files; the proxy's trail has the request ids.
    let needles: [&[u8]; 2] = [SK.as_bytes(), b"sovereign data"];
    for d in [dir.join("kms"), dir.join("kms").join("audit")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                for n in needles {
                    assert!(!bytes.windows(n.len()).any(|w| w == n), "{} holds a secret", p.display());
                }
            }
        }
    }
}
