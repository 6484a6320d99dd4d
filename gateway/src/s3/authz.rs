//! The one access decision: may this principal (a user, or anonymous) do this action to
//! this bucket or object? Pure: the caller has read the bucket, the object's ACL and the
//! request's facts. The order is AWS's: an explicit Deny in the bucket policy wins; then
//! the owner, an Allow in the policy or a grant in an ACL allows; else deny.

use crate::s3::policy::{Effect, Policy, Request as PolicyRequest};
use strata_blockstore::{Acl, Bucket, Grant, Grantee, ObjectOwnership, Permission};

/// What the decision is about.
pub struct Question<'a> {
    /// The signed-in user; `None` for an anonymous request.
    pub principal: Option<&'a str>,
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: &'a str,
    pub bucket: &'a Bucket,
    /// The bucket's policy, parsed.
    pub policy: Option<&'a Policy>,
    /// The key, when the request names one.
    pub key: Option<&'a str>,
    /// The object's ACL, when the action is on an existing object.
    pub object: Option<&'a Acl>,
    /// The request's values for policy condition keys.
    pub value: &'a dyn Fn(&str) -> Option<String>,
}

/// Which ACL grant would allow an action, and on what: S3's mapping of permissions to
/// operations.
enum Needs {
    Bucket(Permission),
    Object(Permission),
    /// No ACL grant allows this action: only the owner or the policy can.
    Nothing,
}

fn needs(action: &str) -> Needs {
    match action {
        "s3:ListBucket" | "s3:ListBucketMultipartUploads" | "s3:ListBucketVersions" => Needs::Bucket(Permission::Read),
        "s3:PutObject"
        | "s3:DeleteObject"
        | "s3:DeleteObjectVersion"
        | "s3:AbortMultipartUpload"
        | "s3:ListMultipartUploadParts" => Needs::Bucket(Permission::Write),
        "s3:GetBucketAcl" => Needs::Bucket(Permission::ReadAcp),
        "s3:PutBucketAcl" => Needs::Bucket(Permission::WriteAcp),
        "s3:GetObject" | "s3:GetObjectVersion" => Needs::Object(Permission::Read),
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => Needs::Object(Permission::ReadAcp),
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => Needs::Object(Permission::WriteAcp),
        _ => Needs::Nothing,
    }
}

/// Who owns an object in `bucket` whose ACL names `acl.owner`: with ACLs off, the
/// bucket owner owns everything.
pub fn object_owner<'a>(bucket: &'a Bucket, acl: &'a Acl) -> &'a str {
    if bucket.ownership == Some(ObjectOwnership::BucketOwnerEnforced) || acl.owner.is_empty() {
        &bucket.owner
    } else {
        &acl.owner
    }
}

fn grants_allow(grants: &[Grant], principal: Option<&str>, wanted: Permission, ignore_public: bool) -> bool {
    grants.iter().any(|g| {
        let grantee = match &g.grantee {
            Grantee::AllUsers => !ignore_public,
            Grantee::AuthenticatedUsers => !ignore_public && principal.is_some(),
            Grantee::User(id) => principal == Some(id.as_str()),
        };
        grantee && (g.permission == wanted || g.permission == Permission::FullControl)
    })
}

/// Why a request was refused, for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The bucket policy denies it explicitly.
    ExplicitDeny,
    /// Nothing allows it.
    NotAllowed,
}

