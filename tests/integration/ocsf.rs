//! OCSF 1.1.0 conformance, checked against the official schema (`trawl::ocsf::Schema`): the
//! guest SDK's class types (attribute names, Arrow types, required attributes, enum
//! captions), and every row the standard mappers write for the samples.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};
use trawl::{mapper::BatchMapper, ocsf::Schema};
use trawl_guest_sdk::{OcsfEvent, ocsf::{self, AccountChange, ApiActivity, Authentication, DatastoreActivity, DetectionFinding, EntityManagement, NetworkActivity, UserInventoryInfo, VulnerabilityFinding}};

use crate::{
    common::{log_files, raw_batch_of, sample_trail},
    golden::{CONNECTOR, load_builtin, redshift_files, sample_log_batch, vpc_flow_files},
};

fn schema() -> Schema {
    Schema::load(&crate::common::repo().join("ocsf/schema-1.1.0")).unwrap()
}

/// The profiles trawl's standard mappers put on every event.
const PROFILES: &[&str] = &["cloud", "datetime"];

fn fields_of<T: OcsfEvent>() -> Fields {
    Fields::from(T::fields().unwrap())
}

/// Each class type the guest SDK offers matches its class in the schema: every field an
/// attribute of the right Arrow type, every required attribute a non-nullable field, the
/// captions and activity names the schema's. Adding a class to the SDK means adding it here.
#[test]
fn the_sdk_classes_match_the_schema() {
    let s = schema();
    macro_rules! check {
        ($($t:ident),*) => {$({
            let uid = <$t as OcsfEvent>::CLASS_UID as i64;
            assert_eq!(&$t::PROFILES[..2], PROFILES, "{} profiles", stringify!($t));
            let v = s.check_arrow(uid, &fields_of::<$t>(), $t::PROFILES);
            assert!(v.is_empty(), "{}: {}", stringify!($t), v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
            assert_eq!(Some($t::CAPTION), s.class_caption(uid), "{} caption", stringify!($t));
            assert_eq!($t::CATEGORY_UID as i64, uid / 1000, "{} category", stringify!($t));
            let activities = s.class_enum(uid, "activity_id").unwrap();
            for (id, caption) in activities {
                assert_eq!($t::activity_name(*id as i32), caption, "{} activity {id}", stringify!($t));
            }
            let own: Vec<i64> = activities.keys().copied().filter(|id| ![0, 99].contains(id)).collect();
            assert_eq!($t::ACTIVITIES.iter().map(|a| *a as i64).collect::<Vec<_>>(), own, "{} activities", stringify!($t));
            let e = $t::new(1_705_312_862_000, 1, 1);
            assert_eq!(e.type_name, format!("{}: {}", $t::CAPTION, activities[&1]));
            assert_eq!(e.category_name, s.category_caption(uid / 1000).unwrap());
        })*};
    }
    check!(ApiActivity, Authentication, AccountChange, DetectionFinding, NetworkActivity, DatastoreActivity, EntityManagement, VulnerabilityFinding, UserInventoryInfo);
    // The attributes of a profile are only allowed with it: Network Activity's action is
    // security_control's.
    let v = s.check_arrow(4001, &fields_of::<NetworkActivity>(), PROFILES);
    assert!(v.iter().any(|v| v.path == "action_id"), "{v:?}");
    for (id, caption) in s.class_enum(0, "severity_id").unwrap() {
        assert_eq!(ocsf::severity::name(*id as i32), caption, "severity {id}");
    }
    for (id, caption) in s.class_enum(0, "status_id").unwrap() {
        assert_eq!(ocsf::status::name(*id as i32), caption, "status {id}");
    }
    for (id, caption) in s.class_enum(2004, "status_id").unwrap() {
        assert_eq!(ocsf::finding_status::name(*id as i32), caption, "finding status {id}");
    }
    // The SDK's enums of objects and profiles, against the files that define them: the same
    // ids, the same captions.
    let read = |f: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(crate::common::repo().join("ocsf/schema-1.1.0").join(f)).unwrap()).unwrap() };
    let dictionary = read("dictionary.json");
    let enums: [(&str, serde_json::Value, &[(i32, &str)]); 10] = [
        ("action_id", read("profiles/security_control.json")["attributes"]["action_id"].clone(), ocsf::action::ALL),
        ("disposition_id", read("profiles/security_control.json")["attributes"]["disposition_id"].clone(), ocsf::disposition::ALL),
        ("direction_id", dictionary["attributes"]["direction_id"].clone(), ocsf::direction::ALL),
        ("boundary_id", dictionary["attributes"]["boundary_id"].clone(), ocsf::boundary::ALL),
        ("protocol_ver_id", read("objects/network_connection_info.json")["attributes"]["protocol_ver_id"].clone(), ocsf::protocol_ver::ALL),
        ("auth_protocol_id", dictionary["attributes"]["auth_protocol_id"].clone(), ocsf::auth_protocol::ALL),
        ("user type_id", read("objects/user.json")["attributes"]["type_id"].clone(), ocsf::user_type::ALL),
        ("database type_id", read("objects/database.json")["attributes"]["type_id"].clone(), ocsf::database_type::ALL),
        ("databucket type_id", read("objects/databucket.json")["attributes"]["type_id"].clone(), ocsf::databucket_type::ALL),
        ("datastore type_id", read("events/application/datastore_activity.json")["attributes"]["type_id"].clone(), ocsf::datastore_type::ALL),
    ];
    for (what, def, sdk) in enums {
        let mut want: Vec<(i32, String)> = def["enum"].as_object().unwrap_or_else(|| panic!("{what}: no enum")).iter().map(|(id, v)| (id.parse().unwrap(), v["caption"].as_str().unwrap().to_string())).collect();
        want.sort();
        let got: Vec<(i32, String)> = sdk.iter().map(|(id, c)| (*id, c.to_string())).collect();
        assert_eq!(got, want, "{what}");
    }
}

