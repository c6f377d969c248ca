#!/usr/bin/env bash
# Installs what the build needs and nothing else: libtorch 2.13.0 from PyPI's
# torch==2.13.0 wheel, into a venv kept outside the clone so that every clone
# and CI reuse it, and links it as .libtorch (read by .cargo/config.toml).
# Idempotent: a second run only checks and returns.
set -euo pipefail

want=2.13.0
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MNIST_WRITEUP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-writeup/torch-$want}

torch_version() {
    "$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true
}

if [ "$(torch_version)" != "$want" ]; then
    echo "setup: installing torch==$want into $venv (about 4.7 GB, once per machine)" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$want"
    [ "$(torch_version)" = "$want" ] || { echo "setup: torch $want did not install into $venv" >&2; exit 1; }
fi

torch_dir=$("$venv/bin/python" -c 'import pathlib, torch; print(pathlib.Path(torch.__file__).parent)' 2>/dev/null)
ln -sfn "$torch_dir" "$repo/.libtorch"
echo "setup: libtorch $want at $torch_dir (linked as .libtorch)" >&2
