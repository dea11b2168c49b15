#!/usr/bin/env bash
# Installs what skipattn needs to build and test, with apt, once: packages
# already installed are not installed again, so running this twice is safe.
set -euo pipefail

packages=(cmake ninja-build g++ python3 python3-numpy python3-torch python3-setuptools python3-pip
          llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
          nlohmann-json3-dev libcli11-dev libclang-rt-22-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "skipattn: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