/// The Arrow check fails on each kind of drift, so its passing means something.
#[test]
fn the_arrow_check_catches_each_kind_of_drift() {
    let s = schema();
    let base = fields_of::<ApiActivity>();
    let with = |name: &str, f: Option<Field>| -> Fields {
        let mut v: Vec<Field> = base.iter().map(|f| f.as_ref().clone()).filter(|x| x.name() != name).collect();
        v.extend(f);
        Fields::from(v)
    };
    let cases: Vec<(&str, Fields, &str)> = vec![
        ("unknown attribute", with("verb", Some(Field::new("verb", DataType::Utf8, true))), "verb: is no attribute of api_activity"),
        ("timestamp as text", with("time", Some(Field::new("time", DataType::Utf8, false))), "time: is timestamp_t (Int64 in trawl's Arrow), not Utf8"),
        ("integer as long", with("severity_id", Some(Field::new("severity_id", DataType::Int64, false))), "severity_id: is integer_t (Int32 in trawl's Arrow), not Int64"),
        ("required but nullable", with("api", Some(base.find("api").unwrap().1.as_ref().clone().with_nullable(true))), "api: is required by api_activity, and the type lets it be null"),
        ("required but absent", with("actor", None), "actor: is required by api_activity, and the type has no such field"),
        ("datetime as integer", with("time_dt", Some(Field::new("time_dt", DataType::Int64, true))), "time_dt: is datetime_t: TIMESTAMP(ms, UTC), not Int64"),
        ("unmapped as text", with("unmapped", Some(Field::new("unmapped", DataType::Utf8, true))), "unmapped: is the generic object, written as Map<Utf8, Utf8>, not Utf8"),
        ("object as text", with("cloud", Some(Field::new("cloud", DataType::Utf8, false))), "cloud: is a cloud object (Struct), not Utf8"),
        (
            "nested unknown",
            with("http_request", Some(Field::new("http_request", DataType::Struct(Fields::from(vec![Field::new("agent", DataType::Utf8, true)])), true))),
            "http_request.agent: is no attribute of http_request",
        ),
        (
            "array expected",
            with("resources", Some(Field::new("resources", DataType::Struct(Fields::empty()), true))),
            "resources: is an array of resource_details, not Struct()",
        ),
        (
            "timestamp unit",
            with("time_dt", Some(Field::new("time_dt", DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))), true))),
            "time_dt: is datetime_t: TIMESTAMP(ms, UTC), not Timestamp(µs, \"UTC\")",
        ),
    ];
    assert!(s.check_arrow(6003, &base, PROFILES).is_empty());
    for (what, fields, want) in cases {
        let got: Vec<String> = s.check_arrow(6003, &fields, PROFILES).iter().map(ToString::to_string).collect();
        assert!(got.iter().any(|g| g == want), "{what}: expected {want:?}, got {got:?}");
    }
    // A profile the events do not carry: its attributes are unknown.
    let got: Vec<String> = s.check_arrow(6003, &base, &["datetime"]).iter().map(ToString::to_string).collect();
    assert!(got.contains(&"cloud: is no attribute of api_activity".to_string()), "{got:?}");
}