/// The decision.
pub fn decide(q: &Question) -> Result<(), Refusal> {
    let verdict = q.policy.and_then(|p| {
        let resource = match q.key {
            Some(k) => format!("arn:aws:s3:::{}/{k}", q.bucket.name),
            None => format!("arn:aws:s3:::{}", q.bucket.name),
        };
        p.decide(&PolicyRequest {
            principal: q.principal,
            action: q.action,
            resource: &resource,
            value: q.value,
        })
    });
    let is_bucket_owner = q.principal == Some(q.bucket.owner.as_str());
    // The owner can always manage the policy, so that no policy locks it out.
    let policy_call = matches!(
        q.action,
        "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
    );
    if verdict == Some(Effect::Deny) && !(is_bucket_owner && policy_call) {
        return Err(Refusal::ExplicitDeny);
    }
    // On an existing object the object's owner is the one the owner's rights go to.
    let owner = match q.object {
        Some(acl) => object_owner(q.bucket, acl),
        None => q.bucket.owner.as_str(),
    };
    if q.principal == Some(owner) {
        return Ok(());
    }
    let block = q.bucket.public_access_block.unwrap_or_default();
    let public_policy_ignored = block.restrict_public_buckets && q.policy.is_some_and(Policy::is_public);
    if verdict == Some(Effect::Allow) && !public_policy_ignored {
        return Ok(());
    }
    if q.bucket.ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
        return Err(Refusal::NotAllowed);
    }
    let allowed = match needs(q.action) {
        Needs::Bucket(p) => grants_allow(&q.bucket.grants, q.principal, p, block.ignore_public_acls),
        Needs::Object(p) => q
            .object
            .is_some_and(|acl| grants_allow(&acl.grants, q.principal, p, block.ignore_public_acls)),
        Needs::Nothing => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::NotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_blockstore::{Hlc, PublicAccessBlock, SiteId};

    fn bucket(grants: Vec<Grant>, ownership: Option<ObjectOwnership>) -> Bucket {
        Bucket {
            name: "b".into(),
            owner: "alice".into(),
            created_ms: 0,
            tags: Vec::new(),
            cors: None,
            ownership,
            grants,
            policy: None,
            public_access_block: None,
            versioning: Default::default(),
            object_lock: None,
            lifecycle: Vec::new(),
            hlc: Hlc(1),
            site: SiteId(1),
        }
    }

    fn ask(
        b: &Bucket,
        policy: Option<&Policy>,
        who: Option<&str>,
        action: &str,
        object: Option<&Acl>,
    ) -> Result<(), Refusal> {
        decide(&Question {
            principal: who,
            action,
            bucket: b,
            policy,
            key: object.map(|_| "k"),
            object,
            value: &|_| None,
        })
    }

    #[test]
    fn owners_acls_and_ownership() {
        let public_read = vec![Grant {
            grantee: Grantee::AllUsers,
            permission: Permission::Read,
        }];
        let mut b = bucket(public_read.clone(), Some(ObjectOwnership::ObjectWriter));
        assert_eq!(ask(&b, None, None, "s3:ListBucket", None), Ok(()));
        assert_eq!(ask(&b, None, None, "s3:PutObject", None), Err(Refusal::NotAllowed));
        assert_eq!(ask(&b, None, Some("alice"), "s3:PutBucketCORS", None), Ok(()));
        assert_eq!(
            ask(&b, None, Some("bob"), "s3:PutBucketCORS", None),
            Err(Refusal::NotAllowed)
        );
        // An object bob wrote: bob owns it; alice owns the bucket, not the object.
        let bobs = Acl {
            owner: "bob".into(),
            grants: Vec::new(),
        };
        assert_eq!(ask(&b, None, Some("bob"), "s3:GetObject", Some(&bobs)), Ok(()));
        assert_eq!(
            ask(&b, None, Some("alice"), "s3:GetObject", Some(&bobs)),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            ask(&b, None, None, "s3:GetObject", Some(&bobs)),
            Err(Refusal::NotAllowed)
        );
        // With ACLs off the bucket owner owns it, and the public grant counts no more.
        b.ownership = Some(ObjectOwnership::BucketOwnerEnforced);
        assert_eq!(ask(&b, None, Some("alice"), "s3:GetObject", Some(&bobs)), Ok(()));
        assert_eq!(ask(&b, None, None, "s3:ListBucket", None), Err(Refusal::NotAllowed));
        // IgnorePublicAcls drops the public grants only.
        let mut b = bucket(public_read, None);
        b.public_access_block = Some(PublicAccessBlock {
            ignore_public_acls: true,
            ..Default::default()
        });
        assert_eq!(ask(&b, None, None, "s3:ListBucket", None), Err(Refusal::NotAllowed));
    }

    #[test]
    fn explicit_deny_wins_except_over_the_owners_policy_calls() {
        let b = bucket(Vec::new(), None);
        let p = Policy::parse(
            br#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
                              {"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}"#,
            "b",
        )
        .unwrap();
        assert_eq!(
            ask(&b, Some(&p), Some("alice"), "s3:ListBucket", None),
            Err(Refusal::ExplicitDeny)
        );
        assert_eq!(ask(&b, Some(&p), Some("alice"), "s3:DeleteBucketPolicy", None), Ok(()));
        assert_eq!(
            ask(&b, Some(&p), Some("bob"), "s3:DeleteBucketPolicy", None),
            Err(Refusal::ExplicitDeny)
        );
    }

    #[test]
    fn restrict_public_buckets_ignores_a_public_policy() {
        let mut b = bucket(Vec::new(), None);
        let p = Policy::parse(
            br#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
            "b",
        )
        .unwrap();
        let acl = Acl {
            owner: "alice".into(),
            grants: Vec::new(),
        };
        assert_eq!(ask(&b, Some(&p), None, "s3:GetObject", Some(&acl)), Ok(()));
        b.public_access_block = Some(PublicAccessBlock {
            restrict_public_buckets: true,
            ..Default::default()
        });
        assert_eq!(
            ask(&b, Some(&p), None, "s3:GetObject", Some(&acl)),
            Err(Refusal::NotAllowed)
        );
    }
}
