//! The standard CloudTrail mapper: CloudTrail records → OCSF 1.1.0, following Amazon Security
//! Lake's published CloudTrail mapping (`ocsf/examples`, `mappings/markdown/AWS/v1.1.0/
//! CloudTrail`; notes in `SECURITY_LAKE.md`):
//!
//! - sign-ins and STS credentials (`ConsoleLogin`, `AssumeRole*`, `CheckMfa`, …, see
//!   [`AUTHENTICATION`]) → Authentication (3002);
//! - changes to IAM users, roles, groups, their policies, keys, passwords and MFA (see
//!   [`ACCOUNT_CHANGE`]) → Account Change (3001);
//! - CloudTrail Insights events (`eventType: AwsCloudTrailInsight`) → Detection Finding
//!   (2004), Start as Create and End as Close of one finding (`sharedEventID`);
//! - every other management or data event → API Activity (6003), the activity derived from
//!   `readOnly` and the verb that starts `eventName` (see [`activity_id`]).
//!
//! Every event has the `cloud` and `datetime` profiles: `time_dt` (a TIMESTAMP column) beside
//! `time` (int64 ms). `requestParameters` and `responseElements` are `api.request.data` and
//! `api.response.data` as JSON text, byte for byte. Fields with no OCSF home go to `unmapped`,
//! a map of each top-level field to its value as text (a string as its content, anything else
//! as its JSON): MAP<string,string> in Parquet and an object in NDJSON. The record is parsed
//! once, into borrowed raw values, so unmapped objects are never decoded and re-encoded.
//!
//! Where trawl deliberately differs from Security Lake: `cloud.account` is the account the
//! event was delivered to (`recipientAccountId`) with the connector's account name; a
//! `sourceIPAddress` holding several addresses keeps the first as `ip` and the rest as
//! `intermediate_ips`; an assumed role's session name is `actor.user.name`; `unmapped` keeps
//! whole top-level fields rather than dotted leaf keys; and `user.type` is CloudTrail's
//! identity type as it is (as Security Lake writes it) with no `type_id`, for every type.

use serde::Deserialize;
use serde_json::value::RawValue;
use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
    time::{parse_aws_text_date_ms, parse_rfc3339_ms},
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
        let classes = vec![ClassDecl::of::<ApiActivity>(), ClassDecl::of::<Authentication>(), ClassDecl::of::<AccountChange>(), ClassDecl::of::<DetectionFinding>()];
        Manifest::new("cloudtrail", env!("CARGO_PKG_VERSION"), classes)
            .describe("AWS CloudTrail records to OCSF 1.1.0 API Activity, Authentication, Account Change and (Insights) Detection Finding, as Security Lake maps them")
            .ocsf(ocsf::VERSION)
            .for_sources(&["cloudtrail_files", "cloudtrail_s3", "cloudtrail_sqs", "cloudtrail_lookup", "cloudwatch_logs"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        match map_record(rec)? {
            Event::ApiActivity(e) => out.emit(e),
            Event::Authentication(e) => out.emit(e),
            Event::AccountChange(e) => out.emit(e),
            Event::DetectionFinding(e) => out.emit(e),
        }
        Ok(())
    }
}

/// One CloudTrail record as OCSF.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Any call that is not one of the others.
    ApiActivity(ApiActivity),
    /// A sign-in or an STS credential request ([`AUTHENTICATION`]).
    Authentication(Authentication),
    /// An IAM change ([`ACCOUNT_CHANGE`]).
    AccountChange(AccountChange),
    /// A CloudTrail Insights event.
    DetectionFinding(DetectionFinding),
}

impl Event {
    /// The event's metadata, whichever class it is.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        match self {
            Event::ApiActivity(e) => &mut e.metadata,
            Event::Authentication(e) => &mut e.metadata,
            Event::AccountChange(e) => &mut e.metadata,
            Event::DetectionFinding(e) => &mut e.metadata,
        }
    }
}

/// `eventName`s mapped to Authentication, as Security Lake's CloudTrail mapping does (sorted,
/// for binary search). Other STS calls (`GetSessionToken`, `GetFederationToken`) stay API
/// Activity there too.
pub const AUTHENTICATION: &[&str] = &[
    "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "CheckMfa", "ConsoleLogin", "CredentialChallenge",
    "CredentialVerification", "ExternalIdPDirectoryLogin", "UserAuthentication",
];

/// `eventName`s mapped to Account Change, as Security Lake's CloudTrail mapping does (the
/// published list; sorted, for binary search).
pub const ACCOUNT_CHANGE: &[&str] = &[
    "AccountNameUpdated", "AddRoleToInstanceProfile", "AddUserToGroup", "AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy",
    "ChangePassword", "CreateAccessKey", "CreateAccountAlias", "CreateInstanceProfile", "CreateLoginProfile", "CreateRole",
    "CreateServiceLinkedRole", "CreateUser", "CreateVirtualMFADevice", "DeactivateMFADevice", "DeleteAccessKey", "DeleteAccountAlias",
    "DeleteAccountPasswordPolicy", "DeleteGroup", "DeleteGroupPolicy", "DeleteInstanceProfile", "DeleteLoginProfile", "DeletePolicy",
    "DeleteRole", "DeleteRolePermissionsBoundary", "DeleteRolePolicy", "DeleteServiceLinkedRole", "DeleteUser",
    "DeleteUserPermissionsBoundary", "DeleteUserPolicy", "DeleteVirtualMFADevice", "DetachGroupPolicy", "DetachRolePolicy",
    "DetachUserPolicy", "EmailUpdated", "EnableMFADevice", "FinalizeSmsMfaRegistration", "PasswordUpdated", "PutGroupPolicy",
    "PutRolePermissionsBoundary", "PutRolePolicy", "PutUserPermissionsBoundary", "PutUserPolicy", "RemoveRoleFromInstanceProfile",
    "RemoveUserFromGroup", "RequestSmsMfaRegistration", "ResyncMFADevice", "TagInstanceProfile", "TagRole", "TagUser",
    "UntagInstanceProfile", "UntagRole", "UntagUser", "UpdateAccessKey", "UpdateAccountEmailAddress", "UpdateAccountName",
    "UpdateAccountPasswordPolicy", "UpdateAssumeRolePolicy", "UpdateGroup", "UpdateLoginProfile", "UpdateRole",
    "UpdateRoleDescription", "UpdateUser",
];

