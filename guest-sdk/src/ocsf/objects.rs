use serde::{Deserialize, Serialize};

/// `account` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Account {
    /// Account id (the 12-digit AWS account id).
    pub uid: Option<String>,
    /// Account name. trawl puts the connector's account name here.
    pub name: Option<String>,
    /// Account type, e.g. `AWS Account`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// 10 = AWS Account.
    pub type_id: Option<i32>,
}

/// `cloud` object (required by the cloud profile).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cloud {
    /// Cloud provider, `AWS`.
    pub provider: String,
    /// Region, e.g. `us-east-1`.
    pub region: Option<String>,
    /// The account the event belongs to.
    pub account: Option<Account>,
    /// The Availability Zone, e.g. a VPC flow log record's `az-id`.
    pub zone: Option<String>,
}

/// `product` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Product {
    /// Product name, e.g. `CloudTrail`.
    pub name: Option<String>,
    /// Vendor, e.g. `AWS` (required in 1.1.0).
    pub vendor_name: String,
    /// Product or log format version.
    pub version: Option<String>,
    /// The product's feature that logged the event (CloudTrail's `eventCategory`).
    pub feature: Option<Feature>,
}

/// `feature` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Feature {
    /// Feature name, e.g. `Management`, `Data`, `Insight`.
    pub name: Option<String>,
}

/// `metadata` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    /// OCSF schema version, `1.1.0`.
    pub version: String,
    /// The product that logged the event.
    pub product: Product,
    /// Unique event id from the source (CloudTrail `eventID`).
    pub uid: Option<String>,
    /// Event code from the source (CloudTrail `eventType`, e.g. `AwsApiCall`).
    pub event_code: Option<String>,
    /// The logging service that delivered the event, e.g. `CloudTrail`.
    pub log_provider: Option<String>,
    /// The version of the source's log format, e.g. a VPC flow log record's version.
    pub log_version: Option<String>,
    /// The original event time as the source wrote it.
    pub original_time: Option<String>,
    /// Correlation id (CloudTrail `sharedEventID`).
    pub correlation_uid: Option<String>,
    /// Profiles applied: `cloud`, and `datetime` when `*_dt` attributes are set.
    pub profiles: Option<Vec<String>>,
    /// Free-form labels, e.g. tags a custom mapper adds (`privileged-role`).
    pub labels: Option<Vec<String>>,
}

/// `user` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct User {
    /// Unique id: the principal's ARN where there is one.
    pub uid: Option<String>,
    /// Alternate id: the AWS principal id.
    pub uid_alt: Option<String>,
    /// Name: IAM user name, role session name, `root` or the AWS service.
    pub name: Option<String>,
    /// Source's type, e.g. `IAMUser`, `AssumedRole`, `Root`, `AWSService`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// 0 Unknown, 1 User, 2 Admin, 3 System, 99 Other.
    pub type_id: Option<i32>,
    /// Access key id used.
    pub credential_uid: Option<String>,
    /// The account the principal belongs to.
    pub account: Option<Account>,
}

/// `session` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Session {
    /// Session id (the assumed-role session ARN for STS).
    pub uid: Option<String>,
    /// Alternate session id (the assumed-role id).
    pub uid_alt: Option<String>,
    /// The identity that issued the session (role ARN for assumed roles).
    pub issuer: Option<String>,
    /// Whether the session was authenticated with MFA.
    pub is_mfa: Option<bool>,
    /// When the session was created.
    pub created_time: Option<i64>,
    /// The same instant as a TIMESTAMP column (`datetime` profile).
    pub created_time_dt: Option<i64>,
    /// When the session's credentials expire.
    pub expiration_time: Option<i64>,
    /// Session credential id.
    pub credential_uid: Option<String>,
}

/// `actor` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    /// The user that performed the action.
    pub user: Option<User>,
    /// The session the action ran in.
    pub session: Option<Session>,
    /// The service that acted on the user's behalf (CloudTrail `invokedBy`).
    pub invoked_by: Option<String>,
    /// The identity provider that authenticated the user (SAML, web identity, Identity
    /// Center).
    pub idp: Option<Idp>,
    /// The process that acted, such as the database backend serving a session (its `pid`).
    pub process: Option<Process>,
}

