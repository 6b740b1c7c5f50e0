//! Reading a rendered YAML template event by event (yaml-rust2) into the canonical JSON value:
//! short-form intrinsics (`!Ref x`, YAML tags that generic loaders drop) become their long form,
//! YAML 1.1 scalars are typed as CloudFormation reads them, each node's line is kept for errors,
//! and what a document may expand to (aliases) is bounded before it is copied.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::{INTRINSICS, MAX_NODES, MAX_TEXT_BYTES, Template, TemplateError, escape_pointer};

pub(super) fn parse(text: &str) -> Result<Template, TemplateError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(TemplateError::at(
            Some(m.line()),
            Some(m.col() + 1),
            format!("invalid YAML: {}", e.info()),
        ));
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    // A block scalar (`|`, `>`) that ends the file without a final line break has none in its
    // value (PyYAML, and so cfn-lint, read it so); yaml-rust2 adds one.
    let last_line = text.rsplit('\n').next().unwrap_or_default().trim();
    if !text.ends_with('\n')
        && !last_line.is_empty()
        && !last_line.starts_with('#')
        && let Some(pointer) = builder.last_block.take()
        && let Some(Value::String(s)) =
            builder.documents.last_mut().and_then(|d| d.pointer_mut(&pointer))
        && s.ends_with('\n')
    {
        s.pop();
    }
    match builder.documents.len() {
        0 => Err(TemplateError::at(None, None, "the template is empty")),
        1 => Ok(Template {
            value: builder.documents.pop().unwrap_or(Value::Null),
            lines: builder.lines,
        }),
        _ => Err(TemplateError::at(
            builder.second_document_line,
            None,
            "a template is one YAML document; remove the second `---`",
        )),
    }
}

enum Frame {
    Seq {
        items: Vec<Value>,
        tag: Option<Tag>,
        anchor: usize,
        line: usize,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        tag: Option<Tag>,
        anchor: usize,
        line: usize,
    },
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
    /// The pointer of the last node, when it is a block scalar (`|`, `>`): see [`parse`].
    last_block: Option<String>,
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
            Event::DocumentStart
                if !self.documents.is_empty() && self.second_document_line.is_none() =>
            {
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
                let block =
                    matches!(style, TScalarStyle::Literal | TScalarStyle::Folded) && tag.is_none();
                let value = scalar(text, style, tag.as_ref()).map_err(|m| at(&m))?;
                let pointer = self.child_pointer();
                self.value(value, anchor, weight, line)?;
                self.last_block = block.then_some(pointer);
            }
            Event::SequenceStart(anchor, tag) => {
                self.last_block = None;
                self.open(line)?;
                self.stack.push(Frame::Seq { items: Vec::new(), tag, anchor, line });
            }
            Event::MappingStart(anchor, tag) => {
                self.last_block = None;
                self.open(line)?;
                self.stack.push(Frame::Map { map: Map::new(), key: None, tag, anchor, line });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.path.pop();
                let weight = self.weights.pop().unwrap_or_default();
                let (value, tag, anchor, line) = match self.stack.pop() {
                    Some(Frame::Seq { items, tag, anchor, line }) => {
                        (Value::Array(items), tag, anchor, line)
                    }
                    Some(Frame::Map { map, tag, anchor, line, .. }) => {
                        (Value::Object(map), tag, anchor, line)
                    }
                    None => return Err(at("unbalanced YAML")),
                };
                let value = apply_tag(value, tag.as_ref())
                    .map_err(|m| TemplateError::at(Some(line), None, m))?;
                self.value(value, anchor, weight, line)?;
            }
            Event::Alias(id) => {
                if self.expecting_key() {
                    return Err(at("an alias cannot be a mapping key"));
                }
                // Charged before it is copied: the copy is what a bomb would make.
                let weight = self
                    .anchors
                    .get(&id)
                    .map(|(_, w)| *w)
                    .ok_or_else(|| at("alias to an unknown anchor"))?;
                self.charge(weight, line)?;
                let value = self.anchors.get(&id).map(|(v, _)| v.clone()).unwrap_or_default();
                self.last_block = None;
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
            return Err(TemplateError::at(
                Some(line),
                None,
                "a mapping key must be a plain string",
            ));
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
        let refuse = |what: String| {
            Err(TemplateError::at(
                Some(line),
                None,
                format!(
                    "the template expands to more than {what} (YAML aliases, long keys?); refused"
                ),
            ))
        };
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
    fn value(
        &mut self,
        value: Value,
        anchor: usize,
        weight: Weight,
        line: usize,
    ) -> Result<(), TemplateError> {
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
                    Some((resource, attribute)) => {
                        Value::Array(vec![resource.into(), attribute.into()])
                    }
                    None => {
                        return Err(format!(
                            "`!GetAtt {s}` must name a resource and an attribute: `!GetAtt Resource.Attribute`"
                        ));
                    }
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

/// A scalar's value. Quoted and intrinsic-tagged scalars are strings. Plain ones are read as
/// CloudFormation reads them: AWS documents YAML 1.1 for templates, and cfn-lint decodes with
/// PyYAML's YAML 1.1 resolvers, so `yes`/`no`/`on`/`off` (in the three casings) are booleans, as
/// `true`/`false` are (`y`/`n` are strings, as in PyYAML). Numbers stay strings where a JSON number
/// would change the text: `012`, `1.10`, `1e3` (an AWS account id must keep its leading zero; a
/// version `1.10` is not `1.1`).
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
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
    let numeric = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if numeric && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.")) {
        if let Ok(i) = text.parse::<i64>() {
            if i.to_string() == text {
                return Value::Number(i.into());
            }
        } else if let Some(n) =
            text.parse::<f64>().ok().and_then(Number::from_f64).filter(|n| n.to_string() == text)
        {
            return Value::Number(n);
        }
    }
    Value::String(text)
}