/// Maps one CloudTrail record. Public so that other mappers can build on it (see
/// `examples/custom-mapper`).
pub fn map_record(rec: &RawRecord<'_>) -> Result<Event, MapError> {
    // Validate UTF-8 once, up front: parsing a `&str` then skips the per-string checks.
    let text = rec.text()?;
    let fields: Fields = serde_json::from_str(text).map_err(|e| MapError::new(format!("not a CloudTrail record (expected a JSON object): {e}")))?;
    let ct = Record::from_fields(&fields, rec)?;
    if ct.s(k::EVENT_TYPE).as_deref() == Some("AwsCloudTrailInsight") {
        return insight(&ct).map(Event::DetectionFinding);
    }
    let name = ct.event_name.as_deref().ok_or_else(|| MapError::new("not a CloudTrail record: no eventName"))?;
    Ok(if AUTHENTICATION.binary_search(&name).is_ok() {
        Event::Authentication(authentication(&ct, name))
    } else if ACCOUNT_CHANGE.binary_search(&name).is_ok() {
        Event::AccountChange(account_change(&ct, name))
    } else {
        Event::ApiActivity(api_activity(&ct, name))
    })
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

        /// The slot of a top-level key. A `match` on the text, which the compiler turns into a
        /// switch on the length and a comparison or two, where a scan of `SLOTS` compared the
        /// key with every name (byte-loop `memcmp`s, ~3% of mapping time in wasm).
        fn slot_of(key: &str) -> Option<usize> {
            match key {
                $($name => Some(k::$slot),)*
                _ => None,
            }
        }
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
    USER_AGENT = "userAgent", REQUEST_ID = "requestID", EVENT_ID = "eventID", EVENT_TYPE = "eventType",
    API_VERSION = "apiVersion", ERROR_CODE = "errorCode", ERROR_MESSAGE = "errorMessage",
    RECIPIENT_ACCOUNT_ID = "recipientAccountId", EVENT_CATEGORY = "eventCategory",
    USER_IDENTITY = "userIdentity", RESOURCES = "resources", SHARED_EVENT_ID = "sharedEventID",
    VPC_ENDPOINT_ID = "vpcEndpointId", REQUEST_PARAMETERS = "requestParameters",
    RESPONSE_ELEMENTS = "responseElements",
    // Read, but kept in `unmapped` too: they hold more than the mapper takes from them.
    READ_ONLY = "readOnly", ADDITIONAL_EVENT_DATA = "additionalEventData", INSIGHT_DETAILS = "insightDetails",
}

/// Slots before this one have an OCSF home and stay out of `unmapped`.
const MAPPED: usize = k::READ_ONLY;

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
                    match slot_of(key) {
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

type Text<'a> = std::borrow::Cow<'a, str>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow)]
    type_: Option<Text<'a>>,
    #[serde(borrow)]
    principal_id: Option<Text<'a>>,
    #[serde(borrow)]
    arn: Option<Text<'a>>,
    #[serde(borrow)]
    account_id: Option<Text<'a>>,
    #[serde(borrow)]
    access_key_id: Option<Text<'a>>,
    /// Identity Center users' credential.
    #[serde(borrow)]
    credential_id: Option<Text<'a>>,
    #[serde(borrow)]
    user_name: Option<Text<'a>>,
    #[serde(borrow)]
    invoked_by: Option<Text<'a>>,
    /// SAML users' provider.
    #[serde(borrow)]
    identity_provider: Option<Text<'a>>,
    #[serde(borrow)]
    on_behalf_of: Option<OnBehalfOf<'a>>,
    #[serde(borrow)]
    session_context: Option<SessionContext<'a>>,
}

/// Identity Center: the directory user behind the session.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OnBehalfOf<'a> {
    #[serde(borrow)]
    user_id: Option<Text<'a>>,
    #[serde(borrow)]
    identity_store_arn: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow)]
    session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow)]
    attributes: Option<SessionAttributes<'a>>,
    #[serde(borrow)]
    web_id_federation_data: Option<WebIdFederationData<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(borrow)]
    arn: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WebIdFederationData<'a> {
    #[serde(borrow)]
    federated_provider: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes<'a> {
    #[serde(borrow)]
    creation_date: Option<Text<'a>>,
    /// CloudTrail writes this as the string "true"/"false".
    #[serde(borrow)]
    mfa_authenticated: Option<Flag<'a>>,
}

/// A yes/no that logs write as a boolean, `"true"`/`"false"` or `"Yes"`/`"No"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag<'a> {
    Bool(bool),
    #[serde(borrow)]
    Text(Text<'a>),
}

impl Flag<'_> {
    fn get(&self) -> Option<bool> {
        match self {
            Flag::Bool(b) => Some(*b),
            Flag::Text(t) => match t.to_ascii_lowercase().as_str() {
                "true" | "yes" => Some(true),
                "false" | "no" => Some(false),
                _ => None,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'a> {
    #[serde(rename = "ARN", borrow)]
    arn: Option<Text<'a>>,
    #[serde(rename = "type", borrow)]
    type_: Option<Text<'a>>,
    #[serde(borrow)]
    account_id: Option<Text<'a>>,
}

/// The parts of `additionalEventData` the mapper reads (console sign-ins, Identity Center).
#[derive(Deserialize, Default)]
struct AdditionalData<'a> {
    #[serde(rename = "MFAUsed", borrow)]
    mfa_used: Option<Flag<'a>>,
    #[serde(rename = "LoginTo", borrow)]
    login_to: Option<Text<'a>>,
    #[serde(rename = "UserName", borrow)]
    user_name: Option<Text<'a>>,
}

/// The parts of `requestParameters` the mapper reads: whom an IAM change or an STS call is
/// about.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestParams<'a> {
    #[serde(borrow)]
    user_name: Option<Text<'a>>,
    #[serde(borrow)]
    role_name: Option<Text<'a>>,
    #[serde(borrow)]
    role_arn: Option<Text<'a>>,
    #[serde(borrow)]
    role_session_name: Option<Text<'a>>,
    #[serde(borrow)]
    policy_arn: Option<Text<'a>>,
    #[serde(borrow)]
    policy_name: Option<Text<'a>>,
    /// `UpdateAccessKey`: `Active` or `Inactive`.
    #[serde(borrow)]
    status: Option<Text<'a>>,
}

