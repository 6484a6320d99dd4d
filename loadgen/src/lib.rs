//! The load generator behind `strata bench`, for any S3 endpoint. It prepares its own
//! bucket (and objects, for reads), runs N workers for a duration or a count, measures
//! ops/s, MiB/s and latency percentiles per operation, and cleans up. Any error from the
//! endpoint stops the run and fails the command: a benchmark that hides errors lies.
//! A client only: it shares no code with the server it measures. `wan` is the other
//! tool for measuring: a proxy that puts a round-trip time between two sites.

mod client;
mod payload;
mod stats;
pub mod wan;

use client::{BenchError, Client, Target};
use payload::Payload;
use stats::{OpFigures, Report, Samples};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    Put,
    Get,
    Mixed,
    List,
    Delete,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint, e.g. http://127.0.0.1:9000. Given more than once (the gateways of
    /// one site), each request goes to the next, round robin.
    #[arg(long, required = true)]
    pub endpoint: Vec<String>,
    #[arg(long)]
    pub access_key: String,
    #[arg(long)]
    pub secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// What to measure. mixed is 45% GET, 15% PUT, 30% HEAD, 10% DELETE.
    #[arg(long, value_enum, default_value = "put")]
    pub op: Op,
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Object size (B, KiB, MiB, GiB).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub size: u64,
    /// How long to run (e.g. 10s, 500ms); default 10s unless --count is given.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Run exactly this many measured operations instead of for a duration.
    #[arg(long)]
    pub count: Option<u64>,
    /// Objects to prepare for get, mixed, list and delete.
    #[arg(long)]
    pub objects: Option<u64>,
    /// Objects larger than this are uploaded with multipart, in parts of this size.
    #[arg(long, default_value = "5GiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Hold the whole run to this many operations per second (a steady load, e.g. to
    /// measure replication lag) instead of as fast as the endpoint answers.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Keys per page for list.
    #[arg(long, default_value_t = 1000)]
    pub max_keys: u32,
    /// Leave the bucket and its objects in place instead of removing them at the end
    /// (for reading them afterwards, or so a replication measurement sees only the load).
    #[arg(long)]
    pub keep: bool,
    /// Text-like bodies (random words, about 5x compressible by zstd) instead of random bytes.
    #[arg(long)]
    pub text: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("not a size: {s}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        other => return Err(format!("unknown size unit {other}")),
    };
    Ok(n * mult)
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = n.parse().map_err(|_| format!("not a duration: {s}"))?;
    Ok(Duration::from_secs_f64(v * mult))
}

/// Every `<name>…</name>` in a small XML answer, and the first.
fn tags<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(v, _)| v))
        .collect()
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    tags(xml, name).into_iter().next()
}

struct Ctx {
    target: Arc<Target>,
    bucket: String,
    payload: Payload,
    size: u64,
    part_size: u64,
    prepared: Vec<String>,
    max_keys: u32,
    stop: Stop,
    /// With --rate: the time between one worker's operations.
    pace: Option<Duration>,
}

enum Stop {
    At(Instant),
    Count { issued: AtomicU64, limit: u64 },
}

impl Stop {
    /// Claims the next operation, or says the run is over.
    fn next(&self) -> Option<u64> {
        match self {
            Stop::At(t) => (Instant::now() < *t).then_some(0),
            Stop::Count { issued, limit } => {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                (n < *limit).then_some(n)
            }
        }
    }
}

async fn put(c: &mut Client, ctx: &Ctx, key: &str, seed: u64) -> Result<u64, BenchError> {
    let path = format!("/{}/{}", ctx.bucket, key);
    if ctx.size <= ctx.part_size {
        c.send(
            "PutObject",
            "PUT",
            &path,
            Some((ctx.payload.body(seed, ctx.size), ctx.size)),
            false,
        )
        .await?;
        return Ok(ctx.size);
    }
    let created = c
        .send("CreateMultipartUpload", "POST", &format!("{path}?uploads"), None, true)
        .await?;
    let xml = String::from_utf8_lossy(&created.body).into_owned();
    let id = tag(&xml, "UploadId")
        .ok_or_else(|| BenchError::Other(format!("no UploadId in {xml}")))?
        .to_owned();
    let mut done = String::from("<CompleteMultipartUpload>");
    let parts = ctx.size.div_ceil(ctx.part_size);
    for n in 1..=parts {
        let len = (ctx.size - (n - 1) * ctx.part_size).min(ctx.part_size);
        let body = ctx.payload.body(seed.wrapping_mul(10_007).wrapping_add(n), len);
        let a = c
            .send(
                "UploadPart",
                "PUT",
                &format!("{path}?partNumber={n}&uploadId={id}"),
                Some((body, len)),
                false,
            )
            .await?;
        let etag = a.etag.unwrap_or_default();
        done.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"));
    }
    done.push_str("</CompleteMultipartUpload>");
    let len = done.len() as u64;
    let body = http_body_util::BodyExt::boxed(http_body_util::Full::new(bytes::Bytes::from(done)));
    c.send(
        "CompleteMultipartUpload",
        "POST",
        &format!("{path}?uploadId={id}"),
        Some((body, len)),
        true,
    )
    .await?;
    Ok(ctx.size)
}