/// `process` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Process {
    /// Process id, e.g. a Redshift session's backend `pid`.
    pub pid: Option<i32>,
    /// Process name.
    pub name: Option<String>,
    /// Unique process id.
    pub uid: Option<String>,
}

/// `idp` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Idp {
    /// Provider name.
    pub name: Option<String>,
    /// Provider id, e.g. an Identity Center identity store ARN.
    pub uid: Option<String>,
}

/// `policy` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Policy {
    /// Policy id (a managed policy's ARN).
    pub uid: Option<String>,
    /// Policy name (an inline policy's name).
    pub name: Option<String>,
}

/// `analytic` object: what found a finding.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Analytic {
    /// 0 Unknown, 1 Rule, 2 Behavioral, 3 Statistical, 4 Learning (ML/DL), 99 Other (required).
    pub type_id: i32,
    /// Caption of `type_id`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Analytic name.
    pub name: Option<String>,
    /// Analytic id.
    pub uid: Option<String>,
}

/// `finding_info` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FindingInfo {
    /// Finding id, stable across its updates (required).
    pub uid: String,
    /// Title (required).
    pub title: String,
    /// Description.
    pub desc: Option<String>,
    /// Finding types, e.g. `ApiCallRateInsight`.
    pub types: Option<Vec<String>>,
    /// When the finding was created.
    pub created_time: Option<i64>,
    /// When the finding was first seen.
    pub first_seen_time: Option<i64>,
    /// When the finding was last seen.
    pub last_seen_time: Option<i64>,
    /// What found it.
    pub analytic: Option<Analytic>,
    /// When the finding was last updated (GuardDuty's `updatedAt`).
    pub modified_time: Option<i64>,
}

/// `service` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Service {
    /// Service name, e.g. `s3.amazonaws.com`.
    pub name: Option<String>,
}

/// `request` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// Request id (required).
    pub uid: String,
    /// The request's parameters as JSON text (Security Lake stores `api.request.data` as a
    /// string that queries read with `json_extract`).
    pub data: Option<String>,
}

/// `response` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// Error code.
    pub error: Option<String>,
    /// Error message.
    pub message: Option<String>,
    /// The response as JSON text, like `request.data`.
    pub data: Option<String>,
}

/// `api` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Api {
    /// The operation, e.g. `GetObject` (required).
    pub operation: String,
    /// The API version, e.g. `2006-03-01`.
    pub version: Option<String>,
    /// The service.
    pub service: Option<Service>,
    /// The request.
    pub request: Option<Request>,
    /// The response: its data, and the error when it failed.
    pub response: Option<Response>,
}

/// `network_endpoint` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkEndpoint {
    /// IP address.
    pub ip: Option<String>,
    /// Further addresses the request passed through (CloudTrail's second and later
    /// `sourceIPAddress` entries).
    pub intermediate_ips: Option<Vec<String>>,
    /// The endpoint's name when it is neither an address nor a service (`AWS Internal`).
    pub name: Option<String>,
    /// Domain, when the endpoint is named rather than addressed (an AWS service).
    pub domain: Option<String>,
    /// Service name in service-to-service calls (`s3.amazonaws.com`), or the service signed in
    /// to.
    pub svc_name: Option<String>,
    /// Unique id, such as the VPC endpoint a request came through.
    pub uid: Option<String>,
    /// TCP/UDP port (`port_t`: 0–65535).
    pub port: Option<i32>,
    /// Host name (`hostname_t`).
    pub hostname: Option<String>,
    /// The VM instance, e.g. an EC2 instance id.
    pub instance_uid: Option<String>,
    /// The network interface, e.g. an ENI id.
    pub interface_uid: Option<String>,
    /// The network interface's name.
    pub interface_name: Option<String>,
    /// The VPC.
    pub vpc_uid: Option<String>,
    /// The subnet.
    pub subnet_uid: Option<String>,
    /// The network zone or LAN segment; trawl puts an instance's Availability Zone here.
    pub zone: Option<String>,
}