/// Every row the cloudtrail mapper writes for the sample trail, and every event in its
/// goldens, passes the strict check against the official OCSF 1.1.0 schema.
#[test]
fn every_row_passes_the_schema_check() {
    let schema = trawl::ocsf::Schema::load(&crate::common::repo().join("ocsf/schema-1.1.0")).unwrap();
    let mapper = load_builtin("cloudtrail");
    let mut rows = 0;
    let mut check = |event: &serde_json::Value, at: &str| {
        rows += 1;
        assert_eq!(event["cloud"]["account"]["name"], CONNECTOR, "{at}: the connector's account name is stamped on every event");
        let v = schema.validate(event);
        assert!(v.is_empty(), "{at}: {}\n{event:#}", v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    };
    for f in log_files(&sample_trail()).into_iter().chain(log_files(&crate::golden::variations())) {
        let batch = raw_batch_of(&f, CONNECTOR);
        let mapped = mapper.map(&batch).unwrap();
        for rec in mapped.to_json(&batch).as_array().unwrap() {
            for e in rec["events"].as_array().unwrap() {
                check(e, &f.display().to_string());
            }
        }
    }
    let goldens = ["tests/golden/cloudtrail", "tests/golden/cloudtrail-variations"].map(|d| std::fs::read_dir(crate::common::repo().join(d)).unwrap());
    for g in goldens.into_iter().flatten() {
        let path = g.unwrap().path();
        let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for rec in golden.as_array().unwrap() {
            for e in rec["events"].as_array().unwrap() {
                check(e, &path.display().to_string());
            }
        }
    }
    assert!(rows >= 2 * (11 + 54), "{rows} rows checked");
}

/// Every row the vpc_flow and redshift mappers write for their samples (flow logs enriched as
/// the source enriches them), and every event of their goldens, passes the strict check
/// against the official OCSF 1.1.0 schema, with the profiles each event lists.
#[test]
fn every_vpc_flow_and_redshift_row_passes_the_schema_check() {
    let schema = schema();
    let mut rows = std::collections::BTreeMap::<&str, usize>::new();
    for (mapper, files) in [("vpc_flow", vpc_flow_files()), ("redshift", redshift_files())] {
        let m = load_builtin(mapper);
        for f in files {
            let (batch, _) = sample_log_batch(&f);
            let mapped = m.map(&batch).unwrap();
            for rec in mapped.to_json(&batch).as_array().unwrap() {
                for e in rec["events"].as_array().unwrap() {
                    *rows.entry(mapper).or_default() += 1;
                    assert_eq!(e["cloud"]["account"]["name"], CONNECTOR, "{}", f.display());
                    let v = schema.validate(e);
                    assert!(v.is_empty(), "{} record {}: {}\n{e:#}", f.display(), rec["record_index"], v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
                }
            }
        }
    }
    for dir in ["tests/golden/vpc-flow", "tests/golden/redshift"] {
        for g in std::fs::read_dir(crate::common::repo().join(dir)).unwrap() {
            let path = g.unwrap().path();
            let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for e in golden.as_array().unwrap().iter().flat_map(|r| r["events"].as_array().unwrap()) {
                let v = schema.validate(e);
                assert!(v.is_empty(), "{}: {}", path.display(), v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
            }
        }
    }
    assert!(rows["vpc_flow"] >= 25 && rows["redshift"] >= 20, "{rows:?}");
}
