#!/usr/bin/env bash
# One command sets nnvis up on a fresh Debian/Ubuntu machine: system packages for the browser
# and distributed tests (Chromium, ChromeDriver, Redis), then a virtualenv with everything.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q "${need[@]}" || { $SUDO apt-get update -q && $SUDO apt-get install -y -q "${need[@]}"; }
fi
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch and torchvision are pinned in pyproject.toml (2.14.1 / 0.29.1)
.venv/bin/pip install -q -e '.[test]'
echo "nnvis is set up: .venv/bin/python -m pytest   |   .venv/bin/python app.py"
