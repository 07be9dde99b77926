#!/usr/bin/env bash
# Builds the container images the test worker node runs, with buildah (from
# Debian's packages), and saves each as a docker-archive in .cache/images/.
# An image is rebuilt only when its inputs change (a key file beside it).
#
#   test/node/images.sh [base|pause|busybox|operator ...]   default: all
#
# No container registry can be reached here, so nothing is pulled:
#   base      a local stand-in for node:22-bookworm-slim, tagged under that
#             name: Debian bookworm minbase (mmdebstrap) + ca-certificates, a
#             user `node` (uid/gid 1000), this project's Node 22 binary and
#             npm. The real image is built by the Node.js project from the
#             same Debian release; ours lacks yarn, corepack and its headers.
#   pause     the pods' sandbox image, test/node/pause built with Go.
#   busybox   busybox:<the chart's tests.image.tag>, from Debian's
#             busybox-static (the chart's `helm test` pod).
#   operator  the operator, from the project's Dockerfile as it is, with
#             `buildah bud --pull=never`. The build stage runs `npm ci`; the
#             CA bundle and an npmrc this machine needs to reach the npm
#             registry are passed as build-time volumes, never written into
#             the Dockerfile or the shipped (final) stage.
#
# Prints one line per image on stdout: NAME=<reference> <archive>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/.cache/images"
storage="$root/.cache/containers"
mkdir -p "$out" "$storage"

# One build at a time.
exec 8>"$out/.lock"
flock 8

log() { echo "[images] $*" >&2; }

for tool in buildah mmdebstrap busybox; do
  command -v "$tool" >/dev/null || {
    echo "images.sh: $tool is missing; run test/node/install-packages.sh (or apt-get install buildah mmdebstrap busybox-static)" >&2
    exit 1
  }
done

# buildah keeps its images under .cache/containers, apart from any system
# configuration, with a signature policy that accepts local images only.
policy="$storage/policy.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$policy"
bh() {
  buildah --root "$storage/storage" --runroot "$storage/run" --storage-driver overlay "$@"
}

node_bin="$(node -p process.execPath)"
node_version="$(node --version)"
case "$node_version" in v22.*) ;; *) echo "images.sh: Node 22 is needed (run it through npm), found $node_version" >&2; exit 1 ;; esac
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
npm_version="$(node "$npm_dir/bin/npm-cli.js" --version)"
chart_values="$root/helm/kube9-operator/values.yaml"
busybox_tag="$(awk '/^tests:/ { t = 1 } t && $1 == "tag:" { gsub(/"/, "", $2); print $2; exit }' "$chart_values")"
operator_version="$(node -p "require('$root/package.json').version")"

sha() { sha256sum | cut -c1-16; }
# key NAME: the recorded inputs of the last build of NAME.
key_of() { cat "$out/$1.key" 2>/dev/null || true; }
fresh() { [[ -f "$out/$1.tar" && "$(key_of "$1")" == "$2" ]] && bh inspect --type image "$3" >/dev/null 2>&1; }
save() { # save NAME REF KEY
  rm -f "$out/$1.tar.tmp"
  bh push --signature-policy "$policy" --quiet "$2" "docker-archive:$out/$1.tar.tmp:$2" >/dev/null
  mv -f "$out/$1.tar.tmp" "$out/$1.tar"
  echo "$3" >"$out/$1.key"
}
result() { echo "$1=$2 $out/$1.tar"; }

build_base() {
  local ref="docker.io/library/node:22-bookworm-slim"
  local key
  key="$( (cat "$0"; echo "$node_version $npm_version"; sha256sum <"$node_bin") | sha)"
  if fresh base "$key" "$ref"; then result base "$ref"; return; fi
  log "building the stand-in for node:22-bookworm-slim (Debian bookworm minbase, Node $node_version, npm $npm_version) ..."
  local start=$SECONDS tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --customize-hook='echo "node:x:1000:1000::/home/node:/bin/sh" >>"$1/etc/passwd"' \
    --customize-hook='echo "node:x:1000:" >>"$1/etc/group"' \
    --customize-hook='echo "node:*:19000:0:99999:7:::" >>"$1/etc/shadow"' \
    --customize-hook='mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$tmp/rootfs.tar" >&2
  mkdir -p "$tmp/usr/local/bin" "$tmp/usr/local/lib/node_modules"
  cp "$node_bin" "$tmp/usr/local/bin/node"
  cp -r "$npm_dir" "$tmp/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/usr/local/bin/npx"
  local c
  c="$(bh from --signature-policy "$policy" scratch)"
  bh add "$c" "$tmp/rootfs.tar" / >/dev/null
  bh copy "$c" "$tmp/usr/local" /usr/local >/dev/null
  bh config --env NODE_VERSION="${node_version#v}" --cmd node \
    --label org.opencontainers.image.description="Local stand-in for node:22-bookworm-slim, built from Debian's packages by test/node/images.sh" \
    "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
  save base "$ref" "$key"
  log "base image built in $((SECONDS - start))s"
  result base "$ref"
}

