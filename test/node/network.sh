#!/usr/bin/env bash
# The network of the test worker node in slot N (0..7), all of it on this
# machine:
#
#   host netns                         netns kube9-node-N (the node)
#   k9hN 10.213.N.1/30  <--- veth --->  k9nN 10.213.N.2/30   (node InternalIP)
#   (kube-apiserver binds here)         bridge k9pods 10.214.N.1/24 (pods, made
#                                       by the CNI bridge plugin)
#                                       kube-proxy's iptables rules
#
#   pods      10.214.N.0/24   routed by the host via 10.213.N.2 only
#   services  10.215.N.0/24   exist only as kube-proxy rules in the node netns
#
# Guards, so that nothing a pod does can leave this machine:
#   - the node netns has no default route: only 10.213.N.0/30 and its pods;
#   - blackhole routes (host and node netns) cover the pod and service ranges,
#     so with the veth gone nothing for them is routed anywhere else;
#   - the nftables table inet kube9_node_N on the host drops, and counts,
#     anything forwarded to or from k9hN (the host never routes the node's
#     traffic onwards) and anything for the node's ranges leaving by another
#     interface. `counters` prints the two drop counters.
#
#   test/node/network.sh up N | down N | counters N
#
# `down` removes everything `up` made, whatever state it is in; it is safe to
# run twice and after a crash.
set -euo pipefail

cmd="${1:-}" slot="${2:-}"
[[ "$slot" =~ ^[0-7]$ ]] || { echo "usage: network.sh up|down|counters SLOT (0..7)" >&2; exit 2; }

ns="kube9-node-$slot"
host_if="k9h$slot" node_if="k9n$slot"
host_ip="10.213.$slot.1" node_ip="10.213.$slot.2" link_net="10.213.$slot.0/30"
pod_net="10.214.$slot.0/24" service_net="10.215.$slot.0/24"
table="kube9_node_$slot"
in_ns() { ip netns exec "$ns" "$@"; }

down() {
  nft delete table inet "$table" 2>/dev/null || true
  ip link delete "$host_if" 2>/dev/null || true
  ip netns delete "$ns" 2>/dev/null || true
  for net in "10.213.$slot.0/24" "$pod_net" "$service_net"; do
    while ip route del "$net" 2>/dev/null; do :; done
    while ip route del blackhole "$net" 2>/dev/null; do :; done
  done
}

up() {
  for tool in ip nft; do
    command -v "$tool" >/dev/null || { echo "network.sh: $tool is missing (apt-get install iproute2 nftables)" >&2; exit 1; }
  done
  if ip netns list | grep -qw "$ns"; then
    echo "network.sh: netns $ns exists already: slot $slot is in use" >&2
    exit 3
  fi
  for net in 10.213.$slot.0/24 "$pod_net" "$service_net"; do
    if [[ -n "$(ip route show to match "$net" | grep -v '^default' || true)" ]]; then
      echo "network.sh: $net is already routed on this machine ($(ip route show to match "$net" | grep -v '^default' | head -1)); pick another slot" >&2
      exit 3
    fi
  done
  trap 'down' ERR

  # Guard first, so no packet crosses before it is in place.
  nft -f - <<EOF
table inet $table {
  counter forward_drops {}
  counter output_drops {}
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "$host_if" counter name forward_drops drop
    oifname "$host_if" counter name forward_drops drop
  }
  chain output {
    type filter hook output priority -10; policy accept;
    ip daddr { $link_net, $pod_net, $service_net } oifname != { "$host_if", "lo" } counter name output_drops drop
  }
}
EOF

  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$node_if" netns "$ns"
  ip addr add "$host_ip/30" dev "$host_if"
  ip link set "$host_if" up
  ip route add blackhole "10.213.$slot.0/24" metric 4000
  ip route add blackhole "$pod_net" metric 4000
  ip route add blackhole "$service_net" metric 4000
  ip route add "$pod_net" via "$node_ip" dev "$host_if"

  in_ns ip link set lo up
  in_ns ip addr add "$node_ip/30" dev "$node_if"
  in_ns ip link set "$node_if" up
  in_ns ip route add blackhole "$service_net"
  # The node routes its pods' traffic to the host end (the API server and the
  # kube9-server simulator listen there); nothing else has a route.
  in_ns sysctl -qw net.ipv4.ip_forward=1
  # Traffic between two pods on the bridge goes through kube-proxy's rules.
  in_ns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  trap - ERR
  echo "HOST_IP=$host_ip NODE_IP=$node_ip POD_CIDR=$pod_net SERVICE_CIDR=$service_net NETNS=$ns"
}

counters() {
  nft list counters table inet "$table" | awk '/counter / { name = $2 } /packets/ { print name "=" $2 }'
}

case "$cmd" in
  up) up ;;
  down) down ;;
  counters) counters ;;
  *) echo "usage: network.sh up|down|counters SLOT" >&2; exit 2 ;;
esac
