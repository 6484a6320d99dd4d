//! Versions of an object. A key whose every version has been `null` (all keys of a
//! bucket never versioned) keeps that one version in the objects tree alone, as before
//! versioning existed. Once a key has another version (or a null delete marker), every
//! version of it, markers included, is a record of the versions tree, newest first by
//! when and where it was made, and a small list of them (the key's `VersionList`) lets
//! a commit find the newest and the null version without a scan. The objects tree then
//! holds a copy of the newest version when it has data, so GET, HEAD, ListObjects and
//! the emptiness of a bucket read one tree as before; the versions tree's record holds
//! the references on the blocks.
//!
//! Each version is an entry of its own in the sync tree (`Manifest::sync_key`): the
//! null version under the key's plain sync key, the others under their id. A version's
//! bytes never change; its ACL and tags are last-writer-wins on its record; the delete
//! of one version leaves a grave under its sync key. Every site orders a key's
//! versions by `created`, so every site agrees on which is current.

use crate::engine::{Tree, TxResult};
use crate::error::{Error, Result};
use crate::hlc::Hlc;
use crate::keys::{object_key, parse_version_id, version_id, version_key, NULL_VERSION};
use crate::meta::{decode, Tx};
use crate::records::{Manifest, SiteId};
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// The versions a key has, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct VersionList {
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Slot {
    created: (Hlc, SiteId),
    null: bool,
    marker: bool,
}

impl VersionList {
    /// Where the version `m` names is (the null slot for a null version).
    fn position_of(&self, m: &Manifest) -> Option<usize> {
        let null = m.is_null();
        self.slots
            .iter()
            .position(|s| s.null == null && (null || s.created == m.created))
    }
}

impl Tx<'_> {
    /// Makes `m` (a version, a delete marker, or the delete of a version) part of its
    /// key: the version it replaces (the same id, or the null version) releases its
    /// blocks, the newest version becomes the key's current one, and the change is
    /// logged. The caller has judged `m` newer than what its sync key holds. A delete
    /// needs no bucket (one deleted since keeps its grave); anything else needs its
    /// shard open (the bucket's existence is the root's, read before the commit: a
    /// bucket delete closes the shard before it removes the bucket).
    pub(crate) fn install(&self, m: &Manifest) -> TxResult<()> {
        if !m.is_gone() {
            self.require_open()?;
        }
        let k = object_key(&m.bucket, &m.key);
        let list = self.get::<VersionList>(Tree::VersionLists, &k)?;
        if list.is_none() && m.is_null() && !m.is_delete_marker() {
            return self.install_manifest(m);
        }
        let mut list = match list {
            Some(list) => list,
            None => self.start_versions(&k, m)?,
        };
        let replaced = list.position_of(m);
        let was_current = replaced == Some(0);
        if let Some(i) = replaced {
            let vk = version_key(&m.bucket, &m.key, list.slots[i].created);
            if let Some(old) = self.get::<Manifest>(Tree::Versions, &vk)? {
                self.release_refs(&old.blocks)?;
            }
            self.remove(Tree::Versions, &vk)?;
            list.slots.remove(i);
        }
        let mut is_current = false;
        if !m.is_gone() {
            self.add_refs(&m.blocks)?;
            self.put(Tree::Versions, &version_key(&m.bucket, &m.key, m.created), m)?;
            let at = list
                .slots
                .iter()
                .position(|s| s.created < m.created)
                .unwrap_or(list.slots.len());
            list.slots.insert(
                at,
                Slot {
                    created: m.created,
                    null: m.is_null(),
                    marker: m.is_delete_marker(),
                },
            );
            is_current = at == 0;
        }
        if is_current || was_current {
            match list.slots.first() {
                Some(s) if s.marker => self.remove(Tree::Objects, &k)?,
                Some(_) if is_current => self.put(Tree::Objects, &k, m)?,
                Some(s) => {
                    let vk = version_key(&m.bucket, &m.key, s.created);
                    let current = self
                        .get::<Manifest>(Tree::Versions, &vk)?
                        .ok_or_else(|| Error::Db("a listed version has no record".into()))?;
                    self.put(Tree::Objects, &k, &current)?;
                }
                None => self.remove(Tree::Objects, &k)?,
            }
        }
        match list.slots.is_empty() {
            true => self.remove(Tree::VersionLists, &k)?,
            false => self.put(Tree::VersionLists, &k, &list)?,
        }
        self.index_object(m)?;
        self.log(&crate::records::Change::Object(Box::new(m.clone())))
    }

    /// A key's first version other than `null`: its null version, if it has one in the
    /// objects tree, becomes the first record of its versions (its references with it).
    fn start_versions(&self, k: &[u8], m: &Manifest) -> TxResult<VersionList> {
        let mut list = VersionList::default();
        if let Some(null) = self.get::<Manifest>(Tree::Objects, k)? {
            self.put(Tree::Versions, &version_key(&m.bucket, &m.key, null.created), &null)?;
            list.slots.push(Slot {
                created: null.created,
                null: true,
                marker: false,
            });
        }
        Ok(list)
    }

    /// The newest version's creation time, if the key has versions.
    fn newest_version(&self, bucket: &str, key: &str) -> TxResult<Option<Hlc>> {
        Ok(self
            .get::<VersionList>(Tree::VersionLists, &object_key(bucket, key))?
            .and_then(|l| l.slots.first().map(|s| s.created.0)))
    }

    /// Stamps a new version of its key made here (a write, a delete marker, or the
    /// delete of the null version) and installs it: after every version the key holds,
    /// so it is the newest; an empty `version_id` takes the id of its stamp.
    pub(crate) fn install_new(&self, m: &Manifest, site: SiteId) -> TxResult<Manifest> {
        let mut m = m.clone();
        let after = [
            self.newest_version(&m.bucket, &m.key)?,
            self.synced_version(&m.sync_key())?.map(|v| v.0),
        ];
        m.hlc = self.clock.now_after(after.into_iter().flatten().max());
        m.site = site;
        m.created = (m.hlc, site);
        if !m.is_live() {
            // A delete marker was made when it was stamped.
            m.last_modified_ms = m.hlc.millis();
        }
        if m.version_id.is_empty() {
            m.version_id = version_id(m.created);
        }
        self.install(&m)?;
        Ok(m)
    }

    /// Stamps a change to an existing version made here (its ACL or tags, or its
    /// delete) and installs it; the version keeps its id and place.
    pub(crate) fn install_change(&self, m: &Manifest, site: SiteId) -> TxResult<Manifest> {
        let mut m = m.clone();
        m.hlc = self.stamp(&m.sync_key())?;
        m.site = site;
        self.install(&m)?;
        Ok(m)
    }

    /// The version `version_id` of a key (None: the current one), as stored.
    pub(crate) fn version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> TxResult<Option<Manifest>> {
        let k = object_key(bucket, key);
        let list = self.get::<VersionList>(Tree::VersionLists, &k)?;
        match pick(list.as_ref(), version_id) {
            Pick::Objects => self.get(Tree::Objects, &k),
            Pick::Version(created) => self.get(Tree::Versions, &version_key(bucket, key, created)),
            Pick::None => Ok(None),
        }
    }
}

