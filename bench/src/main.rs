//! Benchmark helpers, driven by `bench/run.py`:
//!
//! - `gen`: a deterministic CloudTrail trail-bucket corpus (gzip'd, CloudTrail's layout);
//! - `floor`: what no CloudTrail pipeline can beat — inflate every file and find each
//!   record's boundaries (trawl's own streaming reader), nothing else;
//! - `value-parse`: a baseline — inflate every file and parse it into one
//!   `serde_json::Value` (what a naive pipeline does; trawl outruns it);
//! - `gen-vpc`: a deterministic VPC Flow Logs corpus (gzip'd text, v5 custom format);
//! - `native`: `trawl run` with the cloudtrail or vpc_flow mapper compiled natively instead
//!   of wasm, to show what the sandbox costs;
//! - `mapper`: the mapper alone on the same in-memory batches — compile, load from the
//!   compile cache, per-batch instance setup, and map time wasm vs native.
//!
//! Each prints one JSON line of results on stdout.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(about = "trawl benchmark helpers (see bench/run.py)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a deterministic corpus of N records under DIR.
    Gen {
        #[arg(long)]
        records: u64,
        #[arg(long, default_value_t = 1000)]
        records_per_file: u64,
        /// `mixed`: ~1.2 kB records, 40% data events (S3, Lambda), 8% errors. `lean`: ~1.1 kB
        /// records, 10% data events, 25% errors, half without tlsDetails: a trail of mostly
        /// management calls, many denied.
        #[arg(long, default_value = "mixed", value_parser = ["mixed", "lean"])]
        shape: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a deterministic VPC Flow Logs corpus of N records under DIR: gzip'd text files in
    /// the flow-log layout, a v5 custom format with its header line.
    GenVpc {
        #[arg(long)]
        records: u64,
        #[arg(long, default_value_t = 20_000)]
        records_per_file: u64,
        /// The network interfaces the flows belong to, as JSON `[{"interface_id", "instance_id",
        /// "private_ip", "vpc_id", "subnet_id"}]` (e.g. of moto instances, so enrichment finds
        /// them); default: 64 made-up ones.
        #[arg(long)]
        interfaces: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Inflates every file and finds each record's boundaries: the floor.
    Floor {
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Inflates and parses every file into one serde_json::Value: a baseline.
    ValueParse {
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// The cloudtrail mapper alone: load times, per-batch setup, wasm vs native map time.
    Mapper {
        dir: PathBuf,
        /// Raw batches to map (1024 records each, the default batch size).
        #[arg(long, default_value_t = 48)]
        batches: usize,
        /// A cloudtrail mapper module to time instead of the embedded one (e.g. a build with
        /// its name section kept, for `perf` with TRAWL_WASM_PERFMAP=1).
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// Time only one side.
        #[arg(long, value_parser = ["wasm", "native"])]
        only: Option<String>,
        /// Timed passes over the batches (wasm and native alternate batch by batch).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Compile with Cranelift's inliner (`pipeline.mapper_inline`).
        #[arg(long)]
        inline: bool,
    },
    /// Loads every standard mapper as a first run on a fresh state dir does (an empty compile
    /// cache): how long until each one's machine code is ready.
    FirstLoad,
    /// Runs the trawl pipeline with the mapper compiled natively.
    Native {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Which standard mapper.
        #[arg(long, default_value = "cloudtrail", value_parser = ["cloudtrail", "vpc_flow"])]
        mapper: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Gen { records, records_per_file, shape, out } => generate(records, records_per_file, shape == "lean", &out),
        Cmd::GenVpc { records, records_per_file, interfaces, out } => generate_vpc(records, records_per_file, interfaces.as_deref(), &out),
        Cmd::Floor { dir, threads } => per_file(&dir, threads, floor),
        Cmd::ValueParse { dir, threads } => per_file(&dir, threads, value_parse),
        Cmd::Mapper { dir, batches, wasm, only, rounds, inline } => {
            let limits = trawl::mapper::MapperLimits { inline, ..Default::default() };
            mapper_costs(&dir, batches, wasm.as_deref(), only.as_deref(), rounds, limits)
        }
        Cmd::FirstLoad => first_load(),
        Cmd::Native { config, workers, mapper } => {
            let cfg = trawl::config::Config::load(&config)?;
            let mapper: Arc<dyn trawl::mapper::BatchMapper> = match mapper.as_str() {
                "vpc_flow" => Arc::new(trawl::mapper::NativeMapper::<trawl_mapper_vpc_flow::VpcFlow>::new(serde_json::Value::Null)),
                _ => Arc::new(trawl::mapper::NativeMapper::<trawl_mapper_cloudtrail::CloudTrail>::new(serde_json::Value::Null)),
            };
            let opts = trawl::pipeline::RunOptions { quiet: true, workers: Some(workers), mapper_override: Some(mapper), ..Default::default() };
            let s = trawl::pipeline::run(&cfg, &opts)?;
            println!("{}", serde_json::to_string(&s)?);
            Ok(())
        }
    }
}

/// Raw batches of up to 1024 records from the corpus, read as the pipeline reads them.
fn raw_batches(dir: &Path, max: usize) -> anyhow::Result<Vec<trawl::batch::RawBatch>> {
    use trawl::{batch::{ObjectInfo, RawBatchBuilder}, formats::{compression::decompressed, json_records::JsonRecordsReader}};
    let mut files: Vec<PathBuf> = walk(dir).into_iter().filter(|p| p.to_string_lossy().ends_with(".json.gz")).collect();
    files.sort();
    let mut out = Vec::new();
    let mut b = RawBatchBuilder::new();
    'files: for f in files {
        let info = ObjectInfo { connector: "bench".into(), source_kind: "cloudtrail_files", aws_account_id: None, region: None, object: f.display().to_string() };
        let mut r = JsonRecordsReader::cloudtrail(decompressed(std::fs::File::open(&f)?)?);
        while let Some(rec) = r.next_record()? {
            b.push(&info, &rec.bytes, rec.index, rec.offset, 0);
            if b.rows() == 1024 {
                out.push(b.finish(out.len() as u64 + 1));
                if out.len() == max {
                    break 'files;
                }
            }
        }
    }
    if b.rows() > 0 && out.len() < max {
        out.push(b.finish(out.len() as u64 + 1));
    }
    Ok(out)
}

fn mapper_costs(dir: &Path, max_batches: usize, module: Option<&Path>, only: Option<&str>, rounds: usize, limits: trawl::mapper::MapperLimits) -> anyhow::Result<()> {
    use trawl::mapper::{BatchMapper, NativeMapper, WasmMapper, builtin_wasm};
    let batches = raw_batches(dir, max_batches)?;
    let records: usize = batches.iter().map(|b| b.len()).sum();
    let file;
    let bytes = match module {
        Some(p) => {
            file = std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            &file[..]
        }
        None => builtin_wasm("cloudtrail").expect("embedded"),
    };
    let cache = std::env::temp_dir().join(format!("trawl-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let null = serde_json::Value::Null;
    let t = Instant::now();
    let wasm = WasmMapper::load(bytes, "builtin:cloudtrail", Some(&cache), &null, limits.clone())?;
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let loads = 10;
    let t = Instant::now();
    for _ in 0..loads {
        WasmMapper::load(bytes, "builtin:cloudtrail", Some(&cache), &null, limits.clone())?;
    }
    let cached_load_ms = t.elapsed().as_secs_f64() * 1e3 / loads as f64;
    let setups = 2000;
    wasm.setup_instance()?;
    let t = Instant::now();
    for _ in 0..setups {
        wasm.setup_instance()?;
    }
    let setup_us = t.elapsed().as_secs_f64() * 1e6 / setups as f64;
    let native = NativeMapper::<trawl_mapper_cloudtrail::CloudTrail>::new(null.clone());
    // This kind of machine slows down by up to 2x for seconds at a time. So the two sides
    // alternate batch by batch (a slow spell hits both alike), each round sums each side's
    // time over all batches, and the round with the lowest total counts for each side; the
    // ratio is the median of the rounds' ratios.
    let sides: Vec<(usize, &dyn BatchMapper)> = [(0, &wasm as &dyn BatchMapper), (1, &native)]
        .into_iter()
        .filter(|(i, _)| only.is_none_or(|o| o == ["wasm", "native"][*i]))
        .collect();
    for (_, m) in &sides {
        m.map(&batches[0])?;
    }
    let mut best = [f64::INFINITY; 2];
    let mut ratios = Vec::new();
    for _ in 0..rounds.max(1) {
        let mut round = [0f64; 2];
        for b in &batches {
            for (i, m) in &sides {
                let t = Instant::now();
                std::hint::black_box(m.map(b)?);
                round[*i] += t.elapsed().as_secs_f64();
            }
        }
        for (i, _) in &sides {
            best[*i] = best[*i].min(round[*i]);
        }
        ratios.push(round[0] / round[1]);
    }
    ratios.sort_by(f64::total_cmp);
    let median_ratio = if only.is_none() { ratios[ratios.len() / 2] } else { f64::NAN };
    let [wasm_s, native_s] = best.map(|s| if s.is_finite() { s } else { f64::NAN });
    println!(
        "{}",
        json!({"records": records, "batches": batches.len(), "compile_ms": compile_ms, "cached_load_ms": cached_load_ms, "setup_us": setup_us,
            "wasm_s": wasm_s, "native_s": native_s, "wasm_records_per_s": records as f64 / wasm_s, "native_records_per_s": records as f64 / native_s,
            "wasm_over_native": median_ratio})
    );
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}

fn first_load() -> anyhow::Result<()> {
    use trawl::mapper::{BUILTIN_MAPPERS, MapperLimits, WasmMapper};
    let cache = std::env::temp_dir().join(format!("trawl-bench-first-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let mut each = serde_json::Map::new();
    let all = Instant::now();
    for (name, bytes) in BUILTIN_MAPPERS {
        let t = Instant::now();
        WasmMapper::load(bytes, &format!("builtin:{name}"), Some(&cache), &serde_json::Value::Null, MapperLimits::default())?;
        each.insert(name.to_string(), json!(t.elapsed().as_secs_f64() * 1e3));
    }
    let total_ms = all.elapsed().as_secs_f64() * 1e3;
    let _ = std::fs::remove_dir_all(&cache);
    println!("{}", json!({"total_ms": total_ms, "mappers": each}));
    Ok(())
}

/// xorshift64*: deterministic, fast, good enough for picking fields.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ACCOUNT: &str = "123456789012";

fn identity(rng: &mut Rng) -> serde_json::Value {
    match rng.below(10) {
        0..=3 => json!({"type":"AssumedRole","principalId":format!("AROAEXAMPLE{}:session-{}", rng.below(50), rng.below(1000)),
            "arn":format!("arn:aws:sts::{ACCOUNT}:assumed-role/role-{}/session-{}", rng.below(50), rng.below(1000)),"accountId":ACCOUNT,
            "accessKeyId":format!("ASIAEXAMPLE{:08}", rng.below(100_000_000)),
            "sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":format!("arn:aws:iam::{ACCOUNT}:role/role-{}", rng.below(50)),"accountId":ACCOUNT,"userName":"role"},
                "webIdFederationData":{},"attributes":{"creationDate":"2024-01-15T09:00:00Z","mfaAuthenticated": if rng.below(4)==0 {"true"} else {"false"}}}}),
        4..=6 => json!({"type":"IAMUser","principalId":format!("AIDAEXAMPLE{}", rng.below(200)),"arn":format!("arn:aws:iam::{ACCOUNT}:user/user-{}", rng.below(200)),
            "accountId":ACCOUNT,"accessKeyId":format!("AKIAEXAMPLE{:08}", rng.below(100_000_000)),"userName":format!("user-{}", rng.below(200))}),
        7..=8 => json!({"type":"AWSService","invokedBy":rng.pick(&["ec2.amazonaws.com","lambda.amazonaws.com","config.amazonaws.com","cloudformation.amazonaws.com"])}),
        _ => json!({"type":"Root","principalId":ACCOUNT,"arn":format!("arn:aws:iam::{ACCOUNT}:root"),"accountId":ACCOUNT,"accessKeyId":""}),
    }
}

fn record(rng: &mut Rng, n: u64, day: u64, lean: bool) -> serde_json::Value {
    let time = format!("2024-01-{:02}T{:02}:{:02}:{:02}Z", day, rng.below(24), rng.below(60), rng.below(60));
    let id = identity(rng);
    // lean: data events 2 in 20 (S3 only), errors 1 in 4.
    let kind = rng.below(20);
    let kind = if lean && (2..8).contains(&kind) { 9 + kind } else { kind };
    let mut r = if kind < 6 {
        // S3 data event.
        let key = format!("data/{}/part-{:05}.parquet", rng.below(1000), rng.below(100_000));
        json!({"eventSource":"s3.amazonaws.com","eventName":rng.pick(&["GetObject","GetObject","PutObject","HeadObject","DeleteObject"]),
            "requestParameters":{"bucketName":"analytics-prod","Host":"analytics-prod.s3.us-east-1.amazonaws.com","key":key},
            "responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"bytesTransferredOut":rng.below(10_000_000),"x-amz-id-2":"EXAMPLEid2EXAMPLEid2EXAMPLEid2"},
            "resources":[{"type":"AWS::S3::Object","ARN":format!("arn:aws:s3:::analytics-prod/{key}")},{"accountId":ACCOUNT,"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::analytics-prod"}],
            "managementEvent":false,"eventCategory":"Data","readOnly":true})
    } else if kind < 8 {
        json!({"eventSource":"lambda.amazonaws.com","eventName":"Invoke","requestParameters":{"functionName":format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn-{}", rng.below(30))},
            "responseElements":null,"resources":[{"accountId":ACCOUNT,"type":"AWS::Lambda::Function","ARN":format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn-{}", rng.below(30))}],
            "managementEvent":false,"eventCategory":"Data","readOnly":false})
    } else if kind < 9 {
        json!({"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","requestParameters":null,
            "responseElements":{"ConsoleLogin": if rng.below(5)==0 {"Failure"} else {"Success"}},
            "additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed": if rng.below(2)==0 {"Yes"} else {"No"}},
            "managementEvent":true,"eventCategory":"Management","readOnly":false,"eventType":"AwsConsoleSignIn"})
    } else {
        let (src, name, ro) = *rng.pick(&[("ec2.amazonaws.com","DescribeInstances",true),("ec2.amazonaws.com","RunInstances",false),("iam.amazonaws.com","ListRoles",true),
            ("iam.amazonaws.com","AttachRolePolicy",false),("kms.amazonaws.com","Decrypt",true),("sts.amazonaws.com","AssumeRole",true),("s3.amazonaws.com","PutBucketPolicy",false),
            ("cloudformation.amazonaws.com","DeleteStack",false),("ssm.amazonaws.com","GetParameter",true)]);
        json!({"eventSource":src,"eventName":name,"requestParameters":{"maxResults":1000,"filterSet":{"items":[{"name":"instance-state-name","valueSet":{"items":[{"value":"running"}]}}]},
            "roleName":format!("role-{}", rng.below(50))},"responseElements": if ro {serde_json::Value::Null} else {json!({"requestId":format!("{:032x}", rng.next())})},
            "managementEvent":true,"eventCategory":"Management","readOnly":ro})
    };
    let o = r.as_object_mut().unwrap();
    o.insert("eventVersion".into(), json!("1.09"));
    o.insert("userIdentity".into(), id);
    o.insert("eventTime".into(), json!(time));
    o.insert("awsRegion".into(), json!("us-east-1"));
    o.insert("sourceIPAddress".into(), json!(format!("198.51.{}.{}", rng.below(256), rng.below(256))));
    o.insert("userAgent".into(), json!(rng.pick(&["aws-cli/2.15.0 Python/3.11.6 Linux/5.10 exe/x86_64.amzn.2 prompt/off command/s3.cp","[aws-sdk-java/1.12.600 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9]","Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"])));
    o.insert("requestID".into(), json!(format!("{:016X}", rng.next())));
    o.insert("eventID".into(), json!(format!("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", n, rng.below(65536), rng.below(4096), rng.below(65536), rng.next() & 0xffff_ffff_ffff)));
    o.insert("eventType".into(), o.get("eventType").cloned().unwrap_or(json!("AwsApiCall")));
    o.insert("recipientAccountId".into(), json!(ACCOUNT));
    if rng.below(if lean { 4 } else { 12 }) == 0 {
        let (code, message) = if lean {
            *rng.pick(&[("AccessDenied", "User is not authorized to perform this operation"), ("Client.UnauthorizedOperation", "You are not authorized to perform this operation."),
                ("ThrottlingException", "Rate exceeded"), ("NoSuchEntityException", "The role with name role-7 cannot be found."), ("InvalidParameterValueException", "Invalid value")])
        } else {
            ("AccessDenied", "User is not authorized to perform this operation because no identity-based policy allows it")
        };
        o.insert("errorCode".into(), json!(code));
        o.insert("errorMessage".into(), json!(message));
    }
    if lean && rng.below(2) == 0 {
        return r;
    }
    o.insert("tlsDetails".into(), json!({"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"service.us-east-1.amazonaws.com"}));
    r
}

fn generate(records: u64, per_file: u64, lean: bool, out: &Path) -> anyhow::Result<()> {
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let (mut n, mut file, mut raw_bytes) = (0u64, 0u64, 0u64);
    while n < records {
        let day = 15 + (file % 3);
        let dir = out.join(format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/{day:02}"));
        std::fs::create_dir_all(&dir)?;
        let count = per_file.min(records - n);
        let recs: Vec<serde_json::Value> = (0..count).map(|i| record(&mut rng, n + i, day, lean)).collect();
        let body = serde_json::to_vec(&json!({ "Records": recs }))?;
        raw_bytes += body.len() as u64;
        let path = dir.join(format!("{ACCOUNT}_CloudTrail_us-east-1_202401{day:02}T{:04}Z_{file:016x}.json.gz", file % 2400));
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path)?, flate2::Compression::new(6));
        gz.write_all(&body)?;
        gz.finish()?;
        n += count;
        file += 1;
    }
    println!("{}", json!({"records": records, "files": file, "uncompressed_bytes": raw_bytes}));
    Ok(())
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { files.push(p) }
        }
    }
    files
}

/// Inflates `f` and finds its records' boundaries with trawl's reader for its format
/// (CloudTrail JSON, or the lines of a VPC Flow Logs file): `(records, bytes)`.
fn floor(f: &Path) -> anyhow::Result<(u64, u64)> {
    let input = trawl::formats::compression::decompressed(std::fs::File::open(f)?)?;
    let mut r: Box<dyn trawl::formats::RecordReader> = if f.to_string_lossy().ends_with(".log.gz") {
        Box::new(trawl::formats::delimited::DelimitedReader::new(input, |l| l.starts_with(b"version ") || l.starts_with(b"account-id "), "VPC Flow Logs file"))
    } else {
        Box::new(trawl::formats::cloudtrail::CloudTrailReader::new(input))
    };
    let (mut recs, mut bytes) = (0u64, 0u64);
    while let Some(rec) = r.next_record()? {
        recs += 1;
        bytes += rec.bytes.len() as u64;
    }
    Ok((recs, bytes))
}

/// Inflates `f` and parses it into one `serde_json::Value`: `(records, bytes)`.
fn value_parse(f: &Path) -> anyhow::Result<(u64, u64)> {
    let mut buf = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(f)?).read_to_end(&mut buf)?;
    let v: serde_json::Value = serde_json::from_slice(&buf)?;
    Ok((v["Records"].as_array().map_or(0, |a| a.len() as u64), buf.len() as u64))
}

/// Runs `each` over every `.json.gz` and `.log.gz` file under `dir` on `threads` threads.
fn per_file(dir: &Path, threads: usize, each: fn(&Path) -> anyhow::Result<(u64, u64)>) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = walk(dir).into_iter().filter(|p| p.to_string_lossy().ends_with(".json.gz") || p.to_string_lossy().ends_with(".log.gz")).collect();
    let files = Arc::new(files);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (files, next) = (files.clone(), next.clone());
            std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
                let (mut recs, mut bytes) = (0u64, 0u64);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let (r, b) = each(f)?;
                    recs += r;
                    bytes += b;
                }
                Ok((recs, bytes))
            })
        })
        .collect();
    let (mut recs, mut bytes) = (0, 0);
    for h in handles {
        let (r, b) = h.join().expect("no panic")?;
        recs += r;
        bytes += b;
    }
    println!("{}", json!({"records": recs, "bytes": bytes, "seconds": t.elapsed().as_secs_f64()}));
    Ok(())
}

