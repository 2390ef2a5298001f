//! The standard Amazon Macie mapper: Macie findings (the `detail` of a `Macie Finding`
//! EventBridge event, the same JSON as the Macie API's `Finding`) → OCSF 1.1.0.
//!
//! **Class, and why.** OCSF's Data Security Finding arrives in 1.2; in 1.1.0 a Macie finding —
//! sensitive data found in an object, or a bucket's policy or settings that weaken it — is a
//! **Detection Finding (2004)**, "a detection or an anomaly", with the bucket and object as its
//! `resources` (Security Hub's OCSF findings carry Macie's the same way).
//!
//! **Attributes.** `finding_info.uid` the finding id (stable across the finding's updates),
//! `title`, `desc`, `types` Macie's finding type (`SensitiveData:S3Object/Personal`,
//! `Policy:IAMUser/S3BucketPublic`, …), `created_time` ← `createdAt`, `modified_time` ←
//! `updatedAt`; for a policy finding `first_seen_time`/`last_seen_time` are the API call's
//! `firstSeen`/`lastSeen`, and `api` is that call (`operation`, `service.name`). `time` is
//! `updatedAt`. Activity Create for the first occurrence (`count` 1), Update after; status
//! Suppressed for an archived finding, else New. Severity from `severity.description`, Macie's
//! three levels: Low (2), Medium (3), High (4). `resources`: the bucket (`uid` its ARN, `name`,
//! type `AWS::S3::Bucket`, `owner` the bucket owner's canonical id and display name) and, for
//! sensitive data findings, the object (`uid` `arn:<partition>:s3:::<bucket>/<key>`, `name` the
//! key, type `AWS::S3::Object`). The sensitive data found, which 1.1.0 has no attribute for, is
//! summarized in `message` (`<title> in s3://<bucket>/<key>: 12 occurrences:
//! PERSONAL_INFORMATION 12 (USA_SOCIAL_SECURITY_NUMBER 10, …)`) and in `unmapped` as one key per category and per
//! detection type, `sensitiveData.<CATEGORY>` and `sensitiveData.<CATEGORY>.<TYPE>` → the
//! count, with `customDataIdentifiers.<name>` for custom identifiers; `unmapped` also keeps
//! `classificationDetails`, `policyDetails` and the other fields with no OCSF home whole.
//! `metadata.uid` is `<finding id>@<updatedAt>`: one row per finding version, the same however
//! often the event is delivered.

use std::collections::BTreeMap;

use serde_json::Value;
use trawl_guest_sdk::{
    ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord,
    ocsf::{self, *},
    time::parse_rfc3339_ms,
};

/// The mapper. Stateless; config is ignored.
pub struct Macie;

#[cfg(feature = "export")]
trawl_guest_sdk::export_mapper!(Macie);

impl Mapper for Macie {
    fn new(_config: &serde_json::Value) -> Result<Self, MapError> {
        Ok(Macie)
    }

    fn manifest() -> Manifest {
        Manifest::new("macie", env!("CARGO_PKG_VERSION"), vec![ClassDecl::of::<DetectionFinding>()])
            .describe("Amazon Macie findings (sensitive data and policy) to OCSF 1.1.0 Detection Finding")
            .ocsf(ocsf::VERSION)
            .for_sources(&["macie"])
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        out.emit(map_record(rec)?);
        Ok(())
    }
}

/// Top-level fields mapped to OCSF attributes (the rest go to `unmapped`).
const MAPPED: &[&str] = &["id", "accountId", "region", "type", "title", "description", "severity", "createdAt", "updatedAt", "archived", "count", "resourcesAffected", "category"];

