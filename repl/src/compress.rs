//! zstd on the replication link (`[repl] compression_level`, off at 0): a body is sent
//! compressed only when that pays, judged on a sample first, so blocks that do not
//! compress (media, archives, encrypted data) cost one small trial, not a whole pass.
//! The sender compresses, the replication port expands.

use crate::link::Payload;

/// The `content-encoding` of a compressed body.
pub const ENCODING: &str = "zstd";
/// Bodies smaller than this go as they are.
const MIN: usize = 512;
/// How much of a body the trial compresses.
const SAMPLE: usize = 16 * 1024;

/// `data` compressed at `level`, when that saves a tenth or more; None: send it as is.
pub fn maybe_compress(data: &[u8], level: i32) -> Option<Vec<u8>> {
    if level == 0 || data.len() < MIN {
        return None;
    }
    let sample = &data[..data.len().min(SAMPLE)];
    let trial = zstd::bulk::compress(sample, 1).ok()?;
    if trial.len() * 10 > sample.len() * 9 {
        return None;
    }
    let out = zstd::bulk::compress(data, level).ok()?;
    (out.len() * 10 <= data.len() * 9).then_some(out)
}

/// `body` as a request payload: compressed when that pays at `level`.
pub fn payload(body: Vec<u8>, level: i32) -> Payload {
    match maybe_compress(&body, level) {
        Some(packed) => Payload {
            body: packed.into(),
            encoding: Some(ENCODING),
            sha256: None,
        },
        None => Payload::plain(body.into()),
    }
}

/// Expands a compressed body, refusing one that would pass `limit` bytes.
pub fn expand(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    zstd::bulk::decompress(data, limit).map_err(|e| format!("a zstd body that does not expand: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_what_pays_and_round_trips() {
        let text = b"manifest of a key, an etag, a size; ".repeat(1000);
        let packed = maybe_compress(&text, 3).expect("text compresses");
        assert!(packed.len() * 5 < text.len());
        assert_eq!(expand(&packed, text.len()).unwrap(), text);
        assert!(expand(&packed, text.len() - 1).is_err(), "the limit holds");
        // Bytes that do not compress are sent as they are, and so is anything when off.
        // xorshift64: bytes with no structure left for zstd to find.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        assert_eq!(maybe_compress(&noise, 3), None);
        assert_eq!(maybe_compress(&text, 0), None);
        assert_eq!(maybe_compress(b"short", 3), None);
    }
}
