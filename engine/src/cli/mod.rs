//! The command line: `trawl run`, `trawl check`, `trawl inspect`,
//! `trawl mapper new|build|test|inspect`.
//!
//! Exit codes: 0 — everything read was written; 1 — the run finished but some records,
//! objects or sources failed (see the dead-letter output); 2 — fatal or config error.

mod inspect;
mod mapper_cmd;
pub mod redact;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    config::Config,
    mapper::{MapperLimits, MapperRef, WasmMapper},
    pipeline::{self, RunOptions, RunSummary},
};

/// trawl: collect AWS security data, normalize it to OCSF with sandboxed WASM mappers, and
/// land it as Parquet or NDJSON in a data-lake layout.
#[derive(Debug, Parser)]
#[command(name = "trawl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v info, -vv debug). TRAWL_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every connector and source in the config once, then exit.
    ///
    /// Objects finished in earlier runs are skipped, and cursor sources resume where they
    /// were. Records that cannot be written go to the dead-letter output with their reason and
    /// provenance. Exit code 0 when everything was written, 1 when something was
    /// dead-lettered, failed or is left for the next run, 2 on a fatal error.
    #[command(after_long_help = format!("{}\n{}", crate::sources::help(), crate::sinks::help()))]
    Run {
        /// The TOML config (see examples/quickstart.toml).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Also write the run summary as JSON to this file.
        #[arg(long, value_name = "PATH")]
        summary_json: Option<PathBuf>,
        /// Mapper worker threads (default: pipeline.workers, else the number of CPUs).
        #[arg(long)]
        workers: Option<usize>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
        /// First day (UTC) for backfill sources such as cloudtrail_s3: YYYY-MM-DD or <N>d
        /// (N days ago). Overrides the sources' `since` (for cursor sources such as
        /// cloudtrail_lookup, only where a lane has no cursor yet).
        #[arg(long, value_name = "DAY")]
        since: Option<String>,
        /// Last day (UTC), inclusive; same forms. Overrides the sources' `until`.
        #[arg(long, value_name = "DAY")]
        until: Option<String>,
        /// Queue sources (sqs) stop receiving after this long, e.g. 90s, 15m, 2h; what was
        /// received is still finished and committed. Default: until the queue is drained.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_duration: Option<std::time::Duration>,
    },
    /// Check connectors' credentials and each source's and output's permissions.
    ///
    /// Per connector: the credentials resolve and belong to the expected account. Per source
    /// and output: one cheap read call that needs the permission the source needs. Prints OK
    /// or FAILED with the AWS error code and the missing permission; exit code 1 on any
    /// failure. Writes nothing and receives no queue message.
    #[command(after_long_help = crate::sources::help())]
    Check {
        /// The TOML config.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Only this connector (outputs are then not checked).
        #[arg(long, value_name = "NAME")]
        connector: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the rows of an output file (Parquet, NDJSON, .json.gz), or list the files of an
    /// output directory with their row counts.
    Inspect {
        /// A file or an output directory.
        path: PathBuf,
        /// Rows to print (0 = all).
        #[arg(short = 'n', long, default_value_t = 10)]
        limit: usize,
        /// Print the schema instead of rows.
        #[arg(long)]
        schema: bool,
    },
    /// Work with mapper modules.
    Mapper {
        #[command(subcommand)]
        command: MapperCommand,
    },
}

