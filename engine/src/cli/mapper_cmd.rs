//! `trawl mapper new | build | test | inspect`: the mapper authoring loop.

use std::{
    io::{BufRead, Read},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};

use crate::{
    batch::{ObjectInfo, RawBatch, RawBatchBuilder},
    formats::{
        json_records::JsonRecordsReader,
        FormatError,
        compression::decompressed,
    },
    mapper::{BatchMapper, MapperLimits, MapperRef, WasmMapper, toolchain},
};

/// `trawl mapper new <path>`: a mapper crate from the template.
pub fn new(path: &Path) -> anyhow::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).context("the mapper path needs a final name")?;
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    let crate_name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    // Inside a trawl checkout, depend on its guest SDK by path; elsewhere on the published crate.
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    let sdk_dep = match sdk.canonicalize() {
        Ok(p) => format!("{{ path = \"{}\" }}", p.display()),
        Err(_) => format!("\"{}\"", env!("CARGO_PKG_VERSION")),
    };
    let files: [(&str, String); 5] = [
        ("Cargo.toml", TEMPLATE_CARGO.replace("{name}", &crate_name).replace("{sdk}", &sdk_dep)),
        ("rust-toolchain.toml", TEMPLATE_TOOLCHAIN.to_string()),
        ("src/lib.rs", TEMPLATE_LIB.to_string()),
        ("samples/sample.json", TEMPLATE_SAMPLE.to_string()),
        (".gitignore", "/target\n*.wasm\n".to_string()),
    ];
    for (rel, text) in files {
        let p = path.join(rel);
        std::fs::create_dir_all(p.parent().expect("has a parent"))?;
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    println!("created mapper crate {} ({crate_name})", path.display());
    println!("  cargo test --manifest-path {}/Cargo.toml      # unit tests, natively", path.display());
    println!("  trawl mapper build {}                        # → {}/{}.wasm", path.display(), path.display(), crate_name);
    println!("  trawl mapper test {0}/{1}.wasm --input {0}/samples/sample.json --golden {0}/samples/sample.golden.json --update", path.display(), crate_name);
    Ok(())
}

/// `trawl mapper build [<dir>] [--out F]`: builds, checks that trawl loads it, prints its size.
pub fn build(dir: &Path, out: Option<&Path>, profile: &str, target_root: Option<&Path>) -> anyhow::Result<PathBuf> {
    let route = toolchain::find_route().map_err(anyhow::Error::msg)?;
    let name = toolchain::crate_name(dir).map_err(anyhow::Error::msg)?;
    let target_root = target_root.map(Path::to_path_buf).unwrap_or_else(|| dir.join("target"));
    let built = toolchain::build(dir, profile, &target_root, &route).map_err(anyhow::Error::msg)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| dir.join(format!("{name}.wasm")));
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(&built, &out).with_context(|| format!("cannot copy {} to {}", built.display(), out.display()))?;
    let bytes = std::fs::read(&out)?;
    let m = WasmMapper::load(&bytes, &out.display().to_string(), None, &serde_json::Value::Null, MapperLimits::default())?;
    eprintln!(
        "built {} ({} bytes, {} {}, ABI {}.{}, toolchain: {})",
        out.display(),
        bytes.len(),
        m.manifest().name,
        m.manifest().version,
        m.manifest().abi_major,
        m.manifest().abi_minor,
        route.name()
    );
    Ok(out)
}

/// Reads sample records: a CloudTrail log file (`.json`/`.json.gz`), else one record per line.
pub fn read_sample(path: &Path) -> anyhow::Result<RawBatch> {
    let info = ObjectInfo {
        connector: "sample".into(),
        source_kind: "sample",
        aws_account_id: crate::sources::cloudtrail_files::account_region(&path.display().to_string()).0,
        region: crate::sources::cloudtrail_files::account_region(&path.display().to_string()).1,
        object: path.display().to_string(),
    };
    let mut b = RawBatchBuilder::new();
    let open = || -> anyhow::Result<Box<dyn BufRead + Send>> {
        let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(decompressed(f)?)
    };
    // A fixed ingest time keeps outputs reproducible for golden files.
    const INGEST_MS: i64 = 1_700_000_000_000;
    let mut reader = JsonRecordsReader::cloudtrail(open()?);
    loop {
        match reader.next_record() {
            Ok(Some(r)) => b.push(&info, &r.bytes, r.index, r.offset, INGEST_MS),
            Ok(None) => break,
            Err(FormatError::NotFormat { .. }) if b.rows() == 0 => {
                // Not a CloudTrail log: one record per non-empty line.
                let mut text = Vec::new();
                open()?.read_to_end(&mut text)?;
                let mut offset = 0u64;
                let mut index = 0u64;
                for line in text.split(|c| *c == b'\n') {
                    if !line.iter().all(u8::is_ascii_whitespace) {
                        b.push(&info, line, index, offset, INGEST_MS);
                        index += 1;
                    }
                    offset += line.len() as u64 + 1;
                }
                break;
            }
            Err(e) => bail!("{}: {e}", path.display()),
        }
    }
    Ok(b.finish(1))
}

