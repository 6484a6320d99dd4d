//! The records kept in the metadata store. Every record that replicates carries the HLC
//! timestamp of its last change and the id of the site that made it.

use crate::hlc::Hlc;
use serde::{Deserialize, Serialize};

/// Identifies a site; the tie-breaker when two sites write the same key at the same HLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SiteId(pub u64);

impl std::fmt::Display for SiteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The SHA-256 of a block's bytes, which is also its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlockHash(pub [u8; 32]);

impl BlockHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A block's name as written by [`BlockHash::to_hex`]; None if it is not one.
    pub fn from_hex(hex: &str) -> Option<BlockHash> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(hex, &mut b).ok().map(|()| BlockHash(b))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    pub hash: BlockHash,
    pub len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserStatus {
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
    pub status: UserStatus,
    pub created_ms: u64,
    pub hlc: Hlc,
    pub site: SiteId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub name: String,
    /// Name of the owning user: the S3 owner id.
    pub owner: String,
    pub created_ms: u64,
    pub tags: Vec<(String, String)>,
    pub cors: Option<Vec<CorsRule>>,
    /// Who owns objects written here; `None` once the controls are deleted, which
    /// behaves as `ObjectWriter`.
    pub ownership: Option<ObjectOwnership>,
    /// Grants beyond the owner's full control.
    pub grants: Vec<Grant>,
    /// The bucket policy, as the owner sent it (checked when it was put).
    pub policy: Option<String>,
    pub public_access_block: Option<PublicAccessBlock>,
    /// Whether writes keep the versions they replace (PutBucketVersioning).
    pub versioning: Versioning,
    /// Object Lock, once enabled (at creation, or on a versioned bucket later).
    pub object_lock: Option<ObjectLock>,
    /// Lifecycle rules (PutBucketLifecycleConfiguration); none when empty.
    pub lifecycle: Vec<LifecycleRule>,
    pub hlc: Hlc,
    pub site: SiteId,
}

/// A bucket's versioning state. Once versioned, a bucket never returns to
/// `Unversioned`, as in S3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never versioned: a write replaces the key's only version, `null`.
    #[default]
    Unversioned,
    /// Every write adds a version with an id of its own.
    Enabled,
    /// Writes replace the `null` version; the versions made while enabled stay.
    Suspended,
}

impl Versioning {
    /// What GetBucketVersioning says (None: no `Status` element).
    pub fn status(self) -> Option<&'static str> {
        match self {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some("Enabled"),
            Versioning::Suspended => Some("Suspended"),
        }
    }
}

/// A bucket's object ownership setting, as S3 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are off: the bucket owner owns every object; only policies grant.
    BucketOwnerEnforced,
    /// The writer owns an object unless it grants `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The writer owns what it writes.
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn name(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::BucketOwnerEnforced,
            Self::BucketOwnerPreferred,
            Self::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.name() == s)
    }
}

/// Who an ACL grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantee {
    /// A Strata user, by canonical id (the user name).
    User(String),
    /// Everyone, signed or not.
    AllUsers,
    /// Anyone who signs with a valid key.
    AuthenticatedUsers,
}

impl Grantee {
    /// Grants to these make a bucket or object public.
    pub fn is_public(&self) -> bool {
        matches!(self, Grantee::AllUsers | Grantee::AuthenticatedUsers)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An object's owner and the grants beyond the owner's full control.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub owner: String,
    pub grants: Vec<Grant>,
}

/// A bucket's public access block, as S3 names its four switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// One rule of a bucket's CORS configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectState {
    Active,
    /// A delete tombstone: what a delete replicates as, to win or lose by
    /// last-writer-wins like any other write. A site keeps it as a grave in its sync
    /// tree, not as a record, until the purge (see `graves`). For a version of a
    /// versioned key, the delete of that one version (DELETE with `versionId`).
    Deleted,
    /// A delete marker: a version with no data that makes its key read as deleted
    /// while it is the newest. A record like any version, not a grave.
    DeleteMarker,
}

/// Where one part of a multipart object lies in the block list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSpan {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub block_count: u32,
}

