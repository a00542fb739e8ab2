"""docker-compose.yml is valid (no Docker engine here: only the config is checked)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from localservices import ROOT


def test_compose_config_is_valid() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: scripts/setup.sh should have installed it")
        pytest.skip("docker-compose not installed (scripts/setup.sh installs it)")
    done = subprocess.run([exe, "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
