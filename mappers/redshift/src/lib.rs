//! The standard Amazon Redshift audit log mapper: the three audit logs → OCSF 1.1.0.
//!
//! **Which log a record is from.** The `redshift_audit` source sets each record's unit
//! context ([`RawRecord::context`]) to its log type, `connectionlog`, `userlog` or
//! `useractivitylog`; without one, the object's name says it
//! (`<acct>_redshift_<region>_<cluster>_<logtype>_<timestamp>.gz`, or a CloudWatch Logs group
//! `/aws/redshift/cluster/<cluster>/<logtype>`; a record of the `cloudwatch_logs` source names
//! its group in its enrichment, `log_group`). A record that neither names is an error. The
//! cluster is read from the object's (or group's) name the same way.
//!
//! **Classes, and why** (OCSF 1.1.0, `events/iam/*.json`, `events/application/*.json`):
//!
//! - **Connection log → Authentication (3002).** It "logs authentication attempts, and
//!   connections and disconnections"; Authentication is the class OCSF defines for "an attempt
//!   to log on or log off" and its outcome. `authenticated` → Logon (1), Success;
//!   `authentication failure` → Logon (1), Failure; `disconnecting session` → Logoff (2), with
//!   the session's `duration` (and `start_time`/`end_time`); `initiating session` → Other
//!   (99, activity name `Initiating Session`): it follows `authenticated` for the same
//!   connection, and a second Logon would count every logon twice; any other event → Other,
//!   named as the log names it. `user` the database user, `src_endpoint` the remote host
//!   (`ip` for an address, `hostname` otherwise, `name` `[local]` for local connections) and
//!   port, `dst_endpoint` the cluster, `service.name` the database, `auth_protocol` the
//!   `authmethod` (Other, 99: Redshift's methods are not OCSF's protocols), `is_remote`,
//!   `session.uid` the `sessionid` of newer clusters. OCSF 1.1.0's Authentication has no `tls`:
//!   `sslversion`, `sslcipher` and the other fields are in `unmapped`.
//! - **User log → Account Change (3001).** It "logs information about changes to database
//!   user definitions": create, drop, rename, alter. Account Change is the class for "an
//!   account was created, changed, or deleted"; `create` → Create (1), `drop` → Delete (6),
//!   `rename` and `alter` → Other (99, `Rename`, `Alter`: the log does not say which
//!   properties changed, so none of OCSF's narrower activities is known to fit). `user` the
//!   user changed (for a rename, its old name; `user_result` the new one), `type_id` Admin (2)
//!   for a superuser (`usesuper`), else User (1).
//! - **User activity log → Datastore Activity (6005), Query (4).** It "logs each query before
//!   it's run on the database"; Datastore Activity describes "activities (Read, Update, Query,
//!   …) which affect datastores", and Query is its activity for a query. `query_info.query_string`
//!   the SQL text with its newlines and `query_info.name` its command (the first word:
//!   `SELECT`, `SET`, …; OCSF needs a name or a uid, and the log has no query id), `database`
//!   the database (Relational), `actor.user` the user, `type_id` Database (1).
//!
//! **Every class:** `actor.process.pid` is the session's backend process id, the one key the
//! three logs share. OCSF 1.1.0 requires a `src_endpoint` on Datastore Activity, and the user
//! activity log does not name the client: its `src_endpoint.uid` is `<cluster>/<pid>`, the
//! session, and every row of the three logs carries the same uid, so a query joins to the
//! connection log rows (and their client address) of the session it ran in — while the pid is
//! not reused. `dst_endpoint` is the cluster (`name`, `svc_name` `Amazon Redshift`);
//! `metadata.product` `Amazon Redshift` with the log as its `feature`; times are UTC, as
//! Redshift writes them (`Mon, 7 Dec 2020 20:01:55:177`, milliseconds after a colon; see
//! [`parse_record_time`]). Fields with no OCSF home are in `unmapped` under their Redshift
//! names. Fields are trimmed of their padding; an empty field is no value.

use std::collections::BTreeMap;
use std::net::IpAddr;

use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
    time::{days_from_civil, parse_rfc3339_ms},
};

/// The mapper. Stateless; config is ignored.
pub struct Redshift;

#[cfg(feature = "export")]
trawl_guest_sdk::export_mapper!(Redshift);

