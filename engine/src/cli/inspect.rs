//! `trawl inspect` and `trawl mapper inspect`.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    path::Path,
};

use anyhow::Context;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{mapper::BatchMapper, mapper::WasmMapper, sinks::ndjson::timestamps_as_millis};

/// Prints a file's rows (or schema), or lists an output directory.
pub fn inspect(path: &Path, limit: usize, schema: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut total = 0u64;
        let mut files = 0u64;
        for e in walkdir::WalkDir::new(path).sort_by_file_name() {
            let e = e?;
            let p = e.path();
            if !e.file_type().is_file() || p.components().any(|c| c.as_os_str() == ".tmp") {
                continue;
            }
            let rows = match file_kind(p) {
                Kind::Parquet => ParquetRecordBatchReaderBuilder::try_new(File::open(p)?)?.metadata().file_metadata().num_rows() as u64,
                Kind::Json | Kind::JsonGz => lines(p)?.count() as u64,
                Kind::Other => continue,
            };
            writeln!(out, "{rows:>10}  {}", p.display())?;
            total += rows;
            files += 1;
        }
        writeln!(out, "{total:>10}  rows in {files} files")?;
        return Ok(());
    }
    match file_kind(path) {
        Kind::Parquet => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).with_context(|| format!("cannot open {}", path.display()))?)
                .with_context(|| format!("{} is not a Parquet file", path.display()))?;
            if schema {
                for f in builder.schema().fields() {
                    writeln!(out, "{}: {}", f.name(), f.data_type())?;
                }
                return Ok(());
            }
            let total = builder.metadata().file_metadata().num_rows();
            let mut shown = 0usize;
            let mut w = arrow_json::LineDelimitedWriter::new(&mut *out);
            for batch in builder.build()? {
                let batch = batch?;
                let take = if limit == 0 { batch.num_rows() } else { (limit - shown).min(batch.num_rows()) };
                w.write(&timestamps_as_millis(&batch.slice(0, take)))?;
                shown += take;
                if limit != 0 && shown >= limit {
                    break;
                }
            }
            w.finish()?;
            drop(w);
            writeln!(out, "-- {shown} of {total} rows of {}", path.display())?;
        }
        Kind::Json | Kind::JsonGz => {
            let mut shown = 0;
            for line in lines(path)? {
                if limit != 0 && shown >= limit {
                    break;
                }
                writeln!(out, "{}", line?)?;
                shown += 1;
            }
        }
        Kind::Other => anyhow::bail!("{}: not a .parquet, .json or .json.gz file", path.display()),
    }
    Ok(())
}

enum Kind {
    Parquet,
    Json,
    JsonGz,
    Other,
}

fn file_kind(p: &Path) -> Kind {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if n.ends_with(".parquet") {
        Kind::Parquet
    } else if n.ends_with(".json.gz") || n.ends_with(".ndjson.gz") {
        Kind::JsonGz
    } else if n.ends_with(".json") || n.ends_with(".ndjson") {
        Kind::Json
    } else {
        Kind::Other
    }
}

fn lines(p: &Path) -> anyhow::Result<std::io::Lines<Box<dyn BufRead>>> {
    let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
    let r: Box<dyn BufRead> = match file_kind(p) {
        Kind::JsonGz => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f))),
        _ => Box::new(BufReader::new(f)),
    };
    Ok(r.lines())
}

/// Prints what `trawl mapper inspect` shows.
pub fn print_mapper(display: &str, bytes: &[u8], m: &WasmMapper) -> anyhow::Result<()> {
    let man = m.manifest();
    println!("mapper       {display}");
    println!("name         {} {}", man.name, man.version);
    println!("description  {}", man.description);
    println!("ABI          {}.{} (sdk {})", man.abi_major, man.abi_minor, man.sdk_version);
    println!("OCSF         {}", if man.ocsf_version.is_empty() { "-" } else { &man.ocsf_version });
    println!("size         {} bytes", bytes.len());
    println!("sources      {}", if man.source_kinds.is_empty() { "any".to_string() } else { man.source_kinds.join(", ") });
    for c in &man.classes {
        println!("class        {} {} ({} columns)", c.uid, c.name, c.schema.fields().len());
    }
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_binary(&engine, bytes)?;
    for i in module.imports() {
        println!("import       {}::{}", i.module(), i.name());
    }
    for e in module.exports() {
        println!("export       {}", e.name());
    }
    Ok(())
}
