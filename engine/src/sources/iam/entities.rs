//! IAM entities as JSON, with the field names and shapes the API documents
//! (`GetAccountAuthorizationDetails`: `UserDetail`, `GroupDetail`, `RoleDetail`,
//! `ManagedPolicyDetail`), built from the SDK's types (IAM speaks XML; the SDK's types do not
//! serialize). Policy documents arrive URL-encoded (RFC 3986) and are decoded into JSON here.

use aws_sdk_iam::types::{AttachedPermissionsBoundary, AttachedPolicy, GroupDetail, ManagedPolicyDetail, PolicyDetail, RoleDetail, Tag, UserDetail};
use aws_smithy_types::{DateTime, date_time::Format};
use serde_json::{Map, Value, json};

/// The kinds of entity an IAM snapshot holds, as named in records and entity keys.
pub const KINDS: &[&str] = &["user", "group", "role", "policy", "root"];

/// One entity of a snapshot: its key (`<kind>/<unique id>`), name and ARN, and the API's
/// view of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// `user`, `group`, `role`, `policy`, or `root` (the account's root user, known only from
    /// the credential report).
    pub kind: &'static str,
    /// The IAM unique id (`AIDA…`, `AGPA…`, `AROA…`, `ANPA…`), the account id for `root`.
    pub id: String,
    /// The friendly name.
    pub name: String,
    /// The ARN.
    pub arn: String,
    /// The entity as the API returns it, policy documents decoded.
    pub detail: Value,
}

impl Entity {
    /// The key in the snapshot's entity map: `<kind>/<unique id>`. A renamed user keeps its
    /// key; a user deleted and created again under its name gets a new one.
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind, self.id)
    }
}

