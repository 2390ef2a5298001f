//! The schema-driven OCSF validator (`trawl::ocsf::Schema`, reading the official 1.1.0 JSON in
//! `ocsf/schema-1.1.0/`): a valid event passes, and each kind of violation is caught — so a
//! check that passes mapper output means something.

use serde_json::{Value, json};
use trawl::ocsf::Schema;

fn schema() -> Schema {
    Schema::load(&crate::common::repo().join("ocsf/schema-1.1.0")).unwrap()
}

/// A minimal API Activity event with every required attribute, written from the schema.
fn api_activity() -> Value {
    json!({
        "activity_id": 1, "activity_name": "Create", "category_uid": 6, "category_name": "Application Activity",
        "class_uid": 6003, "class_name": "API Activity", "type_uid": 600301, "type_name": "API Activity: Create",
        "severity_id": 1, "severity": "Informational", "time": 1_705_312_862_000_i64,
        "metadata": { "version": "1.1.0", "product": { "vendor_name": "AWS", "name": "CloudTrail" }, "profiles": ["cloud"], "uid": "e-1" },
        "actor": { "user": { "name": "Mary_Major", "type_id": 1, "type": "User", "uid": "AIDACKCEVSQ6C2EXAMPLE" } },
        "api": { "operation": "CreateUser", "service": { "name": "iam.amazonaws.com" }, "request": { "uid": "r-1" } },
        "src_endpoint": { "ip": "198.51.100.25" },
        "cloud": { "provider": "AWS", "region": "us-east-1", "account": { "uid": "111122223333", "name": "prod" } },
        "unmapped": { "eventVersion": "1.09" }
    })
}

fn violations(event: &Value) -> Vec<String> {
    schema().validate(event).iter().map(ToString::to_string).collect()
}

#[test]
fn the_schema_loads_with_the_classes_trawl_maps_to() {
    let s = schema();
    assert_eq!(s.version(), "1.1.0");
    for uid in [6003, 3002, 3001, 2004, 2002, 4001, 6005, 5003, 0] {
        assert!(s.has_class(uid), "class {uid}");
    }
    assert!(!s.has_class(2006), "Data Security Finding is not in 1.1.0");
}

#[test]
fn a_valid_event_passes() {
    assert_eq!(violations(&api_activity()), Vec::<String>::new());
    // The datetime profile allows `<timestamp>_dt` as RFC 3339 text.
    let mut e = api_activity();
    e["metadata"]["profiles"] = json!(["cloud", "datetime"]);
    e["time_dt"] = json!("2024-01-15T10:01:02.000Z");
    assert_eq!(violations(&e), Vec::<String>::new());
}

