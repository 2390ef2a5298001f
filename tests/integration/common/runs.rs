//! What the API sources' tests (cloudtrail_lookup, cloudwatch_alarms, cloudwatch_logs,
//! redshift_events, guardduty, shield, iam) and the fault suite share: the config of a
//! connector on moto with its service routed to a fake, the NDJSON output read back by
//! metadata.uid, the strict schema check of those rows, and the loop that kills `trawl run`
//! at seeded moments after its first commit and reruns it.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{Scratch, aws::Moto};

/// Every NDJSON row under `dir` (staged files under `.tmp` excluded), file by file in name
/// order, duplicates kept. Empty when `dir` does not exist.
pub fn all_rows(dir: &Path) -> Vec<Value> {
    if !dir.exists() {
        return Vec::new();
    }
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".json") && !p.components().any(|c| c.as_os_str() == ".tmp"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect::<Vec<Value>>())
        .collect()
}

/// Every NDJSON row under `dir`, keyed by `key`; panics on a duplicate.
pub fn rows_by(dir: &Path, key: impl Fn(&Value) -> String) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for v in all_rows(dir) {
        let k = key(&v);
        assert!(out.insert(k.clone(), v).is_none(), "{k} written twice");
    }
    out
}

/// Every NDJSON event under `dir`, keyed by metadata.uid; panics on a duplicate.
pub fn events(dir: &Path) -> BTreeMap<String, Value> {
    rows_by(dir, |v| v["metadata"]["uid"].as_str().unwrap().to_string())
}

