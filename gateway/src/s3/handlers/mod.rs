//! One module per group of S3 operations. Handlers take an authenticated request and
//! return a response; they know nothing of routing.

pub mod acl;
pub mod batch;
pub mod bucket;
pub mod copy;
pub mod cors;
pub mod lifecycle;
pub mod list;
pub mod multipart;
pub mod object;
pub mod object_lock;
pub mod policy;
pub mod tagging;
pub mod versioning;
