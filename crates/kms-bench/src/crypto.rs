//! `kms-bench crypto-baseline`: what aws-lc-rs (the server's crypto
//! library, through kms-crypto) signs per second on this machine outside
//! the server, one thread per CPU, so that the server's Sign rates can be
//! read against it from the same run. Each thread has its own key and signs
//! the same 32-byte message the load run's sign operations send, with a
//! fresh `SystemRandom` per call as kms-crypto does.

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::{json, Value};

use crate::procstat;
use crate::report::align;

/// The algorithms measured, by the name of the load run's operation.
pub const ALGORITHMS: [(&str, &str); 2] =
    [("sign-rsa2048", "RSA-2048 PKCS#1 v1.5 SHA-256"), ("sign-p256", "ECDSA P-256 SHA-256")];

enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

impl Signer {
    fn new(op: &str) -> Result<Signer, String> {
        match op {
            "sign-rsa2048" => {
                RsaKeyPair::generate(KeySize::Rsa2048).map(Signer::Rsa).map_err(|_| "RSA key generation".to_string())
            }
            _ => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                .map(Signer::Ecdsa)
                .map_err(|_| "EC key generation".to_string()),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<usize, String> {
        match self {
            Signer::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig.len())
            }
            Signer::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().len())
                .map_err(|_| "ECDSA signing failed".to_string()),
        }
    }
}

/// One algorithm's result.
pub struct Measured {
    pub op: &'static str,
    pub algorithm: &'static str,
    pub threads: usize,
    pub signatures: u64,
    pub elapsed: Duration,
    /// This process's CPU over the window.
    pub cpu_s: Option<f64>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.signatures as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sign on `threads` threads for `duration` (after a short warm-up).
fn measure(op: &'static str, algorithm: &'static str, threads: usize, duration: Duration) -> Result<Measured, String> {
    let message: Vec<u8> = (0..32).map(|i| (i * 131 + 7) as u8).collect();
    let signers = (0..threads).map(|_| Signer::new(op)).collect::<Result<Vec<_>, _>>()?;
    let barrier = std::sync::Barrier::new(threads + 1);
    let warmup = Duration::from_millis(300);
    std::thread::scope(|scope| {
        let handles: Vec<_> = signers
            .into_iter()
            .map(|signer| {
                let (barrier, message) = (&barrier, &message);
                scope.spawn(move || -> Result<(u64, Duration), String> {
                    barrier.wait();
                    let start = Instant::now();
                    while start.elapsed() < warmup {
                        signer.sign(message)?;
                    }
                    let (from, mut n) = (Instant::now(), 0u64);
                    while from.elapsed() < duration {
                        signer.sign(message)?;
                        n += 1;
                    }
                    Ok((n, from.elapsed()))
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(warmup);
        let cpu_start = procstat::self_cpu_seconds();
        let (mut signatures, mut elapsed) = (0, Duration::ZERO);
        for h in handles {
            let (n, e) = h.join().map_err(|_| "a signing thread panicked".to_string())??;
            signatures += n;
            elapsed = elapsed.max(e);
        }
        let cpu_s = procstat::self_cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
        Ok(Measured { op, algorithm, threads, signatures, elapsed, cpu_s })
    })
}

pub fn run(threads: usize, duration: Duration) -> Result<Vec<Measured>, String> {
    let threads = threads.max(1);
    ALGORITHMS.iter().map(|(op, alg)| measure(op, alg, threads, duration)).collect()
}

pub fn table(results: &[Measured]) -> String {
    let mut rows = vec![vec![
        "algorithm".to_string(),
        "op".into(),
        "threads".into(),
        "signatures/s".into(),
        "us/signature/thread".into(),
        "CPU us/signature".into(),
    ]];
    for m in results {
        let per_thread = m.threads as f64 * m.elapsed.as_secs_f64() * 1e6 / m.signatures.max(1) as f64;
        rows.push(vec![
            m.algorithm.to_string(),
            m.op.to_string(),
            m.threads.to_string(),
            format!("{:.0}", m.per_second()),
            format!("{per_thread:.1}"),
            m.cpu_s.map(|c| format!("{:.1}", c * 1e6 / m.signatures.max(1) as f64)).unwrap_or_else(|| "-".into()),
        ]);
    }
    format!("# aws-lc-rs outside the server (crypto-baseline)\n{}", align(&rows))
}

pub fn json(results: &[Measured]) -> Value {
    let r: Vec<Value> = results
        .iter()
        .map(|m| {
            json!({
                "operation": m.op,
                "algorithm": m.algorithm,
                "threads": m.threads,
                "signatures": m.signatures,
                "seconds": m.elapsed.as_secs_f64(),
                "per_second": m.per_second(),
                "cpu_us_per_signature": m.cpu_s.map(|c| c * 1e6 / m.signatures.max(1) as f64),
            })
        })
        .collect();
    json!({"mode": "crypto-baseline", "library": "aws-lc-rs", "results": r})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_both_algorithms() {
        let results = run(1, Duration::from_millis(50)).unwrap();
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|m| m.signatures > 0 && m.per_second() > 0.0));
        let t = table(&results);
        assert!(t.contains("RSA-2048") && t.contains("sign-p256"), "{t}");
        assert_eq!(json(&results)["results"][1]["operation"], "sign-p256");
    }
}
