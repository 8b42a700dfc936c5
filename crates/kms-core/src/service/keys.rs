//! Key lifecycle: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription,
//! EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion,
//! GetKeyLastUsage.

use super::asymmetric::{self, crypto_spec};
use super::{Access, Kms, RequestContext};
use crate::crypto::{KeyMaterial, SecretBytes};
use crate::error::{Error, Result};
use crate::ids;
use crate::model::*;
use crate::types::*;

use super::DAY_MS;
pub(super) const DEFAULT_LIST_LIMIT: i64 = 100;

/// What a seed fixes of a new key (service/seed.rs): its id and, if given,
/// its material (checked against the key spec).
pub(super) struct FixedKey {
    pub key_id: String,
    pub material: Option<kms_crypto::KeyPair>,
}
/// The tag that lets ScheduleKeyDeletion delete a key the deletion guard
/// would keep ([`Kms::with_deletion_guard`]).
pub const ALLOW_DELETION_TAG: &str = "kms-allow-deletion-in-use";

impl Kms {
    pub(super) fn metadata(&self, k: &KeyRecord) -> KeyMetadata {
        let symmetric = k.key_spec == KeySpec::SymmetricDefault;
        let algorithms = asymmetric::algorithms(k.key_spec, k.key_usage);
        let valid_to = k.materials.iter().filter(|m| !m.pending_rotation).filter_map(MaterialRecord::expires_ms).min();
        KeyMetadata {
            aws_account_id: Some(k.account.clone()),
            key_id: Some(k.key_id.clone()),
            // A replica that ReplicateKey describes lives in another region.
            arn: Some(self.arn_in(k.multi_region_set.as_ref().map_or(&self.loc.region, |s| &s.region), k)),
            multi_region_configuration: self.multi_region_configuration(k),
            creation_date: Some(epoch_seconds(k.created_ms)),
            enabled: Some(k.state == KeyState::Enabled),
            description: Some(k.description.clone()),
            key_usage: Some(k.key_usage.as_str().to_string()),
            key_state: Some(k.state.as_str().to_string()),
            deletion_date: k.deletion_ms.map(epoch_seconds),
            origin: Some(k.origin.as_str().to_string()),
            key_manager: Some(KeyManager::Customer.as_str().to_string()),
            customer_master_key_spec: asymmetric::customer_master_key_spec(k.key_spec),
            key_spec: Some(k.key_spec.as_str().to_string()),
            encryption_algorithms: algorithms.encryption,
            signing_algorithms: algorithms.signing,
            mac_algorithms: algorithms.mac,
            key_agreement_algorithms: algorithms.key_agreement,
            encapsulation_algorithms: algorithms.encapsulation,
            multi_region: Some(k.multi_region),
            pending_deletion_window_in_days: k.pending_window_days,
            // AWS reports material ids for symmetric encryption keys only
            // (and keeps it after imported material is deleted).
            current_key_material_id: symmetric.then(|| k.current_material().map(|m| m.id.clone())).flatten(),
            // Imported material that is here and not pending rotation: the
            // earliest ValidTo, and whether any expires.
            expiration_model: (k.origin == Origin::External && k.current_material().is_some_and(|m| m.present())).then(
                || {
                    if valid_to.is_some() {
                        ExpirationModelType::KeyMaterialExpires
                    } else {
                        ExpirationModelType::KeyMaterialDoesNotExpire
                    }
                    .as_str()
                    .to_string()
                },
            ),
            valid_to: valid_to.map(epoch_seconds),
            custom_key_store_id: k.custom_key_store.as_ref().map(|c| c.id.clone()),
            cloud_hsm_cluster_id: k.custom_key_store.as_ref().and_then(|c| self.cluster_of(&c.id)),
            xks_key_configuration: k
                .custom_key_store
                .as_ref()
                .and_then(|c| c.xks_key_id.clone())
                .map(|id| XksKeyConfiguration { id: Some(id) }),
        }
    }

    pub async fn create_key(&self, ctx: &RequestContext, req: CreateKeyRequest) -> Result<CreateKeyResponse> {
        self.create_key_as(ctx, req, None).await
    }

