"""The training benchmark: the settings matrix and per-machine profiles, each case a
`visim pretrain` run in a process of its own, timed in steady windows, and its findings and
table. The scaling benchmark runs its cases with the same machinery."""
