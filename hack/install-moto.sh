#!/usr/bin/env bash
# The S3-compatible test server for Bucket tests: moto's standalone server, in a virtual
# environment of its own (botocore pins python-dateutil<3; the kubernetes client needs
# >=3, so it cannot share the project's). Idempotent; $AFFLUX_MOTO_HOME moves it.
set -euo pipefail
home=${AFFLUX_MOTO_HOME:-$HOME/.cache/afflux/moto}
version=5.2.5
if [[ -x "$home/bin/moto_server" ]] && "$home/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$version')" 2>/dev/null; then
  echo "[moto] moto $version: cached ($home)"
  exit 0
fi
echo "[moto] installing moto[server]==$version into $home"
python3 -m venv "$home"
"$home/bin/pip" install -q --upgrade pip
"$home/bin/pip" install -q "moto[server]==$version"
echo "[moto] done"