/// The parts of `responseElements` the mapper reads.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ResponseParts<'a> {
    #[serde(rename = "ConsoleLogin", borrow)]
    console_login: Option<Text<'a>>,
    #[serde(borrow)]
    user: Option<Principal<'a>>,
    #[serde(borrow)]
    role: Option<Principal<'a>>,
    #[serde(borrow)]
    access_key: Option<Principal<'a>>,
    #[serde(borrow)]
    assumed_role_user: Option<AssumedRoleUser<'a>>,
    #[serde(borrow)]
    credentials: Option<Credentials<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Principal<'a> {
    #[serde(borrow)]
    user_name: Option<Text<'a>>,
    #[serde(borrow)]
    role_name: Option<Text<'a>>,
    #[serde(borrow)]
    user_id: Option<Text<'a>>,
    #[serde(borrow)]
    role_id: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AssumedRoleUser<'a> {
    #[serde(borrow)]
    arn: Option<Text<'a>>,
    #[serde(borrow)]
    assumed_role_id: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Credentials<'a> {
    #[serde(borrow)]
    access_key_id: Option<Text<'a>>,
    /// `Jan 15, 2024, 11:01:02 AM` in most records, RFC 3339 in some.
    #[serde(borrow)]
    expiration: Option<Text<'a>>,
}

/// `insightDetails` of a CloudTrail Insights event.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct InsightDetails<'a> {
    #[serde(borrow)]
    state: Option<Text<'a>>,
    #[serde(borrow)]
    event_source: Option<Text<'a>>,
    #[serde(borrow)]
    event_name: Option<Text<'a>>,
    #[serde(borrow)]
    insight_type: Option<Text<'a>>,
    #[serde(borrow)]
    error_code: Option<Text<'a>>,
    insight_context: Option<InsightContext>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct InsightContext {
    statistics: Option<InsightStatistics>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct InsightStatistics {
    baseline: Option<Average>,
    insight: Option<Average>,
    /// Minutes.
    insight_duration: Option<f64>,
}

#[derive(Deserialize, Default)]
struct Average {
    average: Option<f64>,
}

/// A CloudTrail record, borrowed from the raw bytes.
struct Record<'a> {
    fields: &'a Fields<'a>,
    raw: &'a RawRecord<'a>,
    event_name: Option<String>,
    time: i64,
    event_time: String,
    identity: UserIdentity<'a>,
    /// `errorCode` and `errorMessage`, read once: status, severity and `api.response` use them.
    error_code: Option<String>,
    error_message: Option<String>,
    data: AdditionalData<'a>,
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
    field::<Text>(fields, slot).ok().flatten().map(|c| c.into_owned())
}

/// A present, non-empty text (CloudTrail writes `""` for unknown ARNs and keys).
fn text(t: &Option<Text<'_>>) -> Option<String> {
    t.as_deref().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The account id in an ARN (`arn:partition:service:region:account:resource`).
fn arn_account(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string)
}

impl<'a> Record<'a> {
    fn from_fields(fields: &'a Fields<'a>, raw: &'a RawRecord<'a>) -> Result<Self, MapError> {
        let event_name: Option<String> = field(fields, k::EVENT_NAME)?;
        if event_name.is_none() && string(fields, k::EVENT_TYPE).as_deref() != Some("AwsCloudTrailInsight") {
            return Err(MapError::new("not a CloudTrail record: no eventName"));
        }
        let event_time: String = field(fields, k::EVENT_TIME)?
            .ok_or_else(|| MapError::new("not a CloudTrail record: no eventTime"))?;
        let time = parse_rfc3339_ms(&event_time)
            .ok_or_else(|| MapError::new(format!("eventTime {event_time:?} is not an RFC 3339 timestamp")))?;
        Ok(Self {
            fields,
            raw,
            event_name,
            time,
            event_time,
            identity: field(fields, k::USER_IDENTITY)?.unwrap_or_default(),
            error_code: string(fields, k::ERROR_CODE),
            error_message: string(fields, k::ERROR_MESSAGE),
            // Only what the mapper reads; an odd shape leaves the fields empty (the whole
            // object is in `unmapped` anyway).
            data: field(fields, k::ADDITIONAL_EVENT_DATA).ok().flatten().unwrap_or_default(),
        })
    }

    fn s(&self, slot: usize) -> Option<String> {
        string(self.fields, slot)
    }

    /// A field's JSON text exactly as in the record (`api.request.data`, …); `None` when
    /// absent or null.
    fn json(&self, slot: usize) -> Option<String> {
        self.fields.get(slot).map(|v| v.get()).filter(|v| *v != "null").map(str::to_string)
    }

    fn read_only(&self) -> Option<bool> {
        field::<Flag>(self.fields, k::READ_ONLY).ok().flatten().and_then(|f| f.get())
    }

