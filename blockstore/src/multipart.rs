//! Multipart uploads: parts are written and committed one by one, each holding
//! references on its blocks; completing the upload turns the chosen parts into one
//! manifest in a single transaction.

use crate::engine::{Tree, TxResult};
use crate::error::{Error, Result};
use crate::hlc::now_millis;
use crate::keys::object_key;
use crate::meta::{abort, decode, Meta, Tx};
use crate::objects::Precondition;
use crate::records::{Manifest, ObjectHeaders, Part, PartSpan, Upload};
use crate::store::Store;
use crate::writer::WrittenData;
use md5::{Digest, Md5};

fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    let mut k = upload_id.as_bytes().to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// A page of in-progress uploads.
#[derive(Debug, Default)]
pub struct UploadPage {
    pub uploads: Vec<Upload>,
    pub truncated: bool,
}

impl Tx<'_> {
    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> TxResult<Upload> {
        match self.get::<Upload>(Tree::Uploads, &upload_key(bucket, key, upload_id))? {
            Some(u) => Ok(u),
            None => abort(Error::NoSuchUpload),
        }
    }

    /// Removes an upload and its parts (scanned under the commit lock), releasing the
    /// parts' blocks.
    fn drop_upload(&self, u: &Upload, parts: &[Part]) -> TxResult<()> {
        for p in parts {
            self.release_refs(&p.blocks)?;
            self.remove(Tree::Parts, &part_key(&u.id, p.number))?;
        }
        self.remove(Tree::Uploads, &upload_key(&u.bucket, &u.key, &u.id))
    }
}

impl Store {
    pub fn create_upload(&self, bucket: &str, key: &str, owner: &str, headers: ObjectHeaders) -> Result<Upload> {
        self.admit(0)?;
        let now = now_millis();
        let upload = Upload {
            id: uuid::Uuid::new_v4().to_string(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            owner: owner.to_owned(),
            initiated_ms: now,
            headers,
        };
        self.require_bucket(bucket)?;
        self.meta.commit_in(bucket, key, now, |tx| {
            tx.require_open()?;
            tx.put(Tree::Uploads, &upload_key(bucket, key, &upload.id), &upload)
        })?;
        Ok(upload)
    }

    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        self.meta
            .shard_of(bucket, key)?
            .get(Tree::Uploads, &upload_key(bucket, key, upload_id))?
            .ok_or(Error::NoSuchUpload)
    }

    /// Commits a part, replacing any earlier part with the same number.
    pub fn put_part(&self, bucket: &str, key: &str, upload_id: &str, number: u32, data: WrittenData) -> Result<Part> {
        if data.inline.is_some() {
            // Complete concatenates block lists: a part must be written with `for_part`.
            return Err(Error::InvalidArgument("a multipart part was written inline".into()));
        }
        let now = now_millis();
        let part = Part {
            number,
            size: data.size,
            etag: data.etag(),
            last_modified_ms: now,
            blocks: data.blocks.clone(),
        };
        self.meta.commit_in(bucket, key, now, |tx| {
            tx.upload(bucket, key, upload_id)?;
            let k = part_key(upload_id, number);
            if let Some(old) = tx.get::<Part>(Tree::Parts, &k)? {
                tx.release_refs(&old.blocks)?;
            }
            tx.add_refs(&part.blocks)?;
            tx.put(Tree::Parts, &k, &part)
        })?;
        data.mark_committed();
        Ok(part)
    }

    /// Parts uploaded so far, by number.
    pub fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<Part>> {
        self.upload(bucket, key, upload_id)?;
        Self::parts_of(&*self.meta.shard_of(bucket, key)?, upload_id)
    }

