//! Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, and the sync that
//! keeps every key of a set at its primary's shared properties (key
//! material, key spec, usage, origin, automatic rotation).
//!
//! A change is queued, never pushed in place: a local change of a primary's
//! shared properties (`queue_syncs`, called by every local write of a key
//! record) raises the set's generation and puts one [`Outbound`] per other
//! region in the record itself, so that it survives a restart. The
//! background job delivers what is due (`deliver_outbox`), without holding
//! the write lock, to the region's [`Kms`] in this server or to the peer
//! serving it ([`Regions::deliver`]), and retries failures with backoff. A
//! sync carries the whole shared state, so applying it twice, or an older
//! one after a newer one (refused by generation), changes nothing.

use serde::{Deserialize, Serialize};

use super::{Access, Aliases, JobEvent, Kms, Regions, RequestContext};
use crate::error::{Error, Result};
use crate::model::*;
use crate::types::*;

/// The version of [`PeerMessage`]s this build sends and reads.
pub const PROTOCOL_VERSION: u32 = 1;

/// A message between the regions of a multi-Region key (JSON between servers).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PeerMessage {
    /// A key's shared properties, from the region that changed them.
    Sync(Box<ReplicaSync>),
    /// A replica was destroyed (from its region to the primary's).
    ReplicaDeleted(ReplicaDeleted),
}