    fn request_params(&self) -> RequestParams<'a> {
        field(self.fields, k::REQUEST_PARAMETERS).ok().flatten().unwrap_or_default()
    }

    fn response_parts(&self) -> ResponseParts<'a> {
        field(self.fields, k::RESPONSE_ELEMENTS).ok().flatten().unwrap_or_default()
    }

    /// The fields with no OCSF home, as OCSF's `unmapped` map: each value as text — a JSON
    /// string as its content, anything else as its JSON, byte for byte; nulls left out (a
    /// repeated key keeps its last value, as a JSON map would). `requestParameters` joins
    /// them when there is no `requestID` to hang `api.request` on, and `resources` in
    /// classes without `resources` (`has_resources` false).
    fn unmapped(&self, has_resources: bool) -> Option<std::collections::BTreeMap<String, String>> {
        let orphan = self.fields.get(k::REQUEST_ID).is_none().then(|| self.fields.get(k::REQUEST_PARAMETERS)).flatten().map(|v| ("requestParameters", v));
        let resources = (!has_resources).then(|| self.fields.get(k::RESOURCES)).flatten().map(|v| ("resources", v));
        let mut out = std::collections::BTreeMap::new();
        for (k, v) in self.fields.other.iter().copied().chain(orphan).chain(resources) {
            let raw = v.get();
            if raw == "null" {
                continue; // a null says nothing; the key alone would only take room
            }
            let text = if raw.starts_with('"') { serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()) } else { raw.to_string() };
            out.insert(k.to_string(), text);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Whether the call failed: it has an `errorCode` — except `"200"`, which some services
    /// write on success.
    fn failure(&self) -> Option<&str> {
        self.error_code.as_deref().filter(|c| !c.is_empty() && *c != "200")
    }

    /// `(status_id, status_code, status_detail)`. `errorMessage` is kept even without a code
    /// (failed console sign-ins have only it).
    fn status(&self) -> (i32, Option<String>, Option<String>) {
        let status = if self.failure().is_some() { ocsf::status::FAILURE } else { ocsf::status::SUCCESS };
        (status, self.error_code.clone(), self.error_message.clone())
    }

    /// The identity that made the call, the same way for every identity type: `uid` its ARN
    /// (or principal id, or the Identity Center user id, when the ARN is empty), `uid_alt` the
    /// principal id, `name` the IAM user, role session, service or directory user name,
    /// `type` CloudTrail's type as it is. `None` when the record says nothing of it.
    fn user(&self) -> Option<User> {
        let id = &self.identity;
        let type_ = id.type_.as_deref();
        let behalf = id.on_behalf_of.as_ref();
        let name = match type_ {
            Some("Root") => text(&id.user_name).or_else(|| Some("root".into())),
            Some("AssumedRole") => text(&id.arn).and_then(|a| a.rsplit('/').next().map(str::to_string)),
            Some("AWSService") => text(&id.invoked_by),
            Some("IdentityCenterUser") => text(&self.data.user_name).or_else(|| text(&id.user_name)),
            _ => text(&id.user_name),
        };
        let uid = text(&id.arn).or_else(|| text(&id.principal_id)).or_else(|| behalf.and_then(|b| text(&b.user_id)));
        let user = User {
            uid_alt: text(&id.principal_id).or_else(|| behalf.and_then(|b| text(&b.user_id))).filter(|alt| Some(alt) != uid.as_ref()),
            uid,
            name,
            type_: type_.filter(|t| !t.is_empty()).map(str::to_string),
            type_id: None,
            credential_uid: text(&id.access_key_id).or_else(|| text(&id.credential_id)),
            account: text(&id.account_id).map(|uid| Account { uid: Some(uid), ..Default::default() }),
        };
        (user.uid.is_some() || user.name.is_some() || user.account.is_some()).then_some(user)
    }

    fn session(&self) -> Option<Session> {
        let ctx = self.identity.session_context.as_ref()?;
        let attrs = ctx.attributes.as_ref();
        let created = attrs.and_then(|a| a.creation_date.as_deref()).and_then(|d| parse_rfc3339_ms(d).or_else(|| parse_aws_text_date_ms(d)));
        let s = Session {
            issuer: ctx.session_issuer.as_ref().and_then(|i| text(&i.arn)),
            is_mfa: attrs.and_then(|a| a.mfa_authenticated.as_ref()).and_then(Flag::get),
            created_time: created,
            created_time_dt: created,
            ..Default::default()
        };
        (s != Session::default()).then_some(s)
    }

    fn idp(&self) -> Option<Idp> {
        let id = &self.identity;
        let web = id.session_context.as_ref().and_then(|c| c.web_id_federation_data.as_ref()).and_then(|w| text(&w.federated_provider));
        let idp = Idp { name: web.or_else(|| text(&id.identity_provider)), uid: id.on_behalf_of.as_ref().and_then(|b| text(&b.identity_store_arn)) };
        (idp.name.is_some() || idp.uid.is_some()).then_some(idp)
    }

    fn actor(&self) -> Actor {
        let mut actor = Actor { user: self.user(), session: self.session(), invoked_by: text(&self.identity.invoked_by), idp: self.idp(), process: None };
        if actor.user.is_none() && actor.session.is_none() && actor.invoked_by.is_none() {
            // No userIdentity at all (some AWS service events): the account it happened in
            // is all that is known of who acted.
            actor.user = self.cloud().account.map(|a| User { account: Some(Account { uid: a.uid, ..Default::default() }), ..Default::default() });
        }
        actor
    }

    /// `sourceIPAddress` is an address for people and a DNS name for AWS services; some
    /// records hold several addresses (`"198.51.100.7, 10.0.0.12"`) or `AWS Internal`.
    fn src_endpoint(&self) -> NetworkEndpoint {
        let src = self.s(k::SOURCE_IP_ADDRESS).unwrap_or_default();
        let mut ips = src.split(',').map(str::trim).filter(|s| !s.is_empty());
        let first = ips.next();
        let mut e = NetworkEndpoint { uid: self.s(k::VPC_ENDPOINT_ID), ..Default::default() };
        match first {
            Some(ip) if ip.parse::<std::net::IpAddr>().is_ok() => {
                e.ip = Some(ip.to_string());
                let rest: Vec<String> = ips.filter(|s| s.parse::<std::net::IpAddr>().is_ok()).map(str::to_string).collect();
                e.intermediate_ips = (!rest.is_empty()).then_some(rest);
            }
            Some(_) => {
                // As Security Lake maps it, a name is the domain. OCSF wants one of ip, uid,
                // name, hostname, svc_name, … too: an AWS service's name is its svc_name,
                // anything else (`AWS Internal`, a host name) the endpoint's name.
                if src.ends_with(".amazonaws.com") || src.ends_with(".amazonaws.com.cn") {
                    e.svc_name = Some(src.clone());
                } else {
                    e.name = Some(src.clone());
                }
                e.domain = Some(src);
            }
            // No source at all: the event came from the service that logged it.
            None if e.uid.is_none() => e.svc_name = self.s(k::EVENT_SOURCE),
            None => {}
        }
        e
    }

    fn cloud(&self) -> Cloud {
        let rec = self.raw;
        let account_uid = self
            .s(k::RECIPIENT_ACCOUNT_ID)
            .or_else(|| text(&self.identity.account_id))
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
            zone: None,
        }
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            version: ocsf::VERSION.into(),
            product: Product {
                name: Some("CloudTrail".into()),
                vendor_name: "AWS".into(),
                version: self.s(k::EVENT_VERSION),
                feature: self.s(k::EVENT_CATEGORY).map(|name| Feature { name: Some(name) }),
            },
            uid: self.s(k::EVENT_ID).or_else(|| Some(derived_uid(self.raw))),
            event_code: self.s(k::EVENT_TYPE),
            log_provider: Some("CloudTrail".into()),
            original_time: Some(self.event_time.clone()),
            correlation_uid: self.s(k::SHARED_EVENT_ID),
            profiles: Some(vec!["cloud".into(), "datetime".into()]),
            labels: None,
            log_version: None,
        }
    }

    fn http_request(&self) -> Option<HttpRequest> {
        self.s(k::USER_AGENT).map(|ua| HttpRequest { user_agent: Some(ua) })
    }

    /// The call: operation, service, version, request (id and parameters) and response
    /// (elements, and the error when it failed).
    fn api(&self, operation: &str) -> Api {
        let (code, message, data) = (self.failure().map(str::to_string), self.error_message.clone(), self.json(k::RESPONSE_ELEMENTS));
        Api {
            operation: operation.to_string(),
            version: self.s(k::API_VERSION),
            service: self.s(k::EVENT_SOURCE).map(|name| Service { name: Some(name) }),
            request: self.s(k::REQUEST_ID).map(|uid| Request { uid, data: self.json(k::REQUEST_PARAMETERS) }),
            response: (code.is_some() || message.is_some() || data.is_some()).then_some(Response { error: code, message, data }),
        }
    }

    fn resources(&self) -> Option<Vec<ResourceDetails>> {
        let resources: Vec<Resource> = field(self.fields, k::RESOURCES).ok().flatten()?;
        Some(
            resources
                .into_iter()
                .map(|r| ResourceDetails {
                    uid: text(&r.arn),
                    name: None,
                    type_: text(&r.type_),
                    owner: text(&r.account_id).map(|a| User { account: Some(Account { uid: Some(a), ..Default::default() }), ..Default::default() }),
                    data: None,
                })
                .collect(),
        )
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
    if starts_with_verb(event_name, DELETE) {
        4
    } else if starts_with_verb(event_name, CREATE) {
        1
    } else if starts_with_verb(event_name, UPDATE) {
        3
    } else if starts_with_verb(event_name, READ) {
        2
    } else if read_only == Some(false) {
        99
    } else {
        0
    }
}

