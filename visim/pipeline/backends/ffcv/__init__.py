"""The ffcv backend: the loader, its decode-once two-crop field decoder and the numba colour
stage it runs inside FFCV's CPU threads."""
