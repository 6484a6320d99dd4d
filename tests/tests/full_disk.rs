//! A full disk: a write that does not fit answers 507 InsufficientStorage and leaves
//! nothing behind; deletes, lists and reads keep working at the reserve; a restart on a
//! disk filled to the last byte comes up; status and /metrics show the space. Shown on
//! a real small filesystem (tmpfs, when the test runs as root), through the reserve
//! setting, and with a block write that meets an I/O error.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_tests::{amz_now, data, get_bytes, listing, raw, signed_head, wait_for, Site, SiteOptions};

const MIB: u64 = 1 << 20;

/// A tmpfs of a given size, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// None (with the reason printed) where this process may not mount one.
    fn mount(bytes: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                println!(
                    "SKIPPED: cannot mount a tmpfs here (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `dir` to the last byte with a file of its own.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        if f.write_all(&chunk).and_then(|_| f.sync_all()).is_err() {
            break;
        }
    }
    // Whatever a partial chunk could not take, byte by byte.
    while f.write_all(&[0]).and_then(|_| f.sync_all()).is_ok() {}
    path
}

async fn put(c: &Client, key: &str, body: Vec<u8>) -> Result<(), (u16, String)> {
    c.put_object()
        .bucket("bkt")
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            (status, e.code().unwrap_or("<none>").to_owned())
        })
}

/// The keys `bkt` lists, in order.
async fn listed(c: &Client) -> Vec<String> {
    listing(c, "bkt")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _, _)| k)
        .collect()
}

/// New data is refused as a full site refuses it.
async fn refused_as_full(c: &Client) {
    assert_eq!(
        put(c, "full", b"x".to_vec()).await,
        Err((507, "InsufficientStorage".into()))
    );
}