impl PeerMessage {
    pub fn version(&self) -> u32 {
        match self {
            PeerMessage::Sync(m) => m.version,
            PeerMessage::ReplicaDeleted(m) => m.version,
        }
    }
    /// The region the message is for.
    pub fn to_region(&self) -> &str {
        match self {
            PeerMessage::Sync(m) => &m.to_region,
            PeerMessage::ReplicaDeleted(m) => &m.to_region,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaSync {
    pub version: u32,
    pub to_region: String,
    pub from_region: String,
    pub account: String,
    pub key_id: String,
    pub generation: u64,
    pub primary_region: String,
    pub replica_regions: Vec<String>,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    #[serde(default, with = "crate::model::opt_b64", skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotation: Option<AutoRotation>,
    /// The primary's materials, oldest first.
    pub materials: Vec<SyncedMaterial>,
    /// How `materials[].wrapped` are sealed.
    pub wrap: Wrap,
    /// Only in the first sync to a new replica: its independent properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<NewReplica>,
}

/// One material of the primary. Imported material is never sent (each
/// region imports it): `wrapped` is empty for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncedMaterial {
    pub id: String,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationRecord>,
    #[serde(default)]
    pub pending_rotation: bool,
    #[serde(default, with = "crate::model::b64")]
    pub wrapped: Vec<u8>,
}

/// How the materials of a sync are sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Wrap {
    /// Under this server's root key (between regions of one server; never
    /// on the wire).
    RootKey,
    /// For the receiving server's `PeerKey` (X25519 + HKDF + AES-256-GCM).
    Peer {
        #[serde(with = "crate::model::b64")]
        ephemeral_public: Vec<u8>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaDeleted {
    pub version: u32,
    pub to_region: String,
    /// The replica's region.
    pub from_region: String,
    pub account: String,
    pub key_id: String,
}

/// Delays between attempts to deliver a sync: 1 s doubling to 60 s.
fn backoff_ms(attempts: u32) -> i64 {
    1000i64.saturating_mul(1 << attempts.min(6)).min(60_000)
}

/// What a sync carries, to tell whether a change touched it.
fn shared_view(r: &KeyRecord) -> impl PartialEq {
    let materials: Vec<(String, Option<RotationRecord>, bool)> =
        r.materials.iter().map(|m| (m.id.clone(), m.rotation.clone(), m.pending_rotation)).collect();
    let set = r.multi_region_set.as_ref().map(|s| (s.primary_region.clone(), s.replica_regions.clone()));
    (r.key_spec, r.key_usage, r.origin, r.auto_rotation.clone(), materials, set)
}

impl Kms {
    /// After a local change of a key (from `old` to `rec`, not yet written):
    /// if it is (or was, before UpdatePrimaryRegion) a multi-Region primary
    /// and its shared properties changed, queue a sync to every other region.
    /// Returns whether the outbox has something to deliver.
    pub(super) fn queue_syncs(old: &KeyRecord, rec: &mut KeyRecord, now: i64) -> bool {
        let was_primary = old.multi_region_set.as_ref().is_some_and(MultiRegionSet::is_primary);
        let Some(set) = rec.multi_region_set.as_ref() else { return false };
        if !(set.is_primary() || was_primary) || shared_view(old) == shared_view(rec) {
            return !set.outbox.is_empty();
        }
        let targets: Vec<String> = set.regions().filter(|r| *r != set.region).map(str::to_string).collect();
        let Some(set) = rec.multi_region_set.as_mut() else { return false };
        set.generation += 1;
        for region in targets {
            match set.outbox.iter_mut().find(|o| o.region == region && !o.deleted) {
                Some(o) => {
                    o.attempts = 0;
                    o.next_ms = now;
                }
                None => set.outbox.push(Outbound { region, create: None, deleted: false, attempts: 0, next_ms: now }),
            }
        }
        true
    }

    /// The ARN of this key in `region` (its region by default).
    pub(super) fn arn_in(&self, region: &str, k: &KeyRecord) -> String {
        self.loc.in_region(region).key_arn(&k.account, &k.key_id)
    }

    pub(super) fn multi_region_configuration(&self, k: &KeyRecord) -> Option<MultiRegionConfiguration> {
        let set = k.multi_region_set.as_ref()?;
        let key = |region: &str| MultiRegionKey { arn: Some(self.arn_in(region, k)), region: Some(region.to_string()) };
        Some(MultiRegionConfiguration {
            multi_region_key_type: Some(
                if set.is_primary() { MultiRegionKeyType::Primary } else { MultiRegionKeyType::Replica }
                    .as_str()
                    .to_string(),
            ),
            primary_key: Some(key(&set.primary_region)),
            replica_keys: Some(set.replica_regions.iter().map(|r| key(r)).collect()),
        })
    }

    /// The error for a rotation operation on a replica: rotation is a
    /// shared property, set on the primary.
    pub(super) fn refuse_replica(r: &KeyRecord, arn: &str) -> Result<()> {
        match &r.multi_region_set {
            Some(set) if !set.is_primary() => Err(Error::UnsupportedOperation(format!(
                "{arn} is a multi-Region replica key. Its key material and rotation follow its primary key in {}.",
                set.primary_region
            ))),
            _ => Ok(()),
        }
    }

    fn not_primary(arn: &str) -> Error {
        Error::UnsupportedOperation(format!("{arn} is not a multi-region primary key."))
    }

    /// ReplicateKey's and UpdatePrimaryRegion's state gate: Enabled (a
    /// disabled key: `DisabledException`; any other state, including
    /// `Updating`: `KMSInvalidStateException`).
    fn require_enabled(r: &KeyRecord, arn: &str) -> Result<()> {
        match r.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(Error::Disabled(format!("{arn} is disabled."))),
            _ => Err(Self::invalid_state(r, arn)),
        }
    }

    pub async fn replicate_key(&self, ctx: &RequestContext, req: ReplicateKeyRequest) -> Result<ReplicateKeyResponse> {
        let region = req.replica_region.clone().unwrap_or_default();
        let bypass = req.bypass_policy_lockout_safety_check.unwrap_or(false);
        let tags = Self::merge_tags(vec![], req.tags.clone().unwrap_or_default())?;
        if let Some(p) = &req.policy {
            self.check_policy(ctx, p, bypass)?;
        }
        let access = Access::new("kms:ReplicateKey").with("kms:ReplicaRegion", vec![region.clone()]);
        let regions = self.regions()?;
        let now = self.clock.now_ms();
        let replica = self
            .update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
                if !r.multi_region_set.as_ref().is_some_and(MultiRegionSet::is_primary) {
                    return Err(Self::not_primary(arn));
                }
                // A primary with imported material replicates before it has any.
                if r.state != KeyState::PendingImport {
                    Self::require_enabled(r, arn)?;
                }
                let Some(set) = r.multi_region_set.as_mut() else { return Err(Self::not_primary(arn)) };
                if region == set.region || set.replica_regions.contains(&region) {
                    return Err(Error::AlreadyExists(format!(
                        "Unable to replicate key {} to region {region}, as the key already exist there",
                        r.key_id
                    )));
                }
                if !regions.knows(&region) {
                    return Err(Error::UnsupportedOperation(format!(
                        "Region {region} is not served by this server or by any of its peers."
                    )));
                }
                let policy = req
                    .policy
                    .clone()
                    .unwrap_or_else(|| kms_policy::default_key_policy(&self.loc.partition, &r.account));
                let new =
                    NewReplica { policy, description: req.description.clone().unwrap_or_default(), tags: tags.clone() };
                set.replica_regions.push(region.clone());
                set.outbox.push(Outbound {
                    region: region.clone(),
                    create: Some(new.clone()),
                    deleted: false,
                    attempts: 0,
                    next_ms: now,
                });
                let set = set.clone();
                Ok(Self::replica_record(r, set, &region, &new, now))
            })
            .await?;
        ctx.note_key(&self.arn_in(&region, &replica));
        Ok(ReplicateKeyResponse {
            replica_key_metadata: Some(self.metadata(&replica)),
            replica_policy: Some(replica.policy.clone()),
            replica_tags: Some(
                replica
                    .tags
                    .iter()
                    .map(|(k, v)| Tag { tag_key: Some(k.clone()), tag_value: Some(v.clone()) })
                    .collect(),
            ),
        })
    }

