//! Tags on every resource: which types are taggable and in what shape (the table generated from the
//! CloudFormation registry schemas in `infra-schema/tagging.tsv`), what AWS allows in a tag, and
//! writing the jiti tags into each resource's own tag property.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};

use serde_json::{Map, Value, json};

/// The generated table, embedded at build time (`scripts/gen-tagging-table.py`).
pub const TABLE_TSV: &str = include_str!("../../infra-schema/tagging.tsv");

pub const KEY_APP: &str = "jiti:app";
pub const KEY_ENV: &str = "jiti:env";
pub const KEY_BRANCH: &str = "jiti:branch";
pub const KEY_VERSION: &str = "jiti:version";
pub const KEY_COMMIT: &str = "jiti:commit";
pub const KEY_MANAGED_BY: &str = "jiti:managed-by";
/// `true` on the stacks and resources of protected environments: they stay protected after the
/// environment is renamed or removed from `jiti.toml` (gc and destroy read the tag, not only the
/// config).
pub const KEY_PROTECTED: &str = "jiti:protected";
/// On stacks: the first 16 hex digits of the SHA-256 of the exact branch name. `jiti:branch` holds
/// what a tag value can (`fix#123` becomes `fix_123`); this tells `fix#123` from `fix_123`.
pub const KEY_BRANCH_ID: &str = "jiti:branch-id";

