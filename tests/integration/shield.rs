//! Source `shield` against the Shield Advanced wire fake (moto has no attacks), with moto
//! answering STS: schema-valid rows, an ongoing attack written again as an Update when it
//! ends, a throttled reply absorbed, exact resumption after kill -9, and `trawl check` saying
//! plainly that an account has no Shield Advanced subscription, or naming the managed policy
//! when denied.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use trawl::mapper::BatchMapper;

use crate::common::{
    Scratch,
    aws::Moto,
    fake_shield::{ShieldFake, sample_attacks, sample_batch},
    runs::{check_row, endpoints, events, kill_at_seeded_moments_then_rerun, moto_config, schema_check, stderr},
};

/// The first two samples (one ended, one ongoing) and `extra` ended copies with their own
/// ids, moved to recent times, some copies sharing a start second; plus the ongoing one's
/// later state (the third sample), moved the same way.
pub(crate) fn recent_attacks(now: f64, extra: usize) -> (Vec<Value>, Value) {
    let samples = sample_attacks();
    let shift = now - 7200.0 - samples[1]["StartTime"].as_f64().unwrap();
    let moved = |a: &Value| {
        let mut a = a.clone();
        for k in ["StartTime", "EndTime"] {
            if let Some(t) = a[k].as_f64() {
                a[k] = json!(t + shift);
            }
        }
        a
    };
    let mut out = vec![moved(&samples[0]), moved(&samples[1])];
    for i in 0..extra {
        let mut a = moved(&samples[0]);
        a["AttackId"] = json!(format!("a1b2c3d4-5678-90ab-cdef-{:012}", i));
        a["StartTime"] = json!(a["StartTime"].as_f64().unwrap() - 60.0 * (i / 2) as f64);
        out.push(a);
    }
    (out, moved(&samples[2]))
}

/// A connector on moto (for STS) with Shield routed to the fake.
fn config(moto: &Moto, sh: &ShieldFake, pipeline: &str) -> String {
    let source = "type = \"shield\"\nsince = \"1d\"\nsettle_seconds = 0\nrequests_per_second = 100";
    moto_config(moto, "shield-account", "eu-west-1", &endpoints("shield", &sh.url()), source, pipeline)
}

fn uid(a: &Value) -> String {
    format!("{}/{}", a["AttackId"].as_str().unwrap(), if a["EndTime"].is_null() { "ongoing" } else { "ended" })
}

#[test]
fn attacks_land_schema_valid_and_an_ongoing_attack_is_written_again_when_it_ends() {
    let moto = Moto::start();
    let now = chrono::Utc::now().timestamp() as f64;
    let (attacks, ended) = recent_attacks(now, 5);
    let sh = ShieldFake::start(attacks.clone(), 2);
    // One throttled reply (ListAttacks' second page): the SDK's retry absorbs it.
    sh.state.lock().unwrap().throttle = vec![2];
    let sc = Scratch::new();
    sc.config(&config(&moto, &sh, ""));
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sh.throttled.load(Ordering::SeqCst), 1);
    assert_eq!(summary.counts.records_read, attacks.len() as u64);
    assert!(summary.counts.reconciles());
    let got = events(&sc.path("out"));
    let mut want: Vec<String> = attacks.iter().map(uid).collect();
    want.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want);
    schema_check(got.values());
    for e in got.values() {
        assert_eq!((e["class_uid"].as_i64(), e["activity_name"].as_str()), (Some(2004), Some("Create")));
    }
    let ongoing = &got[&uid(&attacks[1])];
    assert!(ongoing["end_time"].is_null() && ongoing["message"].as_str().unwrap().ends_with("is going on"), "{ongoing}");
    assert!(sh.state.lock().unwrap().seen.iter().all(|(op, _)| op == "ListAttacks" || op == "DescribeAttack"), "a run calls only ListAttacks and DescribeAttack");

    // The ongoing attack ends, and a new one starts. The rerun describes the ongoing one again
    // and writes it as an Update, then the new one; nothing else.
    let new = {
        let mut st = sh.state.lock().unwrap();
        let i = st.attacks.iter().position(|a| a["AttackId"] == ended["AttackId"]).unwrap();
        st.attacks[i] = ended.clone();
        let mut new = attacks[0].clone();
        new["AttackId"] = json!("a1b2c3d4-5678-90ab-cdef-EXAMPLE33333");
        new["StartTime"] = json!(now - 30.0);
        new["EndTime"] = Value::Null;
        st.attacks.push(new.clone());
        new
    };
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 2, "the attack that ended and the new one");
    let got = events(&sc.path("out"));
    assert_eq!(got.len(), attacks.len() + 2);
    let update = &got[&uid(&ended)];
    assert_eq!(update["activity_name"], "Update");
    assert_eq!(update["finding_info"]["uid"], ongoing["finding_info"]["uid"], "the same attack");
    assert_eq!(update["end_time"].as_i64(), Some((ended["EndTime"].as_f64().unwrap() * 1000.0).round() as i64));
    assert_eq!(got[&uid(&new)]["activity_name"], "Create");
    let last_list = sh.state.lock().unwrap().seen.iter().rev().find(|(op, _)| op == "ListAttacks").unwrap().1.clone();
    assert!(last_list["StartTime"]["FromInclusive"].as_f64().unwrap() >= attacks[1]["StartTime"].as_f64().unwrap().floor(), "resumed from the cursor: {last_list}");

    // The new attack is still going on: the next run describes it again, writes nothing until
    // it ends, then writes its end once.
    let (out, summary) = sc.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary.counts.records_read, 0);
    sh.state.lock().unwrap().attacks.last_mut().unwrap()["EndTime"] = json!(now - 5.0);
    let (_, summary) = sc.run();
    assert_eq!(summary.counts.records_read, 1);
    let (_, summary) = sc.run();
    assert_eq!(summary.counts.records_read, 0, "an ended attack is not described again");
    assert_eq!(events(&sc.path("out")).len(), attacks.len() + 3);
}

