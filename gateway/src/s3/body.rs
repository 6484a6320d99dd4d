//! The ingest pipeline for object data. An async pump reads the request body frame by
//! frame (undoing `aws-chunked` framing and checking chunk signatures as it goes) and
//! hands the bytes over a small bounded channel to the writer, which gathers them into
//! batches of 1 MiB and hashes and writes each on a blocking thread. No thread waits
//! for a slow client. Memory stays at a few frames, two batches and one block,
//! whatever the size.

use crate::s3::checksum::{Algorithm, BodyHashes, Expected};
use crate::s3::error::{S3Error, S3Result};
use crate::s3::signed::Payload;
use crate::s3::sigv4::ChunkVerifier;
use crate::s3::state::S3State;
use axum::body::{Body, BodyDataStream};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use strata_blockstore::{blocking, ObjectWriter, Store, WrittenData};
use tokio::sync::mpsc;

/// The largest object a single PUT (or part) may carry, as in S3.
pub const MAX_PUT_SIZE: u64 = 5 << 30;
/// Frames in flight between the pump and the writer thread.
const CHANNEL_FRAMES: usize = 16;
const MAX_CHUNK_LINE: usize = 4096;

pub struct Ingested {
    pub data: WrittenData,
    /// The verified additional checksum, to store and return.
    pub checksum: Option<(Algorithm, String)>,
}

/// Streams a request body into blocks and checks every digest the client supplied, as
/// one of the bodies `writer` (a user name; None: anonymous) may send at once.
/// Nothing is committed here: the caller commits `data` or drops it.
/// `part` marks a multipart part, which is always stored in blocks (small objects
/// otherwise end up inline in their manifest).
pub async fn ingest(
    state: &S3State,
    writer: Option<&str>,
    body: Body,
    headers: &HeaderMap,
    payload: &Payload,
    chunks: Option<ChunkVerifier>,
    part: bool,
) -> S3Result<Ingested> {
    let mut expected = Expected::from_headers(headers)?;
    if let Payload::Sha256(h) = payload {
        expected.payload_sha256 = Some(h.clone());
    }
    let header_u64 = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let chunked = matches!(payload, Payload::Chunked { .. })
        || headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("aws-chunked"));
    let declared = if chunked {
        header_u64("x-amz-decoded-content-length")
    } else {
        header_u64("content-length")
    };
    if declared.is_none() && !chunked {
        // S3 answers a body framed by HTTP chunked transfer encoding alone (no length,
        // no aws-chunked) with 501 naming the header; one with no framing at all, 411.
        return Err(match headers.contains_key("transfer-encoding") {
            true => S3Error::NotImplemented("the Transfer-Encoding header (send Content-Length)".into()),
            false => S3Error::MissingContentLength,
        });
    }
    if declared.is_some_and(|n| n > MAX_PUT_SIZE) {
        return Err(S3Error::EntityTooLarge);
    }
    let _slot = state.uploads.open(writer)?;

    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_FRAMES);
    let writer = write_frames(state.store.clone(), declared, part, BodyHashes::new(expected), rx);
    let mut src = Source {
        stream: body.into_data_stream(),
        buf: BytesMut::new(),
        sent: 0,
        limit: declared.unwrap_or(MAX_PUT_SIZE),
        writer_gone: false,
        idle: state.uploads.idle,
    };
    let trailer_expected = matches!(payload, Payload::Chunked { trailer: true, .. });
    let pump = async move {
        let pumped = if chunked {
            pump_chunked(&mut src, &tx, chunks, trailer_expected).await
        } else {
            pump_plain(&mut src, &tx).await.map(|_| None)
        };
        // The end of the body closes the channel: the writer finishes.
        drop(tx);
        (pumped, src.writer_gone)
    };
    tokio::pin!(pump, writer);
    let (pumped, written) = tokio::select! {
        (pumped, writer_gone) = &mut pump => {
            let written = (&mut writer).await;
            match written {
                // The writer stopped first; the pump only saw the channel close.
                Err(e) if writer_gone => return Err(e),
                // Otherwise a pump error explains a writer error (the channel closed
                // early), so it goes first.
                w => (pumped, w),
            }
        }
        written = &mut writer => match written {
            // The writer failed (a full disk, an I/O error) while the body was still
            // coming: that is the answer now, and the rest of the body is not read.
            Err(e) => return Err(e),
            ok => ((&mut pump).await.0, ok),
        },
    };
    let trailer = pumped?;
    let (data, hashes) = written?;
    if declared.is_some_and(|n| n != data.size) {
        return Err(S3Error::IncompleteBody);
    }
    let checksum = hashes.finish(&data.md5, trailer)?;
    Ok(Ingested { data, checksum })
}