#[derive(Debug, Subcommand)]
enum MapperCommand {
    /// Create a mapper crate from the template (trait impl, export macro, a unit test, a
    /// sample input, rust-toolchain.toml naming the wasm32-wasip1 target).
    New {
        /// Directory to create; its last component is the crate name.
        path: PathBuf,
    },
    /// Build a mapper crate to a .wasm module, choosing the toolchain by itself (rustup's
    /// wasm32-wasip1 target, else Debian's rustc-web with build-std), and check that it loads.
    Build {
        /// The crate directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to put the module (default: <dir>/<crate>.wasm).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cargo profile.
        #[arg(long, default_value = "release")]
        profile: String,
        /// Target directory root (default: <dir>/target); builds go to <root>/wasm-<toolchain>.
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    /// Map sample input through the real host and sandbox, print the result or diff it
    /// against a golden file.
    Test {
        /// A .wasm file or builtin:<name>.
        mapper: String,
        /// Sample input: a CloudTrail log file (.json, .json.gz) or one record per line.
        #[arg(long)]
        input: PathBuf,
        /// Golden file to compare with (created when missing).
        #[arg(long)]
        golden: Option<PathBuf>,
        /// Overwrite the golden file with the current output.
        #[arg(long)]
        update: bool,
        /// The mapper's config, as JSON.
        #[arg(long)]
        config: Option<String>,
    },
    /// Load a mapper and print its manifest, ABI version, imports and exports.
    Inspect {
        /// A .wasm file or builtin:<name>.
        mapper: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,wasmtime=warn,cranelift=warn",
        _ => "debug,wasmtime=info,cranelift=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAWL_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: logs piped to files or collectors stay plain text.
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| redact::RedactingStderr).with_target(false).with_ansi(ansi).try_init();
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config, summary_json, workers, quiet, since, until, max_duration } => {
            let cfg = Config::load(&config)?;
            let today = chrono::Utc::now().date_naive();
            let day = |flag: &str, v: Option<String>| -> anyhow::Result<Option<chrono::NaiveDate>> {
                v.map(|s| crate::sources::parse_day(&s, today).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))).transpose()
            };
            let opts = RunOptions { quiet, workers, since: day("since", since)?, until: day("until", until)?, max_duration, ..RunOptions::default() };
            if let (Some(a), Some(b)) = (opts.since, opts.until)
                && a > b
            {
                anyhow::bail!("--since {a} is after --until {b}");
            }
            let summary = pipeline::run(&cfg, &opts)?;
            if let Some(p) = summary_json {
                std::fs::write(&p, serde_json::to_vec_pretty(&summary)?).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
            }
            print_summary(&summary, &cfg);
            Ok(if summary.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Check { config, connector, json } => {
            let cfg = Config::load(&config)?;
            if let Some(n) = &connector
                && !cfg.connectors.iter().any(|c| &c.name == n)
            {
                anyhow::bail!("no connector named {n:?} in {}", config.display());
            }
            let results = crate::check::check(&cfg, connector.as_deref());
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print_check(&results);
            }
            Ok(if results.iter().all(|r| r.ok) { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Inspect { path, limit, schema } => {
            inspect::inspect(&path, limit, schema, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mapper { command: MapperCommand::New { path } } => {
            mapper_cmd::new(&path)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mapper { command: MapperCommand::Build { dir, out, profile, target_dir } } => {
            mapper_cmd::build(&dir, out.as_deref(), &profile, target_dir.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mapper { command: MapperCommand::Test { mapper, input, golden, update, config } } => {
            mapper_cmd::test(&mapper, &input, golden.as_deref(), update, config.as_deref())
        }
        Command::Mapper { command: MapperCommand::Inspect { mapper } } => {
            let r = MapperRef::parse(&mapper);
            let (bytes, display) = r.load_bytes()?;
            let m = WasmMapper::load(&bytes, &display, None, &serde_json::Value::Null, MapperLimits::default())?;
            inspect::print_mapper(&display, &bytes, &m)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `90s`, `15m`, `2h`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: expected a number with s, m or h, e.g. 15m"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: unit must be s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

fn print_check(results: &[crate::check::CheckResult]) {
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |r: &crate::check::CheckResult| {
        let (word, code) = match (r.ok, r.warning) {
            (true, false) => ("OK", 32),
            (true, true) => ("WARN", 33),
            (false, _) => ("FAILED", 31),
        };
        if color { format!("\x1b[{code}m{word:<6}\x1b[0m") } else { format!("{word:<6}") }
    };
    let cw = results.iter().map(|r| r.connector.len()).max().unwrap_or(9).max(9);
    let tw = results.iter().map(|r| r.target.len()).max().unwrap_or(6).max(6);
    println!("{:<cw$}  {:<tw$}  {:<6}  DETAIL", "CONNECTOR", "SOURCE", "STATUS");
    for r in results {
        let detail = match (&r.permission, &r.code) {
            (Some(p), Some(code)) => format!("{p} [{code}: {}]", r.detail),
            (None, Some(code)) => format!("{code}: {}", r.detail),
            _ => r.detail.clone(),
        };
        println!("{:<cw$}  {:<tw$}  {}  {detail}", r.connector, r.target, paint(r));
    }
    let failed = results.iter().filter(|r| !r.ok).count();
    let warned = results.iter().filter(|r| r.ok && r.warning).count();
    let warnings = if warned > 0 { format!(" ({warned} with a warning)") } else { String::new() };
    if failed == 0 {
        println!("All {} checks passed{warnings}.", results.len());
    } else {
        println!("{failed} of {} checks failed{warnings}.", results.len());
    }
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", units[u]) }
}

fn print_summary(s: &RunSummary, cfg: &Config) {
    let c = &s.counts;
    let rate = if s.seconds > 0.0 { c.records_read as f64 / s.seconds } else { 0.0 };
    println!(
        "trawl run {}: {} records from {} units ({}) in {:.2} s ({:.0} records/s)",
        s.run_id,
        c.records_read,
        c.objects_read,
        human_bytes(c.bytes_read),
        s.seconds,
        rate
    );
    println!("  written        {:>8} records → {} events in {} files", c.records_written, c.events_written, s.files_written);
    println!("  skipped        {:>8} (dropped by the mapper)", c.records_skipped);
    println!("  dead-lettered  {:>8}", c.records_dead_lettered);
    println!("  units          {:>8} read, {} already done, {} failed", c.objects_read, c.objects_already_done, c.objects_failed);
    if s.mapper_warnings > 0 {
        println!("  mapper warnings {:>7} (records mapped, but odd: see the log)", s.mapper_warnings);
    }
    if c.objects_retry_later > 0 {
        println!("  retry later    {:>8} (could not be read now; not checkpointed, the next run reads them)", c.objects_retry_later);
    }
    for src in &s.sources {
        if let Some(e) = &src.error {
            println!("  FAILED source {} / {}: {e}", src.connector, src.source);
        }
    }
    if let Some(d) = &s.dead_letter_file {
        println!("Dead letters (reason, object, offset, raw record): {}", d.display());
    }
    if s.files_written > 0 {
        for o in &cfg.outputs {
            println!("Output: {}   — look at it with: trawl inspect {}", o.path().display(), o.path().display());
        }
    } else if c.objects_already_done > 0 && c.objects_read == 0 {
        println!("Nothing new: every object was processed by an earlier run (state in {}).", cfg.state.dir.display());
    }
}
