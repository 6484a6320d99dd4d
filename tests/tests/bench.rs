//! `strata bench` reports exactly the operations it performed, as the server counted
//! them, and fails loudly when the endpoint refuses it.

use std::process::Command;
use strata_tests::{strata_bin, Site, ACCESS_KEY, SECRET_KEY};

fn bench(site: &Site, secret: &str, args: &[&str]) -> std::process::Output {
    Command::new(strata_bin())
        .args([
            "bench",
            "--endpoint",
            &site.endpoint(),
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            secret,
            "--json",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn reported_operations_match_the_servers_counts() {
    let site = Site::start();
    for args in [
        &[
            "--op",
            "mixed",
            "--workers",
            "4",
            "--count",
            "200",
            "--size",
            "10KiB",
            "--objects",
            "30",
        ][..],
        &[
            "--op",
            "put",
            "--workers",
            "2",
            "--count",
            "4",
            "--size",
            "12MiB",
            "--part-size",
            "5MiB",
        ][..],
        &[
            "--op",
            "list",
            "--workers",
            "2",
            "--count",
            "10",
            "--objects",
            "120",
            "--max-keys",
            "50",
        ][..],
    ] {
        let before: serde_json::Value = serde_json::from_str(&site.admin_cmd(&["metrics"])).unwrap();
        let out = bench(&site, SECRET_KEY, args);
        assert!(
            out.status.success(),
            "bench {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let after: serde_json::Value = serde_json::from_str(&site.admin_cmd(&["metrics"])).unwrap();

        // Every request the bench says it sent, the server served, and nothing else.
        let sent = report["requests"].as_object().unwrap();
        let served = after["operations"].as_object().unwrap();
        for (op, counts) in served {
            let was = before["operations"][op]["requests"].as_u64().unwrap_or(0);
            let delta = counts["requests"].as_u64().unwrap() - was;
            assert_eq!(
                sent.get(op).and_then(|v| v.as_u64()).unwrap_or(0),
                delta,
                "{op} for {args:?}"
            );
            assert_eq!(
                counts["client_errors"].as_u64(),
                before["operations"][op]["client_errors"].as_u64().or(Some(0)),
                "{op}"
            );
        }
        assert!(
            sent.keys().all(|op| served.contains_key(op)),
            "sent {sent:?}, served {served:?}"
        );

        // The measured operations add up to the count asked for.
        let measured: u64 = report["operations"]
            .as_object()
            .unwrap()
            .values()
            .map(|f| f["count"].as_u64().unwrap())
            .sum();
        let want: u64 = args[args.iter().position(|a| *a == "--count").unwrap() + 1]
            .parse()
            .unwrap();
        assert_eq!(measured, want, "{args:?}");
    }
    // Multipart puts: 4 objects of 3 parts each (5 + 5 + 2 MiB).
    let served: serde_json::Value = serde_json::from_str(&site.admin_cmd(&["metrics"])).unwrap();
    assert_eq!(
        served["operations"]["CompleteMultipartUpload"]["requests"].as_u64(),
        Some(4)
    );
    assert_eq!(served["operations"]["UploadPart"]["requests"].as_u64(), Some(12));
    // The bench cleaned up after itself: every bucket it made is gone.
    let buckets = served["operations"]["CreateBucket"]["requests"].as_u64();
    assert_eq!(served["operations"]["DeleteBucket"]["requests"].as_u64(), buckets);
}

#[test]
fn errors_from_the_endpoint_fail_the_run() {
    let site = Site::start();
    let out = bench(
        &site,
        "not-the-secret-key-00000000000000000000",
        &["--op", "put", "--count", "5"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SignatureDoesNotMatch") && err.contains("403"), "{err}");
    let out = Command::new(strata_bin())
        .args([
            "bench",
            "--endpoint",
            "http://127.0.0.1:1",
            "--access-key",
            "a",
            "--secret-key",
            "b",
            "--count",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}
