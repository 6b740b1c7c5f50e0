#!/usr/bin/env python3
"""Generate infra-schema/tagging.tsv from the CloudFormation registry schemas that cfn-lint ships.

The table tells cargo-jiti, for every resource type, whether it can be tagged, which property
carries its tags and what shape that property has. cfn-lint's package data is the source of truth
(it is also the oracle the tests lint every rendered template with), so the table is regenerated,
never edited by hand:

    .venv/bin/python scripts/gen-tagging-table.py > infra-schema/tagging.tsv

A test regenerates it with the pinned cfn-lint and fails when the committed file is stale.

Decisions, one per case the registry presents (see ARCHITECTURE.md, "Tagging"):
- `tagging.taggable: true`: the tag property is `tagging.tagProperty` (default /properties/Tags).
- no `tagging` block but a top-level `Tags` property: treated as taggable through `Tags`; the
  schema accepts tags there and CloudFormation passes them to the service.
- `tagging.taggable: false`, or no tagging block and no `Tags`: untaggable (reported by `check`).
- AWS::Serverless::* (SAM, from providers/sam.json): `Tags` is a string map.
- Per type, the tag key pattern, value pattern and value length limit, when the schema sets them
  (RoboMaker keys, say, allow no `:`, so they cannot carry `jiti:` keys). Negative lookaheads such
  as `(?!aws:)` are dropped: they only forbid prefixes no jiti or validated user key has, and
  Rust's regex engine has no lookaround.
"""
import importlib.metadata
import json
import os
import re
import sys

import cfnlint

SCHEMAS = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")


def load(name):
    with open(os.path.join(SCHEMAS, name), encoding="utf-8") as f:
        return json.load(f)


def resolve(schema, node):
    for _ in range(16):
        if not (isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/")):
            return node
        cur = schema
        for part in node["$ref"][2:].split("/"):
            cur = cur[part]
        node = cur
    return node


def property_at(schema, pointer):
    """The schema of the property at a tagProperty pointer such as /properties/TagSpecifications/*/Tags."""
    node = schema
    parts = pointer.strip("/").split("/")
    i = 0
    while i < len(parts):
        node = resolve(schema, node)
        part = parts[i]
        if part == "*":
            node = node.get("items")
        elif part == "properties":
            node = node.get("properties", {}).get(parts[i + 1])
            i += 1
        else:
            # Below a list item the pointer names the item's property directly.
            node = node.get("properties", {}).get(part)
        if node is None:
            return None
        i += 1
    return resolve(schema, node)


def item_keys(schema, items):
    items = resolve(schema, items or {})
    keys = set(items.get("properties", {}))
    for alt in items.get("oneOf", []) + items.get("anyOf", []):
        keys |= set(resolve(schema, alt).get("properties", {}))
    return keys


def shape_of(schema, prop):
    """One of: list, list-propagate, map, items; None when the shape is not one we can write."""
    types = prop.get("type")
    types = types if isinstance(types, list) else [types]
    if "array" in types or "items" in prop:
        keys = item_keys(schema, prop.get("items"))
        if {"Key", "Value", "PropagateAtLaunch"} <= keys:
            return "list-propagate"
        if {"Key", "Value"} <= keys:
            return "list"
        return None
    if "object" in types or "patternProperties" in prop or "additionalProperties" in prop:
        props = prop.get("properties")
        if props and "Items" in props:
            return "items" if {"Key", "Value"} <= item_keys(schema, resolve(schema, props["Items"]).get("items")) else None
        if props:
            return None
        # patternProperties / additionalProperties maps, free-form objects and `object or string (json)`
        # all accept a plain string-to-string object.
        return "map"
    return None


def normalize(pattern):
    """An ECMA-262 schema pattern as Rust's regex crate reads it, or '-' for none."""
    if not pattern:
        return "-"
    pattern = pattern.replace("(?![\\s\\S])", "$")
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("(?!", i):
            depth = 0
            for j in range(i, len(pattern)):
                if pattern[j] == "\\":
                    continue
                depth += pattern[j] == "("
                depth -= pattern[j] == ")"
                if depth == 0:
                    break
            i = j + 1
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out) or "-"


def constraints(schema, prop, shape):
    """(key pattern, value pattern, value max length) of a tag property."""
    if shape == "map":
        pattern_props = prop.get("patternProperties") or {}
        key = next(iter(pattern_props), None)
        value = resolve(schema, pattern_props[key]) if key else resolve(schema, prop.get("additionalProperties") if isinstance(prop.get("additionalProperties"), dict) else {})
    else:
        items = prop.get("items") if shape != "items" else resolve(schema, prop["properties"]["Items"]).get("items")
        props = resolve(schema, items or {}).get("properties", {})
        key = resolve(schema, props.get("Key", {})).get("pattern")
        value = resolve(schema, props.get("Value", {}))
    return normalize(key), normalize(value.get("pattern")), str(value.get("maxLength", 256))


def rows():
    out = []
    for typ, digest in sorted(load("providers/us-east-1.json").items()):
        schema = load(os.path.join("resources", digest + ".json"))
        tagging = schema.get("tagging")
        if tagging is None:
            if "Tags" not in schema.get("properties", {}):
                out.append((typ, "untaggable") + ("-",) * 5)
                continue
            pointer, origin = "/properties/Tags", "tags-property"
        elif not tagging.get("taggable", True):
            out.append((typ, "untaggable") + ("-",) * 5)
            continue
        else:
            pointer, origin = tagging.get("tagProperty", "/properties/Tags"), "taggable"
        prop = property_at(schema, pointer)
        shape = shape_of(schema, prop) if prop is not None else None
        path = pointer.replace("/properties/", "/").strip("/")
        limits = constraints(schema, prop, shape) if shape else ("-",) * 3
        out.append((typ, origin if shape else "unsupported-shape", path, shape or "-") + limits)
    for typ, digest in sorted(load("providers/sam.json").items()):
        schema = load(os.path.join("resources", digest + ".json"))
        if "Tags" in schema.get("properties", {}):
            out.append((typ, "taggable", "Tags", "map", "-", "-", "256"))
        else:
            out.append((typ, "untaggable") + ("-",) * 5)
    return out


def main():
    version = importlib.metadata.version("cfn-lint")
    schema_date = load("version.json").get("schema_date", "unknown")
    w = sys.stdout.write
    w(f"# Generated by scripts/gen-tagging-table.py from cfn-lint {version} (registry schemas of {schema_date}).\n")
    w("# Do not edit: regenerate. Columns: type, status, tag property path (* = every list item), shape,\n")
    w("# key pattern, value pattern (Rust regex syntax; - for none), value max length.\n")
    w("# status: taggable (registry says so) | tags-property (no tagging block, has Tags) | untaggable | unsupported-shape\n")
    w("# shape: list ([{Key, Value}]) | list-propagate ([{Key, Value, PropagateAtLaunch}]) | map ({key: value}) | items ({Items: [{Key, Value}]})\n")
    for row in rows():
        w("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
