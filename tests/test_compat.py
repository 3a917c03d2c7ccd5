"""The Numba compatibility layer: the plain fallbacks give the same results.

``TALENTSIM_NUMBA_FALLBACK=1`` forces every fallback of :mod:`talentsim.compiled.compat` (no
``_nrt=False``/``forceinline``, no LLVM prefetch, no keyed disk cache): what a Numba release
without those private pieces would run. The results must be bit-identical to the golden
record, so a Numba upgrade that removes them costs speed, not correctness.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ("small/0", "msl_exodus/1")  # the compile dominates: two runs check enough

PROBE = """
import json, sys
sys.path.insert(0, "tests")
from talentsim.compiled import compat
assert compat.FORCE_FALLBACK and compat.HELPER_OPTIONS == {"inline": "always"}
import talentsim as ts
from test_golden import cases, frame_digest
found = cases()
out = {}
for case in sys.argv[1:]:
    name, seed = case.split("/")
    result = ts.run(found[name], seed=int(seed))
    tables = ("timeseries", "events", "researchers")
    out[case] = {t: frame_digest(getattr(result, t)) for t in tables}
print(json.dumps(out))
"""


@pytest.mark.slow  # the uncached compile of the whole step with every helper inlined: ~4–5
# CPU-minutes and ~5 GB since the step became uniformized (issue 16), so `make test-all`
def test_the_forced_fallbacks_give_the_golden_results() -> None:
    env = {**os.environ, "TALENTSIM_NUMBA_FALLBACK": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *CASES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    golden = json.loads((ROOT / "tests" / "data" / "golden.json").read_text())
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        case: golden[case] for case in CASES
    }


def test_without_the_fallback_the_private_pieces_are_used() -> None:
    from talentsim.compiled import compat

    if compat.FORCE_FALLBACK:
        pytest.skip("the suite itself runs with TALENTSIM_NUMBA_FALLBACK=1")
    assert compat.HELPER_OPTIONS == {"_nrt": False, "forceinline": True}
    assert type(compat.prefetch).__name__ == "_Intrinsic"


def test_numba_s_first_class_function_warning_is_not_shown() -> None:
    # Numba wraps the message in terminal escape codes; the filter must match it as raised
    import warnings

    from numba.core.errors import NumbaExperimentalFeatureWarning

    from talentsim.compiled import compat

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat.quiet_numba_warnings()  # (as on import: pytest resets filters between tests)
        warnings.warn(
            NumbaExperimentalFeatureWarning("First-class function type feature is experimental"),
            stacklevel=1,
        )
        warnings.warn(NumbaExperimentalFeatureWarning("another feature"), stacklevel=1)
    assert [str(w.message) for w in caught] == [
        str(NumbaExperimentalFeatureWarning("another feature"))
    ]
