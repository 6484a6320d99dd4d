//! S3 errors: every failure a request can meet, and the one match that turns each into
//! the code, status and message AWS S3 would answer with. A leaf: the XML document an
//! error is sent as is written in `response`.

use http::StatusCode;
use strata_blockstore::Error as StoreError;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("AccessDenied: {0}")]
    AccessDenied(&'static str),
    #[error("InvalidAccessKeyId")]
    InvalidAccessKeyId,
    #[error("SignatureDoesNotMatch")]
    SignatureDoesNotMatch,
    #[error("RequestTimeTooSkewed")]
    RequestTimeTooSkewed,
    #[error("AuthorizationHeaderMalformed: {0}")]
    AuthorizationHeaderMalformed(String),
    #[error("AuthorizationQueryParametersError: {0}")]
    AuthorizationQueryParametersError(String),
    /// A presigned URL's `X-Amz-Expires` outside 1 to 604800 seconds: the same code,
    /// but S3 answers it 403 (the URL is refused, not malformed).
    #[error("AuthorizationQueryParametersError: {0}")]
    PresignExpiresOutOfRange(&'static str),
    #[error("InvalidBucketName")]
    InvalidBucketName,
    #[error("KeyTooLongError")]
    KeyTooLong,
    #[error("BadDigest: {0}")]
    BadDigest(&'static str),
    #[error("InvalidDigest")]
    InvalidDigest,
    #[error("XAmzContentSHA256Mismatch")]
    ContentSha256Mismatch,
    #[error("IncompleteBody")]
    IncompleteBody,
    #[error("EntityTooLarge")]
    EntityTooLarge,
    #[error("MalformedXML")]
    MalformedXml,
    #[error("MetadataTooLarge")]
    MetadataTooLarge,
    #[error("InvalidRange")]
    InvalidRange { size: u64 },
    #[error("InvalidArgument: {0}")]
    InvalidArgument(String),
    #[error("InvalidRequest: {0}")]
    InvalidRequest(String),
    #[error("PreconditionFailed")]
    PreconditionFailed,
    #[error("InvalidTag: {0}")]
    InvalidTag(String),
    #[error("NoSuchTagSet")]
    NoSuchTagSet,
    #[error("NoSuchCORSConfiguration")]
    NoSuchCorsConfiguration,
    #[error("CORS request not allowed")]
    CorsForbidden,
    #[error("AccessControlListNotSupported")]
    AclNotSupported,
    #[error("InvalidBucketAclWithObjectOwnership")]
    InvalidBucketAclWithObjectOwnership,
    #[error("the site is read-only")]
    ReadOnly,
    #[error("MalformedACLError")]
    MalformedAcl,
    #[error("UnresolvableGrantByEmailAddress")]
    GrantByEmail,
    #[error("MalformedPolicy: {0}")]
    MalformedPolicy(String),
    #[error("NoSuchBucketPolicy")]
    NoSuchBucketPolicy,
    #[error("OwnershipControlsNotFoundError")]
    NoOwnershipControls,
    #[error("NoSuchPublicAccessBlockConfiguration")]
    NoPublicAccessBlock,
    #[error("NoSuchLifecycleConfiguration")]
    NoSuchLifecycleConfiguration,
    #[error("ObjectLockConfigurationNotFoundError")]
    NoObjectLockConfiguration,
    #[error("NoSuchObjectLockConfiguration")]
    NoSuchObjectLockConfiguration,
    #[error("InvalidBucketState: {0}")]
    InvalidBucketState(String),
    #[error("InvalidPartNumber")]
    InvalidPartNumber,
    #[error("RequestHeaderSectionTooLarge")]
    HeadersTooLarge { limit: usize },
    #[error("MissingContentLength")]
    MissingContentLength,
    #[error("ServiceUnavailable: {0}")]
    ServiceUnavailable(String),
    #[error("SlowDown")]
    SlowDown,
    #[error("RequestTimeout")]
    RequestTimeout,
    #[error("NotImplemented: {0}")]
    NotImplemented(String),
}

/// A namespace operation the authority refused answers as the authority's store
/// error would have; one it could not be asked answers 503.
impl From<strata_repl::ReplError> for S3Error {
    fn from(e: strata_repl::ReplError) -> Self {
        match e {
            strata_repl::ReplError::Store(e) => S3Error::Store(e),
            other => S3Error::ServiceUnavailable(other.to_string()),
        }
    }
}

impl S3Error {
    /// The S3 code, HTTP status and message, in one place.
    pub fn parts(&self) -> (&'static str, StatusCode, String) {
        use StatusCode as S;
        let (code, status, msg): (&str, StatusCode, String) = match self {
            S3Error::Store(e) => match e {
                StoreError::NoSuchBucket => ("NoSuchBucket", S::NOT_FOUND, "The specified bucket does not exist".into()),
                StoreError::NoSuchKey => ("NoSuchKey", S::NOT_FOUND, "The specified key does not exist.".into()),
                StoreError::ObjectLocked(why) => ("AccessDenied", S::FORBIDDEN, format!("Access Denied because object protected by object lock: {why}.")),
                StoreError::NoSuchVersion => ("NoSuchVersion", S::NOT_FOUND, "The specified version does not exist.".into()),
                StoreError::DeleteMarker { named: false, .. } => ("NoSuchKey", S::NOT_FOUND, "The specified key does not exist.".into()),
                StoreError::DeleteMarker { named: true, .. } => ("MethodNotAllowed", S::METHOD_NOT_ALLOWED, "The specified method is not allowed against this resource.".into()),
                StoreError::NoSuchUpload => ("NoSuchUpload", S::NOT_FOUND, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.".into()),
                StoreError::BucketAlreadyExists => ("BucketAlreadyExists", S::CONFLICT, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.".into()),
                StoreError::BucketAlreadyOwnedByYou => ("BucketAlreadyOwnedByYou", S::CONFLICT, "Your previous request to create the named bucket succeeded and you already own it.".into()),
                StoreError::BucketNotEmpty => ("BucketNotEmpty", S::CONFLICT, "The bucket you tried to delete is not empty".into()),
                StoreError::InvalidPart(n) => ("InvalidPart", S::BAD_REQUEST, format!("One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {n})")),
                StoreError::InvalidPartOrder => ("InvalidPartOrder", S::BAD_REQUEST, "The list of parts was not in ascending order. Parts must be ordered by part number.".into()),
                StoreError::EntityTooSmall(n) => ("EntityTooSmall", S::BAD_REQUEST, format!("Your proposed upload is smaller than the minimum allowed object size. (part {n})")),
                StoreError::InvalidArgument(m) => ("InvalidArgument", S::BAD_REQUEST, m.clone()),
                StoreError::InsufficientStorage(m) => ("InsufficientStorage", S::INSUFFICIENT_STORAGE, format!("Not enough space on this site for new data: {m}.")),
                StoreError::Failed(m) => ("ServiceUnavailable", S::SERVICE_UNAVAILABLE, format!("This site stopped taking changes after a metadata write failed ({m}); it must restart. Please retry.")),
                // The site's Ceph cluster did not do what was asked (unreachable, timed
                // out, refused): the request may succeed when it is back.
                StoreError::Rados { .. } | StoreError::ReadAgain | StoreError::ShardClosed => ("ServiceUnavailable", S::SERVICE_UNAVAILABLE, "The storage cluster behind this site did not complete the operation. Please retry.".into()),
                StoreError::PreconditionFailed => ("PreconditionFailed", S::PRECONDITION_FAILED, "At least one of the pre-conditions you specified did not hold".into()),
                StoreError::Conflict | StoreError::OperationAborted => ("OperationAborted", S::CONFLICT, "A conflicting conditional operation is currently in progress against this resource. Please try again.".into()),
                // Only the admin API meets these; it answers with the same statuses.
                StoreError::NoSuchUser => ("InvalidArgument", S::NOT_FOUND, e.to_string()),
                StoreError::UserExists => ("InvalidArgument", S::CONFLICT, e.to_string()),
                StoreError::Io(_)
                | StoreError::Db(_)
                | StoreError::Codec(_)
                | StoreError::BlockCorrupt(_)
                | StoreError::TaskFailed(_) => {
                    ("InternalError", S::INTERNAL_SERVER_ERROR, "We encountered an internal error. Please try again.".into())
                }
            },
            S3Error::AccessDenied(m) => ("AccessDenied", S::FORBIDDEN, (*m).into()),
            S3Error::InvalidAccessKeyId => ("InvalidAccessKeyId", S::FORBIDDEN, "The AWS Access Key Id you provided does not exist in our records.".into()),
            S3Error::SignatureDoesNotMatch => ("SignatureDoesNotMatch", S::FORBIDDEN, "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into()),
            S3Error::RequestTimeTooSkewed => ("RequestTimeTooSkewed", S::FORBIDDEN, "The difference between the request time and the current time is too large.".into()),
            S3Error::AuthorizationHeaderMalformed(m) => ("AuthorizationHeaderMalformed", S::BAD_REQUEST, m.clone()),
            S3Error::AuthorizationQueryParametersError(m) => ("AuthorizationQueryParametersError", S::BAD_REQUEST, m.clone()),
            S3Error::PresignExpiresOutOfRange(m) => ("AuthorizationQueryParametersError", S::FORBIDDEN, (*m).into()),
            S3Error::InvalidBucketName => ("InvalidBucketName", S::BAD_REQUEST, "The specified bucket is not valid.".into()),
            S3Error::KeyTooLong => ("KeyTooLongError", S::BAD_REQUEST, "Your key is too long".into()),
            S3Error::BadDigest(m) => ("BadDigest", S::BAD_REQUEST, (*m).into()),
            S3Error::InvalidDigest => ("InvalidDigest", S::BAD_REQUEST, "The Content-MD5 you specified is not valid.".into()),
            S3Error::ContentSha256Mismatch => ("XAmzContentSHA256Mismatch", S::BAD_REQUEST, "The provided 'x-amz-content-sha256' header does not match what was computed.".into()),
            S3Error::IncompleteBody => ("IncompleteBody", S::BAD_REQUEST, "You did not provide the number of bytes specified by the Content-Length HTTP header.".into()),
            S3Error::EntityTooLarge => ("EntityTooLarge", S::BAD_REQUEST, "Your proposed upload exceeds the maximum allowed object size.".into()),
            S3Error::MalformedXml => ("MalformedXML", S::BAD_REQUEST, "The XML you provided was not well-formed or did not validate against our published schema.".into()),
            S3Error::MetadataTooLarge => ("MetadataTooLarge", S::BAD_REQUEST, "Your metadata headers exceed the maximum allowed metadata size.".into()),
            S3Error::InvalidRange { .. } => ("InvalidRange", S::RANGE_NOT_SATISFIABLE, "The requested range is not satisfiable".into()),
            S3Error::InvalidArgument(m) => ("InvalidArgument", S::BAD_REQUEST, m.clone()),
            S3Error::InvalidRequest(m) => ("InvalidRequest", S::BAD_REQUEST, m.clone()),
            S3Error::PreconditionFailed => ("PreconditionFailed", S::PRECONDITION_FAILED, "At least one of the pre-conditions you specified did not hold".into()),
            S3Error::InvalidTag(m) => ("InvalidTag", S::BAD_REQUEST, m.clone()),
            S3Error::NoSuchTagSet => ("NoSuchTagSet", S::NOT_FOUND, "The TagSet does not exist".into()),
            S3Error::NoSuchCorsConfiguration => ("NoSuchCORSConfiguration", S::NOT_FOUND, "The CORS configuration does not exist".into()),
            S3Error::CorsForbidden => ("AccessForbidden", S::FORBIDDEN, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.".into()),
            S3Error::AclNotSupported => ("AccessControlListNotSupported", S::BAD_REQUEST, "The bucket does not allow ACLs".into()),
            S3Error::InvalidBucketAclWithObjectOwnership => ("InvalidBucketAclWithObjectOwnership", S::BAD_REQUEST, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting".into()),
            S3Error::ReadOnly => ("AccessDenied", S::FORBIDDEN, "This site is read-only (fenced for failover): write to the primary site.".into()),
            S3Error::MalformedAcl => ("MalformedACLError", S::BAD_REQUEST, "The XML you provided was not well-formed or did not validate against our published schema.".into()),
            S3Error::GrantByEmail => ("UnresolvableGrantByEmailAddress", S::BAD_REQUEST, "The email address you provided does not match any account on record.".into()),
            S3Error::MalformedPolicy(m) => ("MalformedPolicy", S::BAD_REQUEST, m.clone()),
            S3Error::NoSuchBucketPolicy => ("NoSuchBucketPolicy", S::NOT_FOUND, "The bucket policy does not exist".into()),
            S3Error::NoOwnershipControls => ("OwnershipControlsNotFoundError", S::NOT_FOUND, "The bucket ownership controls were not found".into()),
            S3Error::NoSuchLifecycleConfiguration => ("NoSuchLifecycleConfiguration", S::NOT_FOUND, "The lifecycle configuration does not exist".into()),
            S3Error::NoObjectLockConfiguration => ("ObjectLockConfigurationNotFoundError", S::NOT_FOUND, "Object Lock configuration does not exist for this bucket".into()),
            S3Error::NoSuchObjectLockConfiguration => ("NoSuchObjectLockConfiguration", S::NOT_FOUND, "The specified object does not have a ObjectLock configuration".into()),
            S3Error::InvalidBucketState(m) => ("InvalidBucketState", S::CONFLICT, m.clone()),
            S3Error::NoPublicAccessBlock => ("NoSuchPublicAccessBlockConfiguration", S::NOT_FOUND, "The public access block configuration was not found".into()),
            S3Error::InvalidPartNumber => ("InvalidPartNumber", S::RANGE_NOT_SATISFIABLE, "The requested partnumber is not satisfiable".into()),
            S3Error::HeadersTooLarge { limit } => ("RequestHeaderSectionTooLarge", S::BAD_REQUEST, format!("Your request header section exceeds the maximum allowed size ({limit} bytes).")),
            S3Error::MissingContentLength => ("MissingContentLength", S::LENGTH_REQUIRED, "You must provide the Content-Length HTTP header.".into()),
            S3Error::ServiceUnavailable(m) => ("ServiceUnavailable", S::SERVICE_UNAVAILABLE, format!("Service is unable to handle request: {m}. Please retry.")),
            S3Error::SlowDown => ("SlowDown", S::SERVICE_UNAVAILABLE, "Please reduce your request rate.".into()),
            S3Error::RequestTimeout => ("RequestTimeout", S::BAD_REQUEST, "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.".into()),
            S3Error::NotImplemented(m) => ("NotImplemented", S::NOT_IMPLEMENTED, format!("A header or query you provided implies functionality that is not implemented: {m}")),
        };
        (code, status, msg)
    }
}

pub type S3Result<T> = Result<T, S3Error>;
