//! One identity across sites: a user is one record, so a key that was deleted, replaced
//! or rotated stops working on every site, however the change arrives.

use std::time::Duration;
use strata_tests::{wait_until, Site, SiteOptions};

fn site(name: &str) -> Site {
    Site::start_with(SiteOptions::replicating(name))
}

/// Whether `site` takes requests signed with this key (ListBuckets), or the S3 error
/// code it refuses them with.
async fn answer(site: &Site, access_key: &str, secret_key: &str) -> Result<(), String> {
    match site.client_as(access_key, secret_key).list_buckets().send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(strata_tests::code(e)),
    }
}

/// Waits until `site` takes requests signed with this key.
async fn works_on(site: &Site, (access_key, secret_key): (&str, &str), secs: u64, what: &str) {
    wait_until(secs, what, || async move {
        answer(site, access_key, secret_key).await.is_ok()
    })
    .await;
}

/// `strata admin user key rotate NAME ARGS` on `site`: the new access key and secret.
fn rotate(site: &Site, name: &str, args: &[&str]) -> (String, String) {
    let out = site.admin_cmd(&[&["user", "key", "rotate", name][..], args].concat());
    let field = |field: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(field))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("rotate printed {out}"))
    };
    (field("access_key:"), field("secret_key:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_made_again_with_a_new_key_loses_the_old_key_everywhere_by_fullsync_alone() {
    let (a, b) = (site("site-a"), site("site-b"));
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.create_user("alice", "AKALICEOLD0000000001", "alice-old-secret-000000000001");
    a.fullsync_to("site-b", "enable");
    assert_eq!(
        answer(&b, "AKALICEOLD0000000001", "alice-old-secret-000000000001").await,
        Ok(())
    );

    // The key leaks; alice is deleted and made again with a new key. No realtime: only
    // fullsync carries it.
    a.admin_cmd(&["user", "delete", "alice"]);
    a.create_user("alice", "AKALICENEW0000000001", "alice-new-secret-000000000001");
    a.fullsync_to("site-b", "start");
    for s in [&a, &b] {
        assert_eq!(
            answer(s, "AKALICEOLD0000000001", "alice-old-secret-000000000001").await,
            Err("InvalidAccessKeyId".into()),
            "the old key on {}",
            s.name
        );
        assert_eq!(
            answer(s, "AKALICENEW0000000001", "alice-new-secret-000000000001").await,
            Ok(())
        );
    }
    assert_eq!(a.verify("site-b", &[]).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_refused_on_every_site() {
    let (a, b) = (site("site-a"), site("site-b"));
    a.replicate_to(&b, None);
    a.create_user("bob", "AKBOBFIRST0000000001", "bob-first-secret-000000000001");
    let first = ("AKBOBFIRST0000000001", "bob-first-secret-000000000001");
    works_on(&b, first, 10, "bob on site-b").await;
    let (ak, sk) = rotate(&a, "bob", &[]);
    assert_ne!(ak, first.0);
    works_on(&b, (&ak, &sk), 10, "the new key on site-b").await;
    for s in [&a, &b] {
        assert_eq!(
            answer(s, "AKBOBFIRST0000000001", "bob-first-secret-000000000001").await,
            Err("InvalidAccessKeyId".into()),
            "the rotated key on {}",
            s.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_with_a_grace_period_works_until_it_ends_on_every_site() {
    let (a, b) = (site("site-a"), site("site-b"));
    a.replicate_to(&b, None);
    let old = ("AKCAROLFIRST00000001", "carol-first-secret-0000000000001");
    a.create_user("carol", old.0, old.1);
    works_on(&b, old, 10, "carol on site-b").await;
    // A grace long enough for the checks below on a slow machine.
    const GRACE: Duration = Duration::from_secs(8);
    let (ak, sk) = rotate(&a, "carol", &["--grace", "8"]);
    let rotated = std::time::Instant::now();
    works_on(&b, (&ak, &sk), 4, "the new key on site-b").await;
    // Within the grace both keys work, on both sites.
    for s in [&a, &b] {
        assert_eq!(
            answer(s, old.0, old.1).await,
            Ok(()),
            "the old key during its grace on {}",
            s.name
        );
        assert_eq!(answer(s, &ak, &sk).await, Ok(()));
    }
    assert!(rotated.elapsed() < GRACE, "the checks above took the whole grace");
    tokio::time::sleep(GRACE.saturating_sub(rotated.elapsed()) + Duration::from_millis(500)).await;
    for s in [&a, &b] {
        assert_eq!(
            answer(s, old.0, old.1).await,
            Err("InvalidAccessKeyId".into()),
            "the old key after its grace on {}",
            s.name
        );
        assert_eq!(answer(s, &ak, &sk).await, Ok(()));
    }
}