/// `network_connection_info` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkConnectionInfo {
    /// Connection id.
    pub uid: Option<String>,
    /// [`direction`](super::direction) id (required).
    pub direction_id: i32,
    /// Caption of `direction_id`.
    pub direction: Option<String>,
    /// [`boundary`](super::boundary) id: which boundary the traffic crossed.
    pub boundary_id: Option<i32>,
    /// Caption of `boundary_id`.
    pub boundary: Option<String>,
    /// IANA protocol number (6 TCP, 17 UDP, …).
    pub protocol_num: Option<i32>,
    /// IANA protocol name in lower case (`tcp`, `udp`, `icmp`, …).
    pub protocol_name: Option<String>,
    /// [`protocol_ver`](super::protocol_ver) id: the IP version.
    pub protocol_ver_id: Option<i32>,
    /// Caption of `protocol_ver_id`.
    pub protocol_ver: Option<String>,
    /// TCP header flags (the OR of the flags seen, as VPC Flow Logs report them).
    pub tcp_flags: Option<i32>,
}

/// `network_traffic` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkTraffic {
    /// Bytes, in and out.
    pub bytes: Option<i64>,
    /// Bytes in.
    pub bytes_in: Option<i64>,
    /// Bytes out.
    pub bytes_out: Option<i64>,
    /// Packets, in and out.
    pub packets: Option<i64>,
    /// Packets in.
    pub packets_in: Option<i64>,
    /// Packets out.
    pub packets_out: Option<i64>,
}

/// `enrichment` object: data from an external source about one attribute of the event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Enrichment {
    /// The attribute enriched, e.g. `src_endpoint.instance_uid` (required).
    pub name: String,
    /// The attribute's value (required).
    pub value: String,
    /// The enrichment data as JSON text (`json_t`, required).
    pub data: String,
    /// Where the data came from, e.g. `ec2:DescribeInstances`.
    pub provider: Option<String>,
    /// What kind of enrichment, e.g. `instance`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// `database` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Database {
    /// Database name.
    pub name: Option<String>,
    /// Database id.
    pub uid: Option<String>,
    /// [`database_type`](super::database_type) id (required).
    pub type_id: i32,
    /// Caption of `type_id`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// `databucket` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Databucket {
    /// Bucket name.
    pub name: Option<String>,
    /// Bucket id, e.g. its ARN.
    pub uid: Option<String>,
    /// [`databucket_type`](super::databucket_type) id (required).
    pub type_id: i32,
    /// Caption of `type_id`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// `table` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Table {
    /// Table name.
    pub name: Option<String>,
    /// Table id.
    pub uid: Option<String>,
}

/// `query_info` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct QueryInfo {
    /// The query's text, e.g. the SQL statement (required).
    pub query_string: String,
    /// Query id.
    pub uid: Option<String>,
    /// Query name.
    pub name: Option<String>,
    /// When the query ran.
    pub query_time: Option<i64>,
    /// Bytes the query returned or touched.
    pub bytes: Option<i64>,
}

/// `http_request` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HttpRequest {
    /// User agent.
    pub user_agent: Option<String>,
}

/// `resource_details` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ResourceDetails {
    /// Resource id (ARN).
    pub uid: Option<String>,
    /// Resource name.
    pub name: Option<String>,
    /// Resource type, e.g. `AWS::S3::Object`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// The account that owns the resource.
    pub owner: Option<User>,
    /// The resource's details as the source gives them, as JSON text (`json_t`), e.g. a
    /// GuardDuty finding's `instanceDetails`.
    pub data: Option<String>,
}

/// `vulnerability` object: one weakness a vulnerability finding reports (OCSF needs its
/// `cve` or its `cwe`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Vulnerability {
    /// The CVE it is, when it has one.
    pub cve: Option<Cve>,
    /// The weakness it is, for findings in code without a CVE.
    pub cwe: Option<Cwe>,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub desc: Option<String>,
    /// The vendor's severity, as the vendor writes it (`HIGH`, `MEDIUM`, …).
    pub severity: Option<String>,
    /// The vendor that reported it (the advisory's source, e.g. `NVD`, `UBUNTU_CVE`).
    pub vendor_name: Option<String>,
    /// URLs about it.
    pub references: Option<Vec<String>>,
    /// Ids of related vulnerabilities.
    pub related_vulnerabilities: Option<Vec<String>>,
    /// The packages it affects, with the versions that fix it.
    pub affected_packages: Option<Vec<AffectedPackage>>,
    /// Whether a fix is available for every affected package.
    pub is_fix_available: Option<bool>,
    /// Whether an exploit is known.
    pub is_exploit_available: Option<bool>,
    /// When it was first observed.
    pub first_seen_time: Option<i64>,
    /// When it was last observed.
    pub last_seen_time: Option<i64>,
    /// How to remediate it.
    pub remediation: Option<Remediation>,
}

