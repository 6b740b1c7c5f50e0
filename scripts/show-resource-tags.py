#!/usr/bin/env python3
"""Prints every resource the emulator (or AWS) reports with a `jiti:env` tag, and its jiti tags.

    .venv/bin/python scripts/show-resource-tags.py [ENV]

Reads the Resource Groups Tagging API (AWS_ENDPOINT_URL, credentials and region from the
environment). Exits 1 when a resource lacks one of the jiti tags. The quickstart uses it to show
that the tags are on the resources themselves, not only on the stacks.
"""
import sys

import boto3

KEYS = ["jiti:app", "jiti:env", "jiti:branch", "jiti:version", "jiti:commit", "jiti:managed-by"]


def main():
    env = sys.argv[1] if len(sys.argv) > 1 else None
    filters = [{"Key": "jiti:env", "Values": [env]}] if env else [{"Key": "jiti:managed-by", "Values": ["cargo-jiti"]}]
    pages = boto3.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(TagFilters=filters)
    missing = 0
    count = 0
    for page in pages:
        for resource in page["ResourceTagMappingList"]:
            tags = {t["Key"]: t["Value"] for t in resource["Tags"]}
            lacking = [k for k in KEYS if k not in tags]
            missing += bool(lacking)
            count += 1
            arn = resource["ResourceARN"]
            print(f"{arn}")
            print("    " + "  ".join(f"{k}={tags.get(k, '(missing)')}" for k in KEYS if k != "jiti:commit") + f"  jiti:commit={tags.get('jiti:commit', '(missing)')[:12]}")
    print(f"{count} resources, {missing} lacking a jiti tag")
    sys.exit(1 if missing or not count else 0)


if __name__ == "__main__":
    main()
