#!/usr/bin/env bash
# Builds (or finds) the binaries the end-to-end tests run: kube-apiserver,
# kube-controller-manager, etcd and the helm v3 client; kube-apiserver-oldest
# and kube-controller-manager-oldest, the oldest Kubernetes minor the chart
# supports (its kubeVersion floor; KUBE9_TEST_KUBERNETES=oldest runs the
# specs that judge the chart and the operator against them); for the worker node
# also kubelet, kube-proxy, kube-scheduler, containerd and its runc shim, and
# the Prometheus server that scrapes the node's pods (test/prometheus-scrape),
# kube-router (its NetworkPolicy firewall only, test/network-policy) and
# coredns (the node's cluster DNS there, with the plugins it needs);
# for `npm run release` cosign and syft; actionlint for the workflow lint.
#
#   test/controlplane/build.sh
#
# Versions come from the pinned Go modules beside this script
# (go/kube, go/kube-oldest, go/etcd, go/helm, go/containerd, go/prometheus, go/kube-router, go/coredns, go/cosign,
# go/syft, go/actionlint). Built binaries go to .cache/bin/<name>-<version>
# and are linked as .cache/bin/current/<name>; .cache/bin/current/versions.json
# records what was chosen.
#
# Each binary has a key: the sha256 of everything that determines it (name,
# version, package, ldflags, tags, the module's go.mod and go.sum, the Go
# version, GOOS/GOARCH and CGO_ENABLED; see tool_inputs), kept beside it as
# <name>-<version>.key. A binary whose key matches is used as it is; else it is
# taken from the per-machine cache (test/support/machine-cache.sh, checked
# against its sha256 and key there), else built and stored there too. A
# binary with no key beside it (an older build.sh's) is replaced the same way.
#
# Overrides:
#   KUBEBUILDER_ASSETS  a directory holding kube-apiserver, etcd (and
#                       kube-controller-manager): those are used instead of
#                       building them, as envtest does.
#   helm on PATH        used when `helm version` reports v3.
#
# Arguments (optional): the names of the binaries to provide, default all;
# `control-plane`, `control-plane-oldest`, `node` and `release` (cosign, syft)
# name the groups.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="$root/.cache/bin"
current="$cache/current"
mkdir -p "$current"

# One build at a time (two test runs may start together), but a binary that is already
# built from today's inputs is used without waiting for another run's build: the lock is
# taken only for a binary that has to be taken from the machine cache or built (lock_builds),
# and its key is looked at again once it is held. Everything else here is per process or
# renamed into place atomically. (A unit test that asks for actionlint must not wait for
# the background build of every other tool on a new machine.)
locked=""
waited=0
lock_builds() {
  [[ -z "$locked" ]] || return 0
  local before=$SECONDS
  exec 9>"$cache/.lock"
  flock 9
  locked=yes
  waited=$((SECONDS - before))
}
# The time spent here (without waiting for the lock), for scripts/test.sh's time table.
started=$SECONDS
# shellcheck source=../support/machine-cache.sh
source "$here/../support/machine-cache.sh"

# The version of module $2 required by go.mod $1 ("v1.2.3").
module_version() {
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}

