#!/usr/bin/env bash
# Build the standalone one-folder app: packaging/dist/lstm-explorer/lstm-explorer
# Usage: bash packaging/build.sh   (needs Python >= 3.10; creates packaging/.build-venv)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="$here/.build-venv"
PYTHON="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "$root" "pyinstaller>=6"
cd "$here"
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$here/dist" --workpath "$here/build" lstm-explorer.spec
cp "$here/lstm-explorer.desktop" "$here/dist/lstm-explorer/"
du -sh "$here/dist/lstm-explorer" | awk '{print "built " $2 " (" $1 ")"}'