#[test]
fn a_kill_at_any_moment_then_a_rerun_gives_every_attack_exactly_once() {
    let moto = Moto::start();
    let (attacks, _) = recent_attacks(chrono::Utc::now().timestamp() as f64, 22);
    let sh = ShieldFake::start(attacks.clone(), 5);
    let mut want: Vec<String> = attacks.iter().map(uid).collect();
    want.sort();
    let config = || config(&moto, &sh, "commit_every_records = 2\nbatch_rows = 2");
    kill_at_seeded_moments_then_rerun("shield", 0x5_41e1d, std::time::Duration::from_millis(1200), attacks.len(), config, |d| sh.state.lock().unwrap().delay = d, |trial, after| {
        assert_eq!(after.keys().cloned().collect::<Vec<_>>(), want, "trial {trial}: every attack once, by its uid");
    });
}

#[test]
fn check_says_plainly_when_there_is_no_subscription_and_names_the_policy_when_denied() {
    let moto = Moto::start();
    let (attacks, _) = recent_attacks(chrono::Utc::now().timestamp() as f64, 0);
    let sh = ShieldFake::start(attacks, 10);
    let sc = Scratch::new();
    sc.config(&config(&moto, &sh, ""));
    let (code, r) = check_row(&sc, "shield");
    assert_eq!(code, Some(0), "{r}");
    assert!(r["detail"].as_str().unwrap().contains("subscription active"), "{r}");

    sh.state.lock().unwrap().subscribed = false;
    let (code, r) = check_row(&sc, "shield");
    assert_eq!(code, Some(1));
    assert_eq!((r["ok"].as_bool(), r["code"].as_str()), (Some(false), Some("NoSubscription")), "{r}");
    assert!(r["detail"].as_str().unwrap().starts_with("this account has no Shield Advanced subscription"), "{r}");
    assert!(r.get("permission").is_none(), "not a denial: {r}");

    sh.state.lock().unwrap().subscribed = true;
    sh.state.lock().unwrap().deny = true;
    let (code, r) = check_row(&sc, "shield");
    assert_eq!(code, Some(1));
    assert!(r["permission"].as_str().unwrap().contains("AWSShieldDRTAccessPolicy (or shield:DescribeSubscription, shield:ListAttacks, shield:DescribeAttack): shield:DescribeSubscription denied"), "{r}");
    // A denied run keeps the cursor where it was and says so.
    let (out, summary) = sc.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(summary.counts.objects_retry_later, 1);
    assert!(summary.sources[0].error.as_deref().unwrap().contains("AWSShieldDRTAccessPolicy"), "{:?}", summary.sources[0].error);
}

/// The samples through the embedded mapper: every row passes the strict schema check; the
/// ongoing attack and its end are a Create and an Update of one finding.
#[test]
fn the_mapper_maps_every_sample_by_the_schema() {
    let batch = sample_batch("shield-account");
    let mapped = crate::golden::load_builtin("shield").map(&batch).unwrap();
    let rows = mapped.to_json(&batch);
    let events: Vec<&Value> = rows.as_array().unwrap().iter().map(|r| {
        assert_eq!(r["status"], "ok", "{r}");
        &r["events"][0]
    }).collect();
    assert_eq!(events.len(), 3);
    schema_check(events.iter().copied());
    let summary: Vec<(&str, &str)> = events.iter().map(|e| (e["activity_name"].as_str().unwrap(), e["metadata"]["uid"].as_str().unwrap())).collect();
    assert_eq!(summary, [("Create", "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111/ended"), ("Create", "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222/ongoing"), ("Update", "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222/ended")]);
    assert_eq!(events[0]["resources"][0]["type"], "AwsCloudFrontDistribution");
    assert_eq!(events[1]["resources"][0]["type"], "AwsElbv2LoadBalancer");
    assert_eq!(events[1]["finding_info"]["types"], json!(["UDP_REFLECTION", "DNS_REFLECTION"]));
    assert_eq!(events[0]["evidences"][1]["src_endpoint"]["ip"], "198.51.100.5", "the top source address");
}
