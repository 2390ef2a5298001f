//! The standard Amazon Inspector mapper: Inspector (v2) findings, as ListFindings returns
//! them (the API reference's `Finding`), → OCSF 1.1.0.
//!
//! **Classes, and why** (OCSF 1.1.0, `events/findings/*.json`):
//!
//! - **Package and code vulnerabilities → Vulnerability Finding (2002)**, "a notification
//!   about weakness in an information system … that could be exploited", the class Security
//!   Hub's OCSF findings use for Inspector. One `vulnerabilities` item per finding (an
//!   Inspector finding is one vulnerability in one resource): `cve` from
//!   `packageVulnerabilityDetails` (`uid` the `vulnerabilityId` — a CVE id, or the advisory's
//!   own id such as `GHSA-…` or `ALAS-…`, which OCSF 1.1.0 has no other home for; `cvss` one
//!   entry per score, `base_score`, `version`, `vector_string` from `scoringVector`, and
//!   `overall_score` Inspector's adjusted score on the entry it was adjusted from;
//!   `created_time`/`modified_time` the vendor's), `severity` the vendor's severity,
//!   `vendor_name` the advisory source, `references` its URLs, `related_vulnerabilities`,
//!   `affected_packages` the vulnerable packages (`fixed_in_version` unless Inspector says
//!   `NotAvailable`; `path` the `filePath`; the package's own `remediation`),
//!   `is_fix_available` from `fixAvailable` (`YES` true, `NO` false, `PARTIAL` — some of the
//!   packages — left unset, the value kept in `unmapped`), `is_exploit_available` from
//!   `exploitAvailable`, `remediation` Inspector's recommendation. A code vulnerability has a
//!   `cwe` (its first CWE) instead of a CVE: OCSF requires one of the two.
//! - **Network reachability → Detection Finding (2004).** An open path to a port is no
//!   vulnerability in OCSF's sense — 1.1.0 requires each vulnerability to have a CVE or a CWE,
//!   and a reachability finding has neither — so it is a finding about the resource, with the
//!   path and ports in `unmapped`.
//!
//! **Every finding:** `finding_info.uid` the finding ARN (stable across updates), `title`,
//! `desc`, `types` the Inspector type, `created_time` and `first_seen_time` `firstObservedAt`,
//! `last_seen_time` `lastObservedAt`, `modified_time` `updatedAt`; `time` is `updatedAt`.
//! `activity_id` Close (3) for a `CLOSED` finding, Create (1) when it was not updated since
//! first observed, else Update (2). `status_id` New (1) for `ACTIVE`, Suppressed (3), Resolved
//! (4) for `CLOSED`; `status_code` Inspector's status. `severity_id` from Inspector's
//! severity: Informational 1, Low 2, Medium 3, High 4, Critical 5, `UNTRIAGED` Unknown (0).
//! The affected resource (`resource` in 2002, `resources` in 2004: `uid` the resource id — an
//! instance id, an image or function ARN —, `type` Inspector's resource type, `name` the
//! instance's `Name` tag, the image's `repository:tag` or the function's name) is the first
//! of the finding's resources; its `details`, `tags` and any further resources are in
//! `unmapped`, as are the top-level fields with no OCSF home (`inspectorScore`,
//! `inspectorScoreDetails`, `epss`, `exploitabilityDetails`, `fixAvailable`, …).
//!
//! **`metadata.uid`** depends on the source's pull mode, which the `inspector` source gives in
//! the unit context (`{"pull_mode": "full"|"unique", "sweep": "<ms>"}`): in `unique` mode a
//! finding is written once, and the uid is its ARN; in `full` mode every run writes every
//! current finding, and the uid is `<ARN>@<sweep>` — distinct per run, the same for a
//! sweep resumed after a crash. Without a context (a file of findings) it is the ARN.

use std::collections::BTreeMap;

use serde_json::Value;
use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
    time::parse_rfc3339_ms,
};

/// The mapper. Stateless; config is ignored.
pub struct Inspector;

#[cfg(feature = "export")]
trawl_guest_sdk::export_mapper!(Inspector);