/// Maps one finding.
pub fn map_record(rec: &RawRecord<'_>) -> Result<DetectionFinding, MapError> {
    let f: Value = serde_json::from_str(rec.text()?).map_err(|e| MapError::new(format!("not a Macie finding (expected a JSON object): {e}")))?;
    let fields = f.as_object().ok_or_else(|| MapError::new("not a Macie finding: expected a JSON object"))?;
    let id = s(&f["id"]).ok_or_else(|| MapError::new("not a Macie finding: no id"))?;
    let kind = s(&f["type"]).ok_or_else(|| MapError::new("a Macie finding without its type"))?;
    let time_of = |v: &Value, at: &str| -> Result<Option<i64>, MapError> {
        match v {
            Value::Null => Ok(None),
            Value::String(t) => parse_rfc3339_ms(t).map(Some).ok_or_else(|| MapError::new(format!("{at}: {t:?} is not a time"))),
            other => Err(MapError::new(format!("{at}: {other} is not a time"))),
        }
    };
    let created = time_of(&f["createdAt"], "createdAt")?;
    let updated = time_of(&f["updatedAt"], "updatedAt")?;
    let severity = match f["severity"]["description"].as_str() {
        Some("Low") => severity::LOW,
        Some("Medium") => severity::MEDIUM,
        Some("High") => severity::HIGH,
        Some(_) => severity::OTHER,
        None => severity::UNKNOWN,
    };
    let activity = match f["count"].as_i64() {
        Some(n) if n > 1 => 2,
        _ => 1,
    };
    let mut e = DetectionFinding::new(updated.or(created).unwrap_or(rec.ingest_time_ms), activity, severity);
    if severity == severity::OTHER {
        e.severity = f["severity"]["description"].as_str().unwrap_or_default().to_string();
    }
    let status = if f["archived"].as_bool() == Some(true) { finding_status::SUPPRESSED } else { finding_status::NEW };
    e.status_id = Some(status);
    e.status = Some(finding_status::name(status).into());

    let call = &f["policyDetails"]["action"]["apiCallDetails"];
    e.finding_info = FindingInfo {
        uid: id.clone(),
        title: s(&f["title"]).unwrap_or_else(|| kind.clone()),
        desc: s(&f["description"]),
        types: Some(vec![kind.clone()]),
        created_time: created,
        modified_time: updated,
        first_seen_time: time_of(&call["firstSeen"], "policyDetails.action.apiCallDetails.firstSeen")?,
        last_seen_time: time_of(&call["lastSeen"], "policyDetails.action.apiCallDetails.lastSeen")?,
        ..Default::default()
    };
    e.api = s(&call["api"]).map(|op| Api { operation: op, service: s(&call["apiServiceName"]).map(|n| Service { name: Some(n) }), ..Default::default() });

    let affected = &f["resourcesAffected"];
    let partition = s(&f["partition"]).unwrap_or_else(|| "aws".into());
    let mut resources = Vec::new();
    let bucket = &affected["s3Bucket"];
    if bucket.is_object() {
        let owner = &bucket["owner"];
        resources.push(ResourceDetails {
            uid: s(&bucket["arn"]),
            name: s(&bucket["name"]),
            type_: Some("AWS::S3::Bucket".into()),
            owner: (owner.is_object()).then(|| User { uid: s(&owner["id"]), name: s(&owner["displayName"]), ..Default::default() }),
            ..Default::default()
        });
    }
    let object = &affected["s3Object"];
    let object_name = s(&object["key"]);
    if object.is_object() {
        let bucket_name = s(&bucket["name"]).or_else(|| s(&object["bucketArn"]).and_then(|a| a.rsplit(':').next().map(str::to_string)));
        resources.push(ResourceDetails {
            uid: match (&bucket_name, &object_name) {
                (Some(b), Some(k)) => Some(format!("arn:{partition}:s3:::{b}/{k}")),
                _ => None,
            },
            name: object_name.clone().or_else(|| s(&object["path"])),
            type_: Some("AWS::S3::Object".into()),
            ..Default::default()
        });
    }
    e.resources = (!resources.is_empty()).then_some(resources);

    let mut unmapped: BTreeMap<String, String> = fields.iter().filter(|(k, _)| !MAPPED.contains(&k.as_str())).map(|(k, v)| (k.clone(), text(v))).collect();
    for k in ["s3Bucket", "s3Object"] {
        if !affected[k].is_null() {
            unmapped.insert(format!("resourcesAffected.{k}"), text(&affected[k]));
        }
    }
    for k in ["count", "category", "archived"] {
        if !f[k].is_null() {
            unmapped.insert(k.into(), text(&f[k]));
        }
    }
    let result = &f["classificationDetails"]["result"];
    let found = sensitive_data(result, &mut unmapped);
    let place = match (s(&bucket["name"]), &object_name) {
        (Some(b), Some(k)) => format!("s3://{b}/{k}"),
        (Some(b), None) => format!("bucket {b}"),
        _ => "the resource".into(),
    };
    e.message = Some(match (found, s(&call["api"])) {
        (Some(summary), _) => format!("{} in {place}: {summary}", e.finding_info.title.trim_end_matches('.')),
        (None, Some(api)) => format!("{} ({kind}), last changed by {api}", e.finding_info.title),
        (None, None) => format!("{} ({kind})", e.finding_info.title),
    });
    e.unmapped = (!unmapped.is_empty()).then_some(unmapped);

    e.cloud = Cloud {
        provider: "AWS".into(),
        region: s(&f["region"]).or_else(|| rec.region.map(str::to_string)),
        account: Some(Account {
            uid: s(&f["accountId"]).or_else(|| rec.aws_account_id.map(str::to_string)),
            name: Some(rec.connector.to_string()),
            type_: Some("AWS Account".into()),
            type_id: Some(10),
        }),
        zone: None,
    };
    e.metadata = Metadata {
        version: ocsf::VERSION.into(),
        product: Product { name: Some("Amazon Macie".into()), vendor_name: "AWS".into(), feature: s(&f["category"]).map(|c| Feature { name: Some(c) }), version: s(&f["schemaVersion"]) },
        uid: Some(format!("{id}@{}", f["updatedAt"].as_str().unwrap_or(""))),
        event_code: Some(kind),
        log_provider: Some("Amazon Macie".into()),
        original_time: s(&f["updatedAt"]),
        profiles: Some(vec!["cloud".into(), "datetime".into()]),
        ..Default::default()
    };
    Ok(e)
}