/// Whether `name` starts with one of `verbs` as a whole word (`Set` in `SetX`, not `Settle`).
fn starts_with_verb(name: &str, verbs: &[&str]) -> bool {
    verbs.iter().any(|v| name.starts_with(v) && name[v.len()..].chars().next().is_none_or(|c| !c.is_ascii_lowercase()))
}

/// Account Change `activity_id` of an IAM change ([`ACCOUNT_CHANGE`]): the rules of Security
/// Lake's published CloudTrail mapping, with OCSF's own MFA activities (10, 11) and
/// `UpdateAccessKey`'s new status (Enable 2 / Disable 5) where 1.1.0 has a better fit.
pub fn account_change_activity_id(event_name: &str, key_status: Option<&str>) -> i32 {
    match event_name {
        "ChangePassword" | "PasswordUpdated" | "UpdateLoginProfile" => 3,
        "EnableMFADevice" | "ResyncMFADevice" | "FinalizeSmsMfaRegistration" => 10,
        "DeactivateMFADevice" | "DeleteVirtualMFADevice" => 11,
        "AddUserToGroup" => 7,
        "UpdateAccessKey" => match key_status {
            Some("Active") => 2,
            Some("Inactive") => 5,
            _ => 99,
        },
        n if starts_with_verb(n, &["Create"]) => 1,
        n if starts_with_verb(n, &["Attach", "Put"]) => 7,
        n if starts_with_verb(n, &["Detach", "Remove"]) => 8,
        n if starts_with_verb(n, &["Delete"]) => 6,
        _ => 99,
    }
}

/// Severity: Low for denied calls (worth a look), Informational for everything else.
fn severity_id(error_code: Option<&str>) -> i32 {
    match error_code {
        Some(c) if c.contains("AccessDenied") || c.contains("Unauthorized") || c.contains("Forbidden") => ocsf::severity::LOW,
        _ => ocsf::severity::INFORMATIONAL,
    }
}

fn api_activity(ct: &Record<'_>, name: &str) -> ApiActivity {
    let (status_id, status_code, status_detail) = ct.status();
    let mut e = ApiActivity::new(ct.time, activity_id(name, ct.read_only()), severity_id(ct.failure()));
    e.set_status(status_id);
    e.status_code = status_code;
    e.status_detail = status_detail;
    e.actor = ct.actor();
    e.api = ct.api(name);
    e.src_endpoint = ct.src_endpoint();
    e.http_request = ct.http_request();
    e.resources = ct.resources();
    e.cloud = ct.cloud();
    e.metadata = ct.metadata();
    e.unmapped = ct.unmapped(true);
    e
}

fn account_change(ct: &Record<'_>, name: &str) -> AccountChange {
    let (status_id, status_code, status_detail) = ct.status();
    let req = ct.request_params();
    let resp = ct.response_parts();
    let mut e = AccountChange::new(ct.time, account_change_activity_id(name, req.status.as_deref()), severity_id(ct.failure()));
    e.set_status(status_id);
    e.status_code = status_code;
    e.status_detail = status_detail;
    // The user or role changed, as Security Lake maps it: named by the request, identified
    // by the response; a change with neither (ChangePassword, CreateAccessKey for oneself)
    // is to the caller.
    let made = resp.user.as_ref().or(resp.role.as_ref()).or(resp.access_key.as_ref());
    let target_name = text(&req.user_name)
        .or_else(|| text(&req.role_name))
        .or_else(|| made.and_then(|p| text(&p.user_name).or_else(|| text(&p.role_name))));
    let target_uid = made.and_then(|p| text(&p.user_id).or_else(|| text(&p.role_id)));
    let actor = ct.actor();
    e.cloud = ct.cloud();
    e.user = match (target_name, target_uid) {
        (None, None) => actor.user.clone().unwrap_or_default(),
        (name, uid) => User { name, uid, account: e.cloud.account.as_ref().map(|a| Account { uid: a.uid.clone(), ..Default::default() }), ..Default::default() },
    };
    e.policy = (req.policy_arn.is_some() || req.policy_name.is_some()).then(|| Policy { uid: text(&req.policy_arn), name: text(&req.policy_name) });
    e.actor = Some(actor);
    e.api = Some(ct.api(name));
    e.src_endpoint = Some(ct.src_endpoint());
    e.http_request = ct.http_request();
    e.metadata = ct.metadata();
    e.unmapped = ct.unmapped(false);
    e
}

