"""The pipeline benchmark: every loader backend (contenders) on the same images (data),
timed side by side in steady state (throughput, runner), and its table (report)."""
