//! Encryption: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateDataKeyWithoutPlaintext, GenerateRandom. Symmetric keys use the
//! ciphertext blob format; asymmetric `ENCRYPT_DECRYPT` keys (RSA, SM2)
//! produce and take raw RSAES-OAEP / SM2PKE ciphertexts (`asymmetric`).

use std::sync::Arc;

use super::asymmetric;
use super::{Access, Kms, LiveKey, Material, RequestContext};
use crate::ciphertext::{self, EncryptionContext};
use crate::crypto::{fill_random, hex, SecretBytes};
use crate::error::{Error, Result};
use crate::model::*;

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

/// A ciphertext opened by [`Kms::open_ciphertext`].
struct Opened {
    key: Arc<LiveKey>,
    plaintext: SecretBytes,
    /// Empty for asymmetric keys.
    material_id: String,
    /// The encryption algorithm used.
    algorithm: String,
}

impl Kms {
    /// The key's usage must be `ENCRYPT_DECRYPT` and its spec must support
    /// the algorithm (absent: `SYMMETRIC_DEFAULT`, so an asymmetric key
    /// needs one named).
    fn check_encrypt_decrypt(k: &LiveKey, operation: &str, algorithm: Option<&str>) -> Result<()> {
        if k.record.key_usage != KeyUsage::EncryptDecrypt {
            return Err(asymmetric::usage_error(k, operation));
        }
        let algorithm = algorithm.unwrap_or(SYMMETRIC_DEFAULT);
        if !asymmetric::supports_encryption(k.record.key_spec, algorithm) {
            return Err(asymmetric::algorithm_error(algorithm, k.record.key_spec));
        }
        Ok(())
    }

    /// Resolve, gate on state and usage: the common start of every
    /// operation that encrypts under a key.
    pub(super) async fn encryption_key(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        operation: &str,
        algorithm: Option<&str>,
        access: &Access<'_>,
    ) -> Result<Arc<LiveKey>> {
        let k = self.resolve(ctx, key_id, access).await?;
        Self::usable(&k)?;
        Self::check_encrypt_decrypt(&k, operation, algorithm)?;
        Ok(k)
    }

    /// Encrypt under a symmetric key's current material (the blob format),
    /// here or in the key's HSM.
    pub(super) async fn seal(
        &self,
        ctx: &RequestContext,
        k: &LiveKey,
        ctx_map: &EncryptionContext,
        plaintext: &[u8],
        operation: &str,
    ) -> Result<(Vec<u8>, String)> {
        let (mid, material) = k.current_material().ok_or_else(|| Error::internal("key has no current material"))?;
        let mid_hex = hex(mid);
        ctx.note_material(&mid_hex);
        let blob = match material {
            // Double encryption: under the material held here, then by the
            // external key through the proxy.
            Material::Aes(aes) if k.record.origin == Origin::ExternalKeyStore => {
                let (mut blob, aad) = ciphertext::begin(&k.record.key_id, mid, ctx_map, plaintext.len())?;
                let mut inner = Vec::with_capacity(plaintext.len() + 28);
                aes.seal_into(&aad, plaintext, &mut inner)?;
                let outer = self.xks_encrypt(ctx, k, operation, &aad, &inner).await?;
                blob.extend_from_slice(&outer);
                blob
            }
            Material::Aes(aes) => ciphertext::seal(aes, &k.record.key_id, mid, ctx_map, plaintext)?,
            Material::Hsm(store) => {
                let (mut blob, aad) = ciphertext::begin(&k.record.key_id, mid, ctx_map, plaintext.len())?;
                let mut iv = [0u8; ciphertext::NONCE_LEN];
                fill_random(&mut iv)?;
                let sealed = self.hsm_encrypt(store, &k.record, &k.arn, iv, aad, plaintext).await?;
                blob.extend_from_slice(&iv);
                blob.extend_from_slice(&sealed);
                blob
            }
            Material::Private(_) | Material::Hmac(_) => {
                return Err(Error::internal("key has no symmetric encryption material"))
            }
        };
        Ok((blob, mid_hex))
    }

