#!/usr/bin/env bash
# Installs what the compatibility suite needs: a virtualenv with the pinned Python
# clients (aws-cli v1, boto3, s3cmd) and curl. Idempotent; safe to run every time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! cmp -s "$here/requirements.txt" "$venv/.installed" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.installed"
fi
if ! command -v curl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq curl >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq curl >/dev/null
    fi
fi
