"""Colleague ties: a sparse, undirected network among researchers.

Ties are drawn at set-up: a random graph inside each starting lab (mean degree
``network.degree``) plus, for cohorts with a ``previous_lab``, ties to people who work there
(``former_colleague_ties`` per researcher: the people they worked with before). Ties are kept
when people move, so a colleague who leaves for another lab makes that lab pull (turnover
contagion) and makes staying less attractive. A reorganisation breaks a share of the ties
inside the lab.

The network can live (``network.formation_rate`` > 0 and ``network.former_tie_half_life``;
both off by default, which keeps the set-up network for the whole run): at the end of each
step (:meth:`ColleagueNetwork.upkeep`) former-colleague ties fade, and researchers at a lab
who miss ties (fewer ties to lab-mates than their target, ``network.degree`` on average)
form new ones, with friends of friends (triadic closure) or lab-mates met at random. With
formation on, the set-up in-lab ties are drawn by the same rule (filled to the target,
:meth:`ColleagueNetwork.settle`) rather than as a random graph, and the network grows to
cover researchers who enter later.

The ties are CSR arrays with room (``indptr``, ``indices``, ``count``): row ``i``'s
colleagues are the first ``count[i]`` entries of ``indices[indptr[i]:indptr[i + 1]]``, the
rest is room (-1) for ties to come; the compiled step reads them as a CSR (it stops at the
first -1). Rows have room for ``2·ceil(degree) + 2`` ties (a lab's worth of colleagues and
as many former colleagues; more if drawn so at set-up); a researcher whose row is full
drops their oldest former-colleague tie to make a new colleague tie. The rows grow with the
population by a quarter at a time, so rebuilds are rare.

An update of a living network costs in proportion to what changed, not to the network: it
re-reads only the rows whose ties may have changed status since the last update (those who
moved and their ties, rows whose ties a reorganisation broke, rows with a former-colleague
tie due to fade); a former-colleague tie's fading is drawn once, as a due update, when it
becomes former (``due``, parallel to ``indices``); each row's ties to lab-mates are kept
between updates; and formation visits only the researchers who miss ties.

The peer term of researcher ``i`` at place ``j`` is the share of ``i``'s ties (to people
still in the field) who are at ``j`` now.

References:
    Felps, W., Mitchell, T. R., Hekman, D. R., Lee, T. W., Holtom, B. C. & Harman, W. S.
    (2009). Turnover contagion. *Academy of Management Journal* 52(3), 545–561.
    Jackson, M. O. & Rogers, B. W. (2007). Meeting strangers and friends of friends: how
    random are social networks? *American Economic Review* 97(3), 890–915.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from talentsim import compiled
from talentsim.compiled import ties as compiled_ties
from talentsim.hashing import derive_key, key_offset, uniform_hash

_UNSEEN = np.iinfo(np.int32).min  # the last-seen place of a row no update has read yet

ROOM = 2
"""Room in each row beyond twice the largest target degree (see :attr:`Formation.width`)."""


@dataclass(frozen=True)
class Formation:
    """How ties form and fade during a run (probabilities per update of the network).

    Attributes:
        degree: Mean target number of ties to lab-mates (each researcher's own target is
            ``floor(degree)`` or one more, with the fractional part as probability).
        p_propose: Probability per update and missing tie that a researcher proposes a tie:
            ``1 − exp(−r·dt/2)`` for a formation rate ``r`` and updates ``dt`` apart. In a
            lab whose members all miss ties a missing tie is filled by its owner's proposal
            or by a lab-mate's, so the lab's deficit shrinks by ``(1 − q)² = exp(−r·dt)`` per
            update; a newcomer to a lab whose members miss no ties fills its own as
            ``exp(−r·t/2)`` (faster where some do: they seek the newcomer first).
        closure: Share of proposals to a friend of a friend (else a lab-mate at random).
        p_fade: Probability per update that a former-colleague tie is dropped,
            ``1 − 2^(−dt/half_life)`` (0: they last).
        key: The run's key of the network's hashed draws (each researcher's target uses it
            for the whole run; each step's draws use keys derived from it and the step).
    """

    degree: float
    p_propose: float
    closure: float
    p_fade: float
    key: int

    @classmethod
    def per_step(
        cls,
        degree: float,
        rate: float,
        closure: float,
        half_life: float | None,
        dt: float,
        key: int,
    ) -> Formation:
        """From the scenario's yearly rate and half-life, for updates ``dt`` years apart."""
        p_fade = 0.0 if half_life is None else -math.expm1(-math.log(2) * dt / half_life)
        return cls(degree, -math.expm1(-rate * dt / 2), closure, p_fade, key)

    @property
    def width(self) -> int:
        """Ties a row has room for: twice the most a researcher can miss, plus ``ROOM``.

        Room for a full set of colleagues at the current lab and as many former colleagues;
        beyond it, a new colleague tie displaces the oldest former-colleague tie.
        """
        return 2 * math.ceil(self.degree) + ROOM

    @property
    def forms(self) -> bool:
        """Whether ties form at all."""
        return self.p_propose > 0 and self.degree > 0

    def offsets(self, step: int) -> np.ndarray:
        """Hash offsets of a step's draws: proposals, partners, fading."""
        salts = (derive_key(self.key, 4 * step + purpose) for purpose in (1, 2, 3))
        return np.array([key_offset(salt) for salt in salts], dtype=np.uint64)

    def targets(self, rows: int) -> np.ndarray:
        """Each row's own target: ``floor(degree)``, plus one with the fractional part's odds.

        A hash of the row under the run's key: the same for a row whatever else happens.
        """
        whole = math.floor(self.degree)
        extra = uniform_hash(np.arange(rows, dtype=np.uint64), self.key) < self.degree - whole
        return (whole + extra).astype(np.int32)


class ColleagueNetwork:
    """Undirected colleague ties over researcher rows (see the module docstring).

    Attributes:
        indptr: Where each row starts in ``indices`` (``size + 1`` entries).
        indices: The tied rows, each row's ties first, then -1 (room).
        count: The number of ties of each row.
    """

    def __init__(self, adjacency: sparse.csr_array) -> None:
        self.indptr = adjacency.indptr.astype(np.int32)
        self.indices = adjacency.indices.astype(np.int32)
        self.count = np.diff(self.indptr).astype(np.int32)
        self._key_size = int(adjacency.shape[0])  # the tie-break hash's pair numbering
        self._location: np.ndarray | None = None
        self._in_lab = np.zeros(0, dtype=np.int32)
        self._width = 0  # the room rows were last given by :meth:`cover` (0: as drawn)
        self._target = np.zeros(0, dtype=np.int32)  # each row's target number of lab-mates
        # a living network's bookkeeping, so that an update reads only the rows whose ties
        # may have changed (see :meth:`upkeep`); allocated by the first update
        self._due = np.zeros(0, dtype=np.int32)  # each tie entry's due update (NEVER: none)
        self._seen = np.zeros(0, dtype=np.int32)  # each row's place at the last update
        self._stale = np.zeros(self.size, dtype=np.bool_)  # rows with ties broken since
        self._row_due = np.zeros(0, dtype=np.int32)  # each row's earliest due update
        self._updates = 0  # updates done (the clock of the due dates)
        self._p_fade: float | None = None  # the fading rule the due dates were drawn under

    @property
    def size(self) -> int:
        """Researcher rows the network covers (those present at set-up, or more if grown)."""
        return int(self.indptr.shape[0] - 1)

    @property
    def nbytes(self) -> int:
        """Bytes held by the ties and a living network's bookkeeping."""
        arrays = (self.indptr, self.indices, self.count, self._due, self._seen, self._stale)
        return sum(a.nbytes for a in (*arrays, self._row_due, self._in_lab, self._target))

    @property
    def n_ties(self) -> int:
        """Number of undirected ties."""
        return int(self.count.sum() // 2)

    @property
    def adjacency(self) -> sparse.csr_array:
        """The ties as a symmetric 0/1 ``csr_array`` (size × size), built on each access."""
        owner, position = self._entries(np.arange(self.size))
        return _symmetric(owner, self.indices[position].astype(np.int64), self.size)

    @classmethod
    def generate(
        cls,
        location: np.ndarray,
        degree: float,
        former_ties: np.ndarray,
        former_lab: np.ndarray,
        n_labs: int,
        rng: np.random.Generator,
    ) -> ColleagueNetwork:
        """Draw the set-up network.

        Args:
            location: Starting place of each researcher (labs ``0..n_labs-1``; others ignored).
            degree: Mean number of in-lab ties per researcher, as a random graph (pass 0 and
                call :meth:`settle` to draw them by the formation rule instead).
            former_ties: Ties each researcher has with staff of ``former_lab``.
            former_lab: Former lab of each researcher (negative for none).
            n_labs: Number of labs.
            rng: Random stream for the network.
        """
        size = location.shape[0]
        heads: list[np.ndarray] = []
        tails: list[np.ndarray] = []
        members_of = [np.flatnonzero(location == j) for j in range(n_labs)]
        for members in members_of:
            m = members.shape[0]
            n_edges = round(m * degree / 2)
            if m < 2 or n_edges == 0:
                continue
            a = rng.integers(0, m, n_edges)
            b = rng.integers(0, m - 1, n_edges)
            b += b >= a  # never a tie to oneself
            heads.append(members[a])
            tails.append(members[b])
        wants = np.flatnonzero((former_ties > 0) & (former_lab >= 0))
        for lab in np.unique(former_lab[wants]):
            staff = members_of[lab]
            people = wants[former_lab[wants] == lab]
            if staff.shape[0] == 0 or people.shape[0] == 0:
                continue
            counts = former_ties[people]
            heads.append(np.repeat(people, counts))
            tails.append(staff[rng.integers(0, staff.shape[0], int(counts.sum()))])
        if heads:
            head, tail = np.concatenate(heads), np.concatenate(tails)
        else:
            head = tail = np.zeros(0, dtype=np.int64)
        return cls(_symmetric(head, tail, size))

    def break_ties(
        self, location: np.ndarray, lab: int, fraction: float, rng: np.random.Generator
    ) -> int:
        """Break each tie between two researchers now at ``lab`` with probability ``fraction``.

        Works on the rows of the lab's members only: the decision for a tie is a hash of the
        pair and of one key drawn from ``rng``, so both directions of a tie break together.

        Returns:
            The number of ties broken.
        """
        if fraction <= 0 or not self.count.any():
            return 0
        here = location[: self.size]
        members = np.flatnonzero(here == lab)
        owner, position = self._entries(members)
        neighbour = self.indices[position]
        inside = here[neighbour] == lab
        owner, position, neighbour = owner[inside], position[inside], neighbour[inside]
        key = np.uint64(rng.integers(0, 2**63))
        low = np.minimum(owner, neighbour).astype(np.uint64)
        high = np.maximum(owner, neighbour).astype(np.uint64)
        broken = uniform_hash(low * np.uint64(self._key_size) + high, key) < fraction
        if not broken.any():
            return 0
        self.indices[position[broken]] = -1
        rows = np.unique(owner[broken])
        self._pack(rows)
        self._stale[rows] = True  # their ties to lab-mates changed: re-read at the next update
        return int(broken.sum() // 2)

    def _pack(self, rows: np.ndarray) -> None:
        """Move the ties left in ``rows`` (sorted) to the front of their rows, room after."""
        owner, position = self._entries(rows)
        values = self.indices[position]
        keep = values >= 0
        self.indices[position] = -1
        self.count[rows] = np.bincount(np.searchsorted(rows, owner[keep]), minlength=rows.size)
        packed = self._entries(rows)[1]
        self.indices[packed] = values[keep]
        if self._due.shape[0]:  # a living network's due dates move with their ties
            due = self._due[position]
            self._due[position] = compiled_ties.NEVER
            self._due[packed] = due[keep]

    def _entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the given rows: each tie entry's row and its position in ``indices``."""
        starts = self.indptr[rows].astype(np.int64)
        lengths = self.count[rows].astype(np.int64)
        owner = np.repeat(rows, lengths)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        position = np.arange(owner.shape[0]) + offsets
        return owner, position

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """The ties as CSR arrays ``(indptr, indices)`` whose rows end at their first -1.

        Row i's colleagues are ``indices[indptr[i]:indptr[i] + count[i]]``.
        """
        return self.indptr, self.indices

    def neighbours(self, row: int) -> np.ndarray:
        """The rows tied to ``row``, sorted (empty beyond the rows the network covers)."""
        if row >= self.size:
            return np.zeros(0, dtype=np.int32)
        start = self.indptr[row]
        return np.sort(self.indices[start : start + self.count[row]])

    def set_locations(self, location: np.ndarray) -> None:
        """Take the locations that shares are computed from (those at the start of a step)."""
        self._location = location[: self.size]

    def share(self, rows: np.ndarray, place: np.ndarray) -> np.ndarray:
        """Share of each researcher's ties (to people still in the field) who are at ``place``.

        Computed from the rows' own ties only (cost in proportion to their number), with the
        locations given to the last :meth:`set_locations`; 0 for researchers without ties.
        """
        return self.shares(rows, place, place)[0]

    def shares(
        self, rows: np.ndarray, first: np.ndarray, second: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`share` at two places per row at once (the ties are read once)."""
        if self._location is None:
            return np.zeros(rows.shape[0]), np.zeros(rows.shape[0])
        return compiled.tie_shares(
            *self.csr(),
            self._location,
            np.asarray(rows, dtype=np.int64),
            np.asarray(first, dtype=np.int64),
            np.asarray(second, dtype=np.int64),
        )

    def degrees(self) -> np.ndarray:
        """Number of ties of each covered researcher (including to people who left the field)."""
        return self.count.astype(np.int64)

    def in_lab_degrees(self, location: np.ndarray, n_labs: int) -> np.ndarray:
        """Each covered researcher's ties to people at the same lab now (0 outside labs)."""
        rows = np.arange(min(self.size, location.shape[0]))
        owner, position = self._entries(rows)
        here = location[owner]
        mates = (here == location[self.indices[position]]) & (here >= 0) & (here < n_labs)
        return np.bincount(owner[mates], minlength=rows.shape[0])

    # ----------------------------------------------------------------------------------------
    # A living network
    # ----------------------------------------------------------------------------------------

    def cover(self, rows: int, width: int) -> None:
        """Rebuild the arrays: at least ``rows`` rows, each with room for ``width`` ties.

        Rows keep their ties (and their old room, if larger); new rows are empty.
        """
        old = self.size
        capacity = np.full(max(rows, old), width, dtype=np.int64)
        capacity[:old] = np.maximum(np.diff(self.indptr), width)
        indptr = np.zeros(capacity.shape[0] + 1, dtype=np.int64)
        np.cumsum(capacity, out=indptr[1:])
        if indptr[-1] > np.iinfo(np.int32).max:
            raise MemoryError(f"a colleague network with {indptr[-1]} entries is too large")
        indices = np.full(int(indptr[-1]), -1, dtype=np.int32)
        owner, position = self._entries(np.arange(old))
        moved = position - self.indptr[owner] + indptr[owner]
        indices[moved] = self.indices[position]
        due = np.full(int(indptr[-1]), compiled_ties.NEVER, dtype=np.int32)
        if self._due.shape[0]:
            due[moved] = self._due[position]
        count = np.zeros(capacity.shape[0], dtype=np.int32)
        count[:old] = self.count
        self.indptr, self.indices, self.count = indptr.astype(np.int32), indices, count
        self._due = due
        self._width = width
        self._grow_rows()

    def _grow_rows(self) -> None:
        """Extend the per-row bookkeeping to :attr:`size` rows (new rows: not seen yet)."""
        size, old = self.size, self._seen.shape[0]
        if old == size:
            return
        self._seen = np.concatenate([self._seen, np.full(size - old, _UNSEEN, np.int32)])
        self._stale = np.concatenate([self._stale, np.zeros(size - self._stale.shape[0], bool)])
        self._row_due = np.concatenate(
            [self._row_due, np.full(size - old, compiled_ties.NEVER, np.int32)]
        )
        self._in_lab = np.concatenate([self._in_lab, np.zeros(size - old, np.int32)])

    def upkeep(
        self,
        location: np.ndarray,
        n_labs: int,
        formation: Formation,
        step: int,
        lenient: bool = True,
    ) -> int:
        """One update of a living network: former-colleague ties fade, then new ties form.

        Ties to researchers who retired are dropped (they count for nothing already). Reads
        only the rows whose ties may have changed since the last update (see the module
        docstring and :func:`talentsim.compiled.ties.dirty_rows`); a new fading rule (another
        ``p_fade`` than the last update's) reads every row again.

        Args:
            location: Each researcher's place now (the population's ``location``).
            n_labs: Number of labs (places ``0..n_labs-1``; the rest is the outside pool).
            formation: The rule, per step.
            step: The step number (the draws' salt).
            lenient: Whether a proposer who finds no lab-mate missing ties may tie to one who
                does not (see :func:`talentsim.compiled.ties.form_ties`).

        Returns:
            The number of ties formed.
        """
        width = formation.width
        if formation.forms and (location.shape[0] > self.size or self._width != width):
            # cover the entrants, and the next ones: rebuilt at a low cadence (by a quarter)
            grown = location.shape[0] > self.size
            rows = max(location.shape[0], self.size + self.size // 4)
            self.cover(rows if grown else self.size, width)
        if self._due.shape[0] != self.indices.shape[0]:  # the first update: no due dates yet
            self._due = np.full(self.indices.shape[0], compiled_ties.NEVER, dtype=np.int32)
        self._grow_rows()
        if self._target.shape[0] != self.size:
            self._target = formation.targets(self.size)
        if formation.p_fade != self._p_fade:  # a new fading rule: every tie is read again
            self._p_fade = formation.p_fade
            self._due[:] = compiled_ties.NEVER
            self._stale[:] = True
        offsets = formation.offsets(step)
        update = self._updates
        self._updates += 1
        rows = compiled_ties.dirty_rows(
            self.indptr,
            self.indices,
            self.count,
            location,
            self._seen,
            self._stale,
            self._row_due,
            update,
        )
        compiled_ties.refresh(
            self.indptr,
            self.indices,
            self.count,
            self._due,
            location,
            n_labs,
            rows,
            update,
            formation.p_fade,
            offsets[2],
            self._in_lab,
            self._row_due,
        )
        if not formation.forms:
            return 0
        return int(
            compiled_ties.form_ties(
                self.indptr,
                self.indices,
                self.count,
                self._due,
                location,
                n_labs,
                self._in_lab,
                self._target,
                formation.p_propose,
                formation.closure,
                offsets[:2],
                lenient,
            )
        )

    def settle(self, location: np.ndarray, n_labs: int, formation: Formation) -> int:
        """Fill every researcher's missing in-lab ties by the formation rule (at set-up).

        Rounds in which every missing tie is proposed, to lab-mates who miss ties too, until a
        round forms no tie; former ties do not fade meanwhile.

        Returns:
            The number of ties formed.
        """
        eager = Formation(formation.degree, 1.0, formation.closure, 0.0, formation.key)
        formed, step = 0, -1
        while True:
            new = self.upkeep(location, n_labs, eager, step, lenient=False)
            formed += new
            step -= 1
            if new == 0:
                return formed


def _symmetric(head: np.ndarray, tail: np.ndarray, size: int) -> sparse.csr_array:
    """A symmetric 0/1 adjacency from undirected pairs (duplicates merged, no self-ties)."""
    keep = head != tail
    rows = np.concatenate([head[keep], tail[keep]])
    cols = np.concatenate([tail[keep], head[keep]])
    matrix = sparse.csr_array(
        (np.ones(rows.shape[0], dtype=np.float64), (rows, cols)), shape=(size, size)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