fn authentication(ct: &Record<'_>, name: &str) -> Authentication {
    let (mut status_id, status_code, status_detail) = ct.status();
    let resp = ct.response_parts();
    match resp.console_login.as_deref() {
        Some("Failure") => status_id = ocsf::status::FAILURE,
        Some("Success") if ct.failure().is_none() => status_id = ocsf::status::SUCCESS,
        _ => {}
    }
    let activity = if matches!(name, "ConsoleLogin" | "ExternalIdPDirectoryLogin" | "UserAuthentication") || name.contains("AssumeRole") { 1 } else { 99 };
    // A failed sign-in is a security signal; a successful root sign-in too.
    let severity_id = if status_id == ocsf::status::FAILURE || ct.identity.type_.as_deref() == Some("Root") {
        ocsf::severity::LOW
    } else {
        ocsf::severity::INFORMATIONAL
    };
    let mut e = Authentication::new(ct.time, activity, severity_id);
    e.set_status(status_id);
    e.status_code = status_code;
    e.status_detail = status_detail;
    let actor = ct.actor();
    // AssumeRole*: the user logging on is the role session being created; everything else
    // (console sign-ins, MFA checks) authenticates the caller.
    let req = ct.request_params();
    e.user = match text(&req.role_arn) {
        Some(role) => User {
            account: arn_account(&role).map(|uid| Account { uid: Some(uid), ..Default::default() }),
            name: text(&req.role_session_name),
            uid: Some(role),
            ..Default::default()
        },
        None => actor.user.clone().unwrap_or_default(),
    };
    let assumed = resp.assumed_role_user.as_ref();
    let creds = resp.credentials.as_ref();
    let session = Session {
        uid: assumed.and_then(|a| text(&a.arn)),
        uid_alt: assumed.and_then(|a| text(&a.assumed_role_id)),
        credential_uid: creds.and_then(|c| text(&c.access_key_id)),
        expiration_time: creds.and_then(|c| c.expiration.as_deref()).and_then(|x| parse_aws_text_date_ms(x).or_else(|| parse_rfc3339_ms(x))),
        issuer: text(&req.role_arn),
        ..Default::default()
    };
    e.session = (session != Session::default()).then_some(session);
    e.is_mfa = ct.data.mfa_used.as_ref().and_then(Flag::get);
    e.actor = Some(actor);
    e.api = Some(ct.api(name));
    e.src_endpoint = Some(ct.src_endpoint());
    // Security Lake maps LoginTo here; the service (signin.amazonaws.com, sts.amazonaws.com)
    // is always known, so a row without LoginTo still has what the class requires.
    e.dst_endpoint = text(&ct.data.login_to).map(|to| NetworkEndpoint { svc_name: Some(to), ..Default::default() });
    e.service = ct.s(k::EVENT_SOURCE).map(|name| Service { name: Some(name) });
    e.http_request = ct.http_request();
    e.cloud = ct.cloud();
    e.metadata = ct.metadata();
    e.unmapped = ct.unmapped(false);
    e
}

