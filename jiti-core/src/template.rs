//! The CloudFormation template model: rendered YAML (with short-form intrinsics) or JSON in, one
//! canonical JSON value out (long-form intrinsics, key order as written), emitted as stable pretty JSON.
//!
//! YAML is read event by event (yaml-rust2) rather than through a generic YAML value, because the
//! short forms are YAML *tags* (`!Ref x`) that generic loaders drop, and because every node's line
//! is needed to point errors at the rendered text.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// CloudFormation's documented quotas that `check` enforces.
pub const MAX_RESOURCES: usize = 500;
pub const MAX_PARAMETERS: usize = 200;
pub const MAX_OUTPUTS: usize = 200;
/// Largest template CloudFormation accepts from S3.
pub const MAX_TEMPLATE_BYTES: usize = 1_048_576;
/// Largest template CloudFormation accepts inline in the API call; larger ones go through S3.
pub const MAX_INLINE_TEMPLATE_BYTES: usize = 51_200;
/// What a document may expand to before it is refused: nodes, and bytes of scalar text and of the
/// paths kept for error lines. An alias bomb multiplies nodes, or text (one long string aliased a
/// million times is a bomb of few nodes); a long key above many nodes multiplies paths. Both limits
/// are far above what CloudFormation accepts (1 MB) and far below what would strain memory.
const MAX_NODES: usize = 1_000_000;
const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;

const TOP_LEVEL_KEYS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
    "Hooks",
];

/// Short-form tags and the long form each stands for (`Ref` and `Condition` have no `Fn::`).
const INTRINSICS: &[&str] = &[
    "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub",
    "Transform", "And", "Equals", "If", "Not", "Or", "ToJsonString", "Length", "Contains",
    "EachMemberEquals", "EachMemberIn", "RefAll", "ValueOf", "ValueOfAll", "Implies",
];

/// A parsed template: its canonical value and where each node stood in the rendered text.
#[derive(Debug, Clone)]
pub struct Template {
    pub value: Value,
    lines: HashMap<String, usize>,
}

/// A template that is not valid YAML/JSON, or not shaped like a CloudFormation template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct TemplateError {
    /// 1-based line in the rendered text, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl TemplateError {
    fn at(line: Option<usize>, column: Option<usize>, message: impl Into<String>) -> Self {
        Self { line, column, message: message.into() }
    }
}

impl Template {
    /// Parses rendered text: JSON when it starts with `{`, YAML otherwise. A `{` may also open a
    /// YAML flow mapping (`{Resources: …}`), which is read as YAML when it is not JSON; the error
    /// of text that is neither is JSON's, since JSON was most likely meant.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let template = if text.trim_start().starts_with('{') {
            parse_json(text).or_else(|json_error| parse_yaml(text).map_err(|_| json_error))?
        } else {
            parse_yaml(text)?
        };
        template.validate()?;
        Ok(template)
    }

    /// Stable pretty JSON: what is written to `target/jiti/` and sent to CloudFormation.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.value).unwrap_or_default();
        text.push('\n');
        text
    }

    /// SHA-256 of [`Template::to_json`], hex.
    pub fn hash(&self) -> String {
        Sha256::digest(self.to_json().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The rendered line a JSON pointer (`/Resources/Queue/Type`) came from, for YAML input.
    pub fn line_of(&self, pointer: &str) -> Option<usize> {
        let mut p = pointer;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            p = &p[..p.rfind('/')?];
        }
    }

    pub fn resources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.section("Resources")
    }

    pub fn section(&self, name: &str) -> impl Iterator<Item = (&String, &Value)> {
        self.value.get(name).and_then(Value::as_object).into_iter().flatten()
    }

    fn validate(&self) -> Result<(), TemplateError> {
        let err = |pointer: &str, message: String| TemplateError::at(self.line_of(pointer), None, message);
        let Some(top) = self.value.as_object() else {
            return Err(err("", "a template must be a mapping with a `Resources` section".into()));
        };
        for key in top.keys() {
            if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
                let hint = TOP_LEVEL_KEYS
                    .iter()
                    .find(|k| strsim::jaro_winkler(key, k) >= 0.85)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                return Err(err(&format!("/{key}"), format!("unknown top-level section `{key}`{hint}")));
            }
        }
        for section in ["Parameters", "Mappings", "Conditions", "Outputs", "Resources", "Rules", "Metadata"] {
            if top.get(section).is_some_and(|v| !v.is_object()) {
                return Err(err(&format!("/{section}"), format!("`{section}` must be a mapping")));
            }
        }
        let resources = match top.get("Resources").and_then(Value::as_object) {
            Some(r) if !r.is_empty() => r,
            _ => return Err(err("", "the template has no resources: CloudFormation requires at least one under `Resources`".into())),
        };
        for (id, resource) in resources {
            let at = format!("/Resources/{}", escape_pointer(id));
            if id.starts_with("Fn::ForEach::") {
                continue;
            }
            if id.is_empty() || id.len() > 255 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(err(&at, format!("logical id `{id}` must be 1 to 255 ASCII letters and digits")));
            }
            match resource.get("Type") {
                Some(Value::String(t)) if !t.is_empty() => {}
                Some(_) => return Err(err(&format!("{at}/Type"), format!("resource `{id}`: `Type` must be a string such as `AWS::SQS::Queue`"))),
                None => return Err(err(&at, format!("resource `{id}` has no `Type`"))),
            }
            if resource.get("Properties").is_some_and(|p| !p.is_object()) {
                return Err(err(&format!("{at}/Properties"), format!("resource `{id}`: `Properties` must be a mapping")));
            }
        }
        Ok(())
    }
}

