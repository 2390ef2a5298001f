//! Enrichment of VPC Flow records, as the seed connector does it: which EC2 instance owns the
//! record's source and destination address, and the account's alias.
//!
//! **Fetched once per connector, region and run** (a paginated `ec2:DescribeInstances` sweep,
//! `iam:ListAccountAliases`), kept in a process-wide cache that every source of the connector
//! shares, refreshed after `enrich_refresh_minutes` in a long run, and bounded
//! (`enrich_max_instances`). Missing permissions (or any other failure) leave the records
//! unenriched with one warning; the run goes on.
//!
//! **Per record, cheaply.** The header is parsed once per file for the positions of `srcaddr`,
//! `dstaddr` and `interface-id`; each line is split without allocating, the addresses parsed
//! in place and looked up. A side's JSON is built once per instance interface, and the JSON of
//! a `(src, dst)` pair once per run (bounded), so a record costs two hash lookups and hands
//! the batch a shared byte slice (the enrichment column is dictionary-encoded).
//!
//! The JSON is ABI 1.3's (see `trawl_guest_sdk::RawRecord::enrichment`):
//! `{"account_alias":…,"src":{"instance_id","name","vpc_id","subnet_id","image_id","interface_id","az"},"dst":{…}}`,
//! keys absent when unknown. A side is the instance whose interface holds the address; when
//! several interfaces hold it (overlapping private ranges in two VPCs), the record's own
//! interface (`interface-id`) wins if it holds it, else one in the same VPC as that interface.

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use serde_json::{Map, Value};

/// One network interface of an instance.
#[derive(Debug, Clone, Default)]
pub struct Interface {
    /// `eni-…`.
    pub id: Option<String>,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// Its subnet.
    pub subnet_id: Option<String>,
    /// Its private and public IPv4 and IPv6 addresses.
    pub addresses: Vec<IpAddr>,
}

/// One instance, as DescribeInstances describes it.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// Its `Name` tag.
    pub name: Option<String>,
    /// Its AMI.
    pub image_id: Option<String>,
    /// Its Availability Zone.
    pub az: Option<String>,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// Its subnet.
    pub subnet_id: Option<String>,
    /// Its interfaces (none listed: its own addresses count as one interface without id).
    pub interfaces: Vec<Interface>,
}

/// One instance interface: a possible side of a record.
struct Side {
    /// `{"instance_id":…}`, the side's JSON.
    json: String,
    vpc_id: Option<String>,
}

/// What is known of one account in one region.
#[derive(Default)]
pub struct Inventory {
    sides: Vec<Side>,
    by_ip: HashMap<IpAddr, Vec<u32>>,
    by_eni: HashMap<Box<str>, u32>,
    /// The account's alias.
    pub alias: Option<String>,
    /// Instances left out because of `enrich_max_instances`.
    pub truncated: usize,
}

impl Inventory {
    /// An inventory of `instances` (at most `max` of them) and the alias.
    pub fn new(instances: impl IntoIterator<Item = Instance>, alias: Option<String>, max: usize) -> Self {
        let mut inv = Inventory { alias, ..Default::default() };
        for (n, i) in instances.into_iter().enumerate() {
            if n >= max {
                inv.truncated += 1;
                continue;
            }
            inv.add(i);
        }
        inv
    }

