//! TLS on the S3 and replication ports with real sites on loopback: aws-sdk-s3 over TLS
//! trusting a test CA, replication over mutual TLS, certificates replaced without a
//! restart, and every refusal (plain HTTP on a TLS port, an untrusted, expired or
//! wrong-name certificate, a client without a certificate) logged with its reason on
//! both sides, shown in status, and changing nothing.

use std::path::Path;
use strata_tests::certs::Ca;
use strata_tests::{
    assert_converges, data, get_bytes, put, tls_client_for, wait_for, Site, SiteOptions, ACCESS_KEY, SECRET_KEY,
};

/// A replicating site whose S3 and replication ports speak TLS with `cert`; links to
/// peers trust `ca`; `mutual`: peers must present a certificate, and this site does.
fn tls_site(name: &str, cert: &(std::path::PathBuf, std::path::PathBuf), ca: &Path, mutual: bool) -> Site {
    let (c, k) = (cert.0.display(), cert.1.display());
    Site::start_with(SiteOptions {
        s3_extra: format!("tls_cert = \"{c}\"\ntls_key = \"{k}\"\n"),
        repl_extra: format!(
            "tls_cert = \"{c}\"\ntls_key = \"{k}\"\ntls_ca = \"{}\"\ntls_client_auth = {mutual}\n",
            ca.display()
        ),
        ..SiteOptions::replicating(name)
    })
}