/// `~` and `/` escaped as in RFC 6901.
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// serde_json keeps its recursion limit (128), which refuses deep nesting before the stack is at risk.
fn parse_json(text: &str) -> Result<Template, TemplateError> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(Template { value, lines: HashMap::new() }),
        Err(e) => Err(TemplateError::at(Some(e.line()), Some(e.column()), format!("invalid JSON: {e}"))),
    }
}

fn parse_yaml(text: &str) -> Result<Template, TemplateError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(TemplateError::at(Some(m.line()), Some(m.col() + 1), format!("invalid YAML: {}", e.info())));
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    match builder.documents.len() {
        0 => Err(TemplateError::at(None, None, "the template is empty")),
        1 => Ok(Template { value: builder.documents.pop().unwrap_or(Value::Null), lines: builder.lines }),
        _ => Err(TemplateError::at(builder.second_document_line, None, "a template is one YAML document; remove the second `---`")),
    }
}

enum Frame {
    Seq { items: Vec<Value>, tag: Option<Tag>, anchor: usize, line: usize },
    Map { map: Map<String, Value>, key: Option<String>, tag: Option<Tag>, anchor: usize, line: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// JSON pointer of each open container, parallel to `stack`.
    path: Vec<String>,
    documents: Vec<Value>,
    /// The weight of each open container so far, parallel to `stack`.
    weights: Vec<Weight>,
    anchors: HashMap<usize, (Value, Weight)>,
    lines: HashMap<String, usize>,
    /// Everything materialized so far, aliases' copies included.
    total: Weight,
    error: Option<TemplateError>,
    second_document_line: Option<usize>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.event(event, mark) {
            self.error = Some(e);
        }
    }
}