impl Mapper for Inspector {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Inspector)
    }

    fn manifest() -> Manifest {
        Manifest::new("inspector", env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<VulnerabilityFinding>(), ClassDecl::of::<DetectionFinding>()])
            .describe("Amazon Inspector findings to OCSF 1.1.0: package and code vulnerabilities → Vulnerability Finding, network reachability → Detection Finding")
            .ocsf(ocsf::VERSION)
            .for_sources(&["inspector"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        match map_record(rec)? {
            Event::Vulnerability(e) => out.emit(e),
            Event::Reachability(e) => out.emit(e),
        }
        Ok(())
    }
}

/// One finding as OCSF.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A package or code vulnerability.
    Vulnerability(VulnerabilityFinding),
    /// A network reachability finding.
    Reachability(DetectionFinding),
}

/// Top-level fields mapped to OCSF attributes (the rest go to `unmapped`).
const MAPPED: &[&str] = &[
    "findingArn", "awsAccountId", "type", "title", "description", "remediation", "severity", "firstObservedAt", "lastObservedAt", "updatedAt", "status",
    "resources", "packageVulnerabilityDetails", "exploitAvailable",
];

/// Maps one finding.
pub fn map_record(rec: &RawRecord<'_>) -> Result<Event, MapError> {
    let f: Value = serde_json::from_str(rec.text()?).map_err(|e| MapError::new(format!("not an Inspector finding (expected a JSON object): {e}")))?;
    if !f.is_object() {
        return Err(MapError::new("not an Inspector finding: expected a JSON object"));
    }
    let arn = s(&f["findingArn"]).ok_or_else(|| MapError::new("not an Inspector finding: no findingArn"))?;
    let kind = s(&f["type"]).ok_or_else(|| MapError::new("findingArn present but no type"))?;
    let time_of = |k: &str| -> Result<Option<i64>, MapError> { timestamp(&f[k]).map_err(|why| MapError::new(format!("{k}: {why}"))) };
    let (first, last, updated) = (time_of("firstObservedAt")?, time_of("lastObservedAt")?, time_of("updatedAt")?);
    let time = updated.or(last).or(first).unwrap_or(rec.ingest_time_ms);
    let status = s(&f["status"]);
    let activity = match (status.as_deref(), first, updated) {
        (Some("CLOSED"), _, _) => 3,
        (_, Some(a), Some(b)) if a == b => 1,
        (_, _, None) => 1,
        _ => 2,
    };
    let severity = match s(&f["severity"]).as_deref() {
        Some("INFORMATIONAL") => severity::INFORMATIONAL,
        Some("LOW") => severity::LOW,
        Some("MEDIUM") => severity::MEDIUM,
        Some("HIGH") => severity::HIGH,
        Some("CRITICAL") => severity::CRITICAL,
        Some("UNTRIAGED") | None => severity::UNKNOWN,
        Some(_) => severity::OTHER,
    };
    let status_id = match status.as_deref() {
        Some("ACTIVE") => finding_status::NEW,
        Some("SUPPRESSED") => finding_status::SUPPRESSED,
        Some("CLOSED") => finding_status::RESOLVED,
        Some(_) => finding_status::OTHER,
        None => finding_status::UNKNOWN,
    };
    let title = s(&f["title"]).or_else(|| s(&f["packageVulnerabilityDetails"]["vulnerabilityId"])).unwrap_or_else(|| format!("{kind} finding"));
    let finding_info = FindingInfo {
        uid: arn.clone(),
        title,
        desc: s(&f["description"]),
        types: Some(vec![kind.clone()]),
        created_time: first,
        first_seen_time: first,
        last_seen_time: last,
        modified_time: updated,
        ..Default::default()
    };
    let resources = f["resources"].as_array().map(Vec::as_slice).unwrap_or_default();
    let resource = resources.first().map(resource_details);
    let mut unmapped: BTreeMap<String, String> = f.as_object().expect("an object").iter().filter(|(k, _)| !MAPPED.contains(&k.as_str())).map(|(k, v)| (k.clone(), text(v))).collect();
    match resources {
        [one] => {
            for k in ["details", "tags", "partition"] {
                if !one[k].is_null() {
                    unmapped.insert(format!("resources[0].{k}"), text(&one[k]));
                }
            }
        }
        [] => {}
        _ => {
            unmapped.insert("resources".into(), text(&f["resources"]));
        }
    }
    let unmapped = (!unmapped.is_empty()).then_some(unmapped);
    let cloud = Cloud {
        provider: "AWS".into(),
        region: resources.first().and_then(|r| s(&r["region"])).or_else(|| rec.region.map(str::to_string)),
        account: Some(Account {
            uid: s(&f["awsAccountId"]).or_else(|| rec.aws_account_id.map(str::to_string)),
            name: Some(rec.connector.to_string()),
            type_: Some("AWS Account".into()),
            type_id: Some(10),
        }),
        zone: None,
    };
    let metadata = Metadata {
        version: ocsf::VERSION.into(),
        product: Product { name: Some("Amazon Inspector".into()), vendor_name: "AWS".into(), feature: Some(Feature { name: Some(kind.clone()) }), ..Default::default() },
        uid: Some(metadata_uid(rec, &arn)),
        log_provider: Some("Amazon Inspector".into()),
        original_time: f["updatedAt"].as_str().map(str::to_string).or_else(|| f["updatedAt"].as_f64().map(|n| n.to_string())),
        profiles: Some(vec!["cloud".into(), "datetime".into()]),
        ..Default::default()
    };
    if kind == "NETWORK_REACHABILITY" {
        let mut e = DetectionFinding::new(time, activity, severity);
        e.status_id = Some(status_id);
        e.status = Some(finding_status::name(status_id).into());
        e.status_code = status;
        e.message = Some(e_message(&finding_info));
        e.finding_info = finding_info;
        e.resources = resource.map(|r| vec![r]);
        e.cloud = cloud;
        e.metadata = metadata;
        e.unmapped = unmapped;
        return Ok(Event::Reachability(e));
    }
    let vulnerability = vulnerability(&f, &kind, first, last)?;
    let mut e = VulnerabilityFinding::new(time, activity, severity);
    e.status_id = Some(status_id);
    e.status = Some(finding_status::name(status_id).into());
    e.status_code = status;
    e.message = Some(e_message(&finding_info));
    e.finding_info = finding_info;
    e.vulnerabilities = vec![vulnerability];
    e.resource = resource;
    e.cloud = cloud;
    e.metadata = metadata;
    e.unmapped = unmapped;
    Ok(Event::Vulnerability(e))
}

