#!/usr/bin/env bash
# The files of a release's GitHub page, from what `npm run release` pushed, each checked as a
# user will check it (.github/workflows/release.yml attaches them):
#
#   scripts/release-assets.sh --printed FILE --key COSIGN_KEY --out DIR
#                             [--chart-repo DIR [--gpg-key NAME --gpg-keyring FILE]]
#
#   --printed FILE    what scripts/release.sh printed (its IMAGE=REF@DIGEST line is read)
#   --key COSIGN_KEY  the release's cosign private key (its password in COSIGN_PASSWORD)
#   --chart-repo DIR  the chart repository folder the release wrote (release.sh --chart-repo):
#                     its kube9-operator-VERSION.tgz and, when signed, .tgz.prov are copied
#   --gpg-key NAME, --gpg-keyring FILE
#                     the chart signing key and the secret keyring release.sh signed with:
#                     its public key is written as kube9-charts.gpg, once `helm verify` of the
#                     package and its .prov passes with it (the keyring goes into a temporary
#                     GnuPG home, removed afterwards)
#   --out DIR         receives cosign.pub (the key's public half), sbom.spdx.json (the SPDX
#                     SBOM attested to the image, taken only after `cosign verify` and
#                     `cosign verify-attestation` with that cosign.pub pass) and the chart package
#
# Credentials: REGISTRY_AUTH_FILE (default ~/.docker/config.json); trust: REGISTRY_CA, as for
# scripts/release.sh. Exits non-zero, naming the image, when a verification fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "release-assets: $*" >&2; exit 1; }
usage="scripts/release-assets.sh --printed FILE --key COSIGN_KEY --out DIR [--chart-repo DIR [--gpg-key NAME --gpg-keyring FILE]]"

printed="" key="" out="" chart_repo="" gpg_key="" gpg_keyring=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --printed) printed="${2:-}"; shift 2 ;;
    --key) key="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    --chart-repo) chart_repo="${2:-}"; shift 2 ;;
    --gpg-key) gpg_key="${2:-}"; shift 2 ;;
    --gpg-keyring) gpg_keyring="${2:-}"; shift 2 ;;
    *) die "unknown argument '$1' (usage: $usage)" ;;
  esac
done
[[ -n "$printed" && -n "$key" && -n "$out" ]] || die "usage: $usage"
[[ -f "$printed" ]] || die "--printed $printed does not exist"
[[ -f "$key" ]] || die "the cosign key $key does not exist"
[[ -z "$gpg_key$gpg_keyring" || (-n "$gpg_key" && -n "$gpg_keyring" && -n "$chart_repo") ]] ||
  die "--gpg-key NAME and --gpg-keyring FILE go together, with --chart-repo DIR (usage: $usage)"
[[ -z "$gpg_keyring" || -f "$gpg_keyring" ]] || die "--gpg-keyring $gpg_keyring does not exist"
[[ -n "${COSIGN_PASSWORD+set}" ]] || die "COSIGN_PASSWORD is not set (the password of $key; empty for a key without one)"
image="$(sed -n 's/^IMAGE=//p' "$printed" | tail -n 1)"
[[ "$image" =~ ^[^@]+:([^:@/]+)@sha256:[0-9a-f]{64}$ ]] || die "$printed holds no IMAGE=REF:VERSION@sha256:… line"
version="${BASH_REMATCH[1]}"

cosign="$root/.cache/bin/current/cosign"
[[ -x "$cosign" ]] || cosign="$(command -v cosign)" || die "cosign is missing: run test/controlplane/build.sh cosign"
auth_file="${REGISTRY_AUTH_FILE:-$HOME/.docker/config.json}"
work="$(mktemp -d)"
cleanup() {
  [[ ! -d "$work/gnupg" ]] || gpgconf --homedir "$work/gnupg" --kill gpg-agent 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/docker"
[[ ! -f "$auth_file" ]] || cp "$auth_file" "$work/docker/config.json"
go_env=(env DOCKER_CONFIG="$work/docker")
[[ -z "${REGISTRY_CA:-}" ]] || go_env+=(SSL_CERT_FILE="$REGISTRY_CA")

mkdir -p "$out"
"$cosign" public-key --key "$key" >"$out/cosign.pub"
# The signature and the SBOM, as README.md tells users to check them (offline signing, no tlog).
"${go_env[@]}" "$cosign" verify --key "$out/cosign.pub" --insecure-ignore-tlog=true "$image" >/dev/null 2>"$work/verify.log" ||
  die "the signature of $image does not verify with $out/cosign.pub: $(tail -n 3 "$work/verify.log")"
"${go_env[@]}" "$cosign" verify-attestation --key "$out/cosign.pub" --insecure-ignore-tlog=true --type spdxjson \
  "$image" >"$work/attestation.json" 2>"$work/verify.log" ||
  die "the SBOM attestation of $image does not verify with $out/cosign.pub: $(tail -n 3 "$work/verify.log")"
node -e '
  const fs = require("fs");
  const [from, to] = process.argv.slice(1);
  const envelope = JSON.parse(fs.readFileSync(from, "utf8").trim().split("\n")[0]);
  const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
  if (!statement.predicate || !statement.predicate.spdxVersion) throw new Error("the attestation holds no SPDX document");
  fs.writeFileSync(to, JSON.stringify(statement.predicate, null, 2) + "\n");
' "$work/attestation.json" "$out/sbom.spdx.json"

if [[ -n "$chart_repo" ]]; then
  chart="$chart_repo/kube9-operator-$version.tgz"
  [[ -f "$chart" ]] || die "$chart does not exist (the chart repository folder release.sh wrote)"
  cp "$chart" "$out/"
  [[ ! -f "$chart.prov" ]] || cp "$chart.prov" "$out/"
fi

if [[ -n "$gpg_keyring" ]]; then
  [[ -f "$chart.prov" ]] || die "$chart.prov does not exist: the package was not signed (helm package --sign)"
  command -v gpg >/dev/null || die "gpg is missing (Debian's package gnupg)"
  helm="$root/.cache/bin/current/helm"
  [[ -x "$helm" ]] || helm="$(command -v helm)" || die "helm is missing: run test/controlplane/build.sh helm"
  mkdir -m 700 "$work/gnupg"
  gpg --batch --quiet --homedir "$work/gnupg" --import "$gpg_keyring" 2>"$work/gpg.log" ||
    die "gpg cannot read the keyring $gpg_keyring: $(tail -n 3 "$work/gpg.log")"
  gpg --batch --homedir "$work/gnupg" --export "$gpg_key" >"$out/kube9-charts.gpg" 2>"$work/gpg.log"
  [[ -s "$out/kube9-charts.gpg" ]] || die "the keyring $gpg_keyring holds no key named '$gpg_key'"
  "$helm" verify "$out/$(basename "$chart")" --keyring "$out/kube9-charts.gpg" >"$work/verify.log" 2>&1 ||
    die "the provenance of $(basename "$chart") does not verify with the public key of '$gpg_key': $(tail -n 3 "$work/verify.log")"
fi
ls -1 "$out"
