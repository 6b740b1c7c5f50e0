#!/usr/bin/env python3
"""Benchmark: the inner loop. One line of a Lambda's Rust code changed → the function runs it, on moto.

    scripts/setup-python && .venv/bin/pip install cargo-lambda==1.9.2 && cargo build --release -p cargo-jiti
    .venv/bin/python scripts/bench-hotswap.py

In one run against one emulator: examples/shop deployed once (builds warm), then for each run the
orders-api handler's status code is edited and the function updated by
- `cargo jiti watch -p orders-api` (one process for all runs): from the save to the cycle's line,
  split into build (cargo + zip) and the rest (debounce, upload, UpdateFunctionCode, ledger), with
  the cycle's API calls;
- `cargo jiti deploy --hotswap -p orders-api` (a process per change): the same, plus the process
  start, reading the workspace and the first calls of a process (STS, the bucket);
- `cargo jiti deploy -p orders-api --method direct` (the CloudFormation path);
- `cargo lambda build` + `cargo lambda deploy <function>` (direct, no CloudFormation: what a team
  without infra in the loop does).
Medians; each function's CodeSha256 checked against the built zip after each run. Not a test.
"""
import base64
import hashlib
import json
import os
import queue
import re
import statistics
import subprocess
import threading
import time

from benchlib import ROOT, edit_status, lambda_bench, moto, run, shop, timed


def med(values):
    return statistics.median(values) if values else float("nan")


def code_sha256(aws, function, repo, env):
    out = run([aws, "lambda", "get-function", "--function-name", function], repo, env)
    return json.loads(out.stdout)["Configuration"]["CodeSha256"]


def zip_sha256(path):
    return base64.b64encode(hashlib.sha256(open(path, "rb").read()).digest()).decode()


def main():
    args, aws, cargo_lambda = lambda_bench(__doc__)

    with moto() as (port, env), shop("feature/bench-hotswap") as (_tmp, repo):
        jiti = [args.bin, "jiti"]
        print(f"moto on 127.0.0.1:{port}; {os.cpu_count()} cores; {args.runs} runs each; medians; binary {os.path.relpath(args.bin, ROOT)}\n")
        _, out = timed(jiti + ["deploy", "--method", "direct", "--json"], repo, env)
        first = json.loads(out.stdout)
        app = next(a for a in first["apps"] if a["app"] == "orders-api")
        function = app["outputs"]["FunctionName"]
        built_zip = os.path.join(repo, "target", "jiti", "artifacts", "orders-api", "api.zip")
        lambda_zip = os.path.join(repo, "target", "lambda", "orders-api", "bootstrap.zip")
        build_cmd = [cargo_lambda, "lambda", "build", "--release", "--output-format", "zip", "--bin", "orders-api"]
        run(build_cmd, repo, env)  # warm the baseline's own target folder (target/lambda)
        status = iter(range(300, 400))
        rows = {}

        # watch: one process; each save → one cycle line.
        lines = queue.Queue()
        proc = subprocess.Popen(jiti + ["watch", "-p", "orders-api"], cwd=repo, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()

        def until(word):
            while True:
                line = lines.get(timeout=600)
                if word in line:
                    return line

        until("cycle")
        w = {"total": [], "build": [], "rest": [], "upload": [], "update": [], "calls": []}
        for _ in range(args.runs):
            time.sleep(0.5)
            start = time.perf_counter()
            edit_status(repo, next(status))
            swapped = until("hotswapped")
            total = time.perf_counter() - start
            cycle = until("cycle")
            b, u, p = (float(x) for x in re.search(r"build ([\d.]+)s, upload ([\d.]+)s, update ([\d.]+)s", swapped).groups())
            w["total"].append(total)
            w["build"].append(b)
            w["rest"].append(total - b)
            w["upload"].append(u)
            w["update"].append(p)
            w["calls"].append(int(re.search(r"(\d+) API calls", cycle).group(1)))
            assert code_sha256(aws, function, repo, env) == zip_sha256(built_zip)
        proc.send_signal(2)
        proc.wait(timeout=120)
        rows["cargo jiti watch (per save)"] = w

        def jiti_runs(extra, expect):
            r = {"total": [], "build": [], "rest": [], "calls": []}
            ops = ""
            for _ in range(args.runs):
                edit_status(repo, next(status))
                t, out = timed(jiti + ["deploy", "-p", "orders-api", "--json"] + extra, repo, env)
                report = json.loads(out.stdout)
                a = next(x for x in report["apps"] if x["app"] == "orders-api")
                assert a["result"] == expect, a
                art = report["artifacts"][0]
                build = art["build_seconds"] + art["package_seconds"]
                r["total"].append(t)
                r["build"].append(build)
                r["rest"].append(t - build)
                r["calls"].append(report["api_calls"]["total"])
                ops = ", ".join(f"{op} {v['calls']}" for op, v in report["api_calls"]["by_operation"].items())
                assert code_sha256(aws, function, repo, env) == zip_sha256(built_zip)
            r["ops"] = ops
            return r

        rows["cargo jiti deploy --hotswap"] = jiti_runs(["--hotswap"], "hotswapped")
        rows["cargo jiti deploy (CloudFormation)"] = jiti_runs(["--method", "direct"], "updated")

        c = {"total": [], "build": [], "rest": [], "calls": []}
        for _ in range(args.runs):
            edit_status(repo, next(status))
            tb, _ = timed(build_cmd, repo, env)
            td, _ = timed([cargo_lambda, "lambda", "deploy", "--binary-name", "orders-api", "--endpoint-url",
                           f"http://127.0.0.1:{port}", function], repo, env)
            c["total"].append(tb + td)
            c["build"].append(tb)
            c["rest"].append(td)
            assert code_sha256(aws, function, repo, env) == zip_sha256(lambda_zip)
        rows["cargo lambda build + deploy"] = c

        print("one line of orders-api's handler changed → the function runs it (median seconds):\n")
        print(f"{'':38} {'total':>7} {'build':>7} {'rest':>7} {'API calls':>10}")
        for name, r in rows.items():
            calls = f"{med(r['calls']):.0f}" if r.get("calls") else "n/a"
            print(f"{name:38} {med(r['total']):7.2f} {med(r['build']):7.2f} {med(r['rest']):7.2f} {calls:>10}")
        print(f"\nwatch's rest, split: upload {med(w['upload']):.3f} s, UpdateFunctionCode until Successful "
              f"{med(w['update']):.3f} s; the rest of it is the {200} ms debounce and the ledger record")
        for name in ("cargo jiti deploy --hotswap", "cargo jiti deploy (CloudFormation)"):
            print(f"{name}'s API calls (last run): {rows[name]['ops']}")
        print("cargo lambda's calls are not counted (it has no counter); its `rest` is its whole deploy process")


if __name__ == "__main__":
    main()
