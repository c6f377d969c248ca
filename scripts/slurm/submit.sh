#!/usr/bin/env bash
# Runs the report on a Slurm cluster: a job array with one task per unit
# (an experiment, or one training of a study), and a render job that starts
# when all of them have succeeded.
#   scripts/slurm/submit.sh OUT [FLAGS...]
# FLAGS go to every mnist-writeup command (--profile, --seed, --threads, ...);
# each task asks for MNIST_WRITEUP_CPUS cores (default 2; match --threads).
# Prints the two job ids. Needs the release build (cargo build --release) on
# a file system that every node sees.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mkdir -p "${1:?usage: submit.sh OUT [FLAGS...]}" && cd "$1" && pwd)
shift
bin=$here/../../target/release/mnist-writeup
[ -x "$bin" ] || { echo "submit: build first: cargo build --release" >&2; exit 1; }
mkdir -p "$out/jobs"
count=$("$bin" list --json --out "$out/jobs/list" "$@" | python3 -c 'import json, sys; print(sum(len(e["units"]) for e in json.load(sys.stdin)))')
export MNIST_WRITEUP_BIN=$bin MNIST_WRITEUP_OUT=$out MNIST_WRITEUP_FLAGS="$*"
cpus=${MNIST_WRITEUP_CPUS:-2}
array=$(sbatch --parsable --export=ALL --cpus-per-task="$cpus" --array="0-$((count - 1))" \
    --output="$out/jobs/task-%a.log" "$here/experiments.sbatch")
render=$(sbatch --parsable --export=ALL --cpus-per-task="$cpus" --dependency="afterok:$array" \
    --output="$out/jobs/render.log" "$here/render.sbatch")
echo "$array $render"
