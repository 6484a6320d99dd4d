//! `strata repl verify SINK`: compares what this site and a sink hold, record by
//! record (every live key's version, size, ETag and block list; users and buckets with
//! all their settings), and reports each difference with its key. The hash tree's
//! versions say whether fullsync has work; this reads the records themselves, so it
//! also catches two sites holding different bytes under one version.
//!
//! The walk goes one group of partitions at a time (1/64 of the keys), so memory stays
//! bounded by a group whatever the site's size. `--blocks` also asks the sink which
//! blocks of the objects both hold it lacks; `--repair` sends this site's record (with
//! its blocks) for each difference, which the sink applies by last-writer-wins.

use crate::error::Result;
use crate::peer::{put_json, verify_key, Peer};
use crate::protocol::{self, BlockList};
use crate::sender::{deliver, hello, MAX_ENTRIES};
use crate::site::Site;
use crate::verify_record::{Difference, VerifyReport, SHOWN};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use strata_blockstore::{now_millis, Change, RecordSummary, GROUPS, GROUP_SIZE};

/// Block names asked about per request.
const BLOCKS_PER_ASK: usize = 4096;

pub async fn run(site: &Arc<Site>, peer: &Arc<Peer>, repair: bool, blocks: bool) -> Result<VerifyReport> {
    let link = peer.link();
    hello(&link, site, peer).await?;
    let mut report = VerifyReport {
        sink: peer.name.clone(),
        started_ms: now_millis(),
        repair,
        blocks,
        ..VerifyReport::default()
    };
    let mut exchanged = 0u64;
    for g in 0..GROUPS {
        let partitions: Vec<u16> = (g * GROUP_SIZE..(g + 1) * GROUP_SIZE).collect();
        let body = bincode::serialize(&(&partitions, false)).expect("serializes");
        let theirs: Vec<RecordSummary> = link.call_bincode(protocol::SYNC_RECORDS, body, &mut exchanged).await?;
        let mine = site.store.run(move |s| s.record_summaries(&partitions, blocks)).await?;
        let theirs: BTreeMap<String, RecordSummary> = theirs.into_iter().map(|s| (s.key.clone(), s)).collect();
        let mine: BTreeMap<String, RecordSummary> = mine.into_iter().map(|s| (s.key.clone(), s)).collect();
        let mut to_repair: Vec<String> = Vec::new();
        let mut same_objects: Vec<&RecordSummary> = Vec::new();
        let keys: BTreeSet<&String> = mine.keys().chain(theirs.keys()).collect();
        for key in keys {
            let (a, b) = (mine.get(key), theirs.get(key));
            let Some(found) = compare(key, a, b) else {
                if a.is_some_and(|a| a.live) {
                    report.keys_compared += 1;
                    same_objects.extend(a.filter(|a| !a.blocks.is_empty()));
                }
                continue;
            };
            report.keys_compared += 1;
            note(&mut report, found);
            // This site's record, tombstone or grave is what repair sends; a key
            // only the sink ever had is left alone.
            if a.is_some() {
                to_repair.push(key.clone());
            }
        }
        let mut lacking = Vec::new();
        if blocks {
            lacking = missing_blocks(&link, &same_objects, &mut report).await?;
            to_repair.extend(lacking.iter().cloned());
        }
        if repair && !to_repair.is_empty() {
            report.repaired += resend(site, peer, to_repair, &lacking).await?;
        }
    }
    report.ended_ms = now_millis();
    tracing::info!(
        sink = %peer.name,
        keys = report.keys_compared,
        differences = report.differences,
        repaired = report.repaired,
        ms = report.ended_ms - report.started_ms,
        "verify done"
    );
    let (key, saved) = (verify_key(&peer.name), report.clone());
    site.store.run(move |s| put_json(s, &key, &saved)).await?;
    Ok(report)
}

fn note(report: &mut VerifyReport, d: Difference) {
    report.differences += 1;
    if report.shown.len() < SHOWN {
        report.shown.push(d);
    }
}

fn version(s: &RecordSummary) -> String {
    format!("{}.{}@{}", s.hlc.millis(), s.hlc.0 & 0xffff, s.site)
}

