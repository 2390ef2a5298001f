//! trawl's integration tests: one binary (`cargo test -p trawl --test integration`), run by
//! `tests/run.sh`. The harness is in `common/`. Where new tests go:
//! - a mapper's output on sample data → `golden.rs` (goldens in `tests/golden/`);
//! - OCSF conformance of output → `ocsf.rs`; the schema validator itself → `ocsf_schema.rs`;
//! - whole runs of the `trawl` binary → `e2e.rs`; bad input → `bad_input.rs`;
//! - kill -9 and rerun, concurrent runs, injected faults → `faults.rs`;
//! - the mapper host (loading, sandbox, isolation) → `mapper_host.rs`;
//! - embedded mapper freshness → `stale.rs`;
//! - AWS sources, the S3 output, auth modes and `trawl check`, against moto → `aws.rs`;
//! - a source that needs a wire fake (`common/fakes.rs`) → a file named after it
//!   (`cloudtrail_lookup.rs`);
//! - the authoring loop and `examples/custom-mapper` → `custom_mapper.rs`;
//! - the Security Lake custom-source layout (`layout = "security_lake"`) → `security_lake.rs`.

mod common;

mod all_sources;
mod aws;
mod bad_input;
mod cloudtrail_lookup;
mod cloudwatch_alarms;
mod cloudwatch_logs;
mod custom_mapper;
mod e2e;
mod faults;
mod golden;
mod guardduty;
mod inspector;
mod macie;
mod iam;
mod mapper_host;
mod ocsf;
mod ocsf_schema;
mod redshift_audit;
mod redshift_events;
mod security_lake;
mod shield;
mod sqs_routing;
mod stale;
mod variations;
mod vpc_flow;
