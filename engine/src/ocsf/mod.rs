//! A strict check of OCSF events against the official schema's own JSON files (the ones in
//! `ocsf/schema-1.1.0/`), not a hand-copied list: classes and objects with `extends`,
//! `$include` and profiles resolved, and for every attribute of an event — recursively — its
//! name in its class or object, its type (`timestamp_t` integer milliseconds, `ip_t` a real
//! address, integers, floats, booleans, strings, arrays, objects), enum values and the
//! captions of their siblings, required attributes, and the `at_least_one` / `just_one`
//! constraints. The test suite runs it over every row the standard mappers write.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

/// One attribute as a class or object declares it, merged with the dictionary.
#[derive(Debug, Clone)]
struct Attr {
    /// A type of the dictionary's `types` (`string_t`, …) or an object name.
    ty: String,
    is_array: bool,
    required: bool,
    /// Enum values by id, with captions.
    enums: Option<BTreeMap<i64, String>>,
    /// The attribute naming the enum's value (`activity_id` → `activity_name`).
    sibling: Option<String>,
    /// The profile that brings it, when only that profile allows it.
    profile: Option<String>,
}

/// A class or an object: its attributes and constraints, `extends` resolved.
#[derive(Debug, Clone, Default)]
struct Shape {
    name: String,
    caption: String,
    attrs: BTreeMap<String, Attr>,
    at_least_one: Vec<Vec<String>>,
    just_one: Vec<Vec<String>>,
}

/// One thing wrong with an event, at a dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: `src_endpoint.ip`, `resources[0].uid`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", if self.path.is_empty() { "(event)" } else { &self.path }, self.message)
    }
}

/// The OCSF schema of one version, loaded from its JSON files.
pub struct Schema {
    version: String,
    types: Map<String, Value>,
    classes: HashMap<i64, Shape>,
    objects: HashMap<String, Shape>,
    /// Category captions by uid.
    categories: HashMap<i64, String>,
}

fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Merges `child` over `parent` attribute by attribute (fields of the child win).
fn merge(parent: &Map<String, Value>, child: &Map<String, Value>) -> Map<String, Value> {
    let mut out = parent.clone();
    for (k, v) in child {
        match (out.get_mut(k), v) {
            (Some(Value::Object(p)), Value::Object(c)) => {
                for (ck, cv) in c {
                    p.insert(ck.clone(), cv.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

impl Schema {
    /// Loads the schema in `dir` (with `dictionary.json`, `categories.json`, `events/`,
    /// `objects/`, `profiles/`, `includes/`).
    pub fn load(dir: &Path) -> Result<Schema, String> {
        let dict = read(&dir.join("dictionary.json"))?;
        let version = read(&dir.join("version.json"))?["version"].as_str().unwrap_or("").to_string();
        let dict_attrs = dict["attributes"].as_object().cloned().unwrap_or_default();
        let types = dict["types"]["attributes"].as_object().cloned().unwrap_or_default();
        let categories = read(&dir.join("categories.json"))?["attributes"].as_object().cloned().unwrap_or_default();
        let files = |sub: &str| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir.join(sub)).into_iter().filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "json")).map(|e| e.into_path()).collect();
            v.sort();
            v
        };
        // Raw definitions by name, before `extends` and `$include`.
        let mut raw_objects: HashMap<String, Value> = HashMap::new();
        for f in files("objects") {
            let v = read(&f)?;
            raw_objects.insert(v["name"].as_str().unwrap_or("").to_string(), v);
        }
        let mut raw_events: HashMap<String, Value> = HashMap::new();
        for f in files("events") {
            let v = read(&f)?;
            raw_events.insert(v["name"].as_str().unwrap_or("").to_string(), v);
        }
        let s = Loader { dir, dict: &dict_attrs };
        let mut objects = HashMap::new();
        for name in raw_objects.keys() {
            objects.insert(name.clone(), s.shape(name, &raw_objects)?);
        }
        // `observable.type_id` lists only Unknown and Other in the files: the OCSF server adds
        // a value per type and object that declares `observable` (ip_t → 2 "IP Address",
        // user → 21 "User"), and so does this.
        let observable_kinds: Vec<(i64, String)> = types
            .values()
            .chain(raw_objects.values())
            .filter_map(|d| Some((d.get("observable")?.as_i64()?, d.get("caption")?.as_str()?.to_string())))
            .collect();
        if let Some(enums) = objects.get_mut("observable").and_then(|o| o.attrs.get_mut("type_id")).and_then(|a| a.enums.as_mut()) {
            enums.extend(observable_kinds);
        }
        let mut classes = HashMap::new();
        for (name, v) in &raw_events {
            // Abstract category classes (`application`, `iam`, …) have no uid; the base event is 0.
            let uid = match v["uid"].as_i64() {
                Some(u) => u,
                None if name == "base_event" => 0,
                None => continue,
            };
            let cat = v["category"].as_str().or_else(|| s.inherited(name, &raw_events, "category")).unwrap_or("other");
            let cat_uid = categories.get(cat).and_then(|c| c["uid"].as_i64()).unwrap_or(0);
            let class_uid = if name == "base_event" { 0 } else { cat_uid * 1000 + uid };
            classes.insert(class_uid, s.shape(name, &raw_events)?);
        }
        let categories = categories.values().filter_map(|c| Some((c["uid"].as_i64()?, c["caption"].as_str()?.to_string()))).collect();
        Ok(Schema { version, types, classes, objects, categories })
    }

    /// The schema version (`1.1.0`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the schema has the class.
    pub fn has_class(&self, class_uid: i64) -> bool {
        self.classes.contains_key(&class_uid)
    }

    /// Everything wrong with one event (empty: valid).
    pub fn validate(&self, event: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        let v = |path: &str, message: String| Violation { path: path.to_string(), message };
        let Some(obj) = event.as_object() else {
            return vec![v("", "an event is a JSON object".into())];
        };
        let Some(class_uid) = obj.get("class_uid").and_then(Value::as_i64) else {
            return vec![v("class_uid", "missing or not an integer".into())];
        };
        let Some(class) = self.classes.get(&class_uid) else {
            return vec![v("class_uid", format!("{class_uid} is no class of OCSF {}", self.version))];
        };
        let profiles: Vec<String> = obj.get("metadata").and_then(|m| m.get("profiles")).and_then(Value::as_array).map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect()).unwrap_or_default();
        if let (Some(act), Some(ty)) = (obj.get("activity_id").and_then(Value::as_i64), obj.get("type_uid").and_then(Value::as_i64))
            && ty != class_uid * 100 + act
        {
            out.push(v("type_uid", format!("{ty} is not class_uid × 100 + activity_id = {}", class_uid * 100 + act)));
        }
        if let Some(cat) = obj.get("category_uid").and_then(Value::as_i64)
            && cat != class_uid / 1000
        {
            out.push(v("category_uid", format!("{cat} is not the category of class {class_uid} ({})", class_uid / 1000)));
        }
        // The names beside the ids are their captions.
        let named = |id: &str, name: &str, want: Option<String>, out: &mut Vec<Violation>| {
            if let (Some(got), Some(want)) = (obj.get(name).and_then(Value::as_str), want)
                && got != want
                && obj.get(id).is_some()
            {
                out.push(v(name, format!("{got:?} is not the caption of {id} ({want:?})")));
            }
        };
        named("class_uid", "class_name", Some(class.caption.clone()), &mut out);
        named("category_uid", "category_name", self.categories.get(&(class_uid / 1000)).cloned(), &mut out);
        let activity = obj.get("activity_id").and_then(Value::as_i64).and_then(|a| class.attrs.get("activity_id")?.enums.as_ref()?.get(&a).cloned());
        if obj.get("activity_id").and_then(Value::as_i64) != Some(99) {
            named("type_uid", "type_name", activity.map(|a| format!("{}: {a}", class.caption)), &mut out);
        }
        self.check_object(class, obj, "", &profiles, &mut out);
        out
    }

    /// The caption of a class (`API Activity`).
    pub fn class_caption(&self, class_uid: i64) -> Option<&str> {
        self.classes.get(&class_uid).map(|c| c.caption.as_str())
    }

    /// The caption of a category (`Application Activity`).
    pub fn category_caption(&self, category_uid: i64) -> Option<&str> {
        self.categories.get(&category_uid).map(String::as_str)
    }

    /// The enum of a class attribute (`activity_id`), ids with captions, the dictionary's
    /// values (0 Unknown, 99 Other) included.
    pub fn class_enum(&self, class_uid: i64, attr: &str) -> Option<&BTreeMap<i64, String>> {
        self.classes.get(&class_uid)?.attrs.get(attr)?.enums.as_ref()
    }

    /// Everything wrong with the Arrow schema of a class's events, as a mapper declares it:
    /// each field an attribute of its class or object (any profile's), of the Arrow type
    /// trawl writes for its OCSF type (`integer_t` Int32, `long_t` and `timestamp_t` Int64,
    /// strings Utf8, `boolean_t` Boolean, `float_t` Float64, `json_t` Utf8 holding JSON,
    /// `*_dt` TIMESTAMP(ms, UTC), objects Struct, the generic `object` Map<Utf8, Utf8>, arrays
    /// List), and every required attribute present and not nullable. Attributes of profiles
    /// not in `profiles` count as unknown.
    pub fn check_arrow(&self, class_uid: i64, fields: &arrow_schema::Fields, profiles: &[&str]) -> Vec<Violation> {
        let mut out = Vec::new();
        let profiles: Vec<String> = profiles.iter().map(|p| p.to_string()).collect();
        match self.classes.get(&class_uid) {
            Some(class) => self.check_arrow_shape(class, fields, "", &profiles, &mut out),
            None => out.push(Violation { path: "class_uid".into(), message: format!("{class_uid} is no class of OCSF {}", self.version) }),
        }
        out
    }

    fn check_arrow_shape(&self, shape: &Shape, fields: &arrow_schema::Fields, at: &str, profiles: &[String], out: &mut Vec<Violation>) {
        use arrow_schema::{DataType, TimeUnit};
        let path = |k: &str| if at.is_empty() { k.to_string() } else { format!("{at}.{k}") };
        let allowed = |a: &&Attr| a.profile.as_ref().is_none_or(|p| profiles.contains(p));
        for f in fields {
            let k = f.name();
            let attr = match shape.attrs.get(k).filter(allowed) {
                Some(a) => a,
                None => {
                    let is_dt = k.strip_suffix("_dt").and_then(|b| shape.attrs.get(b)).is_some_and(|a| a.ty == "timestamp_t");
                    if !is_dt {
                        out.push(Violation { path: path(k), message: format!("is no attribute of {}", shape.name) });
                    } else if !matches!(f.data_type(), DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if ["UTC", "+00:00"].contains(&tz.as_ref())) {
                        out.push(Violation { path: path(k), message: format!("is datetime_t: TIMESTAMP(ms, UTC), not {}", f.data_type()) });
                    }
                    continue;
                }
            };
            let mut dt = f.data_type();
            if attr.is_array {
                match dt {
                    DataType::List(item) => dt = item.data_type(),
                    other => {
                        out.push(Violation { path: path(k), message: format!("is an array of {}, not {other}", attr.ty) });
                        continue;
                    }
                }
            }
            if attr.ty == "object" {
                let is_text_map = matches!(dt, DataType::Map(e, _) if matches!(e.data_type(), DataType::Struct(kv) if kv.len() == 2 && kv.iter().all(|f| f.data_type() == &DataType::Utf8)));
                if !is_text_map {
                    out.push(Violation { path: path(k), message: format!("is the generic object, written as Map<Utf8, Utf8>, not {dt}") });
                }
                continue;
            }
            if let Some(obj) = self.objects.get(&attr.ty) {
                match dt {
                    DataType::Struct(children) => self.check_arrow_shape(obj, children, &path(k), profiles, out),
                    other => out.push(Violation { path: path(k), message: format!("is a {} object (Struct), not {other}", attr.ty) }),
                }
                continue;
            }
            let want = match self.base_type(&attr.ty).as_str() {
                "integer_t" => DataType::Int32,
                "long_t" => DataType::Int64,
                "float_t" => DataType::Float64,
                "boolean_t" => DataType::Boolean,
                _ => DataType::Utf8,
            };
            if dt != &want {
                out.push(Violation { path: path(k), message: format!("is {} ({want} in trawl's Arrow), not {dt}", attr.ty) });
            }
        }
        for (k, a) in &shape.attrs {
            if !a.required || !allowed(&a) {
                continue;
            }
            match fields.iter().find(|f| f.name() == k) {
                None => out.push(Violation { path: path(k), message: format!("is required by {}, and the type has no such field", shape.name) }),
                Some(f) if f.is_nullable() => out.push(Violation { path: path(k), message: format!("is required by {}, and the type lets it be null", shape.name) }),
                Some(_) => {}
            }
        }
    }

    fn check_object(&self, shape: &Shape, obj: &Map<String, Value>, at: &str, profiles: &[String], out: &mut Vec<Violation>) {
        let path = |k: &str| if at.is_empty() { k.to_string() } else { format!("{at}.{k}") };
        let allowed = |a: &Attr| a.profile.as_ref().is_none_or(|p| profiles.contains(p));
        for (k, val) in obj {
            let attr = shape.attrs.get(k).filter(|a| allowed(a));
            let attr = match attr {
                Some(a) => a,
                None => {
                    // The datetime profile adds `<name>_dt` for every timestamp attribute.
                    if let Some(base) = k.strip_suffix("_dt")
                        && profiles.iter().any(|p| p == "datetime")
                        && shape.attrs.get(base).is_some_and(|a| a.ty == "timestamp_t")
                    {
                        self.check_value("datetime_t", false, val, &path(k), profiles, out);
                        continue;
                    }
                    let why = match shape.attrs.get(k).and_then(|a| a.profile.as_ref()) {
                        Some(p) => format!("belongs to the {p} profile, which metadata.profiles does not list"),
                        None => format!("is no attribute of {}", shape.name),
                    };
                    out.push(Violation { path: path(k), message: why });
                    continue;
                }
            };
            if val.is_null() {
                continue;
            }
            self.check_value(&attr.ty, attr.is_array, val, &path(k), profiles, out);
            if let (Some(enums), Some(id)) = (&attr.enums, val.as_i64()) {
                match enums.get(&id) {
                    None => out.push(Violation { path: path(k), message: format!("{id} is not one of its enum values {:?}", enums.keys().collect::<Vec<_>>()) }),
                    Some(caption) => {
                        // The sibling holds the caption, except for Other (99), where it holds
                        // the source's own value.
                        if let Some(sib) = &attr.sibling
                            && id != 99
                            && let Some(name) = obj.get(sib).and_then(Value::as_str)
                            && name != caption
                        {
                            out.push(Violation { path: path(sib), message: format!("{name:?} is not the caption of {k} = {id} ({caption:?})") });
                        }
                    }
                }
            }
        }
        for (k, a) in &shape.attrs {
            if a.required && allowed(a) && obj.get(k).is_none_or(Value::is_null) {
                out.push(Violation { path: path(k), message: format!("is required by {}", shape.name) });
            }
        }
        let present = |k: &String| obj.get(k).is_some_and(|v| !v.is_null());
        for group in &shape.at_least_one {
            if !group.iter().any(present) {
                out.push(Violation { path: at.to_string(), message: format!("{} needs at least one of {}", shape.name, group.join(", ")) });
            }
        }
        for group in &shape.just_one {
            let n = group.iter().filter(|k| present(k)).count();
            if n != 1 {
                out.push(Violation { path: at.to_string(), message: format!("{} needs exactly one of {} ({n} given)", shape.name, group.join(", ")) });
            }
        }
    }

    fn check_value(&self, ty: &str, is_array: bool, val: &Value, at: &str, profiles: &[String], out: &mut Vec<Violation>) {
        if is_array {
            match val.as_array() {
                Some(items) => items.iter().enumerate().for_each(|(i, item)| self.check_value(ty, false, item, &format!("{at}[{i}]"), profiles, out)),
                None => out.push(Violation { path: at.to_string(), message: format!("is an array of {ty}, not {}", kind(val)) }),
            }
            return;
        }
        if let Some(shape) = self.objects.get(ty) {
            match val.as_object() {
                // The generic `object` holds anything.
                Some(_) if ty == "object" => {}
                Some(o) => self.check_object(shape, o, at, profiles, out),
                None => out.push(Violation { path: at.to_string(), message: format!("is a {ty} object, not {}", kind(val)) }),
            }
            return;
        }
        let base = self.base_type(ty);
        let ok = match base.as_str() {
            "integer_t" | "long_t" => val.is_i64() || val.is_u64(),
            "float_t" => val.is_number(),
            "boolean_t" => val.is_boolean(),
            "json_t" => true,
            _ => val.is_string(),
        };
        if !ok {
            let want = match ty {
                "timestamp_t" => "timestamp_t: integer milliseconds since the epoch".to_string(),
                _ => ty.to_string(),
            };
            out.push(Violation { path: at.to_string(), message: format!("is {want}, not {}", kind(val)) });
            return;
        }
        let def = self.types.get(ty);
        if let Some([lo, hi]) = def.and_then(|d| d["range"].as_array()).map(|r| [r[0].as_i64(), r[1].as_i64()])
            && let (Some(lo), Some(hi), Some(n)) = (lo, hi, val.as_i64())
            && !(lo..=hi).contains(&n)
        {
            out.push(Violation { path: at.to_string(), message: format!("{n} is outside {ty}'s range {lo}..={hi}") });
        }
        if let Some(s) = val.as_str() {
            let bad = match ty {
                "ip_t" => s.parse::<std::net::IpAddr>().is_err(),
                "datetime_t" => chrono::DateTime::parse_from_rfc3339(s).is_err(),
                "mac_t" => !(s.len() == 17 && s.split([':', '-']).count() == 6 && s.split([':', '-']).all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok())),
                "uuid_t" => !(s.len() == 36 && s.chars().enumerate().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })),
                "subnet_t" => s.split_once('/').is_none_or(|(ip, bits)| ip.parse::<std::net::IpAddr>().is_err() || bits.parse::<u8>().is_err()),
                _ => false,
            };
            if bad {
                out.push(Violation { path: at.to_string(), message: format!("{s:?} is not a valid {ty}") });
            }
            if let Some(max) = def.and_then(|d| d["max_len"].as_u64())
                && s.len() as u64 > max
            {
                out.push(Violation { path: at.to_string(), message: format!("is longer than {ty}'s {max} characters") });
            }
        }
    }

    /// A type's base (`timestamp_t` → `long_t`).
    fn base_type(&self, ty: &str) -> String {
        let mut t = ty.to_string();
        for _ in 0..4 {
            match self.types.get(&t).and_then(|d| d["type"].as_str()) {
                Some(b) if b != t => t = b.to_string(),
                _ => break,
            }
        }
        t
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Resolves definitions: `extends`, `$include`, profiles, the dictionary.
struct Loader<'a> {
    dir: &'a Path,
    dict: &'a Map<String, Value>,
}

