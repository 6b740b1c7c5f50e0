"""The differential oracle of tests/tests/corpus.rs: each template as cfn-lint decodes it (the way
CloudFormation reads YAML 1.1) against cargo-jiti's rendering of it, cargo-jiti's own additions set
aside (its tags, retention policies it rewrote to Delete, and the log groups it added for functions,
with the function's `LoggingConfig.LogGroup` naming them). Reads [[name, original, rendered,
[[function, log group], ...]], ...] on stdin; prints {name: [difference, ...]} for the templates that differ."""

import json
import sys

from cfnlint.decode import decode


def plain(value):
    """cfn-lint's node types as plain JSON values (dates as their text)."""
    return json.loads(json.dumps(value, default=str))


def strip_jiti_tags(value):
    """Removes tags whose key starts with `jiti:`, in every shape AWS uses (lists of Key/Value,
    maps); an emptied container is marked so the comparison can drop it where the original had none."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and k.startswith("jiti:"):
                continue
            out[k] = strip_jiti_tags(v)
        return out
    if isinstance(value, list):
        return [
            strip_jiti_tags(v)
            for v in value
            if not (isinstance(v, dict) and isinstance(v.get("Key"), str) and v["Key"].startswith("jiti:"))
        ]
    return value


def empty(value):
    """Nothing but empty containers: what is left of a tag property cargo-jiti added."""
    if isinstance(value, dict):
        return all(empty(v) for v in value.values())
    if isinstance(value, list):
        return all(empty(v) for v in value)
    return False


def resources(section):
    """(id, resource) of a Resources section, those inside Fn::ForEach loops included."""
    for rid, resource in (section or {}).items():
        if rid.startswith("Fn::ForEach::") and isinstance(resource, list) and len(resource) > 2 and isinstance(resource[2], dict):
            yield from resources(resource[2])
        else:
            yield rid, resource


def same_scalar(a, b):
    if a == b and type(a) is type(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return float(a) == float(b)
    return False


def compare(original, rendered, path, out):
    if isinstance(original, dict) and isinstance(rendered, dict):
        for k in original:
            if k not in rendered:
                out.append(f"{path}/{k}: missing from the rendering")
            else:
                compare(original[k], rendered[k], f"{path}/{k}", out)
        for k in rendered:
            if k not in original and not empty(rendered[k]):
                out.append(f"{path}/{k}: added by the rendering: {json.dumps(rendered[k])[:120]}")
    elif isinstance(original, list) and isinstance(rendered, list):
        if len(original) != len(rendered):
            out.append(f"{path}: {len(original)} items, rendered {len(rendered)}")
        for i, (a, b) in enumerate(zip(original, rendered)):
            compare(a, b, f"{path}/{i}", out)
    elif not same_scalar(original, rendered):
        out.append(f"{path}: {json.dumps(original)} read by cfn-lint, {json.dumps(rendered)} by cargo-jiti")


def main():
    differences = {}
    for name, original_file, rendered_file, added in json.load(sys.stdin):
        original, matches = decode(original_file)
        if original is None:
            differences[name] = [f"cfn-lint cannot decode it: {[str(m) for m in matches]}"]
            continue
        original = plain(original)
        with open(rendered_file, encoding="utf-8") as f:
            rendered = strip_jiti_tags(json.load(f))
        originals = dict(resources(original.get("Resources")))
        found = []
        for function, group in added:
            section = rendered.get("Resources", {})
            removed = section.pop(group, None)
            if not isinstance(removed, dict) or removed.get("Type") != "AWS::Logs::LogGroup":
                found.append(f"/Resources/{group}: not the log group added for {function}: {removed}")
            logging = section.get(function, {}).get("Properties", {}).get("LoggingConfig", {})
            if logging.pop("LogGroup", None) != {"Ref": group}:
                found.append(f"/Resources/{function}: its LoggingConfig.LogGroup is not {group}")
            if not logging and "LoggingConfig" not in (originals.get(function, {}).get("Properties") or {}):
                section[function]["Properties"].pop("LoggingConfig")
        for rid, resource in resources(rendered.get("Resources")):
            before = originals.get(rid)
            if isinstance(before, dict) and isinstance(resource, dict):
                for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
                    if resource.get(attribute) == "Delete" and before.get(attribute) != "Delete":
                        if attribute in before:
                            resource[attribute] = before[attribute]
                        else:
                            del resource[attribute]
        compare(original, rendered, "", found)
        if found:
            differences[name] = found
    json.dump(differences, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