/// [`KEY_BRANCH_ID`]'s value for a branch.
pub fn branch_id(branch: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(branch.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Whether a stack's or resource's tags mark it protected ([`KEY_PROTECTED`]).
pub fn marked_protected(tags: &std::collections::BTreeMap<String, String>) -> bool {
    tags.get(KEY_PROTECTED).is_some_and(|v| v == "true")
}

/// A set of exact branch names, to judge stacks by: by [`KEY_BRANCH_ID`] where a stack has it,
/// else by the sanitized `jiti:branch` (stacks made before the id existed).
#[derive(Debug, Clone, Default)]
pub struct BranchSet {
    /// Branch id → exact name.
    ids: HashMap<String, String>,
    sanitized: std::collections::HashSet<String>,
}

impl BranchSet {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> BranchSet {
        let mut set = BranchSet::default();
        for name in names {
            set.ids.insert(branch_id(name), name.clone());
            set.sanitized.insert(sanitize_value(name));
        }
        set
    }

    /// Whether the stack with `tags` belongs to a branch of the set.
    pub fn holds(&self, tags: &std::collections::BTreeMap<String, String>) -> bool {
        match tags.get(KEY_BRANCH_ID) {
            Some(id) => self.ids.contains_key(id),
            None => tags.get(KEY_BRANCH).is_some_and(|b| self.sanitized.contains(b)),
        }
    }

    /// The exact name of the stack's branch when it is in the set, else its tag's value.
    pub fn name_of(&self, tags: &std::collections::BTreeMap<String, String>) -> String {
        tags.get(KEY_BRANCH_ID)
            .and_then(|id| self.ids.get(id))
            .cloned()
            .unwrap_or_else(|| tags.get(KEY_BRANCH).cloned().unwrap_or_default())
    }
}

pub const MANAGED_BY: &str = "cargo-jiti";

/// Whether a stack is cargo-jiti's own for `app`: tagged `jiti:managed-by=cargo-jiti` *and*
/// `jiti:app=<app>`. A stack another tool made under the name cargo-jiti would use (even one
/// carrying a copied `jiti:app` tag) is never taken over, updated or deleted. The error says why,
/// naming the tags found.
pub fn owned_by(
    tags: &std::collections::BTreeMap<String, String>,
    app: &str,
) -> Result<(), String> {
    let shown = |k: &str| tags.get(k).map_or_else(|| format!("no `{k}`"), |v| format!("`{k}={v}`"));
    match (tags.get(KEY_MANAGED_BY).map(String::as_str), tags.get(KEY_APP).map(String::as_str)) {
        (Some(MANAGED_BY), Some(owner)) if owner == app => Ok(()),
        (Some(MANAGED_BY), Some(owner)) => {
            Err(format!("belongs to app `{owner}`, not `{app}`: rename one of the apps"))
        }
        _ => Err(format!(
            "was not made by cargo-jiti for app `{app}` (its tags: {}, {}); refusing to touch it",
            shown(KEY_MANAGED_BY),
            shown(KEY_APP)
        )),
    }
}

/// Every resource carries these keys (`check` verifies it).
pub const JITI_KEYS: [&str; 6] =
    [KEY_APP, KEY_ENV, KEY_BRANCH, KEY_VERSION, KEY_COMMIT, KEY_MANAGED_BY];
/// AWS allows 50 user tags per resource.
pub const MAX_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// How a type's tag property is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// `[{Key, Value}]`, the common case.
    List,
    /// `[{Key, Value, PropagateAtLaunch}]` (auto scaling groups).
    ListPropagate,
    /// `{key: value}` (SSM parameters, SAM resources, Batch, …).
    Map,
    /// `{Items: [{Key, Value}]}`.
    Items,
}

/// How one taggable type takes tags: where, in what shape, and what its keys and values may be.
#[derive(Debug)]
pub struct TagRule {
    /// Property path (`/`-separated; `*` is every item of a list), e.g. `Tags`, `TagSpecifications/*/Tags`.
    pub path: &'static str,
    pub shape: Shape,
    key_pattern: Option<regex::Regex>,
    value_pattern: Option<regex::Regex>,
    value_max: usize,
}

impl TagRule {
    /// Whether the type's schema allows `key` as a tag key.
    pub fn accepts_key(&self, key: &str) -> bool {
        self.key_pattern.as_ref().is_none_or(|p| p.is_match(key))
    }

    /// `value` made acceptable to the type's schema (characters it refuses become `_` or `-`, or
    /// go), or `None` when nothing acceptable is left.
    pub fn fit_value(&self, value: &str) -> Option<String> {
        let ok = |v: &str| {
            v.chars().count() <= self.value_max
                && self.value_pattern.as_ref().is_none_or(|p| p.is_match(v))
        };
        if ok(value) {
            return Some(value.to_owned());
        }
        let pattern = self.value_pattern.as_ref();
        let allows = |c: char| pattern.is_none_or(|p| p.is_match(c.encode_utf8(&mut [0; 4])));
        let substitute = ['_', '-'].into_iter().find(|c| allows(*c));
        let fitted: String = value
            .chars()
            .filter_map(|c| if allows(c) { Some(c) } else { substitute })
            .take(self.value_max)
            .collect();
        ok(&fitted).then_some(fitted)
    }

    pub fn key_pattern(&self) -> Option<&str> {
        self.key_pattern.as_ref().map(regex::Regex::as_str)
    }
}

/// Why a resource type cannot carry the jiti tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotTaggable {
    /// The registry declares the type not taggable.
    Registry,
    /// The type's tag keys must match a pattern that `jiti:` keys cannot (no `:` allowed, say).
    KeyPattern(&'static str),
}

/// What the registry says about a resource type.
#[derive(Debug, Clone, Copy)]
pub enum Taggability {
    Taggable(&'static TagRule),
    Untaggable(NotTaggable),
    /// The type is not in the table: a custom resource, a module, or a type newer than the table.
    Unknown,
}

impl Taggability {
    /// Tag property path and shape, for taggable types.
    pub fn property(&self) -> Option<(&'static str, Shape)> {
        match self {
            Taggability::Taggable(rule) => Some((rule.path, rule.shape)),
            _ => None,
        }
    }

    /// Why the type is not tagged, in a sentence.
    pub fn reason(&self) -> Option<String> {
        match self {
            Taggability::Taggable(_) => None,
            Taggability::Untaggable(NotTaggable::Registry) => {
                Some("the CloudFormation registry declares this type not taggable".into())
            }
            Taggability::Untaggable(NotTaggable::KeyPattern(p)) => {
                Some(format!("its tag keys must match `{p}`, which rules out `jiti:` keys"))
            }
            Taggability::Unknown => {
                Some(format!("the type is unknown to the tagging table ({})", table_source()))
            }
        }
    }
}

/// One row of the table, resolved into a [`Taggability`] on first lookup: a process compiles only
/// the patterns of the types its templates use (compiling all of them costs tens of milliseconds).
struct Row {
    status: &'static str,
    path: &'static str,
    shape: &'static str,
    key: &'static str,
    value: &'static str,
    max: &'static str,
    resolved: OnceLock<Resolved>,
}

enum Resolved {
    Rule(TagRule),
    Not(NotTaggable),
}

static TABLE: LazyLock<HashMap<&'static str, Row>> = LazyLock::new(|| {
    TABLE_TSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let cols: Vec<&'static str> = line.split('\t').collect();
            let [ty, status, path, shape, key, value, max] = cols[..] else { return None };
            Some((ty, Row { status, path, shape, key, value, max, resolved: OnceLock::new() }))
        })
        .collect()
});

