//! An organization's CloudTrail policy, as a trawl mapper built on the standard one:
//!
//! - events by one of the `privileged_roles` (role names, from the mapper config) or by the
//!   root user are labelled (`metadata.labels`: `privileged-role:<name>` or `root`);
//! - read-only API calls by everyone else are dropped (`drop_read_only`, default true) —
//!   counted as skipped by trawl, not dead-lettered;
//! - everything else is the standard OCSF mapping, unchanged.
//!
//! ```toml
//! [[connectors.sources]]
//! type = "cloudtrail_files"
//! path = "trail"
//! mapper = "examples/custom-mapper/policy-mapper.wasm"
//! mapper_config = { privileged_roles = ["OrganizationAccountAccessRole", "Admin"] }
//! ```
//!
//! Build: `trawl mapper build examples/custom-mapper`. Test: `cargo test -p policy-mapper`
//! and `trawl mapper test policy-mapper.wasm --input samples/trail.json --golden
//! samples/trail.golden.json --config '{"privileged_roles":["RoleToBeAssumed"]}'`.

use serde::Deserialize;
use trawl_guest_sdk::{ClassDecl, Emitter, Manifest, MapError, Mapper, RawRecord, ocsf::{AccountChange, Actor, ApiActivity, Authentication, DetectionFinding}};
use trawl_mapper_cloudtrail::{Event, map_record};

/// The mapper's config table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// IAM role names whose sessions are privileged.
    #[serde(default)]
    pub privileged_roles: Vec<String>,
    /// Drop read-only API calls of unprivileged principals. Default true.
    #[serde(default = "yes")]
    pub drop_read_only: bool,
}

fn yes() -> bool {
    true
}

/// The mapper.
pub struct Policy {
    cfg: PolicyConfig,
}

trawl_guest_sdk::export_mapper!(Policy);

impl Policy {
    /// The label for a privileged actor, if it is one.
    fn privilege(&self, actor: Option<&Actor>, user_type: Option<&str>) -> Option<String> {
        if user_type == Some("Root") {
            return Some("root".into());
        }
        let actor = actor?;
        let arns = [actor.session.as_ref().and_then(|s| s.issuer.as_deref()), actor.user.as_ref().and_then(|u| u.uid.as_deref())];
        self.cfg.privileged_roles.iter().find_map(|role| {
            let hit = arns.iter().flatten().any(|arn| {
                arn.ends_with(&format!(":role/{role}")) || arn.contains(&format!(":assumed-role/{role}/"))
            });
            hit.then(|| format!("privileged-role:{role}"))
        })
    }
}

impl Mapper for Policy {
    fn new(config: &serde_json::Value) -> Result<Self, MapError> {
        let cfg = if config.is_null() {
            PolicyConfig { privileged_roles: vec![], drop_read_only: true }
        } else {
            PolicyConfig::deserialize(config).map_err(|e| MapError::new(format!("policy config: {e}")))?
        };
        Ok(Self { cfg })
    }

    fn manifest() -> Manifest {
        let classes = vec![ClassDecl::of::<ApiActivity>(), ClassDecl::of::<Authentication>(), ClassDecl::of::<AccountChange>(), ClassDecl::of::<DetectionFinding>()];
        Manifest::new("policy", env!("CARGO_PKG_VERSION"), classes)
            .describe("CloudTrail → OCSF, labelling privileged roles and dropping unprivileged reads")
            .ocsf(trawl_guest_sdk::ocsf::VERSION)
    }

    fn map(&mut self, rec: &RawRecord<'_>, out: &mut Emitter) -> Result<(), MapError> {
        match map_record(rec)? {
            Event::ApiActivity(mut e) => {
                let label = self.privilege(Some(&e.actor), e.actor.user.as_ref().and_then(|u| u.type_.as_deref()));
                if label.is_none() && self.cfg.drop_read_only && e.activity_id == 2 {
                    return Ok(());
                }
                if label.as_deref() == Some("root") {
                    trawl_guest_sdk::log!(Info, "root account used: {}", e.api.operation);
                }
                e.metadata.labels = label.map(|l| vec![l]);
                out.emit(e);
            }
            // Sign-ins and IAM changes are always kept.
            Event::Authentication(mut e) => {
                e.metadata.labels = self.privilege(e.actor.as_ref(), e.actor.as_ref().and_then(|a| a.user.as_ref()).and_then(|u| u.type_.as_deref())).map(|l| vec![l]);
                out.emit(e);
            }
            Event::AccountChange(mut e) => {
                e.metadata.labels = self.privilege(e.actor.as_ref(), e.actor.as_ref().and_then(|a| a.user.as_ref()).and_then(|u| u.type_.as_deref())).map(|l| vec![l]);
                out.emit(e);
            }
            Event::DetectionFinding(e) => out.emit(e),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_guest_sdk::testing::map_one;

    fn cfg() -> serde_json::Value {
        serde_json::json!({ "privileged_roles": ["Admin"] })
    }

    fn rec(identity: &str, name: &str, read_only: bool) -> Vec<u8> {
        format!(r#"{{"eventVersion":"1.09","eventTime":"2024-01-15T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"{name}","readOnly":{read_only},"eventID":"e","userIdentity":{identity}}}"#).into_bytes()
    }

    const ADMIN: &str = r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/alice","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/Admin"}}}"#;
    const DEV: &str = r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Dev/bob","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/Dev"}}}"#;
    const ROOT: &str = r#"{"type":"Root","arn":"arn:aws:iam::1:root"}"#;

    #[test]
    fn labels_privileged_roles_and_root() {
        let e = map_one::<Policy, ApiActivity>(&cfg(), &rec(ADMIN, "ListUsers", true)).unwrap();
        assert_eq!(e[0].metadata.labels, Some(vec!["privileged-role:Admin".to_string()]));
        let e = map_one::<Policy, ApiActivity>(&cfg(), &rec(ROOT, "DeleteBucket", false)).unwrap();
        assert_eq!(e[0].metadata.labels, Some(vec!["root".to_string()]));
        let e = map_one::<Policy, AccountChange>(&cfg(), &rec(ROOT, "DeleteUser", false)).unwrap();
        assert_eq!(e[0].metadata.labels, Some(vec!["root".to_string()]));
    }

    #[test]
    fn drops_unprivileged_reads_only() {
        assert!(map_one::<Policy, ApiActivity>(&cfg(), &rec(DEV, "ListUsers", true)).unwrap().is_empty());
        let e = map_one::<Policy, ApiActivity>(&cfg(), &rec(DEV, "DeleteBucket", false)).unwrap();
        assert_eq!((e.len(), e[0].metadata.labels.clone()), (1, None));
        let keep = serde_json::json!({ "drop_read_only": false });
        assert_eq!(map_one::<Policy, ApiActivity>(&keep, &rec(DEV, "ListUsers", true)).unwrap().len(), 1);
    }

    #[test]
    fn bad_config_and_bad_records_are_errors() {
        assert!(Policy::new(&serde_json::json!({ "privileged_role": [] })).is_err(), "typo in a key");
        assert!(map_one::<Policy, ApiActivity>(&cfg(), b"{}").is_err());
    }
}
