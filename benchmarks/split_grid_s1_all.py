"""Split the 1000 GRID s1 sentences by utterance, keeping the 300-clip set's val/test sentences in val/test.

    python3 benchmarks/split_grid_s1_all.py prepared/grid_s1 prepared/grid_s1_all

Writes prepared/grid_s1_all/splits.json: test = grid_s1's 30 test + 70 more, val = grid_s1's 30 val
+ 20 more (seeded shuffle), train = the other 850 (docs/corpus.md, docs/motion.md).
"""

import json
import random
import sys
from pathlib import Path

old = json.loads((Path(sys.argv[1]) / "splits.json").read_text())
manifest = [json.loads(line) for line in (Path(sys.argv[2]) / "manifest.jsonl").read_text().splitlines()]
ids = sorted({m["id"] for m in manifest if m["status"] == "ok"})
test, val = set(old["test"]), set(old["val"])
rest = [i for i in ids if i not in test and i not in val and i != "s1/bbaf2n"]
random.Random(0).shuffle(rest)
test |= set(rest[:70])
val |= set(rest[70:90])
train = sorted(set(ids) - test - val)
out = {"train": train, "val": sorted(val), "test": sorted(test), "split_unit": "utterance"}
(Path(sys.argv[2]) / "splits.json").write_text(json.dumps(out, indent=1))
print({k: len(v) for k, v in out.items() if isinstance(v, list)})
