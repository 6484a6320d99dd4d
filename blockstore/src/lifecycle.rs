//! Lifecycle: one pass over a bucket applies its rules to what they cover. Current
//! versions expire (a delete marker in a versioned bucket, a delete in one never
//! versioned), noncurrent versions and lone delete markers are removed, and stale
//! multipart uploads are aborted. Object Lock is asked before every removal.
//!
//! Replicating sites each run their own passes over the same versions. What a pass
//! makes is derived from the version it acts on (the time it expires, its own stamp and
//! site), never from the site or the clock of the pass, so two sites expiring the same
//! version make the same marker or the same delete, and applying the other's changes
//! nothing.

use crate::engine::Tree;
use crate::error::{Error, Result};
use crate::hlc::Hlc;
use crate::keys::{object_key, version_id};
use crate::meta::decode;
use crate::object_lock::{may_remove, Remover};
use crate::records::{LifecycleRule, Manifest, ObjectState, SiteId, Upload, Versioning};
use crate::store::Store;

/// Marks the site id of what lifecycle derives: no real site's id (drawn at random) is
/// one another site's with its top bit flipped, so a derived stamp never equals a
/// version's.
const DERIVED: u64 = 1 << 63;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LifecycleReport {
    /// Current versions expired (a marker added, or the object deleted).
    pub expired: u64,
    pub noncurrent_removed: u64,
    pub markers_removed: u64,
    pub uploads_aborted: u64,
    /// Versions due for removal that Object Lock kept.
    pub locked_kept: u64,
}

impl LifecycleReport {
    pub fn add(&mut self, o: LifecycleReport) {
        self.expired += o.expired;
        self.noncurrent_removed += o.noncurrent_removed;
        self.markers_removed += o.markers_removed;
        self.uploads_aborted += o.uploads_aborted;
        self.locked_kept += o.locked_kept;
    }
}

/// `ms` rounded up to the next whole lifecycle day, as S3 rounds to the next midnight.
fn day_end(ms: u64, day_ms: u64) -> u64 {
    ms.div_ceil(day_ms) * day_ms
}

impl LifecycleRule {
    /// Whether the rule covers a version (a delete marker has no size or tags: only
    /// the prefix counts for it).
    pub fn covers(&self, m: &Manifest) -> bool {
        if !self.enabled || !m.key.starts_with(&self.prefix) {
            return false;
        }
        if !m.is_live() {
            return self.tags.is_empty() && self.size_greater_than.is_none() && self.size_less_than.is_none();
        }
        self.tags.iter().all(|t| m.headers.tags.contains(t))
            && self.size_greater_than.is_none_or(|n| m.size > n)
            && self.size_less_than.is_none_or(|n| m.size < n)
    }

    /// When the current version `m` expires by this rule, if it does.
    pub fn expiry(&self, m: &Manifest, day_ms: u64) -> Option<u64> {
        if !self.covers(m) || !m.is_live() {
            return None;
        }
        let by_days = self
            .expiration_days
            .map(|d| day_end(m.last_modified_ms + u64::from(d) * day_ms, day_ms));
        by_days.into_iter().chain(self.expiration_date_ms).min()
    }
}

/// The rule that expires `m` first, and when (`x-amz-expiration`).
pub fn next_expiry<'a>(rules: &'a [LifecycleRule], m: &Manifest, day_ms: u64) -> Option<(u64, &'a str)> {
    rules
        .iter()
        .filter_map(|r| r.expiry(m, day_ms).map(|at| (at, r.id.as_str())))
        .min()
}

/// A stamp for what lifecycle derives from `m` at `at_ms`: after `m`'s own, the same
/// on every site.
fn derived_stamp(m: &Manifest, at_ms: u64) -> (Hlc, SiteId) {
    (Hlc((at_ms << 16).max(m.hlc.0 + 1)), SiteId(m.site.0 ^ DERIVED))
}

impl Store {
    /// Every bucket that has lifecycle rules.
    pub fn buckets_with_lifecycle(&self) -> Result<Vec<crate::records::Bucket>> {
        Ok(self
            .meta
            .scan::<crate::records::Bucket>(Tree::Buckets, b"")?
            .into_iter()
            .map(|(_, b)| b)
            .filter(|b| !b.lifecycle.is_empty())
            .collect())
    }

    /// One lifecycle pass over `bucket` at `now_ms`, a lifecycle day lasting `day_ms`.
    pub fn lifecycle_pass(&self, bucket: &str, now_ms: u64, day_ms: u64) -> Result<LifecycleReport> {
        let Some(b) = self.bucket(bucket)? else {
            return Ok(LifecycleReport::default());
        };
        let rules = b.lifecycle.clone();
        let mut report = LifecycleReport::default();
        let mut group: Vec<Manifest> = Vec::new();
        let walk = self.version_walk(bucket, &object_key(bucket, ""))?;
        for m in walk {
            let m = m?;
            if group.first().is_some_and(|g| g.key != m.key) {
                report.add(self.expire_key(&b.versioning, &rules, &group, now_ms, day_ms)?);
                group.clear();
            }
            group.push(m);
        }
        if !group.is_empty() {
            report.add(self.expire_key(&b.versioning, &rules, &group, now_ms, day_ms)?);
        }
        report.uploads_aborted = self.abort_stale_uploads(bucket, &rules, now_ms, day_ms)?;
        Ok(report)
    }