kube_mod="$here/go/kube/go.mod"
kube_oldest_mod="$here/go/kube-oldest/go.mod"
etcd_mod="$here/go/etcd/go.mod"
helm_mod="$here/go/helm/go.mod"
containerd_mod="$here/go/containerd/go.mod"
cosign_mod="$here/go/cosign/go.mod"
syft_mod="$here/go/syft/go.mod"
prometheus_mod="$here/go/prometheus/go.mod"
actionlint_mod="$here/go/actionlint/go.mod"
kube_router_mod="$here/go/kube-router/go.mod"
coredns_mod="$here/go/coredns/go.mod"
kube_version="$(module_version "$kube_mod" k8s.io/kubernetes)"
kube_oldest_version="$(module_version "$kube_oldest_mod" k8s.io/kubernetes)"
etcd_version="$(module_version "$etcd_mod" go.etcd.io/etcd/server/v3)"
helm_version="$(module_version "$helm_mod" helm.sh/helm/v3)"
helm_client_go="$(module_version "$helm_mod" k8s.io/client-go)"
containerd_version="$(module_version "$containerd_mod" github.com/containerd/containerd/v2)"
cosign_version="$(module_version "$cosign_mod" github.com/sigstore/cosign/v2)"
syft_version="$(module_version "$syft_mod" github.com/anchore/syft)"
prometheus_module="$(module_version "$prometheus_mod" github.com/prometheus/prometheus)"
actionlint_version="$(module_version "$actionlint_mod" github.com/rhysd/actionlint)"
kube_router_version="$(module_version "$kube_router_mod" github.com/cloudnativelabs/kube-router/v2)"
coredns_version="$(module_version "$coredns_mod" github.com/coredns/coredns)"
for v in kube_version kube_oldest_version etcd_version helm_version helm_client_go containerd_version cosign_version syft_version prometheus_module kube_router_version coredns_version actionlint_version; do
  if [[ -z "${!v}" ]]; then
    echo "build.sh: cannot read $v from the go.mod files in $here/go" >&2
    exit 1
  fi
done

