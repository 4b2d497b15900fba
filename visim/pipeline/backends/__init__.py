"""The two-view loaders and what they share.

Every loader is built from a LoaderSpec and yields Batches (loader_spec, batch), takes its
epoch's order and its shard from epoch_order, and is picked by name from the registry, which
imports a backend's module only when it is built. One module or folder per backend: torch
(the reference), synthetic (the upper bound), ffcv/ and dali/; eval_loader serves evaluation
one view per image, and loader_workers says how many workers each may run.
"""