impl Builder {
    fn event(&mut self, event: Event, mark: Marker) -> Result<(), TemplateError> {
        let line = mark.line();
        let at = |m: &str| TemplateError::at(Some(line), Some(mark.col() + 1), m.to_owned());
        match event {
            Event::DocumentStart if !self.documents.is_empty() && self.second_document_line.is_none() => {
                self.second_document_line = Some(line);
            }
            Event::Scalar(text, style, anchor, tag) => {
                if self.expecting_key() {
                    if tag.is_some() && !is_str_tag(tag.as_ref()) {
                        return Err(at("a mapping key cannot be tagged"));
                    }
                    return self.key(text, line);
                }
                let weight = Weight { nodes: 1, bytes: text.len() };
                self.charge(weight, line)?;
                let value = scalar(text, style, tag.as_ref()).map_err(|m| at(&m))?;
                self.value(value, anchor, weight, line)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(line)?;
                self.stack.push(Frame::Seq { items: Vec::new(), tag, anchor, line });
            }
            Event::MappingStart(anchor, tag) => {
                self.open(line)?;
                self.stack.push(Frame::Map { map: Map::new(), key: None, tag, anchor, line });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.path.pop();
                let weight = self.weights.pop().unwrap_or_default();
                let (value, tag, anchor, line) = match self.stack.pop() {
                    Some(Frame::Seq { items, tag, anchor, line }) => (Value::Array(items), tag, anchor, line),
                    Some(Frame::Map { map, tag, anchor, line, .. }) => (Value::Object(map), tag, anchor, line),
                    None => return Err(at("unbalanced YAML")),
                };
                let value = apply_tag(value, tag.as_ref()).map_err(|m| TemplateError::at(Some(line), None, m))?;
                self.value(value, anchor, weight, line)?;
            }
            Event::Alias(id) => {
                if self.expecting_key() {
                    return Err(at("an alias cannot be a mapping key"));
                }
                // Charged before it is copied: the copy is what a bomb would make.
                let weight = self.anchors.get(&id).map(|(_, w)| *w).ok_or_else(|| at("alias to an unknown anchor"))?;
                self.charge(weight, line)?;
                let value = self.anchors.get(&id).map(|(v, _)| v.clone()).unwrap_or_default();
                self.value(value, 0, weight, line)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    /// A key: its line is the line of the node it names (a block mapping starts on its first key's line).
    fn key(&mut self, key: String, line: usize) -> Result<(), TemplateError> {
        let weight = Weight { nodes: 0, bytes: key.len() };
        self.charge(weight, line)?;
        if let Some(w) = self.weights.last_mut() {
            w.add(weight);
        }
        if let Some(Frame::Map { map, key: slot, .. }) = self.stack.last_mut() {
            if map.contains_key(&key) {
                return Err(TemplateError::at(Some(line), None, format!("duplicate key `{key}`")));
            }
            *slot = Some(key);
        }
        // The key is in its slot: the child pointer is the pointer of the node it names.
        self.remember_line(self.child_pointer(), line)
    }

    /// Where a node stood, for errors. Each entry holds its whole path, so paths are charged too:
    /// a long key above many nodes would otherwise be copied into every one of their paths.
    fn remember_line(&mut self, pointer: String, line: usize) -> Result<(), TemplateError> {
        if !self.lines.contains_key(&pointer) {
            self.charge(Weight { nodes: 0, bytes: pointer.len() }, line)?;
            self.lines.insert(pointer, line);
        }
        Ok(())
    }

    /// A container starts: it must not be a key, and it opens a path segment. (yaml-rust2 refuses
    /// nesting past its recursion limit before the stack is at risk.)
    fn open(&mut self, line: usize) -> Result<(), TemplateError> {
        if self.expecting_key() {
            return Err(TemplateError::at(Some(line), None, "a mapping key must be a plain string"));
        }
        let weight = Weight { nodes: 1, bytes: 0 };
        self.charge(weight, line)?;
        let pointer = self.child_pointer();
        self.remember_line(pointer.clone(), line)?;
        self.path.push(pointer);
        self.weights.push(weight);
        Ok(())
    }

    /// Counts what is about to be materialized against the limits.
    fn charge(&mut self, weight: Weight, line: usize) -> Result<(), TemplateError> {
        self.total.add(weight);
        let refuse = |what: String| Err(TemplateError::at(Some(line), None, format!("the template expands to more than {what} (YAML aliases, long keys?); refused")));
        if self.total.nodes > MAX_NODES {
            return refuse(format!("{MAX_NODES} nodes"));
        }
        if self.total.bytes > MAX_TEXT_BYTES {
            return refuse(format!("{} MiB of text and paths", MAX_TEXT_BYTES >> 20));
        }
        Ok(())
    }

    fn child_pointer(&self) -> String {
        let parent = self.path.last().map(String::as_str).unwrap_or("");
        match self.stack.last() {
            Some(Frame::Map { key: Some(k), .. }) => format!("{parent}/{}", escape_pointer(k)),
            Some(Frame::Seq { items, .. }) => format!("{parent}/{}", items.len()),
            _ => String::new(),
        }
    }

    /// A finished node (already charged): remember its anchor and line, and put it in its parent.
    fn value(&mut self, value: Value, anchor: usize, weight: Weight, line: usize) -> Result<(), TemplateError> {
        if let Some(w) = self.weights.last_mut() {
            w.add(weight);
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), weight));
        }
        self.remember_line(self.child_pointer(), line)?;
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                if let Some(k) = key.take() {
                    map.insert(k, value);
                }
            }
            None => self.documents.push(value),
        }
        Ok(())
    }
}