fn e_message(info: &FindingInfo) -> String {
    info.title.clone()
}

/// `<arn>@<sweep>` in full mode, else the ARN (see the crate docs).
fn metadata_uid(rec: &RawRecord<'_>, arn: &str) -> String {
    let context: Option<Value> = rec.context.and_then(|c| serde_json::from_slice(c).ok());
    match context.as_ref().map(|c| (c["pull_mode"].as_str(), c["sweep"].as_str())) {
        Some((Some("full"), Some(sweep))) => format!("{arn}@{sweep}"),
        _ => arn.to_string(),
    }
}

/// The finding's one vulnerability.
fn vulnerability(f: &Value, kind: &str, first: Option<i64>, last: Option<i64>) -> Result<Vulnerability, MapError> {
    let p = &f["packageVulnerabilityDetails"];
    // Inspector writes "None Provided" for package vulnerabilities: no remediation.
    let remediation = s(&f["remediation"]["recommendation"]["text"]).filter(|t| t != "None Provided").map(|desc| Remediation { desc, references: s(&f["remediation"]["recommendation"]["Url"]).map(|u| vec![u]) });
    let yes_no = |v: &Value| match v.as_str() {
        Some("YES") => Some(true),
        Some("NO") => Some(false),
        _ => None,
    };
    let mut v = Vulnerability {
        title: s(&f["title"]),
        desc: s(&f["description"]),
        is_fix_available: yes_no(&f["fixAvailable"]),
        is_exploit_available: yes_no(&f["exploitAvailable"]),
        first_seen_time: first,
        last_seen_time: last,
        remediation,
        ..Default::default()
    };
    if let Some(id) = s(&p["vulnerabilityId"]) {
        let adjusted = &f["inspectorScoreDetails"]["adjustedCvss"];
        let cvss: Vec<Cvss> = p["cvss"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                let (base, version) = (c["baseScore"].as_f64()?, s(&c["version"])?);
                let is_adjusted = s(&adjusted["version"]).as_deref() == Some(version.as_str()) && s(&adjusted["scoreSource"]) == s(&c["source"]);
                Some(Cvss { base_score: base, version, vector_string: s(&c["scoringVector"]), overall_score: if is_adjusted { adjusted["score"].as_f64() } else { None } })
            })
            .collect();
        let urls = strings(&p["referenceUrls"]);
        let vendor_time = |k: &str| timestamp(&p[k]).map_err(|why| MapError::new(format!("packageVulnerabilityDetails.{k}: {why}")));
        v.cve = Some(Cve { uid: id, cvss: (!cvss.is_empty()).then_some(cvss), created_time: vendor_time("vendorCreatedAt")?, modified_time: vendor_time("vendorUpdatedAt")?, references: urls.clone() });
        v.severity = s(&p["vendorSeverity"]);
        v.vendor_name = s(&p["source"]);
        v.references = match (urls, s(&p["sourceUrl"])) {
            (Some(mut u), Some(src)) if !u.contains(&src) => {
                u.insert(0, src);
                Some(u)
            }
            (None, Some(src)) => Some(vec![src]),
            (u, _) => u,
        };
        v.related_vulnerabilities = strings(&p["relatedVulnerabilities"]);
        let packages: Vec<AffectedPackage> = p["vulnerablePackages"].as_array().map(Vec::as_slice).unwrap_or_default().iter().filter_map(affected_package).collect();
        v.affected_packages = (!packages.is_empty()).then_some(packages);
    }
    if let Some(cwe) = f["codeVulnerabilityDetails"]["cwes"].as_array().and_then(|c| c.first()).and_then(s) {
        v.cwe = Some(Cwe { uid: cwe, caption: None });
    }
    if v.cve.is_none() && v.cwe.is_none() {
        return Err(MapError::new(format!("a {kind} finding with neither packageVulnerabilityDetails.vulnerabilityId nor codeVulnerabilityDetails.cwes: OCSF needs a CVE or a CWE")));
    }
    Ok(v)
}