/// Where a version of a key is stored.
enum Pick {
    /// In the objects tree: the key has only its null version.
    Objects,
    Version((Hlc, SiteId)),
    None,
}

/// Where the version `version_id` (None: the current) of a key with versions `list` is.
fn pick(list: Option<&VersionList>, version_id: Option<&str>) -> Pick {
    let Some(list) = list else {
        return match version_id {
            None | Some(NULL_VERSION) => Pick::Objects,
            Some(_) => Pick::None,
        };
    };
    let slot = match version_id {
        None => list.slots.first(),
        Some(NULL_VERSION) => list.slots.iter().find(|s| s.null),
        Some(id) => {
            let created = parse_version_id(id);
            list.slots.iter().find(|s| !s.null && Some(s.created) == created)
        }
    };
    slot.map_or(Pick::None, |s| Pick::Version(s.created))
}

/// A client's version id: `null` or one of ours; anything else is refused as S3 does.
pub fn check_version_id(id: &str) -> Result<()> {
    if id == NULL_VERSION || parse_version_id(id).is_some() {
        return Ok(());
    }
    Err(Error::InvalidArgument("Invalid version id specified".into()))
}

impl Store {
    /// A version of a key: the current one (`None`), or the one named. The current
    /// version being a delete marker reads as NoSuchKey carrying the marker, a marker
    /// named by id as MethodNotAllowed, as S3 answers.
    pub fn object_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Manifest> {
        if let Some(id) = version_id {
            check_version_id(id)?;
        }
        if self.bucket(bucket)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        let found = self.stored_version(bucket, key, version_id)?;
        match (found, version_id) {
            (Some(m), _) if m.is_live() => Ok(m),
            (Some(m), None) => Err(Error::DeleteMarker {
                version_id: m.version_id,
                named: false,
            }),
            (Some(m), Some(_)) => Err(Error::DeleteMarker {
                version_id: m.version_id,
                named: true,
            }),
            (None, None) => Err(Error::NoSuchKey),
            (None, Some(_)) => Err(Error::NoSuchVersion),
        }
    }

