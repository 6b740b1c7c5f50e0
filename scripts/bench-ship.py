#!/usr/bin/env python3
"""Benchmark: one line of a Lambda's Rust code changed → the function updated, on moto.

    scripts/setup-python && .venv/bin/pip install cargo-lambda==1.9.2 && cargo build --release -p cargo-jiti
    .venv/bin/python scripts/bench-ship.py

In one run against one emulator: examples/shop deployed once (builds warm), then for each run the
orders-api handler's status code is edited and
- `cargo jiti deploy -p orders-api`: whole process, split into build (cargo), package (zip),
  upload, CloudFormation (and the rest: the process, rendering), from its `--json` report; its
  API calls;
- the same job by hand, as a team without cargo-jiti would script it: `cargo lambda build
  --release --output-format zip`, `aws s3 cp` to a key of the zip's hash, `aws cloudformation
  deploy` of the same template pointing at that key; each step timed.
Then a no-op deploy of the whole shop: API calls and uploads. Not a test: figures vary by machine.
"""
import hashlib
import json
import os
import statistics

from benchlib import VENV, edit_status, lambda_bench, moto, run, shop, timed


def med(values):
    return statistics.median(values)


def resolve_imports(value, exports):
    """`value` with each `{"Fn::ImportValue": name}` replaced by the export's value."""
    if isinstance(value, dict):
        if list(value) == ["Fn::ImportValue"] and value["Fn::ImportValue"] in exports:
            return exports[value["Fn::ImportValue"]]
        return {k: resolve_imports(v, exports) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_imports(v, exports) for v in value]
    return value


def main():
    args, aws, cargo_lambda = lambda_bench(__doc__)

    with moto() as (port, env), shop("feature/bench-ship") as (tmp, repo):
        env = dict(env, PATH=os.path.join(VENV, "bin") + os.pathsep + env["PATH"])
        jiti = [args.bin, "jiti"]
        print(f"moto on 127.0.0.1:{port}; {os.cpu_count()} cores; {args.runs} runs each; medians\n")
        t, out = timed(jiti + ["deploy", "--method", "direct", "--json"], repo, env)
        first = json.loads(out.stdout)
        print(f"first deploy of the shop (cold Lambda build included): {t:.1f} s")
        envname = first["apps"][0]["environment"]
        template = os.path.join(repo, "target", "jiti", envname, "orders-api.template.json")
        run([aws, "s3", "mb", "s3://bench-hand-code"], repo, env)
        # Warm the baseline's build too (its own target folder: target/lambda).
        run([cargo_lambda, "lambda", "build", "--release", "--output-format", "zip", "--bin", "orders-api"], repo, env)

        # moto resolves no `Fn::ImportValue` in a stack made by a change set (`aws cloudformation
        # deploy`): the baseline's template gets the exported values written in.
        listed = json.loads(run([aws, "cloudformation", "list-exports"], repo, env).stdout)
        exports = {e["Name"]: e["Value"] for e in listed["Exports"]}
        rows = {"jiti": [], "build": [], "package": [], "upload": [], "cfn": [], "calls": []}
        hand = {"build": [], "upload": [], "cfn": [], "total": []}
        for i in range(args.runs):
            edit_status(repo, 201 + i)
            t, out = timed(jiti + ["deploy", "-p", "orders-api", "--method", "direct", "--json"], repo, env)
            r = json.loads(out.stdout)
            app = next(a for a in r["apps"] if a["app"] == "orders-api")
            assert app["result"] == "updated", app
            a = r["artifacts"][0]
            assert a["uploaded"], a
            rows["jiti"].append(t)
            rows["build"].append(a["build_seconds"])
            rows["package"].append(a["package_seconds"])
            rows["upload"].append(app["upload_seconds"])
            rows["cfn"].append(app["seconds"] - app["upload_seconds"])
            rows["calls"].append(r["api_calls"])

            # By hand: the same code change, built by cargo-lambda, uploaded by the AWS CLI under its
            # hash, deployed by `aws cloudformation deploy` with the same template.
            tb, _ = timed([cargo_lambda, "lambda", "build", "--release", "--output-format", "zip", "--bin", "orders-api"], repo, env)
            zipped = os.path.join(repo, "target", "lambda", "orders-api", "bootstrap.zip")
            key = f"orders-api/{hashlib.sha256(open(zipped, 'rb').read()).hexdigest()}.zip"
            tu, _ = timed([aws, "s3", "cp", zipped, f"s3://bench-hand-code/{key}"], repo, env)
            t_json = resolve_imports(json.load(open(template)), exports)
            t_json["Resources"]["OrdersFunction"]["Properties"]["Code"] = {"S3Bucket": "bench-hand-code", "S3Key": key}
            hand_template = os.path.join(tmp, f"hand-{i}.json")
            json.dump(t_json, open(hand_template, "w"))
            tc, _ = timed([aws, "cloudformation", "deploy", "--template-file", hand_template, "--stack-name", "hand-orders-api",
                           "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset"], repo, env)
            for k, v in (("build", tb), ("upload", tu), ("cfn", tc), ("total", tb + tu + tc)):
                hand[k].append(v)

        calls = rows["calls"][-1]
        ops = ", ".join(f"{op} {v['calls']}" for op, v in calls["by_operation"].items())
        print("one line of orders-api's handler changed → function updated (median, seconds):\n")
        print(f"{'':34} {'total':>7} {'build':>7} {'package':>8} {'upload':>7} {'CloudFormation':>15}")
        rest = med(rows["jiti"]) - med(rows["build"]) - med(rows["package"]) - med(rows["upload"]) - med(rows["cfn"])
        print(f"{'cargo jiti deploy -p orders-api':34} {med(rows['jiti']):7.2f} {med(rows['build']):7.2f} {med(rows['package']):8.2f} "
              f"{med(rows['upload']):7.2f} {med(rows['cfn']):15.2f}   (process, render, checks: {rest:.2f})")
        print(f"{'cargo lambda + s3 cp + cfn deploy':34} {med(hand['total']):7.2f} {med(hand['build']):7.2f} {'(in build)':>8} "
              f"{med(hand['upload']):7.2f} {med(hand['cfn']):15.2f}")
        print(f"\ncargo jiti deploy's API calls for that change: {calls['total']} ({ops})")
        print("(by hand: 1 PutObject, and `aws cloudformation deploy`'s change set calls; awscli does not count them)")

        # No change at all: the whole shop.
        t, out = timed(jiti + ["deploy", "--method", "direct", "--json"], repo, env)
        r = json.loads(out.stdout)
        uploaded = sum(1 for a in r["artifacts"] if a["uploaded"])
        c = r["api_calls"]
        print(f"\nno-op deploy of the shop (code and infra unchanged): {t:.2f} s, {c['total']} API call(s) "
              f"({', '.join(c['by_operation'])}), {uploaded} upload(s); outcomes: "
              + ", ".join(f"{a['app']} {a['result']}" for a in r["apps"]))


if __name__ == "__main__":
    main()
