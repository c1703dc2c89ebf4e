#!/usr/bin/env bash
# Creates .venv and installs Leadflow with its test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
# axe-core from npm, for the accessibility checks of the browser tests (tests/ui/package-lock.json).
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q npm >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q npm >/dev/null)
  else
    echo "npm is missing: run 'sudo apt-get install npm'" >&2; exit 1
  fi
fi
if [ ! -f tests/ui/node_modules/axe-core/axe.min.js ]; then
  npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error
fi
