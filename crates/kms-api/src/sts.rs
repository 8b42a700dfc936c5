//! STS at the same endpoint, in the AWS query protocol the SDKs and the aws
//! CLI use for it: `POST /` with a form body (`Action=AssumeRole&...`),
//! signed for service `sts`, answered in XML.

use kms_core::service::{AssumeRoleInput, AssumeRoleOutput};
use kms_core::{Error, Kms, RequestContext};

pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const CONTENT_TYPE: &str = "text/xml";

/// Does this request speak the query protocol (STS)?
pub fn is_query(headers: &http::HeaderMap) -> bool {
    headers.get("x-amz-target").is_none()
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|v| v as u8)
}

fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The form parameters of a query-protocol body.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub fn action(form: &[(String, String)]) -> Option<&str> {
    param(form, "Action")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn wrap(action: &str, result: &str, request_id: &str) -> Vec<u8> {
    format!(
        "<{action}Response xmlns=\"{NAMESPACE}\">\n  <{action}Result>\n{result}  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
    )
    .into_bytes()
}

fn assume_role_xml(o: &AssumeRoleOutput) -> String {
    format!(
        "    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n",
        esc(&o.access_key_id),
        esc(o.secret_access_key.expose()),
        esc(o.session_token.expose()),
        kms_core::time::rfc3339(o.expiration_ms),
        esc(&o.assumed_role_id),
        esc(&o.arn)
    )
}

/// Run one STS action. Returns the XML body and, for the audit record, the
/// response elements without secrets.
pub async fn dispatch(
    kms: &Kms,
    ctx: &RequestContext,
    form: &[(String, String)],
) -> Result<(Vec<u8>, serde_json::Value), Error> {
    match action(form) {
        Some("AssumeRole") => {
            let input = AssumeRoleInput {
                role_arn: param(form, "RoleArn").map(str::to_string),
                role_session_name: param(form, "RoleSessionName").map(str::to_string),
                duration_seconds: match param(form, "DurationSeconds") {
                    Some(d) => Some(d.parse().map_err(|_| {
                        Error::Validation(format!(
                            "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
                        ))
                    })?),
                    None => None,
                },
            };
            let out = kms.assume_role(ctx, input).await?;
            let audit = serde_json::json!({
                "credentials": {"accessKeyId": out.access_key_id, "expiration": kms_core::time::rfc3339(out.expiration_ms)},
                "assumedRoleUser": {"assumedRoleId": out.assumed_role_id, "arn": out.arn},
            });
            Ok((wrap("AssumeRole", &assume_role_xml(&out), &ctx.request_id), audit))
        }
        Some("GetCallerIdentity") => {
            let (arn, user_id, account) = kms.get_caller_identity(ctx);
            let xml = format!(
                "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
                esc(&arn),
                esc(&user_id),
                esc(&account)
            );
            Ok((wrap("GetCallerIdentity", &xml, &ctx.request_id), serde_json::Value::Null))
        }
        _ => Err(Error::UnknownOperation),
    }
}

/// An STS error body.
pub fn error_xml(code: &str, message: &str, sender: bool, request_id: &str) -> Vec<u8> {
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        if sender { "Sender" } else { "Receiver" },
        esc(message)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn forms() {
        let f = super::parse_form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&RoleSessionName=a+b");
        assert_eq!(super::action(&f), Some("AssumeRole"));
        assert_eq!(super::param(&f, "RoleArn"), Some("arn:aws:iam::1:role/x"));
        assert_eq!(super::param(&f, "RoleSessionName"), Some("a b"));
    }
}