# The version stamps the release Makefiles set with -X (without them the
# apiserver reports v0.0.0-master and helm reports v3.22).
kube_version_ldflags() {
  local flags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$1 -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$1" | cut -d. -f2) -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}
kube_ldflags="$(kube_version_ldflags "$kube_version")"
kube_oldest_ldflags="$(kube_version_ldflags "$kube_oldest_version")"
helm_k8s_minor="$(echo "$helm_client_go" | cut -d. -f2)"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done

containerd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version"
containerd_tags="no_btrfs no_devmapper no_zfs no_aufs"
# The release tools (npm run release): cosign signs, syft makes the SBOM.
cosign_ldflags="-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$cosign_version"
syft_ldflags="-s -w -X main.version=${syft_version#v}"

# Prometheus' Go module v0.3XX.Y is Prometheus v3.XX.Y. Only the Kubernetes service
# discovery is compiled in (Prometheus' own build tags): the cloud SDKs of the others
# would more than double the build. Debian's package has no Kubernetes discovery at all.
prometheus_version="v3.$(echo "$prometheus_module" | sed -E 's/^v0\.3([0-9]+)\.([0-9]+)$/\1.\2/')"
prometheus_ldflags="-s -w -X github.com/prometheus/common/version.Version=${prometheus_version#v}"
prometheus_tags="remove_all_sd enable_kubernetes_sd"

# kube-router enforces NetworkPolicy on the test node (its firewall controller only). The
# version this module proxy serves has reported security flaws: tests only, inside the
# node's guarded network (test/README.md).
kube_router_ldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$kube_router_version"

declare -A chosen_version

# link NAME TARGET VERSION HOW
link() {
  ln -sfn "$2" "$current/$1.tmp.$$"
  mv -Tf "$current/$1.tmp.$$" "$current/$1" # atomic: a running test never sees it missing
  chosen_version[$1]="$3"
  printf '%-24s %-10s %s (%s)\n' "$1" "$3" "$4" "$2"
}

# go_env DIR: the Go toolchain's version and target as a build in DIR sees them
# (GOTOOLCHAIN may pick another toolchain per module), once per DIR and CGO_ENABLED.
declare -A go_env_of
go_env() {
  local id="$1 ${CGO_ENABLED-}"
  if [[ -z "${go_env_of[$id]:-}" ]]; then
    go_env_of[$id]="$(cd "$1" && go env GOVERSION GOOS GOARCH GOAMD64 GOARM64 CGO_ENABLED GOFLAGS | tr '\n' ' ')"
  fi
  echo "${go_env_of[$id]}"
}

# tool_inputs NAME VERSION MODULE_DIR PACKAGE LDFLAGS TAGS: everything that determines the binary.
tool_inputs() {
  printf 'name %s\nversion %s\npackage %s\nldflags %s\ntags %s\nflags -trimpath\n' "$1" "$2" "$4" "$5" "$6"
  echo "go $(go_env "$3")"
  (cd "$3" && sha256sum go.mod $([[ ! -f go.sum ]] || echo go.sum))
  # A main package of the module's own (PACKAGE "."): its source too.
  [[ "$4" != . ]] || (cd "$3" && sha256sum ./*.go)
}

# build NAME VERSION MODULE_DIR PACKAGE LDFLAGS [TAGS]
build() {
  local name="$1" version="$2" dir="$3" pkg="$4" ldflags="$5" tags="${6:-}"
  local out="$cache/$name-$version"
  if ! command -v go >/dev/null; then
    [[ -x "$out" ]] || { echo "build.sh: go is not on PATH; cannot build $name" >&2; exit 1; }
    link "$name" "$out" "$version" "cached; go is not on PATH, its inputs were not checked"
    return
  fi
  local inputs key
  inputs="$(tool_inputs "$name" "$version" "$dir" "$pkg" "$ldflags" "$tags")"
  key="$(mc_key <<<"$inputs")"
  if [[ -x "$out" && "$(cat "$out.key" 2>/dev/null)" == "$key" ]]; then
    link "$name" "$out" "$version" "cached"
    return
  fi
  lock_builds
  if [[ -x "$out" && "$(cat "$out.key" 2>/dev/null)" == "$key" ]]; then
    link "$name" "$out" "$version" "cached (made by another run meanwhile)"
    return
  fi
  local work="$cache/.work.$$"
  rm -rf "$work" && mkdir -p "$work"
  # A binary without a key (an older build.sh's) or with another key was built from other
  # inputs, or from inputs nobody recorded: it is replaced, never taken on trust.
  local start=$SECONDS how
  if mc_take tools "$name-$version" "$key" "$work" "$name"; then
    how="from the machine cache in $((SECONDS - start))s"
  else
    echo "building $name $version (go build $pkg) ..."
    (cd "$dir" && go build -trimpath -tags="$tags" -ldflags="$ldflags" -o "$work/$name" "$pkg")
    mc_store tools "$name-$version" "$key" "$inputs" "$work" "$name"
    how="built in $((SECONDS - start))s"
  fi
  # The binary first, then its key: a run cut in between leaves a key that does not match.
  mv -f "$work/$name" "$out"
  echo "$key" >"$out.key.tmp.$$"
  mv -f "$out.key.tmp.$$" "$out.key"
  rm -rf "$work"
  link "$name" "$out" "$version" "$how"
}

# The version an existing binary reports.
reported_version() {
  case "$1" in
    kube-*|kubelet) "$2" --version 2>/dev/null | awk '{ print $2 }' ;;
    etcd) "$2" --version 2>/dev/null | awk '/etcd Version/ { print "v" $3 }' ;;
    helm) "$2" version --short 2>/dev/null | sed 's/+.*//' ;;
  esac
}

assets="${KUBEBUILDER_ASSETS:-}"
from_assets() {
  [[ -n "$assets" && -x "$assets/$1" ]] || return 1
  link "$1" "$assets/$1" "$(reported_version "$1" "$assets/$1")" "from KUBEBUILDER_ASSETS"
}

# KUBE9_BUILD_TIMES (set by scripts/test.sh): a file to add this run's time to.
trap 'rm -rf "$cache"/*.tmp.$$ "$current"/*.tmp.$$ "$cache/.work.$$"
  [[ -z "${KUBE9_BUILD_TIMES:-}" ]] || echo "tools $((SECONDS - started - waited))" >>"$KUBE9_BUILD_TIMES"' EXIT

control_plane=(etcd kube-apiserver kube-controller-manager helm)
control_plane_oldest=(kube-apiserver-oldest kube-controller-manager-oldest)
node=(kube-scheduler kubelet kube-proxy containerd containerd-shim-runc-v2 ctr prometheus kube-router coredns)
release=(cosign syft)
all=("${control_plane[@]}" "${control_plane_oldest[@]}" "${node[@]}" "${release[@]}" actionlint)
wanted=()
for arg in "${@:-${all[@]}}"; do
  case "$arg" in
    control-plane) wanted+=("${control_plane[@]}") ;;
    control-plane-oldest) wanted+=("${control_plane_oldest[@]}") ;;
    node) wanted+=("${node[@]}") ;;
    release) wanted+=("${release[@]}") ;;
    *) wanted+=("$arg") ;;
  esac
