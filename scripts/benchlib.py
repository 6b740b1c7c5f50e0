"""What the benchmark scripts share: a moto server of their own, the environment that points the
AWS tools at it, a throw-away git copy of the example shop, and a generated workspace of N apps."""
import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("JITI_VENV", os.path.join(ROOT, ".venv"))


def require(*tools):
    for tool in tools:
        if not os.path.isfile(tool):
            sys.exit(f"{tool} not found: run `cargo build --release -p cargo-jiti` and `scripts/setup-python` first")


def aws_env(port):
    # The virtualenv's bin first: cargo-jiti builds the example's Lambda with its cargo-zigbuild.
    path = os.path.join(VENV, "bin") + os.pathsep + os.environ.get("PATH", "")
    return dict(os.environ, PATH=path, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")


@contextlib.contextmanager
def moto(shareable=True):
    """Starts moto on a free loopback port; yields (port, environment for AWS tools); stops it.
    With JITI_BENCH_MOTO_PORT set (scripts/bench does), uses that running emulator instead, unless
    not `shareable` (an account that must hold only what the benchmark seeds)."""
    shared = shareable and os.environ.get("JITI_BENCH_MOTO_PORT")
    if shared:
        yield int(shared), aws_env(int(shared))
        return
    server = os.path.join(VENV, "bin", "moto_server")
    require(server)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port, aws_env(port)
    finally:
        process.terminate()
        process.wait()


def run(cmd, cwd, env):
    """Runs `cmd`, output captured; a failure ends the benchmark with what it printed."""
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def timed(cmd, cwd, env):
    """(whole-process seconds, output) of one run of `cmd`."""
    start = time.perf_counter()
    out = run(cmd, cwd, env)
    return time.perf_counter() - start, out


def api_calls(report):
    """A `--json` report's API calls, in one line: total, then per operation (attempts where retried)."""
    c = report["api_calls"]
    ops = ", ".join(f"{op} {v['calls']}" + (f" ({v['attempts']} attempts)" if v["attempts"] != v["calls"] else "") for op, v in c["by_operation"].items())
    return f"{c['total']} API calls: {ops}" if ops else "0 API calls"


def git(cwd, *args, stdin=None):
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@jiti.invalid", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, input=stdin, text=True).stdout.strip()


@contextlib.contextmanager
def shop(branch):
    """Yields (temporary directory, a git copy of examples/shop committed on `branch` inside it)."""
    with tempfile.TemporaryDirectory(prefix="jiti-bench-") as tmp:
        repo = os.path.join(tmp, "shop")
        shutil.copytree(os.path.join(ROOT, "examples", "shop"), repo, ignore=shutil.ignore_patterns("target"))
        git(repo, "init", "-q", "-b", branch)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "bench")
        yield tmp, repo


TEMPLATE = """AWSTemplateFormatVersion: "2010-09-09"
Description: "{{ app.name }} {{ app.version }} ({{ env.name }})"
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: {{ params.timeout }}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: alias/aws/sns
  Table:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      SSESpecification: {SSEEnabled: true}
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 7
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}}]
      PublicAccessBlockConfiguration: {BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true}
Outputs:
  QueueUrl:
    Value: !Ref Queue
"""


def make_workspace(root, apps):
    """Writes a git workspace of `apps` apps (5 resources each, every fifth without a dependency on
    the app before it) in `root`, committed on branch feature/bench."""
    members = []
    for i in range(apps):
        name = f"app{i:03}"
        members.append(name)
        os.makedirs(os.path.join(root, name, "src"))
        os.makedirs(os.path.join(root, name, "infra"))
        with open(os.path.join(root, name, "Cargo.toml"), "w") as f:
            f.write(f'[package]\nname = "{name}"\nversion = "0.1.{i}"\nedition = "2024"\n')
        with open(os.path.join(root, name, "src", "main.rs"), "w") as f:
            f.write("fn main() {}\n")
        depends = f'depends_on = ["app{i - 1:03}"]\n' if i % 5 else ""
        with open(os.path.join(root, name, "infra", "jiti.toml"), "w") as f:
            f.write(f'[app]\nregion = "us-east-1"\n{depends}\n[params]\ntimeout = 30\n\n[tags]\nteam = "bench"\n')
        with open(os.path.join(root, name, "infra", "stack.yaml"), "w") as f:
            f.write(TEMPLATE)
    with open(os.path.join(root, "Cargo.toml"), "w") as f:
        f.write('[workspace]\nresolver = "3"\nmembers = [' + ", ".join(f'"{m}"' for m in members) + "]\n")
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    for args in (["init", "-q", "-b", "feature/bench"], ["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=bench@jiti.invalid", "commit", "-qm", "bench"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env)


def lambda_bench(doc):
    """The command line of a benchmark of the example's Lambda against cargo-lambda (`--runs`,
    `--bin`), with the tools it needs checked: (args, aws, cargo_lambda)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cargo-jiti"))
    args = parser.parse_args()
    aws = os.path.join(VENV, "bin", "aws")
    cargo_lambda = os.path.join(VENV, "bin", "cargo-lambda")
    require(args.bin, aws, os.path.join(VENV, "bin", "cargo-zigbuild"))
    if not os.path.isfile(cargo_lambda):
        sys.exit(f"{cargo_lambda} not found: `{VENV}/bin/pip install cargo-lambda==1.9.2` (the baseline)")
    return args, aws, cargo_lambda


def edit_status(repo, status):
    """The orders-api handler answers `status`: a one-line code change."""
    path = os.path.join(repo, "orders-api", "src", "main.rs")
    text = open(path).read()
    open(path, "w").write(re.sub(r'"statusCode": \d+', f'"statusCode": {status}', text))