impl Mapper for Redshift {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Redshift)
    }

    fn manifest() -> Manifest {
        let classes = vec![ClassDecl::of::<Authentication>(), ClassDecl::of::<AccountChange>(), ClassDecl::of::<DatastoreActivity>()];
        Manifest::new("redshift", env!("CARGO_PKG_VERSION"), classes)
            .describe("Amazon Redshift audit logs to OCSF 1.1.0: connection log → Authentication, user log → Account Change, user activity log → Datastore Activity")
            .ocsf(ocsf::VERSION)
            .for_sources(&["redshift_audit", "sqs", "cloudwatch_logs"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        match map_record(rec)? {
            Event::Authentication(e) => out.emit(e),
            Event::AccountChange(e) => out.emit(e),
            Event::DatastoreActivity(e) => out.emit(e),
        }
        Ok(())
    }
}

/// One audit log record as OCSF.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A connection log record.
    Authentication(Authentication),
    /// A user log record.
    AccountChange(AccountChange),
    /// A user activity log record.
    DatastoreActivity(DatastoreActivity),
}

/// The three audit logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// `connectionlog`.
    Connection,
    /// `userlog`.
    User,
    /// `useractivitylog`.
    UserActivity,
}

impl LogType {
    /// The name in object keys and unit contexts.
    pub fn name(self) -> &'static str {
        match self {
            LogType::Connection => "connectionlog",
            LogType::User => "userlog",
            LogType::UserActivity => "useractivitylog",
        }
    }

    fn from_name(s: &str) -> Option<LogType> {
        [LogType::Connection, LogType::User, LogType::UserActivity].into_iter().find(|t| t.name() == s)
    }

    fn feature(self) -> &'static str {
        match self {
            LogType::Connection => "Connection log",
            LogType::User => "User log",
            LogType::UserActivity => "User activity log",
        }
    }
}

/// The log type and cluster an object's name gives: `…/<acct>_redshift_<region>_<cluster>_<logtype>_<timestamp>[.gz]`,
/// or a CloudWatch Logs group `/aws/redshift/cluster/<cluster>/<logtype>`.
pub fn from_object(object: &str) -> (Option<LogType>, Option<&str>) {
    let mut parts = object.rsplit(['/', '\\']);
    let file = parts.next().unwrap_or("");
    if let Some(t) = LogType::from_name(file) {
        return (Some(t), parts.next().filter(|c| !c.is_empty()));
    }
    let stem = file.strip_suffix(".gz").unwrap_or(file);
    let words: Vec<&str> = stem.split('_').collect();
    let n = words.len();
    match words.iter().rposition(|w| LogType::from_name(w).is_some()) {
        Some(i) => {
            let cluster = (n >= 6 && words.get(1) == Some(&"redshift") && i > 3).then(|| {
                let start = stem.match_indices('_').nth(2).map(|(at, _)| at + 1).unwrap_or(0);
                let end = stem.match_indices('_').nth(i - 1).map(|(at, _)| at).unwrap_or(stem.len());
                &stem[start..end]
            });
            (LogType::from_name(words[i]), cluster.filter(|c| !c.is_empty()))
        }
        None => (None, None),
    }
}

/// Parses a connection or user log time, UTC: `Mon, 7 Dec 2020 20:01:55:177` (milliseconds
/// after a colon), also with a `.` before the milliseconds, without them, without the weekday,
/// with padding, or as ISO 8601.
pub fn parse_record_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(ms) = parse_rfc3339_ms(s) {
        return Some(ms);
    }
    let s = s.split_once(',').map_or(s, |(_, rest)| rest);
    let mut w = s.split_ascii_whitespace();
    let (day, month, year, clock) = (w.next()?, w.next()?, w.next()?, w.next()?);
    if w.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let m = MONTHS.iter().position(|x| month.len() >= 3 && month[..3].eq_ignore_ascii_case(x))? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let mut c = clock.split([':', '.']);
    let (h, mi, sec): (i64, i64, i64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let ms = match c.next() {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let f = &f[..f.len().min(3)];
            f.parse::<i64>().ok()? * 10i64.pow(3 - f.len() as u32)
        }
        Some(_) => return None,
    };
    if c.next().is_some() || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 || year.len() != 4 {
        return None;
    }
    Some((days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + ms)
}

