//! Custom key stores (docs/HSM.md): CreateCustomKeyStore,
//! DescribeCustomKeyStores, UpdateCustomKeyStore, ConnectCustomKeyStore,
//! DisconnectCustomKeyStore, DeleteCustomKeyStore, and what the keys in
//! them need: the store's connection to its HSM ([`Hsm`]), the keys'
//! `Unavailable` state while it is not connected, and the HSM calls
//! themselves (run on blocking threads).
//!
//! A store's record lives in the store's metadata under
//! `custom-key-store/<region>/<id>` (few: ten per account and region), and
//! every region keeps its own in memory. The connection state is part of
//! the record (it survives a restart: a `CONNECTED` store is connected
//! again when its region opens); the logged-in token itself is this
//! server's.

use std::sync::Arc;

use super::{poisoned, Access, Kms, RequestContext};
use crate::crypto::{SecretBytes, SecretString};
use crate::error::{Error, Result};
use crate::model::*;
use crate::ports::HsmConnection;
use crate::types::{CustomKeyStoreRecord, InCustomKeyStore, KeyRecord, KeyState};

/// Custom key stores per account and region (AWS's quota, both types).
pub const CUSTOM_KEY_STORES_PER_ACCOUNT: usize = 10;

const META_PREFIX: &str = "custom-key-store/";

impl Kms {
    fn custom_key_store_name(&self, id: &str) -> String {
        format!("{META_PREFIX}{}/{id}", self.loc.region)
    }

    /// This region's custom key stores, read from the store (at opening).
    pub(super) async fn load_custom_key_stores(&self) -> Result<()> {
        let prefix = format!("{META_PREFIX}{}/", self.loc.region);
        let mut map = std::collections::BTreeMap::new();
        for (_, v) in self.store.list_meta(&prefix).await? {
            let r: CustomKeyStoreRecord = serde_json::from_slice(&v).map_err(Error::internal)?;
            map.insert(r.id.clone(), r);
        }
        *self.custom_key_stores.write().map_err(poisoned)? = map;
        Ok(())
    }

    async fn put_custom_key_store(&self, r: &CustomKeyStoreRecord) -> Result<()> {
        let v = serde_json::to_vec(r).map_err(Error::internal)?;
        self.store.put_meta(&self.custom_key_store_name(&r.id), &v).await?;
        self.custom_key_stores.write().map_err(poisoned)?.insert(r.id.clone(), r.clone());
        Ok(())
    }

    /// UpdateCustomKeyStore's `NewCustomKeyStoreName`: unique in the account.
    fn rename(&self, r: &mut CustomKeyStoreRecord, name: Option<String>) -> Result<()> {
        let Some(name) = name else { return Ok(()) };
        let taken = self
            .custom_key_stores
            .read()
            .map_err(poisoned)?
            .values()
            .any(|s| s.account == r.account && s.name == name && s.id != r.id);
        if taken {
            return Err(name_in_use(&name));
        }
        r.name = name;
        Ok(())
    }

    /// A store of the caller's account (cross-account use: no, as AWS).
    pub(super) fn custom_key_store(&self, ctx: &RequestContext, id: &str) -> Result<CustomKeyStoreRecord> {
        self.custom_key_stores
            .read()
            .map_err(poisoned)?
            .get(id)
            .filter(|r| r.account == ctx.principal.account)
            .cloned()
            .ok_or_else(|| Error::CustomKeyStoreNotFound(format!("Custom key store '{id}' does not exist.")))
    }

    /// The cluster a store's keys are in (KeyMetadata's `CloudHsmClusterId`).
    pub(super) fn cluster_of(&self, store_id: &str) -> Option<String> {
        self.custom_key_stores.read().ok()?.get(store_id).and_then(|r| r.cluster_id.clone())
    }

    fn seal_password(&self, id: &str, password: &SecretString) -> Result<Vec<u8>> {
        self.shared.root.seal(&CustomKeyStoreRecord::secret_binding(id), password.expose().as_bytes())
    }

    fn hsm(&self) -> Result<&Arc<dyn crate::ports::Hsm>> {
        self.shared.hsm.as_ref().ok_or_else(|| {
            Error::CloudHsmClusterNotFound("This server has no HSM cluster configured (hsm_clusters).".into())
        })
    }