/// Adds the counts of a classification result to `unmapped` and returns their summary
/// (`12 occurrences: PERSONAL_INFORMATION 12 (USA_SOCIAL_SECURITY_NUMBER 10, NAME 2)`), if any.
fn sensitive_data(result: &Value, unmapped: &mut BTreeMap<String, String>) -> Option<String> {
    let mut total = 0;
    let mut parts = Vec::new();
    for cat in result["sensitiveData"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let Some(name) = s(&cat["category"]) else { continue };
        let detections: Vec<(String, i64)> = cat["detections"].as_array().map(Vec::as_slice).unwrap_or_default().iter().filter_map(|d| Some((s(&d["type"])?, d["count"].as_i64()?))).collect();
        let count = cat["totalCount"].as_i64().unwrap_or_else(|| detections.iter().map(|d| d.1).sum());
        total += count;
        unmapped.insert(format!("sensitiveData.{name}"), count.to_string());
        for (t, n) in &detections {
            unmapped.insert(format!("sensitiveData.{name}.{t}"), n.to_string());
        }
        let inner: Vec<String> = detections.iter().map(|(t, n)| format!("{t} {n}")).collect();
        parts.push(if inner.is_empty() { format!("{name} {count}") } else { format!("{name} {count} ({})", inner.join(", ")) });
    }
    let custom = &result["customDataIdentifiers"];
    let custom_detections: Vec<(String, i64)> = custom["detections"].as_array().map(Vec::as_slice).unwrap_or_default().iter().filter_map(|d| Some((s(&d["name"])?, d["count"].as_i64()?))).collect();
    if !custom_detections.is_empty() {
        let count = custom["totalCount"].as_i64().unwrap_or_else(|| custom_detections.iter().map(|d| d.1).sum());
        total += count;
        for (n, c) in &custom_detections {
            unmapped.insert(format!("customDataIdentifiers.{n}"), c.to_string());
        }
        parts.push(format!("custom data identifiers {count} ({})", custom_detections.iter().map(|(n, c)| format!("{n} {c}")).collect::<Vec<_>>().join(", ")));
    }
    (!parts.is_empty()).then(|| format!("{total} occurrences: {}", parts.join("; ")))
}

