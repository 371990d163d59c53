"""CPU time of building an :class:`talkface.pipeline.Animator` (models loaded, no frame yet), per renderer.

Each measurement is a fresh process (``time.process_time`` around ``Animator(...)``, after the imports). Give
several ``--src`` folders to compare code versions in the same run (interleaved), e.g. the main checkout's
``src`` against this one's::

    python3 benchmarks/bench_animator_startup.py --src /work/main/src --src src --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
from talkface.pipeline import AnimateConfig, Animator
t = time.process_time()
a = Animator(AnimateConfig(threads=1, **json.loads(sys.argv[1])))
print(json.dumps({"cpu_s": time.process_time() - t, "texture_loaded": a.bundle.texture is not None}))
"""

CONFIGS = {"native": {}, "crop": {"renderer": "crop"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", default=None, help="a talkface src folder (repeatable)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sources = args.src or ["src"]
    runs: dict[tuple[str, str], list[float]] = {}
    loaded: dict[tuple[str, str], bool] = {}
    for _ in range(args.repeat):
        for name, config in CONFIGS.items():
            for src in sources:
                env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
                out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config)], env=env, check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                result = json.loads(out)
                runs.setdefault((src, name), []).append(result["cpu_s"])
                loaded[(src, name)] = result["texture_loaded"]
    for (src, name), values in runs.items():
        print(f"{src:>20} {name:>7}: Animator() median {statistics.median(values):.3f} CPU-s "
              f"({', '.join(f'{v:.3f}' for v in values)}), texture loaded: {loaded[(src, name)]}")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
