//! The standard IAM inventory mapper: the `iam` source's entity records → OCSF 1.1.0.
//!
//! **Records.** One per entity of a snapshot, JSON the source builds: `kind` (`user`, `root`,
//! `role`, `group`, `policy`), `change` (`snapshot`, or `added`, `changed`, `removed` in the
//! source's changes mode), `snapshot` (`uid`, `mode`, `time`), `account` (`uid`, `alias`),
//! `entity` (the entity as `GetAccountAuthorizationDetails` returns it, policy documents
//! decoded; for a removed entity only its name, id and ARN) and, for users, the
//! `credential_report` row (column → value as the report writes it).
//!
//! **Classes, and why** (OCSF 1.1.0, `events/discovery/*.json`, `events/iam/*.json`):
//!
//! - **Users, the root user and roles → User Inventory Info (5003).** 1.1.0's Discovery
//!   category has inventory classes for devices (Device Inventory Info 5001, Device Config
//!   State 5002, Operating System Patch State 5004, Device Config State Change 5019) and for
//!   users (5003, "user inventory data that is either logged or proactively collected. For
//!   example, when collecting user information from Active Directory entries"). Its `user` is
//!   OCSF's object for "a user/person or a security principal"; an IAM user and an IAM role
//!   are both principals (a role is what a session acts as, and CloudTrail names it in
//!   `userIdentity` as it names a user), so both are users here: `uid` the ARN (the user
//!   object's own example is "AWS user ARN"), `uid_alt` the unique id (`AIDA…`, `AROA…`; "the
//!   AWS user Principal ID"; API Activity rows name the same principal by the same ARN),
//!   `name`, `type_id` User (1) for an IAM user, Admin (2) for the root user ("admin/root user
//!   account") and Other (99) with `type` `Role` for a role (OCSF's `type` is the caption of
//!   `type_id` unless that is Other), `account` the account (AWS Account, 10), `groups` the
//!   user's groups (`IAM Group`). Activity **Collect** (2): "the discovered
//!   information is via a collection process" — the API was asked — not Log.
//! - **Groups and customer managed policies → Entity Management (3004), Read (2).** Neither is
//!   a principal (a group cannot be authenticated as, a policy is a document), and no 1.1.0
//!   Discovery class takes anything but a device or a user. Entity Management's primary
//!   object is `managed_entity` ("an entity that is managed", with `uid`, `name`, `type`,
//!   `version` and `data` as JSON), which holds an IAM group or policy whole, and its Read
//!   activity is what the collector did with it. A group's `data` is the group as the API
//!   returns it (inline policies decoded); a policy's `data` the default version's document
//!   and `version` its id (`v3`).
//! - **A removed entity** (changes mode) is activity **Other** (99) with `activity_name`
//!   `Removed` in its class: the collection found it gone. Neither Collect nor Read says that,
//!   and Entity Management's Delete would claim a deletion was observed, with an actor and a
//!   time it does not have. It carries the name, id and ARN last seen.
//!
//! **Every event:** `time` the snapshot's (when the source fetched it); `metadata.uid`
//! `<snapshot>/<kind>/<unique id>`, so an entity appears once per snapshot; `metadata.labels`
//! the change (`snapshot`, `added`, `changed`, `removed`); `metadata.product` AWS IAM;
//! `cloud` the account (IAM is global: no region). OCSF 1.1.0's `user` has no MFA, password
//! or access-key attributes, and no attached-policy list: those facts are in `unmapped`,
//! under `credential_report.<column>` as the report writes them (`N/A` — no such credential —
//! and `not_supported` are left out; `no_information`, never used since IAM began tracking, is
//! kept), with `credential_report.access_key_<n>_age_days` and `password_age_days` at the
//! snapshot's time, and `attached_managed_policies`, `inline_policies`,
//! `assume_role_policy_document`, `permissions_boundary` and `tags` as JSON text.

