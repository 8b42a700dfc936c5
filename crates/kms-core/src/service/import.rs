//! Imported key material (BYOK): GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, for keys created with `Origin: EXTERNAL`.
//!
//! - The import token carries its wrapping private key, sealed under the
//!   root key and bound to the key id (so a token of another key does not
//!   open: `InvalidImportTokenException`), with its expiry (24 hours of the
//!   service clock: `ExpiredImportTokenException`). The server keeps no
//!   state per token; a token can be used until it expires.
//! - Material formats (AWS's): 32 raw bytes for symmetric keys, raw bytes
//!   for HMAC keys, DER PKCS#8 for private keys (the public key is derived).
//! - A material's id is derived from the key id and the material (AWS: "based
//!   on the KMS key ID and the imported key material"), so importing the
//!   same bytes again finds the same material. For private keys the public
//!   key stands for the material, so any encoding of the same key matches.

use super::rotation::origin_error;
use super::{asymmetric, Access, Aliases, Kms, RequestContext, DAY_MS};
use crate::crypto::{hex, sha256, SecretBytes};
use crate::error::{Error, Result};
use crate::model::*;
use crate::types::*;

/// How long an import token and its public key stay valid.
const PARAMETERS_VALID_MS: i64 = DAY_MS;
/// The latest `ValidTo`: 365 days after the request.
const MAX_VALID_TO_MS: i64 = 365 * DAY_MS;
const TOKEN_VERSION: u8 = 1;

pub(super) fn expiration_model(i: &ImportRecord) -> ExpirationModelType {
    if i.valid_to_ms.is_some() {
        ExpirationModelType::KeyMaterialExpires
    } else {
        ExpirationModelType::KeyMaterialDoesNotExpire
    }
}

fn token_binding(key_id: &str) -> String {
    format!("import-token/{key_id}")
}

/// A required enum member (the wire layer checked that it is there and valid).
fn required_enum<T>(v: Option<&str>, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    parse_enum(v, parse)?.ok_or_else(|| Error::internal("a required member is missing"))
}

fn parse_enum<T>(v: Option<&str>, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
    v.map(|s| parse(s).ok_or_else(|| Error::internal("validated enum"))).transpose()
}

/// The wrapping algorithm as `kms-crypto` names it, checked against the
/// wrapping key spec and the spec of the material it will carry.
fn wrapping_algorithm(
    alg: AlgorithmSpec,
    wrapping: WrappingKeySpec,
    key_spec: KeySpec,
) -> Result<kms_crypto::WrappingAlgorithm> {
    use kms_crypto::WrappingAlgorithm as W;
    let w = match alg {
        AlgorithmSpec::RsaesPkcs1V15 => {
            return Err(Error::Validation(
                "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. Use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.".into(),
            ))
        }
        AlgorithmSpec::RsaesOaepSha1 => W::RsaesOaepSha1,
        AlgorithmSpec::RsaesOaepSha256 => W::RsaesOaepSha256,
        AlgorithmSpec::RsaAesKeyWrapSha1 => W::RsaAesKeyWrapSha1,
        AlgorithmSpec::RsaAesKeyWrapSha256 => W::RsaAesKeyWrapSha256,
        AlgorithmSpec::Sm2pke => W::Sm2Pke,
    };
    if !w.fits(wrapping_crypto_spec(wrapping)) {
        return Err(Error::Validation(format!(
            "Wrapping algorithm {alg} cannot be used with wrapping key spec {wrapping}."
        )));
    }
    let oaep = matches!(w, W::RsaesOaepSha1 | W::RsaesOaepSha256);
    let rsa_material = matches!(key_spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096);
    // RSA-OAEP cannot carry an RSA private key, nor a P-521 one under a
    // 2048-bit wrapping key (AWS's documented combinations).
    if oaep && (rsa_material || (key_spec == KeySpec::EccNistP521 && wrapping == WrappingKeySpec::Rsa2048)) {
        return Err(Error::Validation(format!(
            "Wrapping algorithm {alg} with wrapping key spec {wrapping} cannot wrap key material of key spec {key_spec}. Use RSA_AES_KEY_WRAP_SHA_256."
        )));
    }
    Ok(w)
}