/// One network interface flows are logged for.
#[derive(serde::Deserialize, serde::Serialize, Clone)]
struct Interface {
    interface_id: String,
    instance_id: String,
    private_ip: String,
    vpc_id: String,
    subnet_id: String,
}

/// The v5 custom format the corpus uses (every v2–v5 field, in the order AWS's console lists
/// them for a custom format).
const VPC_FIELDS: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";

fn vpc_record(rng: &mut Rng, ifs: &[Interface], start: u64, line: &mut String) {
    use std::fmt::Write as _;
    let i = rng.pick(ifs);
    line.clear();
    let status = rng.below(100);
    if status < 3 {
        // NODATA / SKIPDATA: no traffic, `-` in most fields.
        let s = if status < 2 { "NODATA" } else { "SKIPDATA" };
        let _ = write!(line, "5 {ACCOUNT} {} - - - - - - - {start} {} - {s} {} {} {} - - - - us-east-1 use1-az1 - - - - - -", i.interface_id, start + 60, i.vpc_id, i.subnet_id, i.instance_id);
        return;
    }
    let egress = rng.below(2) == 0;
    let v6 = rng.below(20) == 0;
    let remote = if v6 {
        format!("2600:1f18:{:x}:{:x}::{:x}", rng.below(65536), rng.below(65536), rng.below(65536))
    } else if rng.below(3) == 0 {
        format!("10.0.{}.{}", rng.below(256), 1 + rng.below(254))
    } else {
        format!("{}.{}.{}.{}", rng.pick(&[52u64, 54, 3, 18, 34, 35, 198, 203, 185, 91]), rng.below(256), rng.below(256), 1 + rng.below(254))
    };
    let local = if v6 { format!("2600:1f18:abcd:{:x}::{:x}", rng.below(16), rng.below(65536)) } else { i.private_ip.clone() };
    let proto = match rng.below(100) { 0..=79 => 6, 80..=96 => 17, _ => 1 };
    let service = *rng.pick(&[443u64, 443, 443, 80, 22, 3389, 53, 5432, 6379, 8080, 9200]);
    let ephemeral = 32768 + rng.below(28232);
    let (src, dst, sport, dport) = if egress { (&local, &remote, ephemeral, service) } else { (&remote, &local, ephemeral, service) };
    let (sport, dport) = if proto == 1 { (0, 0) } else { (sport, dport) };
    let packets = 1 + rng.below(200);
    let bytes = packets * (40 + rng.below(1400));
    let action = if rng.below(4) == 0 { "REJECT" } else { "ACCEPT" };
    let flags = if proto == 6 { *rng.pick(&[2u64, 18, 19, 3, 1, 4]) } else { 0 };
    let begin = start + rng.below(50);
    let _ = write!(
        line,
        "5 {ACCOUNT} {} {src} {dst} {sport} {dport} {proto} {packets} {bytes} {begin} {} {action} OK {} {} {} {flags} {} {src} {dst} us-east-1 use1-az1 - - {} - {} {}",
        i.interface_id,
        begin + 5 + rng.below(55),
        i.vpc_id,
        i.subnet_id,
        i.instance_id,
        if v6 { "IPv6" } else { "IPv4" },
        if !egress && rng.below(10) == 0 { "S3" } else { "-" },
        if egress { "egress" } else { "ingress" },
        if egress { *rng.pick(&["1", "8", "2"]) } else { "-" },
    );
}

