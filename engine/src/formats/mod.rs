//! Readers for the byte formats AWS delivers, independent of where the bytes come from
//! (local file, S3 object, SQS-notified object): each works on any [`std::io::Read`].

pub mod cloudtrail_log;
pub mod compression;
