#!/usr/bin/env bash
# Installs what Lingua needs to build and test on Debian 12 (apt-get, as root or with sudo).
# Safe to run again: it only installs packages that are missing.
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libpcre2-dev libicu-dev libyaml-cpp-dev libglpk-dev libzmq3-dev cppzmq-dev libsodium-dev libxxhash-dev iproute2 python3-jinja2 libcpp-httplib-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm is a test tool only (the tokenizer parity test's reference tokenizers). A machine may
# already have it from another source (a Node.js that bundles npm conflicts with Debian's npm
# package): then nothing is installed. If installing it fails, those tests skip and say why.
want_npm=0
command -v npm >/dev/null 2>&1 || want_npm=1
if [ ${#missing[@]} -eq 0 ] && [ $want_npm -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ $want_npm -eq 1 ]; then
  echo "setup: installing npm (test tool)" >&2
  $sudo apt-get install -y -q --no-install-recommends npm ||
    echo "setup: npm could not be installed; the tests that need it will skip" >&2
fi
