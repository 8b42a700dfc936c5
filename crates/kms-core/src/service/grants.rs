//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
//! RevokeGrant. A grant takes effect on the very next request (the key's
//! key is dropped from the cache under the write lock, and read again on
//! its next use).

use std::sync::Arc;

use super::{Access, Aliases, Kms, LiveKey, RequestContext};
use crate::error::{Error, Result};
use crate::grants::{is_grant_id, new_grant, token_grant_id};
use crate::model::*;
use crate::types::*;

/// At most this many grants on one key.
const DEFAULT_GRANT_LIST_LIMIT: i64 = 50;

fn entry(k_arn: &str, g: &GrantRecord) -> GrantListEntry {
    let constraints = (g.context_subset.is_some() || g.context_equals.is_some()).then(|| GrantConstraints {
        encryption_context_subset: g.context_subset.clone(),
        encryption_context_equals: g.context_equals.clone(),
        source_arn: None,
    });
    GrantListEntry {
        key_id: Some(k_arn.to_string()),
        grant_id: Some(g.grant_id.clone()),
        name: g.name.clone(),
        creation_date: Some(epoch_seconds(g.created_ms)),
        grantee_principal: Some(g.grantee_principal.clone()),
        retiring_principal: g.retiring_principal.clone(),
        issuing_account: Some(g.issuing_account.clone()),
        operations: Some(g.operations.clone()),
        constraints,
        ..Default::default()
    }
}

fn page(mut grants: Vec<GrantListEntry>, limit: Option<i32>, marker: Option<&str>) -> Result<ListGrantsResponse> {
    let limit = limit.map_or(DEFAULT_GRANT_LIST_LIMIT, i64::from) as usize;
    grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
    if let Some(m) = marker {
        if !is_grant_id(m) {
            return Err(Error::InvalidMarker("Invalid marker".into()));
        }
        grants.retain(|g| g.grant_id.as_deref().is_some_and(|id| id > m));
    }
    let truncated = grants.len() > limit;
    grants.truncate(limit);
    Ok(ListGrantsResponse {
        next_marker: if truncated { grants.last().and_then(|g| g.grant_id.clone()) } else { None },
        grants: Some(grants),
        truncated: Some(truncated),
    })
}

/// The grant operations a key supports: the cryptographic operations of its
/// key usage, and DescribeKey, CreateGrant and RetireGrant.
fn grant_operations_for(spec: KeySpec, usage: KeyUsage) -> &'static [&'static str] {
    match (spec, usage) {
        (KeySpec::SymmetricDefault, _) => &[
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
        ],
        (_, KeyUsage::EncryptDecrypt) => &["Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"],
        (_, KeyUsage::SignVerify) => &["Sign", "Verify", "GetPublicKey"],
        (_, KeyUsage::GenerateVerifyMac) => &["GenerateMac", "VerifyMac"],
        (_, KeyUsage::KeyAgreement) => &["DeriveSharedSecret", "GetPublicKey"],
        (_, KeyUsage::EncapsulateDecapsulate) => &["Encapsulate", "Decapsulate", "GetPublicKey"],
    }
}

/// Operations every key's grants may allow; an encryption context
/// constraint does not apply to them.
const GRANT_OPERATIONS_OF_ANY_KEY: &[&str] = &["DescribeKey", "CreateGrant", "RetireGrant"];

/// CreateGrant's rules that the model cannot express: the operations belong
/// to the key, and an encryption context constraint needs an operation
/// that takes an encryption context (symmetric encryption keys only).
fn check_grant_operations(k: &LiveKey, operations: &[String], constrained: bool) -> Result<()> {
    let (spec, usage) = (k.record.key_spec, k.record.key_usage);
    let own = grant_operations_for(spec, usage);
    if let Some(op) =
        operations.iter().find(|o| !own.contains(&o.as_str()) && !GRANT_OPERATIONS_OF_ANY_KEY.contains(&o.as_str()))
    {
        return Err(Error::Validation(format!(
            "Grant operation {op} is not valid for a KMS key with KeySpec {spec} and KeyUsage {usage}."
        )));
    }
    if operations.iter().all(|o| o == "CreateGrant") {
        return Err(Error::Validation("Grants must not contain only the CreateGrant operation.".into()));
    }
    if constrained {
        let takes_context = spec == KeySpec::SymmetricDefault && operations.iter().any(|o| own.contains(&o.as_str()));
        if !takes_context {
            return Err(Error::Validation(
                "Encryption context grant constraints are supported only for grants that allow an operation that takes an encryption context, on a symmetric encryption KMS key.".into(),
            ));
        }
    }
    Ok(())
}