    pub async fn create_custom_key_store(
        &self,
        ctx: &RequestContext,
        req: CreateCustomKeyStoreRequest,
    ) -> Result<CreateCustomKeyStoreResponse> {
        self.authorize_identity(ctx, &Access::new("kms:CreateCustomKeyStore"))?;
        let store_type = match req.custom_key_store_type.as_deref() {
            Some(t) => CustomKeyStoreType::parse(t).ok_or_else(|| Error::internal("validated enum"))?,
            None => CustomKeyStoreType::AwsCloudhsm,
        };
        if store_type == CustomKeyStoreType::ExternalKeyStore {
            return self.create_external_key_store(ctx, req).await;
        }
        no_xks_members(
            store_type,
            &[
                ("XksProxyUriEndpoint", req.xks_proxy_uri_endpoint.is_some()),
                ("XksProxyUriPath", req.xks_proxy_uri_path.is_some()),
                ("XksProxyVpcEndpointServiceName", req.xks_proxy_vpc_endpoint_service_name.is_some()),
                ("XksProxyVpcEndpointServiceOwner", req.xks_proxy_vpc_endpoint_service_owner.is_some()),
                ("XksProxyAuthenticationCredential", req.xks_proxy_authentication_credential.is_some()),
                ("XksProxyConnectivity", req.xks_proxy_connectivity.is_some()),
            ],
        )?;
        let (Some(cluster_id), Some(anchor), Some(password)) =
            (req.cloud_hsm_cluster_id, req.trust_anchor_certificate, req.key_store_password)
        else {
            return Err(Error::Validation(
                "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are required for a custom key store of type AWS_CLOUDHSM.".into(),
            ));
        };
        let name = req.custom_key_store_name.unwrap_or_default();
        let account = ctx.principal.account.clone();
        let _w = self.write_lock.lock().await;
        self.check_new_store(&account, &name)?;
        let hsm = self.hsm()?.clone();
        let cluster = hsm.cluster(&cluster_id).ok_or_else(|| cluster_not_found(&cluster_id))?;
        if cluster.trust_anchor.as_deref().is_some_and(|t| !same_certificate(t, &anchor)) {
            return Err(Error::IncorrectTrustAnchor(format!(
                "The trust anchor certificate in the request is not the trust anchor certificate of cluster {cluster_id}."
            )));
        }
        // One store per cluster (or per token, whichever clusters name it).
        let in_use = self.custom_key_stores.read().map_err(poisoned)?.values().any(|s| {
            s.cluster_id
                .as_deref()
                .and_then(|c| hsm.cluster(c))
                .is_some_and(|c| c.id == cluster.id || c.token == cluster.token)
        });
        if in_use {
            return Err(Error::CloudHsmClusterInUse(format!(
                "Cluster {cluster_id} is already associated with a custom key store."
            )));
        }
        let check_id = cluster_id.clone();
        let checked = tokio::task::spawn_blocking(move || hsm.check(&check_id)).await.map_err(Error::internal)?;
        checked.map_err(|why| {
            tracing::warn!(cluster = %cluster_id, error = %why, "HSM cluster not reachable");
            Error::CloudHsmClusterNotActive(format!("Cluster {cluster_id} is not active: {why}"))
        })?;
        let id = new_store_id()?;
        let record = CustomKeyStoreRecord {
            sealed_password: self.seal_password(&id, &password)?,
            id: id.clone(),
            account,
            name,
            store_type,
            created_ms: self.clock.now_ms(),
            state: ConnectionStateType::Disconnected,
            error_code: None,
            cluster_id: Some(cluster_id),
            trust_anchor: Some(anchor),
            xks: None,
        };
        self.put_custom_key_store(&record).await?;
        Ok(CreateCustomKeyStoreResponse { custom_key_store_id: Some(id) })
    }

    /// The name is free and the account below its quota (under the write lock).
    fn check_new_store(&self, account: &str, name: &str) -> Result<()> {
        let stores = self.custom_key_stores.read().map_err(poisoned)?;
        if stores.values().any(|s| s.account == account && s.name == name) {
            return Err(name_in_use(name));
        }
        if stores.values().filter(|s| s.account == account).count() >= CUSTOM_KEY_STORES_PER_ACCOUNT {
            return Err(Error::LimitExceeded(format!(
                "The request was rejected because account {account} already has {CUSTOM_KEY_STORES_PER_ACCOUNT} custom key stores in {}, the most it may have.",
                self.loc.region
            )));
        }
        Ok(())
    }

