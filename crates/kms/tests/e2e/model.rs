//! Model-based test: random sequences of lifecycle, alias, rotation and
//! import operations, driven through the official client against a `--dev`
//! server, compared at every step with a tiny reference model of key
//! states, aliases, imported material and the ciphertexts made so far. Keys
//! 0-2 are AWS_KMS keys; key 3 has imported material that expires.

use std::collections::BTreeMap;

use aws_sdk_kms::primitives::Blob;

use crate::harness::*;
use crate::lifecycle::import;
use crate::symmetric::{advance, dev_server};

const DAY: i64 = 86400;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Enabled,
    Disabled,
    /// Days left in the deletion window.
    Pending(i64),
    Deleted,
    PendingImport,
}

/// Key 3, the one with imported material.
const IMPORTED: usize = 3;

struct Model {
    keys: Vec<State>,
    aliases: BTreeMap<String, usize>,
    /// Days advanced so far.
    day: i64,
    /// Key 3's material: present, and the day it expires.
    material: bool,
    expires: i64,
    /// On-demand rotations per key.
    rotations: Vec<usize>,
    /// (key, ciphertext, plaintext) of every successful Encrypt.
    blobs: Vec<(usize, Blob, Vec<u8>)>,
}

/// xorshift64*: deterministic, seeded, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Outcome = Result<(), String>;

fn code<E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<impl Sized, aws_sdk_kms::error::SdkError<E, R>>,
) -> Outcome {
    r.map(|_| ()).map_err(|e| err_of(e).0)
}

impl Model {
    /// Management operations: any state but pending deletion.
    fn key_gate(&self, k: usize) -> Outcome {
        match self.keys[k] {
            State::Deleted => Err("NotFoundException".into()),
            State::Pending(_) => Err("KMSInvalidStateException".into()),
            _ => Ok(()),
        }
    }
    /// ScheduleKeyDeletion (allowed while pending import).
    fn set(&mut self, k: usize, s: State) -> Outcome {
        self.key_gate(k)?;
        self.keys[k] = s;
        Ok(())
    }
    /// EnableKey, DisableKey: not while pending import.
    fn toggle(&mut self, k: usize, s: State) -> Outcome {
        if self.keys[k] == State::PendingImport {
            return Err("KMSInvalidStateException".into());
        }
        self.set(k, s)
    }
    /// Cryptographic use.
    fn crypto_gate(&self, k: usize) -> Outcome {
        match self.keys[k] {
            State::Enabled => Ok(()),
            State::Disabled => Err("DisabledException".into()),
            State::Deleted => Err("NotFoundException".into()),
            _ => Err("KMSInvalidStateException".into()),
        }
    }
}

#[tokio::test]
async fn random_lifecycle_sequences_match_the_model() {
    for seed in [0x9E3779B97F4A7C15u64, 0xD1B54A32D192ED03, 42] {
        run(seed, 120).await;
    }
}

