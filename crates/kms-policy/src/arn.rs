//! ARN splitting and the IAM/STS principal ARNs that policies may name.

/// The six colon-separated parts of an ARN; `resource` keeps any further
/// colons (`arn:aws:kms:us-east-1:111122223333:key/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Split `s`, or `None` when it does not have the six parts of an ARN.
    pub(crate) fn parse(s: &'a str) -> Option<Self> {
        let mut it = s.splitn(6, ':');
        if it.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: it.next()?,
            service: it.next()?,
            region: it.next()?,
            account: it.next()?,
            resource: it.next()?,
        })
    }

    /// What this ARN names as an IAM principal, if it is a well-formed
    /// principal ARN: `iam` root/user/role, `sts` assumed-role/federated-user.
    pub(crate) fn principal(&self) -> Option<PrincipalArn<'a>> {
        if self.partition.is_empty() || !self.region.is_empty() || !is_account_id(self.account) {
            return None;
        }
        let named =
            |prefix: &str| self.resource.strip_prefix(prefix).filter(|rest| !rest.is_empty() && !rest.ends_with('/'));
        match self.service {
            "iam" if self.resource == "root" => Some(PrincipalArn::Root),
            "iam" if named("user/").is_some() => Some(PrincipalArn::User),
            "iam" if named("role/").is_some() => Some(PrincipalArn::Role),
            "sts" => {
                if let Some(rest) = named("assumed-role/") {
                    let (role, session) = rest.split_once('/')?;
                    (!role.is_empty() && !session.is_empty()).then_some(PrincipalArn::AssumedRole { role })
                } else {
                    named("federated-user/").map(|_| PrincipalArn::FederatedUser)
                }
            }
            _ => None,
        }
    }
}

/// The kind of principal a principal ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalArn<'a> {
    Root,
    User,
    Role,
    /// `assumed-role/<role>/<session>`; the role's name (its path is not in
    /// the session ARN).
    AssumedRole {
        role: &'a str,
    },
    FederatedUser,
}

/// Twelve ASCII digits.
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_six_parts() {
        let a = Arn::parse("arn:aws:kms:us-east-1:111122223333:key/a:b").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws", "kms", "us-east-1", "111122223333", "key/a:b")
        );
        assert!(Arn::parse("arn:aws:kms:us-east-1").is_none());
        assert!(Arn::parse("urn:aws:kms:r:a:b").is_none());
    }

    #[test]
    fn principal_arns() {
        let p = |s| Arn::parse(s).and_then(|a| a.principal());
        assert_eq!(p("arn:aws:iam::111122223333:root"), Some(PrincipalArn::Root));
        assert_eq!(p("arn:aws:iam::111122223333:user/ops/alice"), Some(PrincipalArn::User));
        assert_eq!(p("arn:aws:iam::111122223333:role/R"), Some(PrincipalArn::Role));
        assert_eq!(p("arn:aws:sts::111122223333:assumed-role/R/s"), Some(PrincipalArn::AssumedRole { role: "R" }));
        assert_eq!(p("arn:aws:sts::111122223333:federated-user/bob"), Some(PrincipalArn::FederatedUser));
        for bad in [
            "arn:aws:iam::11112222333:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:iam::111122223333:group/g",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:sts::111122223333:assumed-role/R",
            "arn:aws:kms::111122223333:root",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
