"""visim convert: any source to an FFCV .beton (to_beton), through a safer FFCV writer
(beton_writer) in worker processes that leave Ctrl-C to their parent (worker_processes), with
the manifest beside it that the .beton reader and the ffcv loader read back (manifest)."""