fn affected_package(p: &Value) -> Option<AffectedPackage> {
    Some(AffectedPackage {
        name: s(&p["name"])?,
        version: s(&p["version"]).unwrap_or_default(),
        epoch: p["epoch"].as_i64().and_then(|e| i32::try_from(e).ok()),
        release: s(&p["release"]),
        architecture: s(&p["arch"]),
        fixed_in_version: s(&p["fixedInVersion"]).filter(|v| v != "NotAvailable"),
        package_manager: s(&p["packageManager"]),
        path: s(&p["filePath"]),
        remediation: s(&p["remediation"]).map(|desc| Remediation { desc, references: None }),
    })
}

/// The affected resource: its id, Inspector's type and a name where the details give one.
fn resource_details(r: &Value) -> ResourceDetails {
    let d = &r["details"];
    let name = match s(&r["type"]).as_deref() {
        Some("AWS_EC2_INSTANCE") => s(&r["tags"]["Name"]),
        Some("AWS_ECR_CONTAINER_IMAGE") => {
            let image = &d["awsEcrContainerImage"];
            s(&image["repositoryName"]).map(|repo| match image["imageTags"].as_array().and_then(|t| t.first()).and_then(s) {
                Some(tag) => format!("{repo}:{tag}"),
                None => match s(&image["imageHash"]) {
                    Some(h) => format!("{repo}@{h}"),
                    None => repo,
                },
            })
        }
        Some("AWS_LAMBDA_FUNCTION") => s(&d["awsLambdaFunction"]["functionName"]),
        _ => None,
    };
    ResourceDetails { uid: s(&r["id"]), name, type_: s(&r["type"]), ..Default::default() }
}

/// A non-empty string.
fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn strings(v: &Value) -> Option<Vec<String>> {
    let list: Vec<String> = v.as_array()?.iter().filter_map(s).collect();
    (!list.is_empty()).then_some(list)
}

