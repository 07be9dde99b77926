#!/usr/bin/env bash
# Installs, from Debian's packages, what the test worker node and its image
# builds need and this machine lacks: runc, the CNI plugins, iptables (for
# kube-proxy), ipset (kube-router's NetworkPolicy firewall), nftables and iproute2 (the node's network and its guard),
# buildah and mmdebstrap (the images), qemu-user-static (the arm64 image: its
# build's code-cache stage and its pod; test/node/qemu-binfmt.sh registers it),
# busybox-static (the `helm test` image),
# util-linux (nsenter), openssl and bubblewrap (the other end-to-end tests),
# gnupg (the chart signing key: scripts/release-assets.sh and its test),
# docker-registry and apache2-utils (htpasswd) for the test OCI registry,
# skopeo and gpg (the chart's provenance) for `npm run release` and its tests,
# nginx-light for the node's ghcr.io stand-in (anonymous pulls, pushes with
# basic auth) and the chart repository it serves over HTTPS,
# prometheus (its promtool, for the alert tests; its server lacks Kubernetes
# discovery, so build.sh builds that one from the Go module).
# Does nothing when all are there. Needs root.
set -euo pipefail

declare -A wanted=(
  [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [iptables]=iptables
  [ipset]=ipset
  [nft]=nftables
  [ip]=iproute2
  [buildah]=buildah
  [mmdebstrap]=mmdebstrap
  [qemu-aarch64-static]=qemu-user-static
  [busybox]=busybox-static
  [nsenter]=util-linux
  [openssl]=openssl
  [gpg]=gnupg
  [bwrap]=bubblewrap
  [docker-registry]=docker-registry
  [htpasswd]=apache2-utils
  [skopeo]=skopeo
  [gpg]=gpg
  [nginx]=nginx-light
  [promtool]=prometheus
)
missing=()
for tool in "${!wanted[@]}"; do
  if [[ "$tool" == /* ]]; then [[ -x "$tool" ]] && continue; else command -v "$tool" >/dev/null && continue; fi
  missing+=("${wanted[$tool]}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "install-packages.sh: ${missing[*]} missing, and installing them needs root" >&2
  exit 1
fi
echo "Installing ${missing[*]} from Debian's packages" >&2
apt-get update -qq
# Debian's prometheus package starts its daemon on :9090 when installed; the tests run their
# own Prometheus, so no service may start during the install (policy-rc.d, as in Debian's
# container images), unless the machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
