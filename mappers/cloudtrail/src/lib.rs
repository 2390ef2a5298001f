//! The standard CloudTrail mapper: CloudTrail records → OCSF 1.1.0.
//!
//! - `ConsoleLogin` → Authentication (3002), Logon, success/failure from
//!   `responseElements.ConsoleLogin`.
//! - every other management or data event → API Activity (6003), with the activity derived
//!   from `readOnly` and the verb that starts `eventName` (see [`activity_id`]).
//!
//! Fields with no OCSF home go to `unmapped`, a map of each field to its value as text (a
//! string as its content, anything else as its JSON, copied byte for byte from the record):
//! MAP<string,string> in Parquet and an object in NDJSON, as Amazon Security Lake stores it.
//! The record is parsed once, into borrowed raw values, so unmapped objects are never decoded
//! and re-encoded.

use serde::Deserialize;
use serde_json::value::RawValue;
use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
    time::parse_rfc3339_ms,
};

/// The mapper. Stateless; config is ignored.
pub struct CloudTrail;

#[cfg(feature = "export")]
trawl_guest_sdk::export_mapper!(CloudTrail);

impl Mapper for CloudTrail {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(CloudTrail)
    }

    fn manifest() -> Manifest {
        Manifest::new("cloudtrail", env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<ApiActivity>(), ClassDecl::of::<Authentication>()])
            .describe("AWS CloudTrail records to OCSF 1.1.0 API Activity and Authentication")
            .ocsf(ocsf::VERSION)
            .for_sources(&["cloudtrail_files", "cloudtrail_s3", "cloudtrail_sqs", "cloudtrail_lookup"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        match map_record(rec)? {
            Event::Authentication(e) => out.emit(e),
            Event::ApiActivity(e) => out.emit(e),
        }
        Ok(())
    }
}

/// One CloudTrail record as OCSF.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A `ConsoleLogin`.
    Authentication(Authentication),
    /// Everything else.
    ApiActivity(ApiActivity),
}

/// Maps one CloudTrail record. Public so that other mappers can build on it (see
/// `examples/custom-mapper`).
pub fn map_record(rec: &RawRecord<'_>) -> Result<Event, MapError> {
    // Validate UTF-8 once, up front: parsing a `&str` then skips the per-string checks.
    let text = rec.text()?;
    let fields: Fields = serde_json::from_str(text).map_err(|e| MapError::new(format!("not a CloudTrail record (expected a JSON object): {e}")))?;
    let ct = Record::from_fields(&fields)?;
    Ok(if ct.event_name == "ConsoleLogin" { Event::Authentication(authentication(&ct, rec)) } else { Event::ApiActivity(api_activity(&ct, rec)) })
}

/// The uid of a record without an `eventID` (seen in hand-made and some third-party exports):
/// `sha256:` and the first 128 bits of the SHA-256 of its exact bytes, so the same record
/// always gets the same uid (a replay writes it again under the same uid, and duplicates of
/// it collapse downstream). Each such record is logged as a warning.
fn derived_uid(rec: &RawRecord<'_>) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(rec.bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    trawl_guest_sdk::log!(Warn, "record has no eventID; metadata.uid derived from its bytes: sha256:{hex}");
    format!("sha256:{hex}")
}

/// Declares the top-level fields the mapper reads: a slot constant in `k` for each, and
/// `SLOTS`, their names by slot number. One list, so a name and its slot cannot drift apart.
macro_rules! slots {
    ($($slot:ident = $name:literal),* $(,)?) => {
        /// Slot numbers, in `SLOTS` order.
        #[allow(dead_code)]
        mod k {
            slots!(@consts 0usize; $($slot)*);
        }
        const SLOTS: &[&str] = &[$($name),*];
    };
    (@consts $n:expr; $slot:ident $($rest:ident)*) => {
        pub const $slot: usize = $n;
        slots!(@consts $n + 1; $($rest)*);
    };
    (@consts $n:expr;) => {};
}