/// Each distinct pattern compiled once; hundreds of types share a few dozen.
fn compiled(pattern: &'static str) -> Option<regex::Regex> {
    static CACHE: LazyLock<Mutex<HashMap<&'static str, Option<regex::Regex>>>> =
        LazyLock::new(Default::default);
    if pattern == "-" {
        return None;
    }
    let mut cache = CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // A pattern the regex crate cannot read constrains nothing here; the cfn-lint test of every
    // taggable type would show a tag it then lets through.
    cache.entry(pattern).or_insert_with(|| regex::Regex::new(pattern).ok()).clone()
}

fn resolve(row: &Row) -> Resolved {
    let shape = match row.shape {
        "list" => Shape::List,
        "list-propagate" => Shape::ListPropagate,
        "map" => Shape::Map,
        "items" => Shape::Items,
        _ => return Resolved::Not(NotTaggable::Registry),
    };
    if !matches!(row.status, "taggable" | "tags-property") {
        return Resolved::Not(NotTaggable::Registry);
    }
    let rule = TagRule {
        path: row.path,
        shape,
        key_pattern: compiled(row.key),
        value_pattern: compiled(row.value),
        value_max: row.max.parse().unwrap_or(MAX_VALUE_CHARS),
    };
    if !JITI_KEYS.iter().all(|k| rule.accepts_key(k)) {
        return Resolved::Not(NotTaggable::KeyPattern(row.key));
    }
    Resolved::Rule(rule)
}

/// The registry's word on `resource_type`.
pub fn lookup(resource_type: &str) -> Taggability {
    let Some(row) = TABLE.get(resource_type) else { return Taggability::Unknown };
    match row.resolved.get_or_init(|| resolve(row)) {
        Resolved::Rule(rule) => Taggability::Taggable(rule),
        Resolved::Not(why) => Taggability::Untaggable(*why),
    }
}

/// Every type the table lists, with its rule (for tests and documentation).
pub fn table() -> impl Iterator<Item = (&'static str, Taggability)> {
    let mut rows: Vec<_> = TABLE.keys().map(|k| (*k, lookup(k))).collect();
    rows.sort_by_key(|(k, _)| *k);
    rows.into_iter()
}

/// The cfn-lint version the table was generated from, read from its header.
pub fn table_source() -> &'static str {
    TABLE_TSV
        .lines()
        .next()
        .and_then(|l| l.split("from ").nth(1))
        .and_then(|l| l.split(" (").next())
        .unwrap_or("unknown")
}

/// AWS's rule for tag characters: letters, separators, numbers and `_ . : / = + - @`
/// (`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`).
fn allowed(c: char) -> bool {
    static ALLOWED: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]$").expect("valid regex"));
    c.is_ascii_alphanumeric()
        || " _.:/=+-@".contains(c)
        || (!c.is_ascii() && ALLOWED.is_match(c.encode_utf8(&mut [0; 4])))
}

/// A tag value AWS accepts, made from any string: disallowed characters become `_`, and the value
/// is cut to 256 characters. Lossy by design: git branch names may hold `#`, `!` or `'`.
pub fn sanitize_value(value: &str) -> String {
    value.chars().map(|c| if allowed(c) { c } else { '_' }).take(MAX_VALUE_CHARS).collect()
}

/// Names as tag values hold them: what a `jiti:branch` tag is compared with.
pub fn sanitize_all<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> std::collections::HashSet<String> {
    names.into_iter().map(|n| sanitize_value(n)).collect()
}

/// Checks a tag value written by a user.
pub fn validate_value(value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(format!("tag value is longer than {MAX_VALUE_CHARS} characters"));
    }
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "character `{c}` of tag value `{value}` is not allowed in AWS tags (letters, digits, spaces and `_ . : / = + - @`)"
        ));
    }
    Ok(())
}

