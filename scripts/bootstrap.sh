#!/usr/bin/env bash
# Creates .venv and installs every package of the monorepo (editable) plus the
# development and training tools, pinned by constraints.txt (torch is pinned in
# pyproject.toml: its CPU build). The Triton binary comes inside the
# nvidia-pytriton wheel. Re-running is cheap: it reinstalls only when a pyproject
# or the constraints changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "aquaflow needs Python 3.11 (the Triton Python-backend stub in nvidia-pytriton is built for it)" >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$python_bin" -m venv .venv

packages=(shared devstack services/ingest services/router services/inference services/results services/cli)
stamp=.venv/.aquaflow-install-stamp
wanted=$(cat constraints.txt pyproject.toml "${packages[@]/%//pyproject.toml}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --upgrade "pip>=24"
  args=()
  for package in "${packages[@]}"; do args+=(-e "$package"); done
  .venv/bin/python -m pip install --quiet -c constraints.txt "${args[@]}" -e ".[dev,training]"
  # Frouros (the drift watch) declares caps on scipy and requests that constraints.txt excludes and its
  # detectors do not need (docs/drift.md): installed without its declared dependencies.
  .venv/bin/python -m pip install --quiet --no-deps frouros==0.9.0
  echo "$wanted" > "$stamp"
fi

# Prometheus and promtool (Debian's package) for the observability tests and the alert-rule checks.
scripts/install-prometheus.sh
