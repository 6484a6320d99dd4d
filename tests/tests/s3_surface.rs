//! The rest of the S3 surface (issue 3), driven by aws-sdk-s3: copies, batch delete,
//! conditional requests, part reads, tagging, attributes, ACLs, versioning reads, CORS.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, CorsConfiguration, CorsRule, Delete, MetadataDirective, ObjectAttributes,
    ObjectCannedAcl, ObjectIdentifier, Tag, Tagging, TaggingDirective,
};
use aws_sdk_s3::Client;
use strata_tests::{data, md5_hex, raw, Site};

async fn get_bytes(c: &Client, key: &str) -> Vec<u8> {
    let o = c.get_object().bucket("bkt").key(key).send().await.unwrap();
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    r.unwrap_err().code().unwrap_or("<none>").to_owned()
}

/// The HTTP status of a call that must fail (HEAD and 304 answers have no body).
fn status<T: std::fmt::Debug, E: std::fmt::Debug>(
    r: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> u16 {
    r.unwrap_err().raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

async fn setup() -> (Site, Client) {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    (site, c)
}

#[tokio::test]
async fn copy_object_directives_conditions_and_self_copy() {
    let (_site, c) = setup().await;
    let body = data(300_000, 1);
    c.put_object()
        .bucket("bkt")
        .key("src")
        .body(body.clone().into())
        .content_type("text/x-src")
        .metadata("a", "1")
        .tagging("t=1")
        .send()
        .await
        .unwrap();
    c.create_bucket().bucket("other").send().await.unwrap();

    // COPY (default): data, headers and tags come along; the ETag is the source's.
    let r = c
        .copy_object()
        .bucket("other")
        .key("dst")
        .copy_source("bkt/src")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.copy_object_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&body)).as_str())
    );
    let h = c.head_object().bucket("other").key("dst").send().await.unwrap();
    assert_eq!(
        (h.content_type(), h.metadata().unwrap().get("a").map(String::as_str)),
        (Some("text/x-src"), Some("1"))
    );
    let got = c.get_object().bucket("other").key("dst").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[..]);
    let tags = c.get_object_tagging().bucket("other").key("dst").send().await.unwrap();
    assert_eq!(tags.tag_set().len(), 1);

    // REPLACE: new headers and tags, same bytes; a key with spaces needs encoding.
    c.copy_object()
        .bucket("bkt")
        .key("replaced copy")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("b", "2")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("u=2&v=3")
        .send()
        .await
        .unwrap();
    let h = c.head_object().bucket("bkt").key("replaced copy").send().await.unwrap();
    assert_eq!(h.content_type(), Some("text/x-new"));
    assert_eq!(h.metadata().unwrap().get("b").map(String::as_str), Some("2"));
    assert!(h.metadata().unwrap().get("a").is_none());
    assert_eq!(
        c.get_object_tagging()
            .bucket("bkt")
            .key("replaced copy")
            .send()
            .await
            .unwrap()
            .tag_set()
            .len(),
        2
    );
    // The copy of the copy is addressable with an encoded source.
    c.copy_object()
        .bucket("bkt")
        .key("copy2")
        .copy_source("bkt/replaced%20copy")
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "copy2").await, body);

    // Onto itself: only with REPLACE, which changes metadata in place.
    assert_eq!(
        refused(
            c.copy_object()
                .bucket("bkt")
                .key("src")
                .copy_source("bkt/src")
                .send()
                .await
        ),
        "InvalidRequest"
    );
    c.copy_object()
        .bucket("bkt")
        .key("src")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-changed")
        .send()
        .await
        .unwrap();
    let h = c.head_object().bucket("bkt").key("src").send().await.unwrap();
    assert_eq!(h.content_type(), Some("text/x-changed"));
    assert_eq!(get_bytes(&c, "src").await, body);

    // Conditions on the source.
    let etag = format!("\"{}\"", md5_hex(&body));
    let ok = c
        .copy_object()
        .bucket("bkt")
        .key("c1")
        .copy_source("bkt/src")
        .copy_source_if_match(&etag)
        .send()
        .await;
    assert!(ok.is_ok());
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_match("\"nope\"")
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_none_match(&etag)
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    let future = DateTime::from_secs(4_000_000_000);
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_modified_since(future)
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    let past = DateTime::from_secs(1_000_000_000);
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_unmodified_since(past)
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    assert_eq!(
        refused(c.head_object().bucket("bkt").key("c2").send().await),
        "NotFound"
    );
    assert_eq!(
        refused(
            c.copy_object()
                .bucket("bkt")
                .key("x")
                .copy_source("bkt/missing")
                .send()
                .await
        ),
        "NoSuchKey"
    );
    assert_eq!(
        refused(
            c.copy_object()
                .bucket("bkt")
                .key("x")
                .copy_source("nobucket/k")
                .send()
                .await
        ),
        "NoSuchBucket"
    );

    // The copy shares blocks; deleting the source leaves the copy whole.
    c.delete_object().bucket("bkt").key("src").send().await.unwrap();
    assert_eq!(get_bytes(&c, "copy2").await, body);
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let (_site, c) = setup().await;
    let src = data(12 << 20, 2);
    c.put_object()
        .bucket("bkt")
        .key("big")
        .body(src.clone().into())
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, range) in [(1, "bytes=0-5242879"), (2, "bytes=6291456-12582911")] {
        let r = c
            .upload_part_copy()
            .bucket("bkt")
            .key("assembled")
            .upload_id(id)
            .part_number(n)
            .copy_source("bkt/big")
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        let etag = r.copy_part_result().unwrap().e_tag().unwrap().to_owned();
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    let bad = c
        .upload_part_copy()
        .bucket("bkt")
        .key("assembled")
        .upload_id(id)
        .part_number(3)
        .copy_source("bkt/big")
        .copy_source_range("bytes=0-99999999")
        .send()
        .await;
    assert_eq!(refused(bad), "InvalidRange");
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let mut want = src[..5 << 20].to_vec();
    want.extend_from_slice(&src[6 << 20..]);
    assert_eq!(get_bytes(&c, "assembled").await, want);
}