/// Checks a tag key written by a user: AWS's rules, and `jiti:`/`aws:` prefixes are reserved.
pub fn validate_user_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
        return Err(format!("tag key `{key}` must be 1 to {MAX_KEY_CHARS} characters"));
    }
    if is_reserved_key(key) {
        return Err(format!(
            "tag key `{key}` is reserved: `jiti:` tags are set by cargo-jiti and `aws:` tags by AWS"
        ));
    }
    if let Some(c) = key.chars().find(|c| !allowed(*c)) {
        return Err(format!("character `{c}` of tag key `{key}` is not allowed in AWS tags"));
    }
    Ok(())
}

fn is_reserved_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.starts_with("jiti:") || lower.starts_with("aws:")
}

/// Why the jiti tags could not be written into one resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Skipped {
    pub resource: String,
    pub resource_type: String,
    pub reason: String,
}

/// What injection did to a template.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TagReport {
    /// Resources that now carry every jiti tag.
    pub tagged: usize,
    /// Resources of types the registry declares untaggable, or that the table does not know.
    pub untaggable: Vec<Skipped>,
    /// Taggable resources whose tags could not be written (their `Tags` is computed, say).
    pub not_injectable: Vec<Skipped>,
}

/// A template sets a tag key that cargo-jiti owns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource `{resource}` sets tag `{key}`, which cargo-jiti owns")]
pub struct ReservedTagError {
    pub resource: String,
    pub key: String,
}

/// Adds `tags` (user tags first, then the jiti tags; both already valid) to every taggable resource
/// of `template`, in the resource's own tag property and shape. Tags the template already sets on a
/// resource win over `[tags]` of the same key.
pub fn inject(
    template: &mut Value,
    tags: &[(String, String)],
) -> Result<TagReport, ReservedTagError> {
    let mut report = TagReport::default();
    for (id, resource) in crate::template::resources_mut(template) {
        let Some(ty) = resource.get("Type").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        let skipped = |reason: &str| Skipped {
            resource: id.clone(),
            resource_type: ty.clone(),
            reason: reason.to_owned(),
        };
        let rule = match lookup(&ty) {
            Taggability::Taggable(rule) => rule,
            other => {
                report.untaggable.push(skipped(&other.reason().unwrap_or_default()));
                continue;
            }
        };
        // Keys and values as this type's schema allows them; a jiti tag that cannot be written
        // leaves the resource untagged rather than half-tagged.
        let mut fitted = Vec::with_capacity(tags.len());
        let mut refused = None;
        for (k, v) in tags {
            match (rule.accepts_key(k), rule.fit_value(v)) {
                (true, Some(v)) => fitted.push((k.clone(), v)),
                _ if k.starts_with("jiti:") => refused = Some(k.clone()),
                _ => {}
            }
        }
        if let Some(key) = refused {
            report
                .not_injectable
                .push(skipped(&format!("the type's schema refuses the value of `{key}`")));
            continue;
        }
        let (path, shape) = (rule.path, rule.shape);
        let tags = &fitted;
        let Some(props) =
            resource.as_object_mut().map(|r| r.entry("Properties").or_insert_with(|| json!({})))
        else {
            continue;
        };
        let Some(props) = props.as_object_mut() else {
            report.not_injectable.push(skipped("`Properties` is not a mapping"));
            continue;
        };
        match write_at(props, path, shape, tags, id)? {
            Ok(()) => report.tagged += 1,
            Err(reason) => report.not_injectable.push(skipped(&reason)),
        }
    }
    Ok(report)
}