/// How `key` differs between this site (`a`) and the sink (`b`), if it does. Only live
/// records count: a tombstone or grave on one side and nothing on the other agree.
fn compare(key: &str, a: Option<&RecordSummary>, b: Option<&RecordSummary>) -> Option<Difference> {
    let diff = |kind: &str, detail: String| {
        Some(Difference {
            key: key.to_owned(),
            kind: kind.to_owned(),
            detail,
        })
    };
    match (a.filter(|s| s.live), b.filter(|s| s.live)) {
        (None, None) => None,
        (Some(a), None) => diff(
            "missing",
            match b {
                Some(b) => format!("deleted on the sink at {}, live here at {}", version(b), version(a)),
                None => format!("not on the sink; here {}", version(a)),
            },
        ),
        (None, Some(b)) => diff(
            "extra",
            match a {
                Some(a) => format!("live on the sink at {}, deleted here at {}", version(b), version(a)),
                None => format!("only on the sink, at {}", version(b)),
            },
        ),
        (Some(a), Some(b)) if a.record == b.record => None,
        (Some(a), Some(b)) => {
            let mut what = Vec::new();
            if (a.hlc, a.site) != (b.hlc, b.site) {
                what.push(format!("version {} here, {} there", version(a), version(b)));
            }
            if a.size != b.size {
                what.push(format!("size {} here, {} there", a.size, b.size));
            }
            if a.etag != b.etag {
                what.push(format!("ETag {} here, {} there", a.etag, b.etag));
            }
            if a.data != b.data {
                what.push("block lists differ".to_owned());
            }
            if what.is_empty() {
                what.push("metadata or settings differ".to_owned());
            }
            diff("differs", what.join("; "))
        }
    }
}

/// Asks the sink which blocks of `objects` (held the same on both sites) it lacks;
/// notes each object missing some and returns their keys.
async fn missing_blocks(
    link: &crate::link::Link,
    objects: &[&RecordSummary],
    report: &mut VerifyReport,
) -> Result<Vec<String>> {
    let mut owners: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for o in objects {
        for b in &o.blocks {
            owners.entry(b.hash.to_hex()).or_default().push(&o.key);
        }
    }
    report.blocks_checked += owners.len() as u64;
    let names: Vec<String> = owners.keys().cloned().collect();
    let mut lacking: BTreeMap<&str, u64> = BTreeMap::new();
    for chunk in names.chunks(BLOCKS_PER_ASK) {
        let body = serde_json::to_vec(&BlockList { blocks: chunk.to_vec() }).expect("serializes");
        let answer = link.call("POST", protocol::MISSING_BLOCKS, body.into()).await?;
        let missing: BlockList = serde_json::from_slice(&answer)
            .map_err(|e| crate::error::ReplError::Protocol(format!("bad block list: {e}")))?;
        for hex in &missing.blocks {
            for key in owners.get(hex).into_iter().flatten() {
                *lacking.entry(key).or_default() += 1;
            }
        }
    }
    for (key, n) in &lacking {
        note(
            report,
            Difference {
                key: (*key).to_owned(),
                kind: "missing-blocks".into(),
                detail: format!("{n} block(s) absent on the sink"),
            },
        );
    }
    Ok(lacking.keys().map(|k| (*k).to_owned()).collect())
}

/// Sends this site's record of each key (blocks first where the sink streams blocks,
/// and always for `lacking`); returns how many records went.
async fn resend(site: &Arc<Site>, peer: &Arc<Peer>, keys: Vec<String>, lacking: &[String]) -> Result<u64> {
    let changes: Vec<(Change, bool)> = {
        let lacking: BTreeSet<String> = lacking.iter().cloned().collect();
        site.store
            .run(move |s| {
                let mut out = Vec::new();
                for k in keys {
                    out.extend(s.current_change(&k)?.map(|c| (c, lacking.contains(&k))));
                }
                Ok::<_, crate::error::ReplError>(out)
            })
            .await?
    };
    let streams_blocks = peer.sink_settings().is_some_and(|s| s.blocks);
    let (with_blocks, plain): (Vec<_>, Vec<_>) = changes.into_iter().partition(|(_, lack)| *lack || streams_blocks);
    let link = peer.link();
    let mut sent = 0u64;
    for (group, blocks) in [(with_blocks, true), (plain, false)] {
        let group: Vec<Change> = group.into_iter().map(|(c, _)| c).collect();
        for batch in group.chunks(MAX_ENTRIES) {
            deliver(site, peer, &link, batch.to_vec(), Vec::new(), blocks).await?;
            sent += batch.len() as u64;
        }
    }
    Ok(sent)
}
