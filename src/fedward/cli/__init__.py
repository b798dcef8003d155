"""The `fedward` command line: one module per command group.

Before anything imports PyTorch, OpenMP is told to sleep rather than spin while waiting for work
(unless the user chose otherwise). With the default busy-wait, training on a machine shared with another
busy process ran 15x slower in our measurements (2 cores, two trainers side by side: 52 s against 3.4 s);
hospital servers are shared machines.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
