#!/usr/bin/env bash
# Creates (once) the Python virtualenv used by reference scripts and comparison tests:
# onnxruntime 1.31.1 (the same runtime version visualpath loads), NumPy, OpenCV and python-osc
# (an independent OSC receiver for the OSC sink's tests), from PyPI.
# Prints the venv's python path. The venv lives outside the repository so clean clones
# share it: $VISUALPATH_TOOLS_VENV, default ~/.cache/visualpath/tools-venv.
#
#   scripts/python-tools.sh            # create if missing, print the python path
#   scripts/python-tools.sh --check    # print the path if it exists and works, else exit 1
set -euo pipefail
venv="${VISUALPATH_TOOLS_VENV:-$HOME/.cache/visualpath/tools-venv}"
py="$venv/bin/python"
check() { [ -x "$py" ] && "$py" -c "import onnxruntime, numpy, cv2, pythonosc; assert onnxruntime.__version__ == '1.31.1'" 2>/dev/null; }
if check; then echo "$py"; exit 0; fi
[ "${1:-}" = "--check" ] && exit 1
python="${PYTHON:-python3}"
"$python" -m venv "$venv" >&2 || { echo "python-tools: cannot create a virtualenv with $python (install python3-venv)" >&2; exit 1; }
"$py" -m pip install --quiet --upgrade pip >&2
"$py" -m pip install --quiet "onnxruntime==1.31.1" "numpy<3" "opencv-python-headless" "python-osc>=1.8" >&2
check || { echo "python-tools: the virtualenv at $venv does not import onnxruntime 1.31.1" >&2; exit 1; }
echo "$py"
