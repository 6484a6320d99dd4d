//! Which S3 operation a request asks for, and the permission (IAM action) it needs.
//! A leaf: the router dispatches on it and the access check reads it.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use http::Method;

const LIST_V1: &[&str] = &["prefix", "delimiter", "marker", "max-keys", "encoding-type"];
const LIST_V2: &[&str] = &[
    "list-type",
    "prefix",
    "delimiter",
    "continuation-token",
    "start-after",
    "max-keys",
    "encoding-type",
    "fetch-owner",
];
const LIST_UPLOADS: &[&str] = &[
    "uploads",
    "prefix",
    "delimiter",
    "key-marker",
    "upload-id-marker",
    "max-uploads",
    "encoding-type",
];
const LIST_VERSIONS: &[&str] = &[
    "versions",
    "prefix",
    "delimiter",
    "key-marker",
    "version-id-marker",
    "max-keys",
    "encoding-type",
];
const GET_OBJECT: &[&str] = &[
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "partNumber",
    "versionId",
];
const LIST_PARTS: &[&str] = &["uploadId", "max-parts", "part-number-marker", "encoding-type"];

/// Declares the operations and their S3 names in one list.
macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// Every S3 operation this site serves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation {
            $($op),*
        }

        impl Operation {
            /// The operation's name in the S3 API.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op)),*
                }
            }
        }
    };
}

operations! {
    ListBuckets,
    GetBucketLocation,
    ListMultipartUploads,
    ListObjectVersions,
    GetBucketVersioning,
    GetBucketTagging,
    GetBucketAcl,
    GetBucketCors,
    GetBucketPolicy,
    GetBucketPolicyStatus,
    GetBucketOwnershipControls,
    GetPublicAccessBlock,
    ListObjectsV2,
    ListObjects,
    PutBucketVersioning,
    GetBucketLifecycleConfiguration,
    PutBucketLifecycleConfiguration,
    DeleteBucketLifecycle,
    GetObjectLockConfiguration,
    PutObjectLockConfiguration,
    GetObjectRetention,
    PutObjectRetention,
    GetObjectLegalHold,
    PutObjectLegalHold,
    PutBucketTagging,
    PutBucketAcl,
    PutBucketCors,
    PutBucketPolicy,
    PutBucketOwnershipControls,
    PutPublicAccessBlock,
    CreateBucket,
    HeadBucket,
    DeleteBucketTagging,
    DeleteBucketCors,
    DeleteBucketPolicy,
    DeleteBucketOwnershipControls,
    DeletePublicAccessBlock,
    DeleteBucket,
    DeleteObjects,
    UploadPartCopy,
    UploadPart,
    PutObjectTagging,
    PutObjectAcl,
    CopyObject,
    PutObject,
    ListParts,
    GetObjectTagging,
    GetObjectAcl,
    GetObjectAttributes,
    GetObject,
    HeadObject,
    CreateMultipartUpload,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    DeleteObjectTagging,
    DeleteObject,
}

/// What a request acts on, for the access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The service: the principal's own buckets.
    Service,
    /// A bucket that need not exist yet (CreateBucket).
    NewBucket,
    /// An existing bucket (object writes and deletes are the bucket's, as in ACLs).
    Bucket,
    /// An existing object, whose own ACL counts.
    Object,
    /// An existing bucket, each named key decided on its own (DeleteObjects).
    EachKey,
}