/// The log group a record of the `cloudwatch_logs` source was read from (its enrichment's
/// `log_group`): Redshift's `/aws/redshift/cluster/<cluster>/<logtype>`.
fn cloudwatch_log_group(rec: &RawRecord<'_>) -> Option<String> {
    if rec.source_kind != "cloudwatch_logs" {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(rec.enrichment?).ok()?;
    v.get("log_group")?.as_str().map(str::to_string)
}

/// Maps one audit log record.
pub fn map_record(rec: &RawRecord<'_>) -> Result<Event, MapError> {
    let group = cloudwatch_log_group(rec);
    let (from_name, cluster) = from_object(group.as_deref().unwrap_or(rec.object));
    let log_type = match rec.context {
        Some(c) => std::str::from_utf8(c).ok().and_then(LogType::from_name).ok_or_else(|| {
            MapError::new(format!("the unit context {:?} is no Redshift audit log type (connectionlog, userlog, useractivitylog)", String::from_utf8_lossy(c)))
        })?,
        None => from_name.ok_or_else(|| MapError::new("cannot tell which Redshift audit log the record is from: no unit context, and the object's name names no log type"))?,
    };
    let text = rec.text()?;
    let ctx = Ctx { rec, cluster, log_type };
    Ok(match log_type {
        LogType::Connection => Event::Authentication(connection(&ctx, text)?),
        LogType::User => Event::AccountChange(user(&ctx, text)?),
        LogType::UserActivity => Event::DatastoreActivity(activity(&ctx, text)?),
    })
}

/// What every event of a record shares.
struct Ctx<'a> {
    rec: &'a RawRecord<'a>,
    cluster: Option<&'a str>,
    log_type: LogType,
}

impl Ctx<'_> {
    fn cloud(&self) -> Cloud {
        Cloud {
            provider: "AWS".into(),
            region: self.rec.region.map(str::to_string),
            account: Some(Account {
                uid: self.rec.aws_account_id.map(str::to_string),
                name: Some(self.rec.connector.to_string()),
                type_: Some("AWS Account".into()),
                type_id: Some(10),
            }),
            zone: None,
        }
    }

    fn metadata(&self, original_time: &str) -> Metadata {
        Metadata {
            version: ocsf::VERSION.into(),
            product: Product {
                name: Some("Amazon Redshift".into()),
                vendor_name: "AWS".into(),
                feature: Some(Feature { name: Some(self.log_type.feature().into()) }),
                ..Default::default()
            },
            log_provider: Some("Amazon Redshift audit logging".into()),
            original_time: Some(original_time.to_string()),
            uid: Some(self.rec.position_uid()),
            profiles: Some(vec!["cloud".into(), "datetime".into()]),
            ..Default::default()
        }
    }

    /// The cluster, as the endpoint the records are about.
    fn cluster_endpoint(&self) -> NetworkEndpoint {
        NetworkEndpoint { name: self.cluster.map(str::to_string), svc_name: Some("Amazon Redshift".into()), ..Default::default() }
    }

    /// The session's uid: `<cluster>/<pid>` (the pid alone when the cluster is unknown).
    fn session_uid(&self, pid: Option<i32>) -> Option<String> {
        let pid = pid?;
        Some(match self.cluster {
            Some(c) => format!("{c}/{pid}"),
            None => pid.to_string(),
        })
    }

    fn process(pid: Option<i32>) -> Option<Process> {
        pid.map(|pid| Process { pid: Some(pid), ..Default::default() })
    }
}

/// The fields of a pipe-delimited line, trimmed; empty ones are `None`.
fn fields(line: &str) -> Vec<Option<&str>> {
    let mut v: Vec<Option<&str>> = line.split('|').map(|f| Some(f.trim()).filter(|f| !f.is_empty())).collect();
    // The line ends in `|`: the empty field after it is none of the log's.
    if line.trim_end().ends_with('|') {
        v.pop();
    }
    v
}

fn field<'a>(f: &[Option<&'a str>], i: usize) -> Option<&'a str> {
    f.get(i).copied().flatten()
}

fn number<T: std::str::FromStr>(f: &[Option<&str>], i: usize, name: &str) -> Result<Option<T>, MapError> {
    field(f, i).map(|s| s.parse::<T>().map_err(|_| MapError::new(format!("{name}: {s:?} is not a number")))).transpose()
}

fn record_time(f: &[Option<&str>], i: usize) -> Result<(i64, String), MapError> {
    let s = field(f, i).ok_or_else(|| MapError::new("recordtime is empty"))?;
    let t = parse_record_time(s).ok_or_else(|| MapError::new(format!("recordtime: {s:?} is not a time (like Mon, 7 Dec 2020 20:01:55:177)")))?;
    Ok((t, s.to_string()))
}

fn unmapped(pairs: &[(&str, Option<&str>)]) -> Option<BTreeMap<String, String>> {
    let m: BTreeMap<String, String> = pairs.iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string()))).collect();
    (!m.is_empty()).then_some(m)
}

