//! Who may do what: the permission matrix of the bucket owner, a second user and an
//! anonymous client over a private bucket, a public-read object, a policy that opens a
//! prefix, and a policy with an explicit Deny. Every cell asserts the status and the
//! S3 error code; anonymous requests are unsigned HTTP, as curl sends them.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl};
use aws_sdk_s3::Client;
use strata_tests::{raw, Site};

const BOB_KEY: &str = "BOBACCESSKEY00000001";
const BOB_SECRET: &str = "bob-secret-key-0123456789abcdefghijklmn";

/// What a client saw: "ok", or "<status> <code>" (a HEAD error has no code).
async fn seen<T, E: ProvideErrorMetadata>(
    r: Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
    head: bool,
) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            match head {
                true => status.to_string(),
                false => format!("{status} {}", e.code().unwrap_or("<none>")),
            }
        }
    }
}

fn anonymous(site: &Site, method: &str, path: &str, extra: &str) -> String {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n",
        site.s3
    );
    let r = raw(site.s3, req.as_bytes(), false);
    match (r.status, method) {
        (200..=299, _) => "ok".into(),
        (s, "HEAD") => s.to_string(),
        (s, _) => format!("{s} {}", r.code()),
    }
}

/// One setup of the matrix: a bucket, the key every cell reads, the key puts and
/// deletes write, the prefix lists ask for, and the ACL the owner's write-ACL cell
/// puts back unchanged.
struct Setup {
    bucket: &'static str,
    key: &'static str,
    new_key: &'static str,
    prefix: &'static str,
    acl: ObjectCannedAcl,
}

/// The eight operations, as one principal sees them.
async fn as_user(c: &Client, s: &Setup) -> Vec<String> {
    let (b, k) = (s.bucket, s.key);
    vec![
        seen(c.list_objects_v2().bucket(b).prefix(s.prefix).send().await, false).await,
        seen(c.get_object().bucket(b).key(k).send().await, false).await,
        seen(c.head_object().bucket(b).key(k).send().await, true).await,
        seen(
            c.put_object()
                .bucket(b)
                .key(s.new_key)
                .body(ByteStream::from_static(b"new"))
                .send()
                .await,
            false,
        )
        .await,
        seen(c.delete_object().bucket(b).key(s.new_key).send().await, false).await,
        seen(c.get_object_acl().bucket(b).key(k).send().await, false).await,
        seen(
            c.put_object_acl().bucket(b).key(k).acl(s.acl.clone()).send().await,
            false,
        )
        .await,
        seen(c.get_bucket_policy().bucket(b).send().await, false).await,
    ]
}

fn as_anonymous(site: &Site, s: &Setup) -> Vec<String> {
    let (b, k) = (s.bucket, s.key);
    let acl = format!("x-amz-acl: {}\r\n", s.acl.as_str());
    vec![
        anonymous(site, "GET", &format!("/{b}?list-type=2&prefix={}", s.prefix), ""),
        anonymous(site, "GET", &format!("/{b}/{k}"), ""),
        anonymous(site, "HEAD", &format!("/{b}/{k}"), ""),
        anonymous(site, "PUT", &format!("/{b}/{}", s.new_key), ""),
        anonymous(site, "DELETE", &format!("/{b}/{}", s.new_key), ""),
        anonymous(site, "GET", &format!("/{b}/{k}?acl"), ""),
        anonymous(site, "PUT", &format!("/{b}/{k}?acl"), &acl),
        anonymous(site, "GET", &format!("/{b}?policy"), ""),
    ]
}

const OPS: [&str; 8] = [
    "list",
    "get",
    "head",
    "put",
    "delete",
    "read ACL",
    "write ACL",
    "policy",
];