async fn delete(c: &Client, key: &str) {
    c.delete_object().bucket("bkt").key(key).send().await.unwrap();
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn site_status(site: &Site) -> serde_json::Value {
    serde_json::from_str(&site.admin_cmd(&["status", "--json"])).unwrap()
}

fn prometheus(site: &Site) -> String {
    let req = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer test-admin-token-0123456789\r\nConnection: close\r\n\r\n",
        site.admin
    );
    raw(site.admin, req.as_bytes(), false).text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_data_keeps_deletes_and_reads_and_restarts() {
    let Some(fs) = Tmpfs::mount(40 * MIB) else { return };
    let mut site = Site::start_with(SiteOptions {
        data_dir: Some(fs.path().join("data")),
        reserve_bytes: 8 * MIB,
        block_size: MIB as u32,
        gc_grace_secs: 1,
        gc_interval_secs: 1,
        ..SiteOptions::default()
    });
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();

    // Objects of four 1 MiB blocks until the disk reaches the reserve.
    let mut stored = Vec::new();
    let refusal = loop {
        let key = format!("obj/{:02}", stored.len());
        match put(&c, &key, data(4 * MIB as usize, stored.len() as u64)).await {
            Ok(()) => stored.push(key),
            Err(e) => break e,
        }
        assert!(
            stored.len() < 20,
            "a 40 MiB disk took {} objects of 4 MiB",
            stored.len()
        );
    };
    assert_eq!(refusal, (507, "InsufficientStorage".to_owned()));
    assert!(stored.len() >= 3, "only {} objects fit", stored.len());
    // The refused write left nothing: no temporary file, no block beyond the stored ones.
    wait_for(10, "the refused write's files gone", || {
        files_in(&site.data_dir().join("tmp")) == 0 && site.block_files() == 4 * stored.len()
    });

    for (i, key) in stored.iter().enumerate() {
        assert_eq!(
            get_bytes(&c, "bkt", key).await,
            data(4 * MIB as usize, i as u64),
            "{key}"
        );
    }
    assert_eq!(site_status(&site)["accepting_new_data"], true);

    // Another process eats the disk down below the reserve: reads, lists and status
    // work, every kind of new data is refused, deletes work.
    let free = site_status(&site)["disk_free_bytes"].as_u64().unwrap();
    let eater = fs.path().join("eater");
    std::fs::write(&eater, vec![1u8; (free - 2 * MIB) as usize]).unwrap();
    let keys = listed(&c).await;
    assert_eq!(keys, stored);
    let status = site_status(&site);
    assert_eq!(status["accepting_new_data"], false, "{status}");
    assert_eq!(status["reserve_bytes"], 8 * MIB, "{status}");
    assert!(status["disk_free_bytes"].as_u64().unwrap() < 8 * MIB, "{status}");
    let metrics = prometheus(&site);
    assert!(metrics.contains("strata_disk_reserve_bytes 8388608"), "{metrics}");
    assert!(metrics.contains("strata_accepting_new_data 0"), "{metrics}");
    assert_eq!(
        put(&c, "small", b"tiny".to_vec()).await,
        Err((507, "InsufficientStorage".into()))
    );
    let e = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InsufficientStorage"));
    let e = c.create_bucket().bucket("another").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InsufficientStorage"));
    for key in stored.drain(..2) {
        delete(&c, &key).await;
    }
    let keys = listed(&c).await;
    assert_eq!(keys, stored);
    std::fs::remove_file(&eater).unwrap();
    wait_for(10, "new data accepted again", || {
        site_status(&site)["accepting_new_data"] == true
    });
    put(&c, "again", data(2 * MIB as usize, 99)).await.unwrap();
    assert_eq!(get_bytes(&c, "bkt", "again").await, data(2 * MIB as usize, 99));

    // Another process eats every byte while the site runs: it releases its ballast,
    // so a delete still has room; it takes the ballast back once space returns.
    let ballast = site_status(&site)["ballast_bytes"].as_u64().unwrap();
    assert_eq!(ballast, 4 * MIB, "half the reserve is held as ballast");
    wait_for(20, "GC of the deleted objects' blocks", || {
        site.block_files() == 4 * stored.len() + 2
    });
    let filler = fill(fs.path());
    wait_for(10, "the ballast released", || site_status(&site)["ballast_bytes"] == 0);
    refused_as_full(&c).await;
    delete(&c, &stored.remove(0)).await;
    std::fs::remove_file(&filler).unwrap();
    wait_for(10, "the ballast taken back", || {
        site_status(&site)["ballast_bytes"] == 4 * MIB
    });

    // The disk filled to the last byte while the site was down: it comes back up (the
    // ballast makes room for the metadata engine), serves what it holds, takes deletes
    // and refuses new data until space is freed.
    site.kill9();
    let filler = fill(fs.path());
    site.restart();
    assert!(site.log().contains("released the ballast"), "{}", site.log());
    assert_eq!(get_bytes(&c, "bkt", "again").await, data(2 * MIB as usize, 99));
    let keys = listed(&c).await;
    assert_eq!(keys.len(), stored.len() + 1, "{keys:?}");
    refused_as_full(&c).await;
    delete(&c, &stored.remove(0)).await;
    assert!(!stored.is_empty());
    std::fs::remove_file(filler).unwrap();
    wait_for(10, "new data accepted again", || {
        site_status(&site)["accepting_new_data"] == true
    });
    put(&c, "after", b"room again".to_vec()).await.unwrap();
    assert_eq!(get_bytes(&c, "bkt", "after").await, b"room again");
    assert!(site.log().lines().all(|l| !l.contains("ERROR")), "{}", site.log());
}

/// Restarts `site` with another `reserve_bytes`.
fn restart_with_reserve(site: &mut Site, bytes: u64) {
    let text = std::fs::read_to_string(&site.config).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| match l.starts_with("reserve_bytes") {
            true => format!("reserve_bytes = {bytes}"),
            false => l.to_owned(),
        })
        .collect();
    std::fs::write(&site.config, text.join("\n") + "\n").unwrap();
    site.restart();
}