/// A policy document as JSON: IAM returns it URL-encoded (`%7B%22Version%22…`). A document
/// that does not decode to JSON is kept as the text it decodes to (and as given when it does
/// not decode at all), so nothing is lost.
pub fn decode_policy_document(doc: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(doc).decode_utf8().map(|c| c.into_owned());
    let text = decoded.as_deref().unwrap_or(doc);
    serde_json::from_str(text).or_else(|_| serde_json::from_str(doc)).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn time(t: Option<&DateTime>) -> Value {
    t.and_then(|t| t.fmt(Format::DateTime).ok()).map_or(Value::Null, Value::String)
}

/// Sets `k` unless the value is null (the API omits absent fields).
fn put(m: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    let v = v.into();
    if !v.is_null() {
        m.insert(k.to_string(), v);
    }
}

fn inline_policies(list: &[PolicyDetail]) -> Value {
    list.iter().map(|p| json!({"PolicyName": p.policy_name(), "PolicyDocument": p.policy_document().map_or(Value::Null, decode_policy_document)})).collect()
}

fn attached(list: &[AttachedPolicy]) -> Value {
    list.iter().map(|p| json!({"PolicyName": p.policy_name(), "PolicyArn": p.policy_arn()})).collect()
}

fn boundary(b: Option<&AttachedPermissionsBoundary>) -> Value {
    b.map_or(Value::Null, |b| json!({"PermissionsBoundaryType": b.permissions_boundary_type().map(|t| t.as_str()), "PermissionsBoundaryArn": b.permissions_boundary_arn()}))
}

fn tags(list: &[Tag]) -> Value {
    if list.is_empty() {
        return Value::Null;
    }
    list.iter().map(|t| json!({"Key": t.key(), "Value": t.value()})).collect()
}

/// An entity is keyed by its unique id, or by its ARN when the reply leaves the id out; a
/// missing name is the ARN's last segment (`…:policy/<path><name>`). moto 5.2 leaves out both
/// `PolicyId` and `PolicyName` of managed policies. Without an ARN an entity cannot be told
/// apart.
fn entity(kind: &'static str, id: Option<&str>, name: Option<&str>, arn: Option<&str>, mut detail: Map<String, Value>) -> Result<Entity, String> {
    let name = name.or_else(|| arn.and_then(|a| a.rsplit('/').next()).filter(|n| !n.is_empty()));
    if let (Some(n), "policy") = (name, kind) {
        detail.entry("PolicyName").or_insert_with(|| Value::String(n.to_string()));
    }
    match (id.filter(|i| !i.is_empty()).or(arn), name, arn) {
        (Some(id), Some(name), Some(arn)) => Ok(Entity { kind, id: id.to_string(), name: name.to_string(), arn: arn.to_string(), detail: Value::Object(detail) }),
        _ => Err(format!("GetAccountAuthorizationDetails returned a {kind} without its name or ARN ({:?})", name.or(arn).or(id))),
    }
}

/// A `UserDetail`.
pub fn user(u: &UserDetail) -> Result<Entity, String> {
    let mut m = Map::new();
    put(&mut m, "Path", u.path());
    put(&mut m, "UserName", u.user_name());
    put(&mut m, "UserId", u.user_id());
    put(&mut m, "Arn", u.arn());
    put(&mut m, "CreateDate", time(u.create_date()));
    put(&mut m, "UserPolicyList", inline_policies(u.user_policy_list()));
    put(&mut m, "GroupList", u.group_list().to_vec());
    put(&mut m, "AttachedManagedPolicies", attached(u.attached_managed_policies()));
    put(&mut m, "PermissionsBoundary", boundary(u.permissions_boundary()));
    put(&mut m, "Tags", tags(u.tags()));
    entity("user", u.user_id(), u.user_name(), u.arn(), m)
}

/// A `GroupDetail`.
pub fn group(g: &GroupDetail) -> Result<Entity, String> {
    let mut m = Map::new();
    put(&mut m, "Path", g.path());
    put(&mut m, "GroupName", g.group_name());
    put(&mut m, "GroupId", g.group_id());
    put(&mut m, "Arn", g.arn());
    put(&mut m, "CreateDate", time(g.create_date()));
    put(&mut m, "GroupPolicyList", inline_policies(g.group_policy_list()));
    put(&mut m, "AttachedManagedPolicies", attached(g.attached_managed_policies()));
    entity("group", g.group_id(), g.group_name(), g.arn(), m)
}

/// A `RoleDetail`.
pub fn role(r: &RoleDetail) -> Result<Entity, String> {
    let mut m = Map::new();
    put(&mut m, "Path", r.path());
    put(&mut m, "RoleName", r.role_name());
    put(&mut m, "RoleId", r.role_id());
    put(&mut m, "Arn", r.arn());
    put(&mut m, "CreateDate", time(r.create_date()));
    put(&mut m, "AssumeRolePolicyDocument", r.assume_role_policy_document().map_or(Value::Null, decode_policy_document));
    let profiles: Vec<Value> = r
        .instance_profile_list()
        .iter()
        .map(|p| json!({"InstanceProfileName": p.instance_profile_name(), "InstanceProfileId": p.instance_profile_id(), "Arn": p.arn(), "Path": p.path(), "CreateDate": time(Some(p.create_date()))}))
        .collect();
    put(&mut m, "InstanceProfileList", profiles);
    put(&mut m, "RolePolicyList", inline_policies(r.role_policy_list()));
    put(&mut m, "AttachedManagedPolicies", attached(r.attached_managed_policies()));
    put(&mut m, "PermissionsBoundary", boundary(r.permissions_boundary()));
    put(&mut m, "Tags", tags(r.tags()));
    if let Some(l) = r.role_last_used() {
        let mut last = Map::new();
        put(&mut last, "LastUsedDate", time(l.last_used_date()));
        put(&mut last, "Region", l.region());
        put(&mut m, "RoleLastUsed", Value::Object(last));
    }
    entity("role", r.role_id(), r.role_name(), r.arn(), m)
}

/// A `ManagedPolicyDetail`, every version's document decoded.
pub fn policy(p: &ManagedPolicyDetail) -> Result<Entity, String> {
    let mut m = Map::new();
    put(&mut m, "PolicyName", p.policy_name());
    put(&mut m, "PolicyId", p.policy_id());
    put(&mut m, "Arn", p.arn());
    put(&mut m, "Path", p.path());
    put(&mut m, "DefaultVersionId", p.default_version_id());
    put(&mut m, "AttachmentCount", p.attachment_count());
    put(&mut m, "PermissionsBoundaryUsageCount", p.permissions_boundary_usage_count());
    put(&mut m, "IsAttachable", p.is_attachable());
    put(&mut m, "Description", p.description());
    put(&mut m, "CreateDate", time(p.create_date()));
    put(&mut m, "UpdateDate", time(p.update_date()));
    let versions: Vec<Value> = p
        .policy_version_list()
        .iter()
        .map(|v| json!({"Document": v.document().map_or(Value::Null, decode_policy_document), "VersionId": v.version_id(), "IsDefaultVersion": v.is_default_version(), "CreateDate": time(v.create_date())}))
        .collect();
    put(&mut m, "PolicyVersionList", versions);
    entity("policy", p.policy_id(), p.policy_name(), p.arn(), m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_are_url_decoded_into_json() {
        // As IAM returns it (the documented example of GetAccountAuthorizationDetails).
        let wire = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%5B%22arn%3Aaws%3As3%3A%3A%3Aexample-bucket%22%5D%7D%7D";
        let v = decode_policy_document(wire);
        assert_eq!(v["Statement"]["Action"], "s3:*");
        assert_eq!(v["Statement"]["Resource"][0], "arn:aws:s3:::example-bucket");
        // A plain JSON document (some emulators) reads the same; '+' is no space in RFC 3986.
        assert_eq!(decode_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Sid":"a+b"}]}"#)["Statement"][0]["Sid"], "a+b");
        assert_eq!(decode_policy_document("not%20json"), Value::String("not json".into()), "kept as its text");
    }

    #[test]
    fn an_entity_without_its_id_is_an_error_naming_it() {
        let u = UserDetail::builder().user_name("alice").user_id("AIDAEXAMPLE").build();
        assert!(user(&u).unwrap_err().contains("alice"));
        let u = UserDetail::builder().user_name("alice").arn("arn:aws:iam::123456789012:user/alice").build();
        assert_eq!(user(&u).unwrap().key(), "user/arn:aws:iam::123456789012:user/alice", "no id: keyed by the ARN");
        let u = UserDetail::builder().user_name("alice").user_id("AIDAEXAMPLE").arn("arn:aws:iam::123456789012:user/alice").group_list("admins").build();
        let e = user(&u).unwrap();
        assert_eq!((e.key().as_str(), e.detail["GroupList"][0].as_str()), ("user/AIDAEXAMPLE", Some("admins")));
        assert!(e.detail.get("Tags").is_none(), "absent fields are omitted, as the API omits them");
    }
}
