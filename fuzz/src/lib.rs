//! The code under fuzzing, compiled from the engine's own files: the record readers and the
//! SQS message parser depend on nothing of the engine but these few crates, so fuzzing them
//! does not build wasmtime and the AWS SDK with sanitizers.

#[path = "../../engine/src/formats/mod.rs"]
pub mod formats;

#[path = "../../engine/src/sources/sqs/notification.rs"]
pub mod notification;