/// Nodes and bytes of scalar text (keys included) of a value.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    nodes: usize,
    bytes: usize,
}

impl Weight {
    fn add(&mut self, other: Weight) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// The suffix of a YAML core tag (`!!str`, which yaml-rust2 reports expanded as `tag:yaml.org,2002:str`).
fn core_tag(tag: &Tag) -> Option<&str> {
    (tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:").then_some(tag.suffix.as_str())
}

fn is_str_tag(tag: Option<&Tag>) -> bool {
    tag.and_then(core_tag) == Some("str")
}

/// A tagged node becomes its long form: `!Ref x` → `{"Ref": "x"}`, `!Sub [...]` → `{"Fn::Sub": [...]}`.
fn apply_tag(value: Value, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else { return Ok(value) };
    if let Some(core) = core_tag(tag) {
        return match (core, &value) {
            ("map", Value::Object(_)) | ("seq", Value::Array(_)) => Ok(value),
            (s, _) => Err(format!("tag `!!{s}` does not fit this node")),
        };
    }
    if tag.handle != "!" {
        return Err(format!("unknown tag `{}{}`", tag.handle, tag.suffix));
    }
    let name = tag.suffix.as_str();
    let mut long = Map::new();
    match name {
        "Ref" | "Condition" => {
            long.insert(name.to_owned(), value);
        }
        "GetAtt" => {
            let value = match value {
                Value::String(s) => match s.split_once('.') {
                    Some((resource, attribute)) => Value::Array(vec![resource.into(), attribute.into()]),
                    None => return Err(format!("`!GetAtt {s}` must name a resource and an attribute: `!GetAtt Resource.Attribute`")),
                },
                other => other,
            };
            long.insert("Fn::GetAtt".to_owned(), value);
        }
        _ if INTRINSICS.contains(&name) => {
            long.insert(format!("Fn::{name}"), value);
        }
        _ => {
            let hint = INTRINSICS
                .iter()
                .chain(["Ref", "Condition"].iter())
                .find(|k| strsim::jaro_winkler(name, k) >= 0.85)
                .map(|k| format!("; did you mean `!{k}`?"))
                .unwrap_or_default();
            return Err(format!("unknown tag `!{name}`{hint}"));
        }
    }
    Ok(Value::Object(long))
}

/// A scalar's value. Quoted and intrinsic-tagged scalars are strings. Plain ones follow YAML 1.2's
/// core schema, except where a JSON number would change the text: `012`, `1.10`, `1e3` stay strings
/// (an AWS account id must keep its leading zero; a version `1.10` is not `1.1`).
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if is_str_tag(Some(tag)) {
            return Ok(Value::String(text));
        }
        if let Some(core) = core_tag(tag) {
            return match core {
                "int" | "float" | "bool" | "null" => Ok(plain(text)),
                s => Err(format!("tag `!!{s}` is not supported in templates")),
            };
        }
        return apply_tag(Value::String(text), Some(tag));
    }
    Ok(if style == TScalarStyle::Plain { plain(text) } else { Value::String(text) })
}

