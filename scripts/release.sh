#!/usr/bin/env bash
# Releases the operator to an OCI registry, as a user receives it:
#
#   npm run release -- [--registry HOST[:PORT]/NAMESPACE] [--version X.Y.Z] [--key cosign.key]
#     [--chart-repo DIR [--chart-repo-url URL]] [--gpg-key NAME [--gpg-keyring FILE]]
#
#   --registry defaults to ghcr.io/alto9, where the chart's default image
#   (ghcr.io/alto9/kube9-operator:<appVersion>) is published.
#
#   1. checks the registry login first (nothing is pushed when it is refused);
#   2. builds the image from the Dockerfile for linux/amd64 and linux/arm64
#      (test/node/images.sh, buildah) and pushes both under one tag, an OCI
#      image index, as HOST/NAMESPACE/kube9-operator:VERSION;
#   3. packages the chart (`helm package`, version and appVersion = VERSION)
#      and pushes it to oci://HOST/NAMESPACE/charts (`helm push`), so it is
#      installed from oci://HOST/NAMESPACE/charts/kube9-operator (its own
#      repository: a chart and an image in one repository would share the tag
#      VERSION, and the second push would take it from the first);
#   4. signs the pushed index digest with cosign and the key pair given
#      (`--key`, or COSIGN_KEY; its password in COSIGN_PASSWORD);
#   5. makes an SPDX SBOM of the pushed image with syft (its linux/amd64 image:
#      both hold the same bundle and Node version) and attaches it to the index
#      digest as a signed cosign attestation (type spdxjson);
#   6. with --chart-repo DIR, writes the classic Helm chart repository to DIR,
#      ready to be served as a static site (https://charts.kube9.io): the
#      chart's .tgz and its .prov, and index.yaml merged with the one already
#      in DIR (`helm repo index --merge`: earlier versions stay, each with its
#      digest), entries pointing at --chart-repo-url (default
#      https://charts.kube9.io). A version already in DIR's index is refused
#      before anything is built or pushed; nothing in DIR is overwritten;
#   7. prints every digest it pushed, one NAME=REFERENCE@DIGEST line each (and
#      CHART_REPO_PACKAGE=<path> for the chart repository).
#
# The chart package is signed with a Helm provenance file (`helm package
# --sign`) when --gpg-key NAME is given (required with --chart-repo): NAME is
# the key's user ID (or a part of it) in --gpg-keyring FILE, a GnuPG keyring
# holding the secret key (`gpg --export-secret-keys`; default helm's,
# ~/.gnupg/secring.gpg); its passphrase in HELM_KEY_PASSPHRASE, when set. The
# .prov goes with the chart to oci:// (helm push) and to the chart repository;
# users check it with `helm install --verify --keyring PUBLIC_KEYRING`.
#
# Credentials: REGISTRY_AUTH_FILE, a docker-style config.json (default
# ~/.docker/config.json). Trust: REGISTRY_CA, a PEM file, when the registry's
# certificate is not from a public CA. VERSION defaults to package.json's.
# Signing is offline: no transparency-log upload, no keyless (Fulcio) flow,
# so it works against a private registry without the internet; verify with
# `cosign verify --key cosign.pub --insecure-ignore-tlog=true REF@DIGEST`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "release: $*" >&2; exit 1; }
log() { echo "[release] $*" >&2; }

registry="ghcr.io/alto9" version="" key="${COSIGN_KEY:-}"
chart_repo="" chart_repo_url="https://charts.kube9.io" gpg_key="" gpg_keyring=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --chart-repo) chart_repo="${2:-}"; shift 2 ;;
    --chart-repo=*) chart_repo="${1#*=}"; shift ;;
    --chart-repo-url) chart_repo_url="${2:-}"; shift 2 ;;
    --chart-repo-url=*) chart_repo_url="${1#*=}"; shift ;;
    --gpg-key) gpg_key="${2:-}"; shift 2 ;;
    --gpg-key=*) gpg_key="${1#*=}"; shift ;;
    --gpg-keyring) gpg_keyring="${2:-}"; shift 2 ;;
    --gpg-keyring=*) gpg_keyring="${1#*=}"; shift ;;
    --registry) registry="${2:-}"; shift 2 ;;
    --registry=*) registry="${1#*=}"; shift ;;
    --version) version="${2:-}"; shift 2 ;;
    --version=*) version="${1#*=}"; shift ;;
    --key) key="${2:-}"; shift 2 ;;
    --key=*) key="${1#*=}"; shift ;;
    *) die "unknown argument '$1' (allowed: --registry HOST[:PORT]/NAMESPACE, --version X.Y.Z, --key COSIGN_KEY, --chart-repo DIR, --chart-repo-url URL, --gpg-key NAME, --gpg-keyring FILE)" ;;
  esac
done
[[ -n "$registry" ]] || die "--registry is empty (HOST[:PORT]/NAMESPACE; without it, ghcr.io/alto9)"
[[ "$registry" =~ ^([A-Za-z0-9.-]+(:[0-9]+)?)/([a-z0-9]+([._/-][a-z0-9]+)*)$ ]] ||
  die "--registry '$registry' is not HOST[:PORT]/NAMESPACE (lower-case namespace, e.g. ghcr.io/owner)"
