#!/usr/bin/env bash
# Checks the deployment files without a Docker engine:
#  - the Dockerfile parses (BuildKit's parser), copies what exists, builds
#    both binaries in release, runs as a non-root user;
#  - the Compose file resolves (`docker compose config`, or docker-compose v1);
#  - the Kubernetes manifests validate against the Kubernetes schemas
#    (kubernetes-validate, from PyPI), and each Deployment's
#    terminationGracePeriodSeconds is above SHUTDOWN_GRACE (that each
#    workload starts as declared and answers its probe and scrape paths is
#    `cargo test --test it manifests::`, which runs them);
#  - the Prometheus alerting rules pass `promtool check rules`, and the
#    Grafana dashboard is well-formed JSON;
#  - the RabbitMQ definitions are well-formed JSON.
# That the definitions are exactly the worker's topology is checked by
# `cargo test --test it deploy::` (it imports them into a fresh vhost).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Dockerfile"
# Parsed with BuildKit's own parser (PyPI `dockerfile`); no engine needed.
python3 - <<'PY'
import os, sys, dockerfile
cmds = dockerfile.parse_file("deploy/Dockerfile")
stages = [c for c in cmds if c.cmd == "FROM"]
names = [c.value[-1] for c in stages]
assert names == ["build", "sandbox", "runtime"], f"expected build, sandbox and runtime stages, got {names}"
runtime = cmds[cmds.index(stages[-1]):]
sandbox = cmds[cmds.index(stages[1]):cmds.index(stages[2])]
for c in cmds:
    if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags):
        for src in c.value[:-1]:
            assert os.path.exists(src), f"COPY {src}: not in the repository"
build = " ".join(" ".join(c.value) for c in cmds if c.cmd == "RUN")
for wanted in ("--bin secret-sync -p secret-sync", "--bin humanitec-sandbox -p humanitec-sandbox", "--release", "--locked"):
    assert wanted in build, f"the build stage lacks `{wanted}`"
users = [c.value[0] for c in runtime if c.cmd == "USER"]
assert users and not users[-1].startswith(("0", "root")), f"runtime user: {users}"
copied = [v for c in runtime if c.cmd == "COPY" for v in c.value]
assert "/out/secret-sync" in copied, copied
assert not any("sandbox" in v for v in copied), f"the product image ships the sandbox: {copied}"
in_sandbox = [v for c in sandbox if c.cmd == "COPY" for v in c.value]
assert "/out/humanitec-sandbox" in in_sandbox and "/out/secret-sync" not in in_sandbox, in_sandbox
print(f"Dockerfile: stages {names}, runtime user {users[-1]}, the product image holds secret-sync only")
PY

echo "== compose"
export ENCRYPTION_KEY=check-only
if docker compose version >/dev/null 2>&1; then
  docker compose -f deploy/compose.yaml config -q
  echo "docker compose config: ok"
elif command -v docker-compose >/dev/null; then
  docker-compose -f deploy/compose.yaml config -q
  echo "docker-compose $(docker-compose version --short) config: ok"
else
  echo "neither 'docker compose' nor docker-compose is installed" >&2
  exit 1
fi

echo "== kubernetes"
# Through python3 -m: a fresh pip install may have no shim on PATH yet (pyenv).
python3 -c 'import kubernetes_validate' 2>/dev/null || { echo "kubernetes-validate missing: pip install kubernetes-validate" >&2; exit 1; }
python3 -m kubernetes_validate --strict -k 1.29.0 deploy/k8s/configmap.yaml deploy/k8s/secret.yaml \
  deploy/k8s/migrate-job.yaml deploy/k8s/worker.yaml deploy/k8s/api.yaml
python3 - <<'PY'
import re, sys, yaml
config = yaml.safe_load(open("deploy/k8s/configmap.yaml"))["data"]
m = re.fullmatch(r"(\d+)s", config["SHUTDOWN_GRACE"])
if not m:
    sys.exit(f"SHUTDOWN_GRACE {config['SHUTDOWN_GRACE']!r}: write it in seconds (30s) so this check can compare")
grace = int(m.group(1))
kustomize = yaml.safe_load(open("deploy/k8s/kustomization.yaml"))["resources"]
for name in ("worker.yaml", "api.yaml"):
    assert name in kustomize, f"{name} not in kustomization.yaml"
    for doc in yaml.safe_load_all(open(f"deploy/k8s/{name}")):
        if doc["kind"] != "Deployment":
            continue
        spec = doc["spec"]["template"]["spec"]
        period = spec["terminationGracePeriodSeconds"]
        if period <= grace:
            sys.exit(f"{name}: terminationGracePeriodSeconds {period} must be above SHUTDOWN_GRACE {grace}s")
        print(f"{name}: grace {period}s > SHUTDOWN_GRACE {grace}s")
PY

echo "== prometheus rules"
# The rules' syntax and expressions (Debian's `prometheus` package); that
# they fire on a real worker's series is `cargo test --test it alerts::`.
promtool check rules deploy/prometheus/alerts.yaml
python3 -c 'import json; d = json.load(open("deploy/grafana/secret-sync.json")); print("grafana dashboard:", len(d["panels"]), "panels")'

echo "== rabbitmq definitions"
python3 -c 'import json; d = json.load(open("deploy/rabbitmq/definitions.json")); print(len(d["exchanges"]), "exchanges,", len(d["queues"]), "queues,", len(d["bindings"]), "bindings")'
echo "deploy checks passed"
