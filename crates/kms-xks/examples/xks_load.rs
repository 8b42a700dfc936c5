//! Closed-loop load on an XKS proxy through the KMS side's client (HTTPS,
//! SigV4, keep-alive): requests/s and latency of Encrypt (or Decrypt,
//! GetKeyMetadata, GetHealthStatus). docs/PERFORMANCE.md, "XKS".
//!
//! ```text
//! cargo run --release -p kms-xks --example xks_load -- \
//!   --endpoint https://xks.test --resolve 127.0.0.1:8443 --ca ca.pem \
//!   --access-key AKIA... --secret-file sk --key key-1 [--op encrypt] \
//!   [--path /kms/xks/v1] [--connections 64] [--seconds 10]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use kms_core::crypto::SecretString;
use kms_core::ports::{XksProxy, XksTarget};
use serde_json::json;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let need = |n: &str| arg(&args, n).unwrap_or_else(|| panic!("{n} is required"));
    let endpoint = need("--endpoint");
    let host = endpoint.strip_prefix("https://").unwrap().to_string();
    let mut resolve = HashMap::new();
    if let Some(a) = arg(&args, "--resolve") {
        resolve.insert(host.clone(), a.parse().unwrap());
    }
    let client = Arc::new(kms_xks::client::XksClient::new(need("--ca").as_ref(), resolve).unwrap());
    let path = arg(&args, "--path").unwrap_or_else(|| "/kms/xks/v1".into());
    let ak = need("--access-key");
    let sk = std::fs::read_to_string(need("--secret-file")).unwrap().trim().to_string();
    let key = need("--key");
    let op = arg(&args, "--op").unwrap_or_else(|| "encrypt".into());
    let connections: usize = arg(&args, "--connections").map_or(64, |c| c.parse().unwrap());
    let seconds: u64 = arg(&args, "--seconds").map_or(10, |c| c.parse().unwrap());
    let region = arg(&args, "--region").unwrap_or_else(|| "us-east-1".into());
    let threads: usize = arg(&args, "--threads").map_or(1, |c| c.parse().unwrap());

    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let md = json!({"awsPrincipalArn": "arn:aws:iam::111122223333:user/bench", "kmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "kmsOperation": "Encrypt", "kmsRequestId": "bench"});
    // The inner ciphertext of a 32-byte Encrypt: 60 bytes, and a header-sized AAD.
    let encrypt = json!({"requestMetadata": md, "plaintext": b64(&[7u8; 60]), "additionalAuthenticatedData": b64(&[1u8; 66]), "encryptionAlgorithm": "AES_GCM", "ciphertextDataIntegrityValueAlgorithm": "SHA_256"});
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap();
    rt.block_on(async move {
        let secret = SecretString::new(sk);
        let target = || XksTarget { endpoint: &endpoint, uri_path: &path, access_key_id: &ak, secret: &secret, region: &region };
        let (suffix, body) = match op.as_str() {
            "encrypt" => (format!("keys/{key}/encrypt"), encrypt.clone()),
            "decrypt" => {
                let e = client.call(&target(), &format!("keys/{key}/encrypt"), &encrypt).await.unwrap();
                let mut d = json!({"requestMetadata": md, "additionalAuthenticatedData": b64(&[1u8; 66]), "encryptionAlgorithm": "AES_GCM"});
                for f in ["ciphertext", "initializationVector", "authenticationTag"] {
                    d[f] = e[f].clone();
                }
                (format!("keys/{key}/decrypt"), d)
            }
            "metadata" => (format!("keys/{key}/metadata"), json!({"requestMetadata": md})),
            _ => ("health".to_string(), json!({"requestMetadata": {"kmsRequestId": "bench", "kmsOperation": "KmsHealthCheck"}})),
        };
        client.call(&target(), &suffix, &body).await.unwrap();
        let (suffix, body) = (Arc::new(suffix), Arc::new(body));
        let end = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (client, suffix, body) = (client.clone(), suffix.clone(), body.clone());
            let (endpoint, path, ak, secret, region) = (endpoint.clone(), path.clone(), ak.clone(), SecretString::new(secret.expose().to_string()), region.clone());
            tasks.push(tokio::spawn(async move {
                let t = XksTarget { endpoint: &endpoint, uri_path: &path, access_key_id: &ak, secret: &secret, region: &region };
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < end {
                    let s = Instant::now();
                    match client.call(&t, &suffix, &body).await {
                        Ok(_) => lat.push(s.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        all.sort();
        let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
        println!(
            "{op}: {connections} connections, {seconds} s: {:.0} req/s, p50 {:?}, p99 {:?}, p99.9 {:?}, errors {errors}",
            all.len() as f64 / seconds as f64,
            p(0.5),
            p(0.99),
            p(0.999)
        );
    });
}