    /// CreateKey, with the key id and material a seed fixes (`fixed`).
    pub(super) async fn create_key_as(
        &self,
        ctx: &RequestContext,
        req: CreateKeyRequest,
        fixed: Option<FixedKey>,
    ) -> Result<CreateKeyResponse> {
        let tags = req.tags.clone().unwrap_or_default();
        let mut access = Access::new("kms:CreateKey")
            .with(
                "kms:BypassPolicyLockoutSafetyCheck",
                vec![req.bypass_policy_lockout_safety_check.unwrap_or(false).to_string()],
            )
            .with("kms:KeySpec", vec![req.key_spec.clone().unwrap_or_else(|| "SYMMETRIC_DEFAULT".into())])
            .with("kms:KeyUsage", vec![req.key_usage.clone().unwrap_or_else(|| "ENCRYPT_DECRYPT".into())])
            .with("kms:KeyOrigin", vec![req.origin.clone().unwrap_or_else(|| "AWS_KMS".into())])
            .with("kms:MultiRegion", vec![req.multi_region.unwrap_or(false).to_string()]);
        if !tags.is_empty() {
            access = access.with("aws:TagKeys", tags.iter().map(|t| t.tag_key.clone().unwrap_or_default()).collect());
            for t in &tags {
                let key = format!("aws:RequestTag/{}", t.tag_key.as_deref().unwrap_or_default());
                access = access.with(&key, vec![t.tag_value.clone().unwrap_or_default()]);
            }
        }
        self.authorize_identity(ctx, &access)?;
        let account = ctx.principal.account.clone();
        let spec = match (&req.key_spec, &req.customer_master_key_spec) {
            (Some(_), Some(_)) => {
                return Err(Error::Validation(
                    "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
                ))
            }
            (Some(s), None) | (None, Some(s)) => KeySpec::parse(s).ok_or_else(|| Error::internal("validated enum"))?,
            (None, None) => KeySpec::SymmetricDefault,
        };
        asymmetric::fips_check(spec.as_str())?;
        let usage = Self::key_usage_for(spec, req.key_usage.as_deref())?;
        let origin = match &req.origin {
            Some(o) => Origin::parse(o).ok_or_else(|| Error::internal("validated enum"))?,
            None => Origin::AwsKms,
        };
        let custom_key_store = req.custom_key_store_id.as_deref();
        match (origin, custom_key_store) {
            (Origin::AwsCloudhsm | Origin::ExternalKeyStore, None) => {
                return Err(Error::UnsupportedOperation(format!(
                    "Origin {origin} requires a CustomKeyStoreId: the custom key store to create the key in."
                )))
            }
            (Origin::AwsKms | Origin::External, Some(_)) => {
                return Err(Error::UnsupportedOperation(format!(
                    "A CustomKeyStoreId requires Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE, not {origin}."
                )))
            }
            (_, Some(store)) => {
                self.check_store_origin(ctx, store, origin)?;
                if spec != KeySpec::SymmetricDefault || req.multi_region == Some(true) {
                    return Err(Error::UnsupportedOperation(
                        "Keys in custom key stores are single-Region symmetric encryption keys (KeySpec SYMMETRIC_DEFAULT) only.".into(),
                    ));
                }
                if fixed.is_some() {
                    return Err(Error::UnsupportedOperation(
                        "A seed cannot fix the material of a key in a custom key store.".into(),
                    ));
                }
            }
            _ => {}
        }
        let xks_key_id = match (origin, req.xks_key_id) {
            (Origin::ExternalKeyStore, Some(x)) => Some(x),
            (Origin::ExternalKeyStore, None) => {
                return Err(Error::Validation("XksKeyId is required when Origin is EXTERNAL_KEY_STORE.".into()))
            }
            (_, Some(_)) => {
                return Err(Error::Validation("XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.".into()))
            }
            (_, None) => None,
        };
        if let (Some(x), Some(store)) = (&xks_key_id, custom_key_store) {
            self.xks_check_key(ctx, store, x).await?;
        }
        if origin == Origin::External && matches!(crypto_spec(spec), Some(cs) if cs.is_ml_kem() || cs.is_ml_dsa()) {
            return Err(Error::UnsupportedOperation(format!("KeySpec {spec} is not supported for Origin {origin}.")));
        }
        let policy = match req.policy {
            Some(p) => {
                self.check_policy(ctx, &p, req.bypass_policy_lockout_safety_check.unwrap_or(false))?;
                p
            }
            None => kms_policy::default_key_policy(&self.loc.partition, &account),
        };
        let tags = Self::merge_tags(vec![], req.tags.unwrap_or_default())?;
        let multi_region = req.multi_region == Some(true);
        let (key_id, fixed_material) = match fixed {
            Some(f) => (f.key_id, f.material),
            None if multi_region => (ids::new_multi_region_key_id()?, None),
            None => (ids::new_key_id()?, None),
        };
        let now = self.clock.now_ms();
        // The key's material: an AES-256 key, or (generated on a blocking
        // thread) a private key in PKCS#8 with its public key, or an HMAC
        // key; none yet for imported material.
        let (materials, public_key) = match origin {
            Origin::External => (vec![], None),
            // Made in the store's HSM, never here: the record says where.
            Origin::AwsCloudhsm => {
                self.hsm_generate(ctx, custom_key_store.unwrap_or_default(), &key_id).await?;
                let mut mid = [0u8; 32];
                crate::crypto::fill_random(&mut mid)?;
                let m = MaterialRecord {
                    id: crate::crypto::hex(&mid),
                    sealed: vec![],
                    created_ms: now,
                    rotation: None,
                    pending_rotation: false,
                    import: None,
                    in_hsm: true,
                };
                (vec![m], None)
            }
            _ => {
                let seeded = fixed_material.is_some();
                let (material, public_key) = match (fixed_material, crypto_spec(spec)) {
                    (Some(m), _) => (m.private_key, m.public_key),
                    (None, None) => (SecretBytes::new(KeyMaterial::generate()?.expose().to_vec()), None),
                    (None, Some(cs)) => {
                        let pair = asymmetric::generate(cs).await?;
                        (pair.private_key, pair.public_key)
                    }
                };
                // Seeded material has the same id wherever it is seeded, so
                // that its ciphertexts decrypt in every server seeded alike.
                let m = match seeded {
                    true => {
                        let id = crate::crypto::seed_material_id(&key_id, material.expose());
                        self.material_record(&key_id, id, material.expose(), now, None)?
                    }
                    false => self.new_material(&key_id, material.expose(), now, None)?,
                };
                (vec![m], public_key)
            }
        };
        let mut record = KeyRecord {
            key_id: key_id.clone(),
            account,
            created_ms: now,
            description: req.description.unwrap_or_default(),
            key_usage: usage,
            key_spec: spec,
            origin,
            state: if origin == Origin::External { KeyState::PendingImport } else { KeyState::Enabled },
            deletion_ms: None,
            pending_window_days: None,
            policy,
            tags,
            multi_region,
            multi_region_set: multi_region.then(|| MultiRegionSet {
                region: self.loc.region.clone(),
                primary_region: self.loc.region.clone(),
                replica_regions: vec![],
                generation: 1,
                outbox: vec![],
                settle: None,
                primary_materials: vec![],
            }),
            materials,
            auto_rotation: None,
            on_demand_rotation_ms: None,
            last_usage: None,
            public_key,
            custom_key_store: custom_key_store.map(|s| {
                let mut place = Self::new_place(s);
                place.xks_key_id = xks_key_id;
                place
            }),
            revision: 0,
        };
        // A key made in an HSM for nothing is destroyed there.
        if let Err(e) = self.reserve_key(&record.account).await {
            self.hsm_destroy(&record).await;
            return Err(e);
        }
        if let Err(e) = self.put_record(&mut record).await {
            self.release_key(&record.account).await;
            self.hsm_destroy(&record).await;
            return Err(e);
        }
        ctx.note_key(&self.loc.key_arn(&record.account, &record.key_id));
        // Not cached here: the key cache fills on first use, so creating
        // many keys does not crowd out the keys in use.
        Ok(CreateKeyResponse { key_metadata: Some(self.metadata(&record)) })
    }