/// A value as `unmapped` text: a string as itself, anything else as its JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A timestamp as the API writes it (epoch seconds, with a fraction) or as text (RFC 3339),
/// in ms; absent is `None`.
fn timestamp(v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_f64().filter(|s| s.is_finite() && *s >= 0.0).map(|s| Some((s * 1000.0).round() as i64)).ok_or_else(|| format!("{n} is not a time")),
        Value::String(t) => parse_rfc3339_ms(t).map(Some).ok_or_else(|| format!("{t:?} is not a time")),
        other => Err(format!("{other} is not a time")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_guest_sdk::testing::map_one;

    const FINDING: &str = r#"{"awsAccountId":"111122223333","findingArn":"arn:aws:inspector2:us-east-1:111122223333:finding/0123456789abcdef0123456789abcdef","type":"PACKAGE_VULNERABILITY","title":"CVE-2023-4911 - glibc","description":"A buffer overflow was discovered in the GNU C Library's dynamic loader.","severity":"HIGH","status":"ACTIVE","firstObservedAt":1696464000.0,"lastObservedAt":1696550400.5,"updatedAt":1696550400.5,"fixAvailable":"YES","exploitAvailable":"YES","inspectorScore":7.8,
        "inspectorScoreDetails":{"adjustedCvss":{"score":7.8,"scoreSource":"NVD","version":"3.1","scoringVector":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H","adjustments":[]}},
        "remediation":{"recommendation":{"text":"None Provided"}},
        "resources":[{"type":"AWS_EC2_INSTANCE","id":"i-0123456789abcdef0","partition":"aws","region":"us-east-1","tags":{"Name":"web-1"},"details":{"awsEc2Instance":{"type":"t3.micro","imageId":"ami-0123456789abcdef0","platform":"AMAZON_LINUX_2023"}}}],
        "packageVulnerabilityDetails":{"vulnerabilityId":"CVE-2023-4911","source":"NVD","sourceUrl":"https://nvd.nist.gov/vuln/detail/CVE-2023-4911","vendorSeverity":"HIGH","vendorCreatedAt":1696291200,"referenceUrls":["https://access.redhat.com/security/cve/CVE-2023-4911"],"relatedVulnerabilities":[],
          "cvss":[{"baseScore":7.8,"scoringVector":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H","version":"3.1","source":"NVD"}],
          "vulnerablePackages":[{"name":"glibc","version":"2.34","release":"60.amzn2023","epoch":0,"arch":"X86_64","packageManager":"OS","fixedInVersion":"0:2.34-83.amzn2023.0.1","remediation":"dnf update glibc"},{"name":"glibc-common","version":"2.34","release":"60.amzn2023","arch":"X86_64","packageManager":"OS","fixedInVersion":"NotAvailable"}]}}"#;

    fn vuln(json: &str, context: Option<&[u8]>) -> VulnerabilityFinding {
        let mut r = trawl_guest_sdk::testing::record(json.as_bytes());
        r.context = context;
        let mut e = map_one_record(&r);
        assert_eq!(e.len(), 1);
        e.remove(0)
    }

    fn map_one_record(r: &RawRecord<'_>) -> Vec<VulnerabilityFinding> {
        match map_record(r).unwrap() {
            Event::Vulnerability(e) => vec![e],
            Event::Reachability(_) => Vec::new(),
        }
    }

    #[test]
    fn a_package_vulnerability() {
        let e = vuln(FINDING, None);
        assert_eq!((e.class_uid, e.activity_id, e.severity_id, e.status_id, e.status_code.as_deref()), (2002, 2, 4, Some(1), Some("ACTIVE")));
        assert_eq!((e.time, e.finding_info.first_seen_time, e.finding_info.modified_time), (1_696_550_400_500, Some(1_696_464_000_000), Some(1_696_550_400_500)));
        let v = &e.vulnerabilities[0];
        let cve = v.cve.as_ref().unwrap();
        assert_eq!(cve.uid, "CVE-2023-4911");
        let cvss = &cve.cvss.as_ref().unwrap()[0];
        assert_eq!((cvss.base_score, cvss.version.as_str(), cvss.overall_score), (7.8, "3.1", Some(7.8)));
        assert_eq!((v.severity.as_deref(), v.vendor_name.as_deref(), v.is_fix_available, v.is_exploit_available), (Some("HIGH"), Some("NVD"), Some(true), Some(true)));
        let p = v.affected_packages.as_ref().unwrap();
        assert_eq!((p[0].name.as_str(), p[0].fixed_in_version.as_deref(), p[0].remediation.as_ref().map(|r| r.desc.as_str())), ("glibc", Some("0:2.34-83.amzn2023.0.1"), Some("dnf update glibc")));
        assert_eq!(p[1].fixed_in_version, None, "NotAvailable is no version");
        assert_eq!(v.references.as_ref().unwrap()[0], "https://nvd.nist.gov/vuln/detail/CVE-2023-4911");
        let r = e.resource.as_ref().unwrap();
        assert_eq!((r.uid.as_deref(), r.name.as_deref(), r.type_.as_deref()), (Some("i-0123456789abcdef0"), Some("web-1"), Some("AWS_EC2_INSTANCE")));
        let u = e.unmapped.as_ref().unwrap();
        assert!(u["resources[0].details"].contains("AMAZON_LINUX_2023") && u["inspectorScore"] == "7.8" && u["fixAvailable"] == "YES", "{u:?}");
        assert_eq!(e.metadata.uid.as_deref(), Some("arn:aws:inspector2:us-east-1:111122223333:finding/0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn the_uid_is_per_sweep_in_full_mode_and_per_finding_in_unique_mode() {
        let arn = "arn:aws:inspector2:us-east-1:111122223333:finding/0123456789abcdef0123456789abcdef";
        let full = vuln(FINDING, Some(br#"{"pull_mode":"full","sweep":"1700000000000"}"#));
        assert_eq!(full.metadata.uid, Some(format!("{arn}@1700000000000")));
        let unique = vuln(FINDING, Some(br#"{"pull_mode":"unique","sweep":"1700000000000"}"#));
        assert_eq!(unique.metadata.uid.as_deref(), Some(arn));
    }

    #[test]
    fn status_severity_and_activity() {
        let closed = vuln(&FINDING.replace("\"ACTIVE\"", "\"CLOSED\"").replace("\"severity\":\"HIGH\"", "\"severity\":\"UNTRIAGED\""), None);
        assert_eq!((closed.activity_id, closed.status_id, closed.status.as_deref(), closed.severity_id), (3, Some(4), Some("Resolved"), 0));
        let new = vuln(&FINDING.replace("\"ACTIVE\"", "\"SUPPRESSED\"").replace("\"firstObservedAt\":1696464000.0", "\"firstObservedAt\":1696550400.5"), None);
        assert_eq!((new.activity_id, new.status_id), (1, Some(3)));
    }

    #[test]
    fn a_code_vulnerability_has_a_cwe_and_reachability_is_a_detection() {
        let code = r#"{"findingArn":"arn:aws:inspector2:us-east-1:111122223333:finding/1","awsAccountId":"111122223333","type":"CODE_VULNERABILITY","title":"Log injection","severity":"MEDIUM","status":"ACTIVE","codeVulnerabilityDetails":{"cwes":["CWE-117"],"detectorId":"python/log-injection@v1.0","filePath":{"fileName":"app.py","filePath":"app.py","startLine":10,"endLine":10}},"resources":[{"type":"AWS_LAMBDA_FUNCTION","id":"arn:aws:lambda:us-east-1:111122223333:function:f","details":{"awsLambdaFunction":{"functionName":"f","runtime":"PYTHON_3_11"}}}]}"#;
        let e = vuln(code, None);
        assert_eq!(e.vulnerabilities[0].cwe.as_ref().unwrap().uid, "CWE-117");
        assert_eq!(e.resource.as_ref().unwrap().name.as_deref(), Some("f"));
        let reach = r#"{"findingArn":"arn:aws:inspector2:us-east-1:111122223333:finding/2","awsAccountId":"111122223333","type":"NETWORK_REACHABILITY","title":"Port 22 is reachable from an Internet Gateway","severity":"MEDIUM","status":"ACTIVE","networkReachabilityDetails":{"protocol":"TCP","openPortRange":{"begin":22,"end":22}},"resources":[{"type":"AWS_EC2_INSTANCE","id":"i-1"}]}"#;
        let Event::Reachability(d) = map_record(&trawl_guest_sdk::testing::record(reach.as_bytes())).unwrap() else { panic!() };
        assert_eq!((d.class_uid, d.resources.as_ref().unwrap()[0].uid.as_deref()), (2004, Some("i-1")));
        assert!(d.unmapped.unwrap()["networkReachabilityDetails"].contains("openPortRange"));
        let _ = map_one::<Inspector, DetectionFinding>(&Value::Null, reach.as_bytes()).unwrap();
    }

    #[test]
    fn bad_findings_are_refused_naming_the_field() {
        let err = |j: &str| map_record(&trawl_guest_sdk::testing::record(j.as_bytes())).unwrap_err().to_string();
        assert!(err("[1]").contains("expected a JSON object"));
        assert!(err(r#"{"type":"PACKAGE_VULNERABILITY"}"#).contains("no findingArn"));
        assert!(err(&FINDING.replace("1696464000.0", "\"last week\"")).contains("firstObservedAt: \"last week\" is not a time"));
        assert!(err(r#"{"findingArn":"a","type":"PACKAGE_VULNERABILITY"}"#).contains("OCSF needs a CVE or a CWE"));
    }
}