done
for name in "${wanted[@]}"; do
  case "$name" in
    etcd)
      from_assets etcd ||
        build etcd "$etcd_version" "$here/go/etcd" go.etcd.io/etcd/server/v3 "-s -w" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy)
      from_assets "$name" ||
        build "$name" "$kube_version" "$here/go/kube" "k8s.io/kubernetes/cmd/$name" "$kube_ldflags" ;;
    kube-apiserver-oldest|kube-controller-manager-oldest)
      build "$name" "$kube_oldest_version" "$here/go/kube-oldest" "k8s.io/kubernetes/cmd/${name%-oldest}" "$kube_oldest_ldflags" ;;
    containerd|containerd-shim-runc-v2|ctr)
      CGO_ENABLED=0 build "$name" "$containerd_version" "$here/go/containerd" \
        "github.com/containerd/containerd/v2/cmd/$name" "$containerd_ldflags" "$containerd_tags" ;;
    kube-router)
      CGO_ENABLED=0 build kube-router "$kube_router_version" "$here/go/kube-router" \
        github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "$kube_router_ldflags" ;;
    coredns) # go/coredns/main.go: CoreDNS with the plugins the node's cluster DNS needs
      CGO_ENABLED=0 build coredns "$coredns_version" "$here/go/coredns" . "-s -w" ;;
    cosign)
      CGO_ENABLED=0 build cosign "$cosign_version" "$here/go/cosign" \
        github.com/sigstore/cosign/v2/cmd/cosign "$cosign_ldflags" ;;
    syft)
      CGO_ENABLED=0 build syft "$syft_version" "$here/go/syft" \
        github.com/anchore/syft/cmd/syft "$syft_ldflags" ;;
    actionlint) # the workflows' linter (test/unit/workflows.spec.ts)
      CGO_ENABLED=0 build actionlint "$actionlint_version" "$here/go/actionlint" \
        github.com/rhysd/actionlint/cmd/actionlint "-s -w -X github.com/rhysd/actionlint.version=$actionlint_version" ;;
    prometheus)
      CGO_ENABLED=0 build prometheus "$prometheus_version" "$here/go/prometheus" \
        github.com/prometheus/prometheus/cmd/prometheus "$prometheus_ldflags" "$prometheus_tags" ;;
    helm)
      path_helm="$(command -v helm || true)"
      if [[ -n "$path_helm" && "$(reported_version helm "$path_helm")" == v3.* ]]; then
        link helm "$path_helm" "$(reported_version helm "$path_helm")" "from PATH"
      else
        build helm "$helm_version" "$here/go/helm" helm.sh/helm/v3/cmd/helm "$helm_ldflags"
      fi ;;
    *) echo "build.sh: unknown binary $name (known: ${all[*]})" >&2; exit 2 ;;
  esac
done
for name in "${control_plane[@]}"; do
  [[ -n "${chosen_version[$name]:-}" ]] || exit 0 # a partial run leaves versions.json alone
done

cat >"$current/versions.json.tmp.$$" <<EOF
{
  "kubernetes": "${chosen_version[kube-apiserver]}",
  "kubeControllerManager": "${chosen_version[kube-controller-manager]}",
  "kubernetesOldest": "${chosen_version[kube-apiserver-oldest]:-}",
  "kubeControllerManagerOldest": "${chosen_version[kube-controller-manager-oldest]:-}",
  "etcd": "${chosen_version[etcd]}",
  "helm": "${chosen_version[helm]}",
  "containerd": "${chosen_version[containerd]:-}"
}
EOF
mv -f "$current/versions.json.tmp.$$" "$current/versions.json"
echo "binaries in $current"