    /// CreateCustomKeyStore of type EXTERNAL_KEY_STORE: the proxy must
    /// answer GetHealthStatus first (PUBLIC_ENDPOINT connectivity).
    async fn create_external_key_store(
        &self,
        ctx: &RequestContext,
        req: CreateCustomKeyStoreRequest,
    ) -> Result<CreateCustomKeyStoreResponse> {
        for (member, given) in [
            ("CloudHsmClusterId", req.cloud_hsm_cluster_id.is_some()),
            ("TrustAnchorCertificate", req.trust_anchor_certificate.is_some()),
            ("KeyStorePassword", req.key_store_password.is_some()),
        ] {
            if given {
                return Err(Error::Validation(format!(
                    "{member} is valid only for custom key stores of type AWS_CLOUDHSM."
                )));
            }
        }
        let name = req.custom_key_store_name.unwrap_or_default();
        let account = ctx.principal.account.clone();
        let _w = self.write_lock.lock().await;
        self.check_new_store(&account, &name)?;
        let id = new_store_id()?;
        let (x, sealed) = self.xks_members(
            &id,
            req.xks_proxy_uri_endpoint,
            req.xks_proxy_uri_path,
            req.xks_proxy_connectivity,
            req.xks_proxy_vpc_endpoint_service_name,
            req.xks_proxy_vpc_endpoint_service_owner,
            req.xks_proxy_authentication_credential,
        )?;
        self.xks_uri_in_use(&account, &id, &x)?;
        let record = CustomKeyStoreRecord {
            sealed_password: sealed,
            id: id.clone(),
            account,
            name,
            store_type: CustomKeyStoreType::ExternalKeyStore,
            created_ms: self.clock.now_ms(),
            state: ConnectionStateType::Disconnected,
            error_code: None,
            cluster_id: None,
            trust_anchor: None,
            xks: Some(x),
        };
        self.xks_health(&record, &ctx.request_id, "CreateCustomKeyStore")
            .await
            .map_err(|e| super::xks::map_error(&e, super::xks::XksUse::Store))?;
        self.put_custom_key_store(&record).await?;
        Ok(CreateCustomKeyStoreResponse { custom_key_store_id: Some(id) })
    }

    pub async fn describe_custom_key_stores(
        &self,
        ctx: &RequestContext,
        req: DescribeCustomKeyStoresRequest,
    ) -> Result<DescribeCustomKeyStoresResponse> {
        self.authorize_identity(ctx, &Access::new("kms:DescribeCustomKeyStores"))?;
        let account = &ctx.principal.account;
        let mut stores: Vec<CustomKeyStoreRecord> = match (&req.custom_key_store_id, &req.custom_key_store_name) {
            (Some(_), Some(_)) => {
                return Err(Error::Validation(
                    "You cannot specify both CustomKeyStoreId and CustomKeyStoreName in the same request.".into(),
                ))
            }
            (Some(id), None) => vec![self.custom_key_store(ctx, id)?],
            (None, name) => {
                let all: Vec<CustomKeyStoreRecord> = self
                    .custom_key_stores
                    .read()
                    .map_err(poisoned)?
                    .values()
                    .filter(|s| &s.account == account && name.as_ref().is_none_or(|n| &s.name == n))
                    .cloned()
                    .collect();
                if let (Some(n), true) = (name, all.is_empty()) {
                    return Err(Error::CustomKeyStoreNotFound(format!("Custom key store '{n}' does not exist.")));
                }
                all
            }
        };
        // Oldest first; the marker is the last id of the previous page.
        stores.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        if let Some(m) = &req.marker {
            let at =
                stores.iter().position(|s| &s.id == m).ok_or_else(|| Error::InvalidMarker("Invalid marker".into()))?;
            stores.drain(..=at);
        }
        let limit = req.limit.map_or(super::keys::DEFAULT_LIST_LIMIT, i64::from) as usize;
        let truncated = stores.len() > limit;
        stores.truncate(limit);
        Ok(DescribeCustomKeyStoresResponse {
            next_marker: truncated.then(|| stores.last().map(|s| s.id.clone())).flatten(),
            truncated: Some(truncated),
            custom_key_stores: Some(stores.iter().map(list_entry).collect()),
        })
    }

    pub async fn update_custom_key_store(
        &self,
        ctx: &RequestContext,
        req: UpdateCustomKeyStoreRequest,
    ) -> Result<UpdateCustomKeyStoreResponse> {
        self.authorize_identity(ctx, &Access::new("kms:UpdateCustomKeyStore"))?;
        let id = req.custom_key_store_id.clone().unwrap_or_default();
        let _w = self.write_lock.lock().await;
        let mut r = self.custom_key_store(ctx, &id)?;
        no_xks_members(
            r.store_type,
            &[
                ("XksProxyUriEndpoint", req.xks_proxy_uri_endpoint.is_some()),
                ("XksProxyUriPath", req.xks_proxy_uri_path.is_some()),
                ("XksProxyVpcEndpointServiceName", req.xks_proxy_vpc_endpoint_service_name.is_some()),
                ("XksProxyVpcEndpointServiceOwner", req.xks_proxy_vpc_endpoint_service_owner.is_some()),
                ("XksProxyAuthenticationCredential", req.xks_proxy_authentication_credential.is_some()),
                ("XksProxyConnectivity", req.xks_proxy_connectivity.is_some()),
            ],
        )?;
        if r.store_type == CustomKeyStoreType::ExternalKeyStore {
            return self.update_external_key_store(ctx, r, req).await;
        }
        let name_only = req.key_store_password.is_none() && req.cloud_hsm_cluster_id.is_none();
        let allowed = match r.state {
            ConnectionStateType::Disconnected => true,
            ConnectionStateType::Connected => name_only,
            _ => false,
        };
        if !allowed {
            return Err(Error::CustomKeyStoreInvalidState(format!(
                "Custom key store {id} is {}: only a DISCONNECTED custom key store can be updated (a CONNECTED one: its name only).",
                r.state
            )));
        }
        self.rename(&mut r, req.new_custom_key_store_name)?;
        if let Some(new_cluster) = req.cloud_hsm_cluster_id {
            let hsm = self.hsm()?;
            let to = hsm.cluster(&new_cluster).ok_or_else(|| cluster_not_found(&new_cluster))?;
            let from = r.cluster_id.as_deref().and_then(|c| hsm.cluster(c));
            if from.is_some_and(|f| f.token != to.token) {
                return Err(Error::CloudHsmClusterNotRelated(format!(
                    "Cluster {new_cluster} is not related to the cluster of custom key store {id}: it does not hold the same keys."
                )));
            }
            r.cluster_id = Some(new_cluster);
        }
        if let Some(p) = req.key_store_password {
            r.sealed_password = self.seal_password(&r.id, &p)?;
        }
        self.put_custom_key_store(&r).await?;
        Ok(UpdateCustomKeyStoreResponse {})
    }