/// Checks one setup's matrix, every cell, and names the cells that differ.
async fn check(site: &Site, owner: &Client, bob: &Client, s: &Setup, want: [[&str; 3]; 8]) {
    let got = [as_user(owner, s).await, as_user(bob, s).await, as_anonymous(site, s)];
    let mut wrong = Vec::new();
    for (i, op) in OPS.iter().enumerate() {
        for (j, who) in ["owner", "bob", "anonymous"].iter().enumerate() {
            if got[j][i] != want[i][j] {
                wrong.push(format!(
                    "{}: {op} by {who}: got {:?}, want {:?}",
                    s.bucket, got[j][i], want[i][j]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

async fn put(c: &Client, bucket: &str, key: &str, acl: Option<ObjectCannedAcl>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .set_acl(acl)
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
}

async fn policy(c: &Client, bucket: &str, doc: &str) {
    c.put_bucket_policy().bucket(bucket).policy(doc).send().await.unwrap();
}

#[tokio::test]
async fn permission_matrix() {
    let site = Site::start();
    site.create_user("bob", BOB_KEY, BOB_SECRET);
    let owner = site.client();
    let bob = site.client_as(BOB_KEY, BOB_SECRET);
    for b in ["private", "pubobj", "prefixed", "denied"] {
        owner.create_bucket().bucket(b).send().await.unwrap();
    }
    put(&owner, "private", "k", None).await;
    put(&owner, "pubobj", "k", Some(ObjectCannedAcl::PublicRead)).await;
    put(&owner, "prefixed", "public/k", None).await;
    put(&owner, "prefixed", "private/k", None).await;
    policy(
        &owner,
        "prefixed",
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::prefixed/public/*"},
            {"Sid":"BobWrites","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},
             "Action":["s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::prefixed/public/*"},
            {"Sid":"BobLists","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},
             "Action":"s3:ListBucket","Resource":"arn:aws:s3:::prefixed","Condition":{"StringLike":{"s3:prefix":"public/*"}}}]}"#,
    )
    .await;
    owner
        .put_bucket_acl()
        .bucket("denied")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    put(&owner, "denied", "k", Some(ObjectCannedAcl::PublicRead)).await;
    policy(
        &owner,
        "denied",
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::denied/*"},
            {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":"s3:*",
             "Resource":["arn:aws:s3:::denied","arn:aws:s3:::denied/*"]}]}"#,
    )
    .await;

    const OK: &str = "ok";
    const NO: &str = "403 AccessDenied";
    const H_NO: &str = "403";
    const NO_POLICY: &str = "404 NoSuchBucketPolicy";
    let private = Setup {
        bucket: "private",
        key: "k",
        new_key: "new",
        prefix: "",
        acl: ObjectCannedAcl::Private,
    };
    #[rustfmt::skip]
    check(&site, &owner, &bob, &private, [
        // owner     bob    anonymous
        [OK,        NO,    NO],    // list
        [OK,        NO,    NO],    // get
        [OK,        H_NO,  H_NO],  // head
        [OK,        NO,    NO],    // put
        [OK,        NO,    NO],    // delete
        [OK,        NO,    NO],    // read ACL
        [OK,        NO,    NO],    // write ACL
        [NO_POLICY, NO,    NO],    // policy
    ]).await;

    let public_object = Setup {
        bucket: "pubobj",
        acl: ObjectCannedAcl::PublicRead,
        ..private
    };
    #[rustfmt::skip]
    check(&site, &owner, &bob, &public_object, [
        [OK,        NO,    NO],    // list: the bucket stays private
        [OK,        OK,    OK],    // get
        [OK,        OK,    OK],    // head
        [OK,        NO,    NO],    // put
        [OK,        NO,    NO],    // delete
        [OK,        NO,    NO],    // read ACL: READ is not READ_ACP
        [OK,        NO,    NO],    // write ACL
        [NO_POLICY, NO,    NO],    // policy
    ]).await;

    let prefix = Setup {
        bucket: "prefixed",
        key: "public/k",
        new_key: "public/new",
        prefix: "public/",
        acl: ObjectCannedAcl::Private,
    };
    #[rustfmt::skip]
    check(&site, &owner, &bob, &prefix, [
        [OK,        OK,    NO],    // list of public/: bob by the policy's condition
        [OK,        OK,    OK],    // get
        [OK,        OK,    OK],    // head
        [OK,        OK,    NO],    // put
        [OK,        OK,    NO],    // delete
        [OK,        NO,    NO],    // read ACL
        [OK,        NO,    NO],    // write ACL
        [OK,        NO,    NO],    // policy
    ]).await;
    // Outside the prefix the bucket stays private.
    let outside = Setup {
        key: "private/k",
        new_key: "private/new",
        prefix: "private/",
        ..prefix
    };
    #[rustfmt::skip]
    check(&site, &owner, &bob, &outside, [
        [OK,        NO,    NO],
        [OK,        NO,    NO],
        [OK,        H_NO,  H_NO],
        [OK,        NO,    NO],
        [OK,        NO,    NO],
        [OK,        NO,    NO],
        [OK,        NO,    NO],
        [OK,        NO,    NO],
    ]).await;

    let deny = Setup {
        bucket: "denied",
        key: "k",
        new_key: "new",
        prefix: "",
        acl: ObjectCannedAcl::PublicRead,
    };
    #[rustfmt::skip]
    check(&site, &owner, &bob, &deny, [
        [OK,        NO,    OK],    // list: the bucket ACL allows, the Deny wins for bob
        [OK,        NO,    OK],    // get
        [OK,        H_NO,  OK],    // head
        [OK,        NO,    NO],    // put
        [OK,        NO,    NO],    // delete
        [OK,        NO,    NO],    // read ACL
        [OK,        NO,    NO],    // write ACL
        [OK,        NO,    NO],    // policy
    ]).await;

    // A missing key is NoSuchKey to whoever may list, AccessDenied to others.
    let r = owner.get_object().bucket("denied").key("nope").send().await;
    assert_eq!(seen(r, false).await, "404 NoSuchKey");
    assert_eq!(anonymous(&site, "GET", "/denied/nope", ""), "404 NoSuchKey");
    assert_eq!(anonymous(&site, "GET", "/private/nope", ""), NO);
    // A bucket that does not exist is NoSuchBucket to anyone.
    assert_eq!(anonymous(&site, "GET", "/nobucket/k", ""), "404 NoSuchBucket");
    // Listing one's buckets needs a signature.
    assert_eq!(anonymous(&site, "GET", "/", ""), NO);

    // Grants by header and by document: bob reads one object, then lists the bucket.
    owner
        .put_object()
        .bucket("private")
        .key("for-bob")
        .grant_read("id=\"bob\"")
        .body(ByteStream::from_static(b"hello bob"))
        .send()
        .await
        .unwrap();
    let got = bob.get_object().bucket("private").key("for-bob").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello bob");
    assert_eq!(anonymous(&site, "GET", "/private/for-bob", ""), NO);
    assert_eq!(
        seen(bob.list_objects_v2().bucket("private").send().await, false).await,
        NO
    );
    let acl = owner.get_bucket_acl().bucket("private").send().await.unwrap();
    let policy = aws_sdk_s3::types::AccessControlPolicy::builder()
        .owner(acl.owner().unwrap().clone())
        .grants(
            aws_sdk_s3::types::Grant::builder()
                .grantee(
                    aws_sdk_s3::types::Grantee::builder()
                        .r#type(aws_sdk_s3::types::Type::CanonicalUser)
                        .id("bob")
                        .build()
                        .unwrap(),
                )
                .permission(aws_sdk_s3::types::Permission::Read)
                .build(),
        )
        .build();
    owner
        .put_bucket_acl()
        .bucket("private")
        .access_control_policy(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        seen(bob.list_objects_v2().bucket("private").send().await, false).await,
        OK
    );
    let r = owner
        .put_bucket_acl()
        .bucket("private")
        .grant_read("id=\"nobody\"")
        .send()
        .await;
    assert_eq!(seen(r, false).await, "400 InvalidArgument");
    assert_eq!(
        seen(bob.list_objects_v2().bucket("private").send().await, false).await,
        OK
    );

    // A policy Strata cannot enforce is refused by name and changes nothing.
    let r = owner
        .put_bucket_policy()
        .bucket("prefixed")
        .policy(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::prefixed/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}"#)
        .send()
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.code(), Some("MalformedPolicy"));
    assert!(e.message().unwrap_or_default().contains("aws:PrincipalOrgID"), "{e:?}");
    assert_eq!(anonymous(&site, "GET", "/prefixed/public/k", ""), OK);
    assert_eq!(anonymous(&site, "GET", "/prefixed/private/k", ""), NO);
    // With BlockPublicPolicy a public policy is refused; with RestrictPublicBuckets the
    // stored one stops opening the bucket to anyone but its owner.
    let block = |policy, restrict| {
        aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_policy(policy)
            .restrict_public_buckets(restrict)
            .build()
    };
    owner
        .put_public_access_block()
        .bucket("prefixed")
        .public_access_block_configuration(block(true, false))
        .send()
        .await
        .unwrap();
    let again = owner
        .put_bucket_policy()
        .bucket("prefixed")
        .policy(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::prefixed/*"}}"#,
        )
        .send()
        .await;
    assert_eq!(seen(again, false).await, NO);
    assert_eq!(anonymous(&site, "GET", "/prefixed/public/k", ""), OK);
    owner
        .put_public_access_block()
        .bucket("prefixed")
        .public_access_block_configuration(block(false, true))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous(&site, "GET", "/prefixed/public/k", ""), NO);
    owner
        .delete_public_access_block()
        .bucket("prefixed")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous(&site, "GET", "/prefixed/public/k", ""), OK);
}

/// An anonymous reader of a public object may not make it answer as something else
/// (`response-content-type=text/html` on someone's public upload); a signed request may.
#[tokio::test]
async fn only_a_signed_get_may_override_the_answer_headers() {
    let site = Site::start();
    let owner = site.client();
    owner.create_bucket().bucket("pubread").send().await.unwrap();
    put(&owner, "pubread", "k", Some(ObjectCannedAcl::PublicRead)).await;
    assert_eq!(anonymous(&site, "GET", "/pubread/k", ""), "ok");
    assert_eq!(
        anonymous(&site, "GET", "/pubread/k?response-content-type=text/html", ""),
        "400 InvalidRequest"
    );
    let signed = owner
        .get_object()
        .bucket("pubread")
        .key("k")
        .response_content_type("text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(signed.content_type(), Some("text/html"));
}

/// Tags sent with a write need s3:PutObjectTagging as well as s3:PutObject, as in S3.
#[tokio::test]
async fn tags_sent_with_a_write_need_their_own_permission() {
    let site = Site::start();
    site.create_user("bob", BOB_KEY, BOB_SECRET);
    let (owner, bob) = (site.client(), site.client_as(BOB_KEY, BOB_SECRET));
    owner.create_bucket().bucket("shared").send().await.unwrap();
    let allow = |actions: &str| {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/bob"}},"Action":{actions},"Resource":"arn:aws:s3:::shared/*"}}]}}"#
        )
    };
    policy(&owner, "shared", &allow(r#""s3:PutObject""#)).await;
    let tagged = |key: &'static str| {
        bob.put_object()
            .bucket("shared")
            .key(key)
            .tagging("team=blue")
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    assert_eq!(seen(tagged("t1").await, false).await, "403 AccessDenied");
    let plain = bob
        .put_object()
        .bucket("shared")
        .key("p")
        .body(ByteStream::from_static(b"x"));
    assert_eq!(seen(plain.send().await, false).await, "ok");
    policy(&owner, "shared", &allow(r#"["s3:PutObject","s3:PutObjectTagging"]"#)).await;
    assert_eq!(seen(tagged("t2").await, false).await, "ok");
}
