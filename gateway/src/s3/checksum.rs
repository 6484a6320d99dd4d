//! The additional checksums S3 clients send (`x-amz-checksum-*`) and the Content-MD5
//! header: parsed from the request, computed over the body as it streams, compared at
//! the end.

use crate::s3::error::{S3Error, S3Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
}

impl Algorithm {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "crc32" => Some(Algorithm::Crc32),
            "crc32c" => Some(Algorithm::Crc32c),
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    fn mismatch(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "The CRC32 you specified did not match the calculated checksum.",
            Algorithm::Crc32c => "The CRC32C you specified did not match the calculated checksum.",
            Algorithm::Sha1 => "The SHA1 you specified did not match the calculated checksum.",
            Algorithm::Sha256 => "The SHA256 you specified did not match the calculated checksum.",
        }
    }
}

/// What the body must hash to, as far as the headers say before it arrives.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub content_md5: Option<[u8; 16]>,
    /// SHA-256 of the body when the payload is signed (hex).
    pub payload_sha256: Option<String>,
    /// The checksum algorithm to compute, and the value if it came as a header (a
    /// trailer brings it after the body).
    pub checksum: Option<(Algorithm, Option<String>)>,
}

impl Expected {
    pub fn from_headers(h: &HeaderMap) -> S3Result<Self> {
        let mut e = Expected::default();
        if let Some(v) = h.get("content-md5") {
            let bytes = v
                .to_str()
                .ok()
                .and_then(|s| B64.decode(s.trim()).ok())
                .ok_or(S3Error::InvalidDigest)?;
            e.content_md5 = Some(bytes.try_into().map_err(|_| S3Error::InvalidDigest)?);
        }
        for alg in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Sha1, Algorithm::Sha256] {
            if let Some(v) = h.get(alg.header()) {
                let v = v.to_str().map_err(|_| S3Error::InvalidDigest)?.trim().to_owned();
                if e.checksum.is_some() {
                    return Err(S3Error::InvalidRequest(
                        "Expecting a single x-amz-checksum- header".into(),
                    ));
                }
                validate(alg, &v)?;
                e.checksum = Some((alg, Some(v)));
            }
        }
        if e.checksum.is_none() {
            // A trailer announces its checksum in x-amz-trailer; otherwise the SDK may
            // name an algorithm it wants computed.
            let named = h.get("x-amz-trailer").or_else(|| h.get("x-amz-sdk-checksum-algorithm"));
            if let Some(alg) = named
                .and_then(|v| v.to_str().ok())
                .and_then(|s| Algorithm::from_name(s.trim().trim_start_matches("x-amz-checksum-")))
            {
                e.checksum = Some((alg, None));
            }
        }
        Ok(e)
    }
}

fn validate(alg: Algorithm, value: &str) -> S3Result<()> {
    match B64.decode(value) {
        Ok(b) if b.len() == alg.digest_len() => Ok(()),
        _ => Err(S3Error::InvalidRequest(format!(
            "Value for {} header is invalid.",
            alg.header()
        ))),
    }
}

enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Sha1(Sha1),
    Sha256(Sha256),
}

/// Computes everything [`Expected`] asks for, over the body as it streams.
pub struct BodyHashes {
    expected: Expected,
    checksum: Option<Hasher>,
    payload: Option<Sha256>,
}

impl BodyHashes {
    pub fn new(expected: Expected) -> Self {
        let checksum = expected.checksum.as_ref().map(|(alg, _)| match alg {
            Algorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Hasher::Crc32c(0),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        });
        let payload = expected.payload_sha256.as_ref().map(|_| Sha256::new());
        BodyHashes {
            expected,
            checksum,
            payload,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.checksum {
            Some(Hasher::Crc32(h)) => h.update(data),
            Some(Hasher::Crc32c(c)) => *c = crc32c::crc32c_append(*c, data),
            Some(Hasher::Sha1(h)) => h.update(data),
            Some(Hasher::Sha256(h)) => h.update(data),
            None => {}
        }
        if let Some(h) = &mut self.payload {
            h.update(data);
        }
    }

    /// Compares what was computed with what the client claimed. `md5` is the body's MD5
    /// (computed by the writer for the ETag); `trailer` is the checksum value from an
    /// aws-chunked trailer. Returns the verified checksum to store, if any.
    pub fn finish(self, md5: &[u8; 16], trailer: Option<(Algorithm, String)>) -> S3Result<Option<(Algorithm, String)>> {
        if let (Some(want), Some(h)) = (&self.expected.payload_sha256, self.payload) {
            if hex::encode(h.finalize()) != *want {
                return Err(S3Error::ContentSha256Mismatch);
            }
        }
        if let Some(want) = self.expected.content_md5 {
            if want != *md5 {
                return Err(S3Error::BadDigest(
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
        }
        let Some((alg, header_value)) = self.expected.checksum else {
            return Ok(None);
        };
        let computed = B64.encode(
            match self.checksum.expect("hasher exists for every expected checksum") {
                Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
                Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
                Hasher::Sha1(h) => h.finalize().to_vec(),
                Hasher::Sha256(h) => h.finalize().to_vec(),
            },
        );
        let claimed = match (header_value, trailer) {
            (Some(v), _) => Some(v),
            (None, Some((t_alg, v))) if t_alg == alg => {
                validate(alg, &v)?;
                Some(v)
            }
            (None, Some(_)) => {
                return Err(S3Error::InvalidRequest(
                    "The trailer checksum algorithm does not match x-amz-trailer".into(),
                ))
            }
            (None, None) => None,
        };
        match claimed {
            Some(v) if v != computed => Err(S3Error::BadDigest(alg.mismatch())),
            _ => Ok(Some((alg, computed))),
        }
    }
}
