//! The background job: what happens to keys when the service clock passes
//! a date. It destroys keys whose deletion window has ended, rotates keys
//! whose `NextRotationDate` has passed, finishes on-demand rotations, and
//! deletes imported key material whose `ValidTo` has passed.
//!
//! The queue is the store's (`Store::keys_due`, kept by `put_key` from
//! [`KeyRecord::next_job_ms`]), so a restart loses nothing and a pass reads
//! only the keys that are due, however many keys there are. The server runs
//! a pass every second, when woken (`RotateKeyOnDemand`), and
//! `kms admin clock advance` runs one before it answers. Each key is
//! changed in its own write, under the write lock, so requests interleave
//! with a long pass.

use super::{Kms, DAY_MS};
use crate::crypto::KeyMaterial;
use crate::error::Result;
use crate::types::*;

/// Keys read from the queue at a time.
const BATCH: usize = 1000;

/// What the job's pass over one key did.
#[derive(Default)]
struct Pass {
    /// The record changed.
    changed: bool,
    /// Its multi-Region outbox has syncs to deliver.
    deliver: bool,
}

/// Something the background job did to a key, for the audit trail (AWS
/// records these as `AwsServiceEvent`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// `RotateKey`, `DeleteExpiredKeyMaterial` or `DeleteKey`.
    pub event_name: &'static str,
    /// The key's account.
    pub account: String,
    pub key_arn: String,
    /// The key's origin (`RotateKey` records it).
    pub key_origin: &'static str,
    /// The material the event is about (the new one for `RotateKey`).
    pub key_material_id: Option<String>,
    /// The material a rotation replaced.
    pub previous_key_material_id: Option<String>,
    /// `AUTOMATIC` or `ON_DEMAND` for `RotateKey`.
    pub rotation_type: Option<&'static str>,
    pub at_ms: i64,
}

impl Kms {
    /// Ask the background job for a pass now.
    pub fn wake_jobs(&self) {
        self.shared.jobs_wake.notify_one();
    }

    /// Resolves when [`Kms::wake_jobs`] was called.
    pub async fn jobs_woken(&self) {
        self.shared.jobs_wake.notified().await;
    }

    /// The events of the passes since the last call, oldest first.
    pub fn take_job_events(&self) -> Vec<JobEvent> {
        self.job_events.lock().map(|mut e| std::mem::take(&mut *e)).unwrap_or_default()
    }

    /// One pass: everything due at the service clock's present. Returns
    /// how many keys it changed.
    pub async fn run_jobs(&self) -> Result<usize> {
        let mut n = 0;
        loop {
            let now = self.clock.now_ms();
            let due = self.store.keys_due(now, BATCH).await?;
            let full = due.len() == BATCH;
            let mut changed = 0;
            for id in due {
                let pass = self.run_key_jobs(&id, now).await?;
                if pass.changed {
                    changed += 1;
                }
                // Multi-Region syncs (outside the write lock).
                if pass.deliver {
                    self.deliver_outbox(&id, now).await?;
                }
            }
            n += changed;
            // Every job moves its key's next job past `now`, so the queue
            // shrinks; stop anyway if a batch changed nothing.
            if !full || changed == 0 {
                return Ok(n);
            }
        }
    }