/// Connection log positions (the first 16 are stable, newer clusters append the rest).
mod c {
    pub const EVENT: usize = 0;
    pub const RECORDTIME: usize = 1;
    pub const REMOTEHOST: usize = 2;
    pub const REMOTEPORT: usize = 3;
    pub const PID: usize = 4;
    pub const DBNAME: usize = 5;
    pub const USERNAME: usize = 6;
    pub const AUTHMETHOD: usize = 7;
    pub const DURATION: usize = 8;
    pub const SSLVERSION: usize = 9;
    pub const SSLCIPHER: usize = 10;
    pub const MTU: usize = 11;
    pub const SSLCOMPRESSION: usize = 12;
    pub const SSLEXPANSION: usize = 13;
    pub const IAMAUTHGUID: usize = 14;
    pub const APPLICATION_NAME: usize = 15;
    pub const OS_OR_DRIVER: usize = 16;
    pub const DRIVER_OR_OS: usize = 17;
    pub const PLUGIN_NAME: usize = 18;
    pub const PROTOCOL_VERSION: usize = 19;
    pub const SESSIONID: usize = 20;
    pub const COMPRESSION: usize = 21;
}

/// Fields 17 and 18 of the connection log are the client's OS and driver versions, in an
/// order the AWS pages disagree on (STL_CONNECTION_LOG lists `os_version` first,
/// SYS_CONNECTION_LOG `driver_version`): a value naming a driver (JDBC, ODBC, `Driver`,
/// a bare version number) is the driver's.
fn os_and_driver<'a>(a: Option<&'a str>, b: Option<&'a str>) -> (Option<&'a str>, Option<&'a str>) {
    let is_driver = |s: &str| {
        let l = s.to_ascii_lowercase();
        l.contains("jdbc") || l.contains("odbc") || l.contains("driver") || l.contains("python") || s.starts_with(|c: char| c.is_ascii_digit())
    };
    match (a, b) {
        (Some(x), _) if is_driver(x) && b.is_none_or(|y| !is_driver(y)) => (b, a),
        _ => (a, b),
    }
}

fn connection(ctx: &Ctx<'_>, line: &str) -> Result<Authentication, MapError> {
    let f = fields(line);
    if f.len() < 16 {
        return Err(MapError::new(format!("a connection log record has at least 16 fields, this one {}", f.len())));
    }
    let event = field(&f, c::EVENT).ok_or_else(|| MapError::new("event is empty"))?;
    let (time, original) = record_time(&f, c::RECORDTIME)?;
    let (activity, name, status) = match event {
        "authenticated" => (1, None, Some(ocsf::status::SUCCESS)),
        "authentication failure" => (1, None, Some(ocsf::status::FAILURE)),
        "disconnecting session" => (2, None, None),
        "initiating session" => (99, Some("Initiating Session".to_string()), None),
        other => (99, Some(other.to_string()), None),
    };
    let mut e = Authentication::new(time, activity, ocsf::severity::INFORMATIONAL);
    if let Some(n) = name {
        e.type_name = format!("{}: {n}", Authentication::CAPTION);
        e.activity_name = n;
    }
    if let Some(s) = status {
        e.set_status(s);
    }
    let username = field(&f, c::USERNAME).ok_or_else(|| MapError::new("username is empty"))?;
    e.user = User { name: Some(username.into()), ..Default::default() };
    let pid = number::<i32>(&f, c::PID, "pid")?;
    let host = field(&f, c::REMOTEHOST);
    let local = host == Some("[local]");
    let mut src = NetworkEndpoint { uid: ctx.session_uid(pid), port: number::<u16>(&f, c::REMOTEPORT, "remoteport")?.map(i32::from), ..Default::default() };
    match host {
        Some(h) if local => src.name = Some(h.into()),
        Some(h) if h.parse::<IpAddr>().is_ok() => src.ip = Some(h.into()),
        Some(h) => src.hostname = Some(h.into()),
        None => {}
    }
    e.src_endpoint = Some(src);
    e.is_remote = host.map(|_| !local);
    e.dst_endpoint = Some(ctx.cluster_endpoint());
    e.service = field(&f, c::DBNAME).map(|db| Service { name: Some(db.into()) });
    if let Some(m) = field(&f, c::AUTHMETHOD) {
        e.auth_protocol_id = Some(ocsf::auth_protocol::OTHER);
        e.auth_protocol = Some(m.into());
    }
    e.actor = Ctx::process(pid).map(|p| Actor { process: Some(p), ..Default::default() });
    let duration_us = number::<i64>(&f, c::DURATION, "duration")?.filter(|d| *d > 0);
    if activity == 2
        && let Some(us) = duration_us
    {
        let ms = us / 1000;
        e.duration = i32::try_from(ms).ok();
        e.start_time = Some(time - ms);
        e.end_time = Some(time);
    }
    let sessionid = field(&f, c::SESSIONID);
    e.session = match (sessionid, activity) {
        (None, 99) if event == "initiating session" => Some(Session { created_time: Some(time), created_time_dt: Some(time), ..Default::default() }),
        (None, _) => None,
        (Some(id), _) => Some(Session {
            uid: Some(id.into()),
            created_time: (event == "initiating session").then_some(time),
            created_time_dt: (event == "initiating session").then_some(time),
            ..Default::default()
        }),
    };
    let (os, driver) = os_and_driver(field(&f, c::OS_OR_DRIVER), field(&f, c::DRIVER_OR_OS));
    e.unmapped = unmapped(&[
        ("duration", field(&f, c::DURATION).filter(|_| activity != 2)),
        ("sslversion", field(&f, c::SSLVERSION)),
        ("sslcipher", field(&f, c::SSLCIPHER)),
        ("mtu", field(&f, c::MTU)),
        ("sslcompression", field(&f, c::SSLCOMPRESSION)),
        ("sslexpansion", field(&f, c::SSLEXPANSION)),
        ("iamauthguid", field(&f, c::IAMAUTHGUID)),
        ("application_name", field(&f, c::APPLICATION_NAME)),
        ("os_version", os),
        ("driver_version", driver),
        ("plugin_name", field(&f, c::PLUGIN_NAME)),
        ("protocol_version", field(&f, c::PROTOCOL_VERSION)),
        ("compression", field(&f, c::COMPRESSION)),
    ])
    .map(|mut m| {
        // Zero-valued duration and mtu of the events that have none say nothing.
        m.retain(|k, v| !(matches!(k.as_str(), "duration" | "mtu") && v == "0"));
        m
    })
    .filter(|m| !m.is_empty());
    e.cloud = ctx.cloud();
    e.metadata = ctx.metadata(&original);
    Ok(e)
}

