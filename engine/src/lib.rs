//! # trawl
//!
//! Collect AWS security data, normalize it with sandboxed WASM mappers (OCSF by default) and
//! land it as Parquet or NDJSON in a data-lake layout — as one batch job.
//!
//! ```no_run
//! let cfg = trawl::config::Config::load(std::path::Path::new("examples/quickstart.toml"))?;
//! let summary = trawl::pipeline::run(&cfg, &trawl::pipeline::RunOptions::default())?;
//! assert!(summary.counts.reconciles());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Core concepts
//! - **Source** ([`sources`]): pulls raw records (one folder per source).
//! - **Raw batch** ([`batch`]): records plus provenance in one Arrow envelope schema.
//! - **Mapper** ([`mapper`]): a wasm module, run sandboxed once per batch, returning
//!   normalized events per OCSF class and a status per record.
//! - **Sink** ([`sinks`]): Parquet or NDJSON files in the Security Lake layout, plus the
//!   dead-letter output.
//! - **Connector** ([`aws`], [`config`]): one AWS account — credentials (static key,
//!   AssumeRole, instance profile or the default chain), region, endpoint — verified with
//!   sts:GetCallerIdentity; `trawl check` ([`check`]) tests every permission a source needs.
//! - **Commit** ([`state`], [`pipeline`]): objects are recorded as done only after their
//!   output is durable.

pub mod aws;
pub mod batch;
pub mod check;
pub mod cli;
pub mod config;
pub mod formats;
pub mod mapper;
pub mod ocsf;
pub mod pipeline;
pub mod sinks;
pub mod sources;
pub mod state;
