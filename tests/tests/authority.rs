//! One namespace authority per replication group: bucket and user creation and deletion
//! made at any site are decided by one site, so a bucket name is never given to two
//! users; when the authority cannot be reached they are refused (503), never
//! acknowledged and then taken away; the authority moves by command, and an old
//! authority that comes back follows the new one.

use std::time::Duration;
use strata_tests::{code, put, wait_for, wait_until, Proxy, Site, SiteOptions};

const BOB: (&str, &str) = ("AKBOBAUTHORITY000001", "bob-authority-secret-000000000001");

fn site(name: &str) -> Site {
    Site::start_with(SiteOptions::replicating(name))
}

fn authority_of(s: &Site) -> String {
    s.repl_cmd(&["authority"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_names_are_decided_by_the_authority_and_a_cut_refuses_rather_than_takes_back() {
    let (a, b) = (site("site-a"), site("site-b"));
    // b reaches a through a proxy this test cuts.
    let proxy = Proxy::start(a.repl.unwrap());
    a.replicate_to(&b, None);
    b.replicate_to(&a, Some(proxy.addr));
    for s in [&a, &b] {
        s.repl_cmd(&["authority", "site-a"]);
        assert!(authority_of(s).contains("site-a"), "{}", authority_of(s));
    }
    a.create_user("bob", BOB.0, BOB.1);
    let (bob_a, tester_b) = (a.client_as(BOB.0, BOB.1), b.client());
    let (bob_b, a_) = (&b.client_as(BOB.0, BOB.1), &a.client());
    wait_until(10, "bob on site-b", || async move {
        bob_b.list_buckets().send().await.is_ok()
    })
    .await;

    // The link is cut: site-b cannot ask, so it refuses, and says why.
    proxy.cut();
    let e = tester_b.create_bucket().bucket("shared").send().await.unwrap_err();
    assert_eq!(code(e), "ServiceUnavailable");
    // The authority's own users go on.
    bob_a.create_bucket().bucket("shared").send().await.unwrap();
    put(&bob_a, "shared", "bobs", b"acknowledged to bob".to_vec())
        .await
        .unwrap();

    // Healed: site-b gets bob's bucket, and its own user is told the name is taken.
    proxy.restore();
    wait_until(20, "bob's object on site-b", || async move {
        bob_b.head_object().bucket("shared").key("bobs").send().await.is_ok()
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = tester_b.create_bucket().bucket("shared").send().await;
        match r.map_err(code) {
            Err(c) if c == "BucketAlreadyExists" => break,
            Err(c) if c == "ServiceUnavailable" && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            other => panic!("the second create of a taken name answered {other:?}"),
        }
    }
    // Both sites agree on the owner, and bob's object is still bob's.
    for s in [&a, &b] {
        let bob = s.client_as(BOB.0, BOB.1);
        let got = bob.get_object().bucket("shared").key("bobs").send().await;
        let body = got.unwrap().body.collect().await.unwrap().into_bytes();
        assert_eq!(&body[..], b"acknowledged to bob", "on {}", s.name);
        let e = s.client().list_objects_v2().bucket("shared").send().await.unwrap_err();
        assert_eq!(code(e), "AccessDenied", "the other user does not own it on {}", s.name);
    }

    // A create at site-b is decided by site-a and usable at site-b at once.
    tester_b.create_bucket().bucket("made-at-b").send().await.unwrap();
    put(&tester_b, "made-at-b", "k", b"at once".to_vec()).await.unwrap();
    wait_until(10, "made-at-b on site-a", || async move {
        a_.head_bucket().bucket("made-at-b").send().await.is_ok()
    })
    .await;
    // A delete at site-b goes through the authority too.
    tester_b
        .delete_object()
        .bucket("made-at-b")
        .key("k")
        .send()
        .await
        .unwrap();
    tester_b.delete_bucket().bucket("made-at-b").send().await.unwrap();
    wait_until(10, "the delete on site-a", || async move {
        a_.head_bucket().bucket("made-at-b").send().await.is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authority_fails_over_and_the_old_authority_follows_when_back() {
    let (mut a, b) = (site("site-a"), site("site-b"));
    a.replicate_to(&b, None);
    b.replicate_to(&a, None);
    for s in [&a, &b] {
        s.repl_cmd(&["authority", "site-a"]);
    }
    a.kill9();
    let e = b
        .client()
        .create_bucket()
        .bucket("while-a-is-down")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ServiceUnavailable");
    // The documented procedure: make a remaining site the authority.
    let out = b.repl_cmd(&["authority", "site-b"]);
    assert!(out.contains("site-b") && out.contains("epoch 2"), "{out}");
    b.client()
        .create_bucket()
        .bucket("while-a-is-down")
        .send()
        .await
        .unwrap();

    // The old authority comes back and learns the new one at its first hello.
    a.launch();
    wait_for(20, "site-a follows site-b", || authority_of(&a).contains("site-b"));
    a.client()
        .create_bucket()
        .bucket("made-at-a-after")
        .send()
        .await
        .unwrap();
    // The authority (site-b) made it: it is there at once.
    b.client().head_bucket().bucket("made-at-a-after").send().await.unwrap();
    let e = a
        .client()
        .create_bucket()
        .bucket("while-a-is-down")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "BucketAlreadyOwnedByYou");
}
