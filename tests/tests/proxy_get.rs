//! Proxy-get with real sites: a sink that got manifests without blocks serves GETs and
//! ranged GETs by fetching the blocks from its source, keeps them (the second read asks
//! nothing of the source), and answers 503 ServiceUnavailable with Retry-After, before
//! any body byte, when a block cannot be had.

use strata_tests::{
    amz_now, data, get_bytes, raw, signed_head, wait_for, RawResponse, Site, SiteOptions, EMPTY_SHA256,
};

/// A signed GET of an object, raw, so the status line and headers are seen as sent.
fn raw_get(site: &Site, path: &str) -> RawResponse {
    let head = signed_head(site, "GET", path, "", &[], EMPTY_SHA256, &amz_now(0));
    raw(site.s3, format!("{head}\r\n").as_bytes(), false)
}

fn proxy_counters(site: &Site) -> serde_json::Value {
    site.repl_status()["proxy_get"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_reads_through_its_source_once_then_locally_and_503_when_it_cannot() {
    let mut a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.repl_cmd(&["realtime", "enable", "site-b", "--metadata-only"]);
    a.repl_cmd(&["realtime", "start", "site-b"]);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("pgets").send().await.unwrap();
    // 64 KiB blocks: five, four and three blocks; and one object kept inline.
    let (one, two, three, four) = (data(300_000, 1), data(200_000, 2), data(150_000, 3), data(250_000, 4));
    let (five, six) = (data(180_000, 5), data(270_000, 6));
    for (key, bytes) in [
        ("one", &one),
        ("two", &two),
        ("three", &three),
        ("four", &four),
        ("five", &five),
        ("six", &six),
    ] {
        ca.put_object()
            .bucket("pgets")
            .key(key)
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    }
    wait_for(30, "the manifests on the sink", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });
    assert_eq!(b.block_files(), 0, "metadata only: no block crossed");

    // Proxy-get not enabled on the source: 503 with Retry-After, and no body at all.
    let r = raw_get(&b, "/pgets/one");
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.text().starts_with("<?xml"), "an S3 error document, not object bytes");

    let refused = proxy_counters(&b);
    assert_eq!(
        (refused["requests"].as_u64(), refused["blocks"].as_u64()),
        (Some(1), Some(0)),
        "{refused}"
    );
    assert!(refused["failures"].as_u64().unwrap() >= 1, "{refused}");

    a.repl_cmd(&["proxy-get", "enable", "site-b"]);
    assert_eq!(a.peer_status("site-b", "sink")["proxy_get"], true);
    assert_eq!(get_bytes(&cb, "pgets", "one").await, one);
    let ranged = cb
        .get_object()
        .bucket("pgets")
        .key("two")
        .range("bytes=70000-140000")
        .send()
        .await
        .unwrap();
    let got = ranged.body.collect().await.unwrap().into_bytes();
    assert_eq!(&got[..], &two[70_000..=140_000]);
    let after_first = proxy_counters(&b);
    // "one": all five blocks; the range of "two" lies in its second and third blocks.
    assert_eq!(after_first["requests"], 3, "{after_first}");
    assert_eq!(after_first["blocks"], 7, "{after_first}");
    assert_eq!(after_first["failures"], refused["failures"], "{after_first}");

    // Read again: local now, nothing asked of the source.
    assert_eq!(get_bytes(&cb, "pgets", "one").await, one);
    assert_eq!(proxy_counters(&b), after_first);

    // Eight readers at once of an object none has read: each block is fetched once.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let c = cb.clone();
            tokio::spawn(async move { get_bytes(&c, "pgets", "four").await })
        })
        .collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), four);
    }
    let after_many = proxy_counters(&b);
    assert_eq!(after_many["blocks"].as_u64().unwrap(), 7 + 4, "{after_many}");

    // Copies on the sink read through too: CopyObject of an object never read here,
    // and UploadPartCopy of a range of another.
    cb.copy_object()
        .bucket("pgets")
        .key("five-copy")
        .copy_source("pgets/five")
        .send()
        .await
        .unwrap();
    let up = cb
        .create_multipart_upload()
        .bucket("pgets")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = cb
        .upload_part_copy()
        .bucket("pgets")
        .key("assembled")
        .upload_id(id)
        .part_number(1)
        .copy_source("pgets/six")
        .copy_source_range("bytes=100000-229999")
        .send()
        .await
        .unwrap();
    let etag = part.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(etag)
                .build(),
        )
        .build();
    cb.complete_multipart_upload()
        .bucket("pgets")
        .key("assembled")
        .upload_id(id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();

    // The source goes away: what was read is still served, what was not answers 503.
    a.kill9();
    assert_eq!(get_bytes(&cb, "pgets", "one").await, one);
    assert_eq!(
        get_bytes(&cb, "pgets", "five-copy").await,
        five,
        "the copy is whole without the source"
    );
    assert_eq!(get_bytes(&cb, "pgets", "assembled").await, &six[100_000..230_000]);
    let r = raw_get(&b, "/pgets/three");
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(proxy_counters(&b)["failures"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fullsync_metadata_only_then_reads_through_proxy_get() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    let ca = a.client();
    ca.create_bucket().bucket("fsmeta").send().await.unwrap();
    let big = data(400_000, 9);
    ca.put_object()
        .bucket("fsmeta")
        .key("big")
        .body(big.clone().into())
        .send()
        .await
        .unwrap();
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.repl_cmd(&["proxy-get", "enable", "site-b"]);
    a.repl_cmd(&["fullsync", "enable", "site-b", "--metadata-only"]);
    wait_for(60, "a complete fullsync", || {
        a.peer_status("site-b", "sink")["fullsync"]["last"]["result"] == "complete"
    });
    assert_eq!(b.block_files(), 0, "metadata only: no block crossed");
    assert_eq!(get_bytes(&b.client(), "fsmeta", "big").await, big);
    assert_eq!(proxy_counters(&b)["blocks"], 7, "400 000 bytes in 64 KiB blocks");
}

/// A GET read off a raw socket as slowly as the test likes: headers first, then the
/// body a piece at a time, so what the sink does while its client waits can be seen.
/// Its receive buffer is small and fixed (the kernel would grow it to 32 MiB for a
/// fast reader), so what the sink fetched is what it holds, not what the sockets do.
struct SlowGet {
    s: std::net::TcpStream,
    status: u16,
    length: usize,
    body: Vec<u8>,
}

impl SlowGet {
    fn open(site: &Site, path: &str) -> SlowGet {
        use std::io::{Read, Write};
        let head = signed_head(site, "GET", path, "", &[], EMPTY_SHA256, &amz_now(0));
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(64 * 1024).unwrap();
        socket.connect(&site.s3.into()).unwrap();
        let mut s: std::net::TcpStream = socket.into();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        s.write_all(format!("{head}\r\n").as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let split = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "closed before the headers: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            })
            .map_or(0, |v| v.parse().unwrap());
        SlowGet {
            s,
            status,
            length,
            body: buf[split + 4..].to_vec(),
        }
    }

    /// Reads until `n` body bytes are in, or the server closes; false on close.
    fn read_to(&mut self, n: usize) -> bool {
        use std::io::Read;
        let mut chunk = vec![0u8; 64 * 1024];
        while self.body.len() < n {
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(got) => self.body.extend_from_slice(&chunk[..got]),
            }
        }
        true
    }
}

const STREAM_BLOCK: usize = 256 * 1024;

/// A source whose objects span many 256 KiB blocks, and its metadata-only sink with
/// proxy-get enabled, fetching 2 blocks ahead of a reader.
async fn streaming_pair() -> (Site, Site) {
    streaming_pair_with("proxy_get_window = 2\n").await
}

/// [`streaming_pair`] with these `[repl]` lines on the sink.
async fn streaming_pair_with(sink_repl: &str) -> (Site, Site) {
    let mut a = SiteOptions::replicating("site-a");
    a.block_size = STREAM_BLOCK as u32;
    let a = Site::start_with(a);
    let mut b = SiteOptions::replicating("site-b");
    b.repl_extra = sink_repl.into();
    let b = Site::start_with(b);
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.repl_cmd(&["realtime", "enable", "site-b", "--metadata-only"]);
    a.repl_cmd(&["realtime", "start", "site-b"]);
    a.repl_cmd(&["proxy-get", "enable", "site-b"]);
    a.client().create_bucket().bucket("big").send().await.unwrap();
    (a, b)
}

async fn put_and_wait(a: &Site, key: &str, bytes: &[u8]) {
    a.client()
        .put_object()
        .bucket("big")
        .key(key)
        .body(bytes.to_vec().into())
        .send()
        .await
        .unwrap();
    wait_for(30, "the manifest on the sink", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_read_streams_fetching_a_window_ahead_and_a_dead_source_cuts_it_short() {
    let (mut a, b) = streaming_pair().await;
    const BLOCKS: usize = 128;
    let whole = data(BLOCKS * STREAM_BLOCK, 31);
    put_and_wait(&a, "whole", &whole).await;

    // The answer begins with the first block here, and while its reader waits the sink
    // fetches no further than the window and what the socket buffers hold, not the
    // whole object.
    let mut get = SlowGet::open(&b, "/big/whole");
    assert_eq!((get.status, get.length), (200, whole.len()));
    assert!(get.read_to(STREAM_BLOCK));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let paused = proxy_counters(&b)["blocks"].as_u64().unwrap() as usize;
    assert!(
        paused < BLOCKS / 2,
        "{paused} of {BLOCKS} blocks fetched for a reader that took one"
    );
    assert!(get.body[..STREAM_BLOCK] == whole[..STREAM_BLOCK]);

    // Another reader of the same object joins the fetches in flight, and the first
    // reader going away cancels none of them: each block is fetched once.
    let cb = b.client();
    let other = tokio::spawn(async move { get_bytes(&cb, "big", "whole").await });
    drop(get);
    assert!(other.await.unwrap() == whole, "the bytes read through are the object's");
    let after = proxy_counters(&b);
    assert_eq!(after["blocks"], BLOCKS, "{after}");
    assert_eq!(after["cut_reads"], 0, "{after}");

    // The source dies after the probe, mid-stream: the client sees a short read of the
    // right bytes, never wrong ones.
    let cut = data(BLOCKS * STREAM_BLOCK, 32);
    put_and_wait(&a, "cut", &cut).await;
    let mut get = SlowGet::open(&b, "/big/cut");
    assert_eq!((get.status, get.length), (200, cut.len()));
    assert!(get.read_to(STREAM_BLOCK));
    a.kill9();
    assert!(!get.read_to(cut.len()), "the response ends short of its length");
    assert!(get.body.len() < cut.len());
    assert!(get.body == cut[..get.body.len()], "what came is the object's prefix");
    assert_eq!(proxy_counters(&b)["cut_reads"], 1);

    // The next read is refused before any byte; nothing the sink stored is wrong.
    let r = raw_get(&b, "/big/cut");
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    let (_, out) = b.scrub();
    assert!(out.contains(", 0 corrupt)"), "{out}");

    // With the source back, the read completes.
    a.restart();
    assert_eq!(get_bytes(&b.client(), "big", "cut").await, cut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_no_source_can_serve_is_refused_by_the_probe_before_any_fetch() {
    let (a, b) = streaming_pair().await;
    let object = data(8 * STREAM_BLOCK, 33);
    put_and_wait(&a, "holed", &object).await;
    // The source lost its sixth block.
    a.lose_block(&object[5 * STREAM_BLOCK..6 * STREAM_BLOCK]);

    let r = raw_get(&b, "/big/holed");
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    let counters = proxy_counters(&b);
    assert_eq!(
        counters["blocks"], 0,
        "nothing fetched for a read that cannot be served: {counters}"
    );
    assert_eq!(b.block_files(), 0);

    // A range clear of the lost block is served.
    let ranged = b
        .client()
        .get_object()
        .bucket("big")
        .key("holed")
        .range(format!("bytes=0-{}", 2 * STREAM_BLOCK - 1))
        .send()
        .await
        .unwrap();
    let got = ranged.body.collect().await.unwrap().into_bytes();
    assert!(got[..] == object[..2 * STREAM_BLOCK]);
    assert_eq!(proxy_counters(&b)["blocks"], 2);
}

/// A read's window widens while its client keeps up, but past its first 8 blocks it
/// takes room from the site's `proxy_get_blocks_in_memory`: with none, a fast client
/// that stops holds no more than its 8, however wide its window had grown (128 here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_together_stay_within_the_sites_memory_for_blocks_ahead() {
    let (a, b) = streaming_pair_with("proxy_get_window = 128\nproxy_get_blocks_in_memory = 0\n").await;
    const BLOCKS: usize = 256;
    let object = data(BLOCKS * STREAM_BLOCK, 34);
    put_and_wait(&a, "wide", &object).await;

    let mut get = SlowGet::open(&b, "/big/wide");
    assert!(get.read_to(32 * STREAM_BLOCK), "a fast start widens the window");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let paused = proxy_counters(&b)["blocks"].as_u64().unwrap() as usize;
    // Read: 32. Held ahead: at most 8. In the sink's socket buffer: about 18 (58 in
    // all, seen here). A window of 128 with room fetched some 177.
    assert!(paused <= 32 + 8 + 40, "{paused} blocks fetched while the client waited");
    assert!(get.read_to(object.len()), "every read still moves");
    assert!(get.body == object);
}
