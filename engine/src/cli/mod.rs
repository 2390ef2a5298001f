//! The command line: `trawl run`, `trawl inspect`, `trawl mapper new|build|test|inspect`.
//!
//! Exit codes: 0 — everything read was written; 1 — the run finished but some records,
//! objects or sources failed (see the dead-letter output); 2 — fatal or config error.

mod inspect;
mod mapper_cmd;

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
    /// Objects finished in earlier runs are skipped. Records that cannot be written go to the
    /// dead-letter output with their reason and provenance. Exit code 0 when everything was
    /// written, 1 when something was dead-lettered or failed, 2 on a fatal error.
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
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config, summary_json, workers, quiet } => {
            let cfg = Config::load(&config)?;
            let summary = pipeline::run(&cfg, &RunOptions { quiet, workers, ..RunOptions::default() })?;
            if let Some(p) = summary_json {
                std::fs::write(&p, serde_json::to_vec_pretty(&summary)?).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
            }
            print_summary(&summary, &cfg);
            Ok(if summary.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
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
        "trawl run {}: {} records from {} objects ({}) in {:.2} s ({:.0} records/s)",
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
    println!("  objects        {:>8} read, {} already done, {} failed", c.objects_read, c.objects_already_done, c.objects_failed);
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