/// Bytes handed to a blocking thread at once: the thread hashes and writes them, then
/// is free again. So a body holds a thread only while it has data to write, never
/// while it waits for its client.
const WRITE_BATCH: usize = 1 << 20;
/// Bytes gathered while a batch is being written, at most: the next batch and as much
/// again, so the socket keeps being read while the disk works.
const MAX_GATHERED: usize = 2 * WRITE_BATCH;

/// The writing side of `ingest`: gathers frames until `WRITE_BATCH` bytes (or the end)
/// and hashes and writes each batch on a blocking thread, while the next batch is
/// gathered. A writer error hangs up the channel, which stops the pump.
async fn write_frames(
    store: Arc<Store>,
    declared: Option<u64>,
    part: bool,
    hashes: BodyHashes,
    mut rx: mpsc::Receiver<Bytes>,
) -> S3Result<(WrittenData, BodyHashes)> {
    type Writing = (ObjectWriter, BodyHashes);
    // A body that cannot fit is refused before it is stored (and, as the writer hangs
    // up, before the rest of it is read).
    let mut ready: Option<Writing> = Some(
        blocking(move || -> S3Result<Writing> {
            store.admit(declared.unwrap_or(0))?;
            let w = if part {
                ObjectWriter::for_part(store)
            } else {
                ObjectWriter::new(store)
            };
            Ok((w, hashes))
        })
        .await?,
    );
    let mut writing: Option<tokio::task::JoinHandle<S3Result<Writing>>> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    let (mut gathered, mut end) = (0, false);
    loop {
        // A batch goes as soon as no write is in flight and it is big enough (or the
        // body has ended): reading goes on meanwhile, so the client is never held up
        // by the disk for longer than a batch takes.
        if writing.is_none() && (gathered >= WRITE_BATCH || (end && !batch.is_empty())) {
            let (mut w, mut h) = ready.take().expect("one batch is written at a time");
            let frames = std::mem::take(&mut batch);
            gathered = 0;
            writing = Some(tokio::task::spawn_blocking(move || {
                for b in &frames {
                    h.update(b);
                    w.write(b)?;
                }
                Ok((w, h))
            }));
        }
        if end && writing.is_none() {
            break;
        }
        let room = !end && gathered < MAX_GATHERED;
        // A write that fails is the answer at once, without waiting for more of the
        // body (the client may be sending gigabytes, or nothing).
        let next = match writing.as_mut() {
            Some(w) => tokio::select! {
                done = w => Next::Written(done),
                frame = rx.recv(), if room => Next::Frame(frame),
            },
            None => Next::Frame(rx.recv().await),
        };
        match next {
            Next::Written(done) => {
                writing = None;
                ready = Some(joined(done)?);
            }
            Next::Frame(Some(b)) => {
                gathered += b.len();
                batch.push(b);
            }
            Next::Frame(None) => end = true,
        }
    }
    let (w, h) = ready.take().expect("no write in flight at the end");
    blocking(move || Ok((w.finish()?, h))).await
}

/// What the writer waits for: the batch being written, or the next frame.
enum Next<W> {
    Written(Result<S3Result<W>, tokio::task::JoinError>),
    Frame(Option<Bytes>),
}

fn joined<T>(r: Result<S3Result<T>, tokio::task::JoinError>) -> S3Result<T> {
    r.map_err(|e| S3Error::Store(strata_blockstore::Error::TaskFailed(e.to_string())))?
}

/// Reads a body to its end into memory; only for small XML request documents.
pub async fn read_small(body: Body, limit: usize) -> S3Result<Bytes> {
    let mut stream = body.into_data_stream();
    let mut out = BytesMut::new();
    while let Some(frame) = stream.next().await {
        out.extend_from_slice(&frame.map_err(|_| S3Error::IncompleteBody)?);
        if out.len() > limit {
            return Err(S3Error::InvalidRequest(format!(
                "request body larger than {limit} bytes"
            )));
        }
    }
    Ok(out.freeze())
}

struct Source {
    stream: BodyDataStream,
    buf: BytesMut,
    sent: u64,
    limit: u64,
    /// The writer hung up (after an error of its own): stop reading.
    writer_gone: bool,
    /// The longest the client may send nothing.
    idle: Duration,
}