impl Kms {
    pub async fn create_grant(&self, ctx: &RequestContext, req: CreateGrantRequest) -> Result<CreateGrantResponse> {
        let grantee = match (&req.grantee_principal, &req.grantee_service_principal) {
            (Some(p), _) | (None, Some(p)) => p.clone(),
            (None, None) => {
                return Err(Error::Validation(
                    "1 validation error detected: Value null at 'granteePrincipal' failed to satisfy constraint: Member must not be null".into(),
                ))
            }
        };
        let retiring = req.retiring_principal.clone().or(req.retiring_service_principal.clone());
        let operations = req.operations.clone().unwrap_or_default();
        if operations.is_empty() {
            return Err(Error::Validation(
                "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
            ));
        }
        let constraints = req.constraints.clone().unwrap_or_default();
        if constraints.encryption_context_equals.is_some() && constraints.encryption_context_subset.is_some() {
            return Err(Error::Validation("More than one constraint supplied".into()));
        }
        if constraints.source_arn.is_some() {
            // Refused rather than ignored: a grant must never allow more than asked.
            return Err(Error::UnsupportedOperation(
                "The SourceArn grant constraint is not supported by this server yet.".into(),
            ));
        }
        let mut access = Access::new("kms:CreateGrant")
            .with("kms:GrantOperations", operations.clone())
            .with("kms:GranteePrincipal", vec![grantee.clone()])
            .with("kms:GrantIsForAWSResource", vec!["false".into()]);
        if let Some(r) = &retiring {
            access = access.with("kms:RetiringPrincipal", vec![r.clone()]);
        }
        let mut kinds = vec![];
        if constraints.encryption_context_equals.is_some() {
            kinds.push("EncryptionContextEquals".to_string());
        }
        if constraints.encryption_context_subset.is_some() {
            kinds.push("EncryptionContextSubset".to_string());
        }
        let constrained = !kinds.is_empty();
        if constrained {
            access = access.with("kms:GrantConstraintType", kinds);
        }
        let _w = self.write_lock.lock().await;
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        Self::enabled_or_disabled(&k.record, &k.arn)?;
        check_grant_operations(&k, &operations, constrained)?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let issuing_account = format!("arn:{}:iam::{}:root", self.loc.partition, ctx.principal.account);
        let fresh = |g: &GrantRecord| {
            g.grantee_principal == grantee
                && g.retiring_principal == retiring
                && g.operations == operations
                && g.context_subset == constraints.encryption_context_subset
                && g.context_equals == constraints.encryption_context_equals
        };
        // A grant with the same name and parameters is the same grant (idempotent retry).
        if let Some(name) = &req.name {
            if let Some(g) = k.grants.iter().find(|g| g.name.as_ref() == Some(name) && fresh(g)) {
                let (_, token) = new_grant()?;
                return Ok(CreateGrantResponse { grant_token: Some(token), grant_id: Some(g.grant_id.clone()) });
            }
        }
        let limit = self.shared.quotas.grants_per_key();
        if k.grants.len() >= limit {
            return Err(Error::LimitExceeded(format!(
                "The request was rejected because the grant limit of {limit} for {} was exceeded.",
                k.arn
            )));
        }
        let (grant_id, token) = new_grant()?;
        let g = GrantRecord {
            grant_id: grant_id.clone(),
            key_id: k.record.key_id.clone(),
            account: k.record.account.clone(),
            name: req.name.clone(),
            created_ms: self.clock.now_ms(),
            grantee_principal: grantee,
            retiring_principal: retiring,
            issuing_account,
            operations,
            context_subset: constraints.encryption_context_subset,
            context_equals: constraints.encryption_context_equals,
        };
        self.store.put_grant(&g).await?;
        self.uncache(&k.record.key_id).await?;
        Ok(CreateGrantResponse { grant_token: Some(token), grant_id: Some(grant_id) })
    }

