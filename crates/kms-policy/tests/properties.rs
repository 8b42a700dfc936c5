#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Property tests with a seeded xorshift generator (no external crates):
//! random key policies, identity policies and requests.
//!
//! - an explicit `Deny` that matches the request always yields
//!   `ExplicitDeny`, and no added `Deny` ever turns a refusal into `Allow`;
//! - adding an `Allow` statement never removes access;
//! - `StringLike` (and `wildcard_match`) agree with a regex oracle.

use kms_policy::{
    authorize, wildcard_match, ConditionContext, Decision, Policy, PolicyKind, Principal, PrincipalKind, RequestContext,
};
use serde_json::{json, Value};

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }

    /// 1..=max distinct items of `xs`.
    fn some<T: Clone + PartialEq>(&mut self, xs: &[T], max: usize) -> Vec<T> {
        let n = 1 + self.below(max);
        let mut out: Vec<T> = Vec::new();
        for _ in 0..n {
            let x = self.pick(xs);
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }
}

const KEY_A: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
const CALLERS: &[&str] = &[
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:sts::111122223333:assumed-role/KMSAdmin/session",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::444455556666:user/bob",
    "arn:aws:iam::444455556666:root",
    "cloudtrail.amazonaws.com",
];
const AWS_NAMES: &[&str] = &[
    "*",
    "111122223333",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:role/KMSAdmin",
    "arn:aws:sts::111122223333:assumed-role/KMSAdmin/session",
    "arn:aws:iam::444455556666:user/bob",
    "444455556666",
];
const ACTIONS: &[&str] =
    &["kms:Decrypt", "kms:Encrypt", "kms:ScheduleKeyDeletion", "kms:GenerateDataKey", "kms:CreateGrant"];
const ACTION_PATTERNS: &[&str] =
    &["kms:*", "kms:Decrypt", "kms:Encrypt", "kms:*Key*", "kms:Gen?rateDataKey", "*", "kms:Create*", "KMS:decrypt"];
const RESOURCE_PATTERNS: &[&str] =
    &["*", KEY_A, KEY_B, "arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:${aws:PrincipalAccount}:key/*"];

fn conditions() -> Vec<Value> {
    vec![
        json!({"StringEquals": {"kms:ViaService": ["ec2.us-east-1.amazonaws.com"]}}),
        json!({"StringNotEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
        json!({"StringLike": {"kms:ViaService": "*.us-east-1.amazonaws.com"}}),
        json!({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}),
        json!({"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}),
        json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Department", "Project"]}}),
        json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "Secret"}}),
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        json!({"BoolIfExists": {"aws:SecureTransport": "false"}}),
        json!({"Null": {"kms:ViaService": "true"}}),
        json!({"DateLessThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}}),
        json!({"StringEquals": {"kms:CallerAccount": "111122223333"}}),
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}}),
        json!({"StringEquals": {"kms:EncryptionContext:Department": "${aws:username}"}}),
    ]
}

/// A random statement; with a principal element for key policies.
fn statement(rng: &mut Rng, kind: PolicyKind, effect: &str) -> Value {
    let mut s = serde_json::Map::new();
    if rng.chance(60) {
        s.insert("Sid".into(), json!(format!("S{:016x}", rng.next())));
    }
    s.insert("Effect".into(), json!(effect));
    if kind == PolicyKind::Resource {
        let p = match rng.below(10) {
            0 => json!("*"),
            1 => json!({"Service": "cloudtrail.amazonaws.com"}),
            _ => json!({"AWS": rng.some(AWS_NAMES, 3)}),
        };
        let name = if rng.chance(10) { "NotPrincipal" } else { "Principal" };
        s.insert(name.into(), p);
    }
    let name = if rng.chance(15) { "NotAction" } else { "Action" };
    s.insert(name.into(), json!(rng.some(ACTION_PATTERNS, 2)));
    let name = if rng.chance(10) { "NotResource" } else { "Resource" };
    s.insert(name.into(), json!(rng.some(RESOURCE_PATTERNS, 2)));
    if rng.chance(50) {
        let mut block = serde_json::Map::new();
        for c in rng.some(&conditions(), 2) {
            for (op, keys) in c.as_object().unwrap() {
                block.insert(op.clone(), keys.clone());
            }
        }
        s.insert("Condition".into(), Value::Object(block));
    }
    Value::Object(s)
}

fn random_effect(rng: &mut Rng) -> &'static str {
    if rng.chance(25) {
        "Deny"
    } else {
        "Allow"
    }
}

/// A scenario as JSON statement lists, so statements can be added.
#[derive(Clone, Debug)]
struct Scenario {
    key: Vec<Value>,
    identities: Vec<Vec<Value>>,
    caller: &'static str,
    action: &'static str,
    resource: &'static str,
    context: ConditionContext,
}

