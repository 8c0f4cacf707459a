#!/usr/bin/env python3
"""Reference detections from Python onnxruntime, to check visualpath's `detect` against.

Runs the SSD-MobileNet-v2-COCO ONNX model on every frame of a video (whole frame, RGB,
uint8 [1, H, W, 3], as visualpath feeds it) and prints one JSON line per frame:

    {"seq": 100, "persons": 5, "top": 0.9041, "ms": 23.1}

`persons` counts detections of class 1 (person) with score >= --min-score.

    python tools/ssd_reference.py assets/models/ssd_mobilenet_v2_coco.onnx assets/media/vtest.avi \
        [--threads 1] [--frames N] [--min-score 0.5] [--bench]

--bench prints only the median inference time (ms) over the frames, for BENCHMARKS.md.
Needs onnxruntime==1.31.1, numpy and opencv-python-headless (PyPI).
"""
import argparse
import json
import statistics
import time

import cv2
import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("video")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--min-score", type=float, default=0.5)
    ap.add_argument("--bench", action="store_true")
    a = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]

    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {a.video}")
    times = []
    seq = 0
    while True:
        ok, bgr = cap.read()
        if not ok or (a.frames and seq >= a.frames):
            break
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])[None]
        t0 = time.perf_counter()
        out = dict(zip(names, sess.run(None, {inp: rgb})))
        ms = (time.perf_counter() - t0) * 1e3
        times.append(ms)
        scores = out["detection_scores:0"][0]
        classes = out["detection_classes:0"][0]
        n = int(out["num_detections:0"][0])
        persons = [float(s) for s, c in zip(scores[:n], classes[:n]) if int(c) == 1 and s >= a.min_score]
        if not a.bench:
            print(json.dumps({"seq": seq, "persons": len(persons), "top": round(max(persons, default=0.0), 4),
                              "ms": round(ms, 2)}))
        seq += 1
    if a.bench:
        print(f"{statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