    /// UpdateCustomKeyStore of an external key store (under the write
    /// lock). While CONNECTED, the name, the credential and the URI path
    /// may change; the rest needs DISCONNECTED. A changed proxy setting is
    /// checked with GetHealthStatus before it is kept.
    async fn update_external_key_store(
        &self,
        ctx: &RequestContext,
        mut r: CustomKeyStoreRecord,
        req: UpdateCustomKeyStoreRequest,
    ) -> Result<UpdateCustomKeyStoreResponse> {
        let id = r.id.clone();
        for (member, given) in [
            ("CloudHsmClusterId", req.cloud_hsm_cluster_id.is_some()),
            ("KeyStorePassword", req.key_store_password.is_some()),
        ] {
            if given {
                return Err(Error::Validation(format!(
                    "{member} is valid only for custom key stores of type AWS_CLOUDHSM."
                )));
            }
        }
        let needs_disconnected = req.xks_proxy_uri_endpoint.is_some()
            || req.xks_proxy_connectivity.is_some()
            || req.xks_proxy_vpc_endpoint_service_name.is_some()
            || req.xks_proxy_vpc_endpoint_service_owner.is_some();
        let allowed = match r.state {
            ConnectionStateType::Disconnected => true,
            ConnectionStateType::Connected => !needs_disconnected,
            _ => false,
        };
        if !allowed {
            return Err(Error::CustomKeyStoreInvalidState(format!(
                "Custom key store {id} is {}: only a DISCONNECTED custom key store can be updated (a CONNECTED external key store: its name, credential and URI path only).",
                r.state
            )));
        }
        self.rename(&mut r, req.new_custom_key_store_name)?;
        let old = r.xks.clone().ok_or_else(|| Error::internal("external key store without proxy settings"))?;
        let proxy_changed =
            needs_disconnected || req.xks_proxy_uri_path.is_some() || req.xks_proxy_authentication_credential.is_some();
        if proxy_changed {
            let connectivity = req.xks_proxy_connectivity.or_else(|| Some(old.connectivity.as_str().to_string()));
            let cred = match req.xks_proxy_authentication_credential {
                Some(c) => c,
                None => {
                    let s = self.shared.root.open(&CustomKeyStoreRecord::secret_binding(&id), &r.sealed_password)?;
                    XksProxyAuthenticationCredential {
                        access_key_id: Some(SecretString::new(old.access_key_id.clone())),
                        raw_secret_access_key: Some(SecretString::new(
                            String::from_utf8_lossy(s.expose()).into_owned(),
                        )),
                    }
                }
            };
            let (x, sealed) = self.xks_members(
                &id,
                req.xks_proxy_uri_endpoint.or(Some(old.uri_endpoint.clone())),
                req.xks_proxy_uri_path.or(Some(old.uri_path.clone())),
                connectivity,
                req.xks_proxy_vpc_endpoint_service_name,
                req.xks_proxy_vpc_endpoint_service_owner,
                Some(cred),
            )?;
            self.xks_uri_in_use(&r.account, &id, &x)?;
            r.xks = Some(x);
            r.sealed_password = sealed;
            self.xks_health(&r, &ctx.request_id, "UpdateCustomKeyStore")
                .await
                .map_err(|e| super::xks::map_error(&e, super::xks::XksUse::Store))?;
        }
        self.put_custom_key_store(&r).await?;
        Ok(UpdateCustomKeyStoreResponse {})
    }