impl Scenario {
    fn random(rng: &mut Rng) -> Scenario {
        let n = 1 + rng.below(4);
        let key = (0..n)
            .map(|_| {
                let e = random_effect(rng);
                statement(rng, PolicyKind::Resource, e)
            })
            .collect();
        let identities = (0..rng.below(3))
            .map(|_| {
                (0..1 + rng.below(3))
                    .map(|_| {
                        let e = random_effect(rng);
                        statement(rng, PolicyKind::Identity, e)
                    })
                    .collect()
            })
            .collect();
        let mut context = ConditionContext::new();
        if rng.chance(50) {
            context.set("kms:ViaService", rng.pick(&["ec2.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"]));
        }
        if rng.chance(70) {
            context.set("aws:SourceIp", rng.pick(&["192.0.2.5", "203.0.113.9", "2001:db8::1"]));
        }
        if rng.chance(50) {
            context.set_many("kms:EncryptionContextKeys", rng.some(&["Department", "Project", "Secret"], 3));
        }
        if rng.chance(50) {
            context.set("kms:EncryptionContext:Department", rng.pick(&["alice", "IT"]));
        }
        if rng.chance(70) {
            context.set("aws:SecureTransport", rng.pick(&["true", "false"]));
        }
        context.set("aws:CurrentTime", rng.pick(&["2026-01-15T10:00:00Z", "2026-07-01T00:00:00Z"]));
        Scenario {
            key,
            identities,
            caller: rng.pick(CALLERS),
            action: rng.pick(ACTIONS),
            resource: rng.pick(&[KEY_A, KEY_B]),
            context,
        }
    }

    fn principal(&self) -> Principal {
        Principal::from_arn(self.caller).unwrap_or_else(|| Principal::service(self.caller))
    }

    fn decide(&self) -> Decision {
        let doc = |statements: &Vec<Value>| json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        let key =
            Policy::parse(&doc(&self.key), PolicyKind::Resource).unwrap_or_else(|e| panic!("{e}: {}", doc(&self.key)));
        let ids: Vec<Policy> =
            self.identities.iter().map(|s| Policy::parse(&doc(s), PolicyKind::Identity).unwrap()).collect();
        let labelled: Vec<(String, &Policy)> =
            ids.iter().enumerate().map(|(i, p)| (format!("identity {i}"), p)).collect();
        let principal = self.principal();
        authorize(
            &key,
            &labelled,
            &RequestContext {
                principal: &principal,
                action: self.action,
                resource: self.resource,
                conditions: &self.context,
            },
        )
    }

    /// Insert `s` at a random place: the key policy when `in_key`, else an
    /// identity policy (possibly a new one).
    fn add(&mut self, rng: &mut Rng, s: Value, in_key: bool) {
        let list = if in_key {
            &mut self.key
        } else {
            let i = rng.below(self.identities.len() + 1);
            if i == self.identities.len() {
                self.identities.push(Vec::new());
            }
            &mut self.identities[i]
        };
        let at = rng.below(list.len() + 1);
        list.insert(at, s);
    }
}