impl Operation {
    /// The IAM action a policy names this operation by.
    pub fn action(self) -> &'static str {
        use Operation as O;
        match self {
            O::ListBuckets => "s3:ListAllMyBuckets",
            O::GetBucketLocation => "s3:GetBucketLocation",
            O::ListMultipartUploads => "s3:ListBucketMultipartUploads",
            O::ListObjectVersions => "s3:ListBucketVersions",
            O::GetBucketVersioning => "s3:GetBucketVersioning",
            O::PutBucketVersioning => "s3:PutBucketVersioning",
            O::GetBucketLifecycleConfiguration => "s3:GetLifecycleConfiguration",
            O::PutBucketLifecycleConfiguration | O::DeleteBucketLifecycle => "s3:PutLifecycleConfiguration",
            O::GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
            O::PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
            O::GetObjectRetention => "s3:GetObjectRetention",
            O::PutObjectRetention => "s3:PutObjectRetention",
            O::GetObjectLegalHold => "s3:GetObjectLegalHold",
            O::PutObjectLegalHold => "s3:PutObjectLegalHold",
            O::GetBucketTagging => "s3:GetBucketTagging",
            O::PutBucketTagging | O::DeleteBucketTagging => "s3:PutBucketTagging",
            O::GetBucketAcl => "s3:GetBucketAcl",
            O::PutBucketAcl => "s3:PutBucketAcl",
            O::GetBucketCors => "s3:GetBucketCORS",
            O::PutBucketCors | O::DeleteBucketCors => "s3:PutBucketCORS",
            O::GetBucketPolicy => "s3:GetBucketPolicy",
            O::PutBucketPolicy => "s3:PutBucketPolicy",
            O::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            O::GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            O::GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            O::PutBucketOwnershipControls | O::DeleteBucketOwnershipControls => "s3:PutBucketOwnershipControls",
            O::GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            O::PutPublicAccessBlock | O::DeletePublicAccessBlock => "s3:PutBucketPublicAccessBlock",
            O::ListObjectsV2 | O::ListObjects | O::HeadBucket => "s3:ListBucket",
            O::CreateBucket => "s3:CreateBucket",
            O::DeleteBucket => "s3:DeleteBucket",
            O::DeleteObjects | O::DeleteObject => "s3:DeleteObject",
            O::UploadPartCopy
            | O::UploadPart
            | O::CopyObject
            | O::PutObject
            | O::CreateMultipartUpload
            | O::CompleteMultipartUpload => "s3:PutObject",
            O::AbortMultipartUpload => "s3:AbortMultipartUpload",
            O::ListParts => "s3:ListMultipartUploadParts",
            O::PutObjectTagging => "s3:PutObjectTagging",
            O::GetObjectTagging => "s3:GetObjectTagging",
            O::DeleteObjectTagging => "s3:DeleteObjectTagging",
            O::PutObjectAcl => "s3:PutObjectAcl",
            O::GetObjectAcl => "s3:GetObjectAcl",
            O::GetObjectAttributes | O::GetObject | O::HeadObject => "s3:GetObject",
        }
    }

    /// The IAM action of the operation on one version named by `versionId`, as S3
    /// names them: a policy may deny deleting versions while it allows deletes (which
    /// only add markers), or reading old versions while it allows reading current ones.
    pub fn version_action(self) -> &'static str {
        use Operation as O;
        match self {
            O::GetObject | O::HeadObject => "s3:GetObjectVersion",
            O::GetObjectAttributes => "s3:GetObjectVersionAttributes",
            O::DeleteObject => "s3:DeleteObjectVersion",
            O::GetObjectTagging => "s3:GetObjectVersionTagging",
            O::PutObjectTagging => "s3:PutObjectVersionTagging",
            O::DeleteObjectTagging => "s3:DeleteObjectVersionTagging",
            O::GetObjectAcl => "s3:GetObjectVersionAcl",
            O::PutObjectAcl => "s3:PutObjectVersionAcl",
            other => other.action(),
        }
    }

    /// Whether the operation changes anything (a read-only site refuses these).
    pub fn is_write(self) -> bool {
        let a = self.action();
        !(a.starts_with("s3:Get") || a.starts_with("s3:List"))
    }

    pub fn scope(self) -> Scope {
        use Operation as O;
        match self {
            O::ListBuckets => Scope::Service,
            O::CreateBucket => Scope::NewBucket,
            O::DeleteObjects => Scope::EachKey,
            O::GetObjectTagging
            | O::PutObjectTagging
            | O::DeleteObjectTagging
            | O::GetObjectAcl
            | O::PutObjectAcl
            | O::GetObjectAttributes
            | O::GetObject
            | O::HeadObject
            | O::GetObjectRetention
            | O::PutObjectRetention
            | O::GetObjectLegalHold
            | O::PutObjectLegalHold => Scope::Object,
            _ => Scope::Bucket,
        }
    }

    /// Which operation a request asks for. Query parameters an operation does not know
    /// answer 501 rather than being taken for another operation.
    pub fn of(req: &S3Request) -> S3Result<Operation> {
        let unsupported = |what: &str| Err(S3Error::NotImplemented(what.to_owned()));
        if let Some(id) = req.q("versionId") {
            strata_blockstore::check_version_id(id)?;
        }
        let m = req.method.clone();
        match (req.bucket.is_some(), req.key.is_some()) {
            (false, _) => match m {
                Method::GET => Ok(Operation::ListBuckets),
                _ => unsupported(&format!("{m} on the service")),
            },
            (true, false) => match m {
                Method::GET if req.has("location") => {
                    only(req, &["location"])?;
                    Ok(Operation::GetBucketLocation)
                }
                Method::GET if req.has("uploads") => {
                    only(req, LIST_UPLOADS)?;
                    Ok(Operation::ListMultipartUploads)
                }
                Method::GET if req.has("versions") => {
                    only(req, LIST_VERSIONS)?;
                    Ok(Operation::ListObjectVersions)
                }
                Method::GET if req.has("versioning") => {
                    only(req, &["versioning"])?;
                    Ok(Operation::GetBucketVersioning)
                }
                Method::GET if req.has("lifecycle") => {
                    only(req, &["lifecycle"])?;
                    Ok(Operation::GetBucketLifecycleConfiguration)
                }
                Method::GET if req.has("object-lock") => {
                    only(req, &["object-lock"])?;
                    Ok(Operation::GetObjectLockConfiguration)
                }
                Method::GET if req.has("tagging") => {
                    only(req, &["tagging"])?;
                    Ok(Operation::GetBucketTagging)
                }
                Method::GET if req.has("acl") => {
                    only(req, &["acl"])?;
                    Ok(Operation::GetBucketAcl)
                }
                Method::GET if req.has("cors") => {
                    only(req, &["cors"])?;
                    Ok(Operation::GetBucketCors)
                }
                Method::GET if req.has("policy") => {
                    only(req, &["policy"])?;
                    Ok(Operation::GetBucketPolicy)
                }
                Method::GET if req.has("policyStatus") => {
                    only(req, &["policyStatus"])?;
                    Ok(Operation::GetBucketPolicyStatus)
                }
                Method::GET if req.has("ownershipControls") => {
                    only(req, &["ownershipControls"])?;
                    Ok(Operation::GetBucketOwnershipControls)
                }
                Method::GET if req.has("publicAccessBlock") => {
                    only(req, &["publicAccessBlock"])?;
                    Ok(Operation::GetPublicAccessBlock)
                }
                Method::GET if req.q("list-type") == Some("2") => {
                    only(req, LIST_V2)?;
                    Ok(Operation::ListObjectsV2)
                }
                Method::GET => {
                    only(req, LIST_V1)?;
                    Ok(Operation::ListObjects)
                }
                Method::PUT if req.has("versioning") => {
                    only(req, &["versioning"])?;
                    Ok(Operation::PutBucketVersioning)
                }
                Method::PUT if req.has("lifecycle") => {
                    only(req, &["lifecycle"])?;
                    Ok(Operation::PutBucketLifecycleConfiguration)
                }
                Method::PUT if req.has("object-lock") => {
                    only(req, &["object-lock"])?;
                    Ok(Operation::PutObjectLockConfiguration)
                }
                Method::PUT if req.has("tagging") => {
                    only(req, &["tagging"])?;
                    Ok(Operation::PutBucketTagging)
                }
                Method::PUT if req.has("acl") => {
                    only(req, &["acl"])?;
                    Ok(Operation::PutBucketAcl)
                }
                Method::PUT if req.has("cors") => {
                    only(req, &["cors"])?;
                    Ok(Operation::PutBucketCors)
                }
                Method::PUT if req.has("policy") => {
                    only(req, &["policy"])?;
                    Ok(Operation::PutBucketPolicy)
                }
                Method::PUT if req.has("ownershipControls") => {
                    only(req, &["ownershipControls"])?;
                    Ok(Operation::PutBucketOwnershipControls)
                }
                Method::PUT if req.has("publicAccessBlock") => {
                    only(req, &["publicAccessBlock"])?;
                    Ok(Operation::PutPublicAccessBlock)
                }
                Method::PUT => {
                    only(req, &[])?;
                    Ok(Operation::CreateBucket)
                }
                Method::HEAD => Ok(Operation::HeadBucket),
                Method::DELETE if req.has("tagging") => {
                    only(req, &["tagging"])?;
                    Ok(Operation::DeleteBucketTagging)
                }
                Method::DELETE if req.has("lifecycle") => {
                    only(req, &["lifecycle"])?;
                    Ok(Operation::DeleteBucketLifecycle)
                }
                Method::DELETE if req.has("cors") => {
                    only(req, &["cors"])?;
                    Ok(Operation::DeleteBucketCors)
                }
                Method::DELETE if req.has("policy") => {
                    only(req, &["policy"])?;
                    Ok(Operation::DeleteBucketPolicy)
                }
                Method::DELETE if req.has("ownershipControls") => {
                    only(req, &["ownershipControls"])?;
                    Ok(Operation::DeleteBucketOwnershipControls)
                }
                Method::DELETE if req.has("publicAccessBlock") => {
                    only(req, &["publicAccessBlock"])?;
                    Ok(Operation::DeletePublicAccessBlock)
                }
                Method::DELETE => {
                    only(req, &[])?;
                    Ok(Operation::DeleteBucket)
                }
                Method::POST if req.has("delete") => {
                    only(req, &["delete"])?;
                    Ok(Operation::DeleteObjects)
                }
                _ => unsupported(&format!("{m} on a bucket")),
            },
            (true, true) => match m {
                Method::PUT if req.has("uploadId") && req.headers.contains_key("x-amz-copy-source") => {
                    only(req, &["uploadId", "partNumber"])?;
                    Ok(Operation::UploadPartCopy)
                }
                Method::PUT if req.has("uploadId") => {
                    only(req, &["uploadId", "partNumber"])?;
                    Ok(Operation::UploadPart)
                }
                Method::PUT if req.has("tagging") => {
                    only(req, &["tagging", "versionId"])?;
                    Ok(Operation::PutObjectTagging)
                }
                Method::PUT if req.has("acl") => {
                    only(req, &["acl", "versionId"])?;
                    Ok(Operation::PutObjectAcl)
                }
                Method::PUT if req.has("retention") => {
                    only(req, &["retention", "versionId"])?;
                    Ok(Operation::PutObjectRetention)
                }
                Method::PUT if req.has("legal-hold") => {
                    only(req, &["legal-hold", "versionId"])?;
                    Ok(Operation::PutObjectLegalHold)
                }
                Method::PUT if req.headers.contains_key("x-amz-copy-source") => {
                    only(req, &[])?;
                    Ok(Operation::CopyObject)
                }
                Method::PUT => {
                    only(req, &[])?;
                    Ok(Operation::PutObject)
                }
                Method::GET if req.has("uploadId") => {
                    only(req, LIST_PARTS)?;
                    Ok(Operation::ListParts)
                }
                Method::GET if req.has("tagging") => {
                    only(req, &["tagging", "versionId"])?;
                    Ok(Operation::GetObjectTagging)
                }
                Method::GET if req.has("acl") => {
                    only(req, &["acl", "versionId"])?;
                    Ok(Operation::GetObjectAcl)
                }
                Method::GET if req.has("retention") => {
                    only(req, &["retention", "versionId"])?;
                    Ok(Operation::GetObjectRetention)
                }
                Method::GET if req.has("legal-hold") => {
                    only(req, &["legal-hold", "versionId"])?;
                    Ok(Operation::GetObjectLegalHold)
                }
                Method::GET if req.has("attributes") => {
                    only(req, &["attributes", "versionId"])?;
                    Ok(Operation::GetObjectAttributes)
                }
                Method::GET => {
                    only(req, GET_OBJECT)?;
                    Ok(Operation::GetObject)
                }
                Method::HEAD => {
                    only(req, GET_OBJECT)?;
                    Ok(Operation::HeadObject)
                }
                Method::POST if req.has("uploads") => {
                    only(req, &["uploads"])?;
                    Ok(Operation::CreateMultipartUpload)
                }
                Method::POST if req.has("uploadId") => {
                    only(req, &["uploadId"])?;
                    Ok(Operation::CompleteMultipartUpload)
                }
                Method::DELETE if req.has("uploadId") => {
                    only(req, &["uploadId"])?;
                    Ok(Operation::AbortMultipartUpload)
                }
                Method::DELETE if req.has("tagging") => {
                    only(req, &["tagging", "versionId"])?;
                    Ok(Operation::DeleteObjectTagging)
                }
                Method::DELETE => {
                    only(req, &["versionId"])?;
                    Ok(Operation::DeleteObject)
                }
                _ => unsupported(&format!("{m} on an object")),
            },
        }
    }
}

/// Subresources this site does not implement answer 501, never a wrong operation.
fn only(req: &S3Request, known: &[&str]) -> S3Result<()> {
    match req.unknown_params(known) {
        Some(p) => Err(S3Error::NotImplemented(format!("the '{p}' subresource or parameter"))),
        None => Ok(()),
    }
}