impl Source {
    /// The next frame, None at the end of the body; RequestTimeout if the client sends
    /// nothing for `idle`.
    async fn next(&mut self) -> S3Result<Option<Bytes>> {
        match tokio::time::timeout(self.idle, self.stream.next()).await {
            Err(_) => Err(S3Error::RequestTimeout),
            Ok(Some(Ok(b))) => Ok(Some(b)),
            Ok(Some(Err(_))) => Err(S3Error::IncompleteBody),
            Ok(None) => Ok(None),
        }
    }

    /// Pulls the next frame into the buffer; false at the end of the body.
    async fn fill(&mut self) -> S3Result<bool> {
        match self.next().await? {
            Some(b) => {
                self.buf.extend_from_slice(&b);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn send(&mut self, tx: &mpsc::Sender<Bytes>, data: Bytes) -> S3Result<()> {
        self.sent += data.len() as u64;
        if self.sent > self.limit {
            return Err(if self.limit == MAX_PUT_SIZE {
                S3Error::EntityTooLarge
            } else {
                S3Error::IncompleteBody
            });
        }
        // The writer only hangs up after an error of its own, which it reports.
        if tx.send(data).await.is_err() {
            self.writer_gone = true;
            return Err(S3Error::IncompleteBody);
        }
        Ok(())
    }

    /// One CRLF-terminated line of chunk framing, without the CRLF.
    async fn line(&mut self) -> S3Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(i);
                self.buf.advance(2);
                return String::from_utf8(line.to_vec()).map_err(|_| S3Error::IncompleteBody);
            }
            if self.buf.len() > MAX_CHUNK_LINE {
                return Err(S3Error::InvalidRequest("aws-chunked framing line too long".into()));
            }
            if !self.fill().await? {
                return Err(S3Error::IncompleteBody);
            }
        }
    }
}

async fn pump_plain(src: &mut Source, tx: &mpsc::Sender<Bytes>) -> S3Result<()> {
    while let Some(b) = src.next().await? {
        src.send(tx, b).await?;
    }
    Ok(())
}

/// Decodes `aws-chunked`: `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n` repeated,
/// a zero-size chunk, then optional trailing headers and a blank line. Returns the
/// checksum trailer, if one was sent.
async fn pump_chunked(
    src: &mut Source,
    tx: &mpsc::Sender<Bytes>,
    mut verifier: Option<ChunkVerifier>,
    expect_trailer: bool,
) -> S3Result<Option<(Algorithm, String)>> {
    let bad = |m: &str| S3Error::InvalidRequest(format!("malformed aws-chunked body: {m}"));
    loop {
        let line = src.line().await?;
        let (size_hex, ext) = line.split_once(';').unwrap_or((line.as_str(), ""));
        let size = u64::from_str_radix(size_hex.trim(), 16).map_err(|_| bad("chunk size"))?;
        let signature = ext.trim().strip_prefix("chunk-signature=");
        if verifier.is_some() && signature.is_none() {
            return Err(S3Error::SignatureDoesNotMatch);
        }
        let mut hasher = verifier.as_ref().map(|_| Sha256::new());
        let mut remaining = size;
        while remaining > 0 {
            if src.buf.is_empty() && !src.fill().await? {
                return Err(S3Error::IncompleteBody);
            }
            let n = remaining.min(src.buf.len() as u64) as usize;
            let data = src.buf.split_to(n).freeze();
            if let Some(h) = &mut hasher {
                h.update(&data);
            }
            src.send(tx, data).await?;
            remaining -= n as u64;
        }
        if let (Some(v), Some(h), Some(sig)) = (&mut verifier, hasher, signature) {
            v.verify_chunk(sig, &h.finalize())?;
        }
        if size == 0 {
            break;
        }
        if !src.line().await?.is_empty() {
            return Err(bad("chunk data longer than its size"));
        }
    }
    // Trailing headers, then a blank line. Some clients end right after the last chunk.
    let mut checksum = None;
    let mut canonical = String::new();
    let mut trailer_signature = None;
    loop {
        if src.buf.is_empty() && !src.fill().await? {
            break;
        }
        let line = src.line().await?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad("trailer line"))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
        if name == "x-amz-trailer-signature" {
            trailer_signature = Some(value);
            continue;
        }
        canonical.push_str(&format!("{name}:{value}\n"));
        if let Some(alg) = name.strip_prefix("x-amz-checksum-").and_then(Algorithm::from_name) {
            checksum = Some((alg, value));
        }
    }
    if let Some(v) = &mut verifier {
        if expect_trailer {
            v.verify_trailer(
                trailer_signature.as_deref().ok_or(S3Error::SignatureDoesNotMatch)?,
                &canonical,
            )?;
        }
    }
    Ok(checksum)
}
