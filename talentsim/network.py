"""Colleague ties: a sparse, undirected network among researchers.

Ties are generated once, at set-up: a random graph inside each starting lab (mean degree
``network.degree``) plus, for cohorts with a ``previous_lab``, ties to people who work there
(``former_colleague_ties`` per researcher: the people they worked with before). Ties are kept
when people move, so a colleague who leaves for another lab makes that lab pull (turnover
contagion) and makes staying less attractive. A reorganisation breaks a share of the ties
inside the lab. Researchers who enter the field later start without ties.

The adjacency is a symmetric ``scipy.sparse.csr_array`` of 0/1 entries over the researchers
present at set-up. The peer term of researcher ``i`` at place ``j`` is the share of ``i``'s
ties (to people still in the field) who are at ``j`` now.

References:
    Felps, W., Mitchell, T. R., Hekman, D. R., Lee, T. W., Holtom, B. C. & Harman, W. S.
    (2009). Turnover contagion. *Academy of Management Journal* 52(3), 545–561.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from talentsim import compiled
from talentsim.hashing import uniform_hash


class ColleagueNetwork:
    """Undirected colleague ties over the first ``size`` researcher rows.

    Attributes:
        adjacency: Symmetric ``csr_array`` (size × size) with 1 where two researchers are tied.
    """

    def __init__(self, adjacency: sparse.csr_array) -> None:
        self.adjacency = adjacency
        self._location: np.ndarray | None = None
        self._row_lengths: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Researcher rows the network covers (those present at set-up)."""
        return int(self.adjacency.shape[0])

    @property
    def n_ties(self) -> int:
        """Number of undirected ties."""
        return int(self.adjacency.nnz // 2)

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
            degree: Mean number of in-lab ties per researcher.
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
        if fraction <= 0 or self.adjacency.nnz == 0:
            return 0
        here = location[: self.size]
        members = np.flatnonzero(here == lab)
        owner, position = self._entries_of(members)
        neighbour = self.adjacency.indices[position]
        inside = here[neighbour] == lab
        owner, position, neighbour = owner[inside], position[inside], neighbour[inside]
        key = np.uint64(rng.integers(0, 2**63))
        low = np.minimum(owner, neighbour).astype(np.uint64)
        high = np.maximum(owner, neighbour).astype(np.uint64)
        broken = uniform_hash(low * np.uint64(self.size) + high, key) < fraction
        if not broken.any():
            return 0
        adjacency = self.adjacency
        adjacency.data[position[broken]] = 0.0
        adjacency.eliminate_zeros()
        self._row_lengths = None
        return int(broken.sum() // 2)

    def _entries_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the given rows: each stored entry's row and its position in the CSR arrays."""
        starts = self.adjacency.indptr[rows]
        lengths = self._lengths()[rows]
        owner = np.repeat(rows, lengths)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        position = np.arange(owner.shape[0]) + offsets
        return owner, position

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """The ties as CSR arrays ``(indptr, indices)``.

        Row i's colleagues are ``indices[indptr[i]:indptr[i + 1]]``.
        """
        return self.adjacency.indptr, self.adjacency.indices

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

    def _lengths(self) -> np.ndarray:
        if self._row_lengths is None:
            self._row_lengths = np.diff(self.adjacency.indptr)
        return self._row_lengths

    def degrees(self) -> np.ndarray:
        """Number of ties of each covered researcher (including to people who left the field)."""
        return np.asarray(self.adjacency.sum(axis=1)).ravel()


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