    /// Deletes exactly one version of a key (DELETE with `versionId`): its record goes
    /// and a grave of it carries the delete to other sites; the next newest becomes
    /// current. Deleting a delete marker undeletes. Returns the version deleted (None:
    /// there was none of that id, which succeeds, as in S3).
    /// With `if_match`, the version's ETag must be it (`*`: any). A version Object
    /// Lock keeps is refused (see `object_lock`), `who` saying what may yield.
    pub fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        if_match: Option<&str>,
        who: crate::object_lock::Remover,
    ) -> Result<Option<Manifest>> {
        check_version_id(id)?;
        self.require_bucket(bucket)?;
        let site = self.site_id();
        self.meta.commit_in(bucket, key, crate::hlc::now_millis(), |tx| {
            let Some(found) = tx.version(bucket, key, Some(id))? else {
                return match if_match {
                    Some(_) => crate::meta::abort(Error::NoSuchVersion),
                    None => Ok(None),
                };
            };
            if let Some(e) = if_match {
                if e != "*" && e.trim_matches('"') != found.etag {
                    return crate::meta::abort(Error::PreconditionFailed);
                }
            }
            crate::object_lock::may_remove(&found, crate::hlc::now_millis(), who)?;
            let mut tomb = Manifest::version_tombstone(bucket, key, &found.version_id, Hlc(0), site);
            tomb.created = found.created;
            tx.install_change(&tomb, site)?;
            Ok(Some(found))
        })
    }

    /// ListObjectVersions: the versions of the bucket's keys under `q.prefix`, keys in
    /// order and each key's versions newest first, grouped by `q.delimiter`, resuming
    /// after `key_marker` (all its versions, or those up to `version_marker`).
    pub fn list_versions(
        &self,
        bucket: &str,
        q: &crate::listing::ListQuery,
        version_marker: Option<&str>,
    ) -> Result<VersionPage> {
        if self.bucket(bucket)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        let mut page = VersionPage::default();
        if q.max == 0 {
            return Ok(page);
        }
        let prefix_key = object_key(bucket, q.prefix);
        let delimiter = q.delimiter.filter(|d| !d.is_empty());
        let common_of = |key: &str| -> Option<String> {
            let rest = key.get(q.prefix.len()..)?;
            delimiter.and_then(|d| rest.find(d).map(|i| key[..q.prefix.len() + i + d.len()].to_owned()))
        };
        // Past a whole common prefix: no key (UTF-8) holds the byte 0xff.
        let past_prefix = |cp: &str| {
            let mut k = object_key(bucket, cp);
            k.push(0xff);
            k
        };
        let marker = q.after;
        let mut from = if marker.is_empty() || marker < q.prefix {
            prefix_key.clone()
        } else if let Some(cp) = common_of(marker) {
            past_prefix(&cp)
        } else {
            self.resume_point(bucket, marker, version_marker)?
        };
        // The first versions of the marker's key seen after its version marker are
        // not its newest.
        let mut last_key: Option<String> = version_marker.map(|_| marker.to_owned());
        'walk: loop {
            let walk = self.version_walk(bucket, &from)?;
            for m in walk {
                let m = m?;
                let k = object_key(bucket, &m.key);
                if !k.starts_with(&prefix_key) {
                    break 'walk;
                }
                if let Some(cp) = common_of(&m.key) {
                    if page.entries.len() == q.max {
                        page.truncated = true;
                        break 'walk;
                    }
                    page.entries.push(VersionEntry::Prefix(cp.clone()));
                    from = past_prefix(&cp);
                    continue 'walk;
                }
                if page.entries.len() == q.max {
                    page.truncated = true;
                    break 'walk;
                }
                let latest = last_key.as_deref() != Some(m.key.as_str());
                last_key = Some(m.key.clone());
                page.entries.push(VersionEntry::Version {
                    version: Box::new(m),
                    latest,
                });
            }
            break;
        }
        Ok(page)
    }

    /// Where a listing resumes after `key` (all its versions, or those up to and
    /// including `version`): a bound in both trees' key space.
    fn resume_point(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<Vec<u8>> {
        let created = match version {
            None => None,
            Some(NULL_VERSION) => self.null_created(bucket, key)?,
            Some(id) => parse_version_id(id),
        };
        Ok(match created {
            Some(created) => {
                let mut k = version_key(bucket, key, created);
                k.push(0);
                k
            }
            None => {
                // Past the key's record (`b/k`) and its versions (`b/k\0...`).
                let mut k = object_key(bucket, key);
                k.push(1);
                k
            }
        })
    }

    /// Every version of the bucket's keys from `from`, in listing order: the objects
    /// tree's records (keys with only a null version) merged with the versions tree's
    /// (whose keys' objects records are copies, skipped).
    pub(crate) fn version_walk(&self, bucket: &str, from: &[u8]) -> Result<impl Iterator<Item = Result<Manifest>>> {
        use std::ops::Bound;
        let objects = self
            .meta
            .bucket_range(bucket, Tree::Objects, Bound::Included(from), Bound::Unbounded)?
            .peekable();
        let versions = self
            .meta
            .bucket_range(bucket, Tree::Versions, Bound::Included(from), Bound::Unbounded)?
            .peekable();
        Ok(VersionWalk { objects, versions })
    }

    /// Sets a version's retention (PutObjectRetention) or legal hold
    /// (PutObjectLegalHold) by `change`, which refuses what Object Lock forbids.
    pub fn lock_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        change: impl Fn(&mut crate::records::VersionLock) -> Result<()> + Sync,
    ) -> Result<Manifest> {
        if let Some(id) = version {
            check_version_id(id)?;
        }
        let site = self.site_id();
        self.meta.commit_in(bucket, key, crate::hlc::now_millis(), |tx| {
            let Some(mut m) = tx.version(bucket, key, version)?.filter(|m| m.is_live()) else {
                return crate::meta::abort(match version {
                    Some(_) => Error::NoSuchVersion,
                    None => Error::NoSuchKey,
                });
            };
            change(&mut m.headers.lock)?;
            tx.install_change(&m, site)
        })
    }

    /// When the null version of a key was made, if it has one among its versions.
    fn null_created(&self, bucket: &str, key: &str) -> Result<Option<(Hlc, SiteId)>> {
        let list: Option<VersionList> = self
            .meta
            .shard_of(bucket, key)?
            .get(Tree::VersionLists, &object_key(bucket, key))?;
        Ok(list.and_then(|l| l.slots.iter().find(|s| s.null).map(|s| s.created)))
    }

    /// The version `version_id` (None: the current one) of a key as stored: data, or
    /// a delete marker. A key with no version but `null` is read from the objects tree
    /// alone.
    pub(crate) fn stored_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Option<Manifest>> {
        let shard = self.meta.shard_of(bucket, key)?;
        let k = object_key(bucket, key);
        if version_id.is_none() {
            if let Some(m) = shard.get::<Manifest>(Tree::Objects, &k)? {
                return Ok(Some(m));
            }
        }
        let list: Option<VersionList> = shard.get(Tree::VersionLists, &k)?;
        match pick(list.as_ref(), version_id) {
            Pick::Objects => shard.get(Tree::Objects, &k),
            Pick::Version(created) => shard.get(Tree::Versions, &version_key(bucket, key, created)),
            Pick::None => Ok(None),
        }
    }
}