/// `cve` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cve {
    /// The CVE id, e.g. `CVE-2021-44228` (required).
    pub uid: String,
    /// CVSS scores, one per version and source.
    pub cvss: Option<Vec<Cvss>>,
    /// When the CVE record was published.
    pub created_time: Option<i64>,
    /// When the CVE record was last modified.
    pub modified_time: Option<i64>,
    /// URLs about it.
    pub references: Option<Vec<String>>,
}

/// `cvss` object: a CVSS score.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cvss {
    /// The base score, e.g. `9.8` (required).
    pub base_score: f64,
    /// The CVSS version, e.g. `3.1` (required).
    pub version: String,
    /// The vector, e.g. `CVSS:3.1/AV:N/AC:L/…`.
    pub vector_string: Option<String>,
    /// The score after the environment's adjustments (Inspector's score).
    pub overall_score: Option<f64>,
}

/// `cwe` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cwe {
    /// The CWE id, e.g. `CWE-79` (required).
    pub uid: String,
    /// Its caption.
    pub caption: Option<String>,
}

/// `affected_package` object: a package with a vulnerability (a `package` with the version
/// that fixes it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AffectedPackage {
    /// Package name (required).
    pub name: String,
    /// Installed version (required).
    pub version: String,
    /// Package epoch.
    pub epoch: Option<i32>,
    /// Package release.
    pub release: Option<String>,
    /// Architecture, e.g. `x86_64`.
    pub architecture: Option<String>,
    /// The version that fixes it.
    pub fixed_in_version: Option<String>,
    /// The package manager, e.g. `OS`, `PIP`, `NPM`.
    pub package_manager: Option<String>,
    /// Where it is installed.
    pub path: Option<String>,
    /// How to update it.
    pub remediation: Option<Remediation>,
}

/// `remediation` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Remediation {
    /// What to do (required).
    pub desc: String,
    /// URLs about it.
    pub references: Option<Vec<String>>,
}

/// `evidences` object: what a detection finding saw — the API call, the connection, the DNS
/// query (OCSF needs at least one of its attributes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// Who acted.
    pub actor: Option<Actor>,
    /// The API call seen.
    pub api: Option<Api>,
    /// The connection seen: protocol, direction.
    pub connection_info: Option<NetworkConnectionInfo>,
    /// The DNS query seen.
    pub query: Option<DnsQuery>,
    /// Where the activity came from.
    pub src_endpoint: Option<NetworkEndpoint>,
    /// Where it went.
    pub dst_endpoint: Option<NetworkEndpoint>,
    /// Further evidence as JSON text (`json_t`).
    pub data: Option<String>,
}

/// `dns_query` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DnsQuery {
    /// The name queried (required).
    pub hostname: String,
}

/// `managed_entity` object: what a management event is about — a policy, a configuration,
/// such as a CloudWatch alarm's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ManagedEntity {
    /// Its id (an ARN where there is one).
    pub uid: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its type, e.g. `CloudWatch Alarm`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// Its content as JSON text (`json_t`).
    pub data: Option<String>,
}

/// `user` object as an inventory fills it: [`User`]'s attributes and the `groups` the user
/// belongs to. A type of its own so that `User`, which mappers build field by field, stays as
/// it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InventoryUser {
    /// Unique id: the principal's ARN.
    pub uid: Option<String>,
    /// Alternate id: the IAM unique id (`AIDA…`, `AROA…`).
    pub uid_alt: Option<String>,
    /// Name: the IAM user or role name.
    pub name: Option<String>,
    /// The caption of `type_id`, or the source's type when that is Other (`Role`).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// [`user_type`] id: 0 Unknown, 1 User, 2 Admin, 3 System, 99 Other.
    pub type_id: Option<i32>,
    /// The account the principal belongs to.
    pub account: Option<Account>,
    /// The groups it belongs to.
    pub groups: Option<Vec<Group>>,
}

/// `group` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Group {
    /// Unique id: the group's ARN where known.
    pub uid: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Type, e.g. `IAM Group`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Description.
    pub desc: Option<String>,
    /// The privileges it grants, e.g. the names of the policies attached to it.
    pub privileges: Option<Vec<String>>,
}
