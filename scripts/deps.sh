#!/usr/bin/env bash
# scripts/deps.sh SET: make sure what `make SET` needs is on this machine.
# SET is run (make run, make build), ibverbs (make build-ibverbs, make
# install) or test (make test; .ci/run). Missing Debian packages are
# installed with apt-get when this runs as root, or through sudo when sudo
# can ask for (or needs no) password; otherwise it stops before any work
# with the exact command to run. BRICK_NO_INSTALL=1 only checks.
# Go itself is not a Debian package here (bookworm's is too old): it is
# only checked.
set -euo pipefail

set_=${1:-}
case $set_ in
run | ibverbs | test) ;;
*)
  echo "usage: scripts/deps.sh run|ibverbs|test" >&2
  exit 2
  ;;
esac

target=$set_
[[ $set_ != ibverbs ]] || target=build-ibverbs
GO=${GO:-go}
if ! command -v "$GO" >/dev/null; then
  echo "deps: Go is not on PATH (GO=$GO). Install Go 1.26 from https://go.dev/dl (Debian's golang package is older) and add its bin directory, e.g. /usr/local/go/bin, to PATH." >&2
  exit 1
fi

# Each need is a probe and the Debian package that satisfies it. Probes
# look at files and commands rather than dpkg, so a tool installed some
# other way counts.
need=()
has_cmd() { command -v "$1" >/dev/null; }
want_cmd() { has_cmd "$1" || need+=("$2"); }
want_file() { [[ -e $1 ]] || need+=("$2"); }

# The build stamps its version from git (git describe).
want_cmd git git
if [[ $set_ == ibverbs || $set_ == test ]]; then
  want_cmd gcc gcc                                          # cgo: -race, verbs/ibverbs
  want_file /usr/include/infiniband/verbs.h libibverbs-dev  # verbs/ibverbs (rdma-core)
  want_file /usr/include/rdma/rdma_cma.h librdmacm-dev
fi
if [[ $set_ == test ]]; then
  want_cmd make make
  want_cmd tshark tshark # test/wire decodes the software RNIC's frames
fi

if ((${#need[@]} == 0)); then
  exit 0
fi

install=(apt-get install -y -q --no-install-recommends "${need[@]}")
refuse() {
  echo "deps: make $target needs the Debian packages ${need[*]}, which are missing$1. Install them with:" >&2
  echo "  sudo apt-get update && sudo ${install[*]}" >&2
  exit 1
}
if ! has_cmd apt-get; then
  refuse " and this machine has no apt-get (install their equivalents)"
fi
if [[ ${BRICK_NO_INSTALL:-} == 1 ]]; then
  refuse " (BRICK_NO_INSTALL=1: not installing)"
fi
sudo=()
if [[ $(id -u) != 0 ]]; then
  # sudo -n: no password needed; a terminal: sudo may ask for one.
  if has_cmd sudo && { sudo -n true 2>/dev/null || [[ -t 0 ]]; }; then
    sudo=(sudo)
  else
    refuse " and this is not root (nor can sudo ask for a password here)"
  fi
fi

echo "deps: installing ${need[*]} (for make $target)" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark: no question about setuid dumpcap (test/wire captures nothing).
if [[ " ${need[*]} " == *" tshark "* ]]; then
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | "${sudo[@]}" debconf-set-selections
fi
# A fresh machine has no package lists yet; an old list can name versions
# the mirror no longer has.
"${sudo[@]}" "${install[@]}" || { "${sudo[@]}" apt-get update -q && "${sudo[@]}" "${install[@]}"; }
