//! Scrub: every referenced block read back and checked; a block deleted or damaged on
//! a site's disk by hand is found and replaced with a peer's good copy, and a block no
//! peer has is named with the objects that use it.

use strata_tests::{assert_converges, data, get_bytes, pair, put, sha256_hex, Site};

const BLOCK: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_finds_a_deleted_and_a_damaged_block_and_repairs_them_from_the_source() {
    let (a, b) = pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("scrubbed").send().await.unwrap();
    let (one, two) = (data(200_000, 1), data(200_000, 2));
    put(&ca, "scrubbed", "one", one.clone()).await.unwrap();
    put(&ca, "scrubbed", "two", two.clone()).await.unwrap();
    assert_converges(&ca, &cb, "scrubbed", 30).await;

    // By hand, on the sink's disk: a block of "one" deleted, one of "two" damaged.
    b.lose_block(&one[BLOCK..2 * BLOCK]);
    b.damage_block(&two[..BLOCK], 100);
    let (code, out) = a.verify("site-b", &["--blocks"]);
    assert_eq!(code, 1, "verify --blocks sees the deleted block: {out}");
    assert!(out.contains("missing-blocks  object/scrubbed/one"), "{out}");

    let (code, out) = b.scrub();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 bad (1 missing, 1 corrupt), 2 repaired from a peer, 0 unrepairable"),
        "{out}"
    );
    let status: serde_json::Value = serde_json::from_str(&b.admin_cmd(&["status", "--json"])).unwrap();
    assert_eq!(status["scrub"]["last"]["repaired"], 2, "{status}");

    assert!(
        b.stored_block(&two[..BLOCK]).as_deref() == Some(&two[..BLOCK]),
        "the damaged block replaced"
    );
    assert!(
        b.stored_block(&one[BLOCK..2 * BLOCK]).is_some(),
        "the deleted block is back"
    );
    assert_eq!(get_bytes(&cb, "scrubbed", "one").await, one);
    assert_eq!(get_bytes(&cb, "scrubbed", "two").await, two);
    let (code, out) = a.verify("site-b", &["--blocks"]);
    assert_eq!(code, 0, "{out}");
    // A second scrub finds nothing.
    let (code, out) = b.scrub();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 bad "), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_block_no_peer_has_is_named_with_its_objects() {
    let (site, c) = Site::start_with_bucket("alone").await;
    let body = data(150_000, 9);
    put(&c, "alone", "precious", body.clone()).await.unwrap();
    site.damage_block(&body[BLOCK..2 * BLOCK], 0);
    let (code, out) = site.scrub();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 unrepairable"), "{out}");
    assert!(
        out.contains("alone/precious") && out.contains(&sha256_hex(&body[BLOCK..2 * BLOCK])),
        "{out}"
    );
}
