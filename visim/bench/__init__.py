"""Training-side benchmarks: images/s of the real training loop per setting and backend, and
how the cost of an epoch grows with the data set and the batch.

Every measured configuration trains with `visim pretrain`'s own code path in a process of its
own; the results are recorded as JSON and Markdown with the environment they ran on.
"""
