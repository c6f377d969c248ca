#!/usr/bin/env bash
# The Slurm path end to end, on a one-node cluster started on this machine:
# the smoke profile once in sequence, then as a job array (one task per
# unit, one core each) and a render job; checks that both runs
# computed the same results and prints both wall times. Run it before
# changing scripts/slurm/ (it needs root, slurm-wlm and munge; see README).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
work=$(mktemp -d)
trap 'scripts/slurm/local-cluster.sh down "$work/cluster"; rm -rf "$work"' EXIT
eval "$(scripts/slurm/local-cluster.sh up "$work/cluster")"
cargo build --release --quiet
flags=(--profile smoke --threads 1 --device cpu)

milliseconds() { echo $(($(date +%s%N) / 1000000)); }
start=$(milliseconds)
target/release/mnist-writeup build-report --out "$work/sequential" "${flags[@]}" >/dev/null 2>&1
sequential=$(($(milliseconds) - start))

start=$(milliseconds)
read -r _ render < <(MNIST_WRITEUP_CPUS=1 scripts/slurm/submit.sh "$work/slurm" "${flags[@]}")
while squeue -h -j "$render" 2>/dev/null | grep -q .; do sleep 1; done
sharded=$(($(milliseconds) - start))
[ -f "$work/slurm/submission/report.pdf" ] || { echo "slurm-check: no submission; the logs:" >&2; tail -n 20 "$work"/slurm/jobs/*.log >&2; exit 1; }

results() { python3 -c 'import json, sys; print(json.dumps([(e["id"], e["key"], e["result_sha256"]) for e in json.load(open(sys.argv[1]))["experiments"]]))' "$1"; }
if [ "$(results "$work/sequential/manifest.json")" != "$(results "$work/slurm/manifest.json")" ]; then
    echo "slurm-check: the Slurm run's results differ from the sequential run's" >&2
    exit 1
fi
echo "slurm-check: same keys and result hashes; sequential ${sequential} ms, Slurm array and render job on $(nproc) cores ${sharded} ms"
