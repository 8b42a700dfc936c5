//! Operations of the AWS model this server does not implement yet: key
//! rotation, imported key material, multi-Region keys and custom key
//! stores. Each validates its request like every operation (in the wire
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

    pub async fn enable_key_rotation(&self, ctx: &RequestContext, req: EnableKeyRotationRequest) -> Result<()> {
        self.not_built(ctx, "EnableKeyRotation", req.key_id.as_deref(), ROTATION).await
    }

    pub async fn disable_key_rotation(&self, ctx: &RequestContext, req: DisableKeyRotationRequest) -> Result<()> {
        self.not_built(ctx, "DisableKeyRotation", req.key_id.as_deref(), ROTATION).await
    }

    pub async fn get_key_rotation_status(
        &self,
        ctx: &RequestContext,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse> {
        self.not_built(ctx, "GetKeyRotationStatus", req.key_id.as_deref(), ROTATION).await
    }

    pub async fn rotate_key_on_demand(
        &self,
        ctx: &RequestContext,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse> {
        self.not_built(ctx, "RotateKeyOnDemand", req.key_id.as_deref(), ROTATION).await
    }

    pub async fn list_key_rotations(
        &self,
        ctx: &RequestContext,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse> {
        self.not_built(ctx, "ListKeyRotations", req.key_id.as_deref(), ROTATION).await
    }

    pub async fn get_parameters_for_import(
        &self,
        ctx: &RequestContext,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse> {
        self.not_built(ctx, "GetParametersForImport", req.key_id.as_deref(), IMPORT).await
    }

    pub async fn import_key_material(
        &self,
        ctx: &RequestContext,
        req: ImportKeyMaterialRequest,
    ) -> Result<ImportKeyMaterialResponse> {
        self.not_built(ctx, "ImportKeyMaterial", req.key_id.as_deref(), IMPORT).await
    }

    pub async fn delete_imported_key_material(
        &self,
        ctx: &RequestContext,
        req: DeleteImportedKeyMaterialRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse> {
        self.not_built(ctx, "DeleteImportedKeyMaterial", req.key_id.as_deref(), IMPORT).await
    }

    pub async fn replicate_key(&self, ctx: &RequestContext, req: ReplicateKeyRequest) -> Result<ReplicateKeyResponse> {
        self.not_built(ctx, "ReplicateKey", req.key_id.as_deref(), MULTI_REGION).await
    }

    pub async fn update_primary_region(&self, ctx: &RequestContext, req: UpdatePrimaryRegionRequest) -> Result<()> {
        self.not_built(ctx, "UpdatePrimaryRegion", req.key_id.as_deref(), MULTI_REGION).await
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

const ROTATION: &str = "key rotation";
const IMPORT: &str = "imported key material";
const MULTI_REGION: &str = "multi-Region keys";
const CUSTOM_KEY_STORES: &str = "custom key stores";