/// A non-empty string.
fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// A value as `unmapped` text: a string as itself, anything else as its JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_guest_sdk::testing::record;

    const SENSITIVE: &str = r#"{"schemaVersion":"1.0","id":"3ed3b6b5a2f6d164b917aa1example","accountId":"111122223333","partition":"aws","region":"us-east-1","type":"SensitiveData:S3Object/Personal","title":"The S3 object contains personal information.","description":"The object contains personal information such as first or last names, addresses, or identification numbers.","severity":{"score":2,"description":"Medium"},"createdAt":"2024-09-30T19:54:15.055Z","updatedAt":"2024-09-30T19:54:15.055Z","count":1,"category":"CLASSIFICATION","archived":false,"sample":false,
        "resourcesAffected":{"s3Bucket":{"arn":"arn:aws:s3:::amzn-s3-demo-bucket","name":"amzn-s3-demo-bucket","owner":{"displayName":"johndoe","id":"7009a8971cd538e11f6b6606438875e7c86c5b672f46db45460ddcd087d36c32"}},"s3Object":{"bucketArn":"arn:aws:s3:::amzn-s3-demo-bucket","key":"2024/Sept/customers.csv","path":"amzn-s3-demo-bucket/2024/Sept/customers.csv","extension":"csv","size":10240}},
        "classificationDetails":{"jobId":"3ce05dbb7ec5505def334104bexample","originType":"SENSITIVE_DATA_DISCOVERY_JOB","result":{"status":{"code":"COMPLETE"},"mimeType":"text/csv","sizeClassified":10240,"sensitiveData":[{"category":"PERSONAL_INFORMATION","totalCount":12,"detections":[{"type":"USA_SOCIAL_SECURITY_NUMBER","count":10},{"type":"NAME","count":2}]}],"customDataIdentifiers":{"totalCount":3,"detections":[{"arn":"arn:aws:macie2:us-east-1:111122223333:custom-data-identifier/3c5e","name":"EmployeeID","count":3}]}}}}"#;

    #[test]
    fn a_sensitive_data_finding() {
        let e = map_record(&record(SENSITIVE.as_bytes())).unwrap();
        assert_eq!((e.class_uid, e.activity_id, e.severity_id, e.status_id), (2004, 1, 3, Some(1)));
        assert_eq!(e.finding_info.uid, "3ed3b6b5a2f6d164b917aa1example");
        assert_eq!(e.metadata.uid.as_deref(), Some("3ed3b6b5a2f6d164b917aa1example@2024-09-30T19:54:15.055Z"));
        let r = e.resources.as_ref().unwrap();
        assert_eq!((r[0].uid.as_deref(), r[0].type_.as_deref()), (Some("arn:aws:s3:::amzn-s3-demo-bucket"), Some("AWS::S3::Bucket")));
        assert_eq!(r[0].owner.as_ref().unwrap().name.as_deref(), Some("johndoe"));
        assert_eq!((r[1].uid.as_deref(), r[1].name.as_deref()), (Some("arn:aws:s3:::amzn-s3-demo-bucket/2024/Sept/customers.csv"), Some("2024/Sept/customers.csv")));
        let u = e.unmapped.as_ref().unwrap();
        assert_eq!((u["sensitiveData.PERSONAL_INFORMATION"].as_str(), u["sensitiveData.PERSONAL_INFORMATION.USA_SOCIAL_SECURITY_NUMBER"].as_str(), u["customDataIdentifiers.EmployeeID"].as_str()), ("12", "10", "3"));
        let m = e.message.as_ref().unwrap();
        assert!(m.contains("s3://amzn-s3-demo-bucket/2024/Sept/customers.csv") && m.contains("15 occurrences: PERSONAL_INFORMATION 12 (USA_SOCIAL_SECURITY_NUMBER 10, NAME 2); custom data identifiers 3 (EmployeeID 3)"), "{m}");
    }

    #[test]
    fn a_policy_finding_names_the_call_and_updates_are_updates() {
        let p = r#"{"id":"90b1cd3e0b1d4b0e9e3a1example","accountId":"111122223333","partition":"aws","region":"us-east-1","type":"Policy:IAMUser/S3BucketPublic","title":"The S3 bucket is publicly accessible.","severity":{"score":3,"description":"High"},"createdAt":"2024-09-29T10:00:00Z","updatedAt":"2024-09-30T10:00:00Z","count":2,"category":"POLICY","archived":true,
            "policyDetails":{"action":{"actionType":"AWS_API_CALL","apiCallDetails":{"api":"PutBucketPublicAccessBlock","apiServiceName":"s3.amazonaws.com","firstSeen":"2024-09-29T09:59:00Z","lastSeen":"2024-09-30T09:59:00Z"}},"actor":{"userIdentity":{"type":"IAMUser","iamUser":{"userName":"dev"}}}},
            "resourcesAffected":{"s3Bucket":{"arn":"arn:aws:s3:::amzn-s3-demo-bucket","name":"amzn-s3-demo-bucket"}}}"#;
        let e = map_record(&record(p.as_bytes())).unwrap();
        assert_eq!((e.activity_id, e.severity_id, e.status.as_deref()), (2, 4, Some("Suppressed")));
        assert_eq!(e.api.as_ref().unwrap().operation, "PutBucketPublicAccessBlock");
        assert_eq!((e.finding_info.first_seen_time, e.resources.as_ref().unwrap().len()), (Some(1_727_603_940_000), 1));
        assert!(e.unmapped.unwrap()["policyDetails"].contains("IAMUser"));
    }

    #[test]
    fn bad_findings_are_refused_naming_the_field() {
        let err = |j: &str| map_record(&record(j.as_bytes())).unwrap_err().to_string();
        assert!(err("[]").contains("expected a JSON object"));
        assert!(err(r#"{"type":"x"}"#).contains("no id"));
        assert!(err(&SENSITIVE.replace("\"2024-09-30T19:54:15.055Z\",\"count\"", "\"soon\",\"count\"")).contains("updatedAt: \"soon\" is not a time"));
    }
}
