//! The standard VPC Flow Logs mapper: flow log records → OCSF 1.1.0 Network Activity (4001),
//! following Amazon Security Lake's published VPC flow log mapping (`ocsf/examples`,
//! `mappings/markdown/AWS/v1.1.0/VPC Flowlogs` and the Data Prepper pipeline beside it; notes
//! in `SECURITY_LAKE.md`).
//!
//! **Input.** A record is one line of a flow log file; its unit context
//! ([`RawRecord::context`]) is the file's header line, which names the fields in the order
//! the flow log's format gives: the default (version 2) format or any custom format of
//! version 2–8 fields, Transit Gateway flow logs' own field set, and names written with `_`
//! instead of `-`. A record without a context (CloudWatch Logs delivery has no header) is read
//! in the default format. Fields are split on spaces (runs of spaces count as one); `-` is "no
//! value". The header is parsed once and kept while the records' context stays the same.
//!
//! **Mapping** (see `SECURITY_LAKE.md` for the source of each):
//!
//! | OCSF | flow log |
//! |---|---|
//! | `activity_id` | 6 Traffic; 5 Refuse for `REJECT` |
//! | `action_id` / `disposition_id` / `status_id` | `ACCEPT` → Allowed / Allowed / Success; `REJECT` → Denied / Blocked / Failure; no action (NODATA, SKIPDATA, Transit Gateway) → Unknown, none, none |
//! | `status_code` | `log-status`; NODATA and SKIPDATA also get a `message` |
//! | `status_detail` | `reject-reason` |
//! | `time`, `start_time`, `end_time` (+ `_dt`) | `start`, `start`, `end` (Unix seconds; see [`unix_ms`]) |
//! | `src_endpoint` / `dst_endpoint` | `ip` ← `pkt-srcaddr` / `pkt-dstaddr` when it differs from `srcaddr` / `dstaddr` (which then is `intermediate_ips`), else the latter; `port` ← `srcport` / `dstport`; `svc_name` ← `pkt-src-aws-service` / `pkt-dst-aws-service` |
//! | the interface's endpoint | `interface_uid`, `vpc_uid`, `subnet_uid`, `instance_uid` ← `interface-id`, `vpc-id`, `subnet-id`, `instance-id` on the destination for `ingress`, the source for `egress` (see [`interface_side`] when the format has no `flow-direction`) |
//! | Transit Gateway | `vpc_uid` ← `tgw-src-vpc-id` / `tgw-dst-vpc-id`; the attachments' subnets, interfaces and zones are the attachments', not the endpoints', and stay in `unmapped` |
//! | `connection_info` | `protocol_num` and `protocol_name` ← `protocol`; `direction_id` ← `flow-direction`; `boundary_id` ← `traffic-path`; `tcp_flags`; `protocol_ver_id` ← `type` (or the address family) |
//! | `traffic` | `bytes`, `packets` |
//! | `cloud` | `account.uid` ← `account-id` (the object's account when `unknown`, which is then kept in `unmapped`), `account.name` the connector's, `region`, `zone` ← `az-id` |
//! | `metadata` | product `Amazon VPC`, feature `Flowlogs`, vendor `AWS`, `product.version` and `log_version` ← `version` (or the highest version of the header's fields), `log_provider` `VPC Flow Logs` / `Transit Gateway Flow Logs`, profiles `cloud`, `datetime`, `security_control` |
//! | `unmapped` | every other field (`sublocation-*`, `ecs-*`, the Transit Gateway ids and `packets-lost-*`, fields newer than this mapper), and an `action` that is neither ACCEPT nor REJECT |
//!
//! **Enrichment** ([`RawRecord::enrichment`], ABI 1.3): the EC2 instances the host found
//! behind the source and destination give their endpoint `instance_uid` (when the record has
//! none), `name` (the `Name` tag), `vpc_uid`, `subnet_uid`, `interface_uid` and `zone` (the
//! instance's Availability Zone), and each becomes an entry of `enrichments` (`name` the
//! attribute looked up, `src_endpoint.ip`; `value` the address; `data` the instance as JSON,
//! with its AMI `image_id`, which no endpoint attribute holds). When the endpoint's address is
//! a `pkt-*addr` (traffic through a NAT gateway or another middle box), the host's instance
//! is the one at `srcaddr`/`dstaddr`: it is only an `enrichments` entry for
//! `<endpoint>.intermediate_ips`, and the endpoint keeps what the record says. The account alias is an
//! `enrichments` entry for `cloud.account.uid` (`type` `account_alias`): OCSF 1.1.0's
//! `account` has no alias attribute, and `cloud.account.name` is the connector's account
//! name in every trawl event.
//!
//! A record is an error (dead-lettered with the message) when it has more or fewer fields than
//! its header, a number, time or address field does not parse (the message names the field),
//! or it names neither endpoint at all.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    net::IpAddr,
};

use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
};

/// The mapper. Keeps the last header's layout and the enrichments it parsed.
#[derive(Default)]
pub struct VpcFlow {
    header: Option<(Vec<u8>, Layout)>,
    default: Option<Layout>,
    /// Parsed enrichments, with their bytes, by a hash of the bytes. The host attaches one
    /// value per interface and a flow log file interleaves many interfaces, so keeping only
    /// the last one parsed missed on nearly every record and parsing was most of an enriched
    /// record's cost. Keyed by a word-at-a-time hash computed once per record, where a map
    /// keyed by the bytes SipHashed them twice per record (a lookup, then a get).
    enrichments: HashMap<u64, (Vec<u8>, Option<Enriched>)>,
}

