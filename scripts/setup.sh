#!/usr/bin/env bash
# Sets up a fresh Debian 12 / Ubuntu 22.04+ machine for visualpath and runs the demo on
# real footage. Safe to run again.
#
#   scripts/setup.sh            # system packages, assets, release build, demo
#   scripts/setup.sh --no-demo  # everything but the demo
set -euo pipefail
cd "$(dirname "$0")/.."
demo=1
[ "${1:-}" = "--no-demo" ] && demo=0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

echo "== system packages"
packages=(
  # build: FFmpeg's libraries and clang for the bindings, cmake/nasm for vendored C
  pkg-config clang libclang-dev cmake nasm
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavdevice-dev libavfilter-dev
  # assets and tests: ffmpeg/ffprobe, python for registry downloads and model conversion
  ffmpeg python3 python3-pip python3-venv unzip ca-certificates
  # integration tests: brokers and a real RTSP server (started by the tests on free ports)
  mosquitto mosquitto-clients redis-server python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # the farm page's browser test: headless Chromium
  chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "== Rust toolchain (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain 1.95.0
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

echo "== assets: footage and models (see assets/README.md for provenance and licences)"
scripts/fetch-assets.sh

echo "== ONNX Runtime library (from the PyPI wheel; MIT)"
scripts/fetch-onnxruntime.sh

echo "== Python reference tools (onnxruntime, OpenCV) for the comparison tests"
scripts/python-tools.sh >/dev/null || echo "setup: no Python tools virtualenv; the Python parity test will skip"

echo "== ComfyUI 0.3.75 on CPU for the render farm's tests (PyPI only, ~4.3 GB download, ~7.5 GB on disk)"
scripts/comfyui.sh >/dev/null || echo "setup: no ComfyUI install; the render farm's integration tests will skip"

echo "== release build"
cargo build --release -p visualpath

if [ "$demo" = 1 ]; then
  echo "== demo: motion, frame statistics and scene cuts on assets/media/vtest.avi"
  ./target/release/visualpath run assets/media/vtest.avi --analyze motion,frame_stats,scene_cut --jsonl demo.jsonl
  echo "== demo: a pipeline file with a fusion rule (events in plaza.jsonl)"
  ./target/release/visualpath run examples/pipelines/plaza.yaml
  echo "== demo: people detection, tracking with slots, poses, zones and lines (people.jsonl)"
  ./target/release/visualpath run examples/pipelines/people.yaml
  echo "first records of demo.jsonl:"
  head -n 3 demo.jsonl
fi
