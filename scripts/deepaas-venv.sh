#!/usr/bin/env bash
# Creates .venv-deepaas: DEEPaaS 2.6 and the project's DEEPaaS modules (modules/deepaas-*),
# pinned by modules/deepaas-plankton/constraints.txt. DEEPaaS 2.6 needs Werkzeug<3,
# webargs<6 and marshmallow 3, which the services' pins exclude, so it gets its own
# environment; `deepaas-run` and `deepaas-cli` are started from its bin/.
# Re-running is cheap: it reinstalls only when a pyproject or the constraints changed.
# Prints the environment's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${AQUAFLOW_DEEPAAS_VENV:-.venv-deepaas}"
module=modules/deepaas-plankton
constraints="$module/constraints.txt"

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "the DEEPaaS environment needs Python 3.11" >&2
  exit 1
fi

# One installer at a time: tests and the demo may both ask for the environment.
exec 9>"${TMPDIR:-/tmp}/aquaflow-deepaas-venv.lock"
flock 9

[ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"

stamp="$venv/.aquaflow-install-stamp"
wanted=$(cat "$constraints" "$module/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ] || [ ! -x "$venv/bin/deepaas-run" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$constraints" -e "$module"
  "$venv/bin/python" -m pip check
  echo "$wanted" > "$stamp"
fi
cd "$venv" && pwd