use std::collections::BTreeMap;

use serde_json::Value;
use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
    time::parse_rfc3339_ms,
};

/// The mapper. Stateless; config is ignored.
pub struct Iam;

#[cfg(feature = "export")]
trawl_guest_sdk::export_mapper!(Iam);

impl Mapper for Iam {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Iam)
    }

    fn manifest() -> Manifest {
        let classes = vec![ClassDecl::of::<UserInventoryInfo>(), ClassDecl::of::<EntityManagement>()];
        Manifest::new("iam", env!("CARGO_PKG_VERSION"), classes)
            .describe("IAM inventory to OCSF 1.1.0: users, the root user and roles → User Inventory Info, groups and managed policies → Entity Management")
            .ocsf(ocsf::VERSION)
            .for_sources(&["iam"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        match map_record(rec)? {
            Event::User(e) => out.emit(e),
            Event::Entity(e) => out.emit(e),
        }
        Ok(())
    }
}

/// One entity record as OCSF.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A user, the root user or a role.
    User(UserInventoryInfo),
    /// A group or a managed policy.
    Entity(EntityManagement),
}

const DAY_MS: i64 = 86_400_000;

/// Maps one entity record.
pub fn map_record(rec: &RawRecord<'_>) -> Result<Event, MapError> {
    let r: Value = serde_json::from_slice(rec.bytes).map_err(|e| MapError::new(format!("an iam record is a JSON object: {e}")))?;
    let text = |path: &[&str]| -> Option<String> { at(&r, path).and_then(Value::as_str).map(str::to_string) };
    let kind = text(&["kind"]).ok_or_else(|| MapError::new("kind is missing"))?;
    let change = text(&["change"]).ok_or_else(|| MapError::new("change is missing"))?;
    if !["snapshot", "added", "changed", "removed"].contains(&change.as_str()) {
        return Err(MapError::new(format!("change: {change:?} is none of snapshot, added, changed, removed")));
    }
    let snapshot = text(&["snapshot", "uid"]).ok_or_else(|| MapError::new("snapshot.uid is missing"))?;
    let time = at(&r, &["snapshot", "time"]).and_then(Value::as_i64).ok_or_else(|| MapError::new("snapshot.time is missing or not a number"))?;
    let key = text(&["key"]).ok_or_else(|| MapError::new("key is missing"))?;
    let entity = r.get("entity").filter(|e| e.is_object()).ok_or_else(|| MapError::new("entity is missing"))?;
    let ctx = Ctx { rec, record: &r, entity, kind: &kind, change: &change, time, snapshot: &snapshot, key: &key, account: text(&["account", "uid"]).or_else(|| rec.aws_account_id.map(str::to_string)) };
    match kind.as_str() {
        "user" | "root" | "role" => Ok(Event::User(ctx.principal()?)),
        "group" | "policy" => Ok(Event::Entity(ctx.managed_entity()?)),
        other => Err(MapError::new(format!("kind: {other:?} is none of user, root, role, group, policy"))),
    }
}

fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// A value as `unmapped` holds it: a string as itself, anything else as its JSON; nothing
/// for null, an empty list or an empty object.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.is_empty() => None,
        Value::Object(o) if o.is_empty() => None,
        other => Some(other.to_string()),
    }
}

struct Ctx<'a> {
    rec: &'a RawRecord<'a>,
    record: &'a Value,
    entity: &'a Value,
    kind: &'a str,
    change: &'a str,
    time: i64,
    snapshot: &'a str,
    key: &'a str,
    account: Option<String>,
}

