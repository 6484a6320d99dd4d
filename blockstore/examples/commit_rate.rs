//! Durable small-object commits per second straight into the engine, without HTTP:
//! what the metadata path allows. `cargo run --release -p strata-blockstore --example
//! commit_rate -- [threads] [object bytes]` (defaults 32 and 4096; objects up to 16 KiB
//! are stored inline, so this is one transaction and one shared flush per PUT).

use std::time::Instant;
use strata_blockstore::{ObjectHeaders, ObjectWriter, Precondition, Store, StoreConfig};

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let (threads, size) = (arg(1, 32).max(1), arg(2, 4096));
    let dir = tempfile::tempdir_in(".").expect("a temporary directory here");
    let store = Store::open(StoreConfig::new(dir.path())).expect("store opens");
    store.create_bucket("b", "bench").expect("bucket");
    let per_thread = 20_000 / threads;
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let data = vec![t as u8; size];
                for i in 0..per_thread {
                    let mut w = ObjectWriter::new(store.clone());
                    w.write(&data).expect("write");
                    let written = w.finish().expect("finish");
                    store
                        .put_object(
                            "b",
                            &format!("{t}/{i}"),
                            ObjectHeaders::default(),
                            written,
                            &Precondition::None,
                        )
                        .expect("commit");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let n = per_thread * threads;
    println!(
        "{threads} threads, {size} B objects: {:.0} durable puts/s",
        n as f64 / started.elapsed().as_secs_f64()
    );
}