/// Whether a new client's ListBuckets comes to succeed (`ok`) or to fail within 10 s:
/// a certificate file replaced is served after the site notices it.
async fn lists_within_10s(client: &impl Fn() -> aws_sdk_s3::Client, ok: bool) -> bool {
    for _ in 0..50 {
        if client().list_buckets().send().await.is_ok() == ok {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

fn site_status(site: &Site) -> serde_json::Value {
    serde_json::from_str(&site.admin_cmd(&["status", "--json"])).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_replication_over_tls_with_certificates_replaced_live() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let ca_path = ca.write(&dir.path().join("ca.pem"));
    let a_cert = ca.issue(dir.path(), "a", "127.0.0.1", false);
    let b_cert = ca.issue(dir.path(), "b", "127.0.0.1", false);
    let a = tls_site("site-a", &a_cert, &ca_path, true);
    let b = tls_site("site-b", &b_cert, &ca_path, true);
    a.replicate_to(&b, None);
    let client = |s: &Site| tls_client_for(&format!("https://{}", s.s3), &ca.pem, ACCESS_KEY, SECRET_KEY);
    let (ca_client, cb_client) = (client(&a), client(&b));
    ca_client.create_bucket().bucket("secure").send().await.unwrap();
    for i in 0..20 {
        put(&ca_client, "secure", &format!("k/{i:02}"), data(70_000 + i, i as u64))
            .await
            .unwrap();
    }
    assert_eq!(assert_converges(&ca_client, &cb_client, "secure", 60).await, 20);
    assert_eq!(a.peer_status("site-b", "sink")["state"], "synced");
    // A policy that denies anything not sent over TLS: over TLS the owner still reads.
    ca_client
        .put_bucket_policy()
        .bucket("secure")
        .policy(r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::secure/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&ca_client, "secure", "k/01").await, data(70_001, 1));

    // Plain HTTP on the TLS port is refused, logged with the reason, and counted.
    let plain = a.client();
    assert!(plain.list_buckets().send().await.is_err());
    wait_for(10, "the refusal counted", || {
        site_status(&a)["tls_refused"].as_u64().unwrap_or(0) >= 1
    });
    let why = site_status(&a)["tls_last_refusal"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(why.contains("S3 port") && why.contains("plain HTTP"), "{why}");
    assert!(a.log().contains("TLS handshake refused"), "{}", a.log());

    // The S3 certificate replaced by one from another CA: taken without a restart, so
    // a client trusting only the first CA now refuses the site; put back, it works.
    let other = Ca::new("other CA");
    let saved = (std::fs::read(&a_cert.0).unwrap(), std::fs::read(&a_cert.1).unwrap());
    let stranger = other.issue(dir.path(), "stranger", "127.0.0.1", false);
    std::fs::copy(&stranger.0, &a_cert.0).unwrap();
    std::fs::copy(&stranger.1, &a_cert.1).unwrap();
    let fresh = || client(&a);
    assert!(
        lists_within_10s(&fresh, false).await,
        "the new certificate was never served"
    );
    std::fs::write(&a_cert.0, &saved.0).unwrap();
    std::fs::write(&a_cert.1, &saved.1).unwrap();
    assert!(
        lists_within_10s(&fresh, true).await,
        "the first certificate was never served again"
    );
    assert_eq!(get_bytes(&fresh(), "secure", "k/05").await, data(70_005, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_expired_wrong_name_and_certificateless_peers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let ca_path = ca.write(&dir.path().join("ca.pem"));
    let a = tls_site("site-a", &ca.issue(dir.path(), "a", "127.0.0.1", false), &ca_path, true);
    let untrusted = tls_site(
        "untrusted",
        &Ca::new("other CA").issue(dir.path(), "u", "127.0.0.1", false),
        &ca_path,
        false,
    );
    let expired = tls_site(
        "expired",
        &ca.issue(dir.path(), "e", "127.0.0.1", true),
        &ca_path,
        false,
    );
    let misnamed = tls_site(
        "misnamed",
        &ca.issue(dir.path(), "m", "elsewhere.example", false),
        &ca_path,
        false,
    );
    for (sink, reason) in [
        (&untrusted, "issuer"),
        (&expired, "expired"),
        (&misnamed, "not valid for"),
    ] {
        let addr = sink.repl.unwrap().to_string();
        let (ok, _, err) = a.try_repl_cmd(&["connect", &addr]);
        assert!(!ok, "{} was accepted", sink.name);
        assert!(
            err.contains("TLS") && err.to_lowercase().contains(reason),
            "{}: {err}",
            sink.name
        );
        // The other side saw the handshake fail too, and nothing changed there.
        wait_for(10, "the sink's refusal", || {
            site_status(sink)["tls_refused"].as_u64().unwrap_or(0) >= 1
        });
        assert!(sink.repl_status()["peers"].as_array().unwrap().is_empty());
    }
    assert!(a.repl_status()["peers"].as_array().unwrap().is_empty());

    // A site that requires client certificates refuses a peer that has none.
    let lone_cert = ca.issue(dir.path(), "n", "127.0.0.1", false);
    let no_cert = tls_site("no-cert", &lone_cert, &ca_path, false);
    let (ok, _, err) = no_cert.try_repl_cmd(&["connect", &a.repl.unwrap().to_string()]);
    assert!(!ok, "a peer without a client certificate was accepted");
    assert!(err.contains("TLS") || err.contains("link"), "{err}");
    wait_for(10, "the refusal on the mutual-TLS site", || {
        site_status(&a)["tls_last_refusal"]
            .as_str()
            .is_some_and(|w| w.contains("replication port"))
    });
    assert!(a.repl_status()["peers"].as_array().unwrap().is_empty());
}

/// `strata dev --tls`: both sites speak TLS with a CA made for the dev directory; the
/// banner's aws-cli commands carry `--ca-bundle`, and replication (mutual TLS) works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_dev_tls_serves_https_with_its_own_ca() {
    let base = strata_tests::reserve_ports(&[0, 1, 2, 10, 11, 12]);
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ak, sk, _) = strata_tests::start_dev(dir.path(), &["--tls", "--port", &base.to_string()]);
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    let a = tls_client_for(&format!("https://127.0.0.1:{base}"), &ca, &ak, &sk);
    let b = tls_client_for(&format!("https://127.0.0.1:{}", base + 10), &ca, &ak, &sk);
    a.create_bucket().bucket("demo").send().await.unwrap();
    put(&a, "demo", "hello", b"over TLS".to_vec()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while b.head_object().bucket("demo").key("hello").send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "site-b never got the object");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(get_bytes(&b, "demo", "hello").await, b"over TLS");
    let _ = child.kill();
    let _ = child.wait();
}
