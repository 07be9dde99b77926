#!/usr/bin/env bash
# The per-machine cache: what test/controlplane/build.sh (the Go tools) and
# test/node/images.sh (the base images) built, kept outside any clone so that a
# fresh clone on the same machine takes it instead of building it again.
#
#   ${KUBE9_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube9-operator}/
#     <kind>/<name>-<key>/   one entry: the files, SHA256SUMS (of those files),
#                            KEY (the key again) and INPUTS (what the key hashes)
#
# <key> is the sha256 of everything that determines the entry (its INPUTS, as
# the caller gives them): an entry is only ever taken for the very same inputs.
# An entry is written in a temporary directory beside it and renamed into place
# (atomic); on taking it, every file is checked against SHA256SUMS and KEY
# against the key: an entry that fails (a partial or damaged copy) is removed,
# with one line saying so, and the caller builds it again and stores it anew.
#
# Sourced by build.sh and images.sh (functions mc_key, mc_take, mc_store).
# Run as a script:
#   machine-cache.sh dir     prints the cache's directory
#   machine-cache.sh clean   empties it (npm run cluster -- --clean-cache)

MACHINE_CACHE="${KUBE9_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube9-operator}"

# mc_key: the key of the inputs on stdin (sha256, hex).
mc_key() { sha256sum | cut -d' ' -f1; }

# mc_take KIND NAME KEY DEST FILE...: copies FILE... of the entry for KEY into
# DEST (each through a temporary name, then renamed). Returns 1 when there is
# no entry for KEY, or when the entry is damaged (then removed, one line on
# stderr).
mc_take() {
  local kind="$1" name="$2" key="$3" dest="$4"
  shift 4
  local entry="$MACHINE_CACHE/$kind/$name-$key" problem="" file
  [[ -d "$entry" ]] || return 1
  if [[ "$(cat "$entry/KEY" 2>/dev/null)" != "$key" ]]; then
    problem="its KEY file does not hold its key"
  elif [[ ! -f "$entry/SHA256SUMS" ]]; then
    problem="no SHA256SUMS"
  else
    for file in "$@"; do
      awk -v f="$file" '$2 == f { found = 1 } END { exit !found }' "$entry/SHA256SUMS" ||
        { problem="$file is not in SHA256SUMS"; break; }
    done
    if [[ -z "$problem" ]] && ! (cd "$entry" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1); then
      problem="a file does not match SHA256SUMS"
    fi
  fi
  if [[ -n "$problem" ]]; then
    echo "machine cache: $kind/$name-${key:0:12}… is damaged ($problem): removed; building it again" >&2
    mc_remove "$entry"
    return 1
  fi
  mkdir -p "$dest"
  for file in "$@"; do
    cp -p --reflink=auto "$entry/$file" "$dest/$file.mc-tmp.$$"
    mv -f "$dest/$file.mc-tmp.$$" "$dest/$file"
  done
}

# mc_store KIND NAME KEY INPUTS SRC_DIR FILE...: stores FILE... of SRC_DIR as the
# entry for KEY (INPUTS: the text the key hashes, kept for whoever looks). An
# entry another run stored meanwhile is left as it is.
mc_store() {
  local kind="$1" name="$2" key="$3" inputs="$4" src="$5"
  shift 5
  local dir="$MACHINE_CACHE/$kind" tmp file
  mkdir -p "$dir" || return 0
  tmp="$(mktemp -d "$dir/.tmp.$name.XXXXXX")" || return 0
  for file in "$@"; do
    cp -p --reflink=auto "$src/$file" "$tmp/$file" || { rm -rf "$tmp"; return 0; }
  done
  (cd "$tmp" && sha256sum -- "$@" >SHA256SUMS)
  printf '%s\n' "$inputs" >"$tmp/INPUTS"
  echo "$key" >"$tmp/KEY"
  # rename(2) of a directory onto a non-empty one fails: the first store wins.
  mv -T "$tmp" "$dir/$name-$key" 2>/dev/null || rm -rf "$tmp"
}

# mc_remove ENTRY: renamed away first, so no reader sees it half removed.
mc_remove() {
  local trash="$1.removed.$$"
  mv -T "$1" "$trash" 2>/dev/null && rm -rf "$trash"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    dir) echo "$MACHINE_CACHE" ;;
    clean)
      if [[ -d "$MACHINE_CACHE" ]]; then
        size="$(du -sh "$MACHINE_CACHE" | cut -f1)"
        rm -rf -- "$MACHINE_CACHE"
        echo "machine cache $MACHINE_CACHE emptied ($size)"
      else
        echo "machine cache $MACHINE_CACHE is empty"
      fi
      ;;
    *) echo "usage: machine-cache.sh dir|clean (got: ${1:-nothing})" >&2; exit 2 ;;
  esac
fi
