# OpenMS Workflow Server appliance: Redis, N RQ workers, Streamlit and (optionally) rq-dashboard,
# supervised by supervisord and sharing one Python / pyOpenMS / OpenMS TOPP environment.
#
#   docker build -t openms-workflow-server .
#   docker compose up --build            (see docker-compose.yml)
#
# Without access to a registry, build the base image first: scripts/build-base-image.sh.
# The setuid helper that runs the tools as a uid of their own (docker/run-as-tool.c) and the library
# it preloads into them to tell a failed allocation (docker/alloc-watch.c), built apart so that the
# image carries no compiler.
FROM debian:bookworm-slim AS tool-helper
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends gcc libc6-dev; \
    rm -rf /var/lib/apt/lists/*
COPY docker/run-as-tool.c docker/alloc-watch.c /src/
RUN set -eux; \
    gcc -O2 -Wall -Wextra -Werror -DTOOL_UID=10002 -o /run-as-tool /src/run-as-tool.c; \
    gcc -O2 -Wall -Wextra -Werror -shared -fPIC -o /alloc-watch.so /src/alloc-watch.c

FROM debian:bookworm-slim

ARG APP_UID=10001
ARG TOOL_UID=10002

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The unprivileged user first, with a fixed uid, so volume ownership survives rebuilds. Its group
# is 0 (root's group, which grants nothing by itself): what the app writes is group-0 writable, so
# the image also runs as any uid in group 0 (OpenShift, Apptainer-style HPC: --user 12345:0).
# The tools' users are in no group of the app's: "openms-tools" (the helper's --check) and the
# per-run uids from 20000 (src/core/execution/sandbox.py), which need no /etc/passwd entry. They
# read inputs as "other", may not list the workspaces root, and write only where an ACL lets them.
RUN set -eux; \
    useradd --system --uid "$APP_UID" --gid 0 --home-dir /home/openms --create-home \
        --shell /usr/sbin/nologin openms; \
    groupadd --system --gid "$TOOL_UID" openms-tools; \
    useradd --system --uid "$TOOL_UID" --gid "$TOOL_UID" --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin openms-tools; \
    mkdir -p /data/workspaces /data/redis; \
    chown "$APP_UID:0" /data/workspaces /data/redis /home/openms; \
    chmod 2775 /home/openms; \
    chmod 2771 /data/workspaces; \
    chmod 2770 /data/redis

# Python 3.11 (bookworm's), Redis 7 and the OpenMS 2.6 TOPP tools from Debian; setfacl (acl) gives a
# run's tools their result folders. The proteomics workflow searches with Comet (comet-ms) and offers
# the real data of openms-doc as its demo (BSA1-3 and a target-decoy FASTA; the docs are kept).
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends acl ca-certificates comet-ms haproxy openms-doc python3 \
        python3-venv redis-server tini topp; \
    rm -rf /var/lib/apt/lists/*; \
    command -v comet-ms; \
    test -s /usr/share/doc/openms/examples/BSA/BSA1.mzML

# Extra CA certificates for builds behind a TLS-intercepting proxy: *.crt files in
# docker/ca-certificates/ join the system store (after ca-certificates was installed, because
# installing it regenerates the bundle); pip uses that store through PIP_CERT.
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/extra/
RUN set -eux; update-ca-certificates

# Bytecode is compiled here, once (PYTHONDONTWRITEBYTECODE keeps the running appliance from writing
# any): without it every process (a worker, a web server, each table script a run starts, each
# docker exec) compiled the modules it imports from source, about 0.3 s for pyOpenMS, NumPy and
# Arrow. The packages' own tests are left out (43 MB of bytecode no process imports).
COPY requirements.txt /app/requirements.txt
RUN set -eux; \
    python3 -m venv "$VIRTUAL_ENV"; \
    pip install --no-compile -r /app/requirements.txt; \
    python -m compileall -q -j 0 -x '/tests?/' "$VIRTUAL_ENV/lib/python3.11/site-packages"; \
    mv "$VIRTUAL_ENV/bin/rq" "$VIRTUAL_ENV/bin/rq-cli"
# Every Python process of the appliance is non-dumpable (docker/sitecustomize.py says why).
COPY --chown=root:root docker/sitecustomize.py /opt/venv/lib/python3.11/site-packages/sitecustomize.py
# Tools run as openms-tools (uid TOOL_UID): the helper is setuid root and only ever switches to it.
COPY --from=tool-helper --chown=root:root /run-as-tool /usr/local/libexec/openms/run-as-tool
COPY --from=tool-helper --chown=root:root /alloc-watch.so /usr/local/lib/openms/alloc-watch.so
RUN set -eux; chmod 4755 /usr/local/libexec/openms/run-as-tool; chmod 0644 /usr/local/lib/openms/alloc-watch.so

# Smoke checks: fail the build, not the first user, if a part is missing.
RUN set -eux; \
    FeatureFinderMetabo -write_ini /tmp/ffm.ini > /dev/null; test -s /tmp/ffm.ini; rm /tmp/ffm.ini; \
    command -v FeatureLinkerUnlabeledKD; \
    python -c 'import pyopenms; print("pyopenms", pyopenms.__version__)'; \
    redis-server --version; \
    tini --version; \
    haproxy -v; \
    rq-cli --version; \
    setfacl --version; \
    supervisord --version; \
    rq-dashboard --help > /dev/null; \
    setpriv --version; \
    test -u /usr/local/libexec/openms/run-as-tool; \
    LD_PRELOAD=/usr/local/lib/openms/alloc-watch.so prlimit --as=400000000 python3 -c 'bytearray(500000000)' 2>&1 \
        | grep 'openms-run: out of memory'

WORKDIR /app
COPY --chown=root:root docker/redis.conf /etc/openms/redis.conf
COPY --chown=root:root app.py settings.json supervisord.conf entrypoint.sh /app/
COPY --chown=root:root .streamlit /app/.streamlit
COPY --chown=root:root docker/rq.sh /opt/venv/bin/rq
COPY --chown=root:root docker/fatal_listener.py docker/healthcheck.sh docker/admin-token.sh docker/supervisord-worker.conf docker/haproxy.cfg docker/backup.sh docker/restore.sh /app/docker/
COPY --chown=root:root content /app/content
COPY --chown=root:root src /app/src
RUN set -eux; \
    chmod 0755 /opt/venv/bin/rq /app/entrypoint.sh /app/docker/healthcheck.sh /app/docker/admin-token.sh \
        /app/docker/backup.sh /app/docker/restore.sh; \
    ln -s /app/entrypoint.sh /usr/local/bin/entrypoint.sh; \
    ln -s /app/docker/admin-token.sh /usr/local/bin/admin-token; \
    ln -s /app/docker/backup.sh /usr/local/bin/backup; \
    ln -s /app/docker/restore.sh /usr/local/bin/restore; \
    python -m compileall -q -j 0 /app/app.py /app/content /app/src; \
    python -c 'import src.jobs.worker.tasks, src.jobs.worker'; \
    python -m src.workflows

# Online mode: every visitor gets a private workspace and every run is a queued job. No TOPP tool
# asks openms.de for a newer release (the runs' tools get this from src/core/settings/model.py
# anyway; here for the tools an operator starts with docker exec).
ENV ONLINE_DEPLOYMENT=true \
    WORKSPACES_DIR=/data/workspaces \
    REDIS_URL=redis://127.0.0.1:6379/0 \
    REDIS_PASSWORD_FILE=/data/redis/password \
    HOME=/home/openms \
    OPENMS_DISABLE_UPDATE_CHECK=ON

VOLUME ["/data/workspaces", "/data/redis"]
EXPOSE 8501 9181

HEALTHCHECK --interval=10s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/app/docker/healthcheck.sh"]

# The version is src/core/version.py's (tests/test_version.py keeps the two equal); the revision is
# the commit scripts/build-image.sh built from.
ARG REVISION=unknown
LABEL org.opencontainers.image.title="OpenMS Workflow Server" \
      org.opencontainers.image.version="1.5.0" \
      org.opencontainers.image.revision="$REVISION"

# tini is PID 1: it reaps orphans and passes signals on to the entrypoint, which waits for
# supervisord so that the container can end with a non-zero code when a program is FATAL.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/entrypoint.sh"]
