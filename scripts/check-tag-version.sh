#!/usr/bin/env bash
# Checks that a release tag names the version in package.json, before anything
# is built or published (.github/workflows/release.yml runs it first):
#
#   scripts/check-tag-version.sh TAG        e.g. scripts/check-tag-version.sh v0.2.0
#
# Exits 0 and says so when TAG is v<package.json's version>; otherwise exits 1
# with a message naming both, and what to do.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "check-tag-version: $*" >&2; exit 1; }

[[ $# -eq 1 && -n "$1" ]] || die "usage: scripts/check-tag-version.sh TAG (the pushed tag, vX.Y.Z)"
tag="$1"
version="$(node -p "require('$root/package.json').version")"
[[ "$tag" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  die "the tag '$tag' is not vX.Y.Z (package.json's version is $version, so the tag would be v$version)"
[[ "${tag#v}" == "$version" ]] ||
  die "the tag $tag does not match package.json's version $version: tag the commit whose package.json says ${tag#v}, or push v$version"
echo "the tag $tag is package.json's version $version"