slots! {
    EVENT_VERSION = "eventVersion", EVENT_TIME = "eventTime", EVENT_SOURCE = "eventSource",
    EVENT_NAME = "eventName", AWS_REGION = "awsRegion", SOURCE_IP_ADDRESS = "sourceIPAddress",
    USER_AGENT = "userAgent", REQUEST_ID = "requestID", EVENT_ID = "eventID", READ_ONLY = "readOnly",
    ERROR_CODE = "errorCode", ERROR_MESSAGE = "errorMessage", RECIPIENT_ACCOUNT_ID = "recipientAccountId",
    EVENT_CATEGORY = "eventCategory", USER_IDENTITY = "userIdentity", RESOURCES = "resources",
    SHARED_EVENT_ID = "sharedEventID", VPC_ENDPOINT_ID = "vpcEndpointId",
    // Read, but kept in `unmapped` too: they hold more than the mapper takes from them.
    RESPONSE_ELEMENTS = "responseElements", ADDITIONAL_EVENT_DATA = "additionalEventData",
}

/// Slots before this one have an OCSF home and stay out of `unmapped`.
const MAPPED: usize = k::RESPONSE_ELEMENTS;

/// A record's top-level fields, borrowed from its bytes in one pass: the ones the mapper
/// reads in slots, every other one (and the read-but-unmapped ones) in `other` for
/// `unmapped`. No map is built and no value is decoded here.
struct Fields<'a> {
    slots: [Option<&'a RawValue>; SLOTS.len()],
    other: Vec<(&'a str, &'a RawValue)>,
}

impl<'a> Fields<'a> {
    fn get(&self, slot: usize) -> Option<&'a RawValue> {
        self.slots[slot]
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Fields<'de>, A::Error> {
                let mut f = Fields { slots: [None; SLOTS.len()], other: Vec::with_capacity(8) };
                while let Some(key) = m.next_key::<&'de str>()? {
                    let value: &'de RawValue = m.next_value()?;
                    match SLOTS.iter().position(|s| *s == key) {
                        Some(i) => {
                            f.slots[i] = Some(value);
                            if i >= MAPPED {
                                f.other.push((key, value));
                            }
                        }
                        None => f.other.push((key, value)),
                    }
                }
                Ok(f)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow)]
    type_: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    principal_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    arn: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    access_key_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    user_name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    invoked_by: Option<std::borrow::Cow<'a, str>>,
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow)]
    session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow)]
    attributes: Option<SessionAttributes<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(borrow)]
    arn: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes<'a> {
    #[serde(borrow)]
    creation_date: Option<std::borrow::Cow<'a, str>>,
    /// CloudTrail writes this as the string "true"/"false".
    #[serde(borrow)]
    mfa_authenticated: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'a> {
    #[serde(rename = "ARN", borrow)]
    arn: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    type_: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ConsoleLoginResponse<'a> {
    #[serde(rename = "ConsoleLogin", borrow)]
    console_login: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ConsoleLoginData<'a> {
    #[serde(rename = "MFAUsed", borrow)]
    mfa_used: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "LoginTo", borrow)]
    login_to: Option<std::borrow::Cow<'a, str>>,
}

/// A CloudTrail record, borrowed from the raw bytes.
struct Record<'a> {
    fields: &'a Fields<'a>,
    event_name: String,
    time: i64,
    event_time: String,
    read_only: Option<bool>,
    identity: UserIdentity<'a>,
}

fn field<'a, T: Deserialize<'a>>(fields: &Fields<'a>, slot: usize) -> Result<Option<T>, MapError> {
    match fields.get(slot) {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|e| MapError::new(format!("CloudTrail field {}: {e}", SLOTS[slot]))),
    }
}

fn string(fields: &Fields<'_>, slot: usize) -> Option<String> {
    field::<std::borrow::Cow<str>>(fields, slot).ok().flatten().map(|c| c.into_owned())
}