fn wrapping_crypto_spec(w: WrappingKeySpec) -> kms_crypto::KeySpec {
    match w {
        WrappingKeySpec::Rsa2048 => kms_crypto::KeySpec::Rsa2048,
        WrappingKeySpec::Rsa3072 => kms_crypto::KeySpec::Rsa3072,
        WrappingKeySpec::Rsa4096 => kms_crypto::KeySpec::Rsa4096,
        WrappingKeySpec::Sm2 => kms_crypto::KeySpec::Sm2,
    }
}

/// What an import token holds (sealed).
struct Token {
    algorithm: AlgorithmSpec,
    wrapping: WrappingKeySpec,
    valid_to_ms: i64,
    wrapping_key: SecretBytes,
}

impl Token {
    fn seal(&self, kms: &Kms, key_id: &str) -> Result<Vec<u8>> {
        let alg = self.algorithm.as_str().as_bytes();
        let spec = self.wrapping.as_str().as_bytes();
        let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(64 + self.wrapping_key.len()));
        plain.extend_from_slice(&self.valid_to_ms.to_be_bytes());
        for field in [alg, spec] {
            plain.push(field.len() as u8);
            plain.extend_from_slice(field);
        }
        plain.extend_from_slice(self.wrapping_key.expose());
        let mut token = vec![TOKEN_VERSION];
        token.extend(kms.shared.root.seal(&token_binding(key_id), &plain)?);
        Ok(token)
    }

    fn open(kms: &Kms, key_id: &str, token: &[u8]) -> Result<Token> {
        let invalid = || Error::InvalidImportToken("The import token is invalid or belongs to another KMS key.".into());
        let Some((&TOKEN_VERSION, sealed)) = token.split_first() else {
            return Err(invalid());
        };
        let plain = kms.shared.root.open(&token_binding(key_id), sealed).map_err(|_| invalid())?;
        let p = plain.expose();
        let (ts, mut rest) = p.split_at_checked(8).ok_or_else(invalid)?;
        let mut field = || -> Result<&str> {
            let (&n, r) = rest.split_first().ok_or_else(invalid)?;
            let (f, r) = r.split_at_checked(n as usize).ok_or_else(invalid)?;
            rest = r;
            std::str::from_utf8(f).map_err(|_| invalid())
        };
        let algorithm = AlgorithmSpec::parse(field()?).ok_or_else(invalid)?;
        let wrapping = WrappingKeySpec::parse(field()?).ok_or_else(invalid)?;
        Ok(Token {
            algorithm,
            wrapping,
            valid_to_ms: i64::from_be_bytes(ts.try_into().map_err(|_| invalid())?),
            wrapping_key: SecretBytes::from_slice(rest),
        })
    }
}

/// Imported material, checked against the key's spec.
struct Imported {
    id: String,
    /// What is sealed: raw bytes, or the private key re-encoded.
    material: SecretBytes,
    public_key: Option<Vec<u8>>,
}

fn incorrect(what: &str) -> Error {
    Error::IncorrectKeyMaterial(format!("The key material is invalid: {what}."))
}