/// What the client sent with the object and gets back on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    /// Other standard headers (content-encoding, content-disposition, cache-control,
    /// expires, content-language), lowercase names.
    pub standard: Vec<(String, String)>,
    /// `x-amz-meta-*` headers, names lowercase and without the prefix.
    pub user_meta: Vec<(String, String)>,
    /// A full-object checksum the client supplied: (algorithm, base64 value).
    pub checksum: Option<(String, String)>,
    /// Object tags. They travel with the headers (`x-amz-tagging` on write) but, unlike
    /// them, can be replaced later by PutObjectTagging.
    pub tags: Vec<(String, String)>,
    /// The object's owner and ACL, given on write like the tags (so an upload carries
    /// them to its object) and replaceable by PutObjectAcl.
    pub acl: Acl,
    /// Object Lock: the version's retention and legal hold (see `object_lock`).
    pub lock: VersionLock,
}

/// One lifecycle rule: which versions it covers and what it does to them. Times are in
/// lifecycle days (`lifecycle_day_secs`, a real day unless a test shortens it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    pub prefix: String,
    /// Every one of these tags must be on a version for the rule to cover it.
    pub tags: Vec<(String, String)>,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
    /// Expiration of the current version, `days` after it was written or at `date`.
    pub expiration_days: Option<u32>,
    pub expiration_date_ms: Option<u64>,
    /// Removes a delete marker that is a key's only version.
    pub expired_object_delete_marker: bool,
    /// Removes versions this many days after they stopped being current, keeping the
    /// `newer_noncurrent_versions` newest of them.
    pub noncurrent_days: Option<u32>,
    pub newer_noncurrent_versions: Option<u32>,
    /// Aborts multipart uploads this many days after they began.
    pub abort_incomplete_upload_days: Option<u32>,
}

/// An Object Lock retention mode, as S3 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    /// Yields to a requester allowed `s3:BypassGovernanceRetention` who asks to.
    Governance,
    /// Yields to nobody until it ends; it can be lengthened, never shortened.
    Compliance,
}

impl RetentionMode {
    pub fn name(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [RetentionMode::Governance, RetentionMode::Compliance]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// A version's retention: no delete of it before `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until_ms: u64,
}

/// What locks one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLock {
    pub retention: Option<Retention>,
    /// A legal hold: no delete of the version while it is on, whatever its retention.
    pub legal_hold: bool,
}

/// A bucket's Object Lock configuration: present once the bucket has Object Lock
/// (for good, with versioning on for good), with the retention new versions get when
/// their write names none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    pub default_retention: Option<DefaultRetention>,
}

/// A default retention, in days or in years (365 days each, as S3 counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub days: Option<u32>,
    pub years: Option<u32>,
}

impl DefaultRetention {
    /// The retention a version written at `now_ms` gets.
    pub fn from(&self, now_ms: u64) -> Retention {
        let days = u64::from(self.days.unwrap_or(0)) + 365 * u64::from(self.years.unwrap_or(0));
        Retention {
            mode: self.mode,
            until_ms: now_ms + days * 86_400_000,
        }
    }
}

/// The version id of unversioned and suspended writes.
pub const NULL_VERSION: &str = "null";

/// The version id of a version made at (hlc, site): 32 hex digits, the same on every
/// site. Never `null`, which holds no digit.
pub fn version_id(created: (Hlc, SiteId)) -> String {
    format!("{:016x}{:016x}", created.0 .0, created.1 .0)
}

/// When and where the version `id` was made; None for `null` or an id that is not one.
pub fn parse_version_id(id: &str) -> Option<(Hlc, SiteId)> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hlc = u64::from_str_radix(&id[..16], 16).ok()?;
    let site = u64::from_str_radix(&id[16..], 16).ok()?;
    Some((Hlc(hlc), SiteId(site)))
}