/// Each kind of violation, on an otherwise valid event, with the words the report uses.
#[test]
fn each_kind_of_violation_is_caught() {
    let cases: Vec<(&str, Box<dyn Fn(&mut Value)>, &str)> = vec![
        ("unknown attribute", Box::new(|e| e["api"]["verb"] = json!("x")), "api.verb: is no attribute of api"),
        ("unknown top-level attribute", Box::new(|e| e["eventName"] = json!("x")), "eventName: is no attribute of api_activity"),
        ("timestamp as text", Box::new(|e| e["time"] = json!("2024-01-15T10:01:02Z")), "time: is timestamp_t: integer milliseconds since the epoch, not a string"),
        ("timestamp as float", Box::new(|e| e["time"] = json!(1.7e12)), "time: is timestamp_t: integer milliseconds since the epoch, not a float"),
        ("integer as string", Box::new(|e| e["severity_id"] = json!("1")), "severity_id: is integer_t, not a string"),
        ("boolean as string", Box::new(|e| e["src_endpoint"]["location"] = json!({"is_on_premises": "true"})), "src_endpoint.location.is_on_premises: is boolean_t, not a string"),
        ("class name not the caption", Box::new(|e| e["class_name"] = json!("Api Activity")), "class_name: \"Api Activity\" is not the caption of class_uid (\"API Activity\")"),
        ("type name not the caption", Box::new(|e| e["type_name"] = json!("API Activity: Read")), "type_name: \"API Activity: Read\" is not the caption of type_uid (\"API Activity: Create\")"),
        ("not an ip", Box::new(|e| e["src_endpoint"]["ip"] = json!("AWS Internal")), "src_endpoint.ip: \"AWS Internal\" is not a valid ip_t"),
        ("port out of range", Box::new(|e| e["src_endpoint"]["port"] = json!(70000)), "src_endpoint.port: 70000 is outside port_t's range"),
        ("object as string", Box::new(|e| e["unmapped"] = json!("{\"a\":1}")), "unmapped: is a object object, not a string"),
        ("array expected", Box::new(|e| e["resources"] = json!({"uid": "x"})), "resources: is an array of resource_details, not an object"),
        ("enum value not in the enum", Box::new(|e| e["activity_id"] = json!(7)), "activity_id: 7 is not one of its enum values [0, 1, 2, 3, 4, 99]"),
        ("caption not the enum's", Box::new(|e| e["actor"]["user"]["type"] = json!("IAMUser")), "actor.user.type: \"IAMUser\" is not the caption of type_id = 1 (\"User\")"),
        ("missing required", Box::new(|e| { e.as_object_mut().unwrap().remove("api"); }), "api: is required by api_activity"),
        ("missing required in an object", Box::new(|e| { e["metadata"]["product"].as_object_mut().unwrap().remove("vendor_name"); }), "metadata.product.vendor_name: is required by product"),
        ("at_least_one", Box::new(|e| e["src_endpoint"] = json!({"domain": "iam.amazonaws.com"})), "src_endpoint: network_endpoint needs at least one of ip, uid, name, hostname"),
        ("type_uid", Box::new(|e| e["type_uid"] = json!(600302)), "type_uid: 600302 is not class_uid × 100 + activity_id = 600301"),
        ("category_uid", Box::new(|e| e["category_uid"] = json!(3)), "category_uid: 3 is not the category of class 6003"),
        ("profile not listed", Box::new(|e| e["metadata"]["profiles"] = json!([])), "cloud: belongs to the cloud profile, which metadata.profiles does not list"),
        ("bad datetime", Box::new(|e| { e["metadata"]["profiles"] = json!(["cloud", "datetime"]); e["time_dt"] = json!("15/01/2024"); }), "time_dt: \"15/01/2024\" is not a valid datetime_t"),
        ("unknown class", Box::new(|e| e["class_uid"] = json!(6099)), "class_uid: 6099 is no class of OCSF 1.1.0"),
    ];
    for (what, mutate, want) in cases {
        let mut e = api_activity();
        mutate(&mut e);
        let got = violations(&e);
        assert!(got.iter().any(|v| v.starts_with(want)), "{what}: want {want:?}, got {got:#?}");
    }
    // just_one: Authorize Session holds privileges or a group, not both.
    let mut e = json!({
        "activity_id": 1, "category_uid": 3, "class_uid": 3003, "type_uid": 300301, "severity_id": 1, "time": 1,
        "metadata": { "version": "1.1.0", "product": { "vendor_name": "AWS" } },
        "user": { "name": "a" }, "privileges": ["x"], "group": { "name": "g" }
    });
    assert!(violations(&e).iter().any(|v| v.contains("needs exactly one of privileges, group (2 given)")), "{:#?}", violations(&e));
    e.as_object_mut().unwrap().remove("group");
    assert!(!violations(&e).iter().any(|v| v.contains("exactly one")), "{:#?}", violations(&e));
}

/// `observable.type_id` takes the kinds the types and objects of the schema declare (as the
/// OCSF server computes them), with their captions.
#[test]
fn observable_kinds_come_from_the_types_and_objects() {
    let with = |obs: Value| {
        let mut e = api_activity();
        e["observables"] = obs;
        violations(&e)
    };
    let ok = json!([
        { "name": "src_endpoint.ip", "type_id": 2, "type": "IP Address", "value": "198.51.100.25" },
        { "name": "actor.user.name", "type_id": 4, "type": "User Name", "value": "Mary_Major" },
        { "name": "resources[].uid", "type_id": 10, "type": "Resource UID", "value": "arn:aws:s3:::b" },
        { "name": "actor.user", "type_id": 21, "type": "User" },
    ]);
    assert_eq!(with(ok), Vec::<String>::new());
    let wrong_caption = with(json!([{ "name": "src_endpoint.ip", "type_id": 2, "type": "Hostname" }]));
    assert!(wrong_caption.iter().any(|v| v == "observables[0].type: \"Hostname\" is not the caption of type_id = 2 (\"IP Address\")"), "{wrong_caption:?}");
    let unknown = with(json!([{ "name": "x", "type_id": 77 }]));
    assert!(unknown.iter().any(|v| v.starts_with("observables[0].type_id: 77 is not one of its enum values")), "{unknown:?}");
}