build_pause() {
  local ref="localhost/kube9-test/pause:1"
  local key
  key="$( (cat "$0" "$here/pause/main.go" "$here/pause/go.mod"; go version) | sha)"
  if fresh pause "$key" "$ref"; then result pause "$ref"; return; fi
  log "building the pause image ..."
  local tmp c
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  (cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$tmp/pause" .)
  c="$(bh from --signature-policy "$policy" scratch)"
  bh copy --chmod 0755 "$c" "$tmp/pause" /pause >/dev/null
  bh config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
  save pause "$ref" "$key"
  result pause "$ref"
}

build_busybox() {
  local ref="docker.io/library/busybox:$busybox_tag"
  local busybox_bin key
  busybox_bin="$(command -v busybox)"
  key="$( (cat "$0"; sha256sum <"$busybox_bin"; echo "$busybox_tag") | sha)"
  if fresh busybox "$key" "$ref"; then result busybox "$ref"; return; fi
  log "building $ref from Debian's busybox-static ($("$busybox_bin" | head -1)) ..."
  local tmp c applet
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  mkdir -p "$tmp/bin" "$tmp/tmp"
  chmod 1777 "$tmp/tmp"
  cp "$busybox_bin" "$tmp/bin/busybox"
  for applet in $("$busybox_bin" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$tmp/bin/$applet"
  done
  c="$(bh from --signature-policy "$policy" scratch)"
  bh copy "$c" "$tmp" / >/dev/null
  bh config --env PATH=/bin --cmd sh "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
  save busybox "$ref" "$key"
  result busybox "$ref"
}

build_operator() {
  # The inputs: what .dockerignore lets into the build context, and the base.
  local inputs key tag ref
  inputs="$(cd "$root" && {
    printf '%s\n' Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json scripts/bundle.js
    find src -type f | LC_ALL=C sort
  })"
  key="$( (cd "$root" && echo "$inputs" | xargs sha256sum; key_of base) | sha)"
  tag="$operator_version-dev.$key"
  ref="docker.io/kube9/kube9-operator:$tag"
  if fresh operator "$key" "$ref"; then result operator "$ref"; return; fi
  log "building $ref from the Dockerfile (buildah bud --pull=never) ..."
  local start=$SECONDS tmp ca volumes=()
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  # What this machine needs to reach the npm registry: its CA bundle (the
  # registry may sit behind an intercepting proxy) and a root npmrc naming it.
  # Mounted into the RUN steps only; nothing of it is in the Dockerfile, and
  # the shipped final stage copies only dist/ and package.json.
  ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
  if [[ -f "$ca" ]]; then
    mkdir -p "$tmp/ca"
    cp "$ca" "$tmp/ca/ca.crt"
    echo "cafile=/run/kube9-build-ca/ca.crt" >"$tmp/npmrc"
    volumes=(--volume "$tmp/ca:/run/kube9-build-ca:ro" --volume "$tmp/npmrc:/root/.npmrc:ro")
  fi
  (cd "$root" && bh bud --quiet --pull=never --isolation=chroot --network=host \
    --signature-policy "$policy" --layers=false "${volumes[@]}" \
    -t "$ref" -f Dockerfile . >&2)
  save operator "$ref" "$key"
  log "operator image built in $((SECONDS - start))s"
  result operator "$ref"
}

wanted=("${@:-base pause busybox operator}")
for name in ${wanted[*]}; do
  case "$name" in
    base) build_base ;;
    pause) build_pause ;;
    busybox) build_busybox ;;
    operator) build_base >/dev/null; build_operator ;;
    *) echo "images.sh: unknown image $name (known: base pause busybox operator)" >&2; exit 2 ;;
  esac
done
