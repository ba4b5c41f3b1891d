#!/usr/bin/env bash
# setup.sh: install what is missing (Debian 12 packages, only when absent) and
# build. Used by the README's two commands through scripts/yt8m.sh.
#   scripts/setup.sh [--test]   --test adds what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
      libzstd-dev libcjson-dev libopenblas-dev)
if [[ "${1:-}" == "--test" ]]; then
  # NumPy/protobuf cross-checks run on Debian's system python3; the zstd CLI
  # makes compressed damage cases for the reader tests; test_hosts starts a
  # private sshd on 127.0.0.1 to run graph nodes "on another host" over real ssh.
  pkgs+=(python3 python3-numpy python3-protobuf zstd openssh-client openssh-server)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
      echo "setup: these Debian packages are missing and installing them needs root:" >&2
      echo "  apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
  ${SUDO:-} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all Debian packages present"
fi

# CUDA: built when nvcc is found (YT_CUDA=AUTO); look where the toolkit installs.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYT_CUDA="${YT_CUDA:-AUTO}" >build.log 2>&1 ||
  { cat build.log; echo "setup: cmake configure failed (log above)" >&2; exit 1; }
grep -A12 "yt8m-flow .* configuration" build.log | sed 's/^-- //'
cmake --build build -j"$(nproc)" >>build.log 2>&1 ||
  { tail -50 build.log; echo "setup: build failed (full log: build.log)" >&2; exit 1; }
echo "setup: built build/yt8m-flow"