    pub async fn connect_custom_key_store(
        &self,
        ctx: &RequestContext,
        req: ConnectCustomKeyStoreRequest,
    ) -> Result<ConnectCustomKeyStoreResponse> {
        self.authorize_identity(ctx, &Access::new("kms:ConnectCustomKeyStore"))?;
        let id = req.custom_key_store_id.unwrap_or_default();
        {
            let _w = self.write_lock.lock().await;
            let mut r = self.custom_key_store(ctx, &id)?;
            match r.state {
                ConnectionStateType::Connected | ConnectionStateType::Connecting => {
                    return Ok(ConnectCustomKeyStoreResponse {})
                }
                ConnectionStateType::Failed | ConnectionStateType::Disconnecting => {
                    return Err(Error::CustomKeyStoreInvalidState(format!(
                        "Custom key store {id} is {}: disconnect it (DisconnectCustomKeyStore), then connect it.",
                        r.state
                    )))
                }
                ConnectionStateType::Disconnected => {}
            }
            r.state = ConnectionStateType::Connecting;
            r.error_code = None;
            self.put_custom_key_store(&r).await?;
        }
        // Asynchronous, as in AWS: the caller watches ConnectionState.
        let regions = self.regions()?;
        let region = self.loc.region.clone();
        tokio::spawn(async move {
            if let Ok(Some(kms)) = regions.get(&region).await {
                kms.finish_connect(&id).await;
            }
        });
        Ok(ConnectCustomKeyStoreResponse {})
    }

    /// Log in to a `CONNECTING` store's token: `CONNECTED` and its keys
    /// available, or `FAILED` with the reason's `ConnectionErrorCode`.
    pub(super) async fn finish_connect(&self, id: &str) {
        let external = self
            .custom_key_stores
            .read()
            .is_ok_and(|m| m.get(id).is_some_and(|r| r.store_type == CustomKeyStoreType::ExternalKeyStore));
        let outcome = match external {
            true => self.try_connect_xks(id).await.map(|()| None),
            false => self.try_connect(id).await.map(Some),
        };
        let result = async {
            let _w = self.write_lock.lock().await;
            let Some(mut r) = self.custom_key_stores.read().map_err(poisoned)?.get(id).cloned() else {
                return Ok(());
            };
            if r.state != ConnectionStateType::Connecting {
                // Disconnected meanwhile.
                if let Ok(Some(c)) = outcome {
                    close(c).await?;
                }
                return Ok(());
            }
            match outcome {
                Ok(c) => {
                    if let Some(c) = c {
                        self.hsm_connections.write().map_err(poisoned)?.insert(id.to_string(), c);
                    }
                    self.set_keys_available(&r, true).await?;
                    r.state = ConnectionStateType::Connected;
                    tracing::info!(custom_key_store = %id, "custom key store connected");
                }
                Err(e) => {
                    tracing::warn!(custom_key_store = %id, code = %e.code, error = %e.message, "custom key store failed to connect");
                    self.set_keys_available(&r, false).await?;
                    r.state = ConnectionStateType::Failed;
                    r.error_code = Some(e.code);
                }
            }
            self.put_custom_key_store(&r).await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(custom_key_store = %id, error = %e, "custom key store connection not recorded");
        }
    }

    /// An external key store connects when its proxy answers GetHealthStatus.
    async fn try_connect_xks(&self, id: &str) -> std::result::Result<(), crate::ports::HsmConnectError> {
        let r = self.custom_key_stores.read().ok().and_then(|m| m.get(id).cloned()).ok_or_else(|| {
            crate::ports::HsmConnectError { code: ConnectionErrorCodeType::InternalError, message: "gone".into() }
        })?;
        let request_id = crate::ids::new_key_id().unwrap_or_default();
        self.xks_health(&r, &request_id, "ConnectCustomKeyStore").await.map_err(|e| crate::ports::HsmConnectError {
            code: super::xks::connection_code(&e),
            message: format!("{e:?}"),
        })
    }

    async fn try_connect(
        &self,
        id: &str,
    ) -> std::result::Result<Arc<dyn HsmConnection>, crate::ports::HsmConnectError> {
        let internal =
            |message: String| crate::ports::HsmConnectError { code: ConnectionErrorCodeType::InternalError, message };
        let r = self
            .custom_key_stores
            .read()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .ok_or_else(|| internal("gone".into()))?;
        let (Some(hsm), Some(cluster)) = (self.shared.hsm.clone(), r.cluster_id.clone()) else {
            return Err(crate::ports::HsmConnectError {
                code: ConnectionErrorCodeType::ClusterNotFound,
                message: "no such HSM cluster in this server's configuration".into(),
            });
        };
        if hsm.cluster(&cluster).is_none() {
            return Err(crate::ports::HsmConnectError {
                code: ConnectionErrorCodeType::ClusterNotFound,
                message: format!("cluster {cluster} is not in this server's configuration"),
            });
        }
        let pin = self
            .shared
            .root
            .open(&CustomKeyStoreRecord::secret_binding(id), &r.sealed_password)
            .map_err(|e| internal(e.to_string()))?;
        let pin = SecretString::new(String::from_utf8(pin.expose().to_vec()).map_err(|e| internal(e.to_string()))?);
        tokio::task::spawn_blocking(move || hsm.connect(&cluster, &pin)).await.map_err(|e| internal(e.to_string()))?
    }

