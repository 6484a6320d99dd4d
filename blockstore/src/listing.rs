//! Listing a bucket's keys in order, with prefix, delimiter grouping and a resume point.

use crate::engine::Tree;
use crate::error::{Error, Result};
use crate::keys::object_key;
use crate::meta::decode;
use crate::records::Manifest;
use crate::store::Store;
use std::ops::Bound;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Object(Box<Manifest>),
    /// A common prefix: the key up to and including the first delimiter after the prefix.
    Prefix(String),
}

impl ListEntry {
    /// The name to resume after.
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object(m) => &m.key,
            ListEntry::Prefix(p) => p,
        }
    }
}

#[derive(Debug, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    /// More entries follow the last one returned.
    pub truncated: bool,
}

#[derive(Debug, Default, Clone)]
pub struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Resume after this key or common prefix (exclusive). A key inside a common prefix
    /// resumes after the whole prefix, which was already returned.
    pub after: &'a str,
    pub max: usize,
}

impl Store {
    pub fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        if self.bucket(bucket)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        // S3 answers max-keys=0 with an empty page that is not truncated.
        if q.max == 0 {
            return Ok(ListPage::default());
        }
        let bucket_prefix = object_key(bucket, "");
        let prefix_key = object_key(bucket, q.prefix);
        let mut start = if q.after > q.prefix {
            Bound::Excluded(object_key(bucket, q.after))
        } else {
            Bound::Included(prefix_key.clone())
        };
        let mut page = ListPage::default();
        'scan: loop {
            let from = start.as_ref().map(Vec::as_slice);
            let range = self.meta.bucket_range(bucket, Tree::Objects, from, Bound::Unbounded)?;
            for r in range {
                let (k, v) = r?;
                if !k.starts_with(&prefix_key) {
                    break 'scan;
                }
                let key = std::str::from_utf8(&k[bucket_prefix.len()..]).unwrap_or_default();
                let common = q.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                    key[q.prefix.len()..]
                        .find(d)
                        .map(|i| &key[..q.prefix.len() + i + d.len()])
                });
                if let Some(cp) = common {
                    // Skip the whole prefix: later keys under it add nothing.
                    let mut next = object_key(bucket, cp);
                    next.push(0xff);
                    start = Bound::Included(next);
                    if !q.after.starts_with(cp) {
                        if page.entries.len() == q.max {
                            page.truncated = true;
                            break 'scan;
                        }
                        page.entries.push(ListEntry::Prefix(cp.to_owned()));
                    }
                    continue 'scan;
                }
                let m: Manifest = decode(&v)?;
                if !m.is_live() {
                    continue;
                }
                if page.entries.len() == q.max {
                    page.truncated = true;
                    break 'scan;
                }
                page.entries.push(ListEntry::Object(Box::new(m)));
            }
            break;
        }
        Ok(page)
    }
}
