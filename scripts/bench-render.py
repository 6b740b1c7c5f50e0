#!/usr/bin/env python3
"""Benchmark: `cargo jiti render` of a generated workspace of N apps, whole process.

    cargo build --release -p cargo-jiti && scripts/bench-render.py [--apps 50] [--runs 15]

Prints the median, min and max wall time of the whole process, beside `cargo metadata --no-deps`
alone (the floor: cargo-jiti asks cargo for the workspace once per run). Not a test: figures vary
by machine; the target is a median under 300 ms for 50 apps on a 2-core machine.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import ROOT, make_workspace


def timed(cmd, cwd, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def show(label, times):
    ms = [t * 1000 for t in times]
    print(f"{label:<44} median {statistics.median(ms):7.1f} ms   min {min(ms):7.1f}   max {max(ms):7.1f}   ({len(ms)} runs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cargo-jiti"))
    args = parser.parse_args()
    if not os.path.isfile(args.bin):
        sys.exit(f"{args.bin} not found: run `cargo build --release -p cargo-jiti` first")
    with tempfile.TemporaryDirectory(prefix="jiti-bench-") as root:
        make_workspace(root, args.apps)
        env_free = [args.bin, "jiti", "render"]
        subprocess.run(env_free, cwd=root, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm-up
        print(f"workspace: {args.apps} apps x 5 resources, branch feature/bench; {os.cpu_count()} cores")
        show("cargo metadata --no-deps (floor)", timed(["cargo", "metadata", "--no-deps", "--format-version", "1"], root, args.runs))
        show(f"cargo jiti render ({args.apps} apps)", timed(env_free, root, args.runs))
        show("cargo jiti render -p app000 (1 app)", timed(env_free + ["-p", "app000"], root, args.runs))
        show(f"cargo jiti check ({args.apps} apps)", timed([args.bin, "jiti", "check"], root, args.runs))


if __name__ == "__main__":
    main()