/// A hash of `bytes`, 8 bytes a step (FxHash's mixing): cheap on wasm32, which has 64-bit
/// multiplies but a byte-loop `memcmp`. Collisions only cost a re-parse (the bytes are kept
/// and compared).
fn enrichment_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    let mut h = bytes.len() as u64;
    for c in chunks.by_ref() {
        h = mix(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    mix(h, u64::from_le_bytes(last))
}

/// Distinct enrichments kept at most (cleared when full): a batch rarely holds more.
const MAX_ENRICHMENTS: usize = 4096;

#[cfg(feature = "export")]
trawl_guest_sdk::export_mapper!(VpcFlow);

impl Mapper for VpcFlow {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(VpcFlow::default())
    }

    fn manifest() -> Manifest {
        Manifest::new("vpc_flow", env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<NetworkActivity>()])
            .describe("Amazon VPC and Transit Gateway flow logs to OCSF 1.1.0 Network Activity, as Security Lake maps them, with the host's EC2 and IAM enrichment")
            .ocsf(ocsf::VERSION)
            .for_sources(&["vpc_flow", "sqs", "cloudwatch_logs"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        let line = rec.text()?;
        if let Some(header) = rec.context
            && self.header.as_ref().is_none_or(|(h, _)| !trawl_guest_sdk::bytes_eq(h, header))
        {
            self.header = Some((header.to_vec(), parse_header(header)?));
        }
        let enrichment = rec.enrichment.map(|bytes| (bytes, enrichment_hash(bytes)));
        if let Some((bytes, key)) = enrichment
            && !self.enrichments.get(&key).is_some_and(|(b, _)| trawl_guest_sdk::bytes_eq(b, bytes))
        {
            if self.enrichments.len() >= MAX_ENRICHMENTS {
                self.enrichments.clear();
            }
            self.enrichments.insert(key, (bytes.to_vec(), Enriched::parse(bytes)));
        }
        let layout = match (rec.context, &self.header) {
            (Some(_), Some((_, l))) => l,
            _ => self.default.get_or_insert_with(|| Layout::parse(DEFAULT_HEADER)),
        };
        let enriched = enrichment.and_then(|(_, key)| self.enrichments.get(&key)).and_then(|(_, e)| e.as_ref());
        out.emit(map_line(line, layout, rec, enriched)?);
        Ok(())
    }
}

/// The layout of a header line (a record's unit context).
fn parse_header(header: &[u8]) -> Result<Layout, MapError> {
    let text = std::str::from_utf8(header).map_err(|_| MapError::new("the flow log's header line is not UTF-8"))?;
    let layout = Layout::parse(text);
    if !layout.columns.iter().any(Option::is_some) {
        return Err(MapError::new(format!("the unit context is not a flow log header naming its fields: {text:?}")));
    }
    Ok(layout)
}

/// The default (version 2) format's header.
pub const DEFAULT_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Declares the fields the mapper knows, with the flow log version that introduced each: a
/// slot constant in `f` for each and `FIELDS`, their names by slot. Fields before
/// [`f::SUBLOCATION_TYPE`] have an OCSF home; the rest go to `unmapped` under their name.
macro_rules! fields {
    ($($slot:ident = $name:literal @ $version:literal),* $(,)?) => {
        /// Slot numbers, in `FIELDS` order.
        #[allow(dead_code)]
        mod f {
            fields!(@consts 0usize; $($slot)*);
        }
        /// `(name, version)` of every known field, by slot.
        pub const FIELDS: &[(&str, u8)] = &[$(($name, $version)),*];
    };
    (@consts $n:expr; $slot:ident $($rest:ident)*) => {
        pub const $slot: usize = $n;
        fields!(@consts $n + 1; $($rest)*);
    };
    (@consts $n:expr;) => {};
}

fields! {
    VERSION = "version" @ 2, ACCOUNT_ID = "account-id" @ 2, INTERFACE_ID = "interface-id" @ 2, SRCADDR = "srcaddr" @ 2,
    DSTADDR = "dstaddr" @ 2, SRCPORT = "srcport" @ 2, DSTPORT = "dstport" @ 2, PROTOCOL = "protocol" @ 2, PACKETS = "packets" @ 2,
    BYTES = "bytes" @ 2, START = "start" @ 2, END = "end" @ 2, ACTION = "action" @ 2, LOG_STATUS = "log-status" @ 2,
    VPC_ID = "vpc-id" @ 3, SUBNET_ID = "subnet-id" @ 3, INSTANCE_ID = "instance-id" @ 3, TCP_FLAGS = "tcp-flags" @ 3,
    TYPE = "type" @ 3, PKT_SRCADDR = "pkt-srcaddr" @ 3, PKT_DSTADDR = "pkt-dstaddr" @ 3,
    REGION = "region" @ 4, AZ_ID = "az-id" @ 4,
    PKT_SRC_AWS_SERVICE = "pkt-src-aws-service" @ 5, PKT_DST_AWS_SERVICE = "pkt-dst-aws-service" @ 5,
    FLOW_DIRECTION = "flow-direction" @ 5, TRAFFIC_PATH = "traffic-path" @ 5,
    TGW_SRC_VPC_ID = "tgw-src-vpc-id" @ 6, TGW_DST_VPC_ID = "tgw-dst-vpc-id" @ 6,
    REJECT_REASON = "reject-reason" @ 8,
    // Known, with no OCSF home: kept in `unmapped`. A Transit Gateway attachment's subnet,
    // network interface and zone are the attachment's, not the endpoint's.
    SUBLOCATION_TYPE = "sublocation-type" @ 4, SUBLOCATION_ID = "sublocation-id" @ 4,
    TGW_SRC_SUBNET_ID = "tgw-src-subnet-id" @ 6, TGW_DST_SUBNET_ID = "tgw-dst-subnet-id" @ 6, TGW_SRC_ENI = "tgw-src-eni" @ 6,
    TGW_DST_ENI = "tgw-dst-eni" @ 6, TGW_SRC_AZ_ID = "tgw-src-az-id" @ 6, TGW_DST_AZ_ID = "tgw-dst-az-id" @ 6,
    RESOURCE_TYPE = "resource-type" @ 6, TGW_ID = "tgw-id" @ 6, TGW_ATTACHMENT_ID = "tgw-attachment-id" @ 6,
    TGW_SRC_VPC_ACCOUNT_ID = "tgw-src-vpc-account-id" @ 6, TGW_DST_VPC_ACCOUNT_ID = "tgw-dst-vpc-account-id" @ 6,
    TGW_PAIR_ATTACHMENT_ID = "tgw-pair-attachment-id" @ 6, PACKETS_LOST_NO_ROUTE = "packets-lost-no-route" @ 6,
    PACKETS_LOST_BLACKHOLE = "packets-lost-blackhole" @ 6, PACKETS_LOST_MTU_EXCEEDED = "packets-lost-mtu-exceeded" @ 6,
    PACKETS_LOST_TTL_EXPIRED = "packets-lost-ttl-expired" @ 6,
    ECS_CLUSTER_ARN = "ecs-cluster-arn" @ 7, ECS_CLUSTER_NAME = "ecs-cluster-name" @ 7,
    ECS_CONTAINER_INSTANCE_ARN = "ecs-container-instance-arn" @ 7, ECS_CONTAINER_INSTANCE_ID = "ecs-container-instance-id" @ 7,
    ECS_CONTAINER_ID = "ecs-container-id" @ 7, ECS_SECOND_CONTAINER_ID = "ecs-second-container-id" @ 7,
    ECS_SERVICE_NAME = "ecs-service-name" @ 7, ECS_TASK_DEFINITION_ARN = "ecs-task-definition-arn" @ 7,
    ECS_TASK_ARN = "ecs-task-arn" @ 7, ECS_TASK_ID = "ecs-task-id" @ 7,
}

/// Slots before this one have an OCSF home.
const MAPPED: usize = f::SUBLOCATION_TYPE;

/// What a header says: the field of each column.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Per column, the slot of a field with an OCSF home (`None`: the column goes to
    /// `unmapped`, named in `others`).
    columns: Vec<Option<usize>>,
    /// Column number and name of each column kept in `unmapped`.
    others: Vec<(usize, String)>,
    /// The highest version among the fields, for records without a `version` field.
    version: Option<u8>,
    /// A Transit Gateway flow log (its header names `tgw-*` fields).
    transit_gateway: bool,
}