fn generate_vpc(records: u64, per_file: u64, interfaces: Option<&Path>, out: &Path) -> anyhow::Result<()> {
    let mut rng = Rng(0xF10A_10C5_0000_0005);
    let ifs: Vec<Interface> = match interfaces {
        Some(p) => serde_json::from_slice(&std::fs::read(p)?)?,
        None => (0..64u64)
            .map(|k| Interface {
                interface_id: format!("eni-{:017x}", 0x0a1b2c3d4e5f6000 + k),
                instance_id: format!("i-{:017x}", 0x0123456789ab0000 + k),
                private_ip: format!("10.0.{}.{}", k / 16, 10 + k % 16),
                vpc_id: "vpc-0a1b2c3d4e5f60789".into(),
                subnet_id: format!("subnet-0{:016x}", 0x1111 + k / 16),
            })
            .collect(),
    };
    anyhow::ensure!(!ifs.is_empty(), "no interfaces");
    let (mut n, mut file, mut raw_bytes) = (0u64, 0u64, 0u64);
    let mut line = String::new();
    while n < records {
        let day = 8 + (file % 3);
        let dir = out.join(format!("AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/2024/10/{day:02}"));
        std::fs::create_dir_all(&dir)?;
        let count = per_file.min(records - n);
        let start = 1_728_345_600 + (day - 8) * 86_400 + (file % 1440) * 60;
        let (hh, mm) = ((file % 1440) / 60, file % 60);
        let path = dir.join(format!("{ACCOUNT}_vpcflowlogs_us-east-1_fl-0123456789abcdef0_202410{day:02}T{hh:02}{mm:02}Z_{file:08x}.log.gz"));
        let mut gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(std::fs::File::create(path)?), flate2::Compression::new(6));
        gz.write_all(VPC_FIELDS.as_bytes())?;
        gz.write_all(b"\n")?;
        raw_bytes += VPC_FIELDS.len() as u64 + 1;
        for _ in 0..count {
            vpc_record(&mut rng, &ifs, start, &mut line);
            gz.write_all(line.as_bytes())?;
            gz.write_all(b"\n")?;
            raw_bytes += line.len() as u64 + 1;
        }
        gz.finish()?;
        n += count;
        file += 1;
    }
    println!("{}", json!({"records": n, "files": file, "uncompressed_bytes": raw_bytes, "fields": VPC_FIELDS}));
    Ok(())
}