impl<'a> Record<'a> {
    fn from_fields(fields: &'a Fields<'a>) -> Result<Self, MapError> {
        let event_name: String = field(fields, k::EVENT_NAME)?
            .ok_or_else(|| MapError::new("not a CloudTrail record: no eventName"))?;
        let event_time: String = field(fields, k::EVENT_TIME)?
            .ok_or_else(|| MapError::new("not a CloudTrail record: no eventTime"))?;
        let time = parse_rfc3339_ms(&event_time)
            .ok_or_else(|| MapError::new(format!("eventTime {event_time:?} is not an RFC 3339 timestamp")))?;
        Ok(Self {
            fields,
            event_name,
            time,
            event_time,
            read_only: field(fields, k::READ_ONLY)?,
            identity: field(fields, k::USER_IDENTITY)?.unwrap_or_default(),
        })
    }

    fn s(&self, slot: usize) -> Option<String> {
        string(self.fields, slot)
    }

    /// The fields with no OCSF home, as OCSF's `unmapped` map: each value as text — a JSON
    /// string as its content, anything else as its JSON, byte for byte; nulls left out (a
    /// repeated key keeps its last value, as a JSON map would).
    fn unmapped(&self) -> Option<std::collections::BTreeMap<String, String>> {
        if self.fields.other.is_empty() {
            return None;
        }
        let mut out = std::collections::BTreeMap::new();
        for (k, v) in &self.fields.other {
            let raw = v.get();
            if raw == "null" {
                continue; // a null says nothing; the key alone would only take room
            }
            let text = if raw.starts_with('"') { serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()) } else { raw.to_string() };
            out.insert(k.to_string(), text);
        }
        Some(out)
    }

    /// `(status_id, status_code, status_detail)`: a call failed when it has an `errorCode`.
    /// `errorMessage` is kept even without a code (failed console sign-ins have only it).
    fn status(&self) -> (i32, Option<String>, Option<String>) {
        let code = self.s(k::ERROR_CODE);
        let status = if code.is_some() { ocsf::status::FAILURE } else { ocsf::status::SUCCESS };
        (status, code, self.s(k::ERROR_MESSAGE))
    }

    fn user(&self) -> User {
        let id = &self.identity;
        let type_ = id.type_.as_deref();
        let name = match type_ {
            Some("Root") => id.user_name.as_deref().map(str::to_string).or_else(|| Some("root".into())),
            Some("AssumedRole") => id.arn.as_deref().and_then(|a| a.rsplit('/').next()).map(str::to_string),
            Some("AWSService") => id.invoked_by.as_deref().map(str::to_string),
            _ => id.user_name.as_deref().map(str::to_string),
        };
        User {
            uid: id.arn.as_deref().map(str::to_string).or_else(|| id.principal_id.as_deref().map(str::to_string)),
            uid_alt: id.principal_id.as_deref().map(str::to_string),
            name,
            // CloudTrail's identity type as it is (IAMUser, Root, AssumedRole, AWSService, …),
            // and no type_id: as Security Lake maps it, so queries such as
            // `actor.user.type = 'Root'` work on both. OCSF's four type ids would fold most of
            // these into Other and lose the distinction.
            type_: type_.map(str::to_string),
            type_id: None,
            credential_uid: id.access_key_id.as_deref().filter(|k| !k.is_empty()).map(str::to_string),
            account: id.account_id.as_deref().map(|uid| Account { uid: Some(uid.to_string()), ..Default::default() }),
        }
    }

    fn session(&self) -> Option<Session> {
        let ctx = self.identity.session_context.as_ref()?;
        let attrs = ctx.attributes.as_ref();
        Some(Session {
            issuer: ctx.session_issuer.as_ref().and_then(|i| i.arn.as_deref()).map(str::to_string),
            is_mfa: attrs.and_then(|a| a.mfa_authenticated.as_deref()).map(|m| m == "true"),
            created_time: attrs.and_then(|a| a.creation_date.as_deref()).and_then(parse_rfc3339_ms),
            credential_uid: None,
        })
    }

    fn actor(&self) -> Actor {
        Actor {
            user: Some(self.user()),
            session: self.session(),
            invoked_by: self.identity.invoked_by.as_deref().map(str::to_string),
        }
    }

    /// `sourceIPAddress` is an address for people and a DNS name for AWS services.
    fn src_endpoint(&self) -> NetworkEndpoint {
        let src = self.s(k::SOURCE_IP_ADDRESS);
        let is_ip = src.as_deref().is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok());
        // An AWS service calling on a principal's behalf has its name where the address goes:
        // it is the domain (as Security Lake maps it) and the service name too, since OCSF
        // wants an endpoint to have one of ip, uid, name, hostname, svc_name, …
        let named = src.filter(|_| !is_ip);
        NetworkEndpoint {
            ip: if is_ip { self.s(k::SOURCE_IP_ADDRESS) } else { None },
            svc_name: named.clone(),
            domain: named,
            uid: self.s(k::VPC_ENDPOINT_ID),
        }
    }

    fn cloud(&self, rec: &RawRecord<'_>) -> Cloud {
        let account_uid = self
            .s(k::RECIPIENT_ACCOUNT_ID)
            .or_else(|| self.identity.account_id.as_deref().map(str::to_string))
            .or_else(|| rec.aws_account_id.map(str::to_string));
        Cloud {
            provider: "AWS".into(),
            region: self.s(k::AWS_REGION).or_else(|| rec.region.map(str::to_string)),
            account: Some(Account {
                uid: account_uid,
                name: Some(rec.connector.to_string()),
                type_: Some("AWS Account".into()),
                type_id: Some(10),
            }),
        }
    }

    fn metadata(&self, rec: &RawRecord<'_>) -> Metadata {
        Metadata {
            version: ocsf::VERSION.into(),
            product: Product {
                name: Some("CloudTrail".into()),
                vendor_name: "AWS".into(),
                version: self.s(k::EVENT_VERSION),
            },
            uid: self.s(k::EVENT_ID).or_else(|| Some(derived_uid(rec))),
            event_code: Some(self.event_name.clone()),
            log_name: self.s(k::EVENT_CATEGORY),
            original_time: Some(self.event_time.clone()),
            correlation_uid: self.s(k::SHARED_EVENT_ID),
            profiles: Some(vec!["cloud".into()]),
            labels: None,
        }
    }

    fn http_request(&self) -> Option<HttpRequest> {
        self.s(k::USER_AGENT).map(|ua| HttpRequest { user_agent: Some(ua) })
    }
}