/// One page of ListObjectVersions.
#[derive(Debug, Default)]
pub struct VersionPage {
    pub entries: Vec<VersionEntry>,
    /// More entries follow the last one returned.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionEntry {
    /// A version or delete marker; `latest`: its key's current version.
    Version { version: Box<Manifest>, latest: bool },
    /// A common prefix.
    Prefix(String),
}

/// See [`Store::version_walk`].
struct VersionWalk {
    objects: std::iter::Peekable<crate::engine::Scan<'static>>,
    versions: std::iter::Peekable<crate::engine::Scan<'static>>,
}

/// The key a versions-tree key is of: without `\0` and the 16 bytes of order.
fn versioned_key(k: &[u8]) -> &[u8] {
    &k[..k.len().saturating_sub(17)]
}

impl Iterator for VersionWalk {
    type Item = Result<Manifest>;

    fn next(&mut self) -> Option<Result<Manifest>> {
        loop {
            let from_versions = match (self.objects.peek(), self.versions.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return self.objects.next().and_then(|r| r.err()).map(Err),
                (_, Some(Err(_))) => return self.versions.next().and_then(|r| r.err()).map(Err),
                (None, Some(Ok(_))) => true,
                (Some(Ok(_)), None) => false,
                (Some(Ok((o, _))), Some(Ok((v, _)))) => {
                    let v = versioned_key(v);
                    if o.as_slice() == v {
                        // A key with versions: its objects record is a copy of one.
                        self.objects.next();
                        continue;
                    }
                    v < o.as_slice()
                }
            };
            let next = match from_versions {
                true => self.versions.next(),
                false => self.objects.next(),
            };
            return next.map(|r| r.and_then(|(_, raw)| decode::<Manifest>(&raw)));
        }
    }
}