#[tokio::test]
async fn delete_objects_in_batches() {
    let (_site, c) = setup().await;
    for i in 0..1000 {
        c.put_object()
            .bucket("bkt")
            .key(format!("k{i:04}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let ids = |range: std::ops::Range<usize>| {
        range
            .map(|i| ObjectIdentifier::builder().key(format!("k{i:04}")).build().unwrap())
            .collect::<Vec<_>>()
    };
    let mut first = ids(0..500);
    first.push(ObjectIdentifier::builder().key("never-existed").build().unwrap());
    first.push(
        ObjectIdentifier::builder()
            .key("k0999")
            .version_id("3HL4kqtJlcpXroDTDmJ")
            .build()
            .unwrap(),
    );
    let r = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(first)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.deleted().len(), 501);
    assert_eq!(r.errors().len(), 1);
    assert_eq!(r.errors()[0].code(), Some("NoSuchVersion"));
    // Quiet mode reports only errors; version "null" is the object itself.
    let mut rest = ids(500..1000);
    rest[0] = ObjectIdentifier::builder()
        .key("k0500")
        .version_id("null")
        .build()
        .unwrap();
    let r = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(rest)).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(r.deleted().is_empty() && r.errors().is_empty());
    assert_eq!(
        c.list_objects_v2().bucket("bkt").send().await.unwrap().key_count(),
        Some(0)
    );
    let too_many = ids(0..1001);
    let e = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(too_many)).build().unwrap())
        .send()
        .await;
    assert_eq!(refused(e), "MalformedXML");
}

