"""The interactive dashboard (talentsim.viz): sliders, panels and serving, in and out of a browser.

The browser test serves the dashboard with ``solara run`` on a free localhost port and drives
Debian's Chromium (``/usr/bin/chromium``) through Playwright's Python package; it never
downloads a browser. ``make test`` installs what it needs where it can
(``tests/browser_deps.py``); elsewhere the test skips, saying what to run, except where
``TALENTSIM_REQUIRE_BROWSER_TEST`` is set (``.ci/run``), where it fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipyvuetify as v
import ipywidgets
import numpy as np
import PIL.Image
import pytest
import solara
from matplotlib.backends.backend_agg import FigureCanvasAgg

import talentsim as ts
from talentsim import viz
from talentsim.results import RunResult
from tests import browser_deps
from tests.conftest import FLAGSHIP, child_processes, small_scenario_dict

CHROMIUM = browser_deps.CHROMIUM
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# Sliders map onto the scenario schema
# --------------------------------------------------------------------------------------------


def test_default_sliders_cover_pay_mission_reorganisations_and_weights(small: ts.Scenario) -> None:
    by_path = {control.path: control for control in viz.controls(small)}
    pay = by_path["labs.A.pay_level"]
    assert (pay.value, pay.unit) == (2.0, "")
    assert 0 < pay.low <= pay.step and pay.high >= 3 * pay.value  # pay_level > 0 in the schema
    clarity = by_path["labs.B.mission_clarity"]
    assert (clarity.low, clarity.high, clarity.value) == (0.0, 1.0, 0.9)  # 0 <= clarity <= 1
    reorgs = by_path["labs.A.reorg_rate"]
    assert (reorgs.value, reorgs.unit, reorgs.override(3.0)) == (2.0, "rate", "3/year")
    # A normal weight gets a slider on its mean; a fixed one on its value.
    assert by_path["cohorts.b_staff.weights.pay.mean"].value == 1.0
    assert by_path["cohorts.stars.weights.mission"].value == 1.0
    for control in by_path.values():
        assert control.low <= control.value <= control.high
        assert abs(control.value / control.step - round(control.value / control.step)) < 1e-9


def test_slider_values_become_scenario_overrides(small: ts.Scenario) -> None:
    sliders = viz.controls(small)
    model = viz.DashboardModel(
        small,
        sliders,
        seed="3",
        scenario=object(),  # SolaraViz's reset passes a Mesa scenario: ignored
        **{
            "labs.A.pay_level": 4.0,
            "labs.A.reorg_rate": 6.0,
            "cohorts.b_staff.weights.pay.mean": 2,
        },
    )
    expected = small.with_overrides(
        {
            "labs.A.pay_level": 4.0,
            "labs.A.reorg_rate": "6/year",
            "cohorts.b_staff.weights.pay.mean": 2.0,
        }
    )
    assert model.spec == expected
    assert model.seed == 3
    assert model.changes == {
        "labs.A.pay_level": 4.0,
        "labs.A.reorg_rate": 6.0,
        "cohorts.b_staff.weights.pay.mean": 2.0,
    }
    with pytest.raises(TypeError, match=r"no slider for labs\.B\.capacity"):
        viz.DashboardModel(small, sliders, **{"labs.B.capacity": 3})


def test_an_integer_value_gets_an_integer_slider(small: ts.Scenario) -> None:
    [capacity] = viz.controls(small, ["labs.A.capacity"])
    assert (capacity.integer, capacity.value, capacity.step) == (True, 80, 1)
    assert capacity.slider().is_float_slider is False
    model = viz.DashboardModel(small, [capacity], **{"labs.A.capacity": 95.0})
    assert model.spec.labs["A"].capacity == 95


def test_a_reset_that_cannot_be_honoured_says_why_on_the_page(small: ts.Scenario) -> None:
    sliders = viz.controls(small, ["labs.A.capacity", "labs.A.pay_level"])
    # A's cohorts start with 60 researchers: a capacity of 10 is invalid, so no slider applies.
    model = viz.DashboardModel(
        small, sliders, seed="x1", **{"labs.A.capacity": 10, "labs.A.pay_level": 3.0}
    )
    assert model.spec == small and model.changes == {}
    assert len(model.notes) == 2
    status = viz.status_html(model)
    assert "seed: expected a non-negative integer, got &#x27;x1&#x27;; used fresh entropy" in status
    assert "labs.A.capacity: 10 is below the 60 researchers" in status


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("labs.Nope.pay_level", ["labs.Nope.pay_level", "'Nope'"]),
        ("labs.A.pay_levle", ["'pay_levle'", "pay_level"]),
        ("mechanisms.pay", ["mechanisms.pay", "expected a number"]),
        ("cohorts.b_staff.weights.pay", ["expected a number", "Normal"]),
    ],
)
def test_a_slider_path_that_is_not_a_number_is_a_clear_error(
    small: ts.Scenario, path: str, words: list[str]
) -> None:
    with pytest.raises(ts.ScenarioError) as caught:
        viz.controls(small, [path])
    for word in words:
        assert word in str(caught.value)


# --------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------


def test_feed_lists_the_model_s_own_random_reorganisations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = ts.Scenario.from_dict(
        small_scenario_dict(
            labs={
                "A": {"reorg_rate": "12/year", "reorg_severity": 0.7, "recovery_half_life": "3w"},
                "B": {"reorg_rate": "4/year", "reorg_severity": 0.2},
                "C": {},
            },
            cohorts={"a": {"size": 30, "lab": "A"}, "b": {"size": 30, "lab": "B"}},
            events=[{"kind": "reorganisation", "lab": "A", "at": "3w", "severity": 1.5}],
        )
    )
    model = ts.TalentModel(scenario, seed=11)
    realised: list[tuple[int, int]] = []
    reorganise = model._reorganise

    def record(lab: int, severity: float) -> None:  # ground truth from the model itself
        if severity == model.lab_state.reorg_severity[lab]:  # random, not the scheduled 1.5
            realised.append((model.steps, lab))
        reorganise(lab, severity)

    monkeypatch.setattr(model, "_reorganise", record)
    model.run()
    feed = viz.shocks(model)
    scheduled = [(item.step, item.lab) for item in feed if item.kind == "reorganisation"]
    assert scheduled == [(4, "A")]
    random = [
        (item.step, model.place_names.index(item.lab))
        for item in feed
        if item.kind == "random_reorganisation"
    ]
    assert random == realised  # in time order, one at step 4 besides the scheduled one
    assert (4, 0) in random and len(random) >= 5


def test_feed_lists_scheduled_events_and_departures_newest_first(small: ts.Scenario) -> None:
    model = ts.TalentModel(small, seed=5)
    model.run(steps=12)
    feed = viz.event_feed(model)
    steps = [item.step for item in feed]
    assert steps == sorted(steps, reverse=True)
    texts = [item.text for item in feed]
    assert "reorganisation at A (turmoil +1.5)" in texts
    assert "pay change at C (pay level → 1.5 for everyone)" in texts
    assert not any("hiring freeze" in text for text in texts)  # due at week 20, not yet
    # One line a step: "departures: A → B ×2 (1 boomerang), ...", matching the event table.
    events = RunResult.from_model(model).events
    leaving = events[
        events["kind"].isin(["quit", "return", "exit", "separation"])
        & (events["origin"] != "outside")
    ]
    pattern = re.compile(r"(\w+) → (\w+) ×(\d+)(?: \((\d+) boomerangs?\))?")
    moves = {item.step: item.text for item in feed if item.kind == "moves"}
    assert sorted(moves) == sorted(leaving["step"].unique())
    for step, text in moves.items():
        assert text.startswith("departures: ")
        here = leaving[leaving["step"] == step]
        for origin, destination, count, back in pattern.findall(text):
            pair = here[(here["origin"] == origin) & (here["destination"] == destination)]
            assert len(pair) == int(count)
            assert (pair["kind"] == "return").sum() == int(back or 0)
        assert sum(int(count) for _, _, count, _ in pattern.findall(text)) == len(here)


def test_recent_flows_count_the_moves_of_the_window(small: ts.Scenario) -> None:
    model = ts.TalentModel(small, seed=2)
    model.run(steps=20)
    flows = viz.recent_flows(model, window=5)
    events = RunResult.from_model(model).events
    recent = events[(events["step"] > 15) & ~events["kind"].isin(["entry", "retirement"])]
    assert flows.sum() == len(recent) > 0
    names = model.place_names
    pairs = recent.groupby(["origin", "destination"], observed=True).size()
    for (origin, destination), count in pairs.items():
        assert flows[names.index(origin), names.index(destination)] == count
    assert np.trace(flows) == 0


# --------------------------------------------------------------------------------------------
# The page, rendered without a browser
# --------------------------------------------------------------------------------------------


def _render(element: Any) -> Any:
    # SolaraViz puts its controls in an app layout's sidebar, as `solara run` does.
    _, rc = solara.render(solara.AppLayout(children=[element]), handle_error=False)
    return rc


def _html(rc: Any, testid: str) -> str:
    [widget] = [
        w for w in rc.find(solara.widgets.HTML).widgets if w.attributes.get("data-testid") == testid
    ]
    return widget.unsafe_innerHTML


def _image(rc: Any, css_class: str) -> bytes:
    [widget] = [w for w in rc.find(ipywidgets.Image).widgets if css_class in w._dom_classes]
    return bytes(widget.value)


def _slider(rc: Any, name: str) -> Any:
    [widget] = [w for w in rc.find(v.Slider).widgets if w.label.startswith(name + ": ")]
    return widget


def test_sliders_show_their_values_and_units(small: ts.Scenario) -> None:
    rc = _render(viz.dashboard(small, seed=1))
    labels = {w.label.split(":")[0]: w.label for w in rc.find(v.Slider).widgets}
    pay = labels["A · pay level"]
    assert re.fullmatch(r"A · pay level: [0-9.]+ × market value", pay)
    assert labels["A · reorg rate"].endswith(" per year")
    assert re.fullmatch(r"A · mission clarity: [0-9.]+", labels["A · mission clarity"])
    slider = _slider(rc, "A · reorg rate")
    slider.v_model = 2.0
    assert slider.label == "A · reorg rate: 2 per year"
    flagship = viz.controls(ts.load_scenario(FLAGSHIP), ["labs.MSL.pay_level"])[0]
    assert flagship.caption(2.5) == "MSL · pay level: 2.5 × market value"


def test_dashboard_steps_and_resets_through_solaraviz_controls(small: ts.Scenario) -> None:
    rc = _render(viz.dashboard(small, seed=1))
    assert "Step 0 of 52" in _html(rc, "status")
    headcount_before = _image(rc, "talentsim-headcount")

    step = rc.find(v.Btn, children=["Step"]).widget
    for _ in range(4):
        step.click()
    assert "Step 4 of 52" in _html(rc, "status")
    assert _image(rc, "talentsim-headcount") != headcount_before
    assert "reorganisation at A" in _html(rc, "events")

    slider = _slider(rc, "A · pay level")
    slider.v_model = 3.5
    assert slider.label == "A · pay level: 3.5 × market value"
    rc.find(v.Btn, children=["Reset"]).widget.click()
    status = _html(rc, "status")
    assert "Step 0 of 52" in status
    assert "<td>A</td><td>60</td><td>3.5</td>" in status
    assert "labs.A.pay_level = 3.5" in status


def test_page_without_a_scenario_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(viz.SCENARIO_ENV, raising=False)
    rc = _render(viz.Page())
    assert viz.SCENARIO_ENV in rc.find(v.Alert).widget.children[0]
    broken = tmp_path / "broken.toml"
    broken.write_text(FLAGSHIP.read_text().replace("pay_level = 2.5", "pay_levle = 2.5"))
    monkeypatch.setenv(viz.SCENARIO_ENV, str(broken))
    rc = _render(viz.Page())
    message = rc.find(v.Alert).widget.children[0]
    assert "labs.MSL.pay_levle" in message and "did you mean 'pay_level'" in message


def test_page_puts_the_chosen_paths_on_sliders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(viz.SCENARIO_ENV, str(FLAGSHIP))
    env = viz.server_environment(FLAGSHIP, parameters=["labs.MSL.pay_level", "market.noise_scale"])
    monkeypatch.setenv(viz.PARAMETERS_ENV, env[viz.PARAMETERS_ENV])

    def scenario_sliders() -> list[str]:  # (SolaraViz adds sliders of its own)
        rc = _render(viz.Page())
        return sorted(w.label.split(":")[0] for w in rc.find(v.Slider).widgets if " · " in w.label)

    assert scenario_sliders() == ["MSL · pay level", "market · noise scale"]
    monkeypatch.setenv(viz.PARAMETERS_ENV, "labs.MSL.pay_levle")
    message = _render(viz.Page()).find(v.Alert).widget.children[0]
    assert "labs.MSL.pay_levle" in message
    monkeypatch.setenv(viz.PARAMETERS_ENV, "")  # blank: the default sliders
    defaults = viz.controls(ts.load_scenario(FLAGSHIP))
    assert scenario_sliders() == sorted(control.label for control in defaults)


# --------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("launch started a server for a bad input")

    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.mark.usefixtures("no_server")
def test_launch_checks_the_file_before_starting_a_server(tmp_path: Path) -> None:
    with pytest.raises(ts.ScenarioError, match="no such file"):
        viz.launch(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[labs.A\n")
    with pytest.raises(ts.ScenarioError, match="not valid TOML"):
        viz.launch(bad)
    bad.write_text(FLAGSHIP.read_text().replace('lab = "MSL"', 'lab = "MSLL"', 1))
    with pytest.raises(ts.ScenarioError, match=r"cohorts\.msl_veterans\.lab: no lab named 'MSLL'"):
        viz.launch(bad)


@pytest.mark.usefixtures("no_server")
def test_launch_checks_slider_paths_before_starting_a_server() -> None:
    with pytest.raises(ts.ScenarioError, match=r"labs\.NOPE\.pay_level"):
        viz.launch(FLAGSHIP, parameters=["labs.NOPE.pay_level"])


def test_launch_hands_the_sliders_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, str]] = []

    class Server:
        def __init__(self, command: list[str], env: dict[str, str], **options: Any) -> None:
            started.append(env)

        def wait(self, timeout: float | None = None) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", Server)
    paths = ["labs.MSL.pay_level", "market.noise_scale"]
    assert viz.launch(FLAGSHIP, port=0, parameters=paths) == 0
    assert viz._parameter_paths(started[0][viz.PARAMETERS_ENV]) == paths


@pytest.mark.usefixtures("no_server")
def test_launch_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ts.ScenarioError, match=f"cannot listen on 127.0.0.1:{port}"):
            viz.launch(FLAGSHIP, port=port)


def test_server_command_serves_the_page_in_production_mode() -> None:
    command = viz.server_command("127.0.0.1", 9999)
    assert command[1:5] == ["-m", "solara", "run", "talentsim.viz"]
    assert {"--production", "--no-open"} <= set(command)
    env = viz.server_environment(FLAGSHIP, seed=None)
    assert env[viz.SCENARIO_ENV] == str(FLAGSHIP) and env[viz.SEED_ENV] == ""


def _group_exists(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "stop",
    # ~20 s each on a busy machine (the server's start-up): SIGINT, the Ctrl-C path, is slow
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
)
def test_a_signal_to_talentsim_viz_stops_its_server(stop: signal.Signals, tmp_path: Path) -> None:
    # A real `talentsim viz`: once its solara server answers, signal talentsim (not the
    # server); the server's whole process group must be gone when talentsim has exited.
    port = _free_port()
    log_path = tmp_path / "viz.log"
    # talentsim starts with SIGINT at its default and unblocked, as from a terminal: a SIGINT
    # that this process ignores (pytest started as a background job: a shell ignores SIGINT
    # for it) or blocks would be ignored or blocked in the child too (both survive exec), and
    # Ctrl-C would never arrive.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    try:
        with log_path.open("w") as log:
            cli = subprocess.Popen(
                [sys.executable, "-m", "talentsim", "viz", str(FLAGSHIP), "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # (cleaned up as a group below, whatever happens)
            )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, inherited)
    groups = {cli.pid}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert cli.poll() is None, f"talentsim viz exited early:\n{log_path.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, f"no server in 60 s:\n{log_path.read_text()}"
            time.sleep(0.2)
        servers = child_processes(cli.pid)
        assert len(servers) == 1, servers
        server_group = os.getpgid(servers[0])
        groups.add(server_group)
        cli.send_signal(stop)
        # (solara's Ctrl-C shutdown took 13 s on an idle machine and over 30 s under load)
        status = cli.wait(timeout=120)
        assert status == (0 if stop == signal.SIGINT else 128 + stop)
        deadline = time.monotonic() + 10
        while _group_exists(server_group) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_exists(server_group), "the solara server outlived talentsim viz"
    finally:
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        cli.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# In a real browser
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard for the flagship scenario, served by `solara run` on a free local port."""
    lacking = browser_deps.problems()
    if lacking:  # where the test must run (CI: .ci/run sets the variable) this is a failure
        report = pytest.fail if browser_deps.required() else pytest.skip
        report("the browser test cannot run here: " + "; ".join(lacking))
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "solara.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            viz.server_command("127.0.0.1", port),
            env=viz.server_environment(FLAGSHIP, seed=7),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"the solara server exited ({server.returncode}):\n{log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the solara server did not answer in 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(server)