/// A CloudTrail Insights event: unusual API call or error rates, as a Detection Finding. The
/// Start and End events of one insight share `sharedEventID`, which is the finding's uid, so
/// the End closes the finding the Start created.
fn insight(ct: &Record<'_>) -> Result<DetectionFinding, MapError> {
    let d: InsightDetails = field(ct.fields, k::INSIGHT_DETAILS)?.ok_or_else(|| MapError::new("CloudTrail Insights event without insightDetails"))?;
    let (activity, starts) = match d.state.as_deref() {
        Some("Start") => (1, true),
        Some("End") => (3, false),
        _ => (0, false),
    };
    let mut e = DetectionFinding::new(ct.time, activity, ocsf::severity::LOW);
    let stats = d.insight_context.as_ref().and_then(|c| c.statistics.as_ref());
    let minutes = stats.and_then(|s| s.insight_duration).filter(|m| m.is_finite() && *m >= 0.0);
    // An End says how long the insight lasted; a Start is when it began.
    let began = if starts { Some(ct.time) } else { minutes.filter(|_| activity == 3).map(|m| ct.time - (m * 60_000.0) as i64) };
    e.start_time = began;
    e.end_time = (activity == 3).then_some(ct.time);
    let kind = text(&d.insight_type).unwrap_or_else(|| "Insight".into());
    let api = match (text(&d.event_source), text(&d.event_name)) {
        (Some(src), Some(op)) => format!("{op} calls to {src}"),
        (None, Some(op)) => format!("{op} calls"),
        (Some(src), None) => format!("calls to {src}"),
        (None, None) => "API calls".into(),
    };
    let what = match (kind.as_str(), text(&d.error_code)) {
        ("ApiErrorRateInsight", Some(code)) => format!("Unusual rate of {code} errors on {api}"),
        ("ApiErrorRateInsight", None) => format!("Unusual error rate on {api}"),
        _ => format!("Unusual rate of {api}"),
    };
    let rate = |a: Option<&Average>| a.and_then(|a| a.average).filter(|v| v.is_finite());
    let numbers = match (rate(stats.and_then(|s| s.insight.as_ref())), rate(stats.and_then(|s| s.baseline.as_ref()))) {
        (Some(i), Some(b)) => format!(": {i} per minute against a baseline of {b}"),
        (Some(i), None) => format!(": {i} per minute"),
        _ => String::new(),
    };
    e.message = Some(format!("{what} {}{numbers}", if starts { "began" } else if activity == 3 { "ended" } else { "reported" }));
    e.finding_info = FindingInfo {
        uid: ct.s(k::SHARED_EVENT_ID).or_else(|| ct.s(k::EVENT_ID)).unwrap_or_else(|| derived_uid(ct.raw)),
        title: what,
        desc: e.message.clone(),
        types: Some(vec![kind.clone()]),
        created_time: began,
        first_seen_time: began,
        last_seen_time: e.end_time,
        analytic: Some(Analytic { type_id: 3, type_: Some("Statistical".into()), name: Some(format!("CloudTrail Insights {kind}")), uid: None }),
        modified_time: None,
    };
    e.api = text(&d.event_name).map(|op| Api { operation: op, service: text(&d.event_source).map(|name| Service { name: Some(name) }), ..Default::default() });
    e.cloud = ct.cloud();
    e.metadata = ct.metadata();
    e.unmapped = ct.unmapped(true);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_event_id_gets_a_uid_derived_from_its_bytes() {
        let raw = br#"{"eventVersion":"1.09","eventTime":"2024-01-15T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1"}"#;
        let uid = |bytes: &[u8]| map_record(&trawl_guest_sdk::testing::record(bytes)).unwrap().metadata_mut().uid.clone().unwrap();
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

    fn map(json: &str) -> Event {
        map_record(&trawl_guest_sdk::testing::record(json.as_bytes())).unwrap()
    }

    fn call(name: &str, source: &str, extra: &str) -> String {
        format!(r#"{{"eventVersion":"1.09","eventTime":"2024-01-15T10:00:00Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","requestID":"r-1","eventID":"e-1","eventType":"AwsApiCall","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"}}{extra}}}"#)
    }

    #[test]
    fn the_class_lists_are_sorted_for_binary_search() {
        for list in [AUTHENTICATION, ACCOUNT_CHANGE] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }

    /// The class choice of Security Lake's published mapping, on the eventNames of its own
    /// samples (aws-samples/amazon-security-lake-ocsf-validation, samples/1.1.0/CLOUD_TRAIL).
    #[test]
    fn class_choice_follows_security_lake() {
        let class = |name: &str, source: &str| match map(&call(name, source, "")) {
            Event::ApiActivity(_) => 6003,
            Event::Authentication(_) => 3002,
            Event::AccountChange(_) => 3001,
            Event::DetectionFinding(_) => 2004,
        };
        for n in ["AddRoleToInstanceProfile", "AttachRolePolicy", "AttachUserPolicy", "CreateRole", "CreateUser", "DeleteRole"] {
            assert_eq!(class(n, "iam.amazonaws.com"), 3001, "{n}");
        }
        for n in ["AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"] {
            assert_eq!(class(n, "sts.amazonaws.com"), 3002, "{n}");
        }
        assert_eq!(class("CheckMfa", "signin.amazonaws.com"), 3002);
        assert_eq!(class("ConsoleLogin", "signin.amazonaws.com"), 3002);
        for (n, src) in [("CreateLoadBalancer", "elasticloadbalancing.amazonaws.com"), ("DescribeDirectConnectGateways", "directconnect.amazonaws.com"), ("UpdateTrail", "cloudtrail.amazonaws.com"), ("GetSessionToken", "sts.amazonaws.com"), ("ListUsers", "iam.amazonaws.com")] {
            assert_eq!(class(n, src), 6003, "{n}");
        }
    }

    #[test]
    fn account_change_activities() {
        let cases = [
            ("CreateUser", None, 1), ("DeleteRole", None, 6), ("AttachRolePolicy", None, 7), ("PutUserPolicy", None, 7),
            ("AddUserToGroup", None, 7), ("DetachUserPolicy", None, 8), ("RemoveUserFromGroup", None, 8), ("ChangePassword", None, 3),
            ("UpdateLoginProfile", None, 3), ("EnableMFADevice", None, 10), ("DeactivateMFADevice", None, 11),
            ("UpdateAccessKey", Some("Inactive"), 5), ("UpdateAccessKey", Some("Active"), 2), ("TagRole", None, 99), ("UpdateUser", None, 99),
        ];
        for (name, status, want) in cases {
            assert_eq!(account_change_activity_id(name, status), want, "{name}");
        }
    }

    #[test]
    fn an_iam_change_names_the_user_changed_and_the_policy() {
        let Event::AccountChange(e) = map(&call("AttachUserPolicy", "iam.amazonaws.com", r#","requestParameters":{"userName":"bob","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null"#)) else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str(), e.type_uid), (7, "Attach Policy", 300_107));
        assert_eq!(e.user.name.as_deref(), Some("bob"));
        assert_eq!(e.actor.as_ref().unwrap().user.as_ref().unwrap().name.as_deref(), Some("alice"));
        assert_eq!(e.policy.as_ref().unwrap().uid.as_deref(), Some("arn:aws:iam::aws:policy/AdministratorAccess"));
        assert_eq!(e.api.as_ref().unwrap().request.as_ref().unwrap().data.as_deref(), Some(r#"{"userName":"bob","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}"#));
        // Created: the response identifies the new user.
        let Event::AccountChange(e) = map(&call("CreateUser", "iam.amazonaws.com", r#","requestParameters":{"userName":"carol"},"responseElements":{"user":{"userName":"carol","userId":"AIDANEWUSER","arn":"arn:aws:iam::111122223333:user/carol"}}"#)) else { panic!() };
        assert_eq!((e.user.name.as_deref(), e.user.uid.as_deref()), (Some("carol"), Some("AIDANEWUSER")));
        // One's own password: the caller.
        let Event::AccountChange(e) = map(&call("ChangePassword", "iam.amazonaws.com", "")) else { panic!() };
        assert_eq!(e.user.name.as_deref(), Some("alice"));
    }

    #[test]
    fn assume_role_authenticates_the_role_session() {
        let extra = r#","requestParameters":{"roleArn":"arn:aws:iam::444455556666:role/Deploy","roleSessionName":"ci-42"},"responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLE","expiration":"Jan 15, 2024, 11:00:00 AM"},"assumedRoleUser":{"assumedRoleId":"AROAEXAMPLE:ci-42","arn":"arn:aws:sts::444455556666:assumed-role/Deploy/ci-42"}}"#;
        let Event::Authentication(e) = map(&call("AssumeRole", "sts.amazonaws.com", extra)) else { panic!() };
        assert_eq!((e.activity_id, e.status_id), (1, Some(1)));
        assert_eq!(e.user.uid.as_deref(), Some("arn:aws:iam::444455556666:role/Deploy"));
        assert_eq!(e.user.name.as_deref(), Some("ci-42"));
        assert_eq!(e.user.account.as_ref().unwrap().uid.as_deref(), Some("444455556666"));
        let s = e.session.unwrap();
        assert_eq!(s.uid.as_deref(), Some("arn:aws:sts::444455556666:assumed-role/Deploy/ci-42"));
        assert_eq!(s.expiration_time, Some(1_705_316_400_000));
        assert_eq!(e.service.unwrap().name.as_deref(), Some("sts.amazonaws.com"));
        let Event::Authentication(e) = map(&call("CheckMfa", "signin.amazonaws.com", "")) else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str()), (99, "Other"));
    }

    #[test]
    fn status_from_error_codes() {
        let status = |extra: &str| match map(&call("ListBuckets", "s3.amazonaws.com", extra)) {
            Event::ApiActivity(e) => (e.status_id, e.api.response.and_then(|r| r.error)),
            _ => panic!(),
        };
        assert_eq!(status(""), (Some(1), None));
        assert_eq!(status(r#","errorCode":"AccessDenied","errorMessage":"no""#), (Some(2), Some("AccessDenied".into())));
        assert_eq!(status(r#","errorCode":"200""#), (Some(1), None), "errorCode 200 is not a failure");
        let Event::Authentication(e) = map(&call("ConsoleLogin", "signin.amazonaws.com", r#","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No","LoginTo":"https://console.aws.amazon.com/"}"#)) else { panic!() };
        assert_eq!((e.status_id, e.status_detail.as_deref(), e.is_mfa), (Some(2), Some("Failed authentication"), Some(false)));
        assert_eq!(e.dst_endpoint.unwrap().svc_name.as_deref(), Some("https://console.aws.amazon.com/"));
        let Event::Authentication(e) = map(&call("ConsoleLogin", "signin.amazonaws.com", r#","additionalEventData":{"MFAUsed":true}"#)) else { panic!() };
        assert_eq!(e.is_mfa, Some(true));
    }

    #[test]
    fn source_addresses() {
        let src = |ip: &str| match map(&call("ListBuckets", "s3.amazonaws.com", "").replace("198.51.100.7", ip)) {
            Event::ApiActivity(e) => e.src_endpoint,
            _ => panic!(),
        };
        assert_eq!(src("2001:db8::7").ip.as_deref(), Some("2001:db8::7"));
        let two = src("198.51.100.7, 10.0.0.12");
        assert_eq!((two.ip.as_deref(), two.intermediate_ips), (Some("198.51.100.7"), Some(vec!["10.0.0.12".to_string()])));
        let svc = src("ec2.amazonaws.com");
        assert_eq!((svc.ip, svc.svc_name.as_deref(), svc.domain.as_deref()), (None, Some("ec2.amazonaws.com"), Some("ec2.amazonaws.com")));
        let internal = src("AWS Internal");
        assert_eq!((internal.name.as_deref(), internal.domain.as_deref(), internal.svc_name), (Some("AWS Internal"), Some("AWS Internal"), None));
    }

    #[test]
    fn identities_map_the_same_way_whatever_their_type() {
        let user = |identity: &str| match map(&call("ListBuckets", "s3.amazonaws.com", "").replace(
            r#""userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"}"#,
            &format!(r#""userIdentity":{identity}"#),
        )) {
            Event::ApiActivity(e) => e.actor,
            _ => panic!(),
        };
        let a = user(r#"{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"544894e8-80c1-707f-60e3-3ba6510dfac1","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"},"credentialId":"EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE","arn":""}"#);
        let u = a.user.unwrap();
        assert_eq!(u.uid.as_deref(), Some("544894e8-80c1-707f-60e3-3ba6510dfac1"), "an empty ARN is no uid");
        assert_eq!(u.type_.as_deref(), Some("IdentityCenterUser"));
        assert_eq!(u.type_id, None);
        assert!(u.credential_uid.is_some());
        assert_eq!(a.idp.unwrap().uid.as_deref(), Some("arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"));
        let a = user(r#"{"type":"SAMLUser","userName":"alice@example.com"}"#);
        assert_eq!(a.user.unwrap().name.as_deref(), Some("alice@example.com"));
        let a = user(r#"{"principalId":"AIDAEXAMPLE","accountId":"111122223333"}"#);
        assert_eq!(a.user.unwrap().type_, None, "a missing type stays missing");
        let a = user(r#"{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"}"#);
        assert_eq!((a.user.unwrap().name.as_deref(), a.invoked_by.as_deref()), (Some("cloudtrail.amazonaws.com"), Some("cloudtrail.amazonaws.com")));
        let a = user(r#"{}"#);
        // Nothing known: the account it happened in (here the one the source reported).
        assert_eq!(a.user.unwrap().account.unwrap().uid.as_deref(), Some("123456789012"));
    }

    #[test]
    fn insights_are_detection_findings() {
        let start = r#"{"eventVersion":"1.08","eventTime":"2024-01-15T10:00:00Z","awsRegion":"us-east-1","eventID":"e-start","eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"s-1","insightDetails":{"state":"Start","eventSource":"ssm.amazonaws.com","eventName":"UpdateInstanceAssociationStatus","insightType":"ApiCallRateInsight","insightContext":{"statistics":{"baseline":{"average":1.75},"insight":{"average":6.0}}}},"eventCategory":"Insight"}"#;
        let Event::DetectionFinding(s) = map(start) else { panic!() };
        assert_eq!((s.activity_id, s.finding_info.uid.as_str(), s.start_time), (1, "s-1", Some(1_705_312_800_000)));
        assert_eq!(s.finding_info.title, "Unusual rate of UpdateInstanceAssociationStatus calls to ssm.amazonaws.com");
        assert_eq!(s.api.unwrap().operation, "UpdateInstanceAssociationStatus");
        let end = start.replace("\"Start\"", "\"End\"").replace("e-start", "e-end").replace("\"insight\":{\"average\":6.0}", "\"insight\":{\"average\":6.0},\"insightDuration\":5");
        let Event::DetectionFinding(e) = map(&end) else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_str(), e.finding_info.uid.as_str()), (3, "Close", "s-1"));
        assert_eq!((e.start_time, e.end_time), (Some(1_705_312_800_000 - 300_000), Some(1_705_312_800_000)));
        assert!(e.unmapped.unwrap().contains_key("insightDetails"));
    }
}
