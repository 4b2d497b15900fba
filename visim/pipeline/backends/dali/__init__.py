"""The dali backend: the loader, the DALI graph of one view, the external-source feed and the
per-view random draws fed in beside the images."""
