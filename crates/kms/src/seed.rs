//! Seed files (docs/SEEDS.md): TOML read strictly (an unknown member or a
//! wrong type is an error that names its line), turned into kms-core's
//! [`Seed`], whose entries keep their line for the messages of what the
//! service refuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use kms_core::crypto::{SecretBytes, SecretString};
use kms_core::model::{CreateGrantRequest, CreateKeyRequest, GrantConstraints, Tag};
use kms_core::service::{Seed, SeedEntry, SeedError, SeedKey, SeedMaterial, SeedProblem, SeedRole, SeedUser};
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedToml {
    #[serde(default)]
    users: Vec<Spanned<UserToml>>,
    #[serde(default)]
    roles: Vec<Spanned<RoleToml>>,
    #[serde(default)]
    keys: Vec<Spanned<KeyToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserToml {
    account: Option<String>,
    name: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    policies: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    access_keys: Vec<AccessKeyToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessKeyToml {
    id: String,
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleToml {
    account: Option<String>,
    name: String,
    trust_policy: String,
    max_session_duration: Option<i64>,
    #[serde(default)]
    policies: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyToml {
    id: String,
    region: Option<String>,
    account: Option<String>,
    key_spec: Option<String>,
    key_usage: Option<String>,
    origin: Option<String>,
    #[serde(default)]
    multi_region: bool,
    description: Option<String>,
    policy: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
    rotation_period_days: Option<i32>,
    /// Base64.
    material: Option<String>,
    material_seed: Option<String>,
    #[serde(default)]
    grants: Vec<GrantToml>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantToml {
    name: String,
    grantee_principal: String,
    retiring_principal: Option<String>,
    operations: Vec<String>,
    encryption_context_subset: Option<BTreeMap<String, String>>,
    encryption_context_equals: Option<BTreeMap<String, String>>,
}

/// A seed file, read and checked.
#[derive(Debug)]
pub struct SeedFile {
    pub path: PathBuf,
    pub seed: Seed,
    /// The line of each entry, by kind, in the order of `seed`'s lists.
    lines: [Vec<usize>; 3],
}

fn tags(t: BTreeMap<String, String>) -> Vec<Tag> {
    t.into_iter().map(|(k, v)| Tag { tag_key: Some(k), tag_value: Some(v) }).collect()
}

fn account(a: Option<String>, default: &str) -> Result<String, String> {
    let a = a.unwrap_or_else(|| default.to_string());
    if kms_core::ids::is_account_id(&a) {
        Ok(a)
    } else {
        Err(format!("account '{a}' is not a 12-digit account id"))
    }
}

/// An access key id as IAM's (16 to 128 word characters); `test` and other
/// short ids the `--dev` convention uses are allowed too (3 or more).
fn is_access_key_id(s: &str) -> bool {
    (3..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl SeedFile {
    /// Read and check `path`; entries without an `account` belong to
    /// `default_account`.
    pub fn load(path: &Path, default_account: &str) -> Result<SeedFile, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?;
        Self::parse(path, &text, default_account)
    }

    pub fn parse(path: &Path, text: &str, default_account: &str) -> Result<SeedFile, String> {
        let file: SeedToml = toml::from_str(text).map_err(|e| format!("seed file {}: {e}", path.display()))?;
        let line = |start: usize| text[..start.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1;
        let at = |start: usize, e: String| format!("seed file {}, line {}: {e}", path.display(), line(start));
        let mut seed = Seed::default();
        let mut lines: [Vec<usize>; 3] = Default::default();
        for u in file.users {
            let start = u.span().start;
            let u = u.into_inner();
            let mut access_keys = vec![];
            for k in u.access_keys {
                if !is_access_key_id(&k.id) {
                    return Err(at(start, format!("access key id '{}' must be 3 to 128 letters, digits or _", k.id)));
                }
                if k.secret.is_empty() || k.secret.len() > 128 || k.secret.chars().any(char::is_whitespace) {
                    return Err(at(
                        start,
                        format!("the secret of access key {} must be 1 to 128 characters, no spaces", k.id),
                    ));
                }
                access_keys.push((k.id, SecretString::new(k.secret)));
            }
            seed.users.push(SeedUser {
                account: account(u.account, default_account).map_err(|e| at(start, e))?,
                name: u.name,
                admin: u.admin,
                policies: u.policies.into_iter().collect(),
                tags: tags(u.tags),
                access_keys,
            });
            lines[0].push(line(start));
        }
        for r in file.roles {
            let start = r.span().start;
            let r = r.into_inner();
            seed.roles.push(SeedRole {
                account: account(r.account, default_account).map_err(|e| at(start, e))?,
                name: r.name,
                trust_policy: r.trust_policy,
                max_session_duration: r.max_session_duration,
                policies: r.policies.into_iter().collect(),
                tags: tags(r.tags),
            });
            lines[1].push(line(start));
        }
        for k in file.keys {
            let start = k.span().start;
            let k = k.into_inner();
            let material = match (k.material, k.material_seed) {
                (Some(_), Some(_)) => return Err(at(start, "give material or material_seed, not both".into())),
                (Some(b64), None) => Some(SeedMaterial::Bytes(SecretBytes::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|e| at(start, format!("material is not base64: {e}")))?,
                ))),
                (None, Some(s)) if s.is_empty() => return Err(at(start, "material_seed is empty".into())),
                (None, Some(s)) => Some(SeedMaterial::Derived(SecretString::new(s))),
                (None, None) => None,
            };
            if let Some(r) = k.region.as_deref().filter(|r| !kms_core::service::regions::is_region_name(r)) {
                return Err(at(start, format!("region '{r}' is not a region name (like us-east-1)")));
            }
            let grants =
                k.grants
                    .into_iter()
                    .map(|g| CreateGrantRequest {
                        name: Some(g.name),
                        grantee_principal: Some(g.grantee_principal),
                        retiring_principal: g.retiring_principal,
                        operations: Some(g.operations),
                        constraints: (g.encryption_context_subset.is_some() || g.encryption_context_equals.is_some())
                            .then(|| GrantConstraints {
                                encryption_context_subset: g.encryption_context_subset.map(|m| m.into_iter().collect()),
                                encryption_context_equals: g.encryption_context_equals.map(|m| m.into_iter().collect()),
                                ..Default::default()
                            }),
                        ..Default::default()
                    })
                    .collect();
            seed.keys.push(SeedKey {
                region: k.region,
                account: account(k.account, default_account).map_err(|e| at(start, e))?,
                key_id: k.id,
                create: CreateKeyRequest {
                    description: k.description,
                    key_usage: k.key_usage,
                    key_spec: k.key_spec,
                    origin: k.origin,
                    multi_region: Some(k.multi_region),
                    tags: Some(tags(k.tags)),
                    ..Default::default()
                },
                policy: k.policy,
                aliases: k.aliases,
                enabled: k.enabled,
                rotation_period_days: k.rotation_period_days,
                material,
                grants,
            });
            lines[2].push(line(start));
        }
        Ok(SeedFile { path: path.to_path_buf(), seed, lines })
    }

    /// A refusal of the service, with the entry's line and name.
    pub fn describe(&self, e: &SeedError) -> String {
        let problem = match &e.problem {
            SeedProblem::Service(err) => {
                let aws = kms_api::error::to_aws(err);
                format!("{}: {}", aws.type_name, aws.message.unwrap_or_default())
            }
            SeedProblem::Conflict(m) => format!("conflicts with the existing state: {m}"),
            SeedProblem::Invalid(m) => m.clone(),
        };
        let (kind, i) = match e.entry {
            Some(SeedEntry::User(i)) => (0, i),
            Some(SeedEntry::Role(i)) => (1, i),
            Some(SeedEntry::Key(i)) => (2, i),
            None => return format!("seed file {}: {problem}", self.path.display()),
        };
        let name = match e.entry {
            Some(SeedEntry::User(i)) => self.seed.users.get(i).map(|u| format!("user {}", u.name)),
            Some(SeedEntry::Role(i)) => self.seed.roles.get(i).map(|r| format!("role {}", r.name)),
            Some(SeedEntry::Key(i)) => self.seed.keys.get(i).map(|k| format!("key {}", k.key_id)),
            None => None,
        }
        .unwrap_or_default();
        let line = self.lines[kind].get(i).copied().unwrap_or(0);
        format!("seed file {}, line {line} ({name}): {problem}", self.path.display())
    }
}
