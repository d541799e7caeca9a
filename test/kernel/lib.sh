# shellcheck shell=bash
# test/kernel/lib.sh: paths and helpers shared by test/kernel/setup and
# test/kernel/run (sourced, never run). Everything the lab makes lives in one
# ignored folder, $LAB_CACHE (default <repo>/.cache/kernel-lab):
#   <kver>/           per kernel ABI version: the image .deb, its unpacked tree
#                     (k/), siw's source and build, the initramfs, stamps
#   bin/              brickd, brickctl (-tags ibverbs,pebblegozstd) and brick-torture, rebuilt
#                     by every run
#   pmem/             the NVDIMM backing files of the current run
#   runs/<stamp>/     one run's shared folder: per-scenario logs and results
LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_HERE/../.." && pwd)
LAB_CACHE=${LAB_CACHE:-$LAB_REPO/.cache/kernel-lab}

lab_log() { echo "kernel-lab: $*" >&2; }
lab_die() {
  lab_log "error: $*"
  exit 2
}

# lab_kver prints the kernel ABI version the lab boots: the one the
# linux-image-amd64 meta-package depends on (LAB_KVER overrides it).
lab_kver() {
  if [[ -n ${LAB_KVER:-} ]]; then
    echo "$LAB_KVER"
    return
  fi
  local v
  v=$(_lab_meta_dep)
  if [[ -z $v ]]; then
    lab_log "apt knows no linux-image-amd64; running apt-get update"
    apt-get update -q >&2 || true
    v=$(_lab_meta_dep)
  fi
  [[ -n $v ]] || lab_die "cannot derive the kernel version from linux-image-amd64 (set LAB_KVER)"
  echo "$v"
}
_lab_meta_dep() {
  apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends:.*linux-image-\([0-9][^ ,]*\).*/\1/p' | head -n1
}

# lab_go finds the Go toolchain (CI puts it in /usr/local/go/bin).
lab_go() {
  if [[ -n ${GO:-} ]]; then
    echo "$GO"
  elif command -v go >/dev/null; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    echo /usr/local/go/bin/go
  else
    lab_die "no Go toolchain (set GO)"
  fi
}