    /// The rules applied to one key's versions (newest first).
    fn expire_key(
        &self,
        versioning: &Versioning,
        rules: &[LifecycleRule],
        versions: &[Manifest],
        now_ms: u64,
        day_ms: u64,
    ) -> Result<LifecycleReport> {
        let mut report = LifecycleReport::default();
        let current = &versions[0];
        // The current version expires: a marker on top, or (never versioned) a delete.
        if let Some((at, _)) = next_expiry(rules, current, day_ms).filter(|(at, _)| *at <= now_ms) {
            let (hlc, site) = derived_stamp(current, at);
            let mut made = Manifest::tombstone(&current.bucket, &current.key, hlc, site);
            match versioning {
                Versioning::Unversioned => {}
                Versioning::Enabled => {
                    made.state = ObjectState::DeleteMarker;
                    made.version_id = version_id((hlc, site));
                }
                Versioning::Suspended => made.state = ObjectState::DeleteMarker,
            }
            if self.apply_derived(&made, current)? {
                report.expired += 1;
            }
            return Ok(report);
        }
        // A delete marker with nothing under it.
        if versions.len() == 1 && current.is_delete_marker() {
            let due = rules
                .iter()
                .any(|r| r.expired_object_delete_marker && r.covers(current));
            if due {
                let (hlc, site) = derived_stamp(current, current.last_modified_ms);
                let grave = Manifest::version_tombstone(&current.bucket, &current.key, &current.version_id, hlc, site);
                if self.apply_derived(&grave, current)? {
                    report.markers_removed += 1;
                }
            }
            return Ok(report);
        }
        // Noncurrent versions: each stopped being current when the next newer was made.
        for (i, m) in versions.iter().enumerate().skip(1) {
            let since = versions[i - 1].created.0.millis();
            let due = rules.iter().any(|r| {
                let Some(days) = r.noncurrent_days.filter(|_| r.covers(m)) else {
                    return false;
                };
                let keep = r.newer_noncurrent_versions.unwrap_or(0) as usize;
                // i - 1 noncurrent versions are newer than this one.
                i > keep && day_end(since + u64::from(days) * day_ms, day_ms) <= now_ms
            });
            if !due {
                continue;
            }
            if may_remove(m, now_ms, Remover::Lifecycle).is_err() {
                report.locked_kept += 1;
                continue;
            }
            let (hlc, site) = derived_stamp(m, since);
            let grave = Manifest::version_tombstone(&m.bucket, &m.key, &m.version_id, hlc, site);
            if self.apply_derived(&grave, m)? {
                report.noncurrent_removed += 1;
            }
        }
        Ok(report)
    }

    /// Installs what lifecycle derived from `from` (a marker, or the delete of a
    /// version), unless `from` changed since it was read or the change is already here
    /// (another site's pass made it first). Whether it was installed here.
    fn apply_derived(&self, made: &Manifest, from: &Manifest) -> Result<bool> {
        let incoming = (made.hlc, made.site);
        self.meta
            .commit_in(&made.bucket, &made.key, crate::hlc::now_millis(), |tx| {
                let now = tx.version(&from.bucket, &from.key, Some(&from.version_id))?;
                if now.as_ref().map(|n| (n.hlc, n.site)) != Some((from.hlc, from.site)) {
                    return Ok(false);
                }
                if made.is_gone() {
                    may_remove(from, crate::hlc::now_millis(), Remover::Lifecycle)?;
                }
                if tx.synced_version(&made.sync_key())?.is_some_and(|v| v >= incoming) {
                    return Ok(false);
                }
                tx.install(made)?;
                Ok(true)
            })
            .or_else(|e| match e {
                Error::ObjectLocked(_) => Ok(false),
                e => Err(e),
            })
    }

    /// Aborts the bucket's multipart uploads a rule says are stale.
    fn abort_stale_uploads(&self, bucket: &str, rules: &[LifecycleRule], now_ms: u64, day_ms: u64) -> Result<u64> {
        let stale: Vec<Upload> = self
            .meta
            .bucket_scan(bucket, Tree::Uploads, &object_key(bucket, ""))?
            .map(|r| r.and_then(|(_, v)| decode::<Upload>(&v)))
            .filter(|u| {
                u.as_ref().map_or(true, |u| {
                    rules.iter().any(|r| {
                        r.enabled
                            && u.key.starts_with(&r.prefix)
                            && r.abort_incomplete_upload_days
                                .is_some_and(|d| day_end(u.initiated_ms + u64::from(d) * day_ms, day_ms) <= now_ms)
                    })
                })
            })
            .collect::<Result<_>>()?;
        let mut aborted = 0;
        for u in &stale {
            match self.abort_upload(&u.bucket, &u.key, &u.id) {
                Ok(()) => aborted += 1,
                Err(Error::NoSuchUpload) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(aborted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rounds_up_to_the_next_day() {
        let rule = LifecycleRule {
            enabled: true,
            expiration_days: Some(2),
            ..Default::default()
        };
        let mut m = Manifest::tombstone("b", "k", Hlc(1), SiteId(1));
        m.state = ObjectState::Active;
        m.last_modified_ms = 1_500;
        assert_eq!(rule.expiry(&m, 1000), Some(4000));
        let dated = LifecycleRule {
            expiration_date_ms: Some(3000),
            ..rule.clone()
        };
        assert_eq!(dated.expiry(&m, 1000), Some(3000));
        let tagged = LifecycleRule {
            tags: vec![("t".into(), "v".into())],
            ..rule
        };
        assert_eq!(tagged.expiry(&m, 1000), None);
    }

    #[test]
    fn a_derived_stamp_follows_its_version_and_is_no_sites() {
        let mut m = Manifest::tombstone("b", "k", Hlc(10 << 16), SiteId(7));
        m.hlc = Hlc(50 << 16);
        let (hlc, site) = derived_stamp(&m, 20);
        assert!(hlc > m.hlc && site != m.site);
        assert_eq!(derived_stamp(&m, 20), (hlc, site));
        assert_eq!(derived_stamp(&m, 90).0, Hlc(90 << 16));
    }
}