    fn add(&mut self, i: Instance) {
        let own = Interface { id: None, vpc_id: i.vpc_id.clone(), subnet_id: i.subnet_id.clone(), addresses: Vec::new() };
        let interfaces = if i.interfaces.is_empty() { vec![own] } else { i.interfaces.clone() };
        for iface in interfaces {
            let mut m = Map::new();
            let mut put = |k: &str, v: &Option<String>| {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    m.insert(k.into(), Value::String(v.clone()));
                }
            };
            put("instance_id", &Some(i.id.clone()));
            put("name", &i.name);
            let vpc_id = iface.vpc_id.clone().or_else(|| i.vpc_id.clone());
            put("vpc_id", &vpc_id);
            put("subnet_id", &iface.subnet_id.clone().or_else(|| i.subnet_id.clone()));
            put("image_id", &i.image_id);
            put("interface_id", &iface.id);
            put("az", &i.az);
            let k = self.sides.len() as u32;
            self.sides.push(Side { json: Value::Object(m).to_string(), vpc_id });
            if let Some(id) = &iface.id {
                self.by_eni.insert(id.as_str().into(), k);
            }
            for a in iface.addresses {
                let c = self.by_ip.entry(a).or_default();
                if !c.contains(&k) {
                    c.push(k);
                }
            }
        }
    }

    /// Instance interfaces known.
    pub fn len(&self) -> usize {
        self.sides.len()
    }

    /// Whether nothing is known (no instance, no alias).
    pub fn is_empty(&self) -> bool {
        self.sides.is_empty() && self.alias.is_none()
    }

    /// The enrichment JSON (`{"instance_id":…}`) of the instance interface holding `addr`.
    pub fn describe(&self, addr: IpAddr) -> Option<&str> {
        self.side(addr, None).map(|k| self.sides[k as usize].json.as_str())
    }

    /// The side holding `addr`, preferring the record's own interface `eni`.
    fn side(&self, addr: IpAddr, eni: Option<u32>) -> Option<u32> {
        let cands = self.by_ip.get(&addr)?;
        if let Some(e) = eni.filter(|e| cands.contains(e)) {
            return Some(e);
        }
        if cands.len() > 1
            && let Some(vpc) = eni.and_then(|e| self.sides[e as usize].vpc_id.as_deref())
            && let Some(c) = cands.iter().find(|c| self.sides[**c as usize].vpc_id.as_deref() == Some(vpc))
        {
            return Some(*c);
        }
        cands.first().copied()
    }
}

/// Where `srcaddr`, `dstaddr` and `interface-id` are in a header's field list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Positions {
    src: Option<usize>,
    dst: Option<usize>,
    eni: Option<usize>,
}

impl Positions {
    /// From a header line (field names separated by spaces).
    pub fn of(header: &[u8]) -> Positions {
        let mut p = Positions::default();
        for (i, name) in header.split(|b| b.is_ascii_whitespace()).filter(|t| !t.is_empty()).enumerate() {
            match name {
                b"srcaddr" => p.src = Some(i),
                b"dstaddr" => p.dst = Some(i),
                b"interface-id" => p.eni = Some(i),
                _ => {}
            }
        }
        p
    }

    /// Whether the header names an address at all.
    pub fn any(&self) -> bool {
        self.src.is_some() || self.dst.is_some()
    }
}

/// The three fields of a line at `p`, split without allocating.
fn fields<'a>(line: &'a [u8], p: &Positions) -> [Option<&'a [u8]>; 3] {
    let mut out = [None; 3];
    let last = [p.src, p.dst, p.eni].into_iter().flatten().max();
    let Some(last) = last else { return out };
    for (i, t) in line.split(|b| *b == b' ' || *b == b'\t').filter(|t| !t.is_empty()).enumerate() {
        if Some(i) == p.src {
            out[0] = Some(t);
        }
        if Some(i) == p.dst {
            out[1] = Some(t);
        }
        if Some(i) == p.eni {
            out[2] = Some(t);
        }
        if i >= last {
            break;
        }
    }
    out
}

fn ip(field: Option<&[u8]>) -> Option<IpAddr> {
    std::str::from_utf8(field?).ok()?.parse().ok()
}

/// Pairs of sides whose JSON is kept; past this the pair cache starts over.
const MAX_PAIRS: usize = 1 << 16;
const NONE: u32 = u32::MAX;

/// Enriches the records of one source: the inventory of the object being read, the header's
/// positions, and the JSON of each `(src, dst)` pair seen.
pub struct Enricher {
    inventory: Option<Arc<Inventory>>,
    header: Vec<u8>,
    positions: Positions,
    pairs: HashMap<(u32, u32), Option<Box<[u8]>>>,
}

impl Default for Enricher {
    fn default() -> Self {
        Self::new()
    }
}

impl Enricher {
    /// An enricher with nothing to enrich with yet.
    pub fn new() -> Self {
        Self { inventory: None, header: Vec::new(), positions: Positions::default(), pairs: HashMap::new() }
    }

