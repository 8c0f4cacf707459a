#!/usr/bin/env python3
"""The same work as `visualpath run --analyze motion,frame_stats,scene_cut`, written the way
people write it in Python with OpenCV, as a baseline for BENCHMARKS.md.

Per frame: decode (cv2.VideoCapture, FFmpeg inside), then on a 160-pixel-wide grayscale
working image: motion (3x3 blur, absolute difference with the previous frame, pixels
changed by more than 25, fraction changed, 4x3 grid of cell fractions), frame statistics
(mean, standard deviation, variance of the Laplacian) and scene cut (32-bin histogram,
half the L1 distance to the previous one). Each frame's results become a JSON line, as
visualpath writes them.

    python tools/bench_opencv_baseline.py assets/media/vtest.avi [--repeat 5] [--out out.jsonl]

Needs `opencv-python-headless` and `numpy` (PyPI). Prints frames per second (median).
"""
import argparse
import json
import statistics
import time

import cv2
import numpy as np


def run(path, out):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    prev = None
    prev_hist = None
    n = 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        ww, wh = 160, round(h * 160 / w)
        gray = cv2.cvtColor(cv2.resize(frame, (ww, wh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        blur = cv2.blur(gray, (3, 3))
        rec = {}
        if prev is None:
            score, cells = 0.0, np.zeros((3, 4))
        else:
            changed = cv2.absdiff(blur, prev) > 25
            score = float(changed.mean())
            cells = np.array([[changed[r * wh // 3:(r + 1) * wh // 3, c * ww // 4:(c + 1) * ww // 4].mean()
                               for c in range(4)] for r in range(3)])
        prev = blur
        rec["motion"] = {"score": score, "moving": float(score >= 0.01),
                         **{f"cell.r{r}c{c}": float(cells[r, c]) for r in range(3) for c in range(4)}}
        g = gray.astype(np.float32) / 255.0
        rec["frame_stats"] = {"brightness": float(g.mean()), "contrast": float(g.std()),
                              "sharpness": float(cv2.Laplacian(g, cv2.CV_32F).var())}
        hist = cv2.calcHist([gray], [0], None, [32], [0, 256]).ravel() / gray.size
        cut = 0.0 if prev_hist is None else float(np.abs(hist - prev_hist).sum() / 2)
        prev_hist = hist
        rec["scene_cut"] = {"cut_score": cut, "cut": float(cut > 0.4)}
        for analyzer, values in rec.items():
            out.write(json.dumps({"kind": "observation", "seq": n, "analyzer": analyzer, "values": values}) + "\n")
        n += 1
    return n, n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default="/dev/null")
    ap.add_argument("--threads", type=int, default=0, help="cv2.setNumThreads (0 = OpenCV's default)")
    a = ap.parse_args()
    if a.threads:
        cv2.setNumThreads(a.threads)
    fps = []
    for _ in range(a.repeat):
        with open(a.out, "w") as out:
            n, f = run(a.video, out)
        fps.append(f)
    print(f"opencv-python {cv2.__version__}, numpy {np.__version__}: {n} frames, "
          f"median {statistics.median(fps):.1f} fps over {a.repeat} runs ({', '.join(f'{x:.0f}' for x in fps)})")


if __name__ == "__main__":
    main()
