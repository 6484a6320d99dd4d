//! ACLs as S3 writes them: canned ACL names, `x-amz-grant-*` headers and
//! `AccessControlPolicy` documents, read into grants and written back.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::xml::{parse, XmlWriter};
use http::HeaderMap;
use strata_blockstore::{Grant, Grantee, Permission};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

const PERMISSIONS: [(Permission, &str, &str); 5] = [
    (Permission::Read, "READ", "x-amz-grant-read"),
    (Permission::Write, "WRITE", "x-amz-grant-write"),
    (Permission::ReadAcp, "READ_ACP", "x-amz-grant-read-acp"),
    (Permission::WriteAcp, "WRITE_ACP", "x-amz-grant-write-acp"),
    (Permission::FullControl, "FULL_CONTROL", "x-amz-grant-full-control"),
];

fn permission_name(p: Permission) -> &'static str {
    PERMISSIONS
        .iter()
        .find(|(q, ..)| *q == p)
        .map(|(_, n, _)| *n)
        .unwrap_or_default()
}

fn grant(grantee: Grantee, permission: Permission) -> Grant {
    Grant { grantee, permission }
}

/// The grants of a canned ACL. `bucket_owner` is the owner of the bucket the object
/// is in (the `bucket-owner-*` ACLs name it); on a bucket they grant nothing more.
pub fn canned(name: &str, bucket_owner: &str) -> S3Result<Vec<Grant>> {
    Ok(match name.trim() {
        "private" => Vec::new(),
        "public-read" => vec![grant(Grantee::AllUsers, Permission::Read)],
        "public-read-write" => vec![
            grant(Grantee::AllUsers, Permission::Read),
            grant(Grantee::AllUsers, Permission::Write),
        ],
        "authenticated-read" => vec![grant(Grantee::AuthenticatedUsers, Permission::Read)],
        "bucket-owner-read" => vec![grant(Grantee::User(bucket_owner.to_owned()), Permission::Read)],
        "bucket-owner-full-control" => vec![grant(Grantee::User(bucket_owner.to_owned()), Permission::FullControl)],
        "log-delivery-write" => {
            return Err(S3Error::NotImplemented("the log-delivery-write canned ACL".into()));
        }
        _ => return Err(S3Error::InvalidArgument(format!("Invalid canned ACL: {name}"))),
    })
}

/// A grantee as `x-amz-grant-*` headers write it: `id="..."` or `uri="..."`.
fn header_grantee(item: &str) -> S3Result<Grantee> {
    let (kind, value) = item
        .split_once('=')
        .ok_or_else(|| S3Error::InvalidArgument(format!("Invalid grantee: {item}")))?;
    let value = value.trim().trim_matches('"');
    match kind.trim().to_ascii_lowercase().as_str() {
        "id" => Ok(Grantee::User(value.to_owned())),
        "uri" => group(value),
        "emailaddress" => Err(S3Error::GrantByEmail),
        _ => Err(S3Error::InvalidArgument(format!("Invalid grantee: {item}"))),
    }
}

fn group(uri: &str) -> S3Result<Grantee> {
    match uri {
        ALL_USERS => Ok(Grantee::AllUsers),
        AUTHENTICATED_USERS => Ok(Grantee::AuthenticatedUsers),
        _ => Err(S3Error::InvalidArgument(format!("Invalid group uri: {uri}"))),
    }
}

/// The ACL a write's headers ask for: a canned `x-amz-acl` or `x-amz-grant-*`
/// headers (not both, as S3 refuses), or `None` when it names neither.
pub fn from_headers(h: &HeaderMap, bucket_owner: &str) -> S3Result<Option<Vec<Grant>>> {
    let canned_name = h.get("x-amz-acl").map(|v| v.to_str().unwrap_or_default());
    let mut grants = Vec::new();
    let mut any_grant_header = false;
    for (permission, _, header) in PERMISSIONS {
        for value in h.get_all(header) {
            any_grant_header = true;
            let value = value
                .to_str()
                .map_err(|_| S3Error::InvalidArgument(format!("Invalid {header}")))?;
            for item in value.split(',').filter(|i| !i.trim().is_empty()) {
                grants.push(grant(header_grantee(item)?, permission));
            }
        }
    }
    match (canned_name, any_grant_header) {
        (Some(_), true) => Err(S3Error::InvalidRequest(
            "Specifying both Canned ACLs and Header Grants is not allowed".into(),
        )),
        (Some(name), false) => canned(name, bucket_owner).map(Some),
        (None, true) => Ok(Some(grants)),
        (None, false) => Ok(None),
    }
}