    /// Open a ciphertext. A symmetric blob names its key; `key_id`, when
    /// given, must name the same key. An asymmetric ciphertext names nothing:
    /// `key_id` must name its (`ENCRYPT_DECRYPT`) key.
    #[allow(clippy::too_many_arguments)]
    async fn open_ciphertext(
        &self,
        ctx: &RequestContext,
        blob: &[u8],
        key_id: Option<&str>,
        operation: &str,
        algorithm: Option<&str>,
        enc_ctx: &EncryptionContext,
        access: &Access<'_>,
    ) -> Result<Opened> {
        let key = match key_id {
            // The named key is resolved and authorized; it must be the blob's key.
            Some(given) => {
                let named = self.resolve(ctx, given, access).await?;
                let r = &named.record;
                if r.key_spec != KeySpec::SymmetricDefault && r.key_usage == KeyUsage::EncryptDecrypt {
                    Self::usable(&named)?;
                    Self::check_encrypt_decrypt(&named, operation, algorithm)?;
                    asymmetric::no_context(enc_ctx)?;
                    let plaintext = asymmetric::decrypt(&named, algorithm, blob).await?;
                    let algorithm = algorithm.unwrap_or_default().to_string();
                    return Ok(Opened { key: named, plaintext, material_id: String::new(), algorithm });
                }
                match ciphertext::parse_header(blob) {
                    Ok(h) if h.key_id != r.key_id => {
                        return Err(Error::IncorrectKey(
                            "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                        ))
                    }
                    Ok(_) => named,
                    Err(e) => {
                        // A key that cannot decrypt at all says so first.
                        Self::usable(&named)?;
                        Self::check_encrypt_decrypt(&named, operation, algorithm)?;
                        return Err(e);
                    }
                }
            }
            None => {
                let header = ciphertext::parse_header(blob)?;
                let key = self.load(&header.key_id).await?.ok_or(Error::InvalidCiphertext)?;
                ctx.note_key(&key.arn);
                self.authorize(ctx, &key, access)?;
                key
            }
        };
        let header = ciphertext::parse_header(blob)?;
        ctx.note_material(&header.material_id_hex());
        Self::usable(&key)?;
        Self::check_encrypt_decrypt(&key, operation, algorithm)?;
        let plaintext = match key.material(&header.material_id) {
            Some(Material::Aes(aes)) if key.record.origin == Origin::ExternalKeyStore => {
                let (aad, outer) = ciphertext::parts(blob, enc_ctx)?;
                let inner = self.xks_decrypt(ctx, &key, operation, &aad, outer).await?;
                aes.open(&aad, &inner).ok_or(Error::InvalidCiphertext)?
            }
            Some(Material::Aes(aes)) => ciphertext::open(aes, blob, enc_ctx)?,
            Some(Material::Hsm(store)) => {
                let (aad, sealed) = ciphertext::parts(blob, enc_ctx)?;
                let (iv, rest) = ciphertext::split_nonce(sealed);
                self.hsm_decrypt(store, &key.record, &key.arn, iv.to_vec(), aad, rest.to_vec()).await?
            }
            _ => return Err(Error::InvalidCiphertext),
        };
        Ok(Opened { key, plaintext, material_id: header.material_id_hex(), algorithm: SYMMETRIC_DEFAULT.into() })
    }

    /// Encrypt under `k` (checked by `encryption_key`): the blob format for a
    /// symmetric key; a raw RSAES-OAEP or SM2PKE ciphertext, which any
    /// standard library can also make with the public key, for an asymmetric
    /// one. Returns the ciphertext and the key material id (empty for
    /// asymmetric keys). With `dry_run`, stops once everything is checked.
    #[allow(clippy::too_many_arguments)]
    async fn encrypt_under(
        &self,
        ctx: &RequestContext,
        k: &LiveKey,
        algorithm: Option<&str>,
        ec: &EncryptionContext,
        plaintext: &[u8],
        dry_run: bool,
        operation: &str,
    ) -> Result<(Vec<u8>, String)> {
        if k.record.key_spec != KeySpec::SymmetricDefault {
            asymmetric::no_context(ec)?;
            return Ok((asymmetric::encrypt(k, algorithm, plaintext, dry_run)?, String::new()));
        }
        if dry_run {
            return Err(Error::DryRunOperation);
        }
        self.seal(ctx, k, ec, plaintext, operation).await
    }

    pub async fn encrypt(&self, ctx: &RequestContext, req: EncryptRequest) -> Result<EncryptResponse> {
        let alg = req.encryption_algorithm.as_deref();
        let ec = req.encryption_context.unwrap_or_default();
        let access = Access::new("kms:Encrypt").context(&ec).encryption_algorithm(alg);
        let k = self.encryption_key(ctx, req.key_id.as_deref().unwrap_or_default(), "Encrypt", alg, &access).await?;
        let plaintext = req.plaintext.unwrap_or_default();
        let (blob, _) =
            self.encrypt_under(ctx, &k, alg, &ec, plaintext.expose(), req.dry_run == Some(true), "Encrypt").await?;
        k.record_use("Encrypt", self.clock.now_ms(), ctx);
        Ok(EncryptResponse {
            ciphertext_blob: Some(blob),
            key_id: Some(k.arn.clone()),
            encryption_algorithm: Some(alg.unwrap_or(SYMMETRIC_DEFAULT).into()),
        })
    }

    pub async fn decrypt(&self, ctx: &RequestContext, req: DecryptRequest) -> Result<DecryptResponse> {
        let dry_run = req.dry_run == Some(true);
        let ignore_ciphertext =
            dry_run && req.dry_run_modifiers.as_deref().unwrap_or_default().iter().any(|m| m == "IGNORE_CIPHERTEXT");
        let blob = req.ciphertext_blob.unwrap_or_default();
        let alg = req.encryption_algorithm.as_deref();
        let ec = req.encryption_context.unwrap_or_default();
        let access = Access::new("kms:Decrypt").context(&ec).encryption_algorithm(alg);
        if ignore_ciphertext {
            // Check everything but the ciphertext itself.
            let key_id = match (req.key_id.as_deref(), ciphertext::parse_header(&blob)) {
                (Some(k), _) => k.to_string(),
                (None, Ok(h)) => h.key_id,
                (None, Err(e)) => return Err(e),
            };
            let k = self.encryption_key(ctx, &key_id, "Decrypt", alg, &access).await?;
            if k.record.key_spec != KeySpec::SymmetricDefault {
                asymmetric::no_context(&ec)?;
            }
            return Err(Error::DryRunOperation);
        }
        let opened = self.open_ciphertext(ctx, &blob, req.key_id.as_deref(), "Decrypt", alg, &ec, &access).await?;
        if dry_run {
            return Err(Error::DryRunOperation);
        }
        opened.key.record_use("Decrypt", self.clock.now_ms(), ctx);
        Ok(DecryptResponse {
            key_id: Some(opened.key.arn.clone()),
            plaintext: Some(opened.plaintext),
            encryption_algorithm: Some(opened.algorithm),
            key_material_id: material_id(opened.material_id),
            ciphertext_for_recipient: None,
        })
    }

    pub async fn re_encrypt(&self, ctx: &RequestContext, req: ReEncryptRequest) -> Result<ReEncryptResponse> {
        let blob = req.ciphertext_blob.unwrap_or_default();
        let src_ctx = req.source_encryption_context.unwrap_or_default();
        let src_alg = req.source_encryption_algorithm.as_deref();
        let from = Access::new("kms:ReEncryptFrom").context(&src_ctx).encryption_algorithm(src_alg);
        let opened = self
            .open_ciphertext(ctx, &blob, req.source_key_id.as_deref(), "ReEncrypt", src_alg, &src_ctx, &from)
            .await?;
        let dest_ctx = req.destination_encryption_context.unwrap_or_default();
        let dest_alg = req.destination_encryption_algorithm.as_deref();
        let to = Access::new("kms:ReEncryptTo").context(&dest_ctx).encryption_algorithm(dest_alg);
        let dest = self
            .encryption_key(ctx, req.destination_key_id.as_deref().unwrap_or_default(), "ReEncrypt", dest_alg, &to)
            .await?;
        let (new_blob, dest_mid) = self
            .encrypt_under(
                ctx,
                &dest,
                dest_alg,
                &dest_ctx,
                opened.plaintext.expose(),
                req.dry_run == Some(true),
                "ReEncrypt",
            )
            .await?;
        let now = self.clock.now_ms();
        opened.key.record_use("ReEncrypt", now, ctx);
        dest.record_use("ReEncrypt", now, ctx);
        Ok(ReEncryptResponse {
            ciphertext_blob: Some(new_blob),
            source_key_id: Some(opened.key.arn.clone()),
            key_id: Some(dest.arn.clone()),
            source_encryption_algorithm: Some(opened.algorithm),
            destination_encryption_algorithm: Some(dest_alg.unwrap_or(SYMMETRIC_DEFAULT).into()),
            source_key_material_id: material_id(opened.material_id),
            destination_key_material_id: material_id(dest_mid),
        })
    }

    async fn data_key(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
        operation: &str,
    ) -> Result<GenerateDataKeyResponse> {
        let n = match (req.number_of_bytes, req.key_spec.as_deref()) {
            (Some(n), None) => n as usize,
            (None, Some("AES_256")) => 32,
            (None, Some("AES_128")) => 16,
            _ => return Err(Error::Validation("Please specify either number of bytes or key spec.".into())),
        };
        let ec = req.encryption_context.unwrap_or_default();
        let action = format!("kms:{operation}");
        let access = Access::new(&action).context(&ec);
        let k = self.encryption_key(ctx, req.key_id.as_deref().unwrap_or_default(), operation, None, &access).await?;
        if req.dry_run == Some(true) {
            return Err(Error::DryRunOperation);
        }
        let mut data_key = SecretBytes::new(vec![0u8; n]);
        fill_random(data_key.expose_mut())?;
        let (blob, mid) = self.seal(ctx, &k, &ec, data_key.expose(), operation).await?;
        k.record_use(operation, self.clock.now_ms(), ctx);
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Some(blob),
            plaintext: Some(data_key),
            key_id: Some(k.arn.clone()),
            key_material_id: Some(mid),
            ciphertext_for_recipient: None,
        })
    }