/// A sink whose disk is at its reserve (set above the disk's size) still applies
/// replicated deletes; the new objects it cannot take become dirty keys at the source,
/// sent again (no fullsync needed) once it has room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sink_applies_replicated_deletes_and_catches_up_when_room_returns() {
    let (a, mut b) = strata_tests::pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("bkt").send().await.unwrap();
    for k in ["one", "two"] {
        put(&ca, k, data(150_000, 1)).await.unwrap();
    }
    strata_tests::assert_converges(&ca, &cb, "bkt", 60).await;

    restart_with_reserve(&mut b, 1 << 60);
    assert!(
        b.log().contains("the data disk is smaller than reserve_bytes"),
        "a site that will refuse every write says so at start"
    );
    let status = site_status(&b);
    assert_eq!(status["accepting_new_data"], false, "{status}");
    assert_eq!(
        put(&cb, "local", b"x".to_vec()).await,
        Err((507, "InsufficientStorage".into()))
    );
    // Reads and lists work on the full site.
    assert_eq!(get_bytes(&cb, "bkt", "two").await, data(150_000, 1));

    ca.delete_object().bucket("bkt").key("one").send().await.unwrap();
    put(&ca, "three", data(150_000, 3)).await.unwrap();
    wait_for(60, "the delete on the full sink", || {
        let p = a.peer_status("site-b", "sink");
        p["dirty_keys"].as_u64().unwrap_or(0) >= 1
    });
    let keys = listed(&cb).await;
    assert_eq!(keys, ["two"], "the delete applied, the new object skipped");

    restart_with_reserve(&mut b, 1 << 20);
    strata_tests::assert_converges(&ca, &cb, "bkt", 30).await;
    wait_for(10, "dirty keys back to 0", || {
        a.peer_status("site-b", "sink")["dirty_keys"] == 0
    });
    assert_eq!(get_bytes(&cb, "bkt", "three").await, data(150_000, 3));
}

/// A block write that meets an I/O error (here the temporary directory replaced by a
/// file) answers 500, stores nothing and leaves nothing; the site goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_write_error_stores_nothing_and_leaves_nothing() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    put(&c, "before", data(300_000, 1)).await.unwrap();
    let blocks = site.block_files();
    let tmp = site.data_dir().join("tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();

    assert_eq!(
        put(&c, "broken", data(300_000, 2)).await,
        Err((500, "InternalError".into()))
    );
    // The answer comes as soon as the writer fails, not after the rest of a body the
    // client says is 1 GiB long (of which it sends 2 MiB, then waits). (On a disk with
    // less than 1 GiB free the answer is 507, at once too.)
    let head = signed_head(
        &site,
        "PUT",
        "/bkt/huge",
        "",
        &[("content-length", "1073741824")],
        "UNSIGNED-PAYLOAD",
        &amz_now(0),
    );
    let started = std::time::Instant::now();
    let mut tcp = std::net::TcpStream::connect(site.s3).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    tcp.write_all(format!("{head}\r\n").as_bytes()).unwrap();
    let _ = tcp.write_all(&data(2 << 20, 4));
    let mut answer = [0u8; 12];
    if let Err(e) = std::io::Read::read_exact(&mut tcp, &mut answer) {
        panic!("no answer ({e}) after {:?}; log:\n{}", started.elapsed(), site.log());
    }
    let status = String::from_utf8_lossy(&answer[9..]).into_owned();
    assert!(status == "500" || status == "507", "{status}");
    assert!(
        started.elapsed().as_secs() < 10,
        "answered after {:?}",
        started.elapsed()
    );
    let e = c.head_object().bucket("bkt").key("broken").send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    wait_for(10, "no block left by the failed write", || site.block_files() == blocks);

    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    put(&c, "after", data(300_000, 3)).await.unwrap();
    assert_eq!(get_bytes(&c, "bkt", "after").await, data(300_000, 3));
    assert_eq!(get_bytes(&c, "bkt", "before").await, data(300_000, 1));
}