    async fn run_key_jobs(&self, id: &str, now: i64) -> Result<Pass> {
        let _w = self.write_lock.lock().await;
        let Some(mut rec) = self.store.get_key(id).await? else {
            return Ok(Pass::default());
        };
        if rec.next_job_ms().is_none_or(|t| t > now) {
            return Ok(Pass::default());
        }
        let arn = self.loc.key_arn(&rec.account, &rec.key_id);
        let (account, origin) = (rec.account.clone(), rec.origin.as_str());
        let event = |event_name, material: Option<&str>, previous: Option<String>, rotation_type| JobEvent {
            event_name,
            account: account.clone(),
            key_arn: arn.clone(),
            key_origin: origin,
            key_material_id: material.map(str::to_string),
            previous_key_material_id: previous,
            rotation_type,
            at_ms: now,
        };
        if self.is_due(&rec) {
            // A replica first tells its primary (which may be waiting for
            // it to start its own deletion); delivering that destroys it.
            if let Some(set) = rec.multi_region_set.as_mut().filter(|s| !s.is_primary()) {
                if set.outbox.iter().any(|o| o.deleted) {
                    return Ok(Pass { changed: false, deliver: true });
                }
                set.outbox.push(Outbound {
                    region: set.primary_region.clone(),
                    create: None,
                    deleted: true,
                    attempts: 0,
                    next_ms: now,
                });
                self.put_record(&mut rec).await?;
                return Ok(Pass { changed: true, deliver: true });
            }
            let e = self.destroy(&rec, now).await?;
            self.push_events(vec![e]);
            return Ok(Pass { changed: true, deliver: false });
        }
        let old = rec.clone();
        let mut events = vec![];
        // Imported material past its ValidTo is deleted; the key waits for
        // an import (AWS: Enabled -> PendingImport), unless it is pending
        // deletion. Material still pending rotation does not change the
        // key's state: nothing was encrypted under it.
        let mut lost_current = false;
        for m in rec.materials.iter_mut().filter(|m| m.expires_ms().is_some_and(|t| t <= now)) {
            m.sealed.clear();
            lost_current |= !m.pending_rotation;
            events.push(event("DeleteExpiredKeyMaterial", Some(&m.id), None, None));
        }
        if lost_current && rec.state != KeyState::PendingDeletion {
            rec.state = KeyState::PendingImport;
        }
        if rec.on_demand_rotation_ms.take().is_some() {
            let previous = rec.current_material().map(|m| m.id.clone());
            if let Some(mid) = self.rotate(&mut rec, now, true)? {
                events.push(event("RotateKey", Some(&mid), previous, Some("ON_DEMAND")));
            }
        }
        // A replica being created, or a key whose primary region changed,
        // takes its state once every region has heard of the change.
        if let Some(set) = rec.multi_region_set.as_mut() {
            if let Some((_, state)) = set.settle.filter(|(at, _)| *at <= now && set.outbox.is_empty()) {
                set.settle = None;
                rec.state = if state == KeyState::Enabled
                    && rec.origin == Origin::External
                    && !rec.current_material().is_some_and(|m| m.present())
                {
                    KeyState::PendingImport
                } else {
                    state
                };
            }
        }
        if rec.state == KeyState::Enabled && !rec.is_replica() {
            if let Some(r) = rec.auto_rotation.clone().filter(|r| r.next_ms <= now) {
                rec.auto_rotation =
                    Some(AutoRotation { period_days: r.period_days, next_ms: now + i64::from(r.period_days) * DAY_MS });
                let previous = rec.current_material().map(|m| m.id.clone());
                if let Some(mid) = self.rotate(&mut rec, now, false)? {
                    events.push(event("RotateKey", Some(&mid), previous, Some("AUTOMATIC")));
                }
            }
        }
        let deliver = self.write_record(&old, rec, now).await?;
        for e in &events {
            tracing::debug!(key_id = %id, event = e.event_name, material = ?e.key_material_id, "key material changed");
        }
        self.push_events(events);
        Ok(Pass { changed: true, deliver })
    }

    /// Destroy a key whose deletion window has ended: its record, grants
    /// and aliases.
    pub(super) async fn destroy(&self, rec: &KeyRecord, now: i64) -> Result<JobEvent> {
        let id = rec.key_id.as_str();
        self.store.delete_key(id).await?;
        self.hsm_destroy(rec).await;
        self.release_key(&rec.account).await;
        self.evict(id)?;
        self.aliases.write().map_err(super::poisoned)?.retain(|_, a| a.target_key_id != id);
        tracing::info!(key_id = %id, "key deleted: its deletion window ended");
        Ok(JobEvent {
            event_name: "DeleteKey",
            account: rec.account.clone(),
            key_arn: self.loc.key_arn(&rec.account, id),
            key_origin: rec.origin.as_str(),
            key_material_id: None,
            previous_key_material_id: None,
            rotation_type: None,
            at_ms: now,
        })
    }

    pub(super) fn push_events(&self, events: Vec<JobEvent>) {
        if let Ok(mut q) = self.job_events.lock() {
            q.extend(events);
        }
    }

    /// Rotate a key's material: a new AES-256 material for keys whose
    /// material KMS makes, the imported material pending rotation for
    /// `EXTERNAL` keys. Returns the new current material's id, or `None`
    /// when there is nothing to rotate to.
    pub(super) fn rotate(&self, rec: &mut KeyRecord, now: i64, on_demand: bool) -> Result<Option<String>> {
        let rotation = Some(RotationRecord { at_ms: now, on_demand });
        if rec.origin == Origin::External {
            let Some(i) = rec.materials.iter().position(|m| m.pending_rotation) else {
                return Ok(None);
            };
            let mut m = rec.materials.remove(i);
            m.pending_rotation = false;
            m.rotation = rotation;
            let id = m.id.clone();
            // The current material is the newest one not pending.
            rec.materials.push(m);
            return Ok(Some(id));
        }
        let m = self.new_material(&rec.key_id, KeyMaterial::generate()?.expose(), now, rotation)?;
        let id = m.id.clone();
        rec.materials.push(m);
        Ok(Some(id))
    }
}
