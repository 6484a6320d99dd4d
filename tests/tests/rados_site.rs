//! A site of three gateways over one Ceph cluster (scripts/ceph-cluster.sh), driven as
//! a user would through a load balancer: each request to the next gateway. What one
//! gateway acknowledged, every other reads at once; racing conditional writes have one
//! winner; a multipart upload's parts may arrive through any gateway.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use strata_tests::{data, get_bytes, put, Ceph, Site, SiteOptions};

/// Three gateways of one site over `ceph`: the first makes the test user, the others
/// find it in the cluster.
fn three_gateways(ceph: &Ceph) -> Vec<Site> {
    let options = |name: &str| SiteOptions {
        name: name.into(),
        top_extra: ceph.store_section("site"),
        ..SiteOptions::default()
    };
    let first = Site::start_with(options("gw1"));
    let mut gateways = vec![first];
    for name in ["gw2", "gw3"] {
        gateways.push(Site::start_bare(options(name)));
    }
    gateways
}

fn status(r: Result<impl std::fmt::Debug, impl aws_sdk_s3::error::ProvideErrorMetadata>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("no code").to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_over_one_cluster_are_one_site() {
    let ceph = Ceph::start();
    let gateways = three_gateways(&ceph);
    let c: Vec<Client> = gateways.iter().map(Site::client).collect();
    // The site's identity is the cluster's: every gateway reports the same id.
    let ids: Vec<String> = gateways.iter().map(|g| g.site_status()["site_id"].to_string()).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id != "null"), "site ids: {ids:?}");

    c[0].create_bucket().bucket("bkt").send().await.unwrap();
    assert_eq!(
        status(c[1].create_bucket().bucket("bkt").send().await),
        "BucketAlreadyOwnedByYou",
        "a bucket made through one gateway exists on the next"
    );

    // An object written through each gateway reads back through the others, bytes and
    // listing alike.
    for (i, writer) in c.iter().enumerate() {
        let body = data(200_000 + i * 1000, i as u64);
        put(writer, "bkt", &format!("k{i}"), body.clone()).await.unwrap();
        for reader in &c {
            assert!(get_bytes(reader, "bkt", &format!("k{i}")).await == body, "k{i} read back whole");
        }
    }
    for reader in &c {
        let listed = reader.list_objects_v2().bucket("bkt").send().await.unwrap();
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["k0", "k1", "k2"]);
    }

    // A multipart upload whose parts arrive through different gateways.
    let up = c[0].create_multipart_upload().bucket("bkt").key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let parts: Vec<Vec<u8>> = (0..3).map(|i| data(if i < 2 { 5 << 20 } else { 1000 }, 50 + i)).collect();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let number = i as i32 + 1;
        let r = c[i % 3]
            .upload_part()
            .bucket("bkt")
            .key("mp")
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(number).e_tag(r.e_tag().unwrap()).build());
    }
    let listed = c[2].list_parts().bucket("bkt").key("mp").upload_id(id).send().await.unwrap();
    assert_eq!(listed.parts().len(), 3, "every gateway sees every part");
    c[1].complete_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    assert!(get_bytes(&c[2], "bkt", "mp").await == parts.concat());

    // A delete through one gateway is seen by the others at once.
    c[2].delete_object().bucket("bkt").key("k0").send().await.unwrap();
    assert_eq!(status(c[0].get_object().bucket("bkt").key("k0").send().await), "NoSuchKey");

    // A user made through one gateway signs requests on another.
    gateways[1].create_user("second", "STRATASECONDUSER0001", "second-user-secret-0000000000000000001");
    let second = gateways[2].client_as("STRATASECONDUSER0001", "second-user-secret-0000000000000000001");
    second.create_bucket().bucket("second-b").send().await.unwrap();

    // A bucket that still holds objects cannot be deleted through any gateway; emptied
    // through others, it can.
    assert_eq!(status(c[0].delete_bucket().bucket("bkt").send().await), "BucketNotEmpty");
    for (i, k) in ["k1", "k2", "mp"].iter().enumerate() {
        c[i].delete_object().bucket("bkt").key(*k).send().await.unwrap();
    }
    c[1].delete_bucket().bucket("bkt").send().await.unwrap();
    assert_eq!(status(c[2].head_bucket().bucket("bkt").send().await), "NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_after_writes_across_gateways_and_one_winner_per_race() {
    let ceph = Ceph::start();
    let gateways = three_gateways(&ceph);
    let c: Vec<Client> = gateways.iter().map(Site::client).collect();
    c[0].create_bucket().bucket("bkt").send().await.unwrap();

    // A writer on one gateway; after each acknowledged write, readers on the other two
    // must see it (never the value before), in the object and in the listing.
    let mut readers = tokio::task::JoinSet::new();
    for round in 0..40u64 {
        let body = data(100 + round as usize, round);
        put(&c[0], "bkt", "counter", body.clone()).await.unwrap();
        for reader in [c[1].clone(), c[2].clone()] {
            let body = body.clone();
            readers.spawn(async move {
                assert!(get_bytes(&reader, "bkt", "counter").await == body, "round {round}: a stale read");
                let listed = reader.list_objects_v2().bucket("bkt").send().await.unwrap();
                assert_eq!(listed.contents()[0].size(), Some(body.len() as i64), "round {round}: a stale listing");
            });
        }
        while let Some(r) = readers.join_next().await {
            r.unwrap();
        }
    }

    // If-None-Match: * on one key through all three gateways at once: one creates it,
    // the others are refused, round after round.
    for round in 0..10 {
        let key = format!("race-{round}");
        let mut racers = tokio::task::JoinSet::new();
        for (i, client) in c.iter().enumerate() {
            let (client, key) = (client.clone(), key.clone());
            racers.spawn(async move {
                let r = client
                    .put_object()
                    .bucket("bkt")
                    .key(&key)
                    .if_none_match("*")
                    .body(ByteStream::from(data(1000, i as u64)))
                    .send()
                    .await;
                (i, status(r))
            });
        }
        let mut outcomes = Vec::new();
        while let Some(r) = racers.join_next().await {
            outcomes.push(r.unwrap());
        }
        let winners: Vec<usize> = outcomes.iter().filter(|(_, s)| s == "ok").map(|(i, _)| *i).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.iter().all(|(_, s)| s == "ok" || s == "PreconditionFailed"),
            "round {round}: {outcomes:?}"
        );
        // Every gateway reads the winner's bytes.
        for reader in &c {
            assert!(get_bytes(reader, "bkt", &key).await == data(1000, winners[0] as u64));
        }
    }
}