impl Ctx<'_> {
    fn field(&self, k: &str) -> Option<String> {
        self.entity.get(k).and_then(Value::as_str).map(str::to_string)
    }

    fn removed(&self) -> bool {
        self.change == "removed"
    }

    /// Collect / Read, or Other (`Removed`).
    fn activity(&self, collected: i32) -> i32 {
        if self.removed() { 99 } else { collected }
    }

    fn cloud(&self) -> Cloud {
        Cloud { provider: "AWS".into(), region: None, account: Some(Account { uid: self.account.clone(), name: Some(self.rec.connector.to_string()), type_: Some("AWS Account".into()), type_id: Some(10) }), zone: None }
    }

    fn metadata(&self) -> Metadata {
        let feature = match self.kind {
            "root" => "Credential report",
            _ => "GetAccountAuthorizationDetails",
        };
        Metadata {
            version: ocsf::VERSION.into(),
            product: Product { name: Some("AWS Identity and Access Management".into()), vendor_name: "AWS".into(), feature: Some(Feature { name: Some(feature.into()) }), ..Default::default() },
            log_provider: Some("IAM inventory".into()),
            uid: Some(format!("{}/{}", self.snapshot, self.key)),
            labels: Some(vec![self.change.to_string()]),
            profiles: Some(vec!["cloud".into(), "datetime".into()]),
            ..Default::default()
        }
    }

    /// What every class's `unmapped` starts with: the snapshot and the account alias, then
    /// the entity's fields named in `fields` (as `snake_case` keys).
    fn unmapped(&self, fields: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("snapshot.uid".to_string(), self.snapshot.to_string());
        if let Some(mode) = at(self.record, &["snapshot", "mode"]).and_then(Value::as_str) {
            m.insert("snapshot.mode".to_string(), mode.to_string());
        }
        if let Some(alias) = at(self.record, &["account", "alias"]).and_then(as_text) {
            m.insert("account_alias".to_string(), alias);
        }
        for (from, to) in fields {
            if let Some(v) = self.entity.get(*from).and_then(as_text) {
                m.insert(to.to_string(), v);
            }
        }
        m
    }

    fn principal(&self) -> Result<UserInventoryInfo, MapError> {
        let (name_f, id_f, type_id) = match self.kind {
            "user" => ("UserName", "UserId", ocsf::user_type::USER),
            "role" => ("RoleName", "RoleId", ocsf::user_type::OTHER),
            _ => ("UserName", "UserId", ocsf::user_type::ADMIN),
        };
        let type_ = if type_id == ocsf::user_type::OTHER { "Role" } else { ocsf::user_type::name(type_id) };
        let mut e = UserInventoryInfo::new(self.time, self.activity(2), ocsf::severity::INFORMATIONAL);
        let arn = self.field("Arn");
        let mut name = self.field(name_f);
        let mut uid_alt = self.field(id_f);
        if self.kind == "root" {
            name = Some(report_value(self.record, "user").unwrap_or("<root_account>").to_string());
            uid_alt = None;
        }
        if arn.is_none() && name.is_none() {
            return Err(MapError::new(format!("the {} has neither an Arn nor a {name_f}", self.kind)));
        }
        let groups: Vec<Group> = self.entity.get("GroupList").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(|g| Group { name: Some(g.to_string()), type_: Some("IAM Group".into()), ..Default::default() }).collect();
        e.user = InventoryUser {
            uid: arn,
            uid_alt,
            name: name.clone(),
            type_: Some(type_.into()),
            type_id: Some(type_id),
            account: Some(Account { uid: self.account.clone(), type_: Some("AWS Account".into()), type_id: Some(10), ..Default::default() }),
            groups: (!groups.is_empty()).then_some(groups),
        };
        let what = match self.kind {
            "role" => "IAM role",
            "root" => "root user",
            _ => "IAM user",
        };
        e.message = Some(format!("{what} {}: {}", name.as_deref().unwrap_or(""), self.change));
        if self.removed() {
            e.activity_name = "Removed".into();
        }
        let mut unmapped = self.unmapped(&[
            ("Path", "path"),
            ("CreateDate", "create_date"),
            ("AttachedManagedPolicies", "attached_managed_policies"),
            ("UserPolicyList", "inline_policies"),
            ("RolePolicyList", "inline_policies"),
            ("AssumeRolePolicyDocument", "assume_role_policy_document"),
            ("InstanceProfileList", "instance_profiles"),
            ("PermissionsBoundary", "permissions_boundary"),
            ("Tags", "tags"),
        ]);
        if let Some(last) = self.entity.get("RoleLastUsed") {
            for (k, to) in [("LastUsedDate", "role_last_used.last_used_date"), ("Region", "role_last_used.region")] {
                if let Some(v) = last.get(k).and_then(as_text) {
                    unmapped.insert(to.into(), v);
                }
            }
        }
        if let Some(row) = self.record.get("credential_report").and_then(Value::as_object) {
            credential_facts(row, self.time, &mut unmapped);
        }
        e.unmapped = Some(unmapped);
        e.cloud = self.cloud();
        e.metadata = self.metadata();
        Ok(e)
    }

    fn managed_entity(&self) -> Result<EntityManagement, MapError> {
        let mut e = EntityManagement::new(self.time, self.activity(2), ocsf::severity::INFORMATIONAL);
        let (name_f, type_) = match self.kind {
            "group" => ("GroupName", "IAM Group"),
            _ => ("PolicyName", "IAM Managed Policy"),
        };
        let uid = self.field("Arn");
        let name = self.field(name_f);
        if uid.is_none() && name.is_none() {
            return Err(MapError::new(format!("the {} has neither an Arn nor a {name_f}", self.kind)));
        }
        let (version, data, fields): (Option<String>, Option<String>, &[(&str, &str)]) = match self.kind {
            "group" => (None, (!self.removed()).then(|| self.entity.to_string()), &[("GroupId", "group_id"), ("Path", "path"), ("CreateDate", "create_date")]),
            _ => {
                let default = self.field("DefaultVersionId");
                let document = self.entity.get("PolicyVersionList").and_then(Value::as_array).into_iter().flatten().find(|v| v.get("IsDefaultVersion").and_then(Value::as_bool) == Some(true) || (default.is_some() && v.get("VersionId").and_then(Value::as_str) == default.as_deref())).and_then(|v| v.get("Document")).and_then(as_text);
                let fields: &[(&str, &str)] = &[
                    ("PolicyId", "policy_id"),
                    ("Path", "path"),
                    ("Description", "description"),
                    ("AttachmentCount", "attachment_count"),
                    ("PermissionsBoundaryUsageCount", "permissions_boundary_usage_count"),
                    ("IsAttachable", "is_attachable"),
                    ("CreateDate", "create_date"),
                    ("UpdateDate", "update_date"),
                    ("PolicyVersionList", "policy_versions"),
                ];
                (default, document, fields)
            }
        };
        e.entity = ManagedEntity { uid, name: name.clone(), type_: Some(type_.into()), version, data };
        e.message = Some(format!("{} {}: {}", if self.kind == "group" { "IAM group" } else { "IAM managed policy" }, name.as_deref().unwrap_or(""), self.change));
        if self.removed() {
            e.activity_name = "Removed".into();
        }
        e.unmapped = Some(self.unmapped(fields));
        e.cloud = self.cloud();
        e.metadata = self.metadata();
        Ok(e)
    }
}

