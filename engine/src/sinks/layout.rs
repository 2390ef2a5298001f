//! Where an output puts each OCSF class: trawl's own directory names, or exactly the layout of
//! an Amazon Security Lake custom source (`ext/<custom source name>/…`).
//!
//! Security Lake takes one OCSF class per custom source, and a custom source name of at most
//! 20 characters (`[\w\-_:.]`): the name goes into the provider's IAM role,
//! `AmazonSecurityLake-Provider-<name>-<region>`, which IAM caps at 64 characters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `layout = "…"` of an `[[outputs]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `<root>/<mapper>_<class name>/region=<r>/accountId=<a>/eventDay=YYYYMMDD/` (the default).
    #[default]
    Trawl,
    /// `<root>/ext/<custom source name>/region=<r>/accountId=<a>/eventDay=YYYYMMDD/`, the
    /// layout of a Security Lake custom source (Parquet only); an unknown account is
    /// `external`, as Security Lake wants for data not from an AWS account.
    SecurityLake,
}

/// The longest custom source name Security Lake accepts.
pub const MAX_SOURCE_NAME_LEN: usize = 20;

/// One OCSF class of one mapper: what an output names a directory after.
#[derive(Debug, Clone, Copy)]
pub struct EventClass<'a> {
    /// The mapper's manifest name (`cloudtrail`).
    pub mapper: &'a str,
    /// OCSF `class_uid` (6003).
    pub uid: i32,
    /// Snake-case class name (`api_activity`).
    pub name: &'a str,
}

impl EventClass<'_> {
    /// trawl's name of the class's source, `<mapper>_<class name>` (`cloudtrail_api_activity`):
    /// the directory of the trawl layout, and the key of `[outputs.source_names]`.
    pub fn trawl_source(&self) -> String {
        format!("{}_{}", self.mapper, self.name)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')
}

/// Whether Security Lake accepts `name` as a custom source name: 1 to 20 characters of
/// `A-Z a-z 0-9 _ - : .`.
pub fn check_source_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a custom source name cannot be empty".into());
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(format!("custom source name {name:?} has {c:?}: Security Lake allows only letters, digits, _ - : and ."));
    }
    let n = name.chars().count();
    if n > MAX_SOURCE_NAME_LEN {
        return Err(format!(
            "custom source name {name:?} has {n} characters: Security Lake allows at most {MAX_SOURCE_NAME_LEN} (the name goes into the IAM role AmazonSecurityLake-Provider-<name>-<region>)"
        ));
    }
    Ok(())
}

/// The default custom source name of a class: `<mapper>_<class_uid>` (`cloudtrail_6003`). A
/// mapper name is cut to fit 20 characters, and characters Security Lake does not allow become
/// `-`, so the name is always valid and the same from run to run.
pub fn default_source_name(mapper: &str, class_uid: i32) -> String {
    let suffix = format!("_{class_uid}");
    let room = MAX_SOURCE_NAME_LEN.saturating_sub(suffix.len());
    let head: String = mapper.chars().map(|c| if is_name_char(c) { c } else { '-' }).take(room).collect();
    let head = head.trim_end_matches(['_', '-', ':', '.']);
    let head = if head.is_empty() { "trawl" } else { head };
    format!("{head}{suffix}")
}

