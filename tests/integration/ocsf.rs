//! OCSF 1.1.0 conformance of the cloudtrail mapper's output: every row of every class has all
//! required attributes of its class (resolved through `extends`), plus the cloud profile, and
//! the derived ids agree with each other.

use arrow_array::{Array, RecordBatch, cast::AsArray, types::{Int32Type, Int64Type}};
use trawl::mapper::BatchMapper;

use crate::{
    common::{is_null_at, log_files, raw_batch_of, sample_trail},
    golden::{CONNECTOR, load_builtin},
};

/// Required attributes per class in OCSF 1.1.0 (`events/**` with `extends` resolved), plus
/// required attributes of the objects they hold and the cloud profile's `cloud.provider`.
fn required(class_uid: i32) -> &'static [&'static str] {
    match class_uid {
        6003 => &[
            "activity_id", "actor", "api", "api.operation", "category_uid", "class_uid", "metadata", "severity_id",
            "src_endpoint", "time", "type_uid", "metadata.product", "metadata.product.vendor_name", "metadata.version",
            "cloud", "cloud.provider",
        ],
        3002 => &[
            "activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid", "user",
            "metadata.product", "metadata.product.vendor_name", "metadata.version", "cloud", "cloud.provider",
        ],
        other => panic!("no required-attribute list for class {other}"),
    }
}

fn check_rows(class_uid: i32, b: &RecordBatch) {
    for attr in required(class_uid) {
        for i in 0..b.num_rows() {
            assert!(!is_null_at(b, attr, i), "class {class_uid} row {i}: required attribute {attr} is missing");
        }
    }
    let class = b.column_by_name("class_uid").unwrap().as_primitive::<Int32Type>();
    let cat = b.column_by_name("category_uid").unwrap().as_primitive::<Int32Type>();
    let act = b.column_by_name("activity_id").unwrap().as_primitive::<Int32Type>();
    let typ = b.column_by_name("type_uid").unwrap().as_primitive::<Int64Type>();
    let sev = b.column_by_name("severity_id").unwrap().as_primitive::<Int32Type>();
    for i in 0..b.num_rows() {
        assert_eq!(class.value(i), class_uid);
        assert_eq!(cat.value(i), class_uid / 1000, "category_uid");
        assert_eq!(typ.value(i), class_uid as i64 * 100 + act.value(i) as i64, "type_uid = class_uid*100 + activity_id");
        assert!([0, 1, 2, 3, 4, 5, 6, 99].contains(&sev.value(i)), "severity_id {}", sev.value(i));
        assert!(!b.column_by_name("time").unwrap().is_null(i));
    }
    let version = crate::common::strings_at(b, "metadata.version");
    assert!(version.iter().all(|v| v.as_deref() == Some("1.1.0")), "{version:?}");
    let provider = crate::common::strings_at(b, "cloud.provider");
    assert!(provider.iter().all(|v| v.as_deref() == Some("AWS")));
    let account_name = crate::common::strings_at(b, "cloud.account.name");
    assert!(account_name.iter().all(|v| v.as_deref() == Some(CONNECTOR)), "account name stamped on every event");
}

#[test]
fn every_row_has_the_required_attributes_of_its_class() {
    let mapper = load_builtin("cloudtrail");
    let mut seen = std::collections::BTreeSet::new();
    for f in log_files(&sample_trail()) {
        let mapped = mapper.map(&raw_batch_of(&f, CONNECTOR)).unwrap();
        for c in &mapped.classes {
            check_rows(c.class_uid, &c.events);
            seen.insert(c.class_uid);
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![3002, 6003], "both classes are exercised by the sample");
}

#[test]
fn the_checker_catches_a_missing_attribute() {
    // Guard against a checker that passes everything: null out api.operation's parent.
    let mapper = load_builtin("cloudtrail");
    let f = &log_files(&sample_trail())[0];
    let mapped = mapper.map(&raw_batch_of(f, CONNECTOR)).unwrap();
    let b = &mapped.classes.iter().find(|c| c.class_uid == 6003).unwrap().events;
    let idx = b.schema().index_of("api").unwrap();
    let mut cols = b.columns().to_vec();
    cols[idx] = arrow_array::new_null_array(cols[idx].data_type(), b.num_rows());
    let mut fields: Vec<_> = b.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[idx] = fields[idx].clone().with_nullable(true);
    let broken = RecordBatch::try_new(std::sync::Arc::new(arrow_schema::Schema::new(fields)), cols).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_rows(6003, &broken)));
    assert!(r.is_err(), "a row without api must fail the check");
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
        let v = schema.validate(event);
        assert!(v.is_empty(), "{at}: {}\n{event:#}", v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    };
    for f in log_files(&sample_trail()) {
        let batch = raw_batch_of(&f, CONNECTOR);
        let mapped = mapper.map(&batch).unwrap();
        for rec in mapped.to_json(&batch).as_array().unwrap() {
            for e in rec["events"].as_array().unwrap() {
                check(e, &f.display().to_string());
            }
        }
    }
    for g in std::fs::read_dir(crate::common::repo().join("tests/golden/cloudtrail")).unwrap() {
        let path = g.unwrap().path();
        let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for rec in golden.as_array().unwrap() {
            for e in rec["events"].as_array().unwrap() {
                check(e, &path.display().to_string());
            }
        }
    }
    assert!(rows >= 22, "{rows} rows checked");
}
