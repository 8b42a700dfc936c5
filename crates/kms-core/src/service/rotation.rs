//! Key rotation: EnableKeyRotation, DisableKeyRotation,
//! GetKeyRotationStatus, RotateKeyOnDemand, ListKeyRotations. A rotation
//! adds a material; new encryptions use it, older ciphertexts name theirs.
//! Scheduled and on-demand rotations happen in the background job
//! (`jobs.rs`); these methods set what it does.
//!
//! Only symmetric encryption keys rotate, and automatic rotation only with
//! AWS_KMS origin. AWS's texts (key-state table, recorded responses):
//! asymmetric and HMAC keys get `UnsupportedOperationException` with an
//! empty message, keys with imported material
//! "`<arn>` origin is EXTERNAL which is not valid for this operation.".

use super::{Access, Aliases, Kms, LiveKey, RequestContext, DAY_MS};
use crate::error::{Error, Result};
use crate::model::*;
use crate::types::*;

/// AWS's limit of on-demand rotations per key (not adjustable).
pub(super) const ON_DEMAND_ROTATION_LIMIT: usize = 25;
/// `EnableKeyRotation` without `RotationPeriodInDays`.
const DEFAULT_ROTATION_PERIOD_DAYS: i32 = 365;
/// RotateKeyOnDemand is refused this close to a scheduled rotation (AWS).
const CONFLICT_WINDOW_MS: i64 = 20 * 60 * 1000;

pub(super) fn origin_error(arn: &str, origin: Origin) -> Error {
    Error::UnsupportedOperation(format!("{arn} origin is {origin} which is not valid for this operation."))
}

impl Kms {
    /// The gate of EnableKeyRotation and DisableKeyRotation: AWS_KMS
    /// origin, then Enabled (Disabled: `DisabledException`), then a
    /// symmetric encryption key.
    fn rotation_gate(r: &KeyRecord, arn: &str) -> Result<()> {
        if r.origin != Origin::AwsKms {
            return Err(origin_error(arn, r.origin));
        }
        Self::refuse_replica(r, arn)?;
        Self::usable_record(r, arn)?;
        if r.key_spec != KeySpec::SymmetricDefault {
            return Err(Error::UnsupportedOperation(String::new()));
        }
        Ok(())
    }

