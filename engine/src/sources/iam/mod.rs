//! Source `iam`: an inventory of the account's IAM users, groups, roles and customer managed
//! policies, taken once per run with the read-only calls `IAMReadOnlyAccess` grants —
//! `GetAccountAuthorizationDetails` (paginated with `Marker`), the credential report
//! (`GenerateCredentialReport` until it is `COMPLETE`, then `GetCredentialReport`) and
//! `ListAccountAliases`. IAM is global: one snapshot per account, whatever the region.
//!
//! **Records.** Each entity is one raw record, JSON built here: the entity as the API returns
//! it ([`entities`]: its policy documents URL-decoded into JSON), for a user its credential
//! report row ([`report`], joined on the ARN), the account's id and alias, and the snapshot it
//! belongs to. The root user, which only the credential report lists, is an entity of kind
//! `root`. What a record says is the snapshot's view: `change` is `snapshot` in
//! `mode = "snapshot"`, and `added`, `changed` or `removed` in `mode = "changes"`.
//!
//! **State.** The source keeps one keyed value per entity in the state store's map
//! `entities`: `<kind>/<unique id>` → the content hash of the entity (its API view and report
//! row: not the snapshot id, time or account alias), the snapshot that last wrote it, its name
//! and ARN. Each value is set (or removed) with the unit that writes the entity's record, in
//! the same commit. `changes` compares a run's entities with the map: an entity without a value
//! is added, one whose hash differs is changed, a value without an entity is removed (and its
//! record carries the name and ARN kept). The lane `snapshot` holds the snapshot in progress
//! (`{snapshot, complete}`), moved by every unit.
//!
//! **Exactly once.** A run writes its records in units of `entities_per_unit`. Killed after any
//! commit, the next run sees the snapshot incomplete, takes the same snapshot id and fetches
//! again: in `snapshot` mode the entities whose value names that snapshot are written already
//! and are skipped; in `changes` mode the values committed already match, so those changes are
//! not reported again. No entity of a snapshot is lost or written twice; an entity fetched in
//! the second run is as of that fetch. A failed call (throttling past the retries, a denial, a
//! report that does not complete in `report_wait_seconds`) writes nothing and leaves the
//! snapshot for the next run. An entity the reply does not let the source key (no ARN) is
//! dead-lettered with the reason, in every snapshot that meets it; the rest is written.

pub mod entities;
pub mod report;

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_iam::types::{EntityType, ReportStateType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Checkpoint, ConnectorDefaults, Source, SourceContext, SourceEnv, SourceError, SourceSpec, common::api, probe_session};
use crate::{
    aws::{AwsError, AwsSession, describe, runtime},
    batch::ObjectInfo,
};
use entities::Entity;

/// The cursor lane of the snapshot in progress.
const LANE: &str = "snapshot";
/// The keyed-value map of entity → what the last snapshot saw of it.
const MAP: &str = "entities";

/// `mode`: what a run writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every entity, every run.
    #[default]
    Snapshot,
    /// Only the entities added, changed or removed since the last committed snapshot.
    Changes,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Snapshot => "snapshot",
            Mode::Changes => "changes",
        }
    }
}

/// `type = "iam"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamConfig {
    /// `snapshot` (default): every user, group, role and policy each run; `changes`: only the
    /// entities that appeared, changed or disappeared since the last committed snapshot (a
    /// disappeared one as `removed`).
    #[serde(default)]
    pub mode: Mode,
    /// Also take the AWS managed policies (hundreds, the same in every account). Default
    /// `false`: customer managed policies only; users, groups and roles still name the AWS
    /// managed policies attached to them.
    #[serde(default)]
    pub aws_managed_policies: bool,
    /// How long to wait for `GenerateCredentialReport` to complete before leaving the snapshot
    /// for the next run. Default 120 (a report for a large account takes tens of seconds).
    #[serde(default = "default_report_wait_seconds")]
    pub report_wait_seconds: u64,
    /// IAM requests per second. Default 5: IAM's quotas are per account, shared with every
    /// other caller.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Records per unit of work. Default 100. A commit falls between units, so a run stopped
    /// midway keeps what its committed units wrote.
    #[serde(default = "default_entities_per_unit")]
    pub entities_per_unit: usize,
    /// Mapper: `builtin:iam` (default), `builtin:passthrough` or a `.wasm` path.
    #[serde(default = "default_mapper")]
    pub mapper: String,
    /// Config table handed to the mapper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapper_config: Option<serde_json::Value>,
}

