"""What the dashboard's browser test (tests/test_viz.py) needs, checked and installed.

The test drives Debian's Chromium (``/usr/bin/chromium``) through Playwright, against a
``solara run`` server. Solara's page loads its front-end files (Vue app, requirejs, icons) from
a CDN on first use and caches them in the venv; a machine that reaches package registries
only gets the same versions from the npm registry into that cache instead.

``python tests/browser_deps.py`` (``make test`` runs it) installs what is missing and can be
installed from the registries: chromium with apt-get when run as root on Debian, solara's
files with npm. What it cannot install it lists, with the command that would, and exits 0:
the browser test then skips with the same message. With ``--require`` (``.ci/run``) anything
missing is an error (exit status 1), and CI sets ``TALENTSIM_REQUIRE_BROWSER_TEST=1`` so that
the test fails instead of skipping.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "TALENTSIM_REQUIRE_BROWSER_TEST"
"""Set (to anything but empty or 0) where the browser test must run: it then fails, not skips."""

INSTALL = "make browser-test-deps"
"""The command that installs what the browser test needs (it runs this file)."""

INSTALL_CHROMIUM = (
    "run `sudo apt-get install chromium` (Debian's; `make browser-test-deps` does it as root)"
)


def solara_assets() -> tuple[Path, list[str]]:
    """Solara's front-end cache folder and the npm packages (``name@version``) it must hold.

    The packages are the ones the installed solara's page template loads from its CDN.
    """
    import solara.server
    import solara.server.settings as settings

    template = (Path(solara.server.__file__).parent / "templates" / "solara.html.j2").read_text()
    package = r"((?:@[\w.-]+/)?[\w.-]+@[\w.+-]+)/"
    wanted = set(re.findall(r"\{\{cdn\}\}/" + package, template))
    wanted |= set(re.findall("^/" + package, settings.assets.fontawesome_path))
    return Path(settings.assets.proxy_cache_dir), sorted(wanted)


def missing_assets() -> tuple[Path, list[str]]:
    """The cache folder and the packages not yet in it."""
    cache, wanted = solara_assets()
    return cache, [spec for spec in wanted if not (cache / spec / "package.json").is_file()]


def problems() -> list[str]:
    """What the browser test lacks, each with what to run (empty: it can run)."""
    found = []
    if not CHROMIUM.exists():
        found.append(f"{CHROMIUM} is missing: {INSTALL_CHROMIUM}")
    cache, missing = missing_assets()
    if missing:
        found.append(
            f"solara's front-end files {', '.join(missing)} are missing from {cache}: run "
            f"`{INSTALL}` (it fetches them with npm from the npm registry)"
        )
    return found


def required() -> bool:
    """Whether the browser test must run here (CI), rather than skip when it cannot."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _say(text: str) -> None:
    print(f"browser test: {text}", flush=True)


def install_chromium() -> str | None:
    """Install Debian's chromium with apt-get when run as root; else why not."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium"
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing (this is not root): {INSTALL_CHROMIUM}"
    _say("installing Debian's chromium with apt-get")
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        if subprocess.run(command, check=False).returncode != 0:
            return f"`{' '.join(command)}` failed; {CHROMIUM} is still missing"
    return None if CHROMIUM.exists() else f"chromium was installed but {CHROMIUM} is missing"


def install_solara_assets() -> str | None:
    """Fetch the missing front-end packages with npm into solara's cache; else why not."""
    cache, missing = missing_assets()
    if not missing:
        return None
    if shutil.which("npm") is None:
        return (
            f"npm is missing; it fetches solara's front-end files ({', '.join(missing)}) "
            f"into {cache}: install npm (apt-get install npm), then run `{INSTALL}`"
        )
    with tempfile.TemporaryDirectory() as work:
        for spec in missing:
            _say(f"fetching {spec} with npm into solara's cache ({cache})")
            packed = subprocess.run(
                ["npm", "pack", "--silent", spec],
                cwd=work,
                capture_output=True,
                text=True,
                check=False,
            )
            names = packed.stdout.split()
            if packed.returncode != 0 or not names:
                return f"`npm pack {spec}` failed: {packed.stderr.strip()}"
            try:
                _unpack(Path(work) / names[-1], cache / spec)
            except (OSError, tarfile.TarError) as exc:
                return f"could not unpack {spec} into {cache}: {exc}"
    return None


def _unpack(tarball: Path, target: Path) -> None:
    """Unpack an npm tarball into ``target``, without its top folder (``package/``)."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            member.name = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.name:
                archive.extract(member, target, filter="data")


def main(argv: list[str] | None = None) -> int:
    """Install what the browser test needs; report what could not be."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--require", action="store_true", help="fail (exit 1) if anything is still missing"
    )
    args = parser.parse_args(argv)
    failures = [why for why in (install_chromium(), install_solara_assets()) if why]
    for why in failures:
        _say(why)
    if failures and args.require:
        return 1
    if failures:
        _say("tests/test_viz.py::test_dashboard_in_chromium will be skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
