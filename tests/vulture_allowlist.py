"""Names the dead-code check (vulture, tests/test_lint.py) cannot see being used: other libraries call
them, or they are fields of a report read as JSON. Each line says who uses them."""

signum, frame, exc_type, exc, tb, exc_value  # parameters that signal handlers and RQ's callbacks get
used_memory_bytes, aof_last_rewrite_status, canceled  # fields of `python -m src.jobs.ops.health`'s JSON
get_heartbeat_ttl  # RQ's Worker calls it
setExperimentalSettings, setExpectedSize, consumeChromatogram, consumeSpectrum  # pyOpenMS's consumer
spectra, chromatograms, chromatogram  # the consumer interface's parameters
run_piece  # the job function of a piece: RQ imports it by the path in src/jobs/pieces.PIECE_TASK
piece_ended  # every piece's success, failure and stopped callback: RQ imports it by the path in pieces.ENDED
build_view_index  # the viewer's index job: RQ imports it by the path in src/jobs/client/view_index.TASK
_result  # an RQ Job attribute: what Job._handle_success records as the piece's return value
dequeue_job_and_maintain_ttl  # RQ's Worker calls it before every wait for work
pytest_plugins  # pytest reads it in src/workflows/conftest.py
fresh_notes  # an autouse fixture of src/workflows/metabolomics/tests/test_alignment.py
compress_type  # zipfile reads it from the ZipInfo that FileManager.results_zip hands ZipFile.open
list_commands, get_command  # click's Group calls them (the lazy group of src/__main__.py)
collect  # prometheus_client's registry calls it at scrape time (src/jobs/ops/prometheus.py)