fn default_report_wait_seconds() -> u64 {
    120
}
fn default_requests_per_second() -> f64 {
    5.0
}
fn default_entities_per_unit() -> usize {
    100
}
fn default_mapper() -> String {
    "builtin:iam".into()
}

impl SourceSpec for IamConfig {
    fn mapper(&self) -> &str {
        &self.mapper
    }

    fn mapper_config(&self) -> Option<&serde_json::Value> {
        self.mapper_config.as_ref()
    }

    fn validate(&self, _: &ConnectorDefaults) -> Result<(), String> {
        api::check_rate(self.requests_per_second)?;
        if self.entities_per_unit == 0 {
            return Err("entities_per_unit must be at least 1".into());
        }
        Ok(())
    }

    fn label(&self, _: &ConnectorDefaults) -> String {
        format!("iam {}", self.mode.name())
    }

    fn build(&self, env: &SourceEnv<'_>) -> Result<Box<dyn Source>, String> {
        Ok(Box::new(Iam { cfg: self.clone(), session: env.session()? }))
    }

    fn probe(&self, _: &ConnectorDefaults, aws: Option<&AwsSession>) -> Result<String, AwsError> {
        let iam = probe_session(aws)?.iam();
        runtime().block_on(iam.get_account_authorization_details().filter(EntityType::User).max_items(1).send()).map_err(|e| describe(&e, "iam:GetAccountAuthorizationDetails"))?;
        if let Err(e) = runtime().block_on(iam.get_credential_report().send()) {
            let e = describe(&e, "iam:GetCredentialReport");
            // No report yet, or an old one: a run generates it. Only a denial fails.
            if e.is_denied() || !matches!(e.code.as_str(), "ReportNotPresent" | "ReportExpired" | "ReportInProgress") {
                return Err(e);
            }
        }
        runtime().block_on(iam.list_account_aliases().send()).map_err(|e| describe(&e, "iam:ListAccountAliases"))?;
        Ok("iam:GetAccountAuthorizationDetails, iam:GetCredentialReport, iam:ListAccountAliases OK".into())
    }
}

/// The lane's cursor: the snapshot being written, and whether it is written to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotCursor {
    snapshot: String,
    complete: bool,
}

/// What the map keeps of an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    hash: String,
    snapshot: String,
    name: String,
    arn: String,
}

/// What one fetch found.
struct Inventory {
    /// By key.
    entities: BTreeMap<String, Entity>,
    /// Credential report rows, by ARN.
    report: BTreeMap<String, report::Row>,
    alias: Option<String>,
    /// When the fetch ended (ms).
    time: i64,
    /// Entities the reply did not let us key (no ARN): why, and the entity as the SDK read it.
    rejected: Vec<(String, String)>,
}

/// A record to write and the value that goes with it.
struct Emission {
    key: String,
    record: Vec<u8>,
    value: Option<Value>,
}

/// Sends an IAM request through the limiter, with backoff on throttling past the SDK's retries;
/// an error names the action.
macro_rules! call {
    ($limiter:expr, $req:expr, $action:literal) => {{
        let req = $req;
        api::call_with_backoff($limiter, 4, Duration::from_secs(1), || {
            let req = req.clone();
            async move { req.send().await.map_err(|e| describe(&e, $action)) }
        })
        .await
    }};
}

/// The source.
pub struct Iam {
    cfg: IamConfig,
    session: AwsSession,
}

