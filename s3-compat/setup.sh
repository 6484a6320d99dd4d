#!/usr/bin/env bash
# Installs what the compatibility suite needs: a virtualenv with the pinned Python
# clients (aws-cli v1, boto3, s3cmd), and curl and rclone from Debian. Idempotent; safe to run every time.
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
# curl fetches presigned URLs; rclone is one of the clients under test (Debian's).
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