host="${BASH_REMATCH[1]}"
version="${version:-$(node -p "require('$root/package.json').version")}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  die "--version '$version' is not a semantic version X.Y.Z[-pre] (it is the chart version and the image tag)"
if [[ -n "$chart_repo" ]]; then
  [[ -d "$chart_repo" ]] || die "--chart-repo $chart_repo is not a directory (make it, or fetch the published index.yaml into it first)"
  [[ "$chart_repo_url" =~ ^https?://[^[:space:]]+$ ]] || die "--chart-repo-url '$chart_repo_url' is not an http(s):// URL"
  [[ -n "$gpg_key" ]] || die "--chart-repo needs --gpg-key NAME: every chart in the repository is signed (a .prov next to its .tgz)"
  # Nothing published is ever replaced: a version in the index (or its package in the folder) is refused.
  if [[ -e "$chart_repo/kube9-operator-$version.tgz" || -e "$chart_repo/kube9-operator-$version.tgz.prov" ]] ||
    { [[ -f "$chart_repo/index.yaml" ]] && grep -Eq "^[[:space:]]+version: \"?${version//./\\.}\"?[[:space:]]*$" "$chart_repo/index.yaml"; }; then
    die "kube9-operator $version is already published in $chart_repo (index.yaml or its .tgz); a published version is never replaced: release a new version"
  fi
fi
if [[ -n "$gpg_keyring" ]]; then
  [[ -f "$gpg_keyring" ]] || die "--gpg-keyring $gpg_keyring does not exist"
  [[ -n "$gpg_key" ]] || die "--gpg-keyring needs --gpg-key NAME (the key to sign the chart with)"
fi
[[ -n "$key" ]] || die "a cosign private key is required: --key PATH or COSIGN_KEY (make one with 'cosign generate-key-pair')"
[[ -f "$key" ]] || die "the cosign key $key does not exist"
[[ -n "${COSIGN_PASSWORD+set}" ]] || die "COSIGN_PASSWORD is not set (the password of $key; empty for a key without one)"
auth_file="${REGISTRY_AUTH_FILE:-$HOME/.docker/config.json}"
[[ -f "$auth_file" ]] || die "no credentials: REGISTRY_AUTH_FILE ($auth_file) does not exist"
ca="${REGISTRY_CA:-}"
[[ -z "$ca" || -f "$ca" ]] || die "REGISTRY_CA=$ca does not exist"

# The tools: buildah and skopeo from Debian's packages; helm, cosign and syft
# built from the pinned Go modules (test/controlplane/build.sh) unless on PATH.
bin="$root/.cache/bin/current"
for tool in buildah skopeo; do
  command -v "$tool" >/dev/null || die "$tool is missing (test/node/install-packages.sh installs it)"
done
tool() {
  if [[ -x "$bin/$1" ]]; then echo "$bin/$1"; elif command -v "$1" >/dev/null; then command -v "$1"
  else die "$1 is missing: run test/controlplane/build.sh $1"; fi
}
helm="$(tool helm)" cosign="$(tool cosign)" syft="$(tool syft)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Trust for each tool: buildah and skopeo read a directory of *.crt, helm a
# file, cosign and syft (Go) SSL_CERT_FILE / SYFT_REGISTRY_CA_CERT.
cert_args=() helm_ca=() go_tls=()
if [[ -n "$ca" ]]; then
  mkdir "$work/certs"
  cp "$ca" "$work/certs/ca.crt"
  cert_args=(--cert-dir "$work/certs")
  helm_ca=(--ca-file "$ca")
  go_tls=(SSL_CERT_FILE="$ca" SYFT_REGISTRY_CA_CERT="$ca")
fi
# cosign and syft read $DOCKER_CONFIG/config.json.
mkdir "$work/docker"
cp "$auth_file" "$work/docker/config.json"
go_env=(env DOCKER_CONFIG="$work/docker" "${go_tls[@]}")

# 1. The login, before anything is built or pushed.
credentials="$(node -e '
  const [file, host] = process.argv.slice(1);
  const entry = (JSON.parse(require("fs").readFileSync(file, "utf8")).auths || {})[host];
  if (!entry || !entry.auth) process.exit(3);
  process.stdout.write(Buffer.from(entry.auth, "base64").toString());
' "$auth_file" "$host")" || die "no credentials for $host in $auth_file (REGISTRY_AUTH_FILE)"
user="${credentials%%:*}"
if ! out="$(buildah login --authfile "$work/login.json" "${cert_args[@]}" -u "$user" --password-stdin "$host" \
  <<<"${credentials#*:}" 2>&1)"; then
  die "the registry $host refused the login of '$user' from $auth_file: ${out//${credentials#*:}/***}; nothing was pushed"
fi
log "logged in to $host as $user"

# 2. The image.
image="$registry/kube9-operator"
# The one tag is an OCI image index for linux/amd64 and linux/arm64 (a buildah
# manifest list that images.sh builds from the one Dockerfile).
built="$(bash "$root/test/node/images.sh" operator | awk -F'[= ]' '$1 == "operator_index" { print $2 }')"
[[ -n "$built" ]] || die "test/node/images.sh did not report the operator's image index"
storage="$root/.cache/containers"

# Pushes the local manifest list $1, with every image in it, to $2 (docker://…)
# as an OCI index; writes the index's digest to $3. The only place an image is
# pushed.
push_image() {
  buildah --root "$storage/storage" --runroot "$storage/run" --storage-driver overlay \
    manifest push --all --format oci --quiet --authfile "$auth_file" "${cert_args[@]}" --digestfile "$3" \
    "$1" "docker://$2" >&2
}
push_image "$built" "$image:$version" "$work/image.digest"
image_digest="$(cat "$work/image.digest")"
log "pushed $image:$version ($image_digest)"

# 3. The chart.
sign_args=()
if [[ -n "$gpg_key" ]]; then
  sign_args=(--sign --key "$gpg_key")
  [[ -n "$gpg_keyring" ]] && sign_args+=(--keyring "$gpg_keyring")
  if [[ -n "${HELM_KEY_PASSPHRASE+set}" ]]; then
    (umask 077 && printf '%s' "$HELM_KEY_PASSPHRASE" >"$work/passphrase")
    sign_args+=(--passphrase-file "$work/passphrase")
  fi
fi
mkdir "$work/chart"
"$helm" package "$root/helm/kube9-operator" --version "$version" --app-version "$version" -d "$work/chart" \
  "${sign_args[@]}" >&2 || die "helm package${gpg_key:+ --sign --key $gpg_key} failed (see above)"
rm -f "$work/passphrase"
package="$work/chart/kube9-operator-$version.tgz"
chart_out="$("$helm" push "$package" "oci://$registry/charts" \
  --registry-config "$auth_file" "${helm_ca[@]}" 2>&1)" || die "helm push to oci://$registry/charts failed: $chart_out"
chart_digest="$(awk '/^Digest:/ { print $2 }' <<<"$chart_out")"
[[ -n "$chart_digest" ]] || die "helm push did not report a digest: $chart_out"
log "pushed oci://$registry/charts/kube9-operator:$version ($chart_digest)"

# 4. The signature.
"${go_env[@]}" "$cosign" sign --yes --key "$key" --tlog-upload=false "$image@$image_digest" >&2

# 5. The SBOM, made from the pushed image, attested.
"${go_env[@]}" SYFT_CHECK_FOR_APP_UPDATE=false "$syft" scan --platform linux/amd64 "registry:$image@$image_digest" \
  --select-catalogers +javascript-lock-cataloger \
  --source-name kube9-operator --source-version "$version" \
  -o "spdx-json=$work/sbom.spdx.json" >&2
"${go_env[@]}" "$cosign" attest --yes --key "$key" --tlog-upload=false --type spdxjson \
  --predicate "$work/sbom.spdx.json" "$image@$image_digest" >&2

# 6. The classic chart repository: the new package and its .prov next to the
# published ones, and the index merged (a staging folder holds only the new
# package, so helm indexes it alone and keeps every published entry as it is).
if [[ -n "$chart_repo" ]]; then
  mkdir "$work/stage"
  cp "$package" "$package.prov" "$work/stage/"
  merge=()
  [[ -f "$chart_repo/index.yaml" ]] && merge=(--merge "$chart_repo/index.yaml")
  "$helm" repo index "$work/stage" --url "$chart_repo_url" "${merge[@]}" >&2 ||
    die "helm repo index --merge $chart_repo/index.yaml failed (see above); nothing in $chart_repo changed"
  cp -n "$package" "$package.prov" "$chart_repo/"
  cp "$work/stage/index.yaml" "$chart_repo/.index.yaml.new"
  mv -f "$chart_repo/.index.yaml.new" "$chart_repo/index.yaml"
  log "published kube9-operator $version to $chart_repo (index.yaml for $chart_repo_url)"
fi

# 7. Every digest pushed.
digest_of() { # digest_of REFERENCE: the digest of the manifest it names, as the registry has it
  skopeo inspect --raw --authfile "$auth_file" "${cert_args[@]}" "docker://$1" >"$work/manifest.json"
  skopeo manifest-digest "$work/manifest.json"
}
signature="$("${go_env[@]}" "$cosign" triangulate --type signature "$image@$image_digest")"
attestation="$("${go_env[@]}" "$cosign" triangulate --type attestation "$image@$image_digest")"
echo "IMAGE=$image:$version@$image_digest"
echo "CHART=oci://$registry/charts/kube9-operator:$version@$chart_digest"
echo "SIGNATURE=$signature@$(digest_of "$signature")"
echo "ATTESTATION=$attestation@$(digest_of "$attestation")"
if [[ -n "$chart_repo" ]]; then echo "CHART_REPO_PACKAGE=$chart_repo/kube9-operator-$version.tgz"; fi