impl Iam {
    fn fetch(&self) -> Result<Inventory, AwsError> {
        let iam = self.session.iam();
        let mut limiter = api::RateLimiter::new(self.cfg.requests_per_second);
        runtime().block_on(async {
            let mut filter = vec![EntityType::User, EntityType::Group, EntityType::Role, EntityType::LocalManagedPolicy];
            if self.cfg.aws_managed_policies {
                filter.push(EntityType::AwsManagedPolicy);
            }
            let mut found: Vec<Result<Entity, (String, String)>> = Vec::new();
            let with_raw = |r: Result<Entity, String>, raw: &dyn std::fmt::Debug| r.map_err(|why| (why, format!("{raw:?}")));
            let mut marker: Option<String> = None;
            loop {
                let page = call!(&mut limiter, iam.get_account_authorization_details().set_filter(Some(filter.clone())).set_marker(marker.clone()), "iam:GetAccountAuthorizationDetails")?;
                found.extend(page.user_detail_list().iter().map(|u| with_raw(entities::user(u), u)));
                found.extend(page.group_detail_list().iter().map(|g| with_raw(entities::group(g), g)));
                found.extend(page.role_detail_list().iter().map(|r| with_raw(entities::role(r), r)));
                found.extend(page.policies().iter().map(|p| with_raw(entities::policy(p), p)));
                marker = page.marker().filter(|m| page.is_truncated() && !m.is_empty()).map(str::to_string);
                if marker.is_none() {
                    break;
                }
            }
            let mut entities = BTreeMap::new();
            let mut rejected = Vec::new();
            for e in found {
                match e {
                    Ok(e) => {
                        entities.insert(e.key(), e);
                    }
                    // Cannot be keyed: dead-lettered, the rest of the snapshot goes on.
                    Err(bad) => rejected.push(bad),
                }
            }
            let csv = self.credential_report(&iam, &mut limiter).await?;
            let report = report::parse(&csv).map_err(AwsError::config_error)?;
            if let Some(root) = report.values().find(|r| r.get("user").map(String::as_str) == Some(report::ROOT)) {
                let arn = root.get("arn").cloned().unwrap_or_default();
                let e = Entity { kind: "root", id: self.session.account_id.clone(), name: report::ROOT.into(), detail: json!({ "Arn": arn }), arn };
                entities.insert(e.key(), e);
            }
            let aliases = call!(&mut limiter, iam.list_account_aliases(), "iam:ListAccountAliases")?;
            Ok(Inventory { entities, report, alias: aliases.account_aliases().first().cloned(), time: chrono::Utc::now().timestamp_millis(), rejected })
        })
    }

    /// Generates the credential report until it is complete (at most `report_wait_seconds`),
    /// then reads it.
    async fn credential_report(&self, iam: &aws_sdk_iam::Client, limiter: &mut api::RateLimiter) -> Result<String, AwsError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.cfg.report_wait_seconds);
        loop {
            let out = call!(&mut *limiter, iam.generate_credential_report(), "iam:GenerateCredentialReport")?;
            if out.state() == Some(&ReportStateType::Complete) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AwsError { code: "ReportInProgress".into(), message: format!("the credential report did not complete in {} s (report_wait_seconds)", self.cfg.report_wait_seconds), permission: None });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let out = call!(limiter, iam.get_credential_report(), "iam:GetCredentialReport")?;
        let content = out.content().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        String::from_utf8(content).map_err(|_| AwsError::config_error("the credential report is not UTF-8 text".into()))
    }

    fn info(&self, ctx: &SourceContext<'_>, snapshot: &str, unit: usize) -> ObjectInfo {
        ObjectInfo {
            connector: ctx.connector(),
            source_kind: self.kind(),
            aws_account_id: Some(self.session.account_id.clone()),
            region: None,
            object: format!("iam://{}/snapshot/{snapshot}/{unit}", self.session.account_id),
        }
    }

    /// The record of an entity in a snapshot.
    fn record(&self, inv: &Inventory, snapshot: &str, change: &str, e: &Entity) -> Value {
        let mut r = json!({
            "kind": e.kind,
            "key": e.key(),
            "change": change,
            "snapshot": {"uid": snapshot, "mode": self.cfg.mode.name(), "time": inv.time},
            "account": {"uid": self.session.account_id, "alias": inv.alias},
            "entity": e.detail,
        });
        if let Some(row) = report_row(inv, e) {
            r["credential_report"] = json!(row);
        }
        r
    }
}

fn report_row<'a>(inv: &'a Inventory, e: &Entity) -> Option<&'a report::Row> {
    matches!(e.kind, "user" | "root").then(|| inv.report.get(&e.arn)).flatten()
}