/// The grants of an `AccessControlPolicy` document. The owner's own full control is
/// implied, so a grant of it is dropped.
pub fn from_xml(body: &[u8], owner: &str) -> S3Result<Vec<Grant>> {
    let doc = parse(body, "AccessControlPolicy").map_err(|_| S3Error::MalformedAcl)?;
    let list = doc.child("AccessControlList").ok_or(S3Error::MalformedAcl)?;
    let mut grants = Vec::new();
    for g in list.all("Grant") {
        let who = g.child("Grantee").ok_or(S3Error::MalformedAcl)?;
        let grantee = if let Some(id) = who.text_of("ID") {
            Grantee::User(id.trim().to_owned())
        } else if let Some(uri) = who.text_of("URI") {
            group(uri.trim())?
        } else if who.child("EmailAddress").is_some() {
            return Err(S3Error::GrantByEmail);
        } else {
            return Err(S3Error::MalformedAcl);
        };
        let name = g.text_of("Permission").ok_or(S3Error::MalformedAcl)?.trim();
        let permission = PERMISSIONS
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(p, ..)| *p)
            .ok_or(S3Error::MalformedAcl)?;
        if !(permission == Permission::FullControl && grantee == Grantee::User(owner.to_owned())) {
            grants.push(grant(grantee, permission));
        }
    }
    Ok(grants)
}

/// The users a set of grants names, to check they exist.
pub fn named_users(grants: &[Grant]) -> Vec<String> {
    grants
        .iter()
        .filter_map(|g| match &g.grantee {
            Grantee::User(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// The `AccessControlPolicy` document GetBucketAcl and GetObjectAcl answer: the
/// owner's full control, then every grant.
pub fn to_xml(owner: &str, grants: &[Grant]) -> String {
    let mut x = XmlWriter::new();
    x.root("AccessControlPolicy");
    x.owner("Owner", owner);
    x.open("AccessControlList");
    let owner_grant = grant(Grantee::User(owner.to_owned()), Permission::FullControl);
    for g in std::iter::once(&owner_grant).chain(grants) {
        let (kind, field, value) = match &g.grantee {
            Grantee::User(id) => ("CanonicalUser", "ID", id.as_str()),
            Grantee::AllUsers => ("Group", "URI", ALL_USERS),
            Grantee::AuthenticatedUsers => ("Group", "URI", AUTHENTICATED_USERS),
        };
        x.open("Grant");
        x.raw(&format!(
            "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"{kind}\">"
        ));
        x.elem(field, value);
        if let Grantee::User(id) = &g.grantee {
            x.elem("DisplayName", id);
        }
        x.close("Grantee");
        x.elem("Permission", permission_name(g.permission));
        x.close("Grant");
    }
    x.close("AccessControlList");
    x.close("AccessControlPolicy");
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_canned_and_grants() {
        let mut h = HeaderMap::new();
        assert_eq!(from_headers(&h, "o").unwrap(), None);
        h.insert("x-amz-acl", "public-read".parse().unwrap());
        assert_eq!(
            from_headers(&h, "o").unwrap(),
            Some(vec![grant(Grantee::AllUsers, Permission::Read)])
        );
        h.insert("x-amz-grant-read", "id=\"bob\"".parse().unwrap());
        assert!(matches!(from_headers(&h, "o"), Err(S3Error::InvalidRequest(_))));
        h.remove("x-amz-acl");
        h.insert(
            "x-amz-grant-write-acp",
            format!("uri=\"{AUTHENTICATED_USERS}\", id=carol").parse().unwrap(),
        );
        assert_eq!(
            from_headers(&h, "o").unwrap().unwrap(),
            vec![
                grant(Grantee::User("bob".into()), Permission::Read),
                grant(Grantee::AuthenticatedUsers, Permission::WriteAcp),
                grant(Grantee::User("carol".into()), Permission::WriteAcp),
            ]
        );
        h.insert("x-amz-grant-read", "emailAddress=\"a@b.c\"".parse().unwrap());
        assert!(matches!(from_headers(&h, "o"), Err(S3Error::GrantByEmail)));
        let mut h = HeaderMap::new();
        h.insert("x-amz-acl", "bucket-owner-full-control".parse().unwrap());
        assert_eq!(
            from_headers(&h, "alice").unwrap().unwrap(),
            vec![grant(Grantee::User("alice".into()), Permission::FullControl)]
        );
        h.insert("x-amz-acl", "public".parse().unwrap());
        assert!(matches!(from_headers(&h, "o"), Err(S3Error::InvalidArgument(_))));
    }

    #[test]
    fn documents_round_trip() {
        let grants = vec![
            grant(Grantee::AllUsers, Permission::Read),
            grant(Grantee::User("bob".into()), Permission::WriteAcp),
        ];
        let doc = to_xml("alice", &grants);
        assert!(doc.contains("<ID>alice</ID>"), "{doc}");
        assert_eq!(from_xml(doc.as_bytes(), "alice").unwrap(), grants);
        assert!(matches!(
            from_xml(b"<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>", "a"),
            Err(S3Error::MalformedAcl)
        ));
        assert!(matches!(from_xml(b"<nope/>", "a"), Err(S3Error::MalformedAcl)));
    }
}