def _stop(server: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def test_dashboard_in_chromium(server_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # generous: CI's two cores may be busy
    failed_assets: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh, empty profile
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.on(
                "response",
                lambda r: failed_assets.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(server_url)
            step = page.get_by_role("button", name="Step")
            try:
                step.wait_for(timeout=60_000)
            except Exception:
                pytest.fail(
                    "the dashboard did not load; failed requests:\n  "
                    + "\n  ".join(failed_assets or ["none"])
                    + "\nsolara serves its front-end from a cache that `make browser-test-deps` "
                    "fills (solara fetches it from a CDN where there is internet)"
                )
            status, events = page.get_by_test_id("status"), page.get_by_test_id("events")
            expect(status).to_contain_text("Step 0 of 52")
            chart = page.locator("img.talentsim-headcount")
            before = (chart.get_attribute("src"), chart.screenshot())

            # Step through the page: the counter, the chart and the feed follow.
            for k in (1, 2, 3):
                step.click()
                expect(status).to_contain_text(f"Step {k} of 52")
            expect(events).to_contain_text("reorganisation at MSL")
            after = (chart.get_attribute("src"), chart.screenshot())
            assert after[0] != before[0] and after[1] != before[1]

            # A slider takes effect on reset: MSL's pay level to the slider's maximum.
            slider = page.locator(
                ".v-input", has=page.get_by_text(re.compile(r"^MSL · pay level: "))
            ).get_by_role("slider")
            expect(page.get_by_text("MSL · pay level: 2.5 × market value")).to_be_visible()
            slider.focus()
            slider.press("End")
            expect(slider).to_have_attribute("aria-valuenow", "7.5")
            expect(page.get_by_text("MSL · pay level: 7.5 × market value")).to_be_visible()
            expect(status).to_contain_text("Step 3 of 52")  # nothing changes before reset
            page.get_by_role("button", name="Reset").click()
            expect(status).to_contain_text("Step 0 of 52")
            expect(status.locator("tr", has_text="MSL")).to_contain_text("7.5")
            expect(status).to_contain_text("labs.MSL.pay_level = 7.5")

            # Play until eight steps have run, then pause.
            page.get_by_role("button", name="▶").click()
            expect(status).to_contain_text(re.compile(r"Step ([89]|[1-5]\d) of 52"))
            page.get_by_role("button", name="❚❚").click()
            expect(page.get_by_role("button", name="▶")).to_be_visible()
            # Mesa's player finishes the step it was sleeping before, then stops.
            page.wait_for_timeout(600)
            paused = status.locator(".talentsim-step").inner_text()
            page.wait_for_timeout(800)
            assert status.locator(".talentsim-step").inner_text() == paused

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000
    # `TALENTSIM_SCREENSHOT=docs/figures/dashboard.png pytest tests/test_viz.py` refreshes the
    # picture in docs/dashboard.md.
    target = os.environ.get("TALENTSIM_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)


def test_a_slider_path_error_lists_what_exists(small: ts.Scenario) -> None:
    with pytest.raises(ts.ScenarioError, match=r"no key 'Z' \(expected one of: A, B, C\)"):
        viz.controls(small, ["labs.Z.pay_level"])
    with pytest.raises(ts.ScenarioError, match="a group of keys"):
        viz.controls(small, ["labs.A"])


def test_the_page_says_when_the_run_reaches_the_scenario_s_end(small: ts.Scenario) -> None:
    rc = _render(viz.dashboard(small, seed=1))
    step = rc.find(v.Btn, children=["Step"]).widget
    for _ in range(52):
        assert "End of the scenario" not in _html(rc, "status")
        assert not step.disabled
        step.click()
    status = _html(rc, "status")
    assert "Step 52 of 52" in status and "End of the scenario" in status
    assert "press Reset" in status
    assert rc.find(v.Btn, children=["Step"]).widget.disabled
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert "End of the scenario" not in _html(rc, "status")
    assert not rc.find(v.Btn, children=["Step"]).widget.disabled


def test_started_from_a_shipped_scenario_the_page_offers_them_all(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = sorted(p.stem for p in (FLAGSHIP.parent).glob("*.toml"))
    assert [p.stem for p in viz.scenario_choices(FLAGSHIP)] == shipped
    monkeypatch.setenv(viz.SCENARIO_ENV, str(FLAGSHIP))
    monkeypatch.setenv(viz.PARAMETERS_ENV, "labs.MSL.pay_level")
    rc = _render(viz.Page())
    picker = rc.find(v.Select, label="Scenario (shipped)").widget
    assert picker.items == shipped and picker.v_model == "msl_exodus"
    assert "<td>MSL</td>" in _html(rc, "status")
    picker.v_model = "boomerang"  # (no lab MSL: its sliders fall back to the defaults)
    status = _html(rc, "status")
    assert "Step 0 of" in status and "<td>MSL</td>" not in status
    assert rc.find(v.Select, label="Scenario (shipped)").widget.v_model == "boomerang"
    # Started from a file elsewhere: no picker.
    own = tmp_path / "own.toml"
    own.write_text(FLAGSHIP.read_text())
    assert viz.scenario_choices(own) == []
    monkeypatch.setenv(viz.SCENARIO_ENV, str(own))
    assert not _render(viz.Page()).find(v.Select, label="Scenario (shipped)").widgets


def test_chart_text_is_readable_at_the_page_s_width(small: ts.Scenario) -> None:
    model = viz.DashboardModel(small, seed=1)
    for _ in range(5):
        model.step()
    for fig in (viz.headcount_figure(model), viz.flows_figure(model, 13)):
        fig.canvas.draw()  # (tick labels exist once drawn)
        width_px = fig.get_figwidth() * fig.dpi
        assert width_px >= 900  # drawn across the page, not half of it
        scale = viz.NARROWEST_CHART / width_px  # the browser scales the picture to the page
        [ax] = fig.axes
        labels = [*ax.get_xticklabels(), *ax.get_yticklabels()]
        assert labels
        for label in labels:
            assert float(label.get_fontsize()) * fig.dpi / 72 * scale >= 9, label
    assert viz.headcount_png(model).startswith(PNG_SIGNATURE)


def test_a_redraw_updates_the_headcount_chart_rather_than_rebuilding_it(
    small: ts.Scenario,
) -> None:
    model = viz.DashboardModel(small, seed=1)
    first = viz.headcount_figure(model)
    for _ in range(12):
        model.step()
    fig = viz.headcount_figure(model)
    assert fig is first  # (building the axes again costs ~30 ms a frame)
    [ax] = fig.axes
    for j, line in enumerate(ax.get_lines()[: len(model.lab_state.names)]):
        np.testing.assert_array_equal(line.get_ydata(), model.headcount_history[:13, j])
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == len(viz.shocks(model)) > 0
    assert ax.get_ylim()[1] >= model.headcount_history[:13, : len(model.lab_state.names)].max()
    other = viz.DashboardModel(small, seed=1)  # a reset: a chart of its own
    assert viz.headcount_figure(other) is not first


def test_a_redraw_blits_and_gives_the_pixels_of_a_full_draw(
    small: ts.Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A redraw restores the chart's frame (axes, ticks, legend, shock lines) and draws only
    # what changes over it; the picture must be the one a full draw of the same figure gives,
    # pixel for pixel, and the frame must be drawn again only when it changes.
    model = viz.DashboardModel(small, seed=1)
    charts = {
        "headcount": (lambda: viz.headcount_png(model), lambda: viz.headcount_figure(model)),
        "flows": (lambda: viz.flows_png(model, 13), lambda: viz.flows_figure(model, 13)),
    }
    frames = dict.fromkeys(charts, 0)
    for name, (_, figure) in charts.items():
        canvas = figure().canvas

        def counted(name: str = name, draw: Any = canvas.draw) -> None:
            frames[name] += 1
            draw()

        monkeypatch.setattr(canvas, "draw", counted)
    steps = 30
    for _ in range(steps):
        model.step()
        for name, (png, figure) in charts.items():
            shown = np.asarray(PIL.Image.open(io.BytesIO(png())).convert("RGB"))
            if model.steps % 5 == 0 or model.steps < 3:
                fig = figure()
                FigureCanvasAgg.draw(fig.canvas)  # a full draw (not counted), no rc_context
                full = np.asarray(fig.canvas.buffer_rgba())[..., :3]
                np.testing.assert_array_equal(shown, full, err_msg=f"{name}, {model.steps}")
    assert viz.shocks(model)  # (new shock lines: a new frame)
    # headcount: the first frame, one per step with new shocks, one each time the top moves
    # up a notch (9 here); all other redraws are blits
    assert 1 < frames["headcount"] <= steps // 2, frames
    assert frames["flows"] == 1  # (its frame never changes)
    # A figure saved at another resolution leaves the next picture as it was.
    before = viz.flows_png(model, 13)
    viz.flows_figure(model, 13).savefig(io.BytesIO(), dpi=50)
    assert viz.flows_png(model, 13) == before


def test_the_feed_reads_only_the_recent_steps_and_shows_the_same(small: ts.Scenario) -> None:
    model = viz.DashboardModel(small, seed=1)
    for _ in range(40):
        model.step()
        full = viz.event_feed(model)
        for limit in (1, 5, 60):
            assert viz.event_feed(model, limit=limit) == full[:limit]


def test_dashboard_inputs_are_read_as_elsewhere_or_refused(small: ts.Scenario) -> None:
    # flow_window: a duration with units, as every other duration (it raised a TypeError)
    assert viz._prepare(small, 1, None, "8w")[3] == 8  # weekly steps
    assert viz._prepare(small, 1, None, 0.25)[3] == 13
    for bad in (-1, 0, "abc", float("nan")):
        with pytest.raises(ts.ScenarioError, match="flow_window: "):
            viz._prepare(small, 1, None, bad)
    # a single path as a string (each letter was read as a path: "no key 'l'")
    with pytest.raises(ts.ScenarioError, match=r"expected a list of dotted paths.*write \["):
        viz.dashboard(small, parameters="labs.A.pay_level")
