"""Steps per second of the dashboard as a user sees it: served, played in Chromium.

``dashboard_redraw.py`` times a step and its redraw without a browser; this serves the
dashboard for ``scenarios/msl_exodus.toml`` with ``solara run`` (as ``talentsim dashboard``
does), opens it in Debian's headless Chromium through Playwright (the browser the test suite
uses, see ``tests/browser_deps.py``), presses Play at the default *Play Interval* (100 ms) and
reads the step number from the status line from step ``--start`` to ``--stop``: steps per
second of wall time, with the server, the browser and the model sharing the machine.

Given several checkouts, each round serves each in turn (A, B, A, B, ...), so that the
machine's load falls on all alike. Exit status 0 whatever the speed (noise is not a code
failure); 2 if Chromium or Playwright is missing (``make browser-test-deps``).

Usage: python benchmarks/dashboard_browser.py [CHECKOUT ...] [--rounds 3] [--start 2]
[--stop 45] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from talentsim import viz  # noqa: E402
from tests import browser_deps  # noqa: E402
from tests.test_viz import CHROMIUM_FLAGS  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def steps_per_second(checkout: Path, start: int, stop: int) -> float:
    """Serve ``checkout``'s dashboard, play it in Chromium, and time steps start..stop."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = viz.server_environment(str(checkout / "scenarios" / "msl_exodus.toml"), seed=7)
    env["PYTHONPATH"] = str(checkout)
    server = subprocess.Popen(
        viz.server_command("127.0.0.1", port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=checkout,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(browser_deps.CHROMIUM), headless=True, args=CHROMIUM_FLAGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("button", name="Step").wait_for(timeout=120_000)
            status = page.get_by_test_id("status")

            def step() -> int:
                found = re.search(r"Step (\d+) of", status.inner_text())
                return int(found.group(1)) if found else 0

            page.get_by_role("button", name="▶").click()
            while step() < start:
                time.sleep(0.01)
            t0, s0 = time.monotonic(), step()
            while step() < stop:
                time.sleep(0.01)
            t1, s1 = time.monotonic(), step()
            browser.close()
        return (s1 - s0) / (t1 - t0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", default=[str(ROOT)])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=int, default=2)
    parser.add_argument("--stop", type=int, default=45)
    parser.add_argument("--quick", action="store_true", help="one round, steps 2 to 6 (smoke)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.stop = 1, min(args.stop, 6)
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("error: Playwright is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    if not browser_deps.CHROMIUM.exists():
        print("error: Chromium is missing: run `make browser-test-deps`", file=sys.stderr)
        return 2
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rates: dict[str, list[float]] = {c: [] for c in args.checkouts}
    for _ in range(args.rounds):
        for checkout in args.checkouts:
            rate = steps_per_second(Path(checkout).resolve(), args.start, args.stop)
            rates[checkout].append(rate)
            print(f"{checkout}: {rate:.2f} steps/s", flush=True)
    for checkout, values in rates.items():
        print(
            f"{checkout}: median {statistics.median(values):.2f} steps/s "
            f"(min {min(values):.2f}, max {max(values):.2f}; target >= 5)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