/// OCSF API Activity `activity_id` for a CloudTrail event: 2 Read when `readOnly` is true,
/// otherwise by the verb that starts `eventName`; 99 Other for verbs that fit none; 0 Unknown
/// when nothing says.
pub fn activity_id(event_name: &str, read_only: Option<bool>) -> i32 {
    const CREATE: &[&str] = &["Create", "Run", "Register", "Allocate", "Import", "Generate", "Issue", "Copy", "Upload", "Request", "Launch", "Publish", "Send"];
    const READ: &[&str] = &["Get", "List", "Describe", "Head", "Lookup", "Search", "Select", "Scan", "Query", "BatchGet", "Download", "Decrypt", "Check", "View", "Assume", "Validate", "Test"];
    const UPDATE: &[&str] = &["Update", "Put", "Modify", "Set", "Attach", "Detach", "Associate", "Disassociate", "Enable", "Disable", "Start", "Stop", "Reboot", "Reset", "Change", "Tag", "Untag", "Add", "Replace", "Restore", "Rotate", "Authorize", "Apply", "Assign", "Unassign", "Complete", "Accept", "Reject", "Cancel", "Resume", "Suspend", "Rename", "Move", "Merge", "Edit", "Upgrade", "Encrypt"];
    const DELETE: &[&str] = &["Delete", "Remove", "Terminate", "Deregister", "Release", "Revoke", "Purge", "Destroy", "BatchDelete"];
    // Names whose verb alone misleads: S3 writes that create objects.
    match event_name {
        "PutObject" | "CopyObject" | "CompleteMultipartUpload" | "CreateMultipartUpload" => return 1,
        _ => {}
    }
    if read_only == Some(true) {
        return 2;
    }
    let starts = |verbs: &[&str]| {
        verbs.iter().any(|v| {
            event_name.starts_with(v)
                && event_name[v.len()..].chars().next().is_none_or(|c| !c.is_ascii_lowercase())
        })
    };
    if starts(DELETE) {
        4
    } else if starts(CREATE) {
        1
    } else if starts(UPDATE) {
        3
    } else if starts(READ) {
        2
    } else if read_only == Some(false) {
        99
    } else {
        0
    }
}

