#!/usr/bin/env bash
# Registers Debian's qemu-user-static for aarch64 ELF binaries in binfmt_misc,
# so that this amd64 machine runs arm64 images (the arm64 image build's
# code-cache stage, the arm64 pod of test/arm64-pod.e2e-spec.ts), and undoes
# only what it did.
#
#   test/node/qemu-binfmt.sh hold ID       ID (PID or PID-name) needs qemu until release
#   test/node/qemu-binfmt.sh release ID    ID is done
#   test/node/qemu-binfmt.sh status        prints the state (for leftovers.sh)
#
# hold mounts binfmt_misc if it is not mounted, and registers qemu-aarch64 from
# /usr/lib/binfmt.d/qemu-aarch64.conf (flags OPF: F opens the interpreter at
# registration, so it is found inside containers too) only if no aarch64
# handler is registered already. What it did is recorded under
# /run/kube9-qemu; the last release (of live holders: dead ones are dropped)
# undoes exactly that, and leaves a handler someone else registered alone.
#
# Debian's package registers the handlers itself in its postinst only through
# systemd-binfmt or binfmt-support (update-binfmts); neither runs on the
# machines this project is built on (no systemd), so after `apt-get install
# qemu-user-static` nothing is registered and this script does it. Where they
# did run, the handler is there already and this script leaves it alone.
set -euo pipefail

state=/run/kube9-qemu
misc=/proc/sys/fs/binfmt_misc
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
mkdir -p "$state/holders"
exec 9>"$state/.lock"
flock 9

log() { echo "[qemu] $*" >&2; }

# Any registered handler for aarch64 ELF (e_machine 183 = 0xb7), under any name.
aarch64_handler() {
  local entry
  for entry in "$misc"/*; do
    [[ -f "$entry" && "$(basename "$entry")" != register && "$(basename "$entry")" != status ]] || continue
    if grep -q '^magic 7f454c460201010000000000000000000200b700' "$entry"; then
      echo "$entry"
      return 0
    fi
  done
  return 1
}

prune() {
  local holder name
  for holder in "$state"/holders/*; do
    [[ -e "$holder" ]] || continue
    name="$(basename "$holder")"
    kill -0 "${name%%-*}" 2>/dev/null || rm -f "$holder"
  done
}

case "${1:-}" in
  hold)
    pid="${2:?hold needs the holder: PID or PID-name}"
    prune
    if [[ ! -e "$misc/register" ]]; then
      mount -t binfmt_misc binfmt_misc "$misc"
      touch "$state/mounted"
      log "mounted binfmt_misc at $misc"
    fi
    if handler="$(aarch64_handler)"; then
      if [[ ! -e "$state/registered" ]]; then
        flags="$(sed -n 's/^flags: //p' "$handler")"
        log "aarch64 already handled by $(sed -n 's/^interpreter //p' "$handler") ($handler, flags $flags); left as it is"
        [[ "$flags" == *F* ]] || log "warning: without the F flag the interpreter is not found inside containers"
      fi
    else
      [[ -f "$conf" ]] || { echo "qemu-binfmt.sh: $conf is missing; run test/node/install-packages.sh (Debian package qemu-user-static)" >&2; exit 1; }
      line="$(grep -v '^#' "$conf" | head -1)"
      [[ "${line##*:}" == *F* ]] || { echo "qemu-binfmt.sh: $conf has no F flag: $line" >&2; exit 1; }
      printf '%s' "$line" >"$misc/register"
      echo "$misc/$(echo "$line" | cut -d: -f2)" >"$state/registered"
      log "registered $(cut -d: -f2 <<<"$line") -> $(readlink -f "$(echo "$line" | cut -d: -f7)") (flags ${line##*:})"
    fi
    touch "$state/holders/$pid"
    ;;
  release)
    pid="${2:?release needs the holder: PID or PID-name}"
    rm -f "$state/holders/$pid"
    prune
    if compgen -G "$state/holders/*" >/dev/null; then exit 0; fi
    if [[ -f "$state/registered" ]]; then
      entry="$(cat "$state/registered")"
      [[ -e "$entry" ]] && echo -1 >"$entry"
      rm -f "$state/registered"
      log "unregistered $(basename "$entry")"
    fi
    if [[ -f "$state/mounted" ]]; then
      umount "$misc"
      rm -f "$state/mounted"
      log "unmounted binfmt_misc"
    fi
    ;;
  status)
    prune
    holders="$(ls "$state/holders")"
    echo "holders: ${holders//$'\n'/ }"
    echo "registered by us: $(cat "$state/registered" 2>/dev/null || echo no)"
    echo "mounted by us: $([[ -f "$state/mounted" ]] && echo yes || echo no)"
    ;;
  *)
    echo "usage: qemu-binfmt.sh hold PID | release PID | status" >&2
    exit 2
    ;;
esac