/// One version of an object: its data as a list of blocks, and everything S3 returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub bucket: String,
    pub key: String,
    /// The S3 version id: `null`, or [`version_id`] of `created` for a
    /// version made while versioning was enabled.
    pub version_id: String,
    /// When and where this version was made: it orders a key's versions (newest
    /// first) by the same rule on every site, and a later change to the version's
    /// ACL or tags (which takes a new `hlc`) keeps it.
    pub created: (Hlc, SiteId),
    pub state: ObjectState,
    pub size: u64,
    /// Hex MD5 (single PUT) or `md5-of-md5s-N` (multipart), without quotes.
    pub etag: String,
    pub last_modified_ms: u64,
    pub headers: ObjectHeaders,
    pub block_size: u32,
    pub blocks: Vec<BlockRef>,
    /// A small object's bytes, kept in the manifest instead of a block file (`blocks` is
    /// then empty): a small PUT creates no file, and replicating the manifest carries
    /// the data.
    #[serde(with = "byte_string")]
    pub inline: Option<Vec<u8>>,
    /// Part boundaries for multipart objects; empty otherwise.
    pub parts: Vec<PartSpan>,
    /// The multipart upload this version completed, so that a retried
    /// CompleteMultipartUpload can be answered as the first one was.
    pub upload_id: Option<String>,
    pub hlc: Hlc,
    pub site: SiteId,
}

impl Manifest {
    /// The tombstone of `bucket/key` deleted at (hlc, site): all a delete carries.
    pub fn tombstone(bucket: &str, key: &str, hlc: Hlc, site: SiteId) -> Manifest {
        Manifest {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: NULL_VERSION.to_owned(),
            created: (hlc, site),
            state: ObjectState::Deleted,
            size: 0,
            etag: String::new(),
            last_modified_ms: hlc.millis(),
            headers: ObjectHeaders::default(),
            block_size: 0,
            blocks: Vec::new(),
            inline: None,
            parts: Vec::new(),
            upload_id: None,
            hlc,
            site,
        }
    }

    /// The delete of version `version_id` of `bucket/key`, at (hlc, site).
    pub fn version_tombstone(bucket: &str, key: &str, version_id: &str, hlc: Hlc, site: SiteId) -> Manifest {
        let mut t = Manifest::tombstone(bucket, key, hlc, site);
        t.version_id = version_id.to_owned();
        if let Some(created) = parse_version_id(version_id) {
            t.created = created;
        }
        t
    }

    /// A version with data (not a delete marker, not a delete).
    pub fn is_live(&self) -> bool {
        self.state == ObjectState::Active
    }

    /// A delete (tombstone): the version, or the key's null version, is gone.
    pub fn is_gone(&self) -> bool {
        self.state == ObjectState::Deleted
    }

    pub fn is_delete_marker(&self) -> bool {
        self.state == ObjectState::DeleteMarker
    }

    /// The `null` version: the one unversioned and suspended writes replace.
    pub fn is_null(&self) -> bool {
        self.version_id == NULL_VERSION
    }

    /// The blocks holding bytes `[start, end)`, in order, each with the offset in the
    /// object where it begins.
    pub fn blocks_in(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, &BlockRef)> {
        self.blocks
            .iter()
            .scan(0u64, |offset, b| {
                let at = *offset;
                *offset += u64::from(b.len);
                Some((at, b))
            })
            .skip_while(move |(at, b)| at + u64::from(b.len) <= start)
            .take_while(move |(at, _)| *at < end && start < end)
    }
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub owner: String,
    pub initiated_ms: u64,
    pub headers: ObjectHeaders,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: u64,
    pub blocks: Vec<BlockRef>,
}

/// One committed change, in the order the site committed it. This is what realtime
/// replication streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    User(User),
    UserDeleted {
        name: String,
        hlc: Hlc,
        site: SiteId,
    },
    Bucket(Bucket),
    BucketDeleted {
        name: String,
        hlc: Hlc,
        site: SiteId,
    },
    /// A new version of an object, or a delete tombstone.
    Object(Box<Manifest>),
    /// A user's rotated key, still accepted until `until_ms` (a grace period for its
    /// clients to move to the new one). Logged just before the rotated user record.
    UserKeyRetired {
        name: String,
        access_key: String,
        secret_key: String,
        until_ms: u64,
        hlc: Hlc,
        site: SiteId,
    },
}

/// A rotated key still accepted for a while (`Change::UserKeyRetired`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    pub name: String,
    pub secret_key: String,
    pub until_ms: u64,
}