    /// Uses `inventory` for the next records (`None`: enrich nothing, e.g. another account).
    pub fn set_inventory(&mut self, inventory: Option<Arc<Inventory>>) {
        let same = match (&self.inventory, &inventory) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.pairs.clear();
        }
        self.inventory = inventory.filter(|i| !i.is_empty());
    }

    /// The enrichment JSON of one record (a line of a file whose header is `header`), or
    /// `None` when nothing is known of it.
    pub fn enrich(&mut self, header: &[u8], line: &[u8]) -> Option<&[u8]> {
        let inv: &Arc<Inventory> = self.inventory.as_ref()?;
        if header != self.header.as_slice() {
            self.header.clear();
            self.header.extend_from_slice(header);
            self.positions = Positions::of(header);
        }
        let (src, dst) = if self.positions.any() {
            let [s, d, e] = fields(line, &self.positions);
            let eni = e.and_then(|e| std::str::from_utf8(e).ok()).and_then(|e| inv.by_eni.get(e).copied());
            (ip(s).and_then(|a| inv.side(a, eni)).unwrap_or(NONE), ip(d).and_then(|a| inv.side(a, eni)).unwrap_or(NONE))
        } else {
            (NONE, NONE)
        };
        if self.pairs.len() >= MAX_PAIRS && !self.pairs.contains_key(&(src, dst)) {
            self.pairs.clear();
        }
        self.pairs
            .entry((src, dst))
            .or_insert_with(|| {
                if src == NONE && dst == NONE && inv.alias.is_none() {
                    return None;
                }
                let mut s = String::from("{");
                let mut sep = "";
                if let Some(a) = &inv.alias {
                    s.push_str(&format!("\"account_alias\":{}", Value::String(a.clone())));
                    sep = ",";
                }
                for (key, side) in [("src", src), ("dst", dst)] {
                    if side != NONE {
                        s.push_str(&format!("{sep}\"{key}\":{}", inv.sides[side as usize].json));
                        sep = ",";
                    }
                }
                s.push('}');
                Some(s.into_bytes().into_boxed_slice())
            })
            .as_deref()
    }
}

#[cfg(feature = "vpc_flow")]
pub use fetch::InventoryCache;

#[cfg(feature = "vpc_flow")]
mod fetch {
    //! The sweep and the process-wide cache.

    use std::{
        collections::{HashMap, HashSet},
        net::IpAddr,
        sync::{Arc, LazyLock, Mutex},
        time::{Duration, Instant},
    };

    use super::{Instance, Interface, Inventory};
    use crate::aws::{AwsError, AwsSession, describe, runtime};

    /// Inventories by connector, account and region, with when they were fetched.
    static CACHE: LazyLock<Mutex<HashMap<String, (Instant, Arc<Inventory>)>>> = LazyLock::new(Default::default);
    /// Connectors already warned about missing enrichment.
    static WARNED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

    /// A source's way to the cached inventories of its connector.
    #[derive(Clone)]
    pub struct InventoryCache {
        /// The connector's session.
        pub session: AwsSession,
        /// The connector's name.
        pub connector: String,
        /// Refresh an inventory older than this.
        pub ttl: Duration,
        /// Instances kept per region.
        pub max_instances: usize,
    }

    impl InventoryCache {
        /// The inventory of `region` of the connector's account, fetched if it is not cached
        /// or older than the TTL.
        pub fn get(&self, region: &str) -> Arc<Inventory> {
            let endpoint = self.session.endpoint("ec2").unwrap_or_default();
            let key = format!("{}\u{1f}{}\u{1f}{region}\u{1f}{endpoint}", self.connector, self.session.account_id);
            // Held while fetching: two sources of one connector fetch once.
            let mut cache = CACHE.lock().expect("not poisoned");
            if let Some((at, inv)) = cache.get(&key)
                && at.elapsed() < self.ttl
            {
                return inv.clone();
            }
            let started = Instant::now();
            let (inv, failures) = self.fetch(region);
            if !failures.is_empty() && WARNED.lock().expect("not poisoned").insert(self.connector.clone()) {
                let what: Vec<String> = failures.iter().map(|e| e.to_string()).collect();
                tracing::warn!(connector = %self.connector, "flow records are written without (part of) their enrichment: {}", what.join("; "));
            }
            if inv.truncated > 0 {
                tracing::warn!(connector = %self.connector, region, kept = inv.len(), left_out = inv.truncated, "more instances than enrich_max_instances; the rest are not enriched");
            }
            tracing::info!(connector = %self.connector, region, interfaces = inv.len(), alias = inv.alias.as_deref().unwrap_or("-"), ms = started.elapsed().as_millis() as u64, "fetched the enrichment inventory");
            let inv = Arc::new(inv);
            cache.insert(key, (Instant::now(), inv.clone()));
            inv
        }

