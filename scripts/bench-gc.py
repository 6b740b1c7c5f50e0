#!/usr/bin/env python3
"""Benchmark: `cargo jiti gc` over 500 environment stacks of which 100 are collectable, on moto.

    cargo build --release -p cargo-jiti && scripts/setup-python && .venv/bin/python scripts/bench-gc.py

One emulator (started here on a free loopback port, stopped at the end) holds 500 environment
stacks of the example shop's two apps: 400 of live branches, 80 of deleted branches, 20 expired;
plus 20 orphaned resources (buckets with objects, tables, queues, log groups) whose stacks are
gone. Prints the API calls and the whole-process wall time of the dry run (median of several runs)
and of the real run (`--yes`, once, at each `--jobs` asked for, reseeding in between).
Not a test: figures vary by machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchlib import ROOT, VENV, api_calls, git, moto, require, shop, timed

SEED = """
import boto3, json, sys
stacks, gone, expired, orphans, round_ = (int(a) for a in sys.argv[1:6])
cf = boto3.client('cloudformation')
# A fresh account each round: the previous round's live environments go.
names = [s['StackName'] for page in cf.get_paginator('describe_stacks').paginate() for s in page['Stacks']]
for name in names:
    cf.delete_stack(StackName=name)
body = json.dumps({'Resources': {'Q': {'Type': 'AWS::SQS::Queue'}}})
for i in range(stacks):
    app = ['billing', 'orders-api'][i % 2]
    kind = 'gone' if i < gone else 'expired' if i < gone + expired else 'live'
    env = f'{kind}-{round_}-{i}'
    tags = {'jiti:app': app, 'jiti:env': env, 'jiti:branch': f'{kind}/{i}' if kind != 'expired' else f'live/{i}',
            'jiti:version': '0.1.0', 'jiti:commit': 'c' * 40, 'jiti:managed-by': 'cargo-jiti'}
    if kind == 'expired':
        tags['jiti:expires-at'] = '2020-01-01T00:00:00Z'
    cf.create_stack(StackName=f'{app}-{env}', TemplateBody=body, Tags=[{'Key': k, 'Value': v} for k, v in tags.items()])
for i in range(orphans):
    app = ['billing', 'orders-api'][i % 2]
    t = {'jiti:app': app, 'jiti:env': f'old-{round_}-{i}', 'jiti:managed-by': 'cargo-jiti'}
    name = f'bench-orphan-{round_}-{i}'
    kind = i % 4
    if kind == 0:
        s3 = boto3.client('s3')
        s3.create_bucket(Bucket=name)
        s3.put_bucket_tagging(Bucket=name, Tagging={'TagSet': [{'Key': k, 'Value': v} for k, v in t.items()]})
        for n in range(10):
            s3.put_object(Bucket=name, Key=f'objects/{n}', Body=b'x')
    elif kind == 1:
        boto3.client('dynamodb').create_table(TableName=name, KeySchema=[{'AttributeName': 'k', 'KeyType': 'HASH'}],
            AttributeDefinitions=[{'AttributeName': 'k', 'AttributeType': 'S'}], BillingMode='PAY_PER_REQUEST', Tags=[{'Key': k, 'Value': v} for k, v in t.items()])
    elif kind == 2:
        boto3.client('sqs').create_queue(QueueName=name, tags=t)
    else:
        boto3.client('logs').create_log_group(logGroupName=f'/bench/{name}', tags=t)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="dry runs to take the median of")
    parser.add_argument("--stacks", type=int, default=500)
    parser.add_argument("--collectable", type=int, default=100, help="of which 80%% branch gone, 20%% expired")
    parser.add_argument("--orphans", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="+", default=[4, 16], help="real runs, one per value of --jobs")
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cargo-jiti"))
    args = parser.parse_args()
    require(args.bin)
    gone = args.collectable * 4 // 5
    expired = args.collectable - gone

    with moto() as (port, env), shop("main") as (_, repo):
        head = git(repo, "rev-parse", "HEAD")
        # Every live (and expired) environment's branch exists locally: one ref update, not 400 git runs.
        git(repo, "update-ref", "--stdin", stdin="".join(f"create refs/heads/live/{i} {head}\n" for i in range(args.stacks)))
        jiti = [args.bin, "jiti", "gc", "--json", "--max-delete", str(args.stacks)]
        print(f"moto on 127.0.0.1:{port}; {os.cpu_count()} cores; {args.stacks} environment stacks, {args.collectable} collectable "
              f"({gone} branch gone, {expired} expired), {args.orphans} orphaned resources\n")
        for round_, jobs in enumerate(args.jobs):
            start = time.perf_counter()
            subprocess.run([os.path.join(VENV, "bin", "python"), "-c", SEED, str(args.stacks), str(gone), str(expired), str(args.orphans), str(round_)], env=env, check=True)
            seeded = time.perf_counter() - start
            if round_ == 0:
                times = []
                for _ in range(args.runs):
                    t, out = timed(jiti, repo, env)
                    times.append(t)
                dry = json.loads(out.stdout)
                planned = (len(dry["plan"]["collect"]), len(dry["plan"]["resources"]))
                print(f"dry run       {statistics.median(times) * 1000:>8.0f} ms (median of {args.runs})  plans {planned[0]} stacks, {planned[1]} resources; {api_calls(dry)}")
            t, out = timed(jiti + ["--yes", "--jobs", str(jobs)], repo, env)
            real = json.loads(out.stdout)
            failed = sum(1 for d in real["deleted"] if not d["deleted"]) + sum(1 for r in real["removed"] if r["outcome"] is None)
            print(f"--yes --jobs {jobs:<3}{t * 1000:>7.0f} ms  deleted {len(real['deleted'])} stacks, {len(real['removed'])} resources, {failed} failed; {api_calls(real)}  (seeding took {seeded:.0f} s)")
            _, out = timed(jiti, repo, env)
            again = json.loads(out.stdout)
            if again["plan"]["collect"] or again["plan"]["resources"]:
                sys.exit(f"a second pass still plans {len(again['plan']['collect'])} stacks and {len(again['plan']['resources'])} resources")
        print("\na second pass after each real run plans nothing")


if __name__ == "__main__":
    main()
