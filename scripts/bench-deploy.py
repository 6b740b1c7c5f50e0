#!/usr/bin/env python3
"""Benchmark: `cargo jiti deploy` against `aws cloudformation deploy`, and `envs` at scale, on moto.

    cargo build --release -p cargo-jiti && scripts/setup-python && .venv/bin/python scripts/bench-deploy.py

In one run against one emulator (started here on a free loopback port, stopped at the end):
- the same rendered template (examples/shop's billing app) deployed by both tools, whole process,
  median of several runs: first create, no-op, one-property change; the ratios; cargo-jiti's API
  calls per operation;
- a no-op deploy of the whole example workspace: its API calls (target: exactly 1);
- `cargo jiti envs` over 500 environment stacks: API calls (one per DescribeStacks page) and wall
  time, beside `aws cloudformation describe-stacks`.
Not a test: figures vary by machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from benchlib import ROOT, VENV, moto, require, run, shop, timed


def median_ms(times):
    return statistics.median(times) * 1000


def set_visibility(repo, value):
    path = os.path.join(repo, "billing", "infra", "jiti.toml")
    text = open(path).read()
    import re

    open(path, "w").write(re.sub(r"visibility_timeout = \d+", f"visibility_timeout = {value}", text))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stacks", type=int, nargs="+", default=[500, 2000], help="envs at each of these account sizes")
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cargo-jiti"))
    args = parser.parse_args()
    aws = os.path.join(VENV, "bin", "aws")
    require(args.bin, aws)

    with moto() as (port, env), shop("feature/bench") as (tmp, repo):
        jiti = [args.bin, "jiti"]
        print(f"moto on 127.0.0.1:{port}; {os.cpu_count()} cores; {args.runs} runs each; whole-process wall time, median\n")

        rows = []
        calls = {}
        # First create: a new environment (branch) each run; the same template for both tools.
        j_create, a_create = [], []
        for i in range(args.runs):
            t, out = timed(jiti + ["deploy", "-p", "billing", "--branch", f"bench/create-{i}", "--json"], repo, env)
            j_create.append(t)
            calls["create"] = json.loads(out.stdout)["api_calls"]
            template = os.path.join(tmp, f"create-{i}.json")
            open(template, "w").write(run(jiti + ["render", "-p", "billing", "--branch", f"bench/create-{i}", "--stdout"], repo, env).stdout)
            t, _ = timed([aws, "cloudformation", "deploy", "--template-file", template, "--stack-name", f"aws-create-{i}", "--no-fail-on-empty-changeset"], repo, env)
            a_create.append(t)
        rows.append(("first create (1 stack, 5 resources)", j_create, a_create))

        # No-op: the same stack again.
        j_noop, a_noop = [], []
        template = os.path.join(tmp, "create-0.json")
        for _ in range(args.runs):
            t, out = timed(jiti + ["deploy", "-p", "billing", "--branch", "bench/create-0", "--json"], repo, env)
            j_noop.append(t)
            calls["no-op"] = json.loads(out.stdout)["api_calls"]
            t, _ = timed([aws, "cloudformation", "deploy", "--template-file", template, "--stack-name", "aws-create-0", "--no-fail-on-empty-changeset"], repo, env)
            a_noop.append(t)
        rows.append(("no-op", j_noop, a_noop))

        # One property changed each run (the queue's visibility timeout).
        j_change, a_change = [], []
        for i in range(args.runs):
            set_visibility(repo, 61 + i)
            t, out = timed(jiti + ["deploy", "-p", "billing", "--branch", "bench/create-1", "--json"], repo, env)
            j_change.append(t)
            calls["one change"] = json.loads(out.stdout)["api_calls"]
            changed = os.path.join(tmp, f"change-{i}.json")
            open(changed, "w").write(run(jiti + ["render", "-p", "billing", "--branch", "bench/create-1", "--stdout"], repo, env).stdout)
            t, _ = timed([aws, "cloudformation", "deploy", "--template-file", changed, "--stack-name", "aws-create-1", "--no-fail-on-empty-changeset"], repo, env)
            a_change.append(t)
        set_visibility(repo, 60)
        rows.append(("one-property change", j_change, a_change))

        print(f"{'deploy':<38} {'cargo jiti':>12} {'aws cfn deploy':>15} {'ratio':>8}")
        for label, j, a in rows:
            print(f"{label:<38} {median_ms(j):>9.0f} ms {median_ms(a):>12.0f} ms {median_ms(a) / median_ms(j):>7.1f}x")
        print("\ncargo-jiti API calls per deploy (calls; attempts where they differ):")
        for label, c in calls.items():
            ops = ", ".join(f"{op.split('.')[-1]} {v['calls']}" + (f" ({v['attempts']} attempts)" if v["attempts"] != v["calls"] else "") for op, v in c["by_operation"].items())
            print(f"  {label:<12} {c['total']:>3} total: {ops}")

        # The whole example workspace, no-op.
        run(jiti + ["deploy", "--branch", "bench/workspace", "--method", "direct"], repo, env)
        out = run(jiti + ["deploy", "--branch", "bench/workspace", "--json"], repo, env)
        ws = json.loads(out.stdout)
        print(f"\nno-op deploy of the whole example workspace ({len(ws['apps'])} apps): {ws['api_calls']['total']} API call(s): {list(ws['api_calls']['by_operation'])}")

        # envs at scale: stacks tagged as environments of the shop's apps, seeded up to each size.
        seeded_so_far = 0
        for size in args.stacks:
            seeded = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", f"""
import boto3, json
cf = boto3.client('cloudformation')
body = json.dumps({{'Resources': {{'Q': {{'Type': 'AWS::SQS::Queue'}}}}}})
for i in range({seeded_so_far}, {size}):
    app = ['billing', 'orders-api'][i % 2]
    env = f'scale-{{i}}'
    tags = [{{'Key': 'jiti:app', 'Value': app}}, {{'Key': 'jiti:env', 'Value': env}}, {{'Key': 'jiti:branch', 'Value': f'scale/{{i}}'}},
            {{'Key': 'jiti:version', 'Value': '0.1.0'}}, {{'Key': 'jiti:commit', 'Value': 'c' * 40}}, {{'Key': 'jiti:managed-by', 'Value': 'cargo-jiti'}}]
    cf.create_stack(StackName=f'{{app}}-{{env}}', TemplateBody=body, Tags=tags)
"""], env=env, capture_output=True, text=True)
            if seeded.returncode != 0:
                sys.exit(seeded.stderr)
            seeded_so_far = size
            total = sum(1 for _ in json.loads(run(jiti + ["envs", "--json"], repo, env).stdout)["environments"])
            j_envs, a_envs = [], []
            for _ in range(args.runs):
                t, out = timed(jiti + ["envs", "--json"], repo, env)
                j_envs.append(t)
                envs_calls = json.loads(out.stdout)["api_calls"]
                t, _ = timed([aws, "cloudformation", "describe-stacks", "--output", "json"], repo, env)
                a_envs.append(t)
            print(f"\nenvs over {total} environment stacks of the workspace's apps:")
            print(f"  cargo jiti envs                     {median_ms(j_envs):>7.0f} ms, {envs_calls['total']} API calls (DescribeStacks pages)")
            print(f"  aws cloudformation describe-stacks  {median_ms(a_envs):>7.0f} ms  ({median_ms(a_envs) / median_ms(j_envs):.1f}x)")

if __name__ == "__main__":
    main()