async fn worker(
    w: usize,
    workers: usize,
    ctx: Arc<Ctx>,
    op: Op,
) -> Result<BTreeMap<&'static str, Samples>, BenchError> {
    let mut c = Client::new(ctx.target.clone());
    let mut out: BTreeMap<&'static str, Samples> = BTreeMap::new();
    let mut own: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut i = 0u64;
    let n = ctx.prepared.len().max(1);
    // Workers start spread over one pace interval so the load is even.
    let first = ctx
        .pace
        .map(|p| tokio::time::Instant::now() + p.mul_f64(w as f64 / workers as f64));
    loop {
        if let (Some(pace), Some(first)) = (ctx.pace, first) {
            tokio::time::sleep_until(first + pace.mul_f64(i as f64)).await;
        }
        if op == Op::Delete && i as usize * workers + w >= ctx.prepared.len() {
            break;
        }
        if ctx.stop.next().is_none() {
            break;
        }
        let kind = match op {
            Op::Mixed => match i % 20 {
                0..=8 => "get",
                9..=11 => "put",
                12..=17 => "head",
                _ if own.is_empty() => "put",
                _ => "delete",
            },
            Op::Put => "put",
            Op::Get => "get",
            Op::List => "list",
            Op::Delete => "delete",
        };
        let started = Instant::now();
        let bytes = match kind {
            "put" => {
                let key = format!("put/{w}/{i}");
                let b = put(&mut c, &ctx, &key, (w as u64) << 40 | i).await?;
                own.push(key);
                b
            }
            "get" => {
                let key = &ctx.prepared[(w + i as usize * workers) % n];
                c.send("GetObject", "GET", &format!("/{}/{key}", ctx.bucket), None, false)
                    .await?
                    .bytes
            }
            "head" => {
                let key = &ctx.prepared[(w + i as usize * workers) % n];
                c.send("HeadObject", "HEAD", &format!("/{}/{key}", ctx.bucket), None, false)
                    .await?;
                0
            }
            "delete" => {
                let key = if op == Op::Delete {
                    ctx.prepared[i as usize * workers + w].clone()
                } else {
                    own.pop().unwrap_or_default()
                };
                c.send("DeleteObject", "DELETE", &format!("/{}/{key}", ctx.bucket), None, false)
                    .await?;
                0
            }
            _ => {
                let mut q = format!("/{}?list-type=2&max-keys={}", ctx.bucket, ctx.max_keys);
                if let Some(t) = &token {
                    let t = percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC);
                    q.push_str(&format!("&continuation-token={t}"));
                }
                let a = c.send("ListObjectsV2", "GET", &q, None, true).await?;
                let xml = String::from_utf8_lossy(&a.body).into_owned();
                token = tag(&xml, "NextContinuationToken").map(str::to_owned);
                a.bytes
            }
        };
        out.entry(kind).or_default().record(started.elapsed(), bytes);
        i += 1;
    }
    Ok(out)
}

/// Runs `count` tasks over `workers` workers, each task `f(client, index)`.
async fn parallel<F, Fut>(target: &Arc<Target>, workers: usize, count: usize, f: F) -> Result<(), BenchError>
where
    F: Fn(Client, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<Client, BenchError>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (f, next, target) = (f.clone(), next.clone(), target.clone());
        set.spawn(async move {
            let mut c = Client::new(target);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count {
                    return Ok::<_, BenchError>(());
                }
                c = f(c, i).await?;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| BenchError::Other(e.to_string()))??;
    }
    Ok(())
}

/// Deletes every object in the bucket, then the bucket.
async fn cleanup(target: &Arc<Target>, bucket: &str) -> Result<(), BenchError> {
    let mut c = Client::new(target.clone());
    loop {
        let a = c
            .send(
                "ListObjectsV2",
                "GET",
                &format!("/{bucket}?list-type=2&max-keys=1000"),
                None,
                true,
            )
            .await?;
        let xml = String::from_utf8_lossy(&a.body).into_owned();
        let keys = tags(&xml, "Key");
        if keys.is_empty() {
            break;
        }
        let mut doc = String::from("<Delete><Quiet>true</Quiet>");
        for k in keys {
            doc.push_str(&format!("<Object><Key>{k}</Key></Object>"));
        }
        doc.push_str("</Delete>");
        let len = doc.len() as u64;
        let body = http_body_util::BodyExt::boxed(http_body_util::Full::new(bytes::Bytes::from(doc)));
        c.send(
            "DeleteObjects",
            "POST",
            &format!("/{bucket}?delete"),
            Some((body, len)),
            true,
        )
        .await?;
    }
    c.send("DeleteBucket", "DELETE", &format!("/{bucket}"), None, false)
        .await?;
    Ok(())
}

