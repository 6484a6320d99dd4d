//! The S3 entry point: authenticates each request, works out which bucket and key it
//! addresses, and dispatches to the handler for its operation. Routing imports the
//! handlers, never the other way round.

use crate::s3::access;
use crate::s3::authn;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::{
    acl, batch, bucket, copy, cors, lifecycle, list, multipart, object, object_lock, policy, tagging, versioning,
};
use crate::s3::operation::Operation;
use crate::s3::request::{address, check_header_size, parse_query, S3Request};
use crate::s3::response::{error_document, set};
use crate::s3::signed::{Payload, SignedRequest};
use crate::s3::state::S3State;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::Method;
use std::net::SocketAddr;
use strata_blockstore::UserStatus;

pub async fn handle(State(state): State<S3State>, req: Request) -> Response {
    let request_id = format!("{:016X}", rand::random::<u64>());
    let resource = req.uri().path().to_owned();
    let is_head = req.method() == Method::HEAD;
    let method = req.method().clone();
    let has_body = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(http::header::TRANSFER_ENCODING);
    let mut resp = match serve(&state, req).await {
        Ok(r) => r,
        Err(e) => {
            let (code, status, _) = e.parts();
            if status == http::StatusCode::INSUFFICIENT_STORAGE || status == http::StatusCode::SERVICE_UNAVAILABLE {
                // Conditions of the site (a full disk, a block not here yet), not faults.
                tracing::warn!(%request_id, %method, %resource, error = %e, "request refused");
            } else if status.is_server_error() {
                tracing::error!(%request_id, %method, %resource, error = %e, "request failed");
            } else {
                tracing::debug!(%request_id, %method, %resource, code, "request refused");
            }
            let body = if is_head {
                Body::empty()
            } else {
                Body::from(error_document(&e, &resource, &request_id))
            };
            let mut r = Response::new(body);
            *r.status_mut() = status;
            if !is_head {
                set(&mut r, "content-type", "application/xml");
            }
            if let S3Error::InvalidRange { size } = e {
                set(&mut r, "content-range", &format!("bytes */{size}"));
            }
            // What S3 tells of a key whose current version (or the version asked
            // for) is a delete marker.
            if let S3Error::Store(strata_blockstore::Error::DeleteMarker { version_id, .. }) = &e {
                set(&mut r, "x-amz-delete-marker", "true");
                set(&mut r, "x-amz-version-id", version_id);
            }
            if status == http::StatusCode::SERVICE_UNAVAILABLE {
                set(&mut r, "retry-after", "1");
            }
            if has_body {
                // An error may answer before the body is read (a full disk refuses a
                // PUT at once); the server then closes the connection, and a client
                // not told so could send its next request on it and lose it.
                set(&mut r, "connection", "close");
            }
            r
        }
    };
    set(&mut resp, "x-amz-request-id", &request_id);
    set(&mut resp, "server", "Strata");
    resp
}

async fn serve(state: &S3State, req: Request) -> S3Result<Response> {
    // After a failed metadata flush nothing is known durable: serve nothing until the
    // restart recovers the last durable state.
    if let Some(why) = state.store.failure() {
        return Err(S3Error::Store(strata_blockstore::Error::Failed(why)));
    }
    let (parts, body) = req.into_parts();
    check_header_size(&parts.headers)?;
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or(parts.uri.host());
    let addr = address(host, parts.uri.path(), state.root_domain.as_deref())?;
    // A CORS preflight carries no credentials: it is answered from the bucket's rules.
    if parts.method == Method::OPTIONS {
        return cors::preflight(state, addr.bucket, &parts.headers).await;
    }
    let origin = parts
        .headers
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let (bucket, method) = (addr.bucket.clone(), parts.method.clone());
    let raw_query = parts.uri.query().unwrap_or_default();
    let now = (strata_blockstore::now_millis() / 1000) as i64;
    let signed = SignedRequest {
        service: "s3",
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: raw_query,
        headers: &parts.headers,
    };
    let vhost_bucket = addr.bucket.as_deref().filter(|_| addr.vhost);
    // The user read to find the secret is the one the request runs as: read it once,
    // off the async thread. A store that fails here answers 500, not "no such key".
    let user = if authn::is_signed(&signed) {
        let user = match authn::claimed_access_key(&signed) {
            Some(ak) => state.run(move |s| s.user_by_access_key(&ak)).await?,
            None => None,
        }
        .filter(|u| u.status == UserStatus::Active);
        let verified = authn::verify(&signed, now, vhost_bucket, |ak| {
            user.as_ref()
                .filter(|u| u.access_key == ak)
                .map(|u| u.secret_key.clone())
        })?;
        let user = user
            .filter(|u| u.access_key == verified.access_key)
            .ok_or(S3Error::InvalidAccessKeyId)?;
        Some((user, verified.payload, verified.chunks))
    } else {
        None
    };
    let (user, payload, chunks) = match user {
        Some((u, p, c)) => (Some(u), p, c),
        // Anonymous: the body is taken as sent, as S3 does for unsigned requests.
        None => (None, Payload::Unsigned, None),
    };
    let client_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let req = S3Request {
        method: parts.method,
        bucket: addr.bucket,
        key: addr.key,
        query: parse_query(raw_query),
        headers: parts.headers,
        user,
        client_ip,
        secure: state.tls,
        payload,
        chunks,
        body,
        bucket_record: None,
        object: None,
    };
    let op = Operation::of(&req)?;
    // A fenced site (an old primary during failover) takes no client writes; what
    // replication brings still applies.
    if op.is_write() && state.store.read_only() {
        return Err(S3Error::ReadOnly);
    }
    let result = authorized(op, state, req).await;
    state.metrics.record(
        op.name(),
        result.as_ref().map(|r| r.status()).unwrap_or_else(|e| e.parts().1),
    );
    let mut resp = result?;
    if let (Some(origin), Some(bucket)) = (origin, bucket) {
        cors::decorate(state, &bucket, &origin, method.as_str(), &mut resp).await;
    }
    Ok(resp)
}

