"""Each workflow package keeps its tests (``src/workflows/<name>/tests/``); they get the suite's
shared fixtures and plugins (real Redis and workers, the browser, the appliance) from here."""

from tests.conftest import nz_files, settings, shared_cache, tmpfs  # noqa: F401 (fixtures by name)

pytest_plugins = ["tests.queue_support", "tests.browser_support", "tests.appliance_support"]
