//! Object bodies for load generation. A pool of random bytes is made once; each object
//! (or part) streams slices of it from offsets derived from its seed, so bodies are
//! distinct block by block (the store dedupes identical blocks, which would flatter
//! the figures) while nothing is copied and a 1 GiB body costs no 1 GiB buffer.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;

const POOL: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

pub type Body = BoxBody<Bytes, Infallible>;

#[derive(Clone)]
pub struct Payload {
    pool: Bytes,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: cheap, well spread offsets.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Words of the text-like pool: random choices among them compress about 5x with
/// zstd, like logs or JSON, while no two objects share a block.
const WORDS: [&[u8]; 16] = [
    b"the ",
    b"object ",
    b"store ",
    b"replicates ",
    b"every ",
    b"block ",
    b"to ",
    b"its ",
    b"sink ",
    b"site, ",
    b"and ",
    b"a ",
    b"manifest ",
    b"names ",
    b"them.\n",
    b"{\"key\": 42} ",
];

impl Payload {
    /// Random bytes (nothing to compress), or with `text`, random words.
    pub fn new(text: bool) -> Self {
        let mut pool = Vec::with_capacity(POOL + CHUNK + 16);
        let mut x = rand::random::<u64>() | 1;
        while pool.len() < POOL + CHUNK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if text {
                pool.extend_from_slice(WORDS[(x >> 60) as usize]);
            } else {
                pool.extend_from_slice(&x.to_le_bytes());
            }
        }
        Payload {
            pool: Bytes::from(pool),
        }
    }

    fn slice(&self, seed: u64, k: u64, len: usize) -> Bytes {
        let off = (mix(seed.wrapping_mul(1_000_003).wrapping_add(k)) % POOL as u64) as usize;
        self.pool.slice(off..off + len)
    }

    /// A body of `size` bytes, streamed in 1 MiB chunks.
    pub fn body(&self, seed: u64, size: u64) -> Body {
        if size <= CHUNK as u64 {
            return Full::new(self.slice(seed, 0, size as usize)).boxed();
        }
        let this = self.clone();
        let chunks = size.div_ceil(CHUNK as u64);
        let stream = futures_util::stream::iter((0..chunks).map(move |k| {
            let len = (size - k * CHUNK as u64).min(CHUNK as u64) as usize;
            Ok::<_, Infallible>(Frame::data(this.slice(seed, k, len)))
        }));
        StreamBody::new(stream).boxed()
    }
}
