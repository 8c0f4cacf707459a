#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library that the `ort` crate loads at run time
# (feature `load-dynamic`) into third_party/onnxruntime/, from the PyPI wheel
# onnxruntime==1.31.1 (Debian has no onnxruntime package). ONNX Runtime is MIT-licensed.
#
#   scripts/fetch-onnxruntime.sh [--cache DIR] [--offline] [--quiet]
#   export ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh --quiet)"
#
# Prints the path to use as ORT_DYLIB_PATH on stdout (messages go to stderr). Safe to run
# again: a library that is present with the right sha256 is kept as it is.
# Order: third_party/onnxruntime/ -> the cache (DIR/onnxruntime/<lib>, then the wheel in
# DIR/wheels/) -> PyPI (pip download; the wheel is kept in DIR/wheels/ when DIR is writable).
# DIR defaults to $VISUALPATH_ASSET_CACHE, else ~/.cache/visualpath.
# --offline: use the cache only; exit 1 with a message if the library is not there.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/third_party/onnxruntime"
cache="${VISUALPATH_ASSET_CACHE:-$HOME/.cache/visualpath}"
offline=0
quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) [ $# -ge 2 ] || { echo "fetch-onnxruntime: --cache needs a folder" >&2; exit 2; }
             cache="$2"; shift 2 ;;
    --offline) offline=1; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fetch-onnxruntime: unknown option $1 (valid: --cache DIR, --offline, --quiet)" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "fetch-onnxruntime: $*" >&2; }
die() { echo "fetch-onnxruntime: $*" >&2; exit 1; }

version=1.31.1
lib="libonnxruntime.so.$version"
# The library's only NEEDED entries (readelf -d) are glibc (>= 2.28, the manylinux tag) and
# libstdc++/libgcc_s, so it is the one file taken from the wheel. The wheel's
# libonnxruntime_providers_shared.so is only dlopen()ed for plugin execution providers
# (CUDA, TensorRT, ...), which the CPU wheel does not ship, so it is left out.
case "$(uname -m)" in
  x86_64)
    platform=manylinux_2_28_x86_64
    wheel_sha=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
    lib_sha=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3 ;;
  aarch64|arm64)
    # Untested: no aarch64 machine here. Hashes taken from the PyPI wheel
    # onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl, downloaded on x86_64.
    platform=manylinux_2_28_aarch64
    wheel_sha=da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3
    lib_sha=8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467 ;;
  *) die "no onnxruntime $version wheel for machine $(uname -m) (valid: x86_64, aarch64)" ;;
esac
# The wheel is cp311-only in name; the library inside does not depend on Python.
wheel="onnxruntime-$version-cp311-cp311-$platform.whl"

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

finish() {
  # SONAME symlink, for anything that links against the library rather than dlopen()s it.
  ln -sfn "$lib" "$dest/libonnxruntime.so.1"
  echo "$dest/$lib"
  exit 0
}

# (a) already there.
if sha_ok "$dest/$lib" "$lib_sha"; then say "$lib present"; finish; fi

glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')" || true
if [ -n "$glibc" ] && [ "$(printf '%s\n' 2.28 "$glibc" | sort -V | head -1)" != 2.28 ]; then
  die "the onnxruntime $version wheel ($platform) needs glibc >= 2.28; this machine has $glibc"
fi

install_from_wheel() { # wheel file
  sha_ok "$1" "$wheel_sha" || return 1
  mkdir -p "$dest"
  rm -f "$dest/$lib.tmp"
  python3 - "$1" "onnxruntime/capi/$lib" "$dest/$lib.tmp" <<'EOF' || return 1
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    with open(sys.argv[3], "wb") as out:
        out.write(z.read(sys.argv[2]))
EOF
  if ! sha_ok "$dest/$lib.tmp" "$lib_sha"; then
    rm -f "$dest/$lib.tmp"; die "$lib inside $1 has an unexpected sha256; expected $lib_sha"
  fi
  chmod 755 "$dest/$lib.tmp"
  mv -f "$dest/$lib.tmp" "$dest/$lib"
}

# (b) the cache: an extracted library, then a wheel.
if sha_ok "$cache/onnxruntime/$lib" "$lib_sha"; then
  mkdir -p "$dest"; cp "$cache/onnxruntime/$lib" "$dest/$lib.tmp"; chmod 755 "$dest/$lib.tmp"
  mv -f "$dest/$lib.tmp" "$dest/$lib"
  say "$lib (from cache $cache/onnxruntime)"; finish
fi
if [ -f "$cache/wheels/$wheel" ] && install_from_wheel "$cache/wheels/$wheel"; then
  say "$lib (from cached wheel $cache/wheels/$wheel)"; finish
fi
if [ "$offline" = 1 ]; then
  die "$lib is not in $dest nor in the cache $cache and --offline was given"
fi

# (c) PyPI.
command -v python3 >/dev/null || die "python3 is missing; install python3 and python3-pip"
if python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip)
elif command -v pip3 >/dev/null && pip3 --version >/dev/null 2>&1; then pip=(pip3)
else die "pip is missing (tried 'python3 -m pip' and 'pip3'); install python3-pip (apt-get install python3-pip)"
fi
# Keep the wheel in the cache folder when it exists (or is the default) and is writable.
if [ "$cache" = "$HOME/.cache/visualpath" ]; then mkdir -p "$cache" 2>/dev/null || true; fi
if [ -d "$cache" ] && [ -w "$cache" ] && mkdir -p "$cache/wheels" 2>/dev/null; then
  dl="$cache/wheels"; kept="wheel kept in $dl"
else
  dl="$(mktemp -d)"; trap 'rm -rf "$dl"' EXIT; kept="cache $cache is not writable, wheel not kept"
fi
rm -f "${dl:?}/$wheel"
say "downloading $wheel from PyPI (24 MB)"
"${pip[@]}" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
  --platform "$platform" "onnxruntime==$version" -d "$dl" >&2 \
  || die "cannot download onnxruntime==$version ($platform) from PyPI with ${pip[*]}"
[ -f "$dl/$wheel" ] || die "pip did not produce $wheel in $dl"
install_from_wheel "$dl/$wheel" || {
  rm -f "$dl/$wheel"; die "$wheel from PyPI has an unexpected sha256; expected $wheel_sha"; }
say "$lib (from PyPI onnxruntime==$version; $kept)"
finish