    /// The key usage of a new key of `spec`, with AWS's rules: the default
    /// `ENCRYPT_DECRYPT` where the spec allows it, else `KeyUsage` is
    /// required; and it must be one the spec allows.
    fn key_usage_for(spec: KeySpec, requested: Option<&str>) -> Result<KeyUsage> {
        let allows = |u: KeyUsage| match crypto_spec(spec) {
            Some(cs) => kms_crypto::KeyUsage::parse(u.as_str()).is_some_and(|cu| cs.allows_usage(cu)),
            None => u == KeyUsage::EncryptDecrypt,
        };
        let usage = match requested {
            Some(u) => KeyUsage::parse(u).ok_or_else(|| Error::internal("validated enum"))?,
            None if allows(KeyUsage::EncryptDecrypt) => KeyUsage::EncryptDecrypt,
            None => {
                return Err(Error::Validation(
                    "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into(),
                ))
            }
        };
        if !allows(usage) {
            return Err(Error::Validation(format!("KeyUsage {usage} is not compatible with KeySpec {spec}")));
        }
        Ok(usage)
    }

    pub async fn describe_key(&self, ctx: &RequestContext, req: DescribeKeyRequest) -> Result<DescribeKeyResponse> {
        let k = self.resolve(ctx, req.key_id.as_deref().unwrap_or_default(), &Access::new("kms:DescribeKey")).await?;
        Ok(DescribeKeyResponse { key_metadata: Some(self.metadata(&k.record)) })
    }