pub async fn run(args: BenchArgs) -> Result<Report, BenchError> {
    let target = Target::new(&args.endpoint, &args.access_key, &args.secret_key, &args.region)?;
    let bucket = format!("strata-bench-{:08x}", rand::random::<u32>());
    let workers = args.workers.max(1);
    Client::new(target.clone())
        .send("CreateBucket", "PUT", &format!("/{bucket}"), None, false)
        .await?;
    let result = measure(&args, &target, &bucket, workers).await;
    // Clean up even after a failure, but report the failure.
    let cleaned = if args.keep {
        Ok(())
    } else {
        cleanup(&target, &bucket).await
    };
    let report = result?;
    cleaned?;
    let requests = target
        .sent
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    Ok(Report { requests, ..report })
}

async fn measure(args: &BenchArgs, target: &Arc<Target>, bucket: &str, workers: usize) -> Result<Report, BenchError> {
    let payload = Payload::new(args.text);
    let to_prepare = match args.op {
        Op::Put => 0,
        Op::Delete => args.objects.or(args.count).unwrap_or(1000),
        Op::List => args.objects.unwrap_or(10_000),
        Op::Get | Op::Mixed => args.objects.unwrap_or(64.max(workers as u64 * 2)),
    } as usize;
    let prepared: Vec<String> = (0..to_prepare).map(|i| format!("prep/{i:08}")).collect();
    let mut ctx = Ctx {
        target: target.clone(),
        bucket: bucket.to_owned(),
        payload,
        size: args.size,
        part_size: args.part_size,
        prepared,
        max_keys: args.max_keys,
        stop: Stop::At(Instant::now()),
        pace: None,
    };
    {
        // Listing needs many keys, not big ones.
        let prep_size = if args.op == Op::List { 0 } else { args.size };
        let shared = Arc::new(Ctx {
            prepared: Vec::new(),
            size: prep_size,
            stop: Stop::At(Instant::now()),
            ..ctx.clone_light()
        });
        let keys = Arc::new(ctx.prepared.clone());
        parallel(target, workers, keys.len(), move |mut c, i| {
            let (shared, keys) = (shared.clone(), keys.clone());
            async move {
                put(&mut c, &shared, &keys[i], u64::MAX - i as u64).await?;
                Ok(c)
            }
        })
        .await?;
    }
    ctx.stop = match (args.count, args.duration) {
        (Some(n), _) => Stop::Count {
            issued: AtomicU64::new(0),
            limit: n,
        },
        (None, d) => Stop::At(Instant::now() + d.unwrap_or(Duration::from_secs(10))),
    };
    ctx.pace = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(workers as f64 / r));
    let ctx = Arc::new(ctx);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..workers {
        set.spawn(worker(w, workers, ctx.clone(), args.op));
    }
    let mut merged: BTreeMap<&'static str, Samples> = BTreeMap::new();
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| BenchError::Other(e.to_string()))? {
            Ok(samples) => {
                for (k, s) in samples {
                    merged.entry(k).or_default().merge(s);
                }
            }
            Err(e) => {
                set.abort_all();
                return Err(e);
            }
        }
    }
    let elapsed = started.elapsed();
    Ok(Report {
        endpoint: args.endpoint.join(","),
        op: format!("{:?}", args.op).to_lowercase(),
        workers,
        object_size: args.size,
        elapsed_secs: elapsed.as_secs_f64(),
        operations: merged
            .into_iter()
            .map(|(k, s)| (k.to_owned(), OpFigures::from(s, elapsed)))
            .collect(),
        requests: BTreeMap::new(),
    })
}

impl Ctx {
    /// The same target, bucket, payload and sizes, without the prepared keys.
    fn clone_light(&self) -> Ctx {
        Ctx {
            target: self.target.clone(),
            bucket: self.bucket.clone(),
            payload: self.payload.clone(),
            size: self.size,
            part_size: self.part_size,
            prepared: Vec::new(),
            max_keys: self.max_keys,
            stop: Stop::At(Instant::now()),
            pace: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn xml_tags() {
        let xml = "<R><Key>a</Key><Key>b&amp;</Key><NextContinuationToken>t</NextContinuationToken></R>";
        assert_eq!(tags(xml, "Key"), ["a", "b&amp;"]);
        assert_eq!(tag(xml, "NextContinuationToken"), Some("t"));
        assert_eq!(tag(xml, "Missing"), None);
    }
}