impl Change {
    /// The timestamp and site that decide last-writer-wins for this change.
    pub fn version(&self) -> (crate::hlc::Hlc, SiteId) {
        match self {
            Change::User(u) => (u.hlc, u.site),
            Change::UserDeleted { hlc, site, .. }
            | Change::BucketDeleted { hlc, site, .. }
            | Change::UserKeyRetired { hlc, site, .. } => (*hlc, *site),
            Change::Bucket(b) => (b.hlc, b.site),
            Change::Object(m) => (m.hlc, m.site),
        }
    }

    /// A delete: an object tombstone, or a user or bucket removed. It leaves a grave.
    pub fn is_delete(&self) -> bool {
        match self {
            Change::Object(m) => m.is_gone(),
            Change::UserDeleted { .. } | Change::BucketDeleted { .. } => true,
            Change::User(_) | Change::Bucket(_) | Change::UserKeyRetired { .. } => false,
        }
    }

    /// The site where the change was first made.
    pub fn origin(&self) -> SiteId {
        self.version().1
    }

    /// The record the change is to, as one string: what a dirty set remembers.
    pub fn key(&self) -> String {
        match self {
            Change::User(u) => format!("user/{}", u.name),
            Change::UserDeleted { name, .. } | Change::UserKeyRetired { name, .. } => format!("user/{name}"),
            Change::Bucket(b) => format!("bucket/{}", b.name),
            Change::BucketDeleted { name, .. } => format!("bucket/{name}"),
            Change::Object(m) => m.sync_key(),
        }
    }
}

/// `Option<Vec<u8>>` as one byte string: bincode then copies it whole instead of
/// visiting it byte by byte (4 KiB decoded element by element showed in GET profiles).
/// The encoding is the same as a plain `Vec<u8>`'s: a length, then the bytes.
mod byte_string {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::{Deserialize, Serialize, Serializer};

    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&Bytes(b)),
            None => s.serialize_none(),
        }
    }

    struct ByteBuf(Vec<u8>);

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_byte_buf(BytesVisitor)
        }
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = ByteBuf;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E>(self, v: &[u8]) -> Result<ByteBuf, E> {
            Ok(ByteBuf(v.to_vec()))
        }

        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
            Ok(ByteBuf(v))
        }

        /// Formats that write bytes as a sequence (JSON) read back the same way.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(ByteBuf(out))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<ByteBuf>::deserialize(d)?.map(|b| b.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_bytes_encode_as_a_plain_vector_does() {
        #[derive(Serialize)]
        struct Plain {
            inline: Option<Vec<u8>>,
        }
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Bytes {
            #[serde(with = "byte_string")]
            inline: Option<Vec<u8>>,
        }
        for inline in [None, Some(Vec::new()), Some((0..=255).collect::<Vec<u8>>())] {
            let plain = bincode::serialize(&Plain { inline: inline.clone() }).unwrap();
            let bytes = Bytes { inline };
            assert_eq!(bincode::serialize(&bytes).unwrap(), plain);
            assert_eq!(bincode::deserialize::<Bytes>(&plain).unwrap(), bytes);
        }
    }

    #[test]
    fn a_range_covers_only_the_blocks_it_touches() {
        let m = Manifest {
            bucket: "b".into(),
            key: "k".into(),
            version_id: "v".into(),
            created: (Hlc(1), SiteId(1)),
            state: ObjectState::Active,
            size: 25,
            etag: String::new(),
            last_modified_ms: 0,
            headers: ObjectHeaders::default(),
            block_size: 10,
            blocks: (0..3)
                .map(|i| BlockRef {
                    hash: BlockHash([i; 32]),
                    len: if i < 2 { 10 } else { 5 },
                })
                .collect(),
            inline: None,
            parts: Vec::new(),
            upload_id: None,
            hlc: Hlc(1),
            site: SiteId(1),
        };
        let covered = |s, e| m.blocks_in(s, e).map(|(at, b)| (at, b.hash.0[0])).collect::<Vec<_>>();
        assert_eq!(covered(0, 25), vec![(0, 0), (10, 1), (20, 2)]);
        assert_eq!(covered(10, 20), vec![(10, 1)]);
        assert_eq!(covered(9, 11), vec![(0, 0), (10, 1)]);
        assert_eq!(covered(20, 25), vec![(20, 2)]);
        assert_eq!(covered(5, 5), vec![]);
    }
}