    /// A new replica in `region` of the primary `p` (of the set `set`), as
    /// it starts: `Creating` (settling at once into `Enabled`, or
    /// `PendingImport` for imported material), the primary's shared
    /// properties but no material yet, and its own independent properties.
    fn replica_record(p: &KeyRecord, set: MultiRegionSet, region: &str, new: &NewReplica, now: i64) -> KeyRecord {
        KeyRecord {
            key_id: p.key_id.clone(),
            account: p.account.clone(),
            created_ms: now,
            description: new.description.clone(),
            key_usage: p.key_usage,
            key_spec: p.key_spec,
            origin: p.origin,
            state: KeyState::Creating,
            deletion_ms: None,
            pending_window_days: None,
            policy: new.policy.clone(),
            tags: new.tags.clone(),
            multi_region: true,
            multi_region_set: Some(MultiRegionSet {
                region: region.to_string(),
                outbox: vec![],
                settle: Some((
                    now,
                    if p.origin == Origin::External { KeyState::PendingImport } else { KeyState::Enabled },
                )),
                ..set
            }),
            materials: vec![],
            auto_rotation: p.auto_rotation.clone(),
            on_demand_rotation_ms: None,
            last_usage: None,
            public_key: p.public_key.clone(),
            custom_key_store: None,
            revision: 0,
        }
    }

