"""Every benchmark and its report, one home; each records JSON and Markdown with the
environment it ran on.

pipeline/: source images/s of each loader backend on the same images and recipe, timed side
by side in one process, as ratios to the torch baseline.
train/: images/s of the real training loop per setting and backend; every measured
configuration trains with `visim pretrain`'s own code path in a process of its own (the case
machinery: case, case_runner, case_process, case_rows, case_estimate, windows).
scaling/: how the cost of an epoch grows with the data set and the batch, measured with
train's case machinery.
Shared here: the ratios the tables are made of (ratios), the tables and their environment
(report) and the checked command-line option values (option_values).
"""
