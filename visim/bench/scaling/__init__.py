"""The scaling benchmark: time per epoch and peak memory as the data set and the batch grow
(runner), the growth per doubling (growth), and its table (report)."""
