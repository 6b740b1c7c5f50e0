#!/usr/bin/env python3
"""Benchmark: `cargo jiti report` for 2,000 environments, on moto; the page's size and how long a
real browser (Debian's headless chromium) takes to load it.

    cargo build --release -p cargo-jiti && scripts/setup-python && .venv/bin/python scripts/bench-report.py

One emulator of its own is seeded as scripts/bench-scale.py seeds it (50 apps, 2,000 environment
stacks: most of live branches, 4% of deleted branches, 1% expired; no tagged resources here), the
workspace's own environment is deployed (which makes the artifacts bucket), and each seeded
environment gets 3 releases in the ledger. Then: `report --json` and `report -o page.html` (whole
process, median of --runs, with their API calls), the page's size, and the browser's load event
(`data-load-ms`, written by the page's script at `load`), median of --runs. Not a test: figures
vary by machine.
"""
import argparse
import json
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchlib import ROOT, VENV, api_calls, git, make_workspace, moto, require, run, timed

RELEASES = """
import boto3, json, sys
from concurrent.futures import ThreadPoolExecutor
apps, stacks, per = (int(a) for a in sys.argv[1:4])
s3 = boto3.client('s3')
bucket = [b['Name'] for b in s3.list_buckets()['Buckets'] if b['Name'].startswith('cargo-jiti-artifacts-')][0]
gone, expired = stacks * 4 // 100, stacks // 100

def put(i):
    kind = 'gone' if i < gone else 'expired' if i < gone + expired else 'live'
    app, env = f'app{i % apps:03}', f'{kind}-{i}'
    for n in range(per):
        rid = f'17900000{n:05}-{"c" * 12}-{i:08x}'
        release = {'id': rid, 'app': app, 'environment': env, 'stack_name': f'{app}-{env}', 'version': f'0.1.{n}',
                   'commit': 'c' * 40, 'branch': f'{kind}/{i}', 'dirty': False, 'template_hash': 'h' * 64, 'params': {'timeout': 30},
                   'parameters': {}, 'outputs': {'QueueUrl': f'https://sqs.example/{app}-{env}'}, 'time': f'2026-11-{1 + n:02}T10:00:00Z',
                   'deployed_by': {'git': 'Dev Eloper <dev@example.com>', 'aws': None}, 'status': 'deployed',
                   'rollback_of': None, 'skip_checks': False, 'error': None,
                   'artifacts': [{'name': 'api', 'bucket': bucket, 'key': f'artifacts/{app}/api/{"a" * 64}.zip', 'sha256': 'a' * 64, 'size': 1000}],
                   'method': 'deploy'}
        s3.put_object(Bucket=bucket, Key=f'releases/{app}/{env}/{rid}.json', Body=json.dumps(release).encode())

with ThreadPoolExecutor(8) as pool:
    list(pool.map(put, range(stacks)))
print(json.dumps({'bucket': bucket}))
"""


def load_ms(page, runs):
    """Median of the browser's load-event times, in ms, of `runs` headless chromium runs."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run(["/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                                  "--dump-dom", "--virtual-time-budget=10000", f"file://{page}"], capture_output=True, text=True, timeout=120)
        marker = 'data-load-ms="'
        if marker not in out.stdout:
            sys.exit(f"the page's script did not record its load event:\n{out.stderr[-2000:]}")
        times.append(int(out.stdout.split(marker, 1)[1].split('"', 1)[0]))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--stacks", type=int, default=2000)
    parser.add_argument("--releases", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="copy the page and the JSON report into DIR")
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cargo-jiti"))
    args = parser.parse_args()
    require(args.bin, "/usr/bin/chromium")
    seed = runpy.run_path(os.path.join(ROOT, "scripts", "bench-scale.py"), run_name="seed")["SEED"]
    python = os.path.join(VENV, "bin", "python")

    with moto(shareable=False) as (port, env), tempfile.TemporaryDirectory(prefix="jiti-bench-") as root:
        make_workspace(os.path.join(root, "ws"), args.apps)
        ws = os.path.join(root, "ws")
        head = git(ws, "rev-parse", "HEAD")
        git(ws, "update-ref", "--stdin", stdin="".join(f"create refs/heads/live/{i} {head}\n" for i in range(args.stacks)))
        run([python, "-c", seed, str(args.apps), str(args.stacks), "0", "0"], ws, env)
        run([args.bin, "jiti", "deploy", "--method", "direct", "--json"], ws, env)
        run([python, "-c", RELEASES, str(args.apps), str(args.stacks), str(args.releases)], ws, env)
        print(f"moto on 127.0.0.1:{port}; {os.cpu_count()} cores; {args.stacks} seeded environment stacks of {args.apps} apps "
              f"+ the workspace's {args.apps}, {args.releases} releases each\n")

        page = os.path.join(root, "report.html")
        json_times = [timed([args.bin, "jiti", "report", "--json"], ws, env) for _ in range(args.runs)]
        report = json.loads(json_times[-1][1].stdout)
        html_times = [timed([args.bin, "jiti", "report", "-o", page], ws, env) for _ in range(args.runs)]
        size = os.path.getsize(page)
        loaded = load_ms(page, args.runs)
        print(f"report --json ({len(report['environments'])} environment stacks)  {statistics.median(t for t, _ in json_times) * 1000:>7.0f} ms  {api_calls(report)}")
        print(f"report -o page.html                             {statistics.median(t for t, _ in html_times) * 1000:>7.0f} ms")
        print(f"page size                                       {size / 1e6:>7.2f} MB ({size} bytes)")
        print(f"chromium load event (headless)                  {loaded:>7.0f} ms")
        print(f"\nmedians of {args.runs} runs, whole process")
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            shutil.copy(page, os.path.join(args.keep, "report.html"))
            with open(os.path.join(args.keep, "report.json"), "w") as f:
                f.write(json_times[-1][1].stdout)


if __name__ == "__main__":
    main()
