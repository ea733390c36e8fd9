#!/usr/bin/env python3
"""Regenerate the generated files of Baton's example Triton model repository.

Usage (from anywhere):

    python3 model_repository/generate.py           # (re)write generated files
    python3 model_repository/generate.py --check   # exit 1 if anything is stale

Needs python3 and numpy only. Everything is derived from fixed seeds, so
running it twice produces byte-identical files.

What it writes (all paths relative to this directory):

  tabular_preprocess/config.pbtxt, 1/preprocess.json   column spec + mean/std
  tabular_classifier/config.pbtxt, 1/weights.json      MLP weights
  tabular_postprocess/config.pbtxt, 1/labels.json      class names
  tabular_ensemble/config.pbtxt, 1/.gitkeep            ensemble wiring
  churn_<region>/config.pbtxt, 1/model.py, 1/weights.json
      one per entry of REGIONS; 1/model.py is a byte copy of
      tabular_classifier/1/model.py (the one hand-written classifier
      implementation), the weights differ per region.

The data set is synthetic and shaped like the UCI abalone data used by the
AWS "SparkML preprocessing -> XGBoost" inference-pipeline example:
CSV rows "sex,length,diameter,height,whole_weight", e.g.
"M,0.455,0.365,0.095,0.514". Each row is classified into an age band.
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------------------
# Schema shared by every tabular model. Changing anything here changes F or C,
# which is fine: the configs are regenerated from the same values.
# ----------------------------------------------------------------------------
CATEGORICAL = ("sex", ("M", "F", "I"))  # column 0: male, female, infant
NUMERIC = ("length", "diameter", "height", "whole_weight")  # columns 1..4
CLASSES = ("young", "adult", "old")  # age bands, see _label()

COLUMNS = (CATEGORICAL[0],) + NUMERIC
FEATURE_NAMES = tuple(
    "%s=%s" % (CATEGORICAL[0], c) for c in CATEGORICAL[1]
) + NUMERIC
NUM_FEATURES = len(FEATURE_NAMES)  # F = 7
NUM_CLASSES = len(CLASSES)  # C = 3
HIDDEN = 16

MAX_BATCH_SIZE = 32

# One churn_<region> model per entry. Region i trains on its own seed and an
# age offset (see build()) so every region learns visibly different weights.
REGIONS = (
    "us_east",
    "us_west",
    "us_central",
    "ca_central",
    "sa_east",
    "eu_west",
    "eu_central",
    "eu_north",
    "ap_south",
    "ap_northeast",
    "ap_southeast",
    "af_south",
)

BASE_SEED = 20240601
TRAIN_ROWS = 4000
TRAIN_STEPS = 600
DECIMALS = 6  # stored precision of every generated float


# ----------------------------------------------------------------------------
# Synthetic data
# ----------------------------------------------------------------------------
def _synthesize(rng, rows, age_offset=0.0):
    """Return (sex_index[int], numeric[rows, 4] float64, label[int])."""
    sex = rng.choice(3, size=rows, p=[0.37, 0.31, 0.32])
    # Infants are smaller; adults of both sexes overlap.
    base = np.where(sex == 2, 0.43, 0.57)
    length = np.clip(base + rng.normal(0.0, 0.09, rows), 0.075, 0.815)
    diameter = np.clip(0.81 * length + rng.normal(0.0, 0.015, rows), 0.055, 0.65)
    height = np.clip(0.27 * length + rng.normal(0.0, 0.012, rows), 0.01, 0.25)
    whole = np.clip(
        5.2 * length ** 3 * (1.0 + rng.normal(0.0, 0.08, rows)), 0.002, 2.8
    )
    numeric = np.stack([length, diameter, height, whole], axis=1)
    rings = (
        2.0
        + 9.0 * length
        + 4.5 * whole
        + 20.0 * height
        + np.where(sex == 2, -1.0, 0.6)
        + age_offset
        + rng.normal(0.0, 1.2, rows)
    )
    label = np.digitize(rings, [9.5, 12.0])  # <9.5 young, <12 adult, else old
    return sex, numeric, label


def _features(sex, numeric, mean, std):
    onehot = np.eye(len(CATEGORICAL[1]))[sex]
    return np.concatenate([onehot, (numeric - mean) / std], axis=1)


# ----------------------------------------------------------------------------
# A tiny MLP trained with full-batch gradient descent + momentum (float64).
# ----------------------------------------------------------------------------
def _train_mlp(rng, x, y):
    n, f = x.shape
    w1 = rng.normal(0.0, np.sqrt(2.0 / f), (f, HIDDEN))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0.0, np.sqrt(2.0 / HIDDEN), (HIDDEN, NUM_CLASSES))
    b2 = np.zeros(NUM_CLASSES)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    target = np.eye(NUM_CLASSES)[y]
    lr, momentum = 0.3, 0.9
    for _ in range(TRAIN_STEPS):
        pre = x @ w1 + b1
        h = np.maximum(pre, 0.0)
        logits = h @ w2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        d_logits = (p - target) / n
        g_w2 = h.T @ d_logits
        g_b2 = d_logits.sum(axis=0)
        d_h = (d_logits @ w2.T) * (pre > 0.0)
        g_w1 = x.T @ d_h
        g_b1 = d_h.sum(axis=0)
        for i, g in enumerate((g_w1, g_b1, g_w2, g_b2)):
            velocity[i] = momentum * velocity[i] - lr * g
            params[i] += velocity[i]
    return params


def _accuracy(params, x, y):
    w1, b1, w2, b2 = params
    logits = np.maximum(x @ w1 + b1, 0.0) @ w2 + b2
    return float((logits.argmax(axis=1) == y).mean())


def _round(a):
    """Nested lists of Python floats with a fixed number of decimals."""
    return np.round(np.asarray(a, dtype=np.float64), DECIMALS).tolist()


# ----------------------------------------------------------------------------
# File contents
# ----------------------------------------------------------------------------
def _json_text(obj, indent=""):
    """Deterministic, diff-friendly JSON: objects one key per line (sorted),
    lists of scalars on one line, lists of lists one inner list per line."""
    inner = indent + "  "
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            inner + json.dumps(k) + ": " + _json_text(obj[k], inner)
            for k in sorted(obj)
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (list, dict)) for v in obj):
        items = [inner + _json_text(v, inner) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(obj, separators=(", ", ": "))


def _json_bytes(obj):
    return (_json_text(obj) + "\n").encode("utf-8")


GENERATED = "# Generated by model_repository/generate.py; edit that file instead.\n"


def _classifier_config(name, description):
    return (
        GENERATED
        + "# %s\n" % description
        + 'name: "%s"\n' % name
        + 'backend: "python"\n'
        + "max_batch_size: %d\n" % MAX_BATCH_SIZE
        + "input [\n"
        + '  { name: "FEATURES" data_type: TYPE_FP32 dims: [ %d ] }\n' % NUM_FEATURES
        + "]\n"
        + "output [\n"
        + '  { name: "PROBABILITIES" data_type: TYPE_FP32 dims: [ %d ] }\n'
        % NUM_CLASSES
        + "]\n"
        + "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
        + "dynamic_batching { }\n"
        + "parameters [\n"
        + "  # Extra resident memory (bytes) the model allocates and keeps for its\n"
        + "  # lifetime, to stage memory pressure in tests. Override per load.\n"
        + '  { key: "ballast_bytes" value: { string_value: "0" } }\n'
        + "]\n"
    ).encode("utf-8")


def _preprocess_config():
    return (
        GENERATED
        + "# CSV row -> standardized numeric columns + one-hot categorical column.\n"
        + 'name: "tabular_preprocess"\n'
        + 'backend: "python"\n'
        + "max_batch_size: %d\n" % MAX_BATCH_SIZE
        + "input [\n"
        + '  { name: "ROWS" data_type: TYPE_STRING dims: [ 1 ] }\n'
        + "]\n"
        + "output [\n"
        + '  { name: "FEATURES" data_type: TYPE_FP32 dims: [ %d ] }\n' % NUM_FEATURES
        + "]\n"
        + "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
        + "dynamic_batching { }\n"
    ).encode("utf-8")


def _postprocess_config():
    return (
        GENERATED
        + "# Class probabilities -> most likely class name and its probability.\n"
        + 'name: "tabular_postprocess"\n'
        + 'backend: "python"\n'
        + "max_batch_size: %d\n" % MAX_BATCH_SIZE
        + "input [\n"
        + '  { name: "PROBABILITIES" data_type: TYPE_FP32 dims: [ %d ] }\n'
        % NUM_CLASSES
        + "]\n"
        + "output [\n"
        + '  { name: "LABEL" data_type: TYPE_STRING dims: [ 1 ] },\n'
        + '  { name: "SCORE" data_type: TYPE_FP32 dims: [ 1 ] }\n'
        + "]\n"
        + "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
        + "dynamic_batching { }\n"
    ).encode("utf-8")


def _ensemble_config():
    return (
        GENERATED
        + "# ROWS -> tabular_preprocess -> tabular_classifier -> tabular_postprocess\n"
        + 'name: "tabular_ensemble"\n'
        + 'platform: "ensemble"\n'
        + "max_batch_size: %d\n" % MAX_BATCH_SIZE
        + "input [\n"
        + '  { name: "ROWS" data_type: TYPE_STRING dims: [ 1 ] }\n'
        + "]\n"
        + "output [\n"
        + '  { name: "LABEL" data_type: TYPE_STRING dims: [ 1 ] },\n'
        + '  { name: "SCORE" data_type: TYPE_FP32 dims: [ 1 ] }\n'
        + "]\n"
        + "ensemble_scheduling {\n"
        + "  step [\n"
        + "    {\n"
        + '      model_name: "tabular_preprocess"\n'
        + "      model_version: -1\n"
        + '      input_map { key: "ROWS" value: "ROWS" }\n'
        + '      output_map { key: "FEATURES" value: "features" }\n'
        + "    },\n"
        + "    {\n"
        + '      model_name: "tabular_classifier"\n'
        + "      model_version: -1\n"
        + '      input_map { key: "FEATURES" value: "features" }\n'
        + '      output_map { key: "PROBABILITIES" value: "probabilities" }\n'
        + "    },\n"
        + "    {\n"
        + '      model_name: "tabular_postprocess"\n'
        + "      model_version: -1\n"
        + '      input_map { key: "PROBABILITIES" value: "probabilities" }\n'
        + '      output_map { key: "LABEL" value: "LABEL" }\n'
        + '      output_map { key: "SCORE" value: "SCORE" }\n'
        + "    }\n"
        + "  ]\n"
        + "}\n"
    ).encode("utf-8")


def _weights_doc(params, description, accuracy):
    w1, b1, w2, b2 = params
    return _json_bytes(
        {
            "description": description,
            "features": list(FEATURE_NAMES),
            "classes": list(CLASSES),
            "activation": "relu",
            "holdout_accuracy": round(accuracy, 4),
            "w1": _round(w1),  # [F, HIDDEN]
            "b1": _round(b1),  # [HIDDEN]
            "w2": _round(w2),  # [HIDDEN, C]
            "b2": _round(b2),  # [C]
        }
    )


def build():
    """Return {relative path: file bytes} for every generated file."""
    files = {}

    # Reference population: fixes the preprocessing statistics and trains the
    # pipeline's classifier.
    rng = np.random.default_rng(BASE_SEED)
    sex, numeric, label = _synthesize(rng, TRAIN_ROWS)
    mean = np.round(numeric.mean(axis=0), DECIMALS)
    std = np.round(numeric.std(axis=0), DECIMALS)

    files["tabular_preprocess/config.pbtxt"] = _preprocess_config()
    files["tabular_preprocess/1/preprocess.json"] = _json_bytes(
        {
            "description": "CSV schema and standardization statistics for "
            "tabular_preprocess. Feature vector = one-hot(%s) followed by "
            "(value - mean) / std of each numeric column." % CATEGORICAL[0],
            "columns": list(COLUMNS),
            "categorical": {
                "column": CATEGORICAL[0],
                "index": 0,
                "categories": list(CATEGORICAL[1]),
            },
            "numeric": [
                {
                    "column": name,
                    "index": 1 + i,
                    "mean": float(mean[i]),
                    "std": float(std[i]),
                }
                for i, name in enumerate(NUMERIC)
            ],
            "features": list(FEATURE_NAMES),
        }
    )

    def train(seed, age_offset, description):
        r = np.random.default_rng(seed)
        s, num, lab = _synthesize(r, TRAIN_ROWS + 1000, age_offset)
        x = _features(s, num, mean, std)
        params = _train_mlp(r, x[:TRAIN_ROWS], lab[:TRAIN_ROWS])
        acc = _accuracy(params, x[TRAIN_ROWS:], lab[TRAIN_ROWS:])
        return _weights_doc(params, description, acc)

    files["tabular_classifier/config.pbtxt"] = _classifier_config(
        "tabular_classifier", "Features -> class probabilities (MLP, softmax)."
    )
    files["tabular_classifier/1/weights.json"] = train(
        BASE_SEED + 1, 0.0, "tabular_classifier: reference population"
    )

    files["tabular_postprocess/config.pbtxt"] = _postprocess_config()
    files["tabular_postprocess/1/labels.json"] = _json_bytes(
        {"classes": list(CLASSES)}
    )

    files["tabular_ensemble/config.pbtxt"] = _ensemble_config()
    # Triton needs the (empty) version directory of an ensemble; git does not
    # keep empty directories.
    files["tabular_ensemble/1/.gitkeep"] = b""

    with open(os.path.join(HERE, "tabular_classifier", "1", "model.py"), "rb") as f:
        classifier_py = f.read()
    for i, region in enumerate(REGIONS):
        name = "churn_" + region
        offset = ((i % 5) - 2) * 0.6  # -1.2 .. +1.2 years
        files[name + "/config.pbtxt"] = _classifier_config(
            name,
            "Region %s: same tensors as tabular_classifier, its own weights."
            % region,
        )
        files[name + "/1/model.py"] = classifier_py
        files[name + "/1/weights.json"] = train(
            BASE_SEED + 100 + i,
            offset,
            "%s: regional population, age offset %+.1f" % (name, offset),
        )
    return files


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if any generated file is missing or differs",
    )
    args = parser.parse_args(argv)

    files = build()
    stale = []
    for rel, data in sorted(files.items()):
        path = os.path.join(HERE, rel)
        try:
            with open(path, "rb") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == data:
            continue
        stale.append(rel)
        if not args.check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)

    total = sum(len(d) for d in files.values())
    if args.check:
        for rel in stale:
            print("stale: " + rel)
        print(
            "%d generated files, %d stale" % (len(files), len(stale)),
            file=sys.stderr,
        )
        return 1 if stale else 0
    print(
        "%d generated files (%d bytes), %d rewritten" % (len(files), total, len(stale)),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
