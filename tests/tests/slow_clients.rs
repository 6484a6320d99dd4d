//! No client can stall the site: a thousand uploads that trickle their bodies hold no
//! thread, so other requests are answered as fast as on an idle site; one user's
//! uploads at once are bounded (503 SlowDown past it), and a body that stops sending is
//! cut (400 RequestTimeout).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_tests::{amz_now, get_bytes, put, signed_head_as, Site, SiteOptions, ACCESS_KEY, SECRET_KEY};

const OTHER: (&str, &str) = ("AKSLOWOTHER000000001", "slow-other-secret-00000000000000001");
/// The default `max_uploads_per_key`.
const PER_KEY: usize = 512;

/// Starts an upload that declares 1 MiB and sends one byte of it.
fn start_upload(site: &Site, keys: (&str, &str), path: &str) -> TcpStream {
    let (head, _, _) = signed_head_as(
        site,
        keys,
        "PUT",
        path,
        "",
        &[("content-length", "1048576")],
        "UNSIGNED-PAYLOAD",
        &amz_now(0),
    );
    let mut s = TcpStream::connect(site.s3).unwrap();
    s.write_all(format!("{head}\r\nx").as_bytes()).unwrap();
    s
}

/// The status line of the answer to an upload, once it comes (or None within `wait`).
fn answer(s: &mut TcpStream, wait: Duration) -> Option<String> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 4096];
    match s.read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() * 99 / 100]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_uploads_do_not_stall_the_site() {
    let site = Site::start_with(SiteOptions::default());
    site.create_user("other", OTHER.0, OTHER.1);
    let (c, other) = (site.client(), site.client_as(OTHER.0, OTHER.1));
    c.create_bucket().bucket("mine").send().await.unwrap();
    other.create_bucket().bucket("theirs").send().await.unwrap();
    put(&c, "mine", "probe", vec![7; 4096]).await.unwrap();

    // A thousand uploads, five hundred per user, each sending a byte every half second.
    let mut slow = Vec::new();
    for i in 0..1000 {
        slow.push(match i % 2 {
            0 => start_upload(&site, (ACCESS_KEY, SECRET_KEY), &format!("/mine/slow-{i}")),
            _ => start_upload(&site, OTHER, &format!("/theirs/slow-{i}")),
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        let mut socks: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for s in &mut socks {
                    let _ = s.write_all(b"x");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Meanwhile GETs and PUTs are answered as on an idle site.
    let (mut gets, mut puts) = (Vec::new(), Vec::new());
    let stalled = |what: &str| format!("a {what} waited 5 s behind the slow uploads");
    for i in 0..100 {
        let t = Instant::now();
        let got = tokio::time::timeout(Duration::from_secs(5), get_bytes(&c, "mine", "probe")).await;
        assert_eq!(got.unwrap_or_else(|_| panic!("{}", stalled("GET"))).len(), 4096);
        gets.push(t.elapsed());
        let t = Instant::now();
        let key = format!("fast-{i}");
        let put = tokio::time::timeout(Duration::from_secs(5), put(&c, "mine", &key, vec![1; 4096]));
        put.await.unwrap_or_else(|_| panic!("{}", stalled("PUT"))).unwrap();
        puts.push(t.elapsed());
    }
    let (g, p) = (p99(gets), p99(puts));
    println!("with 1000 slow uploads open: GET p99 {g:?}, PUT p99 {p:?}");
    assert!(g < Duration::from_millis(100), "GET p99 {g:?}");
    assert!(p < Duration::from_millis(100), "PUT p99 {p:?}");

    // One user's uploads at once are bounded: 500 open, 12 more fit, the next is refused.
    let mut more: Vec<TcpStream> = (0..PER_KEY - 500)
        .map(|i| start_upload(&site, (ACCESS_KEY, SECRET_KEY), &format!("/mine/more-{i}")))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = start_upload(&site, (ACCESS_KEY, SECRET_KEY), "/mine/one-too-many");
    let a = answer(&mut refused, Duration::from_secs(5)).expect("an answer");
    assert!(
        a.starts_with("HTTP/1.1 503") && a.contains("<Code>SlowDown</Code>"),
        "{a}"
    );
    // The other user is not affected by it.
    put(&other, "theirs", "still-fine", vec![2; 10]).await.unwrap();
    for s in &mut more {
        assert_eq!(answer(s, Duration::from_millis(1)), None, "still open");
    }

    stop.store(true, Ordering::SeqCst);
    trickle.join().unwrap();
    drop((slow, more));
    // Their places are given back once they go.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = start_upload(&site, (ACCESS_KEY, SECRET_KEY), "/mine/after");
        match answer(&mut s, Duration::from_millis(300)) {
            None => break,
            Some(a) if a.contains("SlowDown") && Instant::now() < deadline => continue,
            Some(a) => panic!("{a}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_sending_is_cut_with_request_timeout() {
    let site = Site::start_with(SiteOptions {
        s3_extra: "body_read_timeout_secs = 1\n".into(),
        ..SiteOptions::default()
    });
    let c = site.client();
    c.create_bucket().bucket("mine").send().await.unwrap();
    let mut s = start_upload(&site, (ACCESS_KEY, SECRET_KEY), "/mine/stalled");
    let a = answer(&mut s, Duration::from_secs(10)).expect("an answer");
    assert!(
        a.starts_with("HTTP/1.1 400") && a.contains("<Code>RequestTimeout</Code>"),
        "{a}"
    );
    // Nothing was stored.
    assert!(c.head_object().bucket("mine").key("stalled").send().await.is_err());
}

/// A client that trickles its request headers is cut off after
/// `header_read_timeout_secs`, whatever it sends meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_end_are_cut_off() {
    let site = Site::start_with(SiteOptions {
        s3_extra: "header_read_timeout_secs = 1\n".into(),
        ..SiteOptions::default()
    });
    let mut s = TcpStream::connect(site.s3).unwrap();
    s.write_all(b"GET /mine HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    // A header line every half second: the deadline is for all of them.
    let closed_after = loop {
        std::thread::sleep(Duration::from_millis(500));
        let _ = s.write_all(b"X-Slow: 1\r\n");
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            // Closed (0 bytes), or an error answer just before the close.
            Ok(_) => break started.elapsed(),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            // Reset.
            Err(_) => break started.elapsed(),
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a connection trickling headers was still open after 10 s"
        );
    };
    assert!(closed_after < Duration::from_secs(5), "closed after {closed_after:?}");
    // The site serves others as ever.
    site.client().list_buckets().send().await.unwrap();
}
