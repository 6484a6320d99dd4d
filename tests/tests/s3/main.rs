//! The S3 API driven by aws-sdk-s3 against a real site, with the bytes read back and
//! compared: one module per group of operations, as the gateway's `s3/handlers` are.

mod access;
mod acl;
mod batch;
mod bucket;
mod copy;
mod cors;
mod list;
mod multipart;
mod object;
mod object_lock;
mod router;
mod tagging;
mod versioning;