fn user(ctx: &Ctx<'_>, line: &str) -> Result<AccountChange, MapError> {
    let f = fields(line);
    if f.len() < 11 {
        return Err(MapError::new(format!("a user log record has 11 fields, this one {}", f.len())));
    }
    let (userid, username, oldusername, action) = (field(&f, 0), field(&f, 1), field(&f, 2), field(&f, 3));
    let (time, original) = record_time(&f, 10)?;
    let (activity, name) = match action {
        Some("create") => (1, None),
        Some("drop") => (6, None),
        Some("rename") => (99, Some("Rename".to_string())),
        Some("alter") => (99, Some("Alter".to_string())),
        Some(other) => (99, Some(other.to_string())),
        None => return Err(MapError::new("action is empty")),
    };
    let mut e = AccountChange::new(time, activity, ocsf::severity::INFORMATIONAL);
    if let Some(n) = name {
        e.type_name = format!("{}: {n}", AccountChange::CAPTION);
        e.activity_name = n;
    }
    let superuser = match field(&f, 5) {
        Some("1") | Some("t") | Some("true") => Some(true),
        Some("0") | Some("f") | Some("false") => Some(false),
        _ => None,
    };
    let type_id = superuser.map(|s| if s { ocsf::user_type::ADMIN } else { ocsf::user_type::USER });
    let person = |name: Option<&str>| User {
        uid: userid.map(str::to_string),
        name: name.map(str::to_string),
        type_id,
        type_: type_id.map(|t| ocsf::user_type::name(t).into()),
        ..Default::default()
    };
    if username.is_none() && userid.is_none() {
        return Err(MapError::new("username and userid are empty"));
    }
    if action == Some("rename") && oldusername.is_some() {
        e.user = person(oldusername);
        e.user_result = Some(person(username));
    } else {
        e.user = person(username);
    }
    let pid = number::<i32>(&f, 8, "pid")?;
    e.actor = Ctx::process(pid).map(|p| Actor { process: Some(p), ..Default::default() });
    e.src_endpoint = ctx.session_uid(pid).map(|uid| NetworkEndpoint { uid: Some(uid), ..Default::default() });
    e.unmapped = unmapped(&[
        ("oldusername", oldusername.filter(|_| action != Some("rename"))),
        ("usecreatedb", field(&f, 4)),
        ("usesuper", field(&f, 5)),
        ("usecatupd", field(&f, 6)),
        ("valuntil", field(&f, 7)),
        ("xid", field(&f, 9)),
    ]);
    e.cloud = ctx.cloud();
    e.metadata = ctx.metadata(&original);
    Ok(e)
}

