"""The server's version, in one place: the image's label, the sidebar's footer, ``/metrics``
(``openms_build_info``) and the first log line of every container start show it.

Raised with every release; tests/test_version.py checks that the Dockerfile's label agrees.
"""

from __future__ import annotations

VERSION = "1.5.0"