async fn authorized(op: Operation, state: &S3State, mut req: S3Request) -> S3Result<Response> {
    access::authorize(state, &mut req, op).await?;
    match op {
        Operation::ListBuckets => bucket::list_buckets(state, req).await,
        Operation::GetBucketLocation => bucket::get_location(state, req).await,
        Operation::ListMultipartUploads => multipart::list_uploads(state, req).await,
        Operation::ListObjectVersions => versioning::list_versions(state, req).await,
        Operation::GetBucketVersioning => versioning::get_versioning(state, req).await,
        Operation::GetBucketTagging => tagging::get_bucket_tagging(state, req).await,
        Operation::GetBucketAcl => acl::get_acl(state, req).await,
        Operation::GetBucketCors => cors::get_cors(state, req).await,
        Operation::GetBucketPolicy => policy::get_policy(state, req).await,
        Operation::GetBucketPolicyStatus => policy::get_policy_status(state, req).await,
        Operation::GetBucketOwnershipControls => policy::get_ownership(state, req).await,
        Operation::GetPublicAccessBlock => policy::get_public_access_block(state, req).await,
        Operation::ListObjectsV2 => list::list_objects(state, req, true).await,
        Operation::ListObjects => list::list_objects(state, req, false).await,
        Operation::PutBucketVersioning => versioning::put_versioning(state, req).await,
        Operation::GetBucketLifecycleConfiguration => lifecycle::get_lifecycle(state, req).await,
        Operation::PutBucketLifecycleConfiguration => lifecycle::put_lifecycle(state, req).await,
        Operation::DeleteBucketLifecycle => lifecycle::delete_lifecycle(state, req).await,
        Operation::GetObjectLockConfiguration => object_lock::get_lock_config(state, req).await,
        Operation::PutObjectLockConfiguration => object_lock::put_lock_config(state, req).await,
        Operation::GetObjectRetention => object_lock::get_retention(state, req).await,
        Operation::PutObjectRetention => object_lock::put_retention(state, req).await,
        Operation::GetObjectLegalHold => object_lock::get_legal_hold(state, req).await,
        Operation::PutObjectLegalHold => object_lock::put_legal_hold(state, req).await,
        Operation::PutBucketTagging => tagging::put_bucket_tagging(state, req).await,
        Operation::PutBucketAcl => acl::put_acl(state, req).await,
        Operation::PutBucketCors => cors::put_cors(state, req).await,
        Operation::PutBucketPolicy => policy::put_policy(state, req).await,
        Operation::PutBucketOwnershipControls => policy::put_ownership(state, req).await,
        Operation::PutPublicAccessBlock => policy::put_public_access_block(state, req).await,
        Operation::CreateBucket => bucket::create_bucket(state, req).await,
        Operation::HeadBucket => bucket::head_bucket(state, req).await,
        Operation::DeleteBucketTagging => tagging::delete_bucket_tagging(state, req).await,
        Operation::DeleteBucketCors => cors::delete_cors(state, req).await,
        Operation::DeleteBucketPolicy => policy::delete_policy(state, req).await,
        Operation::DeleteBucketOwnershipControls => policy::delete_ownership(state, req).await,
        Operation::DeletePublicAccessBlock => policy::delete_public_access_block(state, req).await,
        Operation::DeleteBucket => bucket::delete_bucket(state, req).await,
        Operation::DeleteObjects => batch::delete_objects(state, req).await,
        Operation::UploadPartCopy => copy::upload_part_copy(state, req).await,
        Operation::UploadPart => multipart::upload_part(state, req).await,
        Operation::PutObjectTagging => tagging::put_object_tagging(state, req).await,
        Operation::PutObjectAcl => acl::put_acl(state, req).await,
        Operation::CopyObject => copy::copy_object(state, req).await,
        Operation::PutObject => object::put_object(state, req).await,
        Operation::ListParts => multipart::list_parts(state, req).await,
        Operation::GetObjectTagging => tagging::get_object_tagging(state, req).await,
        Operation::GetObjectAcl => acl::get_acl(state, req).await,
        Operation::GetObjectAttributes => object::get_object_attributes(state, req).await,
        Operation::GetObject => object::get_object(state, req, false).await,
        Operation::HeadObject => object::get_object(state, req, true).await,
        Operation::CreateMultipartUpload => multipart::create(state, req).await,
        Operation::CompleteMultipartUpload => multipart::complete(state, req).await,
        Operation::AbortMultipartUpload => multipart::abort(state, req).await,
        Operation::DeleteObjectTagging => tagging::delete_object_tagging(state, req).await,
        Operation::DeleteObject => object::delete_object(state, req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::ops::Bound;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use strata_blockstore::{Engine, Entry, Scan, ShardId, SledEngine, Store, StoreConfig, Tree, TxResult, Txn};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The sled engine, except that reads of users fail while `broken` is set.
    struct UsersFail {
        inner: SledEngine,
        broken: Arc<AtomicBool>,
    }

    impl Engine for UsersFail {
        fn transact(&self, f: &mut dyn FnMut(&dyn Txn) -> TxResult<()>) -> strata_blockstore::Result<()> {
            self.inner.transact(f)
        }
        fn get(&self, tree: Tree, key: &[u8]) -> strata_blockstore::Result<Option<Vec<u8>>> {
            if tree == Tree::Users && self.broken.load(Ordering::SeqCst) {
                let e = std::io::Error::other("injected: the users tree cannot be read");
                return Err(strata_blockstore::Error::Db(Box::new(e)));
            }
            self.inner.get(tree, key)
        }
        fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> strata_blockstore::Result<()> {
            self.inner.put(tree, key, value)
        }
        fn remove(&self, tree: Tree, key: &[u8]) -> strata_blockstore::Result<()> {
            self.inner.remove(tree, key)
        }
        fn range(&self, tree: Tree, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'static> {
            self.inner.range(tree, from, to)
        }
        fn shard(&self, id: &ShardId) -> strata_blockstore::Result<Box<dyn Engine>> {
            self.inner.shard(id)
        }
        fn last(&self, tree: Tree) -> strata_blockstore::Result<Option<Entry>> {
            self.inner.last(tree)
        }
        fn flush(&self) -> strata_blockstore::Result<()> {
            self.inner.flush()
        }
    }

    /// One signed-looking request over a real socket; the status line's code and body.
    async fn get_bucket(addr: std::net::SocketAddr, access_key: &str) -> (u16, String) {
        let date = crate::timefmt::amz_date(strata_blockstore::now_millis() as i64 / 1000);
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /photos HTTP/1.1\r\nhost: {addr}\r\nx-amz-date: {date}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\
             authorization: AWS4-HMAC-SHA256 Credential={access_key}/{}/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}\r\nconnection: close\r\n\r\n",
            &date[..8],
            "0".repeat(64)
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        let status = answer[9..12].parse().unwrap();
        (status, answer)
    }

    #[tokio::test]
    async fn a_storage_error_in_the_user_lookup_is_a_server_error_not_an_unknown_key() {
        let dir = tempfile::tempdir().unwrap();
        let broken = Arc::new(AtomicBool::new(false));
        let engine = UsersFail {
            inner: SledEngine::open(&dir.path().join("meta"), 1 << 20).unwrap(),
            broken: broken.clone(),
        };
        let store = Store::open_with_engine(StoreConfig::new(dir.path()), Box::new(engine)).unwrap();
        let user = store.create_user("alice", None, None).unwrap();
        let app = crate::s3::service(S3State {
            store,
            metrics: Arc::new(Metrics::default()),
            region: "us-east-1".into(),
            root_domain: None,
            default_ownership: strata_blockstore::ObjectOwnership::ObjectWriter,
            tls: false,
            repl: None,
            uploads: crate::s3::uploads::Uploads::new(8, std::time::Duration::from_secs(30)),
            lifecycle_day_ms: 86_400_000,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        // Healthy store: the key is found, the (dummy) signature is what fails.
        let (status, body) = get_bucket(addr, &user.access_key).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("<Code>SignatureDoesNotMatch</Code>"), "{body}");
        let (status, body) = get_bucket(addr, "NOSUCHKEY").await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("<Code>InvalidAccessKeyId</Code>"), "{body}");

        // The store cannot read users: the client must not be told its key is unknown.
        broken.store(true, Ordering::SeqCst);
        let (status, body) = get_bucket(addr, &user.access_key).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("<Code>InternalError</Code>"), "{body}");
        assert!(!body.contains("InvalidAccessKeyId"), "{body}");
    }
}
