"""What the browser test needs: found missing, installed, or named with the command to run."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests import browser_deps


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Solara's asset cache, empty, wanting two packages (one of them scoped)."""
    cache = tmp_path / "cdn"
    wanted = ["@widgetti/solara-vuetify-app@10.0.3", "requirejs@2.3.6"]
    monkeypatch.setattr(browser_deps, "solara_assets", lambda: (cache, wanted))
    return cache


def test_the_real_asset_list_names_versioned_npm_packages() -> None:
    cache, wanted = browser_deps.solara_assets()
    assert cache.name and wanted
    assert all("@" in spec.lstrip("@") for spec in wanted)  # name@version


def test_missing_assets_are_named_with_the_command_that_installs_them(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser_deps, "CHROMIUM", empty_cache / "no-chromium")
    lacking = browser_deps.problems()
    assert len(lacking) == 2
    assert "no-chromium is missing" in lacking[0] and "apt-get install chromium" in lacking[0]
    assert "requirejs@2.3.6" in lacking[1] and str(empty_cache) in lacking[1]
    assert browser_deps.INSTALL in lacking[1]
    (empty_cache / "requirejs@2.3.6").mkdir(parents=True)
    (empty_cache / "requirejs@2.3.6" / "package.json").write_text("{}")
    assert browser_deps.missing_assets()[1] == ["@widgetti/solara-vuetify-app@10.0.3"]


def test_without_npm_the_installer_says_what_to_do_and_fails_only_when_required(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(browser_deps.shutil, "which", lambda name: None)
    monkeypatch.setattr(browser_deps, "install_chromium", lambda: None)
    assert browser_deps.main([]) == 0
    out = capsys.readouterr().out
    assert "npm is missing" in out and browser_deps.INSTALL in out
    assert "test_dashboard_in_chromium will be skipped" in out
    assert browser_deps.main(["--require"]) == 1


@pytest.mark.parametrize(
    ("value", "required"), [(None, False), ("", False), ("0", False), ("1", True)]
)
def test_the_environment_decides_whether_the_browser_test_may_skip(
    value: str | None, required: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(browser_deps.REQUIRE_ENV, raising=False)
    else:
        monkeypatch.setenv(browser_deps.REQUIRE_ENV, value)
    assert browser_deps.required() is required


def test_an_npm_tarball_is_unpacked_without_its_top_folder(tmp_path: Path) -> None:
    tarball = tmp_path / "requirejs-2.3.6.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, text in [("package/package.json", b"{}"), ("package/bin/r.js", b"x")]:
            member = tarfile.TarInfo(name)
            member.size = len(text)
            archive.addfile(member, io.BytesIO(text))
    target = tmp_path / "cdn" / "requirejs@2.3.6"
    browser_deps._unpack(tarball, target)
    assert (target / "package.json").read_bytes() == b"{}"
    assert (target / "bin" / "r.js").read_bytes() == b"x"
