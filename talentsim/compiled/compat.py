"""The Numba internals talentsim uses, each behind a plain fallback.

Everything here that is not Numba's public API is reached only through this module, and each
piece has a fallback used when the private API is missing (a Numba release that changed it):

- :data:`helper`: the decorator of small functions called from hot loops, compiled without
  Numba's reference counting (``_nrt=False``, so a helper that reads arrays in branches pays no
  atomic reference count) and inlined by LLVM (``forceinline``); fallback: Numba's own
  ``inline="always"``, which gives the same results, slower.
- :func:`prefetch`: LLVM's ``prefetch`` intrinsic, a hint that changes no value; fallback: a
  function that does nothing.
- :func:`compile_keyed`: a disk cache whose index key includes a fingerprint of the utility
  terms compiled in (Numba's key covers only the function's own bytecode); fallback: no disk
  cache for that function (it compiles in each new process).
- :func:`is_cached`: whether a function's compiled code is in Numba's disk cache; fallback:
  True (do not guess).

``TALENTSIM_NUMBA_FALLBACK=1`` in the environment forces every fallback (the test suite runs
the model that way once, to prove the fallbacks give the same results).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numba

FORCE_FALLBACK = os.environ.get("TALENTSIM_NUMBA_FALLBACK", "") not in ("", "0")
"""Whether the plain fallbacks are forced (``TALENTSIM_NUMBA_FALLBACK=1``)."""


def quiet_numba_warnings() -> None:
    """Hide Numba's warning that first-class function types are experimental.

    Calling the utility terms from a tuple of compiled functions (literal_unroll) is typed
    through Numba's first-class function types, which warn that they are experimental; the
    calls are resolved at compile time and inlined, so the warning says nothing to a user.
    Numba wraps the message in terminal escape codes, so the filter matches past them.
    Installed when this module is imported.
    """
    try:
        from numba.core.errors import NumbaExperimentalFeatureWarning
    except ImportError:  # pragma: no cover - a Numba without the class
        return
    warnings.filterwarnings(
        "ignore",
        category=NumbaExperimentalFeatureWarning,
        message=r".*First-class function type feature is experimental",
    )


quiet_numba_warnings()


def _helper_options() -> dict[str, Any]:
    if not FORCE_FALLBACK:
        try:
            numba.njit(_nrt=False, forceinline=True)  # type: ignore[call-overload]
            return {"_nrt": False, "forceinline": True}
        except (TypeError, KeyError):  # pragma: no cover - options gone from Numba
            pass
    return {"inline": "always"}


HELPER_OPTIONS: dict[str, Any] = _helper_options()
"""Numba options of the small compiled functions that hot loops call."""

helper: Callable[..., Any] = numba.njit(cache=True, **HELPER_OPTIONS)
"""Decorator of the small compiled functions that hot loops call (see the module docstring)."""


def _make_prefetch() -> Callable[[tuple, int], None]:
    if not FORCE_FALLBACK:
        try:
            return _llvm_prefetch()
        except Exception:  # pragma: no cover - llvmlite/Numba internals changed
            pass

    @numba.njit(inline="always", cache=True)
    def prefetch(arrays: tuple, index: int) -> None:  # pragma: no cover - compiled
        """Fallback: no hint (the values are the same, the processor waits more)."""

    return prefetch


def _llvm_prefetch() -> Callable[[tuple, int], None]:
    """LLVM's ``prefetch`` for ``array[index]`` of each of a tuple of arrays (a hint only)."""
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, arrays, index):
        signature = numba.types.void(arrays, index)

        def codegen(context, builder, sig, args):
            int32, byte_pointer = ir.IntType(32), ir.IntType(8).as_pointer()
            hint = ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32])
            # (named by llvmlite: llvm.prefetch.p0, or .p0i8 with LLVM's older typed pointers)
            function = builder.module.declare_intrinsic("llvm.prefetch", [byte_pointer], hint)
            for position, array_type in enumerate(sig.args[0]):
                array = context.make_array(array_type)(
                    context, builder, builder.extract_value(args[0], position)
                )
                pointer = cgutils.get_item_pointer(
                    context,
                    builder,
                    array_type,
                    array,
                    [args[1]],
                    wraparound=False,
                    boundscheck=False,
                )
                # a read (0), kept in all cache levels (3), of data (1)
                builder.call(
                    function,
                    [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)],
                )
            return context.get_dummy_value()

        return signature, codegen

    return prefetch  # type: ignore[return-value]


prefetch: Callable[[tuple, int], None] = _make_prefetch()
"""Ask the processor to bring ``array[index]`` of each of a tuple of arrays into cache."""


def compile_keyed(function: Callable[..., Any], key: str, options: dict[str, Any]) -> Any:
    """Compile ``function`` (lazily) with a disk cache whose index key also holds ``key``.

    Used for functions compiled against one set of utility terms: Numba freezes the globals
    a function reads when it compiles it, and its cache key covers only the function's own
    bytecode, so two sets of terms would otherwise share (and confuse) one cache entry.
    Without Numba's private cache class the function is not cached on disk: it compiles in
    each new process instead. ``options`` are Numba's, or ``{"helper": True}`` for the
    options of :data:`helper`.
    """
    options = dict(HELPER_OPTIONS) if options.get("helper") else dict(options)
    cache_class = None if FORCE_FALLBACK else _keyed_cache_class(key)
    dispatcher = numba.njit(cache=cache_class is not None, **options)(function)
    if cache_class is not None:
        dispatcher._cache = cache_class(dispatcher.py_func)
    return dispatcher


def _keyed_cache_class(key: str) -> Any:
    try:
        from numba.core.caching import FunctionCache

        class _KeyedCache(FunctionCache):
            talentsim_key = key  # (what is_cached looks for in the shared index)

            def _index_key(self, sig: Any, codegen: Any) -> tuple:
                return (*super()._index_key(sig, codegen), key)

        return _KeyedCache
    except Exception:  # pragma: no cover - Numba's cache internals changed: no disk cache
        return None


def is_cached(dispatcher: Any) -> bool:
    """Whether ``dispatcher`` has compiled code in Numba's disk cache (True if unknown).

    For a function of :func:`compile_keyed`, code compiled with its own key: every set of
    utility terms shares one index file, so an entry of another set does not count.
    """
    try:
        index = dispatcher._cache._cache_file._load_index()
        key = getattr(dispatcher._cache, "talentsim_key", None)
        if key is None:
            return bool(index)
        return any(isinstance(entry, tuple) and entry[-1:] == (key,) for entry in index)
    except Exception:  # Numba's internals, not an API: do not guess
        return True
