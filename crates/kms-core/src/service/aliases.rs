//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use super::{poisoned, Access, Aliases, Kms, RequestContext};
use crate::error::{Error, Result};
use crate::model::*;
use crate::types::*;

/// At most this many aliases may point at one key.
const DEFAULT_ALIAS_LIST_LIMIT: i64 = 50;

/// AWS's rules for a name that CreateAlias/UpdateAlias/DeleteAlias accept,
/// beyond the model's pattern.
fn check_alias_name(name: &str) -> Result<()> {
    if !name.starts_with("alias/") {
        return Err(Error::Validation(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".into(),
        ));
    }
    if name.contains(':') {
        return Err(Error::Validation(format!("{name} contains invalid characters for an alias")));
    }
    if name.starts_with("alias/aws/") {
        return Err(Error::NotAuthorized("The alias/aws/ prefix is reserved for AWS managed keys.".into()));
    }
    if name.len() == "alias/".len() {
        return Err(Error::Validation("Alias name must not be empty after the prefix \"alias/\".".into()));
    }
    Ok(())
}

impl Kms {
    /// The target of CreateAlias/UpdateAlias: a key id or key ARN in the
    /// caller's account, in a state that can take an alias.
    async fn alias_target_key(
        &self,
        ctx: &RequestContext,
        target: &str,
        action: &str,
    ) -> Result<std::sync::Arc<super::LiveKey>> {
        if target.starts_with("alias/") || target.contains(":alias/") {
            return Err(Error::Validation("Aliases must refer to keys. Not aliases".into()));
        }
        let k = self.resolve_as(ctx, target, Aliases::Refused, Some(&Access::new(action))).await?;
        if k.record.account != ctx.principal.account {
            return Err(Error::NotFound(format!("Key '{}' does not exist", k.arn)));
        }
        Self::manageable(&k.record, &k.arn)?;
        Ok(k)
    }

    /// `LimitExceededException` when `k` has as many aliases as a key may.
    fn alias_room(&self, account: &str, k: &super::LiveKey) -> Result<()> {
        let limit = self.shared.quotas.aliases_per_key();
        let n = self
            .aliases
            .read()
            .map_err(poisoned)?
            .values()
            .filter(|a| a.account == account && a.target_key_id == k.record.key_id)
            .count();
        if n >= limit {
            return Err(Error::LimitExceeded(format!("Cannot create more than {limit} aliases for key {}", k.arn)));
        }
        Ok(())
    }

    pub async fn create_alias(&self, ctx: &RequestContext, req: CreateAliasRequest) -> Result<()> {
        let name = req.alias_name.unwrap_or_default();
        check_alias_name(&name)?;
        let _w = self.write_lock.lock().await;
        let account = ctx.principal.account.clone();
        if self.alias_target(&account, &name)?.is_some() {
            return Err(Error::AlreadyExists(format!(
                "An alias with the name {} already exists",
                self.loc.alias_arn(&account, &name)
            )));
        }
        let k = self.alias_target_key(ctx, req.target_key_id.as_deref().unwrap_or_default(), "kms:CreateAlias").await?;
        self.alias_room(&account, &k)?;
        let now = self.clock.now_ms();
        let rec = AliasRecord {
            account: account.clone(),
            name: name.clone(),
            target_key_id: k.record.key_id.clone(),
            created_ms: now,
            updated_ms: now,
        };
        self.store.put_alias(&rec).await?;
        self.aliases.write().map_err(poisoned)?.insert((account, name), rec);
        Ok(())
    }