impl Layout {
    /// Reads a header line: field names separated by spaces, `-` or `_` between words, in
    /// any order; unknown names are kept for `unmapped`.
    pub fn parse(header: &str) -> Layout {
        let mut l = Layout { columns: Vec::new(), others: Vec::new(), version: None, transit_gateway: false };
        for (i, name) in Words(header).enumerate() {
            let name = name.trim_start_matches("${").trim_end_matches('}').replace('_', "-");
            let slot = FIELDS.iter().position(|(n, _)| *n == name);
            if let Some(s) = slot {
                l.version = l.version.max(Some(FIELDS[s].1));
                l.transit_gateway |= name.starts_with("tgw-");
            }
            match slot {
                Some(s) if s < MAPPED => l.columns.push(Some(s)),
                _ => {
                    l.columns.push(None);
                    l.others.push((i, name));
                }
            }
        }
        l
    }

    /// Whether the header names the field.
    pub fn has(&self, slot: usize) -> bool {
        self.columns.contains(&Some(slot))
    }
}

/// A flow log time (`start`, `end`) in milliseconds. AWS writes Unix seconds (10 digits);
/// other writers and exports have been seen with milliseconds, microseconds or nanoseconds,
/// and test data with fewer digits: up to 11 digits are seconds, 12–14 milliseconds, 15–17
/// microseconds, 18–19 nanoseconds.
pub fn unix_ms(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = s.parse().ok()?;
    Some(match s.trim_start_matches('0').len() {
        0..=11 => n.checked_mul(1000)?,
        12..=14 => n,
        15..=17 => n / 1000,
        18..=19 => n / 1_000_000,
        _ => return None,
    })
}

/// The IANA keyword of a protocol number, in lower case (the common ones).
pub fn protocol_name(n: i32) -> Option<&'static str> {
    Some(match n {
        0 => "hopopt",
        1 => "icmp",
        2 => "igmp",
        4 => "ipv4",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        43 => "ipv6-route",
        44 => "ipv6-frag",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        59 => "ipv6-nonxt",
        60 => "ipv6-opts",
        89 => "ospfigp",
        103 => "pim",
        112 => "vrrp",
        115 => "l2tp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

/// One endpoint of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `src_endpoint`.
    Src,
    /// `dst_endpoint`.
    Dst,
}

/// Which endpoint the record's network interface (and its VPC, subnet, instance) belongs to:
/// as Security Lake maps it, the destination for `ingress` traffic and the source for
/// `egress`. A format without `flow-direction` (the default one) does not say; then the
/// enrichment decides when the host found the interface behind the destination address, and
/// otherwise it is the source (Security Lake's pipeline does the same).
pub fn interface_side(direction: Option<&str>, interface: Option<&str>, enriched: Option<&Enriched>) -> Side {
    match direction {
        Some("ingress") => Side::Dst,
        Some("egress") => Side::Src,
        _ => {
            let dst_owns = enriched.and_then(|e| e.dst.as_ref()).is_some_and(|d| d.interface_id.is_some() && d.interface_id.as_deref() == interface);
            if dst_owns { Side::Dst } else { Side::Src }
        }
    }
}

/// The host's enrichment of a record, parsed (see [`RawRecord::enrichment`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enriched {
    /// The account's IAM alias.
    pub account_alias: Option<String>,
    /// The instance behind the source address.
    pub src: Option<Instance>,
    /// The instance behind the destination address.
    pub dst: Option<Instance>,
}

/// An EC2 instance of the enrichment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instance {
    /// Instance id.
    pub instance_id: Option<String>,
    /// Its `Name` tag.
    pub name: Option<String>,
    /// VPC id.
    pub vpc_id: Option<String>,
    /// Subnet id.
    pub subnet_id: Option<String>,
    /// AMI id.
    pub image_id: Option<String>,
    /// The network interface holding the address.
    pub interface_id: Option<String>,
    /// Availability Zone.
    pub az: Option<String>,
    /// The object as JSON text, for `enrichments[].data`.
    pub json: String,
}

