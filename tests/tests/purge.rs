//! Deletes are kept (as graves) until every sink has carried them and the retention has
//! passed, then purged; a sink kept away longer than the retention gets its deletes when
//! it returns and brings no deleted key back.

use std::time::Duration;
use strata_tests::{listing, put, wait_for, wait_until, Site, SiteOptions};

/// Retention in these tests, seconds.
const RETENTION: u64 = 2;

fn site(name: &str) -> Site {
    Site::start_with(SiteOptions {
        top_extra: format!("tombstone_retention = {RETENTION}\n"),
        ..SiteOptions::replicating(name)
    })
}

fn graves(s: &Site) -> u64 {
    s.site_status()["purge"]["graves"].as_u64().unwrap()
}

async fn keys(s: &Site, bucket: &str) -> Vec<String> {
    let l = listing(&s.client(), bucket).await.unwrap_or_default();
    l.into_iter().map(|(k, _, _)| k).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_away_past_the_retention_brings_no_deleted_key_back() {
    let (a, mut b) = (site("site-a"), site("site-b"));
    a.replicate_to(&b, None);
    b.replicate_to(&a, None);
    a.client().create_bucket().bucket("photos").send().await.unwrap();
    for k in ["k1", "k2", "k3"] {
        put(&a.client(), "photos", k, k.as_bytes().to_vec()).await.unwrap();
    }
    strata_tests::assert_converges(&a.client(), &b.client(), "photos", 20).await;
    assert_eq!(keys(&b, "photos").await, ["k1", "k2", "k3"]);

    // b goes away; two keys are deleted on a, and the retention passes several times.
    b.kill9();
    for k in ["k1", "k2"] {
        a.client().delete_object().bucket("photos").key(k).send().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(4 * RETENTION)).await;
    let status = a.site_status();
    assert_eq!(status["purge"]["graves"], 2, "held for the sink that is away: {status}");
    assert_eq!(status["purge"]["held_by"], "site-b", "{status}");
    let sink = a.peer_status("site-b", "sink");
    assert!(sink["not_carried"].as_u64().unwrap() >= 2, "{sink}");

    // b returns still holding k1 and k2, and replicates to a: it gets the deletes, and
    // its copies of the deleted keys never come back to a.
    b.launch();
    let b_ = &b;
    wait_until(20, "the deletes reach site-b", || async move {
        keys(b_, "photos").await == ["k3"]
    })
    .await;
    wait_for(20, "both sites purge the graves", || graves(&a) == 0 && graves(&b) == 0);
    assert!(a.site_status()["purge"]["purged_total"].as_u64().unwrap() >= 2);
    // Fullsync both ways compares everything: nothing deleted is sent back.
    for (from, to) in [(&a, &b), (&b, &a)] {
        from.fullsync_to(&to.name, "enable");
        assert_eq!(from.verify(&to.name, &[]).0, 0, "{} and {} agree", from.name, to.name);
    }
    assert_eq!(keys(&a, "photos").await, ["k3"]);
    assert_eq!(keys(&b, "photos").await, ["k3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_site_purges_its_deletes_after_the_retention() {
    let s = site("alone");
    let c = s.client();
    c.create_bucket().bucket("bin").send().await.unwrap();
    for i in 0..20 {
        put(&c, "bin", &format!("k{i}"), vec![1]).await.unwrap();
        c.delete_object()
            .bucket("bin")
            .key(format!("k{i}"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(graves(&s), 20);
    wait_for(10, "the graves are purged", || graves(&s) == 0);
    // The bucket is empty and deletes as one that never held anything.
    c.delete_bucket().bucket("bin").send().await.unwrap();
}

/// The same with the realtime backlog overflowing while the sink is away: the deletes
/// become dirty keys for it (sent again when it returns), and their graves stay until
/// they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_that_overflowed_the_backlog_keep_their_graves_until_sent() {
    let a = Site::start_with(SiteOptions {
        top_extra: format!("tombstone_retention = {RETENTION}\n"),
        realtime_max_bytes: 4096,
        ..SiteOptions::replicating("site-a")
    });
    let mut b = site("site-b");
    a.replicate_to(&b, None);
    b.replicate_to(&a, None);
    a.client().create_bucket().bucket("photos").send().await.unwrap();
    put(&a.client(), "photos", "gone", b"deleted while b is away".to_vec())
        .await
        .unwrap();
    strata_tests::assert_converges(&a.client(), &b.client(), "photos", 20).await;

    b.kill9();
    a.client()
        .delete_object()
        .bucket("photos")
        .key("gone")
        .send()
        .await
        .unwrap();
    // Enough later writes to push the delete out of the bounded backlog.
    for i in 0..40 {
        put(&a.client(), "photos", &format!("later-{i:02}"), vec![7; 300])
            .await
            .unwrap();
    }
    wait_for(20, "the backlog overflows into dirty keys", || {
        a.peer_status("site-b", "sink")["dirty_keys"].as_u64().unwrap() > 0
    });
    tokio::time::sleep(Duration::from_secs(3 * RETENTION)).await;
    assert_eq!(graves(&a), 1, "the delete waits for the sink it is dirty for");

    b.launch();
    strata_tests::assert_converges(&a.client(), &b.client(), "photos", 30).await;
    wait_for(20, "both sites purge the grave", || graves(&a) == 0 && graves(&b) == 0);
    for (from, to) in [(&a, &b), (&b, &a)] {
        from.fullsync_to(&to.name, "enable");
    }
    for s in [&a, &b] {
        let k = keys(s, "photos").await;
        assert!(
            !k.contains(&"gone".to_owned()),
            "{} brought the deleted key back",
            s.name
        );
        assert_eq!(k.len(), 40);
    }
}
