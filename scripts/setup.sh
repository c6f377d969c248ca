#!/usr/bin/env bash
# Installs what the build needs and nothing else: libtorch 2.13.0 from PyPI's
# torch==2.13.0 wheel, into a venv kept outside the clone so that every clone
# and CI reuse it, and links it as .libtorch (read by .cargo/config.toml).
# With --keras it also installs tensorflow-cpu into a venv of its own, for
# `bench --peers` to time the course's framework (about 1.6 GB, once).
# Idempotent: a second run only checks and returns.
set -euo pipefail

want=2.13.0
keras_want=2.21.0
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mnist-writeup
venv=${MNIST_WRITEUP_VENV:-$cache/torch-$want}
keras_venv=${MNIST_WRITEUP_KERAS_VENV:-$cache/tensorflow-cpu-$keras_want}

keras=false
for arg in "$@"; do
    case $arg in
        --keras) keras=true ;;
        *) echo "setup: unknown option $arg (the only one is --keras)" >&2; exit 2 ;;
    esac
done

version_in() { # venv, module
    "$1/bin/python" -c "import $2; print($2.__version__.split('+')[0])" 2>/dev/null || true
}

if [ "$(version_in "$venv" torch)" != "$want" ]; then
    echo "setup: installing torch==$want into $venv (about 4.7 GB, once per machine)" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$want"
    [ "$(version_in "$venv" torch)" = "$want" ] || { echo "setup: torch $want did not install into $venv" >&2; exit 1; }
fi

torch_dir=$("$venv/bin/python" -c 'import pathlib, torch; print(pathlib.Path(torch.__file__).parent)' 2>/dev/null)
ln -sfn "$torch_dir" "$repo/.libtorch"
echo "setup: libtorch $want at $torch_dir (linked as .libtorch)" >&2

if $keras; then
    if [ "$(TF_CPP_MIN_LOG_LEVEL=3 version_in "$keras_venv" tensorflow)" != "$keras_want" ]; then
        echo "setup: installing tensorflow-cpu==$keras_want into $keras_venv" >&2
        python3 -m venv "$keras_venv"
        "$keras_venv/bin/python" -m pip install --quiet --disable-pip-version-check "tensorflow-cpu==$keras_want"
        [ "$(TF_CPP_MIN_LOG_LEVEL=3 version_in "$keras_venv" tensorflow)" = "$keras_want" ] ||
            { echo "setup: tensorflow-cpu $keras_want did not install into $keras_venv" >&2; exit 1; }
    fi
    echo "setup: TensorFlow $keras_want for the Keras peer at $keras_venv" >&2
fi
