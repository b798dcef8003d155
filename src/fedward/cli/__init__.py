"""The `fedward` command line: one module per command group.

Before anything imports PyTorch, OpenMP is told to sleep rather than spin while waiting for work
(unless the user chose otherwise). With the default busy-wait, training on a machine shared with another
busy process ran 15x slower in our measurements (2 cores, two trainers side by side: 52 s against 3.4 s);
hospital servers are shared machines. For the same reason numpy/scipy's OpenBLAS pool gets one thread:
fedward uses it only for small vector work (the weighted mean), where a second thread bought nothing and
its spinning slowed the training threads beside it (framework overhead per round 30 ms -> 22 ms).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
