"""The collector settings of a running gateway: start-up's objects frozen, cycles still
collected. Run in a child process so the test process keeps CPython's defaults."""

from __future__ import annotations

import subprocess
import sys

from localservices import ROOT

PROBE = """
import gc, weakref
from gateway.heap import YOUNG_THRESHOLD, settle_heap
settle_heap()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert gc.get_threshold()[0] == YOUNG_THRESHOLD
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle: reference counting alone never frees it
gone = weakref.ref(a)
del a, b
held = [[] for _ in range(YOUNG_THRESHOLD + 10)]  # live containers: a young collection is due
assert gone() is None, "the cycle was not collected"
print("ok")
"""


def test_settled_heap_freezes_start_up_and_still_collects_cycles() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