/// A user activity log record: `'<ISO 8601>Z UTC [ db=… user=… pid=… userid=… xid=… ]' LOG: <query>`.
fn activity(ctx: &Ctx<'_>, text: &str) -> Result<DatastoreActivity, MapError> {
    let bad = || MapError::new("not a user activity log record: it starts with 'YYYY-MM-DDTHH:MM:SSZ UTC [ db=…, user=…, pid=… ]' LOG: ");
    let rest = text.strip_prefix('\'').ok_or_else(bad)?;
    let (stamp, rest) = rest.split_once(" UTC [").ok_or_else(bad)?;
    let (tags, query) = rest.split_once("]' LOG:").ok_or_else(bad)?;
    let time = parse_rfc3339_ms(stamp).ok_or_else(|| MapError::new(format!("the record's time {stamp:?} is not ISO 8601")))?;
    let mut tag = BTreeMap::new();
    for kv in tags.split_ascii_whitespace() {
        if let Some((k, v)) = kv.split_once('=') {
            tag.insert(k, v);
        }
    }
    let get = |k: &str| tag.get(k).copied().filter(|v| !v.is_empty());
    let pid = get("pid").map(|p| p.parse::<i32>().map_err(|_| MapError::new(format!("pid: {p:?} is not a number")))).transpose()?;
    let mut e = DatastoreActivity::new(time, 4, ocsf::severity::INFORMATIONAL);
    e.actor = Actor {
        user: get("user").map(|u| User { name: Some(u.into()), uid: get("userid").map(str::to_string), ..Default::default() }),
        process: Ctx::process(pid),
        ..Default::default()
    };
    if e.actor.user.is_none() && e.actor.process.is_none() {
        return Err(MapError::new("the record names neither a user nor a pid"));
    }
    e.src_endpoint = NetworkEndpoint { uid: ctx.session_uid(pid), ..Default::default() };
    if e.src_endpoint.uid.is_none() {
        e.src_endpoint.uid = get("user").map(|u| format!("{}/{u}", ctx.cluster.unwrap_or("-")));
    }
    e.dst_endpoint = Some(ctx.cluster_endpoint());
    let db = get("db").ok_or_else(|| MapError::new("db is empty"))?;
    e.database = Some(Database { name: Some(db.into()), type_id: ocsf::database_type::RELATIONAL, type_: Some(ocsf::database_type::name(ocsf::database_type::RELATIONAL).into()), ..Default::default() });
    e.type_id = Some(ocsf::datastore_type::DATABASE);
    e.type_ = Some(ocsf::datastore_type::name(ocsf::datastore_type::DATABASE).into());
    let query = query.strip_prefix(' ').unwrap_or(query);
    // OCSF needs a name or a uid; the log has no query id (`xid` is the transaction's), so the
    // name is the SQL command, the query's first word (`SELECT`, `SET`, `CREATE`).
    let command: String = query.split(|c: char| !c.is_ascii_alphabetic()).find(|w| !w.is_empty()).unwrap_or("").to_ascii_uppercase();
    e.query_info = Some(QueryInfo {
        query_string: query.to_string(),
        uid: command.is_empty().then(|| get("xid").unwrap_or("-").to_string()),
        name: (!command.is_empty()).then_some(command),
        ..Default::default()
    });
    let known = ["db", "user", "pid", "userid"];
    let rest: BTreeMap<String, String> = tag.iter().filter(|(k, _)| !known.contains(k)).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    e.unmapped = (!rest.is_empty()).then_some(rest);
    e.cloud = ctx.cloud();
    e.metadata = ctx.metadata(&format!("{stamp} UTC"));
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECT: &str = "AWSLogs/111122223333/redshift/us-east-1/2024/10/08/111122223333_redshift_us-east-1_my-cluster_connectionlog_2024-10-08T16:10.gz";

    fn map(log: Option<&str>, object: &str, text: &str) -> Result<Event, MapError> {
        let mut rec = trawl_guest_sdk::testing::record(text.as_bytes());
        rec.object = object;
        rec.context = log.map(str::as_bytes);
        map_record(&rec)
    }

    #[test]
    fn record_times() {
        assert_eq!(parse_record_time("Mon, 7 Dec 2020 20:01:55:177"), Some(1_607_371_315_177));
        assert_eq!(parse_record_time(" Mon,  7 Dec 2020 20:01:55.177 "), Some(1_607_371_315_177));
        assert_eq!(parse_record_time("Thu, 3 Dec 2020 10:18:38"), Some(1_606_990_718_000));
        assert_eq!(parse_record_time("2020-12-03T10:18:38Z"), Some(1_606_990_718_000));
        assert_eq!(parse_record_time("Thu, 3 Dec 2020 10:18:38:6"), Some(1_606_990_718_600));
        for bad in ["", "Mon, 7 Foo 2020 20:01:55:177", "Mon, 7 Dec 2020", "Mon, 7 Dec 2020 25:01:55"] {
            assert_eq!(parse_record_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_log_type_and_cluster_come_from_the_context_or_the_object() {
        assert_eq!(from_object(OBJECT), (Some(LogType::Connection), Some("my-cluster")));
        assert_eq!(from_object("x/111122223333_redshift_eu-west-1_a_b_useractivitylog_2024-01-15T10:00.gz"), (Some(LogType::UserActivity), Some("a_b")));
        assert_eq!(from_object("/aws/redshift/cluster/prod/userlog"), (Some(LogType::User), Some("prod")));
        assert_eq!(from_object("export.txt"), (None, None));
        let line = "100|awsuser | |create |1|1|0|9223372036854775807|14888|1080|Thu, 3 Dec 2020 10:18:38:695";
        assert!(matches!(map(Some("userlog"), "export.txt", line), Ok(Event::AccountChange(_))));
        assert!(matches!(map(None, "a/111122223333_redshift_us-east-1_c_userlog_2020-12-03T10:18.gz", line), Ok(Event::AccountChange(_))));
        assert!(map(None, "export.txt", line).unwrap_err().0.contains("cannot tell which Redshift audit log"));
        // Read from CloudWatch Logs: the group in the enrichment names both.
        let auth = "authenticated |Mon, 7 Dec 2020 20:01:55:177|10.0.12.7 |52742 |5108|dev |analyst |password |0| | |0| | | | | | |";
        let mut rec = trawl_guest_sdk::testing::record(auth.as_bytes());
        rec.source_kind = "cloudwatch_logs";
        rec.object = "cloudwatch-logs://111122223333/us-east-1//aws/redshift/cluster/prod/connectionlog:prod#1";
        rec.enrichment = Some(br#"{"log_group":"/aws/redshift/cluster/prod/connectionlog","log_stream":"prod","event_id":"1"}"#);
        let Ok(Event::Authentication(e)) = map_record(&rec) else { panic!() };
        assert_eq!(e.dst_endpoint.and_then(|d| d.name).as_deref(), Some("prod"));
        rec.source_kind = "redshift_audit";
        assert!(map_record(&rec).is_err(), "only cloudwatch_logs records are read by their enrichment");
    }

    #[test]
    fn connection_events() {
        let auth = "authenticated |Mon, 7 Dec 2020 20:01:55:177|10.0.12.7 |52742 |5108|dev |analyst |password |0|TLSv1.2 |ECDHE-RSA-AES256-GCM-SHA384 |1500| | | |psql | | | | | | |";
        let Event::Authentication(e) = map(Some("connectionlog"), OBJECT, auth).unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.status_id, e.time), (1, Some(1), 1_607_371_315_177));
        assert_eq!((e.user.name.as_deref(), e.service.as_ref().unwrap().name.as_deref()), (Some("analyst"), Some("dev")));
        let src = e.src_endpoint.as_ref().unwrap();
        assert_eq!((src.ip.as_deref(), src.port, src.uid.as_deref()), (Some("10.0.12.7"), Some(52742), Some("my-cluster/5108")));
        assert_eq!((e.is_remote, e.auth_protocol.as_deref(), e.auth_protocol_id), (Some(true), Some("password"), Some(99)));
        assert_eq!(e.actor.unwrap().process.unwrap().pid, Some(5108));
        let u = e.unmapped.unwrap();
        assert_eq!((u["sslversion"].as_str(), u["application_name"].as_str()), ("TLSv1.2", "psql"));
        assert!(!u.contains_key("duration"));

        let bye = "disconnecting session |Mon, 7 Dec 2020 20:01:55:304|[local] | |5108|dev |rdsdb |Ident |127304| | |0| | | | | | |";
        let Event::Authentication(e) = map(Some("connectionlog"), OBJECT, bye).unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.duration, e.start_time), (2, Some(127), Some(1_607_371_315_304 - 127)));
        assert_eq!((e.src_endpoint.unwrap().name.as_deref(), e.is_remote), (Some("[local]"), Some(false)));

        let start = "initiating session |Mon, 7 Dec 2020 20:01:55:180|10.0.12.7 |52742 |5108|dev |analyst |password |0| | |0| | | | | | | | |9f1c2d3e-0000-4000-8000-1234567890ab | |";
        let Event::Authentication(e) = map(Some("connectionlog"), OBJECT, start).unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str(), e.type_name.as_str()), (99, "Initiating Session", "Authentication: Initiating Session"));
        assert_eq!(e.session.unwrap().uid.as_deref(), Some("9f1c2d3e-0000-4000-8000-1234567890ab"));

        let fail = "authentication failure |Tue, 8 Oct 2024 16:11:02:019|203.0.113.50 |61000 |7001|dev |admin |password |0| | |0| | | | | | |";
        let Event::Authentication(e) = map(Some("connectionlog"), OBJECT, fail).unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.status.as_deref()), (1, Some("Failure")));
    }

    #[test]
    fn os_and_driver_versions_in_either_order() {
        assert_eq!(os_and_driver(Some("Linux 5.10"), Some("Redshift JDBC Driver 2.1.0.9")), (Some("Linux 5.10"), Some("Redshift JDBC Driver 2.1.0.9")));
        assert_eq!(os_and_driver(Some("2.1.0.9"), Some("Windows 10")), (Some("Windows 10"), Some("2.1.0.9")));
    }

    #[test]
    fn user_changes() {
        let Event::AccountChange(e) = map(Some("userlog"), OBJECT, "100|awsuser | |create |1|1|0|9223372036854775807|14888|1080|Thu, 3 Dec 2020 10:18:38:695").unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.user.name.as_deref(), e.user.uid.as_deref(), e.user.type_.as_deref()), (1, Some("awsuser"), Some("100"), Some("Admin")));
        let Event::AccountChange(e) = map(Some("userlog"), OBJECT, "104|etl_svc |etl |rename |0|0|0|  |15012|2210|Tue, 8 Oct 2024 16:12:44:120").unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str()), (99, "Rename"));
        assert_eq!((e.user.name.as_deref(), e.user_result.unwrap().name.as_deref()), (Some("etl"), Some("etl_svc")));
        let Event::AccountChange(e) = map(Some("userlog"), OBJECT, "104|etl_svc | |drop |0|0|0| |15012|2213|Tue, 8 Oct 2024 16:20:00:000").unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str()), (6, "Delete"));
    }

    #[test]
    fn queries_keep_their_lines() {
        let q = "'2020-12-08T22:01:55Z UTC [ db=dev user=rdsdb pid=23170 userid=1 xid=245636 ]' LOG: SELECT  ss.node as node,\n        bc.temporary as temporary\nFROM stv_slices ss;";
        let Event::DatastoreActivity(e) = map(Some("useractivitylog"), OBJECT, q).unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.time), (4, 1_607_464_915_000));
        let q = e.query_info.unwrap();
        assert_eq!(q.query_string, "SELECT  ss.node as node,\n        bc.temporary as temporary\nFROM stv_slices ss;");
        assert_eq!(q.name.as_deref(), Some("SELECT"));
        assert_eq!((e.database.unwrap().name.as_deref(), e.actor.user.unwrap().uid.as_deref()), (Some("dev"), Some("1")));
        assert_eq!(e.src_endpoint.uid.as_deref(), Some("my-cluster/23170"));
        assert_eq!(e.unmapped.unwrap()["xid"], "245636");
        assert!(map(Some("useractivitylog"), OBJECT, "LOG: select 1").unwrap_err().0.starts_with("not a user activity log record"));
    }

    #[test]
    fn bad_records_name_the_field() {
        let e = map(Some("connectionlog"), OBJECT, "authenticated |Mon, 7 Dec 2020 20:01:55:177|10.0.12.7 |port |5108|dev |analyst |password |0| | |0| | | | |").unwrap_err();
        assert_eq!(e.0, "remoteport: \"port\" is not a number");
        let e = map(Some("connectionlog"), OBJECT, "authenticated |yesterday|10.0.12.7 |1 |5108|dev |analyst |password |0| | |0| | | | |").unwrap_err();
        assert!(e.0.starts_with("recordtime: \"yesterday\" is not a time"), "{e}");
        let e = map(Some("connectionlog"), OBJECT, "authenticated |Mon, 7 Dec 2020 20:01:55:177|").unwrap_err();
        assert!(e.0.contains("at least 16 fields"), "{e}");
        assert!(map(Some("vpcflow"), OBJECT, "x").unwrap_err().0.contains("no Redshift audit log type"));
    }
}