/// A run's stderr as text, for assertion messages.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every row passes the strict OCSF 1.1.0 check (a failure names the row by metadata.uid).
pub fn schema_check<'a>(rows: impl IntoIterator<Item = &'a Value>) {
    let schema = trawl::ocsf::Schema::load(&super::repo().join("ocsf/schema-1.1.0")).unwrap();
    for e in rows {
        let v = schema.validate(e);
        assert!(v.is_empty(), "{}: {}\n{e:#}", e["metadata"]["uid"], v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    }
}

/// Runs `trawl check --json` with the scratch dir's config: the exit code and the report's
/// row of the target whose name starts with `target` (a source type).
pub fn check_row(sc: &Scratch, target: &str) -> (Option<i32>, Value) {
    let out = sc.trawl(&["check", "--config", "config.toml", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let row = rows.into_iter().find(|r| r["target"].as_str().unwrap().starts_with(target)).unwrap_or_else(|| panic!("no {target} row: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), row)
}

/// The connector key routing `service`'s calls to `url` (a wire fake, or a proxy in front of
/// moto): `endpoints = { service = "url" }`.
pub fn endpoints(service: &str, url: &str) -> String {
    format!("endpoints = {{ {service} = \"{url}\" }}")
}

/// A config with one connector `name` in `region` on moto (which answers STS) with the test
/// credentials and the further `connector_extra` keys (usually `endpoints(..)`), one source
/// table (`source`: its keys, starting with `type`), two workers and the `pipeline` keys, and
/// an NDJSON output in `out`.
pub fn moto_config(moto: &Moto, name: &str, region: &str, connector_extra: &str, source: &str, pipeline: &str) -> String {
    format!(
        r#"
[state]
dir = "state"
[pipeline]
workers = 2
{pipeline}
[[connectors]]
name = "{name}"
region = "{region}"
endpoint_url = "{moto}"
auth = {{ type = "basic", access_key_id = "testing", secret_access_key = "testing" }}
{connector_extra}
[[connectors.sources]]
{source}
[[outputs]]
type = "ndjson"
path = "out"
"#,
        moto = moto.url()
    )
}

/// Spawns `trawl run --quiet` with the scratch dir's config (its output discarded).
pub fn spawn_run(sc: &Scratch) -> Child {
    Command::new(env!("CARGO_BIN_EXE_trawl")).args(["run", "--config", "config.toml", "--quiet"]).current_dir(sc.dir.path()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

/// Waits until `ready` holds or the child ended; panics after 2 minutes.
pub fn wait_for(child: &mut Child, ready: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !ready() && child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(120), "not ready within 2 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How `kill_and_rerun` kills: `trials` runs, each in a fresh scratch dir, killed (SIGKILL) at
/// a moment below `within` after its first commit (the first rows in the NDJSON output
/// `out`), the moments drawn from `seed` so a failing trial can be replayed; at least `mid_run`
/// of the kills must land mid-run (some rows out, not all).
pub struct Kills<'a> {
    pub name: &'a str,
    pub trials: usize,
    pub seed: u64,
    pub within: Duration,
    pub out: &'a str,
    pub mid_run: usize,
}

/// The kill -9 loop: per trial, `prepare` writes the config (and any input) into the fresh
/// scratch dir and returns how many rows the output must end with and what `rerun` needs;
/// `trawl run` is killed as `k` says (no row may be out twice even then), and `rerun` reruns
/// and checks, given the trial, the scratch dir, the rows out before the rerun and that value.
pub fn kill_and_rerun<T>(k: &Kills, prepare: impl Fn(usize, &Scratch) -> (usize, T), rerun: impl Fn(usize, &Scratch, usize, T)) {
    let mut seed = k.seed;
    let mut mid_run = 0;
    for trial in 0..k.trials {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let kill_after = Duration::from_millis((seed >> 33) % k.within.as_millis() as u64);
        let sc = Scratch::new();
        let (total, with) = prepare(trial, &sc);
        let mut child = spawn_run(&sc);
        wait_for(&mut child, || !events(&sc.path(k.out)).is_empty());
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // `events` panics on a row out twice: nothing is published twice even before the rerun.
        let before = events(&sc.path(k.out)).len();
        eprintln!("{} trial {trial}: killed {kill_after:?} after the first commit with {before} of {total} rows out", k.name);
        mid_run += (before > 0 && before < total) as usize;
        rerun(trial, &sc, before, with);
    }
    assert!(mid_run >= k.mid_run, "{}: the kills must land mid-run, after some commits: {mid_run} of {} did", k.name, k.trials);
}

/// Three kills (`kill_and_rerun`, below `within` after the first commit) of a source whose
/// fake `set_delay` slows during the killed run, each scratch configured by `config`, then a
/// rerun to the end: every one of `total` rows once (`check` sees them too), and the rerun
/// reads only what was not committed (a commit the kill interrupted after preparing it is
/// finished by the rerun, its rows published without being read again). At least two kills
/// must land mid-run.
pub fn kill_at_seeded_moments_then_rerun(name: &str, seed: u64, within: Duration, total: usize, config: impl Fn() -> String, set_delay: impl Fn(Duration), check: impl Fn(usize, &BTreeMap<String, Value>)) {
    let kills = Kills { name, trials: 3, seed, within, out: "out", mid_run: 2 };
    let prepare = |_, sc: &Scratch| {
        sc.config(&config());
        set_delay(Duration::from_millis(60));
        (total, ())
    };
    kill_and_rerun(&kills, prepare, |trial, sc, before, ()| {
        set_delay(Duration::ZERO);
        // Not --quiet: whether the rerun first finished a commit the kill interrupted.
        let out = sc.trawl(&["run", "--config", "config.toml", "--summary-json", "summary.json"]);
        assert!(out.status.success(), "{name} trial {trial}: {}", stderr(&out));
        let summary: trawl::pipeline::RunSummary = serde_json::from_str(&std::fs::read_to_string(sc.path("summary.json")).unwrap()).unwrap();
        let after = events(&sc.path("out"));
        assert_eq!(after.len(), total, "{name} trial {trial} ({before} rows out before the rerun): every row once");
        let read = summary.counts.records_read as usize;
        if stderr(&out).contains("the last run stopped in the middle of a commit; finishing it") {
            // The rows of that commit were published without being read again.
            assert!(read < total - before, "{name} trial {trial}: the finished commit's rows are not read again: {read} read, {before} out before");
        } else {
            assert_eq!(read, total - before, "{name} trial {trial}: the rerun reads only what was not committed");
        }
        check(trial, &after);
    });
}