/// Writes the tags at a property path (`Tags`, `TagSpecifications/*/Tags`).
fn write_at(
    props: &mut Map<String, Value>,
    path: &str,
    shape: Shape,
    tags: &[(String, String)],
    id: &str,
) -> Result<Result<(), String>, ReservedTagError> {
    match path.split_once("/*/") {
        None => merge(props.entry(path).or_insert(Value::Null), shape, tags, id),
        Some((list, rest)) => {
            // Each entry of such a list names the resource type it tags (EC2's TagSpecifications);
            // cargo-jiti cannot invent that name, so it tags the entries the author wrote.
            let Some(items) =
                props.get_mut(list).and_then(Value::as_array_mut).filter(|a| !a.is_empty())
            else {
                return Ok(Err(format!("add a `{list}` entry: its tags are written there")));
            };
            for item in items {
                let Some(item) = item.as_object_mut() else {
                    return Ok(Err(format!("an entry of `{list}` is not a mapping")));
                };
                if let Err(reason) = write_at(item, rest, shape, tags, id)? {
                    return Ok(Err(reason));
                }
            }
            Ok(Ok(()))
        }
    }
}

/// Merges `tags` into one tag property value, following `Fn::If` into both branches.
fn merge(
    slot: &mut Value,
    shape: Shape,
    tags: &[(String, String)],
    id: &str,
) -> Result<Result<(), String>, ReservedTagError> {
    if slot.is_null() || is_no_value(slot) {
        *slot = match shape {
            Shape::Map => json!({}),
            Shape::Items => json!({"Items": []}),
            Shape::List | Shape::ListPropagate => json!([]),
        };
    }
    if let Some(branches) =
        slot.get_mut("Fn::If").and_then(Value::as_array_mut).filter(|b| b.len() == 3)
    {
        for branch in branches.iter_mut().skip(1) {
            if let Err(reason) = merge(branch, shape, tags, id)? {
                return Ok(Err(reason));
            }
        }
        return Ok(Ok(()));
    }
    let list = match (shape, &mut *slot) {
        (Shape::Map, Value::Object(map)) if !is_intrinsic(map) => {
            for key in map.keys() {
                reject_reserved(key, id)?;
            }
            for (k, v) in tags {
                if !map.contains_key(k) || k.starts_with("jiti:") {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
            return Ok(Ok(()));
        }
        (Shape::Items, Value::Object(map)) if !is_intrinsic(map) => {
            match map.entry("Items").or_insert_with(|| json!([])) {
                Value::Array(list) => list,
                _ => return Ok(Err("`Items` of the tag property is computed".into())),
            }
        }
        (Shape::List | Shape::ListPropagate, Value::Array(list)) => list,
        _ => {
            return Ok(Err(
                "the tag property is computed by an intrinsic function; write it as a literal"
                    .into(),
            ));
        }
    };
    let mut present = Vec::with_capacity(list.len());
    for item in list.iter() {
        if let Some(key) = item.get("Key").and_then(Value::as_str) {
            reject_reserved(key, id)?;
            present.push(key.to_owned());
        }
    }
    for (k, v) in tags {
        if present.iter().any(|p| p == k) {
            continue;
        }
        let mut tag = json!({"Key": k, "Value": v});
        if shape == Shape::ListPropagate {
            tag["PropagateAtLaunch"] = Value::Bool(true);
        }
        list.push(tag);
    }
    Ok(Ok(()))
}

fn reject_reserved(key: &str, id: &str) -> Result<(), ReservedTagError> {
    if key.to_ascii_lowercase().starts_with("jiti:") {
        return Err(ReservedTagError { resource: id.to_owned(), key: key.to_owned() });
    }
    Ok(())
}

fn is_no_value(v: &Value) -> bool {
    v.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue")
}

fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1 && map.keys().all(|k| k == "Ref" || k.starts_with("Fn::"))
}

/// Number of tags a tag property value holds, when it is literal.
pub fn count(value: &Value) -> Option<usize> {
    match value {
        Value::Array(list) => Some(list.len()),
        Value::Object(map) if !is_intrinsic(map) => {
            Some(map.get("Items").and_then(Value::as_array).map_or(map.len(), Vec::len))
        }
        _ => None,
    }
}

/// The tag keys a tag property value holds, when literal (for checks).
pub fn keys(value: &Value) -> Vec<String> {
    let list = match value {
        Value::Array(list) => list,
        Value::Object(map) => match map.get("Items").and_then(Value::as_array) {
            Some(items) => items,
            None => return map.keys().cloned().collect(),
        },
        _ => return Vec::new(),
    };
    list.iter().filter_map(|t| t.get("Key").and_then(Value::as_str).map(str::to_owned)).collect()
}

#[cfg(test)]
mod tests;