fn report_value<'v>(record: &'v Value, column: &str) -> Option<&'v str> {
    at(record, &["credential_report", column]).and_then(Value::as_str)
}

/// The credential report's columns as `credential_report.<column>`, as the report writes
/// them, less `N/A` (no such credential) and `not_supported`; the ages of the password and
/// the access keys in days at `at_ms`.
fn credential_facts(row: &serde_json::Map<String, Value>, at_ms: i64, out: &mut BTreeMap<String, String>) {
    for (column, v) in row {
        let Some(v) = v.as_str() else { continue };
        if matches!(column.as_str(), "user" | "arn") || matches!(v, "N/A" | "not_supported" | "") {
            continue;
        }
        out.insert(format!("credential_report.{column}"), v.to_string());
    }
    let age = |column: &str| row.get(column).and_then(Value::as_str).and_then(parse_rfc3339_ms).map(|t| ((at_ms - t).max(0) / DAY_MS).to_string());
    for (column, name) in [("password_last_changed", "password_age_days"), ("access_key_1_last_rotated", "access_key_1_age_days"), ("access_key_2_last_rotated", "access_key_2_age_days")] {
        let active = match column {
            "password_last_changed" => "password_enabled",
            "access_key_1_last_rotated" => "access_key_1_active",
            _ => "access_key_2_active",
        };
        // An age is of a credential in use: a password disabled or a key made inactive has none.
        if row.get(active).and_then(Value::as_str) == Some("true")
            && let Some(days) = age(column)
        {
            out.insert(format!("credential_report.{name}"), days);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: i64 = 1_796_177_381_960; // 2026-12-02T02:09:41.960Z

    fn record(v: &Value) -> Result<Event, MapError> {
        let bytes = v.to_string();
        let mut rec = trawl_guest_sdk::testing::record(bytes.as_bytes());
        rec.source_kind = "iam";
        rec.aws_account_id = Some("123456789012");
        map_record(&rec)
    }

    fn base(kind: &str, change: &str, entity: Value) -> Value {
        json!({"kind": kind, "key": format!("{kind}/X"), "change": change, "snapshot": {"uid": "2026-12-02T02:09:40.878Z", "mode": "snapshot", "time": T}, "account": {"uid": "123456789012", "alias": "prod-main"}, "entity": entity})
    }

    #[test]
    fn a_user_with_its_report_row_is_a_collected_user_with_its_credential_facts() {
        let mut r = base("user", "snapshot", json!({"UserName": "alice", "UserId": "AIDAEXAMPLE", "Arn": "arn:aws:iam::123456789012:user/alice", "GroupList": ["ops"], "AttachedManagedPolicies": [{"PolicyName": "audit-read", "PolicyArn": "arn:aws:iam::123456789012:policy/audit-read"}], "UserPolicyList": []}));
        r["credential_report"] = json!({"user": "alice", "arn": "arn:aws:iam::123456789012:user/alice", "mfa_active": "false", "password_enabled": "true", "password_last_used": "no_information", "password_last_changed": "2026-11-01T02:09:41+00:00", "access_key_1_active": "true", "access_key_1_last_rotated": "2026-09-03T02:09:41+00:00", "access_key_1_last_used_date": "N/A", "access_key_2_active": "false", "access_key_2_last_rotated": "N/A", "cert_1_active": "false"});
        let Event::User(e) = record(&r).unwrap() else { panic!() };
        assert_eq!((e.class_uid, e.activity_id, e.type_uid, e.time), (5003, 2, 500302, T));
        assert_eq!((e.user.uid.as_deref(), e.user.uid_alt.as_deref(), e.user.name.as_deref(), e.user.type_.as_deref(), e.user.type_id), (Some("arn:aws:iam::123456789012:user/alice"), Some("AIDAEXAMPLE"), Some("alice"), Some("User"), Some(1)));
        assert_eq!(e.user.groups.unwrap()[0].name.as_deref(), Some("ops"));
        let u = e.unmapped.unwrap();
        assert_eq!(u["credential_report.mfa_active"], "false");
        assert_eq!(u["credential_report.password_last_used"], "no_information", "kept: never used since tracking began");
        assert_eq!(u["credential_report.password_age_days"], "31");
        assert_eq!(u["credential_report.access_key_1_age_days"], "90");
        assert!(!u.contains_key("credential_report.access_key_1_last_used_date"), "N/A: no value");
        assert!(!u.contains_key("credential_report.access_key_2_age_days"), "no second key");
        assert!(u["attached_managed_policies"].contains("audit-read"));
        assert!(!u.contains_key("inline_policies"), "an empty list is no value");
        assert_eq!(u["account_alias"], "prod-main");
        assert_eq!(e.metadata.uid.as_deref(), Some("2026-12-02T02:09:40.878Z/user/X"));
        assert_eq!(e.metadata.labels, Some(vec!["snapshot".to_string()]));
    }

    #[test]
    fn roles_root_groups_policies_and_removals() {
        let Event::User(e) = record(&base("role", "added", json!({"RoleName": "app", "RoleId": "AROAEXAMPLE", "Arn": "arn:aws:iam::123456789012:role/app", "AssumeRolePolicyDocument": {"Statement": [{"Action": "sts:AssumeRole"}]}, "RoleLastUsed": {"LastUsedDate": "2026-12-01T00:00:00Z", "Region": "us-east-1"}}))).unwrap() else { panic!() };
        assert_eq!((e.user.type_.as_deref(), e.user.type_id, e.activity_id), (Some("Role"), Some(99), 2));
        let u = e.unmapped.unwrap();
        assert!(u["assume_role_policy_document"].contains("sts:AssumeRole"));
        assert_eq!(u["role_last_used.region"], "us-east-1");
        let mut root = base("root", "snapshot", json!({"Arn": "arn:aws:iam::123456789012:root"}));
        root["credential_report"] = json!({"user": "<root_account>", "arn": "arn:aws:iam::123456789012:root", "mfa_active": "true"});
        let Event::User(e) = record(&root).unwrap() else { panic!() };
        assert_eq!((e.user.name.as_deref(), e.user.type_.as_deref(), e.user.type_id, e.user.uid_alt), (Some("<root_account>"), Some("Admin"), Some(2), None));
        let Event::Entity(e) = record(&base("policy", "changed", json!({"PolicyName": "audit-read", "Arn": "arn:aws:iam::123456789012:policy/audit-read", "DefaultVersionId": "v2", "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": false, "Document": {"Statement": "old"}}, {"VersionId": "v2", "IsDefaultVersion": true, "Document": {"Statement": "new"}}]}))).unwrap() else { panic!() };
        assert_eq!((e.class_uid, e.activity_id, e.entity.type_.as_deref(), e.entity.version.as_deref()), (3004, 2, Some("IAM Managed Policy"), Some("v2")));
        assert_eq!(serde_json::from_str::<Value>(e.entity.data.as_deref().unwrap()).unwrap(), json!({"Statement": "new"}), "the default version's document");
        let Event::Entity(e) = record(&base("group", "removed", json!({"GroupName": "ops", "GroupId": "AGPAEXAMPLE", "Arn": "arn:aws:iam::123456789012:group/ops"}))).unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str(), e.type_uid, e.entity.name.as_deref(), e.entity.data.as_deref()), (99, "Removed", 300499, Some("ops"), None));
        let Event::User(e) = record(&base("user", "removed", json!({"UserName": "bob", "UserId": "AIDAB", "Arn": "arn:aws:iam::123456789012:user/bob"}))).unwrap() else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str(), e.metadata.labels.unwrap()[0].as_str()), (99, "Removed", "removed"));
    }

    #[test]
    fn bad_records_name_the_field() {
        assert!(record(&json!([1])).unwrap_err().0.contains("kind"));
        assert!(record(&base("queue", "snapshot", json!({}))).unwrap_err().0.contains("queue"));
        assert!(record(&base("user", "renamed", json!({}))).unwrap_err().0.contains("renamed"));
        assert!(record(&base("user", "snapshot", json!({"Path": "/"}))).unwrap_err().0.contains("neither an Arn nor a UserName"));
        let mut r = base("user", "snapshot", json!({"UserName": "a"}));
        r["snapshot"]["time"] = json!("soon");
        assert!(record(&r).unwrap_err().0.contains("snapshot.time"));
    }
}