/// Check the unwrapped material of a key of `spec` and derive its id.
fn check_material(key_id: &str, spec: KeySpec, raw: SecretBytes) -> Result<Imported> {
    let id_of = |identity: &[u8]| {
        let mut h = b"kms imported key material v1\0".to_vec();
        h.extend_from_slice(key_id.as_bytes());
        h.push(0);
        h.extend_from_slice(identity);
        hex(&sha256(&h))
    };
    match asymmetric::crypto_spec(spec) {
        None => {
            if raw.len() != 32 {
                return Err(incorrect("symmetric key material must be 32 bytes"));
            }
            Ok(Imported { id: id_of(raw.expose()), material: raw, public_key: None })
        }
        Some(cs) if cs.is_hmac() => {
            // The HMAC key sizes AWS documents: from the digest length to
            // the block size of the hash.
            let min = kms_crypto::hmac_key_len(cs).unwrap_or(32);
            let max = if min > 32 { 128 } else { 64 };
            if !(min..=max).contains(&raw.len()) {
                return Err(incorrect(&format!("{spec} key material must be {min} to {max} bytes")));
            }
            Ok(Imported { id: id_of(raw.expose()), material: raw, public_key: None })
        }
        Some(cs) => match kms_crypto::import_private_key(cs, raw.expose()) {
            Ok(pair) => {
                let public = pair.public_key.ok_or_else(|| Error::internal("imported key has no public key"))?;
                Ok(Imported { id: id_of(&public), material: pair.private_key, public_key: Some(public) })
            }
            Err(kms_crypto::Error::UnsupportedOperation { .. }) => {
                Err(Error::UnsupportedOperation(format!("Key material of key spec {spec} cannot be imported.")))
            }
            Err(_) => Err(incorrect(&format!("it is not a DER PKCS#8 private key of key spec {spec}"))),
        },
    }
}