/// What changes mode compares: the entity's API view and its report row.
fn content_hash(e: &Entity, row: Option<&report::Row>) -> String {
    let bytes = serde_json::to_vec(&json!({"kind": e.kind, "entity": e.detail, "credential_report": row})).expect("serializes");
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a run writes, given what the map holds: in order of key, the records with the values
/// that go with them, and the keys to forget without a record.
fn plan(mode: Mode, snapshot: &str, resumed: bool, now: &BTreeMap<String, (String, &Entity)>, seen: &BTreeMap<String, Seen>) -> (Vec<(String, &'static str)>, Vec<String>) {
    let mut write = Vec::new();
    let mut forget = Vec::new();
    for (key, (hash, _)) in now {
        let before = seen.get(key);
        let change = match (mode, before) {
            (Mode::Snapshot, Some(b)) if resumed && b.snapshot == snapshot => continue,
            (Mode::Snapshot, _) => "snapshot",
            (Mode::Changes, None) => "added",
            (Mode::Changes, Some(b)) if b.hash != *hash => "changed",
            (Mode::Changes, Some(_)) => continue,
        };
        write.push((key.clone(), change));
    }
    for key in seen.keys().filter(|k| !now.contains_key(*k)) {
        match mode {
            Mode::Changes => write.push((key.clone(), "removed")),
            Mode::Snapshot => forget.push(key.clone()),
        }
    }
    (write, forget)
}

impl Source for Iam {
    fn id(&self) -> String {
        format!("iam:{}", self.session.account_id)
    }

    fn kind(&self) -> &'static str {
        "iam"
    }

    fn run(&mut self, ctx: &mut SourceContext<'_>) -> Result<(), SourceError> {
        let fail = |message: String| SourceError { source_id: self.id(), message };
        let cursor: Option<SnapshotCursor> = match ctx.cursor(LANE).map_err(fail)? {
            Some(v) => Some(serde_json::from_value(v).map_err(|e| fail(format!("the snapshot cursor is unreadable ({e}); delete the state dir's cursor to start over")))?),
            None => None,
        };
        let resumed = cursor.as_ref().is_some_and(|c| !c.complete);
        let snapshot = match cursor {
            Some(c) if !c.complete => c.snapshot,
            _ => chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        };
        let lane = |complete: bool| Checkpoint::Lane { lane: LANE.into(), cursor: Some(json!(SnapshotCursor { snapshot: snapshot.clone(), complete })) };
        let inv = match self.fetch() {
            Ok(inv) => inv,
            Err(e) => {
                let why = format!("snapshot {snapshot}: {e}");
                ctx.retry_later(self.info(ctx, &snapshot, 0), Checkpoint::Lane { lane: LANE.into(), cursor: None }, &why);
                return Err(fail(format!("stopped early, the next run takes the snapshot again: {why}")));
            }
        };
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        for (k, v) in ctx.values(MAP).map_err(fail)? {
            match serde_json::from_value(v) {
                Ok(s) => {
                    seen.insert(k, s);
                }
                // Read as never seen: the entity is written again and its value replaced.
                Err(e) => tracing::warn!(entity = %k, "the state store's value for it is unreadable ({e}); taking it as new"),
            }
        }
        let now: BTreeMap<String, (String, &Entity)> = inv.entities.iter().map(|(k, e)| (k.clone(), (content_hash(e, report_row(&inv, e)), e))).collect();
        let (write, forget) = plan(self.cfg.mode, &snapshot, resumed, &now, &seen);
        let emissions: Vec<Emission> = write
            .into_iter()
            .map(|(key, change)| match now.get(&key) {
                Some((hash, e)) => {
                    let value = Seen { hash: hash.clone(), snapshot: snapshot.clone(), name: e.name.clone(), arn: e.arn.clone() };
                    Emission { record: serde_json::to_vec(&self.record(&inv, &snapshot, change, e)).expect("serializes"), value: Some(json!(value)), key }
                }
                None => {
                    // Removed: what the map kept is all there is of it.
                    let s = &seen[&key];
                    let (kind, id) = key.split_once('/').unwrap_or((key.as_str(), ""));
                    let kind = entities::KINDS.iter().find(|k| **k == kind).copied().unwrap_or("user");
                    let gone = Entity { kind, id: id.to_string(), name: s.name.clone(), arn: s.arn.clone(), detail: removed_detail(kind, id, &s.name, &s.arn) };
                    Emission { record: serde_json::to_vec(&self.record(&inv, &snapshot, "removed", &gone)).expect("serializes"), value: None, key }
                }
            })
            .collect();
        let chunks: Vec<&[Emission]> = if emissions.is_empty() { vec![&[]] } else { emissions.chunks(self.cfg.entities_per_unit).collect() };
        ctx.set_total(chunks.len() as u64);
        let last = chunks.len() - 1;
        for (n, chunk) in chunks.into_iter().enumerate() {
            if ctx.stopping() {
                return Ok(());
            }
            let mut unit = ctx.begin_unit(self.info(ctx, &snapshot, n), lane(n == last));
            let rejected = if n == 0 { inv.rejected.as_slice() } else { &[] };
            for (i, (why, raw)) in rejected.iter().enumerate() {
                ctx.reject_record(&mut unit, i as u64, 0, why.clone(), raw.as_bytes());
            }
            for (i, em) in chunk.iter().enumerate() {
                let i = i + rejected.len();
                ctx.push(&mut unit, &em.record, i as u64, 0);
                ctx.set_value(&mut unit, MAP, &em.key, em.value.clone());
            }
            if n == last {
                for key in &forget {
                    ctx.set_value(&mut unit, MAP, key, None);
                }
            }
            ctx.end_unit(unit);
        }
        Ok(())
    }
}

/// The API-shaped identity of an entity that is gone: its name, id and ARN as last seen.
fn removed_detail(kind: &str, id: &str, name: &str, arn: &str) -> Value {
    let (name_field, id_field) = match kind {
        "group" => ("GroupName", "GroupId"),
        "role" => ("RoleName", "RoleId"),
        "policy" => ("PolicyName", "PolicyId"),
        _ => ("UserName", "UserId"),
    };
    json!({ name_field: name, id_field: id, "Arn": arn })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(kind: &'static str, id: &str, doc: &str) -> Entity {
        Entity { kind, id: id.into(), name: format!("n-{id}"), arn: format!("arn:aws:iam::123456789012:{kind}/n-{id}"), detail: json!({"doc": doc}) }
    }

    fn now(es: &[Entity]) -> BTreeMap<String, (String, &Entity)> {
        es.iter().map(|e| (e.key(), (content_hash(e, None), e))).collect()
    }

    fn seen(es: &[Entity], snapshot: &str) -> BTreeMap<String, Seen> {
        es.iter().map(|e| (e.key(), Seen { hash: content_hash(e, None), snapshot: snapshot.into(), name: e.name.clone(), arn: e.arn.clone() })).collect()
    }

    #[test]
    fn changes_are_what_differs_from_the_map_and_a_snapshot_resumes_where_it_stopped() {
        let before = [entity("user", "A", "1"), entity("role", "R", "1"), entity("policy", "P", "1")];
        let after = [entity("user", "A", "1"), entity("user", "B", "1"), entity("policy", "P", "2")];
        let (write, forget) = plan(Mode::Changes, "s2", false, &now(&after), &seen(&before, "s1"));
        assert_eq!(write, [("policy/P".to_string(), "changed"), ("user/B".to_string(), "added"), ("role/R".to_string(), "removed")]);
        assert!(forget.is_empty());
        let (write, _) = plan(Mode::Changes, "s2", false, &now(&after), &seen(&after, "s2"));
        assert!(write.is_empty(), "nothing changed since: {write:?}");
        // Snapshot mode writes everything and forgets the gone without a record.
        let (write, forget) = plan(Mode::Snapshot, "s2", false, &now(&after), &seen(&before, "s1"));
        assert_eq!(write.iter().map(|w| w.1).collect::<Vec<_>>(), ["snapshot"; 3]);
        assert_eq!(forget, ["role/R"]);
        // Resuming snapshot s2 after user/A was committed in it: the rest only.
        let mut map = seen(&before, "s1");
        map.get_mut("user/A").unwrap().snapshot = "s2".into();
        let (write, _) = plan(Mode::Snapshot, "s2", true, &now(&after), &map);
        assert_eq!(write.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(), ["policy/P", "user/B"]);
        // A new snapshot (not resumed) with the same id never skips.
        let (write, _) = plan(Mode::Snapshot, "s2", false, &now(&after), &map);
        assert_eq!(write.len(), 3);
    }

    #[test]
    fn the_hash_covers_the_entity_and_its_report_row_only() {
        let e = entity("user", "A", "1");
        let mut row = report::Row::new();
        row.insert("mfa_active".into(), "false".into());
        let h = content_hash(&e, Some(&row));
        assert_eq!(h, content_hash(&e.clone(), Some(&row.clone())));
        row.insert("mfa_active".into(), "true".into());
        assert_ne!(h, content_hash(&e, Some(&row)));
        assert_ne!(content_hash(&e, None), content_hash(&entity("user", "A", "2"), None));
    }

    #[test]
    fn config_defaults_and_checks() {
        let c: IamConfig = toml::from_str("").unwrap();
        assert_eq!((c.mode, c.mapper.as_str(), c.aws_managed_policies), (Mode::Snapshot, "builtin:iam", false));
        let c: IamConfig = toml::from_str("mode = \"changes\"").unwrap();
        assert_eq!(c.mode, Mode::Changes);
        assert!(toml::from_str::<IamConfig>("mode = \"diff\"").is_err());
        assert!(toml::from_str::<IamConfig>("region = \"x\"").unwrap_err().to_string().contains("unknown field"));
    }
}
