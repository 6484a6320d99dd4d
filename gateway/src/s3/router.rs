//! The S3 entry point: authenticates each request, works out which bucket and key it
//! addresses, and dispatches to the handler for its operation. Routing imports the
//! handlers, never the other way round.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::{acl, batch, bucket, copy, cors, list, multipart, object, tagging, versioning};
use crate::s3::request::{address, check_header_size, parse_query, S3Request};
use crate::s3::response::set;
use crate::s3::sigv4::{verify, SignedRequest};
use crate::s3::state::S3State;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::Method;
use strata_blockstore::UserStatus;

pub async fn handle(State(state): State<S3State>, req: Request) -> Response {
    let request_id = format!("{:016X}", rand::random::<u64>());
    let resource = req.uri().path().to_owned();
    let is_head = req.method() == Method::HEAD;
    let method = req.method().clone();
    let mut resp = match serve(&state, req).await {
        Ok(r) => r,
        Err(e) => {
            let (code, status, _) = e.parts();
            if status.is_server_error() {
                tracing::error!(%request_id, %method, %resource, error = %e, "request failed");
            } else {
                tracing::debug!(%request_id, %method, %resource, code, "request refused");
            }
            let body = if is_head {
                Body::empty()
            } else {
                Body::from(e.to_xml(&resource, &request_id))
            };
            let mut r = Response::new(body);
            *r.status_mut() = status;
            if !is_head {
                set(&mut r, "content-type", "application/xml");
            }
            if let S3Error::InvalidRange { size } = e {
                set(&mut r, "content-range", &format!("bytes */{size}"));
            }
            r
        }
    };
    set(&mut resp, "x-amz-request-id", &request_id);
    set(&mut resp, "server", "Strata");
    resp
}

async fn serve(state: &S3State, req: Request) -> S3Result<Response> {
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
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: raw_query,
        headers: &parts.headers,
    };
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or(parts.uri.host());
    let addr = address(host, parts.uri.path(), state.root_domain.as_deref())?;
    let vhost_bucket = addr.bucket.as_deref().filter(|_| addr.vhost);
    let store = state.store.clone();
    let verified = verify(&signed, now, vhost_bucket, |ak| {
        store
            .user_by_access_key(ak)
            .ok()
            .flatten()
            .filter(|u| u.status == UserStatus::Active)
            .map(|u| u.secret_key)
    })?;
    let user = state
        .store
        .user_by_access_key(&verified.access_key)?
        .ok_or(S3Error::InvalidAccessKeyId)?;
    let req = S3Request {
        method: parts.method,
        bucket: addr.bucket,
        key: addr.key,
        query: parse_query(raw_query),
        headers: parts.headers,
        user,
        payload: verified.payload,
        chunks: verified.chunks,
        body,
    };
    let mut resp = dispatch(state, req).await?;
    if let (Some(origin), Some(bucket)) = (origin, bucket) {
        cors::decorate(state, &bucket, &origin, method.as_str(), &mut resp).await;
    }
    Ok(resp)
}

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

