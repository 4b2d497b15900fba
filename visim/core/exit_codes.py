"""The exit codes of every command, in one place: 2 the input, 1 the machine or the run, 130
Ctrl-C (graceful stops of pre-training return 128 + the signal: 143 for SIGTERM)."""

EXIT_BAD_INPUT = 2  # the options or the data: an unknown option value, a damaged .beton
EXIT_ENVIRONMENT = 1  # the machine refused: a full disk, a read-only file system, no permission
EXIT_NONFINITE = 1  # pre-training stopped after too many non-finite losses in a row
EXIT_NOTHING_MEASURED = 1  # a benchmark in which no case could be measured
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
