"""The Makefile and the package say clearly when the Python found is too old."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_refuses_old_python(tmp_path) -> None:
    fake = tmp_path / "python3.10"
    # Answers the version check like Python 3.10 would: the check fails, the version prints.
    fake.write_text(
        '#!/bin/sh\ncase "$2" in *platform*) echo 3.10.0 ;; *) exit 1 ;; esac\n', encoding="utf-8"
    )
    fake.chmod(0o755)
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "check-python", f"PYTHON={fake}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "needs Python >= 3.12" in proc.stderr
    assert "3.10.0" in proc.stderr


def test_current_python_passes_the_check() -> None:
    proc = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "check-python", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_cli_refuses_old_python(monkeypatch, capsys) -> None:
    from talentsim import cli

    monkeypatch.setattr(cli, "MIN_PYTHON", (99, 0))
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "x.toml"])
    assert info.value.code == 2
    assert "needs Python >= 3.12" in capsys.readouterr().err