#[tokio::test]
async fn conditional_reads_and_writes() {
    let (_site, c) = setup().await;
    let put = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let (past, future) = (DateTime::from_secs(1_000_000_000), DateTime::from_secs(4_000_000_000));

    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .is_ok());
    assert_eq!(
        refused(c.get_object().bucket("bkt").key("k").if_match("\"other\"").send().await),
        "PreconditionFailed"
    );
    assert_eq!(
        status(c.get_object().bucket("bkt").key("k").if_none_match(&etag).send().await),
        304
    );
    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("\"other\"")
        .send()
        .await
        .is_ok());
    assert_eq!(
        status(
            c.get_object()
                .bucket("bkt")
                .key("k")
                .if_modified_since(future)
                .send()
                .await
        ),
        304
    );
    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_modified_since(past)
        .send()
        .await
        .is_ok());
    assert_eq!(
        refused(
            c.get_object()
                .bucket("bkt")
                .key("k")
                .if_unmodified_since(past)
                .send()
                .await
        ),
        "PreconditionFailed"
    );
    assert_eq!(
        status(
            c.head_object()
                .bucket("bkt")
                .key("k")
                .if_match("\"other\"")
                .send()
                .await
        ),
        412
    );
    assert_eq!(
        status(c.head_object().bucket("bkt").key("k").if_none_match(&etag).send().await),
        304
    );
    // If-Match true beats If-Unmodified-Since false, as S3 documents.
    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_match(&etag)
        .if_unmodified_since(past)
        .send()
        .await
        .is_ok());

    // Conditional writes.
    let e = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    c.put_object()
        .bucket("bkt")
        .key("new")
        .if_none_match("*")
        .body(ByteStream::from_static(b"n"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_match("\"other\"")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    c.put_object()
        .bucket("bkt")
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "k").await, b"v2");
    let e = c
        .put_object()
        .bucket("bkt")
        .key("absent")
        .if_match(&etag)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(refused(e), "NoSuchKey");

    // CompleteMultipartUpload with If-None-Match: * onto an existing key.
    let up = c.create_multipart_upload().bucket("bkt").key("k").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let p = c
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(p.e_tag().unwrap())
                .build(),
        )
        .build();
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .multipart_upload(parts.clone())
        .if_none_match("*")
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    assert_eq!(get_bytes(&c, "k").await, b"v2");
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "k").await, b"p");
}

#[tokio::test]
async fn part_numbers_overrides_and_attributes() {
    let (_site, c) = setup().await;
    let (p1, p2) = (data(5 << 20, 1), data(1234, 2));
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, &p1), (2, &p2)] {
        let r = c
            .upload_part()
            .bucket("bkt")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();

    let part2 = c
        .get_object()
        .bucket("bkt")
        .key("mp")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.parts_count(), Some(2));
    assert_eq!(part2.content_length(), Some(1234));
    assert_eq!(part2.body.collect().await.unwrap().into_bytes().as_ref(), &p2[..]);
    let head1 = c
        .head_object()
        .bucket("bkt")
        .key("mp")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(head1.content_length(), Some(5 << 20));
    assert_eq!(
        status(c.get_object().bucket("bkt").key("mp").part_number(3).send().await),
        416
    );

    let o = c
        .get_object()
        .bucket("bkt")
        .key("mp")
        .response_content_type("text/plain")
        .response_content_disposition("attachment")
        .response_cache_control("no-cache")
        .range("bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (o.content_type(), o.content_disposition(), o.cache_control()),
        (Some("text/plain"), Some("attachment"), Some("no-cache"))
    );
    assert_eq!(
        o.body.collect().await.unwrap().into_bytes().as_ref(),
        &p2[p2.len() - 10..]
    );

    let attrs = c
        .get_object_attributes()
        .bucket("bkt")
        .key("mp")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some((5 << 20) + 1234));
    assert!(attrs.e_tag().unwrap().ends_with("-2"));
    assert_eq!(attrs.object_parts().unwrap().total_parts_count(), Some(2));
    assert!(attrs.last_modified().is_some());
}

#[tokio::test]
async fn object_and_bucket_tagging() {
    let (_site, c) = setup().await;
    c.put_object()
        .bucket("bkt")
        .key("k")
        .tagging("a=1&b=two%20words")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let t = c.get_object_tagging().bucket("bkt").key("k").send().await.unwrap();
    let mut got: Vec<(String, String)> = t
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    got.sort();
    assert_eq!(got, [("a".into(), "1".into()), ("b".into(), "two words".into())]);
    let etag_before = c
        .head_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("c").value("3").build().unwrap())
        .build()
        .unwrap();
    c.put_object_tagging()
        .bucket("bkt")
        .key("k")
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let h = c.get_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(h.tag_count(), Some(1));
    assert_eq!(
        h.e_tag(),
        Some(etag_before.as_str()),
        "tagging must not change the object"
    );
    c.delete_object_tagging().bucket("bkt").key("k").send().await.unwrap();
    assert!(c
        .get_object_tagging()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap()
        .tag_set()
        .is_empty());
    let eleven: Vec<Tag> = (0..11)
        .map(|i| Tag::builder().key(format!("k{i}")).value("v").build().unwrap())
        .collect();
    let e = c
        .put_object_tagging()
        .bucket("bkt")
        .key("k")
        .tagging(Tagging::builder().set_tag_set(Some(eleven)).build().unwrap())
        .send()
        .await;
    assert_eq!(refused(e), "InvalidTag");
    assert_eq!(
        refused(c.get_object_tagging().bucket("bkt").key("missing").send().await),
        "NoSuchKey"
    );

    assert_eq!(
        refused(c.get_bucket_tagging().bucket("bkt").send().await),
        "NoSuchTagSet"
    );
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("team").value("storage").build().unwrap())
        .build()
        .unwrap();
    c.put_bucket_tagging()
        .bucket("bkt")
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let t = c.get_bucket_tagging().bucket("bkt").send().await.unwrap();
    assert_eq!(t.tag_set()[0].value(), "storage");
    c.delete_bucket_tagging().bucket("bkt").send().await.unwrap();
    assert_eq!(
        refused(c.get_bucket_tagging().bucket("bkt").send().await),
        "NoSuchTagSet"
    );
}