async fn run(seed: u64, steps: usize) {
    let server = dev_server().await;
    let kms = sdk_client(&format!("http://{}", server.addr), "test", "test");
    let mut ids = vec![];
    for _ in 0..3 {
        ids.push(kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_string());
    }
    let external = kms.create_key().origin(aws_sdk_kms::types::OriginType::External).send().await.unwrap();
    ids.push(external.key_metadata.unwrap().key_id().to_string());
    let material = [0x3Cu8; 32];
    import(&kms, &ids[IMPORTED], &material, Some(now() + 2 * DAY)).await;
    let names = ["alias/a", "alias/b", "alias/c", "alias/d"];
    let mut m = Model {
        keys: vec![State::Enabled; 4],
        aliases: BTreeMap::new(),
        day: 0,
        material: true,
        expires: 2,
        rotations: vec![0; 4],
        blobs: vec![],
    };
    let mut rng = Rng(seed);

    for step in 0..steps {
        let k = rng.below(4) as usize;
        let name = names[rng.below(4) as usize];
        let op = rng.below(13);
        let (what, got, want): (String, Outcome, Outcome) = match op {
            0 => {
                let got = code(kms.enable_key().key_id(&ids[k]).send().await);
                (format!("EnableKey {k}"), got, m.toggle(k, State::Enabled))
            }
            1 => {
                let got = code(kms.disable_key().key_id(&ids[k]).send().await);
                (format!("DisableKey {k}"), got, m.toggle(k, State::Disabled))
            }
            2 => {
                let days = 7 + rng.below(3) as i64;
                let got =
                    code(kms.schedule_key_deletion().key_id(&ids[k]).pending_window_in_days(days as i32).send().await);
                (format!("ScheduleKeyDeletion {k} {days}d"), got, m.set(k, State::Pending(days)))
            }
            3 => {
                let got = code(kms.cancel_key_deletion().key_id(&ids[k]).send().await);
                let want = match m.keys[k] {
                    State::Deleted => Err("NotFoundException".into()),
                    State::Pending(_) => {
                        let gone = k == IMPORTED && !m.material;
                        m.keys[k] = if gone { State::PendingImport } else { State::Disabled };
                        Ok(())
                    }
                    _ => Err("KMSInvalidStateException".into()),
                };
                (format!("CancelKeyDeletion {k}"), got, want)
            }
            4 => {
                let got = code(kms.create_alias().alias_name(name).target_key_id(&ids[k]).send().await);
                let want = if m.aliases.contains_key(name) {
                    Err("AlreadyExistsException".into())
                } else {
                    m.key_gate(k).map(|_| {
                        m.aliases.insert(name.into(), k);
                    })
                };
                (format!("CreateAlias {name} -> {k}"), got, want)
            }
            5 => {
                let got = code(kms.update_alias().alias_name(name).target_key_id(&ids[k]).send().await);
                let want = if !m.aliases.contains_key(name) {
                    Err("NotFoundException".into())
                } else {
                    m.key_gate(k).map(|_| {
                        m.aliases.insert(name.into(), k);
                    })
                };
                (format!("UpdateAlias {name} -> {k}"), got, want)
            }
            6 => {
                let got = code(kms.delete_alias().alias_name(name).send().await);
                let want = match m.aliases.remove(name) {
                    Some(_) => Ok(()),
                    None => Err("NotFoundException".into()),
                };
                (format!("DeleteAlias {name}"), got, want)
            }
            7 => {
                // Encrypt by alias when the alias exists, else by key id.
                let (target, key) = match m.aliases.get(name) {
                    Some(&t) if rng.below(2) == 0 => (name.to_string(), Some(t)),
                    _ => (ids[k].clone(), Some(k)),
                };
                let pt = format!("step {step}").into_bytes();
                let got = kms.encrypt().key_id(&target).plaintext(Blob::new(pt.clone())).send().await;
                let got = got.map(|r| r.ciphertext_blob.unwrap()).map_err(|e| err_of(e).0);
                let want = key.map_or(Err("NotFoundException".to_string()), |k| m.crypto_gate(k));
                if let (Ok(blob), Some(k)) = (&got, key) {
                    m.blobs.push((k, blob.clone(), pt));
                }
                (format!("Encrypt {target}"), got.map(|_| ()), want)
            }
            8 => {
                let days = 1 + rng.below(4) as i64;
                let r = advance(&server, days * 86400).await;
                assert_eq!(r.status, 200);
                m.day += days;
                for i in 0..4 {
                    if let State::Pending(left) = m.keys[i] {
                        m.keys[i] = if left <= days { State::Deleted } else { State::Pending(left - days) };
                    }
                }
                if m.material && m.expires <= m.day {
                    m.material = false;
                    if matches!(m.keys[IMPORTED], State::Enabled | State::Disabled) {
                        m.keys[IMPORTED] = State::PendingImport;
                    }
                }
                let keys = &m.keys;
                m.aliases.retain(|_, t| keys[*t] != State::Deleted);
                (format!("advance {days}d"), Ok(()), Ok(()))
            }
            9 => {
                let got = code(kms.rotate_key_on_demand().key_id(&ids[k]).send().await);
                let want = m.crypto_gate(k).and_then(|_| {
                    if k == IMPORTED {
                        // No imported material pending rotation.
                        Err("KMSInvalidStateException".to_string())
                    } else if m.rotations[k] >= 25 {
                        Err("LimitExceededException".to_string())
                    } else {
                        m.rotations[k] += 1;
                        Ok(())
                    }
                });
                if got.is_ok() {
                    crate::lifecycle::wait_rotation(&kms, &ids[k]).await;
                }
                (format!("RotateKeyOnDemand {k}"), got, want)
            }
            10 => {
                // Import key 3's material again, expiring in 1-3 days.
                let days = 1 + rng.below(3) as i64;
                let want = match m.keys[IMPORTED] {
                    State::Deleted => Err("NotFoundException".to_string()),
                    State::Pending(_) => Err("KMSInvalidStateException".to_string()),
                    _ => Ok(()),
                };
                let valid_to = now() + (m.day + days) * DAY;
                let got = crate::lifecycle::try_import(&kms, &ids[IMPORTED], &material, Some(valid_to)).await;
                if got.is_ok() {
                    (m.material, m.expires) = (true, m.day + days);
                    if m.keys[IMPORTED] == State::PendingImport {
                        m.keys[IMPORTED] = State::Enabled;
                    }
                }
                (format!("ImportKeyMaterial {IMPORTED} for {days}d"), got.map(|_| ()), want)
            }
            11 if !m.blobs.is_empty() => {
                // Decrypt a ciphertext made earlier, under any material.
                let (k, blob, pt) = m.blobs[rng.below(m.blobs.len() as u64) as usize].clone();
                let got = kms.decrypt().ciphertext_blob(blob).send().await;
                let got = got.map(|r| r.plaintext.unwrap().into_inner()).map_err(|e| err_of(e).0);
                // A ciphertext naming a key that is gone does not decrypt.
                let want = match m.keys[k] {
                    State::Deleted => Err("InvalidCiphertextException".to_string()),
                    _ => m.crypto_gate(k).map(|_| pt),
                };
                assert_eq!(got, want, "seed {seed:#x} step {step}: Decrypt of a ciphertext of key {k}");
                continue;
            }
            _ => {
                let got = kms.describe_key().key_id(&ids[k]).send().await;
                let got_state = got.map(|r| r.key_metadata.unwrap().key_state().unwrap().as_str().to_string());
                let want = match m.keys[k] {
                    State::Enabled => Ok("Enabled".to_string()),
                    State::Disabled => Ok("Disabled".to_string()),
                    State::Pending(_) => Ok("PendingDeletion".to_string()),
                    State::PendingImport => Ok("PendingImport".to_string()),
                    State::Deleted => Err("NotFoundException".to_string()),
                };
                let got_state = got_state.map_err(|e| err_of(e).0);
                assert_eq!(got_state, want, "seed {seed:#x} step {step}: DescribeKey {k}");
                continue;
            }
        };
        assert_eq!(got, want, "seed {seed:#x} step {step}: {what}");
        // The alias listing always matches the model.
        let listed = kms.list_aliases().send().await.unwrap();
        let got_aliases: Vec<(String, String)> = listed
            .aliases()
            .iter()
            .map(|a| (a.alias_name().unwrap().to_string(), a.target_key_id().unwrap().to_string()))
            .collect();
        let want_aliases: Vec<(String, String)> = m.aliases.iter().map(|(n, k)| (n.clone(), ids[*k].clone())).collect();
        assert_eq!(got_aliases, want_aliases, "seed {seed:#x} step {step}: after {what}");
    }
    server.shutdown().await;
}