    pub async fn list_keys(&self, ctx: &RequestContext, req: ListKeysRequest) -> Result<ListKeysResponse> {
        self.authorize_identity(ctx, &Access::new("kms:ListKeys"))?;
        if let Some(m) = &req.marker {
            if !ids::is_key_id(m) {
                return Err(Error::InvalidMarker("Invalid marker".into()));
            }
        }
        // There is no Resource Access Manager here, so no key is shared
        // through it: OTHER_ACCOUNTS_VIA_RAM alone lists nothing.
        if req.resource_owners.as_deref().is_some_and(|o| !o.iter().any(|o| o == ResourceOwnerType::SelfValue.as_str()))
        {
            return Ok(ListKeysResponse { keys: Some(vec![]), next_marker: None, truncated: Some(false) });
        }
        let limit = req.limit.map_or(DEFAULT_LIST_LIMIT, i64::from) as usize;
        let account = &ctx.principal.account;
        let mut ids = self.store.list_key_ids(account, req.marker.as_deref(), limit + 1).await?;
        let truncated = ids.len() > limit;
        ids.truncate(limit);
        let next_marker = if truncated { ids.last().cloned() } else { None };
        Ok(ListKeysResponse {
            keys: Some(
                ids.into_iter()
                    .map(|id| KeyListEntry { key_arn: Some(self.loc.key_arn(account, &id)), key_id: Some(id) })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }

    pub async fn update_key_description(&self, ctx: &RequestContext, req: UpdateKeyDescriptionRequest) -> Result<()> {
        let description = req.description.unwrap_or_default();
        self.update_key(
            ctx,
            req.key_id.as_deref().unwrap_or_default(),
            &Access::new("kms:UpdateKeyDescription"),
            |r, arn| {
                Self::manageable(r, arn)?;
                r.description = description.clone();
                Ok(())
            },
        )
        .await
    }

    pub async fn enable_key(&self, ctx: &RequestContext, req: EnableKeyRequest) -> Result<()> {
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &Access::new("kms:EnableKey"), |r, arn| {
            Self::enabled_or_disabled(r, arn)?;
            r.state = KeyState::Enabled;
            Ok(())
        })
        .await
    }

    pub async fn disable_key(&self, ctx: &RequestContext, req: DisableKeyRequest) -> Result<()> {
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &Access::new("kms:DisableKey"), |r, arn| {
            Self::enabled_or_disabled(r, arn)?;
            r.state = KeyState::Disabled;
            Ok(())
        })
        .await
    }

    pub async fn schedule_key_deletion(
        &self,
        ctx: &RequestContext,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse> {
        let days = i64::from(req.pending_window_in_days.unwrap_or(30));
        // The model allows 1-365; AWS's service takes 7-30.
        let mut v = crate::validate::Validator::default();
        v.range("pendingWindowInDays", Some(days), 7, 30);
        v.finish()?;
        let now = self.clock.now_ms();
        let access = Access::new("kms:ScheduleKeyDeletion");
        if self.shared.deletion_guard_days > 0 {
            let k = self
                .resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), super::Aliases::Refused, Some(&access))
                .await?;
            self.check_deletion_guard(&k, now)?;
        }
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
            Self::manageable(r, arn)?;
            r.pending_window_days = Some(days as i32);
            // A primary with replicas waits for them: its window starts
            // when the last replica is deleted (no DeletionDate until then).
            if r.multi_region_set.as_ref().is_some_and(|s| s.is_primary() && !s.replica_regions.is_empty()) {
                r.state = KeyState::PendingReplicaDeletion;
                r.deletion_ms = None;
            } else {
                r.state = KeyState::PendingDeletion;
                r.deletion_ms = Some(now + days * DAY_MS);
            }
            Ok(ScheduleKeyDeletionResponse {
                key_id: Some(arn.to_string()),
                deletion_date: r.deletion_ms.map(epoch_seconds),
                key_state: Some(r.state.as_str().into()),
                pending_window_in_days: Some(days as i32),
            })
        })
        .await
    }

    /// Safe deletion (beyond AWS, off unless configured): a key used
    /// within the guard's days is not scheduled for deletion, unless it is
    /// tagged [`ALLOW_DELETION_TAG`]`=true`. AWS recommends this check
    /// (GetKeyLastUsage, CloudTrail) and leaves it to the user.
    fn check_deletion_guard(&self, k: &super::LiveKey, now: i64) -> Result<()> {
        let Some(u) = k.last_usage() else { return Ok(()) };
        let days = i64::from(self.shared.deletion_guard_days);
        let overridden = k.record.tags.iter().any(|(t, v)| t == ALLOW_DELETION_TAG && v.eq_ignore_ascii_case("true"));
        if overridden || u.at_ms < now - days * DAY_MS {
            return Ok(());
        }
        Err(Error::InvalidState(format!(
            "{} was used by {} at {} (request {}), within the last {days} days: this server refuses to schedule its deletion (deletion.refuse_if_used_within_days). Tag the key {ALLOW_DELETION_TAG}=true to delete it anyway.",
            k.arn,
            u.operation,
            crate::time::rfc3339(u.at_ms),
            u.request_id
        )))
    }

    pub async fn cancel_key_deletion(
        &self,
        ctx: &RequestContext,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse> {
        self.update_key(
            ctx,
            req.key_id.as_deref().unwrap_or_default(),
            &Access::new("kms:CancelKeyDeletion"),
            |r, arn| {
                if !matches!(r.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
                    return Err(Error::InvalidState(format!("{arn} is not pending deletion.")));
                }
                // A key whose imported material was deleted meanwhile
                // waits for it again.
                let material = r.current_material().is_some_and(|m| m.present());
                let state = if material { KeyState::Disabled } else { KeyState::PendingImport };
                // In a custom key store that is not connected: Unavailable.
                self.unless_disconnected(r, state);
                r.deletion_ms = None;
                r.pending_window_days = None;
                Ok(CancelKeyDeletionResponse { key_id: Some(arn.to_string()) })
            },
        )
        .await
    }

    pub async fn get_key_last_usage(
        &self,
        ctx: &RequestContext,
        req: GetKeyLastUsageRequest,
    ) -> Result<GetKeyLastUsageResponse> {
        let access = Access::new("kms:GetKeyLastUsage");
        let k = self
            .resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), super::Aliases::Refused, Some(&access))
            .await?;
        Ok(GetKeyLastUsageResponse {
            key_id: Some(k.arn.clone()),
            key_last_usage: k.last_usage().map(|u| KeyLastUsageData {
                operation: Some(u.operation),
                timestamp: Some(epoch_seconds(u.at_ms)),
                kms_request_id: Some(u.request_id),
                cloud_trail_event_id: None,
            }),
            tracking_start_date: Some(epoch_seconds(k.record.created_ms)),
            key_creation_date: Some(epoch_seconds(k.record.created_ms)),
        })
    }

    /// `KmsAdmin.GetKeyUsage` (operator API): what GetKeyLastUsage says,
    /// plus the caller, and whether the deletion guard keeps the key.
    pub async fn get_key_usage(&self, ctx: &RequestContext, req: GetKeyUsageRequest) -> Result<GetKeyUsageResponse> {
        self.require_admin(ctx, "GetKeyUsage")?;
        let mut v = crate::validate::Validator::default();
        v.required("keyId", &req.key_id);
        v.finish()?;
        let k = self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), super::Aliases::Allowed, None).await?;
        let now = self.clock.now_ms();
        Ok(GetKeyUsageResponse {
            key_id: k.arn.clone(),
            key_state: k.record.state.as_str().to_string(),
            last_usage: k.last_usage().map(|u| KeyUsageRecord {
                operation: u.operation,
                timestamp: epoch_seconds(u.at_ms),
                kms_request_id: u.request_id,
                principal: u.principal,
            }),
            tracking_start_date: epoch_seconds(k.record.created_ms),
            deletion_guard_days: self.shared.deletion_guard_days,
            deletion_allowed: self.shared.deletion_guard_days == 0 || self.check_deletion_guard(&k, now).is_ok(),
        })
    }
}