impl Kms {
    pub async fn get_parameters_for_import(
        &self,
        ctx: &RequestContext,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse> {
        let alg = required_enum(req.wrapping_algorithm.as_deref(), AlgorithmSpec::parse)?;
        let wrapping = required_enum(req.wrapping_key_spec.as_deref(), WrappingKeySpec::parse)?;
        let access = Access::new("kms:GetParametersForImport")
            .with("kms:WrappingAlgorithm", vec![alg.as_str().into()])
            .with("kms:WrappingKeySpec", vec![wrapping.as_str().into()]);
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        let r = &k.record;
        if r.origin != Origin::External {
            return Err(origin_error(&k.arn, r.origin));
        }
        Self::importable(r, &k.arn)?;
        wrapping_algorithm(alg, wrapping, r.key_spec)?;
        let pair = asymmetric::generate(wrapping_crypto_spec(wrapping)).await?;
        let valid_to_ms = self.clock.now_ms() + PARAMETERS_VALID_MS;
        let token = Token { algorithm: alg, wrapping, valid_to_ms, wrapping_key: pair.private_key };
        Ok(GetParametersForImportResponse {
            key_id: Some(k.arn.clone()),
            import_token: Some(token.seal(self, &r.key_id)?),
            public_key: pair.public_key.map(SecretBytes::new),
            parameters_valid_to: Some(epoch_seconds(valid_to_ms)),
        })
    }

    /// GetParametersForImport and ImportKeyMaterial work on Enabled,
    /// Disabled and PendingImport keys (AWS's key-state table).
    fn importable(r: &KeyRecord, arn: &str) -> Result<()> {
        match r.state {
            KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => Ok(()),
            _ => Err(Self::invalid_state(r, arn)),
        }
    }

    pub async fn import_key_material(
        &self,
        ctx: &RequestContext,
        req: ImportKeyMaterialRequest,
    ) -> Result<ImportKeyMaterialResponse> {
        let now = self.clock.now_ms();
        let model = parse_enum(req.expiration_model.as_deref(), ExpirationModelType::parse)?
            .unwrap_or(ExpirationModelType::KeyMaterialExpires);
        let import_type = parse_enum(req.import_type.as_deref(), ImportType::parse)?;
        let valid_to_ms = req.valid_to.map(|s| (s * 1000.0) as i64);
        let valid_to_ms = match (model, valid_to_ms) {
            (ExpirationModelType::KeyMaterialExpires, None) => {
                return Err(Error::Validation(
                    "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
                ))
            }
            (ExpirationModelType::KeyMaterialDoesNotExpire, Some(_)) => {
                return Err(Error::Validation(
                    "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE".into(),
                ))
            }
            (_, Some(t)) if t <= now => {
                return Err(Error::Validation("The validTo date must be in the future.".into()));
            }
            (_, Some(t)) if t > now + MAX_VALID_TO_MS => {
                return Err(Error::Validation("The validTo date must be at most 365 days from now.".into()));
            }
            (_, t) => t,
        };
        if import_type == Some(ImportType::NewKeyMaterial) && req.key_material_id.is_some() {
            return Err(Error::Validation(
                "A KeyMaterialId cannot be set if the ImportType is NEW_KEY_MATERIAL".into(),
            ));
        }
        let mut access = Access::new("kms:ImportKeyMaterial").with("kms:ExpirationModel", vec![model.as_str().into()]);
        if let Some(t) = valid_to_ms {
            access = access.with("kms:ValidTo", vec![(t / 1000).to_string()]);
        }
        let key_id = req.key_id.as_deref().unwrap_or_default();
        let k = self.resolve_as(ctx, key_id, Aliases::Refused, Some(&access)).await?;
        let (spec, id, arn) = (k.record.key_spec, k.record.key_id.clone(), k.arn.clone());
        drop(k);
        let symmetric = spec == KeySpec::SymmetricDefault;
        if !symmetric
            && (import_type.is_some() || req.key_material_id.is_some() || req.key_material_description.is_some())
        {
            return Err(Error::Validation(
                "ImportType, KeyMaterialId and KeyMaterialDescription can only be used with symmetric encryption keys."
                    .into(),
            ));
        }
        let token = Token::open(self, &id, req.import_token.as_deref().unwrap_or_default())?;
        if token.valid_to_ms <= now {
            return Err(Error::ExpiredImportToken("The import token has expired.".into()));
        }
        let alg = wrapping_algorithm(token.algorithm, token.wrapping, spec)?;
        let wrapped = req.encrypted_key_material.clone().unwrap_or_default();
        let wrapping_spec = wrapping_crypto_spec(token.wrapping);
        // The RSA and SM2 private-key operations take milliseconds.
        let imported = tokio::task::spawn_blocking(move || {
            let raw = kms_crypto::unwrap_key_material(wrapping_spec, token.wrapping_key.expose(), alg, &wrapped)
                .map_err(|_| Error::InvalidCiphertext)?;
            check_material(&id, spec, raw)
        })
        .await
        .map_err(Error::internal)??;
        if req.key_material_id.as_ref().is_some_and(|m| *m != imported.id) {
            return Err(Error::IncorrectKeyMaterial(format!(
                "The key material is not the key material {} of {arn}.",
                req.key_material_id.as_deref().unwrap_or_default()
            )));
        }
        let import = ImportRecord { valid_to_ms, description: req.key_material_description.clone() };
        let material_id = self
            .update_key(ctx, key_id, &access, |r, arn| {
                if r.origin != Origin::External {
                    return Err(origin_error(arn, r.origin));
                }
                Self::importable(r, arn)?;
                // A replica imports the same material as its primary.
                if let Some(set) = r.multi_region_set.as_ref().filter(|s| !s.is_primary()) {
                    if !set.primary_materials.is_empty() && !set.primary_materials.contains(&imported.id) {
                        return Err(Error::IncorrectKeyMaterial(format!(
                            "The key material is not key material of the primary key of {arn} (in {}).",
                            set.primary_region
                        )));
                    }
                }
                self.attach_material(r, arn, &imported, import.clone(), import_type, now)
            })
            .await?;
        Ok(ImportKeyMaterialResponse { key_id: Some(arn), key_material_id: symmetric.then_some(material_id) })
    }

    /// Put imported material into a key record: new material (the first,
    /// or one pending rotation), or the return of material it had.
    fn attach_material(
        &self,
        r: &mut KeyRecord,
        arn: &str,
        imported: &Imported,
        import: ImportRecord,
        import_type: Option<ImportType>,
        now: i64,
    ) -> Result<String> {
        let ever = !r.materials.is_empty();
        // AWS's default: new material the first time, the same after.
        let import_type =
            import_type.unwrap_or(if ever { ImportType::ExistingKeyMaterial } else { ImportType::NewKeyMaterial });
        let sealed =
            self.shared.root.seal(&KeyRecord::material_binding(&r.key_id, &imported.id), imported.material.expose())?;
        let known = r.materials.iter().position(|m| m.id == imported.id);
        match import_type {
            ImportType::NewKeyMaterial => {
                if known.is_some() {
                    return Err(Error::IncorrectKeyMaterial(format!(
                        "The key material is already associated with {arn}."
                    )));
                }
                if let Some(p) = r.materials.iter().find(|m| m.pending_rotation) {
                    return Err(Error::InvalidState(format!(
                        "New key material (id: {}) cannot be imported into KMS key {arn}, because another key material (id: {}) is pending rotation.",
                        imported.id, p.id
                    )));
                }
                r.materials.push(MaterialRecord {
                    id: imported.id.clone(),
                    sealed,
                    created_ms: now,
                    rotation: None,
                    // Later material waits for RotateKeyOnDemand.
                    pending_rotation: ever,
                    import: Some(import),
                    in_hsm: false,
                });
                if !ever {
                    r.public_key = imported.public_key.clone();
                }
            }
            ImportType::ExistingKeyMaterial => {
                let Some(i) = known else {
                    return Err(Error::IncorrectKeyMaterial(format!("The key material is not key material of {arn}.")));
                };
                let m = &mut r.materials[i];
                let description = import.description.or_else(|| m.import.as_ref().and_then(|i| i.description.clone()));
                m.sealed = sealed;
                m.import = Some(ImportRecord { valid_to_ms: import.valid_to_ms, description });
            }
        }
        if r.state == KeyState::PendingImport && r.materials.iter().filter(|m| !m.pending_rotation).all(|m| m.present())
        {
            r.state = KeyState::Enabled;
        }
        Ok(imported.id.clone())
    }

    pub async fn delete_imported_key_material(
        &self,
        ctx: &RequestContext,
        req: DeleteImportedKeyMaterialRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse> {
        let access = Access::new("kms:DeleteImportedKeyMaterial");
        let wanted = req.key_material_id.clone();
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
            if r.origin != Origin::External {
                return Err(origin_error(arn, r.origin));
            }
            if !matches!(
                r.state,
                KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport | KeyState::PendingDeletion
            ) {
                return Err(Self::invalid_state(r, arn));
            }
            let symmetric = r.key_spec == KeySpec::SymmetricDefault;
            let target = match &wanted {
                Some(id) => r
                    .materials
                    .iter()
                    .position(|m| m.id == *id)
                    .ok_or_else(|| Error::NotFound(format!("Key material {id} is not found in {arn}.")))?,
                // The current material; a key that never had any: no effect.
                None => match r.materials.iter().rposition(|m| !m.pending_rotation) {
                    Some(i) => i,
                    None => {
                        return Ok(DeleteImportedKeyMaterialResponse {
                            key_id: Some(arn.into()),
                            key_material_id: None,
                        })
                    }
                },
            };
            let id = r.materials[target].id.clone();
            if r.materials[target].pending_rotation {
                // Never used: it goes, and the key's state stays.
                r.materials.remove(target);
            } else {
                r.materials[target].sealed.clear();
                if r.state != KeyState::PendingDeletion {
                    r.state = KeyState::PendingImport;
                }
            }
            Ok(DeleteImportedKeyMaterialResponse { key_id: Some(arn.into()), key_material_id: symmetric.then_some(id) })
        })
        .await
    }
}