    pub async fn update_primary_region(&self, ctx: &RequestContext, req: UpdatePrimaryRegionRequest) -> Result<()> {
        let target = req.primary_region.clone().unwrap_or_default();
        let key_id = req.key_id.as_deref().unwrap_or_default();
        let access = Access::new("kms:UpdatePrimaryRegion").with("kms:PrimaryRegion", vec![target.clone()]);
        let regions = self.regions()?;
        // The replica must be Enabled too (AWS: both keys, when the
        // operation starts); checked here for a region of this server.
        let k = self.resolve_as(ctx, key_id, Aliases::Refused, Some(&access)).await?;
        if let Some(other) = regions.get_open(&target).filter(|_| target != self.loc.region) {
            if let Some(rep) = other.store.get_key(&k.record.key_id).await? {
                Self::require_enabled(&rep, &self.arn_in(&target, &rep))?;
            }
        }
        let now = self.clock.now_ms();
        self.update_key(ctx, key_id, &access, |r, arn| {
            let own = self.loc.region.clone();
            let replica_arn = self.arn_in(&target, r);
            if !r.multi_region_set.as_ref().is_some_and(MultiRegionSet::is_primary) {
                return Err(Self::not_primary(arn));
            }
            Self::require_enabled(r, arn)?;
            let Some(set) = r.multi_region_set.as_mut() else { return Err(Self::not_primary(arn)) };
            if target == own {
                return Err(Error::UnsupportedOperation(format!("{arn} is already the primary key, in {own}.")));
            }
            if !set.replica_regions.contains(&target) {
                return Err(Error::NotFound(format!("Key '{replica_arn}' does not exist")));
            }
            set.replica_regions.retain(|x| *x != target);
            set.replica_regions.insert(0, own);
            set.primary_region = target.clone();
            // Updating until every region has the change.
            set.settle = Some((now, r.state));
            r.state = KeyState::Updating;
            Ok(())
        })
        .await
    }

    /// Deliver a key's queued syncs at once when every region they go to
    /// is one of this server's (so that the replica exists when the call
    /// returns); otherwise the background job delivers them.
    pub(super) async fn deliver_now(&self, key_id: &str, targets: &[String]) {
        let Ok(regions) = self.regions() else { return };
        if targets.iter().all(|t| regions.get_open(t).is_some()) {
            if let Err(e) = self.deliver_outbox(key_id, self.clock.now_ms()).await {
                tracing::warn!(key_id, error = %e, "multi-Region sync not delivered; the background job retries");
            }
        }
        regions.wake_jobs();
    }

    /// The message an outbox entry stands for.
    fn outbound_message(&self, rec: &KeyRecord, set: &MultiRegionSet, out: &Outbound) -> PeerMessage {
        if out.deleted {
            return PeerMessage::ReplicaDeleted(ReplicaDeleted {
                version: PROTOCOL_VERSION,
                to_region: out.region.clone(),
                from_region: set.region.clone(),
                account: rec.account.clone(),
                key_id: rec.key_id.clone(),
            });
        }
        let imported = rec.origin == Origin::External;
        PeerMessage::Sync(Box::new(ReplicaSync {
            version: PROTOCOL_VERSION,
            to_region: out.region.clone(),
            from_region: set.region.clone(),
            account: rec.account.clone(),
            key_id: rec.key_id.clone(),
            generation: set.generation,
            primary_region: set.primary_region.clone(),
            replica_regions: set.replica_regions.clone(),
            key_spec: rec.key_spec,
            key_usage: rec.key_usage,
            origin: rec.origin,
            public_key: rec.public_key.clone(),
            auto_rotation: rec.auto_rotation.clone(),
            materials: rec
                .materials
                .iter()
                .map(|m| SyncedMaterial {
                    id: m.id.clone(),
                    created_ms: m.created_ms,
                    rotation: m.rotation.clone(),
                    pending_rotation: m.pending_rotation,
                    wrapped: if imported { vec![] } else { m.sealed.clone() },
                })
                .collect(),
            wrap: Wrap::RootKey,
            create: out.create.clone(),
        }))
    }

