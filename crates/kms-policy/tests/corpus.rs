#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Runs the authorization corpus in `tests/data/corpus.json`: key policies
//! and identity policies modelled on the AWS KMS documentation, requests,
//! and the expected decision with its deciding statement.

use kms_policy::{
    authorize, default_key_policy, ConditionContext, Decision, Policy, PolicyKind, Principal, RequestContext,
};
use serde_json::{json, Value};

fn corpus() -> Value {
    serde_json::from_str(include_str!("data/corpus.json")).unwrap()
}

/// A policy given by name (from `policies`) or inline.
fn policy_doc<'a>(corpus: &'a Value, v: &'a Value) -> &'a Value {
    match v {
        Value::String(name) => {
            let doc = &corpus["policies"][name];
            assert!(doc.is_object(), "no policy named {name:?}");
            doc
        }
        inline => inline,
    }
}

fn parse(doc: &Value, kind: PolicyKind) -> Policy {
    Policy::parse(&doc.to_string(), kind).unwrap_or_else(|e| panic!("{e}: {doc}"))
}

fn principal(corpus: &Value, name: &str) -> Principal {
    let arn = corpus["principals"][name].as_str().unwrap_or_else(|| panic!("no principal named {name:?}"));
    Principal::from_arn(arn).unwrap_or_else(|| Principal::service(arn))
}

fn context(v: &Value) -> ConditionContext {
    let mut c = ConditionContext::new();
    for (k, v) in v.as_object().into_iter().flatten() {
        match v {
            Value::Array(a) => c.set_many(k, a.iter().map(|x| x.as_str().unwrap())),
            v => c.set(k, v.as_str().unwrap()),
        };
    }
    c
}

/// The decision in the corpus's terms.
fn describe(d: &Decision) -> Value {
    match d {
        Decision::Allow(s) => json!({"decision": "Allow", "policy": s.policy, "sid": s.sid}),
        Decision::ExplicitDeny(s) => {
            json!({"decision": "ExplicitDeny", "policy": s.policy, "sid": s.sid})
        }
        Decision::NoResourcePolicyAllows => json!({"decision": "NoResourcePolicyAllows"}),
        Decision::NoIdentityPolicyAllows => json!({"decision": "NoIdentityPolicyAllows"}),
    }
}

#[test]
fn authorization_cases() {
    let corpus = corpus();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 25, "the corpus has {} cases", cases.len());
    let default_key = corpus["key"].as_str().unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let key = parse(policy_doc(&corpus, &case["key_policy"]), PolicyKind::Resource);
        let identities: Vec<(String, Policy)> = case["identity_policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["label"].as_str().unwrap().to_string(),
                    parse(policy_doc(&corpus, &i["policy"]), PolicyKind::Identity),
                )
            })
            .collect();
        let labelled: Vec<(String, &Policy)> = identities.iter().map(|(l, p)| (l.clone(), p)).collect();
        let req = &case["request"];
        let who = principal(&corpus, req["principal"].as_str().unwrap());
        let action = req["action"].as_str().unwrap();
        let resource = req["resource"].as_str().unwrap_or(default_key);
        let conditions = context(&req["context"]);
        let decision =
            authorize(&key, &labelled, &RequestContext { principal: &who, action, resource, conditions: &conditions });
        let got = describe(&decision);
        let expect = &case["expect"];
        for field in ["decision", "policy", "sid"] {
            if !expect[field].is_null() && expect[field] != got[field] {
                failures.push(format!("{name}: expected {expect}, got {got}"));
                break;
            }
        }
        if let Some(message) = expect["message"].as_str() {
            let got = decision.message(&who.arn, action, resource);
            if got != message {
                failures.push(format!("{name}: message {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_documents() {
    let corpus = corpus();
    let mut failures = Vec::new();
    for case in corpus["malformed"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let kind = match case["kind"].as_str().unwrap() {
            "Resource" => PolicyKind::Resource,
            _ => PolicyKind::Identity,
        };
        let doc = match case["document"].as_str() {
            Some(raw) => raw.to_string(),
            None => case["policy"].to_string(),
        };
        match Policy::parse(&doc, kind) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) if e.0 != case["error"] => failures.push(format!("{name}: {:?}", e.0)),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_corpus_default_policy_is_the_one_keys_get() {
    let corpus = corpus();
    let generated: Value = serde_json::from_str(&default_key_policy("aws", "111122223333")).unwrap();
    assert_eq!(corpus["policies"]["default"], generated);
}
