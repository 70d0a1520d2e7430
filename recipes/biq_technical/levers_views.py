"""Multi-crop variants: does the 5-crop gain come from training on more views or from averaging at scoring?

    cd recipes/biq_technical && PYTHONPATH=../../src nice -n 19 python levers_views.py 3 OUT.json

Same data, head, folds and seeds as levers_seq.py; each variant names the features it trains on and the
features it scores (centre crop = index 0, corners 1-4 of the 500x500 view)."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, ".")
import levers as L

torch.set_num_threads(1)
seeds = int(sys.argv[1])
out = Path(sys.argv[2])
data, f = L.cached_selection()
y = {p: L.labels_of(e) for p, e in data.items()}
B = L.BUCKETS.numpy()


# name: (training view, scoring view, lever)
def sub(idx):
    return lambda a: a[:, idx].mean(1)


variants = {
    "views5_train_centre_score": (lambda a: a, lambda a: a[:, 0], L.Lever(crops="views5")),
    "views5_train_mean2_score(centre+top-left)": (lambda a: a, sub([0, 1]), L.Lever(crops="views5")),
    "views5_train_mean5_score": (lambda a: a, lambda a: a, L.Lever(crops="views5")),
    "mean5_train_centre_score": (sub([0, 1, 2, 3, 4]), lambda a: a[:, 0], L.Lever(crops="mean5")),
    "mean2_train_mean2_score": (sub([0, 1]), sub([0, 1]), L.Lever(crops="mean5")),
    "mean4corners_train_mean4_score(no centre)": (
        sub([1, 2, 3, 4]),
        sub([1, 2, 3, 4]),
        L.Lever(crops="mean5"),
    ),
    "views5+fidelity_train_centre_score": (
        lambda a: a,
        lambda a: a[:, 0],
        L.Lever(crops="views5", fidelity=1.0),
    ),
}
results = {}
for name, (tv, sv, lever) in variants.items():
    t = time.process_time()
    rows = {f"live{k}": [] for k in (1, 2, 3)} | {"biq_val": []}
    for seed in range(seeds):
        for k in (1, 2, 3):
            train = [f"live{i}" for i in (1, 2, 3) if i != k] + ["biq_train"]
            group = np.concatenate([np.full(len(y[p]), p.startswith("live"), np.int64) for p in train])
            predict = L.train_head(
                np.concatenate([tv(f[p]) for p in train]),
                np.concatenate([y[p] for p in train]),
                group,
                lever,
                seed,
                15,
            )
            for part in (f"live{k}", "biq_val"):
                rows[part].append(float(spearmanr(predict(sv(f[part])), y[part] @ B)[0]))
    live = [float(np.mean(rows[f"live{k}"])) for k in (1, 2, 3)]
    r = {
        **{f"live_fold{k}": round(v, 4) for k, v in zip((1, 2, 3), live, strict=True)},
        "live_mean": round(float(np.mean(live)), 4),
        "live_seed_sd": round(float(np.std(np.mean([rows[f"live{k}"] for k in (1, 2, 3)], 0))), 4),
        "biq_val": round(float(np.mean(rows["biq_val"])), 4),
        "runs": rows,
    }
    results[name] = r
    print(
        f"{name:44s} " + json.dumps({k: v for k, v in r.items() if k != "runs"}),
        f"cpu {time.process_time() - t:.0f}s",
        flush=True,
    )
    out.write_text(json.dumps({"meta": {"seeds": seeds}, "results": results}, indent=1) + "\n")
