#!/usr/bin/env bash
# Lists what a test worker node may leave on this machine, and exits 1 if it
# finds any of it: processes (containerd, its shims, kubelet, kube-proxy,
# kube-scheduler, containers), mounts of the test clusters' directories,
# network namespaces, veth devices, routes of the node ranges, nftables
# tables, cgroups, slot records, and qemu-aarch64's binfmt_misc handler.
#
#   test/node/leftovers.sh [SLOT]    default: every slot
set -uo pipefail

slot="${1:-}"
pattern="[0-7]"
[[ -n "$slot" ]] && pattern="$slot"
found=0
report() {
  if [[ -n "$2" ]]; then
    echo "leftover $1:"
    echo "$2" | sed 's/^/  /'
    found=1
  fi
}

# A node's directory is <control plane dir>/node-<slot>.
report processes "$(pgrep -a -f "kube9-cp-[^ ]*/node-$pattern/|/kube9-node-$pattern\b" || true)"
report mounts "$(awk -v p="$pattern" '$5 ~ ("/kube9-cp-[^/]*/node-" p "(/|$)") || $5 ~ ("^/run/netns/kube9-node-" p "$") { print $5 }' /proc/self/mountinfo)"
report netns "$(ip netns list 2>/dev/null | grep -E "^kube9-node-$pattern\b" || true)"
report links "$(ip -br link 2>/dev/null | grep -E "^k9[hn]$pattern[@ ]" || true)"
report routes "$(ip route 2>/dev/null | grep -E "^(blackhole )?10\.21[345]\.$pattern\." || true)"
report nftables "$(nft list tables 2>/dev/null | grep -E "kube9_node_$pattern\b" || true)"
report cgroups "$(ls -d /sys/fs/cgroup/*/kube9-node-$pattern 2>/dev/null || true)"
report slots "$(ls -d /run/kube9-node/slot-$pattern 2>/dev/null || true)"
# The kernel settings the kubelet changed are put back when the last node stops.
if ! ls -d /run/kube9-node/slot-* >/dev/null 2>&1; then
  report kernel-settings-not-restored "$(ls /run/kube9-node/sysctls.json 2>/dev/null || true)"
fi
# qemu-aarch64's binfmt_misc handler (test/node/qemu-binfmt.sh), held by this slot's node while it ran.
report qemu-holder "$(ls /run/kube9-qemu/holders 2>/dev/null | grep -E "^[0-9]+-node-$pattern$" || true)"
if ! ls /run/kube9-qemu/holders/* >/dev/null 2>&1; then
  report qemu-not-undone "$(ls /run/kube9-qemu/registered /run/kube9-qemu/mounted 2>/dev/null || true)"
fi
if [[ $found == 0 ]]; then
  echo "no leftovers${slot:+ of slot $slot}"
fi
exit $found
