//! Object and bucket tagging.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};
use strata_tests::{refused, Site};

#[tokio::test]
async fn object_and_bucket_tagging() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
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