    /// Deliver what is due in a key's outbox (without the write lock: a
    /// delivery to another region of this server takes that region's), then
    /// record the outcome: delivered entries leave the outbox, failed ones
    /// are retried with backoff. A replica whose deletion the primary has
    /// acknowledged is destroyed.
    pub(super) async fn deliver_outbox(&self, key_id: &str, now: i64) -> Result<()> {
        let Some(rec) = self.store.get_key(key_id).await? else { return Ok(()) };
        let Some(set) = rec.multi_region_set.as_ref() else { return Ok(()) };
        let due: Vec<&Outbound> = set.outbox.iter().filter(|o| o.next_ms <= now).collect();
        if due.is_empty() {
            return Ok(());
        }
        let regions = self.regions()?;
        let mut outcomes = Vec::with_capacity(due.len());
        for out in due {
            let msg = self.outbound_message(&rec, set, out);
            let result = regions.deliver(msg).await;
            if let Err(e) = &result {
                tracing::warn!(key_id, to = %out.region, attempts = out.attempts + 1, error = %e, "multi-Region sync not delivered; retrying later");
            }
            outcomes.push((out.region.clone(), out.deleted, result.is_ok()));
        }
        let generation = set.generation;
        let _w = self.write_lock.lock().await;
        let Some(mut rec) = self.store.get_key(key_id).await? else { return Ok(()) };
        let Some(set) = rec.multi_region_set.as_mut() else { return Ok(()) };
        let mut destroy = false;
        for (region, deleted, ok) in outcomes {
            let Some(i) = set.outbox.iter().position(|o| o.region == region && o.deleted == deleted) else { continue };
            if !ok {
                let o = &mut set.outbox[i];
                o.attempts += 1;
                o.next_ms = now + backoff_ms(o.attempts);
            } else if deleted {
                set.outbox.remove(i);
                destroy = true;
            } else if set.generation == generation {
                set.outbox.remove(i);
            } else {
                // A newer change is queued for it; the replica exists now.
                set.outbox[i].create = None;
            }
        }
        if destroy {
            let event = self.destroy(&rec, now).await?;
            self.push_events(vec![event]);
            return Ok(());
        }
        self.put_record(&mut rec).await?;
        self.evict(key_id)?;
        Ok(())
    }

    /// Apply a message from another region of the key's set.
    pub async fn receive(&self, msg: PeerMessage) -> Result<()> {
        match msg {
            PeerMessage::Sync(m) => self.receive_sync(*m).await,
            PeerMessage::ReplicaDeleted(m) => self.receive_replica_deleted(m).await,
        }
    }

