"""Run by every Python process of the appliance at start (installed into the venv's site-packages).

Makes the process non-dumpable, so that no other process of the same uid can read its
``/proc/<pid>/environ`` or memory, where supervisord, the workers and the web servers keep the
deployment's secrets. Tools normally run as a uid of their own (docker/run-as-tool.c) and could
not read them anyway; this keeps them out where the container does not allow that switch (e.g.
a Kubernetes pod without privilege escalation), where tools share the app's uid.
"""

import ctypes
import sys

PR_SET_DUMPABLE = 4

if sys.platform.startswith("linux"):
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
