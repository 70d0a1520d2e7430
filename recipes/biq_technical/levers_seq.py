"""levers.py's levers (plus a few more) trained one after another in one process, one thread, several seeds.

    cd recipes/biq_technical && PYTHONPATH=../../src nice -n 19 python levers_seq.py 3 OUT.json

Needs the feature cache of ``levers.py --biq BIQ2021 --biq-photos 2000 --extract-only`` in
/work/data/tech3 (the default ``--cache`` of levers.py in this checkout layout). A lever takes 3-6 s of
CPU per seed here: spawning worker processes and pickling the features to them (levers.py --jobs) costs
more than the heads. Writes OUT.json after every lever.
"""

import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, ".")
import levers as L

logging.basicConfig(level=logging.WARNING)
torch.set_num_threads(1)
seeds = int(sys.argv[1])
out = Path(sys.argv[2])
data, f = L.cached_selection()
levers = dict(L.LEVERS)
levers.update(
    {
        "b_live_quarter_of_batches": L.Lever(live_share=0.25),
        "b+c_balanced+fidelity": L.Lever(live_share=0.5, fidelity=1.0),
        "c+d_fidelity+mean5": L.Lever(fidelity=1.0, crops="mean5"),
        "c_emd+fidelity_x0.3": L.Lever(fidelity=0.3),
        "c_emd+fidelity_x3": L.Lever(fidelity=3.0),
        "b_live_weight_x2": L.Lever(live_weight=2.0),
    }
)
results = {}
for name, lever in levers.items():
    t = time.process_time()
    r = L.one_lever(name, lever, f, data, seeds, 15)
    results[name] = r
    print(
        f"{name:34s} " + json.dumps({k: v for k, v in r.items() if k not in ("runs", "lever")}),
        f"cpu {time.process_time() - t:.0f}s",
        flush=True,
    )
    out.write_text(
        json.dumps(
            {
                "meta": {"photos": {p: len(e) for p, e in data.items()}, "seeds": seeds, "epochs": 15},
                "results": results,
            },
            indent=1,
        )
        + "\n"
    )