/// A `Deny` statement built to match the scenario's request.
fn matching_deny(rng: &mut Rng, sc: &Scenario, in_key: bool) -> Value {
    let p = sc.principal();
    let mut s = serde_json::Map::new();
    s.insert("Sid".into(), json!("MatchingDeny"));
    s.insert("Effect".into(), json!("Deny"));
    if in_key {
        let principal = match (p.kind, rng.below(3)) {
            (_, 0) => json!("*"),
            (PrincipalKind::Service, _) => json!({"Service": p.arn}),
            (_, 1) => json!({"AWS": p.account}),
            (PrincipalKind::Root, _) => json!({"AWS": p.arn}),
            _ => json!({"AWS": [p.arn.clone(), "arn:aws:iam::999999999999:root"]}),
        };
        s.insert("Principal".into(), principal);
    }
    match rng.below(4) {
        0 => s.insert("Action".into(), json!(sc.action)),
        1 => s.insert("Action".into(), json!(["kms:Nothing", "kms:*"])),
        2 => s.insert("Action".into(), json!("*")),
        _ => s.insert("NotAction".into(), json!("kms:Nothing")),
    };
    match rng.below(3) {
        0 => s.insert("Resource".into(), json!(sc.resource)),
        1 => s.insert("Resource".into(), json!("*")),
        _ => s.insert("NotResource".into(), json!("arn:aws:kms:eu-north-1:000000000000:key/none")),
    };
    let always = [
        json!({}),
        json!({"Null": {"aws:NotInTheRequest": "true"}}),
        json!({"StringNotEquals": {"kms:ViaService": "nothing.amazonaws.com"}}),
        json!({"ForAllValues:StringEquals": {"aws:NotInTheRequest": "x"}}),
        json!({"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}),
        json!({"StringLikeIfExists": {"aws:NotInTheRequest": "x"}}),
    ];
    s.insert("Condition".into(), rng.pick(&always));
    Value::Object(s)
}

const RUNS: u64 = 3000;

#[test]
fn a_matching_deny_always_denies() {
    for seed in 0..RUNS {
        let mut rng = Rng::new(seed);
        let mut sc = Scenario::random(&mut rng);
        let before = sc.decide();
        let in_key = rng.chance(50);
        let deny = matching_deny(&mut rng, &sc, in_key);
        sc.add(&mut rng, deny, in_key);
        let after = sc.decide();
        assert!(matches!(after, Decision::ExplicitDeny(_)), "seed {seed}: {before:?} -> {after:?}\n{sc:#?}");
    }
}

#[test]
fn no_deny_turns_a_refusal_into_an_allow() {
    for seed in 0..RUNS {
        let mut rng = Rng::new(seed ^ 0xD0D0);
        let mut sc = Scenario::random(&mut rng);
        let before = sc.decide();
        let in_key = rng.chance(50);
        let kind = if in_key { PolicyKind::Resource } else { PolicyKind::Identity };
        let deny = statement(&mut rng, kind, "Deny");
        sc.add(&mut rng, deny, in_key);
        let after = sc.decide();
        if !before.is_allowed() {
            assert!(!after.is_allowed(), "seed {seed}: {before:?} -> {after:?}\n{sc:#?}");
        }
        if matches!(before, Decision::ExplicitDeny(_)) {
            assert!(matches!(after, Decision::ExplicitDeny(_)), "seed {seed}");
        }
    }
}

#[test]
fn b_adding_an_allow_never_removes_access() {
    let mut allowed = 0;
    for seed in 0..RUNS {
        let mut rng = Rng::new(seed ^ 0xA11A);
        let mut sc = Scenario::random(&mut rng);
        let before = sc.decide();
        let in_key = rng.chance(50);
        let kind = if in_key { PolicyKind::Resource } else { PolicyKind::Identity };
        let allow = statement(&mut rng, kind, "Allow");
        sc.add(&mut rng, allow, in_key);
        let after = sc.decide();
        if before.is_allowed() {
            allowed += 1;
            assert!(after.is_allowed(), "seed {seed}: {before:?} -> {after:?}\n{sc:#?}");
        }
        if matches!(before, Decision::ExplicitDeny(_)) {
            assert!(
                matches!(after, Decision::ExplicitDeny(_)),
                "seed {seed}: an Allow lifted an explicit deny: {after:?}"
            );
        }
    }
    // The generator must exercise the property, not just refusals.
    assert!(allowed > RUNS / 20, "only {allowed} allowed scenarios");
}

#[test]
fn generated_scenarios_reach_every_decision() {
    let mut seen = [0usize; 4];
    for seed in 0..RUNS {
        let d = Scenario::random(&mut Rng::new(seed)).decide();
        seen[match d {
            Decision::Allow(_) => 0,
            Decision::ExplicitDeny(_) => 1,
            Decision::NoResourcePolicyAllows => 2,
            Decision::NoIdentityPolicyAllows => 3,
        }] += 1;
    }
    assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
}

/// The regex an IAM wildcard pattern means.
fn oracle(pattern: &str, case_insensitive: bool) -> regex_lite::Regex {
    let mut re = String::from(if case_insensitive { "^(?is)" } else { "^(?s)" });
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex_lite::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex_lite::Regex::new(&re).unwrap()
}

fn random_string(rng: &mut Rng, alphabet: &[char], max: usize) -> String {
    (0..rng.below(max + 1)).map(|_| rng.pick(alphabet)).collect()
}

#[test]
fn c_string_like_agrees_with_a_regex_oracle() {
    let principal = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
    let mut matched = 0;
    for seed in 0..5000 {
        let mut rng = Rng::new(seed ^ 0x5EED);
        let pattern = random_string(&mut rng, &['a', 'B', '*', '*', '?', '.', '+', '(', '$', '\\'], 7);
        let value = random_string(&mut rng, &['a', 'b', 'B', '.', '+', '(', '$', '\\'], 6);
        let ci = rng.chance(30);
        let expected = oracle(&pattern, ci).is_match(&value);
        matched += usize::from(expected);
        assert_eq!(
            wildcard_match(&pattern, &value, ci),
            expected,
            "seed {seed}: {pattern:?} vs {value:?} (case-insensitive: {ci})"
        );
        // The same through the StringLike operator of a policy.
        let doc = json!({"Version": "2012-10-17", "Statement": {
            "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringLike": {"test:value": pattern}}}});
        let policy = Policy::parse(&doc.to_string(), PolicyKind::Identity).unwrap();
        let mut ctx = ConditionContext::new();
        ctx.set("test:value", value.clone());
        let r = policy.evaluate(
            "p",
            &RequestContext { principal: &principal, action: "kms:Decrypt", resource: KEY_A, conditions: &ctx },
        );
        // `$` is plain text outside `${...}`, which this alphabet cannot form.
        let case_sensitive = oracle(&pattern, false).is_match(&value);
        assert_eq!(r.allow.is_some(), case_sensitive, "seed {seed}: StringLike {pattern:?} vs {value:?}");
    }
    assert!(matched > 250, "only {matched} matches: the generator is too sparse");
}
