//! One module per group of S3 operations. Handlers take an authenticated request and
//! return a response; they know nothing of routing.

pub mod bucket;
pub mod list;
pub mod multipart;
pub mod object;