    pub async fn disconnect_custom_key_store(
        &self,
        ctx: &RequestContext,
        req: DisconnectCustomKeyStoreRequest,
    ) -> Result<DisconnectCustomKeyStoreResponse> {
        self.authorize_identity(ctx, &Access::new("kms:DisconnectCustomKeyStore"))?;
        let id = req.custom_key_store_id.unwrap_or_default();
        let _w = self.write_lock.lock().await;
        let mut r = self.custom_key_store(ctx, &id)?;
        if matches!(r.state, ConnectionStateType::Disconnected | ConnectionStateType::Disconnecting) {
            return Err(Error::CustomKeyStoreInvalidState(format!(
                "Custom key store {id} is {}: it is not connected.",
                r.state
            )));
        }
        self.set_keys_available(&r, false).await?;
        let gone = self.hsm_connections.write().map_err(poisoned)?.remove(&id);
        if let Some(c) = gone {
            close(c).await?;
        }
        r.state = ConnectionStateType::Disconnected;
        r.error_code = None;
        self.put_custom_key_store(&r).await?;
        Ok(DisconnectCustomKeyStoreResponse {})
    }

    pub async fn delete_custom_key_store(
        &self,
        ctx: &RequestContext,
        req: DeleteCustomKeyStoreRequest,
    ) -> Result<DeleteCustomKeyStoreResponse> {
        self.authorize_identity(ctx, &Access::new("kms:DeleteCustomKeyStore"))?;
        let id = req.custom_key_store_id.unwrap_or_default();
        let _w = self.write_lock.lock().await;
        let r = self.custom_key_store(ctx, &id)?;
        if r.state != ConnectionStateType::Disconnected {
            return Err(Error::CustomKeyStoreInvalidState(format!(
                "Custom key store {id} is {}: only a DISCONNECTED custom key store can be deleted.",
                r.state
            )));
        }
        if !self.keys_in_store(&r).await?.is_empty() {
            return Err(Error::CustomKeyStoreHasCmks(format!(
                "Custom key store {id} still has KMS keys (keys pending deletion too): delete them first."
            )));
        }
        self.store.delete_meta(&self.custom_key_store_name(&id)).await?;
        self.custom_key_stores.write().map_err(poisoned)?.remove(&id);
        Ok(DeleteCustomKeyStoreResponse {})
    }