    /// A sync (materials already sealed under this server's root key): the
    /// key's shared properties become the sender's; a new replica is made
    /// (`Creating`, settling at once); a key that becomes the primary is
    /// `Updating` for a moment.
    async fn receive_sync(&self, m: ReplicaSync) -> Result<()> {
        if m.wrap != Wrap::RootKey {
            return Err(Error::internal("a sync reached a region with its materials still wrapped for transport"));
        }
        let _w = self.write_lock.lock().await;
        let now = self.clock.now_ms();
        let existing = self.store.get_key(&m.key_id).await?;
        let created = existing.is_none();
        let mut rec = match existing {
            Some(r) => {
                if r.account != m.account || r.multi_region_set.is_none() {
                    return Err(Error::internal("a sync named a key that is not part of this multi-Region set"));
                }
                if r.multi_region_set.as_ref().is_some_and(|s| s.generation > m.generation) {
                    return Ok(());
                }
                r
            }
            None => {
                // A replica destroyed meanwhile, or never made: nothing to update.
                let Some(new) = &m.create else { return Ok(()) };
                // The shared properties are applied below.
                let shared = KeyRecord {
                    key_id: m.key_id.clone(),
                    account: m.account.clone(),
                    created_ms: now,
                    description: String::new(),
                    key_usage: m.key_usage,
                    key_spec: m.key_spec,
                    origin: m.origin,
                    state: KeyState::Creating,
                    deletion_ms: None,
                    pending_window_days: None,
                    policy: String::new(),
                    tags: vec![],
                    multi_region: true,
                    multi_region_set: None,
                    materials: vec![],
                    auto_rotation: None,
                    on_demand_rotation_ms: None,
                    last_usage: None,
                    public_key: None,
                    custom_key_store: None,
                    revision: 0,
                };
                let set = MultiRegionSet {
                    region: self.loc.region.clone(),
                    primary_region: m.primary_region.clone(),
                    replica_regions: vec![],
                    generation: 0,
                    outbox: vec![],
                    settle: None,
                    primary_materials: vec![],
                };
                Self::replica_record(&shared, set, &self.loc.region, new, now)
            }
        };
        let was_primary = rec.multi_region_set.as_ref().is_some_and(MultiRegionSet::is_primary);
        rec.key_spec = m.key_spec;
        rec.key_usage = m.key_usage;
        rec.origin = m.origin;
        rec.public_key = m.public_key;
        rec.auto_rotation = m.auto_rotation;
        if m.origin != Origin::External {
            rec.materials = m
                .materials
                .iter()
                .map(|sm| match rec.materials.iter().find(|x| x.id == sm.id) {
                    Some(x) => MaterialRecord {
                        rotation: sm.rotation.clone(),
                        pending_rotation: sm.pending_rotation,
                        ..x.clone()
                    },
                    None => MaterialRecord {
                        id: sm.id.clone(),
                        sealed: sm.wrapped.clone(),
                        created_ms: sm.created_ms,
                        rotation: sm.rotation.clone(),
                        pending_rotation: sm.pending_rotation,
                        import: None,
                        in_hsm: false,
                    },
                })
                .collect();
        }
        let region = self.loc.region.clone();
        let Some(set) = rec.multi_region_set.as_mut() else { return Err(Error::internal("multi-Region set")) };
        set.region = region;
        set.primary_region = m.primary_region;
        set.replica_regions = m.replica_regions;
        set.generation = m.generation;
        set.primary_materials = m.materials.iter().map(|x| x.id.clone()).collect();
        if !created && set.is_primary() && !was_primary {
            // UpdatePrimaryRegion made this key the primary.
            let prior = match set.settle.take() {
                Some((_, s)) => s,
                None => rec.state,
            };
            set.settle = Some((now, prior));
            rec.state = KeyState::Updating;
        }
        // A new replica is a key of its region's account like any other.
        if created {
            self.reserve_key(&rec.account).await?;
        }
        if let Err(e) = self.put_record(&mut rec).await {
            if created {
                self.release_key(&rec.account).await;
            }
            return Err(e);
        }
        self.evict(&rec.key_id)?;
        self.push_events(vec![JobEvent {
            event_name: if created { "ReplicateKey" } else { "SynchronizeMultiRegionKey" },
            account: rec.account.clone(),
            key_arn: self.arn_in(&self.loc.region, &rec),
            key_origin: rec.origin.as_str(),
            key_material_id: rec.current_material().map(|x| x.id.clone()),
            previous_key_material_id: None,
            rotation_type: None,
            at_ms: now,
        }]);
        self.shared.jobs_wake.notify_one();
        Ok(())
    }

    /// A replica is gone: it leaves the set; a primary waiting for its
    /// replicas' deletion (`PendingReplicaDeletion`) starts its own window
    /// when the last one goes.
    async fn receive_replica_deleted(&self, m: ReplicaDeleted) -> Result<()> {
        let _w = self.write_lock.lock().await;
        let now = self.clock.now_ms();
        let Some(mut rec) = self.store.get_key(&m.key_id).await? else { return Ok(()) };
        if rec.account != m.account {
            return Ok(());
        }
        let old = rec.clone();
        let Some(set) = rec.multi_region_set.as_mut() else { return Ok(()) };
        set.replica_regions.retain(|r| *r != m.from_region);
        set.outbox.retain(|o| o.region != m.from_region);
        if rec.state == KeyState::PendingReplicaDeletion && set.replica_regions.is_empty() {
            let days = i64::from(rec.pending_window_days.unwrap_or(30));
            rec.state = KeyState::PendingDeletion;
            rec.deletion_ms = Some(now + days * super::DAY_MS);
        }
        self.write_record(&old, rec, now).await.map(drop)
    }
}

