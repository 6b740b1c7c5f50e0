#!/usr/bin/env python3
"""Benchmark: cargo-jiti at scale, on moto. A workspace of 50 apps in an account holding 2,000
environment stacks of those apps and 20,000 resources tagged as theirs.

    cargo build --release -p cargo-jiti && scripts/setup-python && .venv/bin/python scripts/bench-scale.py

One emulator of its own (started here on a free loopback port, even under scripts/bench) is
seeded with:
- 2,000 environment stacks, spread over the 50 apps: most of live branches (which exist in the
  clone), 4% of deleted branches and 1% expired;
- 20,000 tagged resources (SQS queues and SSM parameters, half each) of those environments, of
  which the ones of collectable environments are planned for collection with their stack, and 100
  more whose environment has no stack at all (orphans);
- then the workspace's own environment (branch feature/bench), deployed by cargo-jiti: 50 stacks,
  250 resources, on the listing's last pages.
Then times, whole process (median of several runs), and counts the API calls of: render, check,
a no-op deploy of all 50 apps and of one app (with and without dependencies), envs, and a gc dry
run. Not a test: figures vary by machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import ROOT, VENV, api_calls, git, make_workspace, moto, require, run, timed

SEED = """
import boto3, json, sys
from concurrent.futures import ThreadPoolExecutor
apps, stacks, resources, orphans = (int(a) for a in sys.argv[1:5])
cf, sqs, ssm = boto3.client('cloudformation'), boto3.client('sqs'), boto3.client('ssm')
body = json.dumps({'Resources': {'Q': {'Type': 'AWS::SQS::Queue'}}})
gone, expired = stacks * 4 // 100, stacks // 100

def env_of(i):
    kind = 'gone' if i < gone else 'expired' if i < gone + expired else 'live'
    return f'app{i % apps:03}', f'{kind}-{i}', f'{kind}/{i}' if kind != 'expired' else f'live/{i}'

def base(app, env):
    return {'jiti:app': app, 'jiti:env': env, 'jiti:managed-by': 'cargo-jiti'}

def stack(i):
    app, env, branch = env_of(i)
    tags = dict(base(app, env), **{'jiti:branch': branch, 'jiti:version': '0.1.0', 'jiti:commit': 'c' * 40})
    if env.startswith('expired'):
        tags['jiti:expires-at'] = '2020-01-01T00:00:00Z'
    cf.create_stack(StackName=f'{app}-{env}', TemplateBody=body, Tags=[{'Key': k, 'Value': v} for k, v in tags.items()])

def resource(i):
    if i < resources:
        app, env, _ = env_of(i % stacks)
    else:  # an orphan: its environment has no stack
        app, env = f'app{i % apps:03}', f'vanished-{i}'
    tags = base(app, env)
    if i % 2:
        sqs.create_queue(QueueName=f'scale-{i}', tags=tags)
    else:
        ssm.put_parameter(Name=f'/scale/{i}', Value='x', Type='String', Tags=[{'Key': k, 'Value': v} for k, v in tags.items()])

# moto's CloudFormation is not safe to call concurrently (it answers 500); its SQS and SSM are.
for i in range(stacks):
    stack(i)
with ThreadPoolExecutor(4) as pool:
    list(pool.map(resource, range(resources + orphans)))
print(json.dumps({'gone': gone, 'expired': expired}))
"""


def median(cmd, cwd, env, runs):
    """(median seconds, last run's output)."""
    results = [timed(cmd, cwd, env) for _ in range(runs)]
    return statistics.median(t for t, _ in results), results[-1][1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--stacks", type=int, default=2000)
    parser.add_argument("--resources", type=int, default=20000)
    parser.add_argument("--orphans", type=int, default=100)
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cargo-jiti"))
    args = parser.parse_args()
    require(args.bin)

    # An emulator of its own: the figures are of exactly this account.
    with moto(shareable=False) as (port, env), tempfile.TemporaryDirectory(prefix="jiti-bench-") as root:
        make_workspace(root, args.apps)
        head = git(root, "rev-parse", "HEAD")
        # Every live environment's branch exists in the clone: one ref update, not 2,000 git runs.
        git(root, "update-ref", "--stdin", stdin="".join(f"create refs/heads/live/{i} {head}\n" for i in range(args.stacks)))
        jiti = [args.bin, "jiti"]
        print(f"moto on 127.0.0.1:{port}; {os.cpu_count()} cores; {args.apps} apps x 5 resources")

        start = time.perf_counter()
        seed = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", SEED, str(args.apps), str(args.stacks), str(args.resources), str(args.orphans)],
                              env=env, capture_output=True, text=True)
        if seed.returncode != 0:
            sys.exit(f"seeding failed:\n{seed.stderr[-3000:]}")
        collectable = json.loads(seed.stdout)
        print(f"seeded: {args.stacks} environment stacks ({collectable['gone']} of deleted branches, {collectable['expired']} expired) and "
              f"{args.resources + args.orphans} tagged resources ({args.orphans} without a stack) in {time.perf_counter() - start:.0f} s")

        # Created last, the workspace's stacks are on the listing's last pages: the worst case.
        start = time.perf_counter()
        created = json.loads(run(jiti + ["deploy", "--json"], root, env).stdout)
        failed = [a["app"] for a in created["apps"] if a["result"] != "created"]
        if failed:
            sys.exit(f"the first deploy did not create {failed}")
        print(f"seeded: then the workspace's environment deployed (create, {len(created['apps'])} stacks) in {time.perf_counter() - start:.1f} s; {api_calls(created)}\n")

        rows = []
        t, _ = median(jiti + ["render"], root, env, args.runs)
        rows.append((f"render ({args.apps} apps)", t, "no API call"))
        t, _ = median(jiti + ["check"], root, env, args.runs)
        rows.append((f"check ({args.apps} apps)", t, "no API call"))
        t, out = median(jiti + ["deploy", "--json"], root, env, args.runs)
        noop = json.loads(out.stdout)
        results = {a["result"] for a in noop["apps"]}
        rows.append((f"deploy, no-op ({args.apps} apps: {', '.join(sorted(results))})", t, api_calls(noop)))
        for app, what in ((f"app{args.apps - 1:03}", f"1 app and its {(args.apps - 1) % 5} dependencies"), ("app000", "1 app without dependencies")):
            t, out = median(jiti + ["deploy", "-p", app, "--json"], root, env, args.runs)
            rows.append((f"deploy -p {app}, no-op ({what})", t, api_calls(json.loads(out.stdout))))
        t, out = median(jiti + ["envs", "--json"], root, env, args.runs)
        envs = json.loads(out.stdout)
        rows.append((f"envs ({len(envs['environments'])} environments)", t, api_calls(envs)))
        t, out = median(jiti + ["gc", "--json", "--max-delete", str(args.stacks)], root, env, args.runs)
        gc = json.loads(out.stdout)
        plan = gc["plan"]
        rows.append((f"gc dry run (plans {len(plan['collect'])} stacks, {len(plan['resources'])} resources)", t, api_calls(gc)))

        width = max(len(r[0]) for r in rows)
        for label, seconds, what in rows:
            print(f"{label:<{width}}  {seconds * 1000:>8.0f} ms  {what}")
        print(f"\nmedians of {args.runs} runs, whole process")
        expected = collectable["gone"] + collectable["expired"]
        if len(plan["collect"]) != expected:
            sys.exit(f"gc planned {len(plan['collect'])} stacks, expected {expected}")


if __name__ == "__main__":
    main()
