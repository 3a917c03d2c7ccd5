"""Golden results: refactors keep every result bit-identical.

The digests in ``tests/data/golden.json`` were recorded after each researcher's moves within a
step became exact (issue 16, uniformization: an intended change of results), from every
scenario file and a few variants that switch mechanisms off, or search effort or a living
colleague network on (the living network's cases were added later, on 5 December 2026, with
the code of the time), each with three seeds. A change meant to keep results must keep them;
a change meant to move results regenerates the file on purpose
(``python tests/test_golden.py --write``) and says so in its commit and in ``docs/``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import talentsim as ts

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden.json"
SEEDS = (0, 1, 2)
sys.path.insert(0, str(ROOT / "tests"))

from conftest import small_scenario_dict  # noqa: E402


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's column names, dtypes and values, column by column."""
    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame[name]
        digest.update(f"{name}:{column.dtype}".encode())
        if isinstance(column.dtype, pd.CategoricalDtype):
            digest.update("\0".join(map(str, column.cat.categories)).encode())
            values = column.cat.codes.to_numpy()
        else:
            values = column.to_numpy()
        if values.dtype == object:
            digest.update("\0".join(map(str, values)).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def cases() -> dict[str, ts.Scenario]:
    """Every scenario file, and the small scenario with mechanisms on and off."""
    found: dict[str, ts.Scenario] = {
        path.stem: ts.load_scenario(path) for path in sorted((ROOT / "scenarios").glob("*.toml"))
    }
    small = ts.Scenario.from_dict(small_scenario_dict())
    found["small"] = small
    found["small_daily"] = small.with_overrides({"time.step": "1d"})
    found["small_no_counter_no_peers"] = small.with_overrides(
        {"mechanisms.counter_offers": False, "mechanisms.peers": False}
    )
    found["small_pay_only"] = small.with_overrides(
        {
            f"mechanisms.{name}": False
            for name in ("mission", "stability", "attachment", "peers", "fairness", "reputation")
        }
    )
    found["small_noiseless"] = small.with_overrides({"market.noise_scale": 0.0})
    # search effort: turmoil only (candidates who would do nothing are left out of the step),
    # and with the gap of the offer to come
    found["small_search_turmoil"] = small.with_overrides({"search.turmoil_sensitivity": 0.5})
    found["small_search_gap"] = small.with_overrides(
        {"search.turmoil_sensitivity": 0.5, "search.gap_sensitivity": 1.0}
    )
    # a living colleague network (ties form and fade; off in every scenario file), small (with
    # a set-up network, which it has not) and at the flagship's size
    living = {
        "network.formation_rate": "4/year",
        "network.former_tie_half_life": "1y",
        "network.closure": 0.5,
    }
    found["small_living_network"] = small.with_overrides({**living, "network.degree": 4})
    found["msl_exodus_living_network"] = found["msl_exodus"].with_overrides(living)
    return found


def digests() -> dict[str, dict[str, str]]:
    """Digest of the timeseries, events and researchers of each case and seed."""
    out: dict[str, dict[str, str]] = {}
    for name, scenario in cases().items():
        for seed in SEEDS:
            result = ts.run(scenario, seed=seed)
            out[f"{name}/{seed}"] = {
                "timeseries": frame_digest(result.timeseries),
                "events": frame_digest(result.events),
                "researchers": frame_digest(result.researchers),
            }
    return out


def test_results_are_bit_identical_to_the_golden_record() -> None:
    recorded: dict[str, Any] = json.loads(GOLDEN.read_text())
    now = digests()
    assert set(now) == set(recorded), "cases changed: regenerate on purpose"
    changed = [
        f"{case}: {table}"
        for case, tables in recorded.items()
        for table, digest in tables.items()
        if now[case][table] != digest
    ]
    assert not changed, "results changed:\n" + "\n".join(changed)


def test_the_digest_sees_a_one_bit_change() -> None:
    frame = pd.DataFrame({"x": [0.1, 0.2], "lab": pd.Categorical(["A", "B"])})
    before = frame_digest(frame)
    frame.loc[1, "x"] = np.nextafter(0.2, 1.0)
    assert frame_digest(frame) != before


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/test_golden.py --write")
    GOLDEN.write_text(json.dumps(digests(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
