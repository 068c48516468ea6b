#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser test (tests/e2e/test_dashboard.py).
# Playwright's own browser download needs the internet; Debian's package comes from the
# ordinary apt mirror, and Playwright drives it through `executable_path`.
# Idempotent: does nothing when a chromium is already on the PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not found and no apt-get here; install Chromium yourself for the dashboard test" >&2
  exit 0  # the rest of the suite does not need it; the dashboard test says so itself
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "chromium: installing Debian's package (apt-get install -y chromium) …"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
