#!/usr/bin/env bash
# Runs the whole test suite. First makes sure the test inputs are here (each from a local
# cache when there is one, else from the package registries): the footage and models
# (scripts/fetch-assets.sh), the ONNX Runtime library (scripts/fetch-onnxruntime.sh) and the
# Python reference tools (scripts/python-tools.sh), and a CPU-only ComfyUI for the render farm
# (scripts/comfyui.sh: ~7.5 GB, skipped when the disk has less than 10 GB free). Tests whose inputs could not be had
# print "SKIP: ..." with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-assets.sh --quiet || echo "test.sh: could not fetch every asset; tests that need them will skip" >&2
scripts/fetch-onnxruntime.sh --quiet >/dev/null || echo "test.sh: no ONNX Runtime library; model tests will skip" >&2
scripts/python-tools.sh >/dev/null || echo "test.sh: no Python tools virtualenv; the Python parity test will skip" >&2
scripts/comfyui.sh >/dev/null || echo "test.sh: no ComfyUI install; the render farm's integration tests will skip" >&2
cargo test --workspace --locked "$@"
