#!/usr/bin/env bash
# The Debian packages the project's tests and README use, from the ordinary apt mirror:
#   chromium  the dashboard's and operators' pages in a real browser (Playwright drives
#             Debian's build through `executable_path`; its own download needs the internet)
# Idempotent: installs only what is missing from the PATH.
set -euo pipefail

declare -A command_of=([chromium]=chromium)
missing=()
for package in "${!command_of[@]}"; do
  if command -v "${command_of[$package]}" >/dev/null 2>&1; then
    echo "$package: $(command -v "${command_of[$package]}")"
  else
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "${missing[*]}: not found and no apt-get here; install them yourself (the tests that need them say so)" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing Debian's ${missing[*]} (apt-get install -y) …"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
for package in "${missing[@]}"; do
  echo "$package: $(command -v "${command_of[$package]}" || echo 'still missing')"
done
