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
"""
import importlib.metadata
import json
import os
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


def rows():
    out = []
    for typ, digest in sorted(load("providers/us-east-1.json").items()):
        schema = load(os.path.join("resources", digest + ".json"))
        tagging = schema.get("tagging")
        if tagging is None:
            if "Tags" not in schema.get("properties", {}):
                out.append((typ, "untaggable", "-", "-"))
                continue
            pointer, origin = "/properties/Tags", "tags-property"
        elif not tagging.get("taggable", True):
            out.append((typ, "untaggable", "-", "-"))
            continue
        else:
            pointer, origin = tagging.get("tagProperty", "/properties/Tags"), "taggable"
        prop = property_at(schema, pointer)
        shape = shape_of(schema, prop) if prop is not None else None
        path = pointer.replace("/properties/", "/").strip("/")
        out.append((typ, origin if shape else "unsupported-shape", path, shape or "-"))
    for typ, digest in sorted(load("providers/sam.json").items()):
        schema = load(os.path.join("resources", digest + ".json"))
        if "Tags" in schema.get("properties", {}):
            out.append((typ, "taggable", "Tags", "map"))
        else:
            out.append((typ, "untaggable", "-", "-"))
    return out


def main():
    version = importlib.metadata.version("cfn-lint")
    schema_date = load("version.json").get("schema_date", "unknown")
    w = sys.stdout.write
    w(f"# Generated by scripts/gen-tagging-table.py from cfn-lint {version} (registry schemas of {schema_date}).\n")
    w("# Do not edit: regenerate. Columns: type, status, tag property path (* = every list item), shape.\n")
    w("# status: taggable (registry says so) | tags-property (no tagging block, has Tags) | untaggable | unsupported-shape\n")
    w("# shape: list ([{Key, Value}]) | list-propagate ([{Key, Value, PropagateAtLaunch}]) | map ({key: value}) | items ({Items: [{Key, Value}]})\n")
    for row in rows():
        w("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