impl Loader<'_> {
    /// A key of a definition or of the ones it extends.
    fn inherited<'v>(&self, name: &str, raw: &'v HashMap<String, Value>, key: &str) -> Option<&'v str> {
        let mut n = name;
        for _ in 0..16 {
            let def = raw.get(n)?;
            if let Some(v) = def[key].as_str() {
                return Some(v);
            }
            n = def["extends"].as_str()?;
        }
        None
    }

    /// The attributes of a definition with its `$include`s expanded, each tagged with the
    /// profile that brings it (`_profile`).
    fn own_attributes(&self, def: &Value) -> Result<Map<String, Value>, String> {
        let mut attrs = def["attributes"].as_object().cloned().unwrap_or_default();
        let includes: Vec<String> = match attrs.remove("$include") {
            Some(Value::Array(a)) => a.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(Value::String(s)) => vec![s],
            _ => Vec::new(),
        };
        let mut base = Map::new();
        for inc in includes {
            let v = read(&self.dir.join(&inc))?;
            let profile = inc.starts_with("profiles/").then(|| v["name"].as_str().unwrap_or("").to_string());
            for (k, mut a) in v["attributes"].as_object().cloned().unwrap_or_default() {
                if let (Some(p), Some(o)) = (&profile, a.as_object_mut()) {
                    o.entry("_profile").or_insert(Value::String(p.clone()));
                }
                base.insert(k, a);
            }
        }
        Ok(merge(&base, &attrs))
    }

    fn shape(&self, name: &str, raw: &HashMap<String, Value>) -> Result<Shape, String> {
        // The chain from the root to `name`; each level's attributes override its parent's.
        let mut chain = Vec::new();
        let mut n = Some(name.to_string());
        while let Some(cur) = n {
            let def = raw.get(&cur).ok_or_else(|| format!("{name} extends {cur}, which is not defined"))?;
            n = def["extends"].as_str().map(str::to_string);
            chain.push(def.clone());
            if chain.len() > 16 {
                return Err(format!("{name}: extends loops"));
            }
        }
        let mut merged = Map::new();
        let caption = raw.get(name).and_then(|d| d["caption"].as_str()).unwrap_or(name).to_string();
        let mut shape = Shape { name: name.to_string(), caption, ..Shape::default() };
        for def in chain.iter().rev() {
            merged = merge(&merged, &self.own_attributes(def)?);
            if let Some(c) = def["constraints"].as_object() {
                let groups = |k: &str| -> Vec<Vec<String>> {
                    c.get(k).and_then(Value::as_array).map(|g| vec![g.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()]).unwrap_or_default()
                };
                // A level's constraints replace its parent's.
                shape.at_least_one = groups("at_least_one");
                shape.just_one = groups("just_one");
            }
        }
        for (k, a) in merged {
            let d = self.dict.get(&k).cloned().unwrap_or(Value::Null);
            let field = |f: &str| a.get(f).filter(|v| !v.is_null()).or_else(|| d.get(f)).cloned();
            let ty = field("type").and_then(|t| t.as_str().map(str::to_string)).ok_or_else(|| format!("{name}.{k}: no type in the dictionary"))?;
            // The schema's files give these enums only for the base event (the OCSF server
            // computes them per class); `validate` checks the ids and their names itself.
            let derived = matches!(k.as_str(), "class_uid" | "category_uid" | "type_uid");
            // A class's enum adds to the dictionary's (which has Unknown 0 and Other 99).
            let enum_of = |v: Option<&Value>| -> Option<BTreeMap<i64, String>> {
                v?.as_object().map(|e| e.iter().filter_map(|(id, v)| Some((id.parse::<i64>().ok()?, v["caption"].as_str().unwrap_or("").to_string()))).collect())
            };
            let enums = match (enum_of(d.get("enum")), enum_of(a.get("enum"))) {
                _ if derived => None,
                (Some(mut base), Some(own)) => {
                    base.extend(own);
                    Some(base)
                }
                (base, own) => own.or(base),
            };
            // `profile: null` on a class attribute makes a profile's attribute its own.
            let profile = match a.get("profile") {
                Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.clone()),
                _ => a.get("_profile").and_then(Value::as_str).map(str::to_string),
            };
            shape.attrs.insert(
                k.clone(),
                Attr {
                    ty,
                    is_array: field("is_array").and_then(|v| v.as_bool()).unwrap_or(false),
                    required: a.get("requirement").and_then(Value::as_str) == Some("required"),
                    enums,
                    sibling: field("sibling").and_then(|v| v.as_str().map(str::to_string)),
                    profile,
                },
            );
        }
        Ok(shape)
    }
}