/// Severity: Low for denied calls (worth a look), Informational for everything else.
fn severity_id(error_code: Option<&str>) -> i32 {
    match error_code {
        Some(c) if c.contains("AccessDenied") || c.contains("Unauthorized") || c.contains("Forbidden") => ocsf::severity::LOW,
        _ => ocsf::severity::INFORMATIONAL,
    }
}

fn api_activity(ct: &Record<'_>, rec: &RawRecord<'_>) -> ApiActivity {
    let activity_id = activity_id(&ct.event_name, ct.read_only);
    let activity_name = ApiActivity::activity_name(activity_id);
    let (status_id, status_code, status_detail) = ct.status();
    let severity_id = severity_id(status_code.as_deref());
    let resources: Option<Vec<Resource>> = field(ct.fields, k::RESOURCES).ok().flatten();
    ApiActivity {
        time: ct.time,
        class_uid: 6003,
        class_name: "API Activity".into(),
        category_uid: 6,
        category_name: "Application Activity".into(),
        activity_id,
        activity_name: activity_name.into(),
        type_uid: 600_300 + activity_id as i64,
        type_name: format!("API Activity: {activity_name}"),
        severity_id,
        severity: ocsf::severity::name(severity_id).into(),
        status_id: Some(status_id),
        status: Some(ocsf::status::name(status_id).into()),
        status_detail: status_detail.clone(),
        actor: ct.actor(),
        api: Api {
            operation: ct.event_name.clone(),
            service: ct.s(k::EVENT_SOURCE).map(|name| Service { name: Some(name) }),
            request: ct.s(k::REQUEST_ID).map(|uid| Request { uid: Some(uid) }),
            response: status_code.clone().map(|code| Response { error: Some(code), message: status_detail }),
        },
        status_code,
        src_endpoint: ct.src_endpoint(),
        http_request: ct.http_request(),
        resources: resources.map(|rs| {
            rs.into_iter()
                .map(|r| ResourceDetails {
                    uid: r.arn.map(|c| c.into_owned()),
                    name: None,
                    type_: r.type_.map(|c| c.into_owned()),
                    owner: r.account_id.map(|a| User {
                        account: Some(Account { uid: Some(a.into_owned()), ..Default::default() }),
                        ..Default::default()
                    }),
                })
                .collect()
        }),
        cloud: ct.cloud(rec),
        metadata: ct.metadata(rec),
        unmapped: ct.unmapped(),
    }
}

