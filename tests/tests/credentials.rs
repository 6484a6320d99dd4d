//! Per-peer replication credentials: each pair of sites shares its own secret, so one
//! peer's credential is revoked without touching the others, and the refusal is said,
//! with its reason, in both sites' status.

use std::time::Duration;
use strata_tests::{put, Site, SiteOptions};

const AB: &str = "pair-secret-a-b-0123456789";
const AC: &str = "pair-secret-a-c-0123456789";

fn site(name: &str, secrets: &str) -> Site {
    Site::start_with(SiteOptions {
        repl_extra: format!("peer_secrets = {{ {secrets} }}\n"),
        ..SiteOptions::replicating(name)
    })
}

/// `source` streams to `sink`, signing with the secret they share.
fn stream(source: &Site, sink: &Site) {
    let addr = sink.repl.unwrap().to_string();
    source.repl_cmd(&["connect", &addr, "--peer", &sink.name]);
    source.repl_cmd(&["realtime", "enable", &sink.name]);
    source.repl_cmd(&["realtime", "start", &sink.name]);
}

async fn arrives(s: &Site, bucket: &str, key: &str, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if s.client().head_object().bucket(bucket).key(key).send().await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_peer_is_refused_with_its_reason_and_the_others_go_on() {
    let mut a = site("site-a", &format!(r#""site-b" = "{AB}", "site-c" = "{AC}""#));
    let b = site("site-b", &format!(r#""site-a" = "{AB}""#));
    let c = site("site-c", &format!(r#""site-a" = "{AC}""#));
    // Without naming the peer, a site with per-peer secrets cannot say which to use.
    let (ok, _, err) = b.try_repl_cmd(&["connect", &a.repl.unwrap().to_string()]);
    assert!(!ok && err.contains("--peer"), "{err}");
    stream(&b, &a);
    stream(&c, &a);
    for (s, bucket) in [(&b, "from-b"), (&c, "from-c")] {
        s.client().create_bucket().bucket(bucket).send().await.unwrap();
        put(&s.client(), bucket, "before", b"x".to_vec()).await.unwrap();
        assert!(arrives(&a, bucket, "before", 20).await, "{bucket} reached site-a");
    }

    // site-c's credential is revoked at site-a: its secret leaves site-a's config.
    let config = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(&a.config, config.replace(&format!(r#", "site-c" = "{AC}""#), "")).unwrap();
    a.restart();
    put(&b.client(), "from-b", "after", b"y".to_vec()).await.unwrap();
    put(&c.client(), "from-c", "after", b"z".to_vec()).await.unwrap();
    assert!(arrives(&a, "from-b", "after", 20).await, "site-b is unaffected");
    assert!(!arrives(&a, "from-c", "after", 3).await, "site-c's change was taken");

    // Both sides say why.
    let refused = a.repl_status()["refused_credentials"].clone();
    let entry = refused
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["access_key"] == "site-c")
        .unwrap_or_else(|| panic!("site-a's status: {refused}"));
    assert!(
        entry["reason"].as_str().unwrap().contains("no secret for that peer"),
        "{entry}"
    );
    let c_sink = c.peer_status("site-a", "sink");
    let why = c_sink["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("403") && why.contains("credential"), "{c_sink}");
    assert!(a
        .repl_cmd(&["status"])
        .contains("REFUSED: requests signed as \"site-c\""));
}

/// A sink takes from a source only the kinds of change it is configured to accept: a
/// source trusted with objects cannot push user records (and their secret keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_takes_from_a_source_only_the_kinds_it_accepts() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions {
        repl_extra: "accept = { \"site-a\" = [\"buckets\", \"objects\"] }\n".into(),
        ..SiteOptions::replicating("site-b")
    });
    a.replicate_to(&b, None);
    a.create_user("mallory", "AKMALLORY00000000001", "mallory-secret-000000000000001");
    a.client().create_bucket().bucket("data").send().await.unwrap();
    put(&a.client(), "data", "k", b"objects are taken".to_vec())
        .await
        .unwrap();
    assert!(arrives(&b, "data", "k", 20).await, "objects and buckets are taken");
    let e = b
        .client_as("AKMALLORY00000000001", "mallory-secret-000000000000001")
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        strata_tests::code(e),
        "InvalidAccessKeyId",
        "the user record was not taken"
    );
    let source = b.peer_status("site-a", "source");
    assert!(source["refused_changes"].as_u64().unwrap() >= 1, "{source}");
}