impl Enriched {
    /// Reads the enrichment leniently: unknown keys and values that are not strings are
    /// ignored; JSON that is not an object is logged and ignored (the record maps without it).
    pub fn parse(bytes: &[u8]) -> Option<Enriched> {
        let v: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                trawl_guest_sdk::log!(Warn, "the record's enrichment is not a JSON object; mapped without it");
                return None;
            }
        };
        let s = |o: &serde_json::Value, k: &str| o.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
        let side = |k: &str| {
            v.get(k).filter(|o| o.is_object()).map(|o| Instance {
                instance_id: s(o, "instance_id"),
                name: s(o, "name"),
                vpc_id: s(o, "vpc_id"),
                subnet_id: s(o, "subnet_id"),
                image_id: s(o, "image_id"),
                interface_id: s(o, "interface_id"),
                az: s(o, "az"),
                json: o.to_string(),
            })
        };
        Some(Enriched { account_alias: s(&v, "account_alias"), src: side("src"), dst: side("dst") })
    }
}

/// The values of one record by slot (`None`: absent or `-`).
struct Values<'a> {
    v: [Option<&'a str>; MAPPED],
}

impl<'a> Values<'a> {
    fn get(&self, slot: usize) -> Option<&'a str> {
        self.v[slot]
    }

    fn num<T: std::str::FromStr>(&self, slot: usize, what: &str) -> Result<Option<T>, MapError> {
        self.v[slot]
            .map(|s| s.parse::<T>().map_err(|_| MapError::new(format!("{}: {s:?} is not {what}", FIELDS[slot].0))))
            .transpose()
    }

    fn time(&self, slot: usize) -> Result<Option<i64>, MapError> {
        self.v[slot].map(|s| unix_ms(s).ok_or_else(|| MapError::new(format!("{}: {s:?} is not a Unix time", FIELDS[slot].0)))).transpose()
    }

    fn ip(&self, slot: usize) -> Result<Option<&'a str>, MapError> {
        match self.v[slot] {
            Some(s) if s.parse::<IpAddr>().is_err() => Err(MapError::new(format!("{}: {s:?} is not an IP address", FIELDS[slot].0))),
            other => Ok(other),
        }
    }

    fn string(&self, slot: usize) -> Option<String> {
        self.v[slot].map(str::to_string)
    }
}

/// The fields of a line: its runs of bytes other than a space (`split(' ')` without the empty
/// pieces). Each space is found 8 bytes a step; `str::split` calls core's `memchr`, which goes
/// 4 bytes a step on wasm32 and was ~3 % of a VPC Flow run.
struct Words<'a>(&'a str);

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0.trim_start_matches(' ');
        if rest.is_empty() {
            self.0 = rest;
            return None;
        }
        let end = next_space(rest.as_bytes());
        // A space is one byte of its own in UTF-8, so both ends are character boundaries.
        let (word, tail) = rest.split_at(end);
        self.0 = tail;
        Some(word)
    }
}