    pub async fn enable_key_rotation(&self, ctx: &RequestContext, req: EnableKeyRotationRequest) -> Result<()> {
        let period = req.rotation_period_in_days.unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
        let access = Access::new("kms:EnableKeyRotation").with("kms:RotationPeriodInDays", vec![period.to_string()]);
        let now = self.clock.now_ms();
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
            Self::rotation_gate(r, arn)?;
            let period_ms = i64::from(period) * DAY_MS;
            let next_ms = match &r.auto_rotation {
                // A new period moves the date it gives from the last one.
                Some(old) => (old.next_ms - i64::from(old.period_days) * DAY_MS + period_ms).max(now),
                None => now + period_ms,
            };
            r.auto_rotation = Some(AutoRotation { period_days: period, next_ms });
            Ok(())
        })
        .await
    }

    pub async fn disable_key_rotation(&self, ctx: &RequestContext, req: DisableKeyRotationRequest) -> Result<()> {
        let access = Access::new("kms:DisableKeyRotation");
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
            Self::rotation_gate(r, arn)?;
            r.auto_rotation = None;
            Ok(())
        })
        .await
    }

    pub async fn get_key_rotation_status(
        &self,
        ctx: &RequestContext,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse> {
        let access = Access::new("kms:GetKeyRotationStatus");
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        let r = &k.record;
        // Symmetric keys with imported material rotate on demand (since
        // 2025), and this is where an on-demand rotation in progress shows;
        // for other keys with imported material AWS answers the origin
        // error (recorded before 2025).
        let on_demand = r.key_spec == KeySpec::SymmetricDefault && r.origin == Origin::External;
        if r.origin != Origin::AwsKms && !on_demand {
            return Err(origin_error(&k.arn, r.origin));
        }
        // While a key is pending deletion its status is false; cancelling
        // the deletion brings the schedule back (AWS).
        let auto = r.auto_rotation.as_ref().filter(|_| r.state != KeyState::PendingDeletion);
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: Some(auto.is_some()),
            key_id: Some(k.arn.clone()),
            rotation_period_in_days: auto.map(|a| a.period_days),
            next_rotation_date: auto.map(|a| epoch_seconds(a.next_ms)),
            on_demand_rotation_start_date: r.on_demand_rotation_ms.map(epoch_seconds),
        })
    }

    pub async fn rotate_key_on_demand(
        &self,
        ctx: &RequestContext,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse> {
        let access = Access::new("kms:RotateKeyOnDemand");
        let now = self.clock.now_ms();
        let arn = self
            .update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
                // AWS checks the state before the spec (recorded).
                Self::usable_record(r, arn)?;
                Self::refuse_replica(r, arn)?;
                if r.key_spec != KeySpec::SymmetricDefault {
                    return Err(Error::UnsupportedOperation(String::new()));
                }
                if !matches!(r.origin, Origin::AwsKms | Origin::External) {
                    return Err(origin_error(arn, r.origin));
                }
                if r.origin == Origin::External && !r.materials.iter().any(|m| m.pending_rotation) {
                    return Err(Error::InvalidState(format!(
                        "No available key material pending rotation for the key: {arn}."
                    )));
                }
                if r.on_demand_rotation_ms.is_some() {
                    return Err(Error::Conflict(format!("An on-demand rotation of {arn} is already in progress.")));
                }
                if r.auto_rotation.as_ref().is_some_and(|a| a.next_ms <= now + CONFLICT_WINDOW_MS) {
                    return Err(Error::Conflict(format!(
                        "An automatic rotation of {arn} is in progress or scheduled to begin within the next 20 minutes."
                    )));
                }
                let done = r.materials.iter().filter(|m| m.rotation.as_ref().is_some_and(|x| x.on_demand)).count();
                if done >= ON_DEMAND_ROTATION_LIMIT {
                    return Err(Error::LimitExceeded(format!(
                        "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {arn}"
                    )));
                }
                r.on_demand_rotation_ms = Some(now);
                Ok(arn.to_string())
            })
            .await?;
        // The background job finishes the rotation (GetKeyRotationStatus
        // shows OnDemandRotationStartDate until then, as AWS's does).
        self.wake_jobs();
        Ok(RotateKeyOnDemandResponse { key_id: Some(arn) })
    }

    pub async fn list_key_rotations(
        &self,
        ctx: &RequestContext,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse> {
        let access = Access::new("kms:ListKeyRotations");
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        if req.include_key_material.is_some() && k.record.key_spec != KeySpec::SymmetricDefault {
            return Err(Error::Validation(
                "Input parameter includeKeyMaterial can only be used with symmetric keys.".into(),
            ));
        }
        let all = req.include_key_material.as_deref() == Some(IncludeKeyMaterial::AllKeyMaterial.as_str());
        let entries: Vec<RotationsListEntry> = k
            .record
            .materials
            .iter()
            .filter(|m| k.record.key_spec == KeySpec::SymmetricDefault && (all || m.rotation.is_some()))
            .map(|m| Self::rotation_entry(&k, m))
            .collect();
        let start = match &req.marker {
            None => 0,
            Some(marker) => {
                entries
                    .iter()
                    .position(|e| e.key_material_id.as_deref() == Some(marker))
                    .ok_or_else(|| Error::InvalidMarker("Invalid marker".into()))?
                    + 1
            }
        };
        let limit = req.limit.map_or(super::keys::DEFAULT_LIST_LIMIT, i64::from) as usize;
        let page: Vec<RotationsListEntry> = entries.into_iter().skip(start).take(limit + 1).collect();
        let truncated = page.len() > limit;
        let page: Vec<RotationsListEntry> = page.into_iter().take(limit).collect();
        let next_marker = if truncated { page.last().and_then(|e| e.key_material_id.clone()) } else { None };
        Ok(ListKeyRotationsResponse { rotations: Some(page), next_marker, truncated: Some(truncated) })
    }

    fn rotation_entry(k: &LiveKey, m: &MaterialRecord) -> RotationsListEntry {
        let current = k.record.current_material().is_some_and(|c| c.id == m.id);
        let state = if m.pending_rotation {
            KeyMaterialState::PendingRotation
        } else if current {
            KeyMaterialState::Current
        } else {
            KeyMaterialState::NonCurrent
        };
        let import = m.import.as_ref();
        RotationsListEntry {
            key_id: Some(k.arn.clone()),
            key_material_id: Some(m.id.clone()),
            key_material_description: import.and_then(|i| i.description.clone()),
            import_state: import.map(|_| {
                if m.present() { ImportState::Imported } else { ImportState::PendingImport }.as_str().to_string()
            }),
            key_material_state: Some(state.as_str().to_string()),
            expiration_model: import.map(|i| super::import::expiration_model(i).as_str().to_string()),
            valid_to: import.and_then(|i| i.valid_to_ms).map(epoch_seconds),
            rotation_date: m.rotation.as_ref().map(|r| epoch_seconds(r.at_ms)),
            rotation_type: m.rotation.as_ref().map(|r| {
                if r.on_demand { RotationType::OnDemand } else { RotationType::Automatic }.as_str().to_string()
            }),
        }
    }
}