/// Checks `[outputs.source_names]` (trawl source → custom source name) for an output of
/// `layout`: every name valid, no name given twice.
pub fn check_source_names(layout: Layout, names: &BTreeMap<String, String>) -> Result<(), String> {
    if layout != Layout::SecurityLake {
        return match names.keys().next() {
            Some(k) => Err(format!("source_names ({k} = …) only applies to layout = \"security_lake\"")),
            None => Ok(()),
        };
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (source, name) in names {
        check_source_name(name).map_err(|e| format!("source_names.{source}: {e}"))?;
        if let Some(other) = seen.insert(name, source) {
            return Err(format!("source_names gives {name:?} to both {other} and {source}: a Security Lake custom source holds one OCSF class, so each needs its own name"));
        }
    }
    Ok(())
}

/// The directories of one output, resolved once per class and remembered.
#[derive(Debug, Default)]
pub(crate) struct SourceDirs {
    layout: Layout,
    names: BTreeMap<String, String>,
    /// (mapper, class uid, class name, directory relative to the root). A handful of classes:
    /// a scan, and no allocation per batch.
    known: Vec<(String, i32, String, String)>,
}

impl SourceDirs {
    pub(crate) fn new(layout: Layout, names: BTreeMap<String, String>) -> Self {
        Self { layout, names, known: Vec::new() }
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// The account directory of events without an account.
    pub(crate) fn unknown_account(&self) -> &'static str {
        match self.layout {
            Layout::Trawl => "unknown",
            Layout::SecurityLake => "external",
        }
    }

    /// The directory of `class`, relative to the output root. The first time a class is seen
    /// its Security Lake name is checked, and refused if another class has it already.
    pub(crate) fn dir(&mut self, class: EventClass<'_>) -> Result<&str, String> {
        let i = match self.known.iter().position(|(m, u, n, _)| m == class.mapper && *u == class.uid && n == class.name) {
            Some(i) => i,
            None => {
                let source = class.trawl_source();
                let dir = match self.layout {
                    Layout::Trawl => source.clone(),
                    Layout::SecurityLake => {
                        let name = self.names.get(&source).cloned().unwrap_or_else(|| default_source_name(class.mapper, class.uid));
                        check_source_name(&name).map_err(|e| format!("class {source} ({}): {e}", class.uid))?;
                        let dir = format!("ext/{name}");
                        if let Some((m, u, n, _)) = self.known.iter().find(|k| k.3 == dir) {
                            let hint = if self.names.contains_key(&source) { "" } else { " (its default name)" };
                            return Err(format!(
                                "custom source name {name:?}{hint} would hold both {m}_{n} ({u}) and {source} ({}): a Security Lake custom source holds one OCSF class; give each its own name in [outputs.source_names]",
                                class.uid
                            ));
                        }
                        dir
                    }
                };
                self.known.push((class.mapper.to_string(), class.uid, class.name.to_string(), dir));
                self.known.len() - 1
            }
        };
        Ok(&self.known[i].3)
    }

    /// `[outputs.source_names]` keys that name none of `classes` (a typo, most likely).
    pub(crate) fn unused_names<'a>(&'a self, classes: &[EventClass<'_>]) -> Vec<&'a str> {
        let sources: Vec<String> = classes.iter().map(EventClass::trawl_source).collect();
        self.names.keys().filter(|k| !sources.contains(k)).map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: EventClass<'static> = EventClass { mapper: "cloudtrail", uid: 6003, name: "api_activity" };
    const AUTH: EventClass<'static> = EventClass { mapper: "cloudtrail", uid: 3002, name: "authentication" };

    #[test]
    fn default_names_are_mapper_and_class_uid_cut_to_20_valid_characters() {
        assert_eq!(default_source_name("cloudtrail", 6003), "cloudtrail_6003");
        assert_eq!(default_source_name("passthrough", 0), "passthrough_0");
        // Long mapper names are cut; a separator left at the cut is dropped.
        assert_eq!(default_source_name("acme-firewall-normalizer", 4001), "acme-firewall-n_4001");
        assert_eq!(default_source_name("acme-firewall-normalizer", 4001).len(), 20);
        assert_eq!(default_source_name("acme_firewall_-x-yz", 4001), "acme_firewall_4001");
        assert_eq!(default_source_name("my mapper/v2", 6003), "my-mapper-v2_6003");
        // Nothing usable left: a fixed stand-in.
        assert_eq!(default_source_name("", 6003), "trawl_6003");
        assert_eq!(default_source_name("日本語", 1_000_001), "trawl_1000001");
        for (m, u) in [("cloudtrail", 6003), ("a".repeat(64).as_str(), i32::MAX), ("x", i32::MIN), ("ü ü", 2)] {
            let n = default_source_name(m, u);
            assert_eq!(check_source_name(&n), Ok(()), "{n}");
            assert_eq!(n, default_source_name(m, u), "stable");
        }
    }

    #[test]
    fn names_security_lake_refuses_are_refused_saying_why() {
        assert_eq!(check_source_name("trawl-ct-api"), Ok(()));
        assert_eq!(check_source_name("a.b:c_d-E9"), Ok(()));
        assert_eq!(check_source_name(&"x".repeat(20)), Ok(()));
        let err = check_source_name(&"x".repeat(21)).unwrap_err();
        assert!(err.contains("21 characters") && err.contains("at most 20"), "{err}");
        assert!(check_source_name("").unwrap_err().contains("empty"));
        assert!(check_source_name("ct/api").unwrap_err().contains("'/'"));
        assert!(check_source_name("ct api").unwrap_err().contains("' '"));
        assert!(check_source_name("cloudträil").unwrap_err().contains("'ä'"));
    }

    #[test]
    fn source_names_are_checked_at_config_load() {
        let names = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert_eq!(check_source_names(Layout::SecurityLake, &names(&[("cloudtrail_api_activity", "trawl-ct-api")])), Ok(()));
        assert_eq!(check_source_names(Layout::Trawl, &names(&[])), Ok(()));
        let err = check_source_names(Layout::SecurityLake, &names(&[("cloudtrail_api_activity", "trawl-cloudtrail-api-activity")])).unwrap_err();
        assert!(err.contains("source_names.cloudtrail_api_activity") && err.contains("at most 20"), "{err}");
        let err = check_source_names(Layout::SecurityLake, &names(&[("cloudtrail_api_activity", "ct"), ("cloudtrail_authentication", "ct")])).unwrap_err();
        assert!(err.contains("\"ct\" to both cloudtrail_api_activity and cloudtrail_authentication"), "{err}");
        let err = check_source_names(Layout::Trawl, &names(&[("cloudtrail_api_activity", "ct")])).unwrap_err();
        assert!(err.contains("only applies to layout = \"security_lake\""), "{err}");
    }

    #[test]
    fn directories_per_layout_and_clashes_found_when_a_class_first_appears() {
        let mut trawl = SourceDirs::new(Layout::Trawl, BTreeMap::new());
        assert_eq!(trawl.dir(API).unwrap(), "cloudtrail_api_activity");
        assert_eq!(trawl.unknown_account(), "unknown");

        let mut sl = SourceDirs::new(Layout::SecurityLake, BTreeMap::from([("cloudtrail_authentication".to_string(), "trawl-ct-auth".to_string())]));
        assert_eq!(sl.dir(API).unwrap(), "ext/cloudtrail_6003");
        assert_eq!(sl.dir(AUTH).unwrap(), "ext/trawl-ct-auth");
        assert_eq!(sl.dir(API).unwrap(), "ext/cloudtrail_6003", "remembered");
        assert_eq!(sl.unknown_account(), "external");
        assert_eq!(sl.unused_names(&[API, AUTH]), Vec::<&str>::new());
        assert_eq!(sl.unused_names(&[API]), ["cloudtrail_authentication"]);

        // Two long mapper names cut to the same default name: refused, naming both.
        let a = EventClass { mapper: "acme-firewall-normalizer-v1", uid: 4001, name: "network_activity" };
        let b = EventClass { mapper: "acme-firewall-normalizer-v2", uid: 4001, name: "network_activity" };
        assert_eq!(sl.dir(a).unwrap(), "ext/acme-firewall-n_4001");
        let err = sl.dir(b).unwrap_err();
        assert!(err.contains("\"acme-firewall-n_4001\" (its default name)"), "{err}");
        assert!(err.contains("acme-firewall-normalizer-v1_network_activity (4001)") && err.contains("acme-firewall-normalizer-v2_network_activity (4001)"), "{err}");

        // An override that takes a name another class has by default.
        let mut sl = SourceDirs::new(Layout::SecurityLake, BTreeMap::from([("cloudtrail_authentication".to_string(), "cloudtrail_6003".to_string())]));
        sl.dir(API).unwrap();
        assert!(sl.dir(AUTH).unwrap_err().contains("would hold both cloudtrail_api_activity (6003) and cloudtrail_authentication (3002)"));

        // An override invalid by the time a class appears (the config check is bypassed here).
        let mut sl = SourceDirs::new(Layout::SecurityLake, BTreeMap::from([("cloudtrail_api_activity".to_string(), "x".repeat(21))]));
        let err = sl.dir(API).unwrap_err();
        assert!(err.contains("class cloudtrail_api_activity (6003)") && err.contains("at most 20"), "{err}");
    }
}