    /// In-progress uploads of a bucket, by key then upload id, after the markers.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        id_marker: &str,
        max: usize,
    ) -> Result<UploadPage> {
        if self.bucket(bucket)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        let mut page = UploadPage::default();
        for r in self
            .meta
            .bucket_scan(bucket, Tree::Uploads, &object_key(bucket, prefix))?
        {
            let u: Upload = decode(&r?.1)?;
            let after_marker = key_marker.is_empty()
                || u.key.as_str() > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.id.as_str() > id_marker);
            if !after_marker {
                continue;
            }
            if page.uploads.len() == max {
                page.truncated = true;
                break;
            }
            page.uploads.push(u);
        }
        Ok(page)
    }

    /// The parts of one upload. Parts are keyed by upload id then part number, so an
    /// id that is not one this store made (empty, or a prefix of real ones) would scan
    /// the parts of every upload it prefixes, under the commit lock: such an id has
    /// none. They are in the upload's shard.
    fn parts_of(shard: &Meta, upload_id: &str) -> Result<Vec<Part>> {
        if uuid::Uuid::try_parse(upload_id).map(|u| u.to_string()).as_deref() != Ok(upload_id) {
            return Ok(Vec::new());
        }
        Ok(shard
            .scan::<Part>(Tree::Parts, upload_id.as_bytes())?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    }

    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.meta.in_shard(bucket, key, |shard| {
            shard.scan_then_commit(|guard| {
                let parts = Self::parts_of(shard, upload_id)?;
                shard.commit_locked(guard, now_millis(), |tx| {
                    let u = tx.upload(bucket, key, upload_id)?;
                    tx.drop_upload(&u, &parts)
                })
            })
        })
    }

    /// Completes an upload from the listed (part number, ETag) pairs. Parts not listed
    /// are discarded. The ETag is the MD5 of the parts' binary MD5s, then `-N`.
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        chosen: &[(u32, String)],
        cond: &Precondition,
    ) -> Result<Manifest> {
        if chosen.is_empty() {
            return Err(Error::InvalidArgument("you must specify at least one part".into()));
        }
        if chosen.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::InvalidPartOrder);
        }
        let min_part = self.cfg.min_part_size;
        let template = self.new_manifest(bucket, key, ObjectHeaders::default())?;
        self.meta.in_shard(bucket, key, |shard| {
            shard.scan_then_commit(|guard| {
                let parts = Self::parts_of(shard, upload_id)?;
                shard.commit_locked(guard, template.last_modified_ms, |tx| {
                    let Some(upload) = tx.get::<Upload>(Tree::Uploads, &upload_key(bucket, key, upload_id))? else {
                        // A retry of a completion that succeeded (its answer was lost): S3
                        // answers it as it answered the first, while that version is current.
                        return match tx.get::<Manifest>(Tree::Objects, &object_key(bucket, key))? {
                            Some(m) if m.is_live() && m.upload_id.as_deref() == Some(upload_id) => Ok(m),
                            _ => abort(Error::NoSuchUpload),
                        };
                    };
                    tx.check(bucket, key, cond)?;
                    let mut m = template.clone();
                    m.upload_id = Some(upload_id.to_owned());
                    m.headers = upload.headers.clone();
                    let mut md5s = Md5::new();
                    // Every listed part must exist before sizes are judged, as S3 answers.
                    let mut found = Vec::with_capacity(chosen.len());
                    for (number, etag) in chosen {
                        let etag = etag.trim_matches('"');
                        match parts.iter().find(|p| p.number == *number && p.etag == etag) {
                            Some(p) => found.push(p),
                            None => return abort(Error::InvalidPart(*number)),
                        }
                    }
                    for (i, p) in found.into_iter().enumerate() {
                        if i + 1 < chosen.len() && p.size < min_part {
                            return abort(Error::EntityTooSmall(p.number));
                        }
                        md5s.update(hex::decode(&p.etag).unwrap_or_default());
                        m.size += p.size;
                        m.blocks.extend(p.blocks.iter().cloned());
                        m.parts.push(PartSpan {
                            number: p.number,
                            size: p.size,
                            etag: p.etag.clone(),
                            block_count: p.blocks.len() as u32,
                        });
                    }
                    m.etag = format!("{}-{}", hex::encode(md5s.finalize()), chosen.len());
                    // The manifest takes its references before the parts drop theirs, so shared
                    // blocks never touch zero.
                    let m = tx.install_new(&m, template.site)?;
                    tx.drop_upload(&upload, &parts)?;
                    Ok(m)
                })
            })
        })
    }
}