fn plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
    let numeric = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if numeric && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.")) {
        if let Ok(i) = text.parse::<i64>() {
            if i.to_string() == text {
                return Value::Number(i.into());
            }
        } else if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64).filter(|n| n.to_string() == text) {
            return Value::Number(n);
        }
    }
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(yaml: &str) -> Value {
        match Template::parse(&format!("Resources:\n  R:\n    Type: AWS::SQS::Queue\n    Properties:\n      X: {yaml}\n")) {
            Ok(t) => t.value["Resources"]["R"]["Properties"]["X"].clone(),
            Err(e) => panic!("{yaml}: {e}"),
        }
    }

    #[test]
    fn a_brace_opens_json_or_a_yaml_flow_mapping() {
        let flow = Template::parse("{Resources: {Q: {Type: AWS::SQS::Queue, Properties: {Name: !Ref N}}}}").expect("YAML flow style");
        assert_eq!(flow.value, json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Name": {"Ref": "N"}}}}}));
        let broken = Template::parse("{\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\"}}").expect_err("unbalanced");
        assert!(broken.message.starts_with("invalid JSON"), "{broken}");
        // A trailing comma is not JSON, but it is YAML, and means the same.
        let trailing = Template::parse("{\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\",}}}").expect("YAML flow style");
        assert_eq!(trailing.value, json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}));
    }

    #[test]
    fn every_short_form_becomes_its_long_form() {
        let cases: &[(&str, Value)] = &[
            ("!Ref Queue", json!({"Ref": "Queue"})),
            ("!Sub '${AWS::StackName}-q'", json!({"Fn::Sub": "${AWS::StackName}-q"})),
            ("!Sub ['${A}-x', {A: !Ref B}]", json!({"Fn::Sub": ["${A}-x", {"A": {"Ref": "B"}}]})),
            ("!GetAtt Queue.Arn", json!({"Fn::GetAtt": ["Queue", "Arn"]})),
            ("!GetAtt Db.Endpoint.Address", json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]})),
            ("!GetAtt [Queue, Arn]", json!({"Fn::GetAtt": ["Queue", "Arn"]})),
            ("!Join ['-', [a, !Ref B]]", json!({"Fn::Join": ["-", ["a", {"Ref": "B"}]]})),
            ("!If [IsProd, 5, !Ref AWS::NoValue]", json!({"Fn::If": ["IsProd", 5, {"Ref": "AWS::NoValue"}]})),
            ("!Equals [!Ref Env, prod]", json!({"Fn::Equals": [{"Ref": "Env"}, "prod"]})),
            ("!And [!Condition A, !Condition B]", json!({"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]})),
            ("!Or [!Condition A, !Not [!Condition B]]", json!({"Fn::Or": [{"Condition": "A"}, {"Fn::Not": [{"Condition": "B"}]}]})),
            ("!Select [0, !GetAZs '']", json!({"Fn::Select": [0, {"Fn::GetAZs": ""}]})),
            ("!Select [1, !Split [',', !Ref L]]", json!({"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "L"}]}]})),
            ("!FindInMap [M, !Ref AWS::Region, K]", json!({"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "K"]})),
            ("!Base64 hello", json!({"Fn::Base64": "hello"})),
            ("!Cidr [10.0.0.0/16, 4, 8]", json!({"Fn::Cidr": ["10.0.0.0/16", 4, 8]})),
            ("!GetAZs", json!({"Fn::GetAZs": ""})),
            ("!ImportValue other-stack-QueueArn", json!({"Fn::ImportValue": "other-stack-QueueArn"})),
            ("!Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}", json!({"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}})),
            ("!ToJsonString {a: 1}", json!({"Fn::ToJsonString": {"a": 1}})),
        ];
        for (yaml, expected) in cases {
            assert_eq!(&parse(yaml), expected, "{yaml}");
        }
    }

    #[test]
    fn block_forms_and_scalars() {
        let t = Template::parse("Resources:\n  R:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Sub\n        - '${X}'\n        - X: !Ref Y\n      B: !If\n        - C\n        - 1\n        - 2\n").unwrap();
        assert_eq!(t.value["Resources"]["R"]["Properties"]["A"], json!({"Fn::Sub": ["${X}", {"X": {"Ref": "Y"}}]}));
        assert_eq!(t.value["Resources"]["R"]["Properties"]["B"], json!({"Fn::If": ["C", 1, 2]}));
        let cases: &[(&str, Value)] = &[
            ("5", json!(5)),
            ("-3", json!(-3)),
            ("0.5", json!(0.5)),
            ("1.10", json!("1.10")),
            ("012345678901", json!("012345678901")),
            ("1e3", json!("1e3")),
            ("'5'", json!("5")),
            ("true", json!(true)),
            ("yes", json!("yes")),
            ("~", json!(null)),
            ("!!str 5", json!("5")),
            ("99999999999999999999", json!("99999999999999999999")),
        ];
        for (yaml, expected) in cases {
            assert_eq!(&parse(yaml), expected, "{yaml}");
        }
    }

    #[test]
    fn json_and_yaml_give_the_same_canonical_form() {
        let yaml = Template::parse("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub '${AWS::StackName}-q'\n").unwrap();
        let json = Template::parse(r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-q"}}}}}"#).unwrap();
        assert_eq!(yaml.to_json(), json.to_json());
        assert_eq!(yaml.hash(), json.hash());
        assert!(yaml.to_json().starts_with("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n  \"Resources\""));
    }

    #[test]
    fn errors_point_at_the_rendered_line() {
        let cases: &[(&str, Option<usize>, &str)] = &[
            ("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Reff x\n", Some(5), "unknown tag `!Reff`; did you mean `!Ref`?"),
            ("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n  Q:\n    Type: AWS::SNS::Topic\n", Some(4), "duplicate key `Q`"),
            ("Resources:\n  Q:\n    Type: [a\n", Some(4), "invalid YAML"),
            ("Resources:\n  Q:\n    Properties: {}\n", Some(2), "resource `Q` has no `Type`"),
            ("Resources:\n  my-queue:\n    Type: AWS::SQS::Queue\n", Some(2), "logical id `my-queue`"),
            ("Resource:\n  Q:\n    Type: AWS::SQS::Queue\n", Some(1), "did you mean `Resources`?"),
            ("Description: x\n", Some(1), "no resources"),
            ("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !GetAtt Queue\n", Some(5), "`!GetAtt Resource.Attribute`"),
            ("{\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\" \"x\"}}}", Some(1), "invalid JSON"),
            ("Resources: {Q: {Type: AWS::SQS::Queue}}\n---\nResources: {}\n", Some(2), "one YAML document"),
        ];
        for (text, line, message) in cases {
            let e = Template::parse(text).unwrap_err();
            assert_eq!(e.line, *line, "{text}: {e}");
            assert!(e.message.contains(message), "{text}: {e}");
        }
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            bomb.push_str(&format!("{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n", (b'a' + i) as char, (b'a' + i) as char, p = (b'a' + i - 1) as char));
        }
        let e = Template::parse(&bomb).unwrap_err();
        assert!(e.message.contains("more than 1000000 nodes"), "{e}");
        // Few nodes, much text: a 4 KiB string copied 10^4 times is 40 MiB.
        let mut strings = format!("a: &a \"{}\"\n", "x".repeat(4096));
        for i in 1..5u8 {
            strings.push_str(&format!("{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n", (b'a' + i) as char, (b'a' + i) as char, p = (b'a' + i - 1) as char));
        }
        let e = Template::parse(&strings).unwrap_err();
        assert!(e.message.contains("more than 32 MiB of text and paths"), "{e}");
        assert_eq!(e.line, Some(5), "the line whose alias crossed the limit");
        // No alias at all: a 100 KiB explicit key above 1,000 items is 100 MiB of paths.
        let long_key = format!("Resources:\n  Q:\n    Type: AWS::SQS::Queue\nMetadata:\n  ? {}\n  :\n{}", "k".repeat(100 * 1024), "    - 1\n".repeat(1000));
        let e = Template::parse(&long_key).unwrap_err();
        assert!(e.message.contains("more than 32 MiB of text and paths"), "{e}");
        let deep = format!("Resources: {}{}", "[".repeat(300), "]".repeat(300));
        assert!(Template::parse(&deep).unwrap_err().message.contains("recursion limit"));
        let deep_json = format!("{{\"Resources\": {}{}}}", "[".repeat(300), "]".repeat(300));
        assert!(Template::parse(&deep_json).is_err());
    }

    #[test]
    fn aliases_within_bounds_are_expanded() {
        let t = Template::parse("Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties: &p\n      DelaySeconds: 5\n  B:\n    Type: AWS::SQS::Queue\n    Properties: *p\n").unwrap();
        assert_eq!(t.value["Resources"]["B"]["Properties"], json!({"DelaySeconds": 5}));
        assert_eq!(t.line_of("/Resources/B/Type"), Some(7));
    }
}