/// The index of the first space in `b`, or its length.
fn next_space(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes")) ^ (ONES * u64::from(b' '));
        // The lowest byte of `w` that is zero (a space) sets the lowest flagged bit; flags
        // above a zero byte can be false, below it they cannot.
        let zero = w.wrapping_sub(ONES) & !w & HIGH;
        if zero != 0 {
            return i + (zero.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..].iter().position(|&c| c == b' ').unwrap_or(b.len() - i)
}

/// Maps one flow log line read by `layout`.
pub fn map_line(line: &str, layout: &Layout, rec: &RawRecord<'_>, enriched: Option<&Enriched>) -> Result<NetworkActivity, MapError> {
    let mut v = Values { v: [None; MAPPED] };
    let mut others: Vec<(&str, &str)> = Vec::new();
    let mut n = 0;
    for (i, word) in Words(line).enumerate() {
        n = i + 1;
        let value = (word != "-").then_some(word);
        match layout.columns.get(i) {
            Some(Some(slot)) => v.v[*slot] = value,
            Some(None) => {
                if let (Some(value), Some((_, name))) = (value, layout.others.iter().find(|(c, _)| *c == i)) {
                    others.push((name, value));
                }
            }
            None => {}
        }
    }
    if n != layout.columns.len() {
        return Err(MapError::new(format!("the record has {n} fields, its header names {}", layout.columns.len())));
    }

    let start = v.time(f::START)?;
    let end = v.time(f::END)?;
    let time = start.or(end).unwrap_or(rec.ingest_time_ms);
    let action = v.get(f::ACTION);
    let activity = if action == Some("REJECT") { 5 } else { 6 };
    let mut e = NetworkActivity::new(time, activity, ocsf::severity::INFORMATIONAL);
    e.start_time = start;
    e.start_time_dt = start;
    e.end_time = end;
    e.end_time_dt = end;
    let mut unmapped: BTreeMap<String, String> = others.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (action_id, disposition_id, status_id) = match action {
        Some("ACCEPT") => (ocsf::action::ALLOWED, Some(ocsf::disposition::ALLOWED), Some(ocsf::status::SUCCESS)),
        Some("REJECT") => (ocsf::action::DENIED, Some(ocsf::disposition::BLOCKED), Some(ocsf::status::FAILURE)),
        other => {
            if let Some(a) = other {
                unmapped.insert("action".into(), a.into());
            }
            (ocsf::action::UNKNOWN, None, None)
        }
    };
    e.action_id = action_id;
    e.action = Some(ocsf::action::name(action_id).into());
    e.disposition_id = disposition_id;
    e.disposition = disposition_id.map(|d| ocsf::disposition::name(d).into());
    if let Some(s) = status_id {
        e.set_status(s);
    }
    let log_status = v.get(f::LOG_STATUS);
    e.status_code = log_status.map(str::to_string);
    e.message = match log_status {
        Some("NODATA") => Some("No network traffic to or from the network interface during the aggregation interval".into()),
        Some("SKIPDATA") => Some("Some flow log records were skipped during the aggregation interval".into()),
        _ => None,
    };
    e.status_detail = v.string(f::REJECT_REASON);

    // Endpoints: addresses, ports, AWS services.
    let endpoint = |addr: usize, pkt: usize, port: usize, svc: usize| -> Result<NetworkEndpoint, MapError> {
        let (addr, pkt) = (v.ip(addr)?, v.ip(pkt)?);
        let (ip, via) = match (pkt, addr) {
            (Some(p), Some(a)) if p != a => (Some(p), Some(a)),
            (p, a) => (p.or(a), None),
        };
        Ok(NetworkEndpoint {
            ip: ip.map(str::to_string),
            intermediate_ips: via.map(|a| vec![a.to_string()]),
            port: v.num::<u16>(port, "a port")?.map(i32::from),
            svc_name: v.string(svc),
            ..Default::default()
        })
    };
    let mut src = endpoint(f::SRCADDR, f::PKT_SRCADDR, f::SRCPORT, f::PKT_SRC_AWS_SERVICE)?;
    let mut dst = endpoint(f::DSTADDR, f::PKT_DSTADDR, f::DSTPORT, f::PKT_DST_AWS_SERVICE)?;

    // The interface the record is about, and what it belongs to.
    let direction = v.get(f::FLOW_DIRECTION);
    let interface = v.get(f::INTERFACE_ID);
    src.vpc_uid = v.string(f::TGW_SRC_VPC_ID);
    dst.vpc_uid = v.string(f::TGW_DST_VPC_ID);
    let owner = |ep: &mut NetworkEndpoint| {
        ep.interface_uid = ep.interface_uid.take().or_else(|| interface.map(str::to_string));
        ep.vpc_uid = ep.vpc_uid.take().or_else(|| v.string(f::VPC_ID));
        ep.subnet_uid = ep.subnet_uid.take().or_else(|| v.string(f::SUBNET_ID));
        ep.instance_uid = v.string(f::INSTANCE_ID);
    };
    let has_interface = [f::INTERFACE_ID, f::VPC_ID, f::SUBNET_ID, f::INSTANCE_ID].iter().any(|s| v.get(*s).is_some());
    if has_interface {
        if src.ip.is_none() && dst.ip.is_none() {
            // NODATA, SKIPDATA: the interface is the only endpoint the record names.
            owner(&mut src);
            owner(&mut dst);
        } else {
            match interface_side(direction, interface, enriched) {
                Side::Src => owner(&mut src),
                Side::Dst => owner(&mut dst),
            }
        }
    }

    // The host's enrichment.
    let mut enrichments = Vec::new();
    if let Some(en) = enriched {
        for (ep, inst, at) in [(&mut src, &en.src, "src_endpoint"), (&mut dst, &en.dst, "dst_endpoint")] {
            let Some(inst) = inst else { continue };
            if let Some(via) = ep.intermediate_ips.as_ref().and_then(|v| v.first()) {
                // The host looked up `srcaddr`/`dstaddr`, which is not the endpoint's own
                // address here (`pkt-*addr` is): the instance is the one in between.
                enrichments.push(Enrichment {
                    name: format!("{at}.intermediate_ips"),
                    value: via.clone(),
                    data: inst.json.clone(),
                    provider: Some("ec2:DescribeInstances".into()),
                    type_: Some("instance".into()),
                });
                continue;
            }
            ep.instance_uid = ep.instance_uid.take().or_else(|| inst.instance_id.clone());
            ep.name = inst.name.clone();
            ep.vpc_uid = ep.vpc_uid.take().or_else(|| inst.vpc_id.clone());
            ep.subnet_uid = ep.subnet_uid.take().or_else(|| inst.subnet_id.clone());
            ep.interface_uid = ep.interface_uid.take().or_else(|| inst.interface_id.clone());
            ep.zone = ep.zone.take().or_else(|| inst.az.clone());
            let (name, value) = match (&ep.ip, &ep.interface_uid, &ep.instance_uid) {
                (Some(ip), _, _) => ("ip", ip.clone()),
                (None, Some(eni), _) => ("interface_uid", eni.clone()),
                (None, None, Some(i)) => ("instance_uid", i.clone()),
                (None, None, None) => continue,
            };
            enrichments.push(Enrichment {
                name: format!("{at}.{name}"),
                value,
                data: inst.json.clone(),
                provider: Some("ec2:DescribeInstances".into()),
                type_: Some("instance".into()),
            });
        }
    }

    for (ep, which) in [(&src, "source"), (&dst, "destination")] {
        let named = [&ep.ip, &ep.svc_name, &ep.instance_uid, &ep.interface_uid, &ep.name].iter().any(|x| x.is_some());
        if !named {
            return Err(MapError::new(format!("the record names no {which}: no address, interface or instance")));
        }
    }
    e.src_endpoint = src;
    e.dst_endpoint = dst;

    // Connection and traffic.
    let protocol = v.num::<u8>(f::PROTOCOL, "a protocol number")?.map(i32::from);
    let protocol_ver_id = match v.get(f::TYPE) {
        Some("IPv4") => Some(ocsf::protocol_ver::IPV4),
        Some("IPv6") => Some(ocsf::protocol_ver::IPV6),
        Some(_) => Some(ocsf::protocol_ver::OTHER),
        None => e.src_endpoint.ip.as_deref().or(e.dst_endpoint.ip.as_deref()).map(|ip| if ip.contains(':') { ocsf::protocol_ver::IPV6 } else { ocsf::protocol_ver::IPV4 }),
    };
    let direction_id = match direction {
        Some("ingress") => ocsf::direction::INBOUND,
        Some("egress") => ocsf::direction::OUTBOUND,
        _ => ocsf::direction::UNKNOWN,
    };
    let boundary_id = v
        .num::<u8>(f::TRAFFIC_PATH, "a traffic path (1-8)")?
        .map(|p| match p {
            1..=8 => Ok(i32::from(p) + 3),
            _ => Err(MapError::new(format!("traffic-path: {p} is not a traffic path (1-8)"))),
        })
        .transpose()?;
    e.connection_info = Some(NetworkConnectionInfo {
        direction_id,
        direction: Some(ocsf::direction::name(direction_id).into()),
        boundary_id,
        boundary: boundary_id.map(|b| ocsf::boundary::name(b).into()),
        protocol_num: protocol,
        protocol_name: protocol.and_then(protocol_name).map(str::to_string),
        protocol_ver_id,
        protocol_ver: protocol_ver_id.map(|p| if p == ocsf::protocol_ver::OTHER { v.string(f::TYPE).unwrap_or_default() } else { ocsf::protocol_ver::name(p).into() }),
        tcp_flags: v.num::<u16>(f::TCP_FLAGS, "a number")?.map(i32::from),
        ..Default::default()
    });
    let (bytes, packets) = (v.num::<u64>(f::BYTES, "a number")?, v.num::<u64>(f::PACKETS, "a number")?);
    if bytes.is_some() || packets.is_some() {
        e.traffic = Some(NetworkTraffic { bytes: bytes.map(|b| b as i64), packets: packets.map(|p| p as i64), ..Default::default() });
    }

    // Where and what.
    // `unknown`: an interface an AWS service created (a load balancer's, an endpoint's).
    let account = match v.get(f::ACCOUNT_ID) {
        Some("unknown") => {
            unmapped.insert("account-id".into(), "unknown".into());
            rec.aws_account_id
        }
        other => other.or(rec.aws_account_id),
    };
    e.cloud = Cloud {
        provider: "AWS".into(),
        region: v.string(f::REGION).or_else(|| rec.region.map(str::to_string)),
        account: Some(Account { uid: account.map(str::to_string), name: Some(rec.connector.to_string()), type_: Some("AWS Account".into()), type_id: Some(10) }),
        zone: v.string(f::AZ_ID),
    };
    if let (Some(alias), Some(uid)) = (enriched.and_then(|en| en.account_alias.as_deref()), account) {
        enrichments.push(Enrichment {
            name: "cloud.account.uid".into(),
            value: uid.into(),
            data: serde_json::json!({ "account_alias": alias }).to_string(),
            provider: Some("iam:ListAccountAliases".into()),
            type_: Some("account_alias".into()),
        });
    }
    e.enrichments = (!enrichments.is_empty()).then_some(enrichments);
    let version: Option<Cow<'_, str>> = v.get(f::VERSION).map(Cow::Borrowed).or_else(|| layout.version.map(|n| Cow::Owned(n.to_string())));
    e.metadata = Metadata {
        version: ocsf::VERSION.into(),
        product: Product {
            name: Some("Amazon VPC".into()),
            vendor_name: "AWS".into(),
            version: version.as_deref().map(str::to_string),
            feature: Some(Feature { name: Some("Flowlogs".into()) }),
        },
        log_provider: Some(if layout.transit_gateway { "Transit Gateway Flow Logs" } else { "VPC Flow Logs" }.into()),
        log_version: version.map(Cow::into_owned),
        uid: Some(rec.position_uid()),
        profiles: Some(NetworkActivity::PROFILES.iter().map(|p| p.to_string()).collect()),
        ..Default::default()
    };
    e.unmapped = (!unmapped.is_empty()).then_some(unmapped);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_without_empty_pieces() {
        for line in [
            "", " ", "a", "a b", "  a  b  ", "2 123456789012 eni-0123456789abcdef0 10.0.0.1 10.0.0.2 443 49152 6 10 840 1600000000 1600000060 ACCEPT OK",
            "12345678 123456789 1234567 x", "é ü  ñ😀 x", "abcdefgh", "abcdefg ", " abcdefgh ijklmnop  qrstuvwxyz0123456789 -",
        ] {
            let want: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
            assert_eq!(Words(line).collect::<Vec<_>>(), want, "{line:?}");
        }
        // A space at every position of a 20-byte run.
        for at in 0..20 {
            let mut b = vec![b'x'; 20];
            b[at] = b' ';
            assert_eq!(next_space(&b), at);
        }
        assert_eq!(next_space(&[b'x'; 20]), 20);
    }

    const V5: &str = "account-id action az-id bytes dstaddr dstport end flow-direction instance-id interface-id log-status packets pkt-dst-aws-service pkt-dstaddr pkt-src-aws-service pkt-srcaddr protocol region srcaddr srcport start sublocation-id sublocation-type subnet-id tcp-flags traffic-path type version vpc-id";

    fn map(header: Option<&str>, line: &str, enrichment: Option<&str>) -> Result<NetworkActivity, MapError> {
        let mut rec = trawl_guest_sdk::testing::record(line.as_bytes());
        rec.context = header.map(str::as_bytes);
        rec.enrichment = enrichment.map(str::as_bytes);
        let mut m = VpcFlow::default();
        let mut out = Emitter::default();
        m.map(&rec, &mut out)?;
        Ok(out.take::<NetworkActivity>().remove(0))
    }

    #[test]
    fn the_default_format_with_and_without_its_header() {
        let line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
        for header in [Some(DEFAULT_HEADER), None] {
            let e = map(header, line, None).unwrap();
            assert_eq!((e.activity_id, e.action_id, e.disposition_id, e.status_id), (6, 1, Some(1), Some(1)));
            assert_eq!((e.time, e.start_time, e.end_time), (1_418_530_010_000, Some(1_418_530_010_000), Some(1_418_530_070_000)));
            assert_eq!(e.src_endpoint.ip.as_deref(), Some("172.31.16.139"));
            assert_eq!((e.src_endpoint.port, e.dst_endpoint.port), (Some(20641), Some(22)));
            assert_eq!(e.src_endpoint.interface_uid.as_deref(), Some("eni-1235b8ca123456789"), "no flow-direction: the source, as Security Lake");
            let c = e.connection_info.unwrap();
            assert_eq!((c.protocol_num, c.protocol_name.as_deref(), c.direction_id, c.protocol_ver_id), (Some(6), Some("tcp"), 0, Some(4)));
            assert_eq!(e.traffic.unwrap().bytes, Some(4249));
            assert_eq!(e.cloud.account.unwrap().uid.as_deref(), Some("123456789010"));
            assert_eq!(e.metadata.product.version.as_deref(), Some("2"));
        }
    }

    #[test]
    fn a_custom_format_is_read_by_its_header() {
        let line = "123456789012 REJECT use1-az1 40 172.31.2.52 39938 1649721788 ingress i-0a1b2c3d4e5f60718 eni-0a1b2c3d4e5f60718 OK 1 - 172.31.2.52 - 1.2.3.4 6 us-east-1 1.2.3.4 56858 1649721732 - - subnet-0a1b2c3d 2 8 IPv4 5 vpc-0a1b2c3d";
        let e = map(Some(V5), line, None).unwrap();
        assert_eq!((e.activity_id, e.activity_name.as_str(), e.action.as_deref(), e.disposition.as_deref()), (5, "Refuse", Some("Denied"), Some("Blocked")));
        assert_eq!(e.dst_endpoint.instance_uid.as_deref(), Some("i-0a1b2c3d4e5f60718"), "ingress: the interface is the destination's");
        assert_eq!(e.dst_endpoint.vpc_uid.as_deref(), Some("vpc-0a1b2c3d"));
        assert!(e.src_endpoint.interface_uid.is_none());
        let c = e.connection_info.unwrap();
        assert_eq!((c.direction.as_deref(), c.boundary.as_deref(), c.tcp_flags), (Some("Inbound"), Some("Internet Gateway"), Some(2)));
        assert_eq!((e.cloud.zone.as_deref(), e.cloud.region.as_deref()), (Some("use1-az1"), Some("us-east-1")));
        assert!(e.unmapped.is_none(), "sublocation fields are `-`");
        // Underscores, as Athena and Parquet name the fields.
        let e2 = map(Some(&V5.replace('-', "_").replace("az_id", "az-id")), line, None).unwrap();
        assert_eq!(e2.dst_endpoint, e.dst_endpoint);
    }

    #[test]
    fn packet_addresses_behind_a_nat_and_unknown_fields() {
        let h = "version srcaddr pkt-srcaddr dstaddr pkt-dstaddr start end action log-status new-field";
        let e = map(Some(h), "3 10.0.1.5 203.0.113.7 10.0.2.9 10.0.2.9 1700000000 1700000060 ACCEPT OK hello", None).unwrap();
        assert_eq!((e.src_endpoint.ip.as_deref(), e.src_endpoint.intermediate_ips.as_deref()), (Some("203.0.113.7"), Some(&["10.0.1.5".to_string()][..])));
        assert_eq!((e.dst_endpoint.ip.as_deref(), e.dst_endpoint.intermediate_ips.as_ref()), (Some("10.0.2.9"), None));
        assert_eq!(e.unmapped.unwrap()["new-field"], "hello");
        // The host's instance at srcaddr is the one in between, not the source.
        let en = r#"{"src":{"instance_id":"i-0nat","name":"nat-1"}}"#;
        let e = map(Some(h), "3 10.0.1.5 203.0.113.7 10.0.2.9 10.0.2.9 1700000000 1700000060 ACCEPT OK -", Some(en)).unwrap();
        assert_eq!((e.src_endpoint.name.as_ref(), e.src_endpoint.instance_uid.as_ref()), (None, None));
        let list = e.enrichments.unwrap();
        assert_eq!((list[0].name.as_str(), list[0].value.as_str()), ("src_endpoint.intermediate_ips", "10.0.1.5"));
    }

    #[test]
    fn nodata_is_still_an_event_about_the_interface() {
        let e = map(Some(DEFAULT_HEADER), "2 123456789010 eni-1a2b3c4d - - - - - - - 1431280876 1431280934 - NODATA", None).unwrap();
        assert_eq!((e.activity_id, e.action_id, e.disposition_id, e.status_id), (6, 0, None, None));
        assert_eq!(e.status_code.as_deref(), Some("NODATA"));
        assert!(e.message.is_some() && e.traffic.is_none());
        assert_eq!((e.src_endpoint.interface_uid.as_deref(), e.dst_endpoint.interface_uid.as_deref()), (Some("eni-1a2b3c4d"), Some("eni-1a2b3c4d")));
    }

    #[test]
    fn ipv6_double_spaces_and_odd_times() {
        let e = map(Some(DEFAULT_HEADER), "2  123456789010 eni-1 2001:db8::1 2001:db8::2 443 50000 6 5 500 1418530010000 1418530070000 ACCEPT OK ", None).unwrap();
        assert_eq!((e.src_endpoint.ip.as_deref(), e.connection_info.unwrap().protocol_ver_id), (Some("2001:db8::1"), Some(6)));
        assert_eq!(e.start_time, Some(1_418_530_010_000), "milliseconds stay milliseconds");
        assert_eq!([unix_ms("1418530010"), unix_ms("418530010"), unix_ms("1418530010123456"), unix_ms("x"), unix_ms("")], [
            Some(1_418_530_010_000),
            Some(418_530_010_000),
            Some(1_418_530_010_123),
            None,
            None
        ]);
    }

    #[test]
    fn transit_gateway_records_name_both_attachments() {
        let h = "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service";
        let line = "6 TransitGateway 123456789012 tgw-0a1b2c3d tgw-attach-0a1b2c3d 123456789012 123456789012 vpc-0a1b vpc-0c2d subnet-0a1b subnet-0c2d eni-0a1b eni-0c2d use1-az1 use1-az2 tgw-attach-0e3f 10.0.1.5 10.1.2.7 49152 443 6 10 8400 1700000000 1700000060 OK IPv4 0 0 0 0 19 us-east-1 egress - -";
        let e = map(Some(h), line, None).unwrap();
        assert_eq!((e.src_endpoint.vpc_uid.as_deref(), e.dst_endpoint.vpc_uid.as_deref()), (Some("vpc-0a1b"), Some("vpc-0c2d")));
        assert!(e.dst_endpoint.interface_uid.is_none(), "the attachment's interface is not the endpoint's");
        assert_eq!((e.action_id, e.activity_id, e.metadata.log_provider.as_deref()), (0, 6, Some("Transit Gateway Flow Logs")));
        let u = e.unmapped.unwrap();
        assert_eq!((u["tgw-id"].as_str(), u["packets-lost-no-route"].as_str(), u["tgw-dst-eni"].as_str()), ("tgw-0a1b2c3d", "0", "eni-0c2d"));
    }

    #[test]
    fn the_enrichment_names_the_instances_and_the_account_alias() {
        let en = r#"{"account_alias":"prod-main","src":{"instance_id":"i-0web","name":"web-1","vpc_id":"vpc-1","subnet_id":"subnet-1","image_id":"ami-1","interface_id":"eni-web","az":"us-east-1a"},"dst":{"instance_id":"i-0db","name":"db-1","interface_id":"eni-db","later_key":1}}"#;
        let e = map(Some(DEFAULT_HEADER), "2 123456789010 eni-db 10.0.0.5 10.0.0.9 40000 5432 6 3 180 1700000000 1700000060 ACCEPT OK", Some(en)).unwrap();
        assert_eq!(e.dst_endpoint.interface_uid.as_deref(), Some("eni-db"), "the host found the interface behind the destination");
        assert_eq!((e.src_endpoint.name.as_deref(), e.src_endpoint.instance_uid.as_deref(), e.src_endpoint.zone.as_deref()), (Some("web-1"), Some("i-0web"), Some("us-east-1a")));
        assert_eq!((e.dst_endpoint.name.as_deref(), e.dst_endpoint.instance_uid.as_deref()), (Some("db-1"), Some("i-0db")));
        let list = e.enrichments.unwrap();
        assert_eq!(list.iter().map(|x| (x.name.as_str(), x.value.as_str())).collect::<Vec<_>>(), [
            ("src_endpoint.ip", "10.0.0.5"),
            ("dst_endpoint.ip", "10.0.0.9"),
            ("cloud.account.uid", "123456789010")
        ]);
        assert!(list[0].data.contains("ami-1"), "the AMI is in the data");
        assert_eq!(list[2].data, r#"{"account_alias":"prod-main"}"#);
        // Unreadable enrichment: mapped without it.
        assert!(map(Some(DEFAULT_HEADER), "2 1 eni-1 10.0.0.5 10.0.0.9 1 2 6 1 1 1700000000 1700000060 ACCEPT OK", Some("[1]")).unwrap().enrichments.is_none());
    }

    #[test]
    fn interleaved_enrichments_each_reach_their_own_record() {
        // One mapper over a batch whose records alternate between interfaces (as a flow log
        // file's do), some without an enrichment or with an unreadable one, and past the
        // number of parsed enrichments kept, so the cache is cleared mid-batch.
        let en = |i: usize| format!(r#"{{"src":{{"instance_id":"i-{i}","interface_id":"eni-{i}"}}}}"#);
        let mut m = VpcFlow::default();
        let mut out = Emitter::default();
        let mut want = Vec::new();
        for n in 0..MAX_ENRICHMENTS + 300 {
            let i = if n < 40 { n % 3 } else { n };
            let enrichment = match n % 7 {
                5 => None,
                6 => Some("[1]".to_string()),
                _ => Some(en(i)),
            };
            let line = format!("2 123456789010 eni-{i} 10.0.0.5 10.0.0.9 40000 5432 6 3 180 1700000000 1700000060 ACCEPT OK");
            let mut rec = trawl_guest_sdk::testing::record(line.as_bytes());
            rec.context = Some(DEFAULT_HEADER.as_bytes());
            rec.enrichment = enrichment.as_deref().map(str::as_bytes);
            m.map(&rec, &mut out).unwrap();
            want.push(matches!(n % 7, 0..=4).then(|| format!("i-{i}")));
        }
        assert!(m.enrichments.len() <= MAX_ENRICHMENTS);
        let got: Vec<Option<String>> = out.take::<NetworkActivity>().into_iter().map(|e| e.src_endpoint.instance_uid).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_enrichment_whose_hash_collides_with_a_cached_one_is_parsed_for_itself() {
        let (mine, other) = (r#"{"src":{"instance_id":"i-mine"}}"#, r#"{"src":{"instance_id":"i-other"}}"#);
        let mut m = VpcFlow::default();
        // A cached entry under this record's hash, holding other bytes: as a collision would.
        m.enrichments.insert(enrichment_hash(mine.as_bytes()), (other.as_bytes().to_vec(), Enriched::parse(other.as_bytes())));
        let line = "2 123456789010 eni-1 10.0.0.5 10.0.0.9 40000 5432 6 3 180 1700000000 1700000060 ACCEPT OK";
        let mut rec = trawl_guest_sdk::testing::record(line.as_bytes());
        rec.enrichment = Some(mine.as_bytes());
        let mut out = Emitter::default();
        m.map(&rec, &mut out).unwrap();
        let got: Vec<Option<String>> = out.take::<NetworkActivity>().into_iter().map(|e| e.src_endpoint.instance_uid).collect();
        assert_eq!(got, [Some("i-mine".to_string())]);
        assert_ne!(enrichment_hash(b"abcdefgh"), enrichment_hash(b"abcdefgi"));
        assert_ne!(enrichment_hash(b"abc"), enrichment_hash(b"abc\0"), "the length is part of the hash");
    }

    #[test]
    fn bad_records_name_what_is_wrong() {
        let err = |line: &str| map(Some(DEFAULT_HEADER), line, None).unwrap_err().0;
        assert_eq!(err("2 1 eni-1 10.0.0.5 10.0.0.9 1 2 6 1 1 1700000000 ACCEPT OK"), "the record has 13 fields, its header names 14");
        assert_eq!(err("2 1 eni-1 10.0.0.5 10.0.0.9 http 2 6 1 1 1700000000 1700000060 ACCEPT OK"), "srcport: \"http\" is not a port");
        assert_eq!(err("2 1 eni-1 10.0.0.500 10.0.0.9 1 2 6 1 1 1700000000 1700000060 ACCEPT OK"), "srcaddr: \"10.0.0.500\" is not an IP address");
        assert_eq!(err("2 1 eni-1 10.0.0.5 10.0.0.9 1 2 6 1 1 yesterday 1700000060 ACCEPT OK"), "start: \"yesterday\" is not a Unix time");
        assert_eq!(map(Some("version start end"), "2 1700000000 1700000060", None).unwrap_err().0, "the record names no source: no address, interface or instance");
    }

    #[test]
    fn headers_give_the_layout_and_the_version() {
        assert_eq!(Layout::parse(V5).version, Some(5));
        assert_eq!(Layout::parse(DEFAULT_HEADER).version, Some(2));
        assert!(parse_header(b"connectionlog").is_err(), "a context that is no header");
        assert!(Layout::parse("srcaddr dstaddr").has(f::SRCADDR));
    }
}
