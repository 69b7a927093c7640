"""Put on PYTHONPATH by ``ab_sync.py --lean-workers`` only: the sync started with it runs
``essentials.install_in_pipeline`` (bench/essentials.py) before anything else, so its worker
processes, forked from it, do the essentials per file instead of the file pipeline."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import essentials  # noqa: E402

essentials.install_in_pipeline()