        fn fetch(&self, region: &str) -> (Inventory, Vec<AwsError>) {
            let mut failures = Vec::new();
            let instances = runtime().block_on(instances(&self.session.ec2_in(region), self.max_instances + 1)).unwrap_or_else(|e| {
                failures.push(e);
                Vec::new()
            });
            let alias = runtime().block_on(alias(&self.session.iam())).unwrap_or_else(|e| {
                failures.push(e);
                None
            });
            (Inventory::new(instances, alias, self.max_instances), failures)
        }
    }

    fn ip(s: Option<&str>) -> Option<IpAddr> {
        s?.parse().ok()
    }

    /// Every instance of the region (up to `max`), with its interfaces and their addresses.
    pub async fn instances(ec2: &aws_sdk_ec2::Client, max: usize) -> Result<Vec<Instance>, AwsError> {
        let mut out = Vec::new();
        let mut pages = ec2.describe_instances().max_results(1000).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe(&e, "ec2:DescribeInstances"))?;
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                let Some(id) = i.instance_id() else { continue };
                let mut interfaces: Vec<Interface> = i
                    .network_interfaces()
                    .iter()
                    .map(|n| {
                        let mut addresses: Vec<IpAddr> = Vec::new();
                        addresses.extend(ip(n.private_ip_address()));
                        for p in n.private_ip_addresses() {
                            addresses.extend(ip(p.private_ip_address()));
                            addresses.extend(ip(p.association().and_then(|a| a.public_ip())));
                        }
                        addresses.extend(ip(n.association().and_then(|a| a.public_ip())));
                        addresses.extend(n.ipv6_addresses().iter().filter_map(|a| ip(a.ipv6_address())));
                        addresses.dedup();
                        Interface { id: n.network_interface_id().map(Into::into), vpc_id: n.vpc_id().map(Into::into), subnet_id: n.subnet_id().map(Into::into), addresses }
                    })
                    .collect();
                // The instance's own addresses belong to its primary interface (or one without id).
                let own: Vec<IpAddr> = [ip(i.private_ip_address()), ip(i.public_ip_address())].into_iter().flatten().collect();
                match interfaces.first_mut() {
                    Some(first) => {
                        for a in own {
                            if !first.addresses.contains(&a) {
                                first.addresses.push(a);
                            }
                        }
                    }
                    None => interfaces.push(Interface { id: None, vpc_id: i.vpc_id().map(Into::into), subnet_id: i.subnet_id().map(Into::into), addresses: own }),
                }
                out.push(Instance {
                    id: id.to_string(),
                    name: i.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).map(Into::into),
                    image_id: i.image_id().map(Into::into),
                    az: i.placement().and_then(|p| p.availability_zone()).map(Into::into),
                    vpc_id: i.vpc_id().map(Into::into),
                    subnet_id: i.subnet_id().map(Into::into),
                    interfaces,
                });
                if out.len() >= max {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// The account's alias.
    pub async fn alias(iam: &aws_sdk_iam::Client) -> Result<Option<String>, AwsError> {
        let out = iam.list_account_aliases().send().await.map_err(|e| describe(&e, "iam:ListAccountAliases"))?;
        Ok(out.account_aliases().first().cloned())
    }
}