async fn dispatch(state: &S3State, req: S3Request) -> S3Result<Response> {
    let unsupported = |what: &str| Err(S3Error::NotImplemented(what.to_owned()));
    // Buckets here are never versioned: the only version of an object is "null".
    if req.q("versionId").is_some_and(|v| v != "null") {
        return Err(S3Error::InvalidArgument("Invalid version id specified".into()));
    }
    let m = req.method.clone();
    match (req.bucket.is_some(), req.key.is_some()) {
        (false, _) => match m {
            Method::GET => bucket::list_buckets(state, req).await,
            _ => unsupported(&format!("{m} on the service")),
        },
        (true, false) => match m {
            Method::GET if req.has("location") => {
                only(&req, &["location"])?;
                bucket::get_location(state, req).await
            }
            Method::GET if req.has("uploads") => {
                only(&req, LIST_UPLOADS)?;
                multipart::list_uploads(state, req).await
            }
            Method::GET if req.has("versions") => {
                only(&req, LIST_VERSIONS)?;
                versioning::list_versions(state, req).await
            }
            Method::GET if req.has("versioning") => {
                only(&req, &["versioning"])?;
                versioning::get_versioning(state, req).await
            }
            Method::GET if req.has("tagging") => {
                only(&req, &["tagging"])?;
                tagging::get_bucket_tagging(state, req).await
            }
            Method::GET if req.has("acl") => {
                only(&req, &["acl"])?;
                acl::get_acl(state, req).await
            }
            Method::GET if req.has("cors") => {
                only(&req, &["cors"])?;
                cors::get_cors(state, req).await
            }
            Method::GET if req.q("list-type") == Some("2") => {
                only(&req, LIST_V2)?;
                list::list_objects(state, req, true).await
            }
            Method::GET => {
                only(&req, LIST_V1)?;
                list::list_objects(state, req, false).await
            }
            Method::PUT if req.has("tagging") => {
                only(&req, &["tagging"])?;
                tagging::put_bucket_tagging(state, req).await
            }
            Method::PUT if req.has("acl") => {
                only(&req, &["acl"])?;
                acl::put_acl(state, req).await
            }
            Method::PUT if req.has("cors") => {
                only(&req, &["cors"])?;
                cors::put_cors(state, req).await
            }
            Method::PUT => {
                only(&req, &[])?;
                bucket::create_bucket(state, req).await
            }
            Method::HEAD => bucket::head_bucket(state, req).await,
            Method::DELETE if req.has("tagging") => {
                only(&req, &["tagging"])?;
                tagging::delete_bucket_tagging(state, req).await
            }
            Method::DELETE if req.has("cors") => {
                only(&req, &["cors"])?;
                cors::delete_cors(state, req).await
            }
            Method::DELETE => {
                only(&req, &[])?;
                bucket::delete_bucket(state, req).await
            }
            Method::POST if req.has("delete") => {
                only(&req, &["delete"])?;
                batch::delete_objects(state, req).await
            }
            _ => unsupported(&format!("{m} on a bucket")),
        },
        (true, true) => match m {
            Method::PUT if req.has("uploadId") && req.headers.contains_key("x-amz-copy-source") => {
                only(&req, &["uploadId", "partNumber"])?;
                copy::upload_part_copy(state, req).await
            }
            Method::PUT if req.has("uploadId") => {
                only(&req, &["uploadId", "partNumber"])?;
                multipart::upload_part(state, req).await
            }
            Method::PUT if req.has("tagging") => {
                only(&req, &["tagging", "versionId"])?;
                tagging::put_object_tagging(state, req).await
            }
            Method::PUT if req.has("acl") => {
                only(&req, &["acl", "versionId"])?;
                acl::put_acl(state, req).await
            }
            Method::PUT if req.headers.contains_key("x-amz-copy-source") => {
                only(&req, &[])?;
                copy::copy_object(state, req).await
            }
            Method::PUT => {
                only(&req, &[])?;
                object::put_object(state, req).await
            }
            Method::GET if req.has("uploadId") => {
                only(&req, LIST_PARTS)?;
                multipart::list_parts(state, req).await
            }
            Method::GET if req.has("tagging") => {
                only(&req, &["tagging", "versionId"])?;
                tagging::get_object_tagging(state, req).await
            }
            Method::GET if req.has("acl") => {
                only(&req, &["acl", "versionId"])?;
                acl::get_acl(state, req).await
            }
            Method::GET if req.has("attributes") => {
                only(&req, &["attributes", "versionId"])?;
                object::get_object_attributes(state, req).await
            }
            Method::GET => {
                only(&req, GET_OBJECT)?;
                object::get_object(state, req, false).await
            }
            Method::HEAD => {
                only(&req, GET_OBJECT)?;
                object::get_object(state, req, true).await
            }
            Method::POST if req.has("uploads") => {
                only(&req, &["uploads"])?;
                multipart::create(state, req).await
            }
            Method::POST if req.has("uploadId") => {
                only(&req, &["uploadId"])?;
                multipart::complete(state, req).await
            }
            Method::DELETE if req.has("uploadId") => {
                only(&req, &["uploadId"])?;
                multipart::abort(state, req).await
            }
            Method::DELETE if req.has("tagging") => {
                only(&req, &["tagging", "versionId"])?;
                tagging::delete_object_tagging(state, req).await
            }
            Method::DELETE => {
                only(&req, &["versionId"])?;
                object::delete_object(state, req).await
            }
            _ => unsupported(&format!("{m} on an object")),
        },
    }
}

/// Subresources this site does not implement answer 501, never a wrong operation.
fn only(req: &S3Request, known: &[&str]) -> S3Result<()> {
    match req.unknown_params(known) {
        Some(p) => Err(S3Error::NotImplemented(format!("the '{p}' subresource or parameter"))),
        None => Ok(()),
    }
}