fn authentication(ct: &Record<'_>, rec: &RawRecord<'_>) -> Authentication {
    let response: ConsoleLoginResponse = field(ct.fields, k::RESPONSE_ELEMENTS).ok().flatten().unwrap_or_default();
    let data: ConsoleLoginData = field(ct.fields, k::ADDITIONAL_EVENT_DATA).ok().flatten().unwrap_or_default();
    let (mut status_id, status_code, status_detail) = ct.status();
    match response.console_login.as_deref() {
        Some("Failure") => status_id = ocsf::status::FAILURE,
        Some("Success") if status_code.is_none() => status_id = ocsf::status::SUCCESS,
        _ => {}
    }
    // A failed console login is a security signal; a successful root login too.
    let severity_id = if status_id == ocsf::status::FAILURE || ct.identity.type_.as_deref() == Some("Root") {
        ocsf::severity::LOW
    } else {
        ocsf::severity::INFORMATIONAL
    };
    Authentication {
        time: ct.time,
        class_uid: 3002,
        class_name: "Authentication".into(),
        category_uid: 3,
        category_name: "Identity & Access Management".into(),
        activity_id: 1,
        activity_name: "Logon".into(),
        type_uid: 300_201,
        type_name: "Authentication: Logon".into(),
        severity_id,
        severity: ocsf::severity::name(severity_id).into(),
        status_id: Some(status_id),
        status: Some(ocsf::status::name(status_id).into()),
        status_code,
        status_detail,
        user: ct.user(),
        actor: Some(ct.actor()),
        is_mfa: data.mfa_used.as_deref().map(|m| m == "Yes"),
        src_endpoint: Some(ct.src_endpoint()),
        // Security Lake maps LoginTo here; the service (signin.amazonaws.com) is always known,
        // so a row without LoginTo still has what the class requires.
        dst_endpoint: data.login_to.as_deref().map(|to| NetworkEndpoint { svc_name: Some(to.to_string()), ..Default::default() }),
        service: ct.s(k::EVENT_SOURCE).map(|name| Service { name: Some(name) }),
        http_request: ct.http_request(),
        cloud: ct.cloud(rec),
        metadata: ct.metadata(rec),
        // responseElements and additionalEventData were read for ConsoleLogin but stay in
        // unmapped: they hold more than the two fields taken from them.
        unmapped: ct.unmapped(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_event_id_gets_a_uid_derived_from_its_bytes() {
        let raw = br#"{"eventVersion":"1.09","eventTime":"2024-01-15T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1"}"#;
        let uid = |bytes: &[u8]| match map_record(&trawl_guest_sdk::testing::record(bytes)).unwrap() {
            Event::ApiActivity(e) => e.metadata.uid.unwrap(),
            Event::Authentication(e) => e.metadata.uid.unwrap(),
        };
        let a = uid(raw);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 32, "{a}");
        assert_eq!(uid(raw), a, "the same bytes, the same uid");
        let other = String::from_utf8(raw.to_vec()).unwrap().replace("ListUsers", "ListRoles");
        assert_ne!(uid(other.as_bytes()), a);
        let with_id = String::from_utf8(raw.to_vec()).unwrap().replace("\"awsRegion\"", "\"eventID\":\"e-1\",\"awsRegion\"");
        assert_eq!(uid(with_id.as_bytes()), "e-1");
    }

    #[test]
    fn activity_from_event_name() {
        let cases = [
            ("GetObject", Some(true), 2),
            ("ListBuckets", None, 2),
            ("DescribeInstances", Some(true), 2),
            ("CreateUser", Some(false), 1),
            ("RunInstances", Some(false), 1),
            ("PutObject", Some(false), 1),
            ("PutBucketPolicy", Some(false), 3),
            ("AttachRolePolicy", Some(false), 3),
            ("DeleteBucket", Some(false), 4),
            ("TerminateInstances", Some(false), 4),
            ("Invoke", Some(false), 99),
            ("Invoke", None, 0),
            ("Settle", Some(false), 99), // "Set" + lowercase: not the verb Set
            ("AssumeRole", Some(true), 2),
        ];
        for (name, ro, want) in cases {
            assert_eq!(activity_id(name, ro), want, "{name} readOnly={ro:?}");
        }
    }
}