impl Regions {
    /// Deliver a message to the region it is for: this server's, or the
    /// peer's (the materials re-wrapped for that peer first).
    pub(crate) async fn deliver(&self, mut msg: PeerMessage) -> Result<()> {
        let to = msg.to_region().to_string();
        if let Some(k) = self.get(&to).await? {
            return k.receive(msg).await;
        }
        let Some(peer) = self.peer(&to) else {
            return Err(Error::PeerUnavailable(format!("no server of this deployment serves region {to}")));
        };
        if let PeerMessage::Sync(m) = &mut msg {
            if m.materials.iter().any(|x| !x.wrapped.is_empty()) {
                let receiver = peer.wrapping_key().await?;
                let w = crate::crypto::PeerWrap::new(&receiver)?;
                for x in m.materials.iter_mut().filter(|x| !x.wrapped.is_empty()) {
                    let binding = KeyRecord::material_binding(&m.key_id, &x.id);
                    let raw = self.shared.root.open(&binding, &x.wrapped)?;
                    x.wrapped = w.seal(&binding, raw.expose())?;
                }
                m.wrap = Wrap::Peer { ephemeral_public: w.ephemeral_public.clone() };
            }
        }
        peer.deliver(&msg).await
    }

    /// A message from a peer: its materials opened with this server's peer
    /// key and sealed under the root key, then applied by the region it is
    /// for.
    pub async fn receive(&self, mut msg: PeerMessage) -> Result<()> {
        if msg.version() != PROTOCOL_VERSION {
            return Err(Error::Validation(format!(
                "peer protocol version {} is not supported (this server speaks {PROTOCOL_VERSION})",
                msg.version()
            )));
        }
        let to = msg.to_region().to_string();
        let Some(k) = self.get(&to).await? else {
            return Err(Error::NotFound(format!("this server does not serve region {to}")));
        };
        if let PeerMessage::Sync(m) = &mut msg {
            match &m.wrap {
                // Only this server's own regions seal under its root key.
                Wrap::RootKey if m.materials.iter().any(|x| !x.wrapped.is_empty()) => {
                    return Err(Error::Validation("a peer's key material must be wrapped for this server".into()));
                }
                Wrap::RootKey => {}
                Wrap::Peer { ephemeral_public } => {
                    let unwrap = self.peer_key().await?.unwrapper(ephemeral_public)?;
                    for x in m.materials.iter_mut().filter(|x| !x.wrapped.is_empty()) {
                        let binding = KeyRecord::material_binding(&m.key_id, &x.id);
                        let raw = unwrap.open(&binding, &x.wrapped)?;
                        x.wrapped = self.shared.root.seal(&binding, raw.expose())?;
                    }
                    m.wrap = Wrap::RootKey;
                }
            }
        }
        k.receive(msg).await
    }

    /// This server's public key for material that peers replicate to it.
    pub async fn peer_public_key(&self) -> Result<Vec<u8>> {
        self.peer_key().await?.public()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_messages_keep_their_wire_form() {
        for seed in [
            include_str!("../../../../fuzz/seeds/peer_message/sync.json"),
            include_str!("../../../../fuzz/seeds/peer_message/deleted.json"),
        ] {
            let m: PeerMessage = serde_json::from_str(seed).unwrap();
            assert_eq!(m.version(), PROTOCOL_VERSION);
            let v: serde_json::Value = serde_json::from_str(seed).unwrap();
            assert_eq!(serde_json::to_value(&m).unwrap(), v);
        }
        assert!(serde_json::from_str::<PeerMessage>(r#"{"type":"Nope","version":1}"#).is_err());
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        assert_eq!((backoff_ms(0), backoff_ms(1), backoff_ms(5), backoff_ms(40)), (1000, 2000, 32_000, 60_000));
    }
}