#[cfg(feature = "vpc_flow")]
pub use fetch::{alias as fetch_alias, instances as fetch_instances};

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Arc<Inventory> {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        let web = Instance {
            id: "i-0web".into(),
            name: Some("web-1".into()),
            image_id: Some("ami-1".into()),
            az: Some("us-east-1a".into()),
            vpc_id: Some("vpc-a".into()),
            subnet_id: Some("subnet-a".into()),
            interfaces: vec![Interface { id: Some("eni-web".into()), vpc_id: Some("vpc-a".into()), subnet_id: Some("subnet-a".into()), addresses: vec![a("10.0.0.5"), a("54.1.2.3"), a("2600:1f18::5")] }],
        };
        // Same private address in another VPC.
        let other = Instance {
            id: "i-0other".into(),
            vpc_id: Some("vpc-b".into()),
            interfaces: vec![Interface { id: Some("eni-other".into()), vpc_id: Some("vpc-b".into()), subnet_id: None, addresses: vec![a("10.0.0.5"), a("10.0.0.9")] }],
            ..Default::default()
        };
        Arc::new(Inventory::new([other, web], Some("prod-main".into()), 10))
    }

    const V2: &[u8] = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

    fn json(e: &mut Enricher, header: &[u8], line: &[u8]) -> Option<Value> {
        e.enrich(header, line).map(|b| serde_json::from_slice(b).unwrap())
    }

    #[test]
    fn sides_by_address_preferring_the_records_own_interface() {
        let mut e = Enricher::new();
        e.set_inventory(Some(inventory()));
        let v = json(&mut e, V2, b"2 123456789012 eni-web 10.0.0.5 10.0.0.9 443 49152 6 10 840 1418530010 1418530070 ACCEPT OK").unwrap();
        assert_eq!(v["account_alias"], "prod-main");
        assert_eq!(v["src"]["instance_id"], "i-0web", "10.0.0.5 is held by the record's own interface: {v}");
        assert_eq!(v["src"]["name"], "web-1");
        assert_eq!(v["src"]["interface_id"], "eni-web");
        assert_eq!((v["src"]["vpc_id"].as_str(), v["src"]["subnet_id"].as_str(), v["src"]["image_id"].as_str(), v["src"]["az"].as_str()), (Some("vpc-a"), Some("subnet-a"), Some("ami-1"), Some("us-east-1a")));
        assert_eq!(v["dst"]["instance_id"], "i-0other");
        assert!(v["dst"].get("name").is_none(), "keys absent when unknown: {v}");
        // Seen from the other instance's interface, 10.0.0.5 is its own.
        let v = json(&mut e, V2, b"2 123456789012 eni-other 10.0.0.5 8.8.8.8 443 49152 6 10 840 1418530010 1418530070 ACCEPT OK").unwrap();
        assert_eq!(v["src"]["instance_id"], "i-0other");
        assert!(v.get("dst").is_none());
        // A public address and IPv6, in a custom field order, double spaces.
        let custom = b"srcaddr  dstaddr interface-id action";
        let v = json(&mut e, custom, b"198.51.100.7  54.1.2.3 eni-web ACCEPT").unwrap();
        assert_eq!((v.get("src"), v["dst"]["instance_id"].as_str()), (None, Some("i-0web")));
        let v = json(&mut e, custom, b"2600:1f18::5 2001:db8::1 - REJECT").unwrap();
        assert_eq!(v["src"]["instance_id"], "i-0web");
        // NODATA: no addresses, only the alias.
        let v = json(&mut e, V2, b"2 123456789012 eni-web - - - - - - - 1431280876 1431280934 - NODATA").unwrap();
        assert_eq!(v, serde_json::json!({"account_alias": "prod-main"}));
    }

    #[test]
    fn the_same_pair_is_the_same_bytes_and_nothing_known_is_none() {
        let mut e = Enricher::new();
        e.set_inventory(Some(inventory()));
        let a = e.enrich(V2, b"2 1 eni-web 10.0.0.5 10.0.0.9 1 2 6 1 1 1 2 ACCEPT OK").unwrap().as_ptr();
        let b = e.enrich(V2, b"2 1 eni-web 10.0.0.5 10.0.0.9 3 4 6 1 1 1 2 ACCEPT OK").unwrap().as_ptr();
        assert_eq!(a, b, "interned per pair");
        let bare = Arc::new(Inventory::new([], None, 10));
        e.set_inventory(Some(bare));
        assert_eq!(e.enrich(V2, b"2 1 eni-web 10.0.0.5 10.0.0.9 1 2 6 1 1 1 2 ACCEPT OK"), None);
        e.set_inventory(None);
        assert_eq!(e.enrich(V2, b"2 1 eni-web 10.0.0.5 10.0.0.9 1 2 6 1 1 1 2 ACCEPT OK"), None);
    }

    #[test]
    fn the_inventory_is_bounded() {
        let many = (0..5).map(|n| Instance { id: format!("i-{n}"), ..Default::default() });
        let inv = Inventory::new(many, None, 3);
        assert_eq!((inv.len(), inv.truncated), (3, 2));
    }
}