    /// Every key of the store `r` (its account's keys, read from the store).
    pub(super) async fn keys_in_store(&self, r: &CustomKeyStoreRecord) -> Result<Vec<KeyRecord>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let ids = self.store.list_key_ids(&r.account, after.as_deref(), 1000).await?;
            let Some(last) = ids.last().cloned() else { break };
            for id in ids {
                if let Some(k) = self.store.get_key(&id).await? {
                    if k.custom_key_store.as_ref().is_some_and(|c| c.id == r.id) {
                        out.push(k);
                    }
                }
            }
            after = Some(last);
        }
        Ok(out)
    }

    /// Make the store's keys `Unavailable` (keeping the state they return
    /// to; keys pending deletion stay so), or give them back their state.
    /// Under the write lock.
    async fn set_keys_available(&self, r: &CustomKeyStoreRecord, available: bool) -> Result<()> {
        for mut k in self.keys_in_store(r).await? {
            let Some(place) = k.custom_key_store.as_mut() else { continue };
            let changed = match (available, k.state) {
                (true, KeyState::Unavailable) => {
                    k.state = place.connected_state.take().unwrap_or(KeyState::Enabled);
                    true
                }
                (false, KeyState::Enabled | KeyState::Disabled) => {
                    place.connected_state = Some(k.state);
                    k.state = KeyState::Unavailable;
                    true
                }
                _ => false,
            };
            if changed {
                let old = k.clone();
                self.write_record(&old, k, self.clock.now_ms()).await?;
            }
        }
        Ok(())
    }

    /// Whether the store `id` is connected (its keys usable).
    pub(super) fn store_connected(&self, id: &str) -> bool {
        self.custom_key_stores
            .read()
            .is_ok_and(|m| m.get(id).is_some_and(|r| r.state == ConnectionStateType::Connected))
    }

    /// A key that takes the state `state` while its store is not connected
    /// becomes `Unavailable` instead (CancelKeyDeletion in a disconnected store).
    pub(super) fn unless_disconnected(&self, rec: &mut KeyRecord, state: KeyState) {
        match rec.custom_key_store.as_mut() {
            Some(place) if !self.store_connected(&place.id) => {
                place.connected_state = Some(state);
                rec.state = KeyState::Unavailable;
            }
            _ => rec.state = state,
        }
    }

    /// Connect again, in the background, every store that was connected
    /// (a restart, or a region opened afresh).
    pub(super) fn resume_connections(self: &Arc<Self>) {
        let ids: Vec<String> = self
            .custom_key_stores
            .read()
            .map(|m| {
                m.values()
                    .filter(|r| match r.store_type {
                        // Nothing to log in to: a CONNECTED external key
                        // store stays so (its calls fail one by one while
                        // the proxy is down); one caught CONNECTING
                        // finishes its health check.
                        CustomKeyStoreType::ExternalKeyStore => r.state == ConnectionStateType::Connecting,
                        _ => matches!(r.state, ConnectionStateType::Connected | ConnectionStateType::Connecting),
                    })
                    .map(|r| r.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in ids {
            let kms = self.clone();
            tokio::spawn(async move {
                let marked = async {
                    let _w = kms.write_lock.lock().await;
                    let Some(mut r) = kms.custom_key_stores.read().map_err(poisoned)?.get(&id).cloned() else {
                        return Ok(());
                    };
                    r.state = ConnectionStateType::Connecting;
                    kms.put_custom_key_store(&r).await
                }
                .await;
                match marked {
                    Ok(()) => kms.finish_connect(&id).await,
                    Err(e) => tracing::error!(custom_key_store = %id, error = %e, "custom key store not reconnected"),
                }
            });
        }
    }

    /// Log out of every token this region holds (before it is opened afresh).
    pub(super) async fn close_connections(&self) -> Result<()> {
        let all: Vec<_> = self.hsm_connections.write().map_err(poisoned)?.drain().map(|(_, c)| c).collect();
        for c in all {
            close(c).await?;
        }
        Ok(())
    }

    /// The logged-in token of a key's store: `KeyUnavailableException`
    /// (retryable) while this server has not connected it yet.
    pub(super) fn hsm_connection(&self, store_id: &str, arn: &str) -> Result<Arc<dyn HsmConnection>> {
        self.hsm_connections
            .read()
            .map_err(poisoned)?
            .get(store_id)
            .cloned()
            .ok_or_else(|| Error::KeyUnavailable(format!("{arn} is unavailable: its custom key store is not connected to this server yet. You can retry the request.")))
    }

    /// Make a new key's material in its store's HSM.
    pub(super) async fn hsm_generate(&self, ctx: &RequestContext, store_id: &str, key_id: &str) -> Result<()> {
        let r = self.custom_key_store(ctx, store_id)?;
        if r.state != ConnectionStateType::Connected {
            return Err(Error::CustomKeyStoreInvalidState(format!(
                "Custom key store {store_id} is {}: keys can be created only in a CONNECTED custom key store.",
                r.state
            )));
        }
        let c = self.hsm_connection(store_id, key_id)?;
        let label = key_id.to_string();
        blocking(move || c.generate_key(&label)).await
    }

    /// AES-GCM under a key's HSM material: ciphertext || tag.
    pub(super) async fn hsm_encrypt(
        &self,
        store_id: &str,
        key: &KeyRecord,
        arn: &str,
        iv: [u8; 12],
        aad: Vec<u8>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let c = self.hsm_connection(store_id, arn)?;
        let (label, plaintext) = (key.key_id.clone(), SecretBytes::new(plaintext.to_vec()));
        blocking(move || c.encrypt(&label, &iv, &aad, plaintext.expose())).await
    }

    pub(super) async fn hsm_decrypt(
        &self,
        store_id: &str,
        key: &KeyRecord,
        arn: &str,
        iv: Vec<u8>,
        aad: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<SecretBytes> {
        let c = self.hsm_connection(store_id, arn)?;
        let label = key.key_id.clone();
        blocking(move || c.decrypt(&label, &iv, &aad, &ciphertext)).await
    }

    /// Destroy a deleted key's material in its HSM. When the store is not
    /// connected the material stays in the token (AWS: it stays in the
    /// cluster), and the log says so.
    pub(super) async fn hsm_destroy(&self, key: &KeyRecord) {
        let Some(place) = &key.custom_key_store else { return };
        // A key of an external key store: its material here goes with the
        // record; the external key stays at the proxy (AWS: it is the
        // owner's to delete there).
        if key.origin == Origin::ExternalKeyStore {
            return;
        }
        let Some(c) = self.hsm_connections.read().ok().and_then(|m| m.get(&place.id).cloned()) else {
            tracing::warn!(key_id = %key.key_id, custom_key_store = %place.id, "key deleted while its custom key store is not connected: its material stays in the HSM (label = the key id)");
            return;
        };
        let label = key.key_id.clone();
        match blocking(move || c.destroy_key(&label)).await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(key_id = %key.key_id, error = %e, "the key's material could not be destroyed in the HSM")
            }
        }
    }

    /// GenerateRandom from a store's HSM.
    pub(super) async fn hsm_random(&self, ctx: &RequestContext, store_id: &str, n: usize) -> Result<SecretBytes> {
        let r = self.custom_key_store(ctx, store_id)?;
        if r.store_type == CustomKeyStoreType::ExternalKeyStore {
            return Err(Error::UnsupportedOperation(
                "GenerateRandom does not support custom key stores of type EXTERNAL_KEY_STORE.".into(),
            ));
        }
        if r.state != ConnectionStateType::Connected {
            return Err(Error::CustomKeyStoreInvalidState(format!(
                "Custom key store {store_id} is {}: GenerateRandom needs a CONNECTED custom key store.",
                r.state
            )));
        }
        if !self.quotas.is_off() {
            self.quotas.charge(store_id, crate::quota::QuotaClass::CustomKeyStore)?;
        }
        let c = self.hsm_connection(store_id, store_id)?;
        blocking(move || c.random(n)).await
    }

    /// Where a new key in a custom key store goes (CreateKey).
    pub(super) fn new_place(store_id: &str) -> InCustomKeyStore {
        InCustomKeyStore { id: store_id.to_string(), connected_state: None, xks_key_id: None }
    }

    /// The store of `store_id` must be of the type the origin names.
    pub(super) fn check_store_origin(&self, ctx: &RequestContext, store_id: &str, origin: Origin) -> Result<()> {
        let r = self.custom_key_store(ctx, store_id)?;
        let expected = match origin {
            Origin::AwsCloudhsm => CustomKeyStoreType::AwsCloudhsm,
            _ => CustomKeyStoreType::ExternalKeyStore,
        };
        if r.store_type != expected {
            return Err(Error::UnsupportedOperation(format!(
                "Origin {origin} does not match custom key store {store_id}, of type {}.",
                r.store_type
            )));
        }
        Ok(())
    }
}

/// Run blocking HSM work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(Error::internal)?
}