/// `trawl mapper test`: maps sample input through the real host; diffs with a golden file.
pub fn test(mapper: &str, input: &Path, golden: Option<&Path>, update: bool, config: Option<&str>) -> anyhow::Result<ExitCode> {
    let config: serde_json::Value = match config {
        Some(c) => serde_json::from_str(c).context("--config must be JSON")?,
        None => serde_json::Value::Null,
    };
    let (bytes, display) = MapperRef::parse(mapper).load_bytes()?;
    let m = WasmMapper::load(&bytes, &display, None, &config, MapperLimits::default())?;
    let batch = read_sample(input)?;
    let out = crate::mapper::map_isolating(&m, &batch, &crate::mapper::DeadlineBudget::default());
    let mapped = crate::mapper::MappedBatch {
        status: out.statuses(batch.len()),
        classes: out.pieces.into_iter().flat_map(|(_, p)| p.classes).collect(),
    };
    let got = serde_json::to_string_pretty(&mapped.to_json(&batch))? + "\n";
    let (ok, skip, err) = mapped.status.iter().fold((0, 0, 0), |(o, s, e), st| match st {
        crate::mapper::RowStatus::Ok => (o + 1, s, e),
        crate::mapper::RowStatus::Skip => (o, s + 1, e),
        crate::mapper::RowStatus::Error(_) => (o, s, e + 1),
    });
    let summary = format!("{} records: {ok} mapped, {skip} skipped, {err} errors", batch.len());
    let Some(golden) = golden else {
        print!("{got}");
        eprintln!("{summary}");
        return Ok(ExitCode::SUCCESS);
    };
    if update || !golden.exists() {
        std::fs::write(golden, &got).with_context(|| format!("cannot write {}", golden.display()))?;
        eprintln!("{summary}; wrote {} — read it before you commit it", golden.display());
        return Ok(ExitCode::SUCCESS);
    }
    let want = std::fs::read_to_string(golden)?;
    if want == got {
        eprintln!("{summary}; matches {}", golden.display());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{summary}; DIFFERS from {}:", golden.display());
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let mut shown = 0;
    for i in 0..g.len().max(w.len()) {
        let (a, b) = (g.get(i).copied().unwrap_or("<end>"), w.get(i).copied().unwrap_or("<end>"));
        if a != b {
            eprintln!("  line {}:\n    - {}\n    + {}", i + 1, b.trim(), a.trim());
            shown += 1;
            if shown == 10 {
                break;
            }
        }
    }
    eprintln!("(- golden, + now; run with --update to accept)");
    Ok(ExitCode::from(1))
}

const TEMPLATE_CARGO: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the wasm module trawl loads; rlib: the same code natively, for `cargo test`.
crate-type = ["cdylib", "rlib"]

[dependencies]
trawl-guest-sdk = {sdk}
serde = { version = "1", features = ["derive"] }
serde_json = "1"

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A crate of its own, even when created inside another workspace.
[workspace]
"#;

const TEMPLATE_TOOLCHAIN: &str = r#"# The target trawl mappers are built for. With rustup: `rustup target add wasm32-wasip1`.
[toolchain]
channel = "stable"
targets = ["wasm32-wasip1"]
"#;

const TEMPLATE_SAMPLE: &str = r#"{"Records":[
{"eventVersion":"1.09","eventTime":"2024-01-15T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","readOnly":true,"eventID":"sample-1","userIdentity":{"type":"IAMUser","userName":"alice"}},
{"eventVersion":"1.09","eventTime":"2024-01-15T10:01:00Z","eventSource":"iam.amazonaws.com","eventName":"DeleteUser","awsRegion":"us-east-1","readOnly":false,"eventID":"sample-2","userIdentity":{"type":"IAMUser","userName":"alice"}}
]}
"#;

const TEMPLATE_LIB: &str = r##"//! A trawl mapper. `trawl mapper build` compiles it to wasm; `cargo test` runs the tests below
//! natively. See the guest SDK's README for the trait, the ABI and the limits.

use trawl_guest_sdk::{ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord, ocsf::RawEvent, time::parse_rfc3339_ms};

/// Keeps CloudTrail records that change something; drops read-only ones.
pub struct MyMapper {
    keep_read_only: bool,
}

trawl_guest_sdk::export_mapper!(MyMapper);

#[derive(serde::Deserialize)]
struct Record<'a> {
    #[serde(rename = "eventTime")]
    event_time: &'a str,
    #[serde(rename = "readOnly", default)]
    read_only: bool,
}

impl Mapper for MyMapper {
    fn new(config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Self { keep_read_only: config.get("keep_read_only").and_then(|v| v.as_bool()).unwrap_or(false) })
    }

    fn manifest() -> Manifest {
        Manifest::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<RawEvent>()])
            .describe("raw CloudTrail records that change something")
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        let r: Record = rec.json()?;
        if r.read_only && !self.keep_read_only {
            return Ok(()); // skipped: counted, not dead-lettered
        }
        let time = parse_rfc3339_ms(r.event_time).ok_or_else(|| MapError::new("bad eventTime"))?;
        out.emit(RawEvent::from_record(rec, time)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_guest_sdk::testing::map_one;

    #[test]
    fn drops_read_only_and_keeps_changes() {
        let read = br#"{"eventTime":"2024-01-15T10:00:00Z","readOnly":true}"#;
        let write = br#"{"eventTime":"2024-01-15T10:00:00Z","readOnly":false}"#;
        assert!(map_one::<MyMapper, RawEvent>(&serde_json::Value::Null, read).unwrap().is_empty());
        let events = map_one::<MyMapper, RawEvent>(&serde_json::Value::Null, write).unwrap();
        assert_eq!(events[0].time, 1_705_312_800_000);
        assert!(map_one::<MyMapper, RawEvent>(&serde_json::Value::Null, b"not json").is_err());
    }
}
"##;