    pub async fn update_alias(&self, ctx: &RequestContext, req: UpdateAliasRequest) -> Result<()> {
        let name = req.alias_name.unwrap_or_default();
        check_alias_name(&name)?;
        let _w = self.write_lock.lock().await;
        let account = ctx.principal.account.clone();
        let existing = self.aliases.read().map_err(poisoned)?.get(&(account.clone(), name.clone())).cloned();
        let Some(mut rec) = existing else {
            return Err(Error::NotFound(format!("Alias {} is not found.", self.loc.alias_arn(&account, &name))));
        };
        let k = self.alias_target_key(ctx, req.target_key_id.as_deref().unwrap_or_default(), "kms:UpdateAlias").await?;
        if let Some(old) = self.load(&rec.target_key_id).await? {
            // Moving an alias needs kms:UpdateAlias on the key it leaves too.
            self.authorize(ctx, &old, &Access::new("kms:UpdateAlias"))?;
            if old.record.key_usage != k.record.key_usage || old.record.key_spec != k.record.key_spec {
                return Err(Error::Validation(format!(
                    "Alias {} cannot be changed from a key of type {} {} to a key of type {} {}",
                    self.loc.alias_arn(&account, &name),
                    old.record.key_spec,
                    old.record.key_usage,
                    k.record.key_spec,
                    k.record.key_usage
                )));
            }
        }
        if rec.target_key_id != k.record.key_id {
            self.alias_room(&account, &k)?;
        }
        rec.target_key_id = k.record.key_id.clone();
        rec.updated_ms = self.clock.now_ms();
        self.store.put_alias(&rec).await?;
        self.aliases.write().map_err(poisoned)?.insert((account, name), rec);
        Ok(())
    }

    pub async fn delete_alias(&self, ctx: &RequestContext, req: DeleteAliasRequest) -> Result<()> {
        let name = req.alias_name.unwrap_or_default();
        check_alias_name(&name)?;
        let _w = self.write_lock.lock().await;
        let account = ctx.principal.account.clone();
        let Some(target) = self.alias_target(&account, &name)? else {
            return Err(Error::NotFound(format!("Alias {} is not found.", self.loc.alias_arn(&account, &name))));
        };
        if let Some(k) = self.load(&target).await? {
            ctx.note_key(&k.arn);
            self.authorize(ctx, &k, &Access::new("kms:DeleteAlias"))?;
        }
        self.store.delete_alias(&account, &name).await?;
        self.aliases.write().map_err(poisoned)?.remove(&(account, name));
        Ok(())
    }

    pub async fn list_aliases(&self, ctx: &RequestContext, req: ListAliasesRequest) -> Result<ListAliasesResponse> {
        self.authorize_identity(ctx, &Access::new("kms:ListAliases"))?;
        let account = ctx.principal.account.clone();
        let key_filter = match req.key_id.as_deref() {
            Some(k) => Some(self.resolve_as(ctx, k, Aliases::Refused, None).await?.record.key_id.clone()),
            None => None,
        };
        let limit = req.limit.map_or(DEFAULT_ALIAS_LIST_LIMIT, i64::from) as usize;
        if req.marker.as_deref().is_some_and(|m| !m.starts_with("alias/")) {
            return Err(Error::InvalidMarker("Invalid marker".into()));
        }
        let start = req.marker.clone().unwrap_or_default();
        let aliases = self.aliases.read().map_err(poisoned)?;
        let mut page: Vec<&AliasRecord> = aliases
            .range((account.clone(), start.clone())..)
            .take_while(|((acct, _), _)| *acct == account)
            .map(|(_, a)| a)
            .filter(|a| req.marker.is_none() || a.name > start)
            .filter(|a| key_filter.as_ref().is_none_or(|k| &a.target_key_id == k))
            .take(limit + 1)
            .collect();
        let truncated = page.len() > limit;
        page.truncate(limit);
        Ok(ListAliasesResponse {
            next_marker: if truncated { page.last().map(|a| a.name.clone()) } else { None },
            aliases: Some(
                page.into_iter()
                    .map(|a| AliasListEntry {
                        alias_name: Some(a.name.clone()),
                        alias_arn: Some(self.loc.alias_arn(&a.account, &a.name)),
                        target_key_id: Some(a.target_key_id.clone()),
                        creation_date: Some(epoch_seconds(a.created_ms)),
                        last_updated_date: Some(epoch_seconds(a.updated_ms)),
                    })
                    .collect(),
            ),
            truncated: Some(truncated),
        })
    }
}
