//! Operations of the AWS model this server does not implement yet:
//! custom key stores. Each validates its request like every operation (in the wire
//! layer), resolves and authorizes its key where it names one (so an unknown
//! key still gets `NotFoundException`), then answers
//! `UnsupportedOperationException` with a message that names what is
//! missing. `UnknownOperationException` stays for targets AWS does not have.

use super::{Access, Kms, RequestContext};
use crate::error::{Error, Result};
use crate::model::*;

impl Kms {
    async fn not_built<T>(&self, ctx: &RequestContext, op: &str, key_id: Option<&str>, what: &str) -> Result<T> {
        let action = format!("kms:{op}");
        let access = Access::new(&action);
        match key_id {
            Some(id) => drop(self.resolve(ctx, id, &access).await?),
            None => self.authorize_identity(ctx, &access)?,
        }
        Err(Error::UnsupportedOperation(format!("{op} is not supported by this server yet: {what}.")))
    }

    pub async fn create_custom_key_store(
        &self,
        ctx: &RequestContext,
        _req: CreateCustomKeyStoreRequest,
    ) -> Result<CreateCustomKeyStoreResponse> {
        self.not_built(ctx, "CreateCustomKeyStore", None, CUSTOM_KEY_STORES).await
    }

    pub async fn describe_custom_key_stores(
        &self,
        ctx: &RequestContext,
        _req: DescribeCustomKeyStoresRequest,
    ) -> Result<DescribeCustomKeyStoresResponse> {
        self.not_built(ctx, "DescribeCustomKeyStores", None, CUSTOM_KEY_STORES).await
    }

    pub async fn update_custom_key_store(
        &self,
        ctx: &RequestContext,
        _req: UpdateCustomKeyStoreRequest,
    ) -> Result<UpdateCustomKeyStoreResponse> {
        self.not_built(ctx, "UpdateCustomKeyStore", None, CUSTOM_KEY_STORES).await
    }

    pub async fn connect_custom_key_store(
        &self,
        ctx: &RequestContext,
        _req: ConnectCustomKeyStoreRequest,
    ) -> Result<ConnectCustomKeyStoreResponse> {
        self.not_built(ctx, "ConnectCustomKeyStore", None, CUSTOM_KEY_STORES).await
    }

    pub async fn disconnect_custom_key_store(
        &self,
        ctx: &RequestContext,
        _req: DisconnectCustomKeyStoreRequest,
    ) -> Result<DisconnectCustomKeyStoreResponse> {
        self.not_built(ctx, "DisconnectCustomKeyStore", None, CUSTOM_KEY_STORES).await
    }

    pub async fn delete_custom_key_store(
        &self,
        ctx: &RequestContext,
        _req: DeleteCustomKeyStoreRequest,
    ) -> Result<DeleteCustomKeyStoreResponse> {
        self.not_built(ctx, "DeleteCustomKeyStore", None, CUSTOM_KEY_STORES).await
    }
}

const CUSTOM_KEY_STORES: &str = "custom key stores";
