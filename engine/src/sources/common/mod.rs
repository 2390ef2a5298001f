//! Helpers shared by the source families: day ranges ([`days`]), S3 log buckets in the
//! `AWSLogs/<account>/<service>/<region>/YYYY/MM/DD/` layout and object fetching ([`s3`]),
//! reading a record stream into the pipeline ([`ingest`]), the SQS receive/commit/delete
//! loop ([`queue`]), API paging with a rate limit and backoff ([`api`]), and the read window and
//! cursor of time-window APIs ([`window`]).

pub mod api;
pub mod days;
pub mod ingest;
pub mod queue;
pub mod s3;
pub mod window;
