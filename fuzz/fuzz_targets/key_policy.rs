//! The policy language (crates/kms-policy).
//!
//! Any bytes (read as UTF-8, lossily) are parsed as a key policy, an
//! identity policy and a role trust policy: each parse returns a policy or
//! a `PolicyError`, never panics. A policy that parses is evaluated against
//! a fixed set of requests (a user, an assumed-role session, the account
//! root and a service; condition keys of every type), on its own and
//! combined by `authorize`; evaluation never panics, and a policy that
//! parses as an identity policy parses the same way again (parsing is
//! deterministic).
#![no_main]

use std::sync::OnceLock;

use kms_policy::{
    allows_principal_action, authorize, default_key_policy, ConditionContext, Policy, PolicyKind, Principal,
    RequestContext,
};
use libfuzzer_sys::fuzz_target;

const ACCOUNT: &str = "111122223333";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/ops";
const ACTIONS: &[&str] = &["kms:Decrypt", "kms:PutKeyPolicy", "kms:CreateGrant", "sts:AssumeRole"];

struct Fixture {
    principals: Vec<Principal>,
    conditions: ConditionContext,
    default_policy: Policy,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut principals: Vec<Principal> = [
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:sts::111122223333:assumed-role/ops/session-1",
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::444455556666:user/mallory",
        ]
        .iter()
        .map(|a| Principal::from_arn(a).expect("principal ARN"))
        .collect();
        principals.push(Principal::service("cloudtrail.amazonaws.com"));
        let mut c = ConditionContext::new();
        c.set("kms:ViaService", "ec2.us-east-1.amazonaws.com")
            .set("kms:CallerAccount", ACCOUNT)
            .set("kms:EncryptionContext:purpose", "test")
            .set_many("kms:EncryptionContextKeys", ["purpose", "team"])
            .set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
            .set("kms:GrantIsForAWSResource", "true")
            .set("kms:KeySpec", "SYMMETRIC_DEFAULT")
            .set("aws:CurrentTime", "2026-01-01T00:00:00Z")
            .set("aws:EpochTime", "1767225600")
            .set("aws:SourceIp", "192.0.2.7")
            .set("aws:SecureTransport", "true")
            .set("aws:MultiFactorAuthPresent", "false")
            .set("aws:MultiFactorAuthAge", "3600")
            .set("aws:PrincipalTag/team", "ops")
            .set_many("aws:TagKeys", ["team", "env"])
            .set("aws:RequestTag/env", "prod")
            .set("aws:ResourceTag/env", "prod")
            .set("aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/main")
            .set("aws:SourceAccount", ACCOUNT)
            .set("aws:username", "alice")
            .set("aws:userid", "AIDAEXAMPLE")
            .set("aws:PrincipalArn", "arn:aws:iam::111122223333:user/alice")
            .set("kms:RecipientAttestation:ImageSha384", "00ff")
            .set("aws:TokenIssueTime", "2026-01-01T00:00:00Z");
        let default_policy =
            Policy::parse(&default_key_policy("aws", ACCOUNT), PolicyKind::Resource).expect("default policy");
        Fixture { principals, conditions: c, default_policy }
    })
}

fn evaluate(f: &Fixture, policy: &Policy, as_key_policy: bool) {
    for principal in &f.principals {
        for action in ACTIONS {
            for resource in [KEY_ARN, ROLE_ARN, "*"] {
                let req = RequestContext { principal, action, resource, conditions: &f.conditions };
                let _ = policy.evaluate("fuzz", &req);
                let decision = if as_key_policy {
                    authorize(policy, &[("identity".into(), &f.default_policy)], &req)
                } else {
                    authorize(&f.default_policy, &[("fuzz".into(), policy)], &req)
                };
                let _ = decision.message(&principal.arn, action, resource);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let doc = String::from_utf8_lossy(data);
    let f = fixture();
    if let Ok(p) = Policy::parse(&doc, PolicyKind::Resource) {
        let _ = p.uses_context();
        evaluate(f, &p, true);
    }
    if let Ok(p) = Policy::parse(&doc, PolicyKind::Identity) {
        assert_eq!(Policy::parse(&doc, PolicyKind::Identity).ok().as_ref(), Some(&p), "parse is deterministic");
        evaluate(f, &p, false);
    }
    if let Ok(p) = Policy::parse_trust(&doc) {
        evaluate(f, &p, true);
    }
    let principals = [f.principals[0].arn.as_str(), ACCOUNT, "arn:aws:iam::111122223333:root"];
    let _ = allows_principal_action(&doc, &principals, "kms:PutKeyPolicy");
});