    pub async fn list_grants(&self, ctx: &RequestContext, req: ListGrantsRequest) -> Result<ListGrantsResponse> {
        let access = Access::new("kms:ListGrants");
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        if let Some(id) = &req.grant_id {
            if !k.grants.iter().any(|g| &g.grant_id == id) {
                return Err(Error::InvalidGrantId("Grant ID not found".into()));
            }
        }
        let grantee = req.grantee_principal.as_ref().or(req.grantee_service_principal.as_ref());
        let entries = k
            .grants
            .iter()
            .filter(|g| req.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
            .filter(|g| grantee.is_none_or(|p| &g.grantee_principal == p))
            .map(|g| entry(&k.arn, g))
            .collect();
        page(entries, req.limit, req.marker.as_deref())
    }

    pub async fn list_retirable_grants(
        &self,
        ctx: &RequestContext,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse> {
        self.authorize_identity(ctx, &Access::new("kms:ListRetirableGrants"))?;
        let principal = req.retiring_principal.as_ref().or(req.retiring_service_principal.as_ref()).ok_or_else(|| {
            Error::Validation(
                "1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null".into(),
            )
        })?;
        let entries = self
            .store
            .list_retirable_grants(principal)
            .await?
            .iter()
            .map(|g| entry(&self.loc.key_arn(&g.account, &g.key_id), g))
            .collect();
        page(entries, req.limit, req.marker.as_deref())
    }

    /// Remove a grant (the caller is already authorized).
    async fn remove_grant(&self, ctx: &RequestContext, k: &LiveKey, grant_id: &str, dry_run: bool) -> Result<()> {
        if dry_run {
            return Err(Error::DryRunOperation);
        }
        self.store.delete_grant(&k.record.key_id, grant_id).await?;
        self.uncache(&k.record.key_id).await?;
        ctx.note_key(&k.arn);
        Ok(())
    }

    fn find_grant<'a>(k: &'a LiveKey, grant_id: &str) -> Result<&'a GrantRecord> {
        if !is_grant_id(grant_id) {
            return Err(Error::InvalidGrantId("Invalid grant ID".into()));
        }
        k.grants.iter().find(|g| g.grant_id == grant_id).ok_or_else(|| Error::NotFound("Grant ID not found".into()))
    }

    pub async fn retire_grant(&self, ctx: &RequestContext, req: RetireGrantRequest) -> Result<()> {
        if req.grant_token.is_none() {
            // Without a token, the grant is named by key and grant id.
            let mut v = crate::validate::Validator::default();
            v.required("keyId", &req.key_id).required("grantId", &req.grant_id);
            v.finish()?;
        }
        let _w = self.write_lock.lock().await;
        let (k, grant_id) = match &req.grant_token {
            Some(t) => {
                let id = token_grant_id(t).ok_or_else(|| Error::InvalidGrantToken("Invalid grant token".into()))?;
                let key_id =
                    self.store_grant_key(&id).await?.ok_or_else(|| Error::NotFound("Grant ID not found".into()))?;
                (self.load(&key_id).await?.ok_or_else(|| Error::NotFound("Grant ID not found".into()))?, id)
            }
            None => (
                self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, None).await?,
                req.grant_id.clone().unwrap_or_default(),
            ),
        };
        let k = self.with_grant(k, &grant_id).await?;
        let g = Self::find_grant(&k, &grant_id)?;
        // The retiring principal, or the grantee of a grant that includes
        // RetireGrant, may retire it; anyone else needs kms:RetireGrant.
        let p = &ctx.principal.policy_principal;
        let me = |who: &str| who == p.arn || p.role_arn.as_deref() == Some(who);
        let allowed = g.retiring_principal.as_deref().is_some_and(me)
            || (me(&g.grantee_principal) && g.operations.iter().any(|o| o == "RetireGrant"));
        if !allowed {
            self.authorize(ctx, &k, &Access::new("kms:RetireGrant"))?;
        }
        self.remove_grant(ctx, &k, &grant_id, req.dry_run == Some(true)).await
    }

    pub async fn revoke_grant(&self, ctx: &RequestContext, req: RevokeGrantRequest) -> Result<()> {
        let _w = self.write_lock.lock().await;
        let access = Access::new("kms:RevokeGrant");
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        let grant_id = req.grant_id.clone().unwrap_or_default();
        let k = self.with_grant(k, &grant_id).await?;
        Self::find_grant(&k, &grant_id)?;
        self.remove_grant(ctx, &k, &grant_id, req.dry_run == Some(true)).await
    }

    /// `k`, or, when its cached grants lack `grant_id`, `k` read again from
    /// the store (another server may have made the grant a moment ago).
    async fn with_grant(&self, k: Arc<LiveKey>, grant_id: &str) -> Result<Arc<LiveKey>> {
        if k.grants.iter().any(|g| g.grant_id == grant_id) || !is_grant_id(grant_id) {
            return Ok(k);
        }
        self.uncache(&k.record.key_id).await?;
        Ok(self.load(&k.record.key_id).await?.unwrap_or(k))
    }

    /// The key a grant belongs to (grant ids are unique across keys).
    async fn store_grant_key(&self, grant_id: &str) -> Result<Option<String>> {
        let cached = self
            .keys
            .read()
            .map_err(super::poisoned)?
            .values()
            .find_map(|k| k.grants.iter().any(|g| g.grant_id == grant_id).then(|| k.record.key_id.clone()));
        if cached.is_some() {
            return Ok(cached);
        }
        Ok(self.store.find_grant(grant_id).await?.map(|g| g.key_id))
    }
}