    pub async fn generate_data_key(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse> {
        self.data_key(ctx, req, "GenerateDataKey").await
    }

    pub async fn generate_data_key_without_plaintext(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse> {
        let req = GenerateDataKeyRequest {
            key_id: req.key_id,
            encryption_context: req.encryption_context,
            number_of_bytes: req.number_of_bytes,
            key_spec: req.key_spec,
            grant_tokens: req.grant_tokens,
            recipient: None,
            dry_run: req.dry_run,
        };
        let out = self.data_key(ctx, req, "GenerateDataKeyWithoutPlaintext").await?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: out.ciphertext_blob,
            key_id: out.key_id,
            key_material_id: out.key_material_id,
        })
    }

    pub async fn generate_random(
        &self,
        ctx: &RequestContext,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse> {
        self.authorize_identity(ctx, &Access::new("kms:GenerateRandom"))?;
        // Optional in the model, required by the service (AWS's text).
        let Some(n) = req.number_of_bytes else {
            return Err(Error::Validation("NumberOfBytes is required.".into()));
        };
        if let Some(store) = &req.custom_key_store_id {
            let out = self.hsm_random(ctx, store, n as usize).await?;
            return Ok(GenerateRandomResponse { plaintext: Some(out), ciphertext_for_recipient: None });
        }
        let mut out = SecretBytes::new(vec![0u8; n as usize]);
        fill_random(out.expose_mut())?;
        Ok(GenerateRandomResponse { plaintext: Some(out), ciphertext_for_recipient: None })
    }
}

/// A key material id as responses carry it: absent where there is none
/// (asymmetric keys).
fn material_id(id: String) -> Option<String> {
    Some(id).filter(|id| !id.is_empty())
}