/// Log out of a token, off the async runtime.
async fn close(c: Arc<dyn HsmConnection>) -> Result<()> {
    blocking(move || {
        c.close();
        Ok(())
    })
    .await
}

fn name_in_use(name: &str) -> Error {
    Error::CustomKeyStoreNameInUse(format!(
        "Custom key store name '{name}' is already in use in this account and Region."
    ))
}

fn cluster_not_found(id: &str) -> Error {
    Error::CloudHsmClusterNotFound(format!(
        "Cluster {id} was not found: it is not in this server's configuration (hsm_clusters)."
    ))
}

/// The external key store members make no sense for a CloudHSM store.
fn no_xks_members(t: CustomKeyStoreType, given: &[(&str, bool)]) -> Result<()> {
    if t != CustomKeyStoreType::AwsCloudhsm {
        return Ok(());
    }
    match given.iter().find(|(_, g)| *g) {
        Some((member, _)) => {
            Err(Error::Validation(format!("{member} is valid only for custom key stores of type EXTERNAL_KEY_STORE.")))
        }
        None => Ok(()),
    }
}

/// Two PEM certificates are the same certificate (whitespace aside).
fn same_certificate(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<String>();
    norm(a) == norm(b)
}

fn list_entry(r: &CustomKeyStoreRecord) -> CustomKeyStoresListEntry {
    CustomKeyStoresListEntry {
        custom_key_store_id: Some(r.id.clone()),
        custom_key_store_name: Some(r.name.clone()),
        cloud_hsm_cluster_id: r.cluster_id.clone(),
        trust_anchor_certificate: r.trust_anchor.clone(),
        connection_state: Some(r.state.as_str().to_string()),
        connection_error_code: (r.state == ConnectionStateType::Failed)
            .then(|| r.error_code.map(|c| c.as_str().to_string()))
            .flatten(),
        creation_date: Some(epoch_seconds(r.created_ms)),
        custom_key_store_type: Some(r.store_type.as_str().to_string()),
        xks_proxy_configuration: r.xks.as_ref().map(|x| XksProxyConfiguration {
            connectivity: Some(x.connectivity.as_str().to_string()),
            access_key_id: Some(SecretString::new(x.access_key_id.clone())),
            uri_endpoint: Some(x.uri_endpoint.clone()),
            uri_path: Some(x.uri_path.clone()),
            vpc_endpoint_service_name: x.vpc_endpoint_service_name.clone(),
            vpc_endpoint_service_owner: x.vpc_endpoint_service_owner.clone(),
        }),
    }
}

/// `cks-` and 17 hex digits.
fn new_store_id() -> Result<String> {
    let mut raw = [0u8; 9];
    crate::crypto::fill_random(&mut raw)?;
    Ok(format!("cks-{}", &crate::crypto::hex(&raw)[..17]))
}