#[tokio::test]
async fn acls_versioning_and_versions() {
    let (_site, c) = setup().await;
    c.put_object()
        .bucket("bkt")
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("bkt")
        .key("p")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(refused(e), "AccessControlListNotSupported");
    let acl = c.get_object_acl().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(acl.owner().unwrap().id(), Some("tester"));
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    let acl = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1);
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let e = c
        .put_bucket_acl()
        .bucket("bkt")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicReadWrite)
        .send()
        .await;
    assert_eq!(refused(e), "AccessControlListNotSupported");
    let e = c
        .create_bucket()
        .bucket("public")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(refused(e), "InvalidBucketAclWithObjectOwnership");

    let v = c.get_bucket_versioning().bucket("bkt").send().await.unwrap();
    assert!(v.status().is_none());
    c.put_object()
        .bucket("bkt")
        .key("dir/a")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let versions = c.list_object_versions().bucket("bkt").send().await.unwrap();
    let listed: Vec<(&str, &str, bool)> = versions
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(listed, [("dir/a", "null", true), ("k", "null", true)]);
    let grouped = c
        .list_object_versions()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(grouped.common_prefixes()[0].prefix(), Some("dir/"));
    assert_eq!(
        refused(c.get_object().bucket("bkt").key("k").version_id("abc").send().await),
        "InvalidArgument"
    );
    c.delete_object()
        .bucket("bkt")
        .key("k")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(refused(c.head_object().bucket("bkt").key("k").send().await), "NotFound");
}

#[tokio::test]
async fn cors_configuration_and_preflight() {
    let (site, c) = setup().await;
    assert_eq!(
        refused(c.get_bucket_cors().bucket("bkt").send().await),
        "NoSuchCORSConfiguration"
    );
    let rule = CorsRule::builder()
        .allowed_origins("https://*.example.com")
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()
        .unwrap();
    c.put_bucket_cors()
        .bucket("bkt")
        .cors_configuration(CorsConfiguration::builder().cors_rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_cors().bucket("bkt").send().await.unwrap();
    assert_eq!(got.cors_rules()[0].allowed_methods(), ["GET", "PUT"]);
    c.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let preflight = |origin: &str, method: &str| {
        format!(
            "OPTIONS /bkt/k HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\nAccess-Control-Request-Headers: content-type, x-amz-date\r\nConnection: close\r\n\r\n",
            site.s3
        )
    };
    let r = raw(site.s3, preflight("https://app.example.com", "PUT").as_bytes(), false);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-amz-date")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let r = raw(site.s3, preflight("https://evil.example.org", "PUT").as_bytes(), false);
    assert_eq!((r.status, r.code().as_str()), (403, "AccessForbidden"));
    let r = raw(
        site.s3,
        preflight("https://app.example.com", "DELETE").as_bytes(),
        false,
    );
    assert_eq!(r.status, 403);

    // An actual request from an allowed origin gets the CORS headers too.
    let head = strata_tests::signed_head(
        &site,
        "GET",
        "/bkt/k",
        "",
        &[("origin", "https://app.example.com")],
        strata_tests::EMPTY_SHA256,
        &strata_tests::amz_now(0),
    );
    let r = raw(site.s3, format!("{head}\r\n").as_bytes(), false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));

    c.delete_bucket_cors().bucket("bkt").send().await.unwrap();
    assert_eq!(
        raw(site.s3, preflight("https://app.example.com", "PUT").as_bytes(), false).status,
        403
    );
}
