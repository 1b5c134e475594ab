"""How many distinct values (users, sessions) an experiment saw, in bounded memory.

Exact up to ``EXACT_DISTINCT`` values, then a HyperLogLog estimate (2**14 registers,
16 KiB, standard error 0.8%): a service that never resets its experiment and sees
millions of users keeps flat memory, as the latency percentiles do.
"""

from __future__ import annotations

import hashlib
import math

EXACT_DISTINCT = 50_000
_P = 14
_M = 1 << _P
_ALPHA = 0.7213 / (1 + 1.079 / _M)


def _hash64(value: str) -> int:
    # Stable across processes (unlike hash()), so estimates do not vary run to run.
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class DistinctCount:
    """The number of distinct strings added."""

    def __init__(self) -> None:
        self._exact: set[int] | None = set()
        self._registers: bytearray | None = None

    def add(self, value: str) -> None:
        hashed = _hash64(value)
        if self._exact is not None:
            self._exact.add(hashed)
            if len(self._exact) > EXACT_DISTINCT:
                self._registers = bytearray(_M)
                for one in self._exact:
                    self._register(one)
                self._exact = None
            return
        self._register(hashed)

    def _register(self, hashed: int) -> None:
        registers = self._registers
        assert registers is not None
        index = hashed >> (64 - _P)
        rest = hashed & ((1 << (64 - _P)) - 1)
        rank = (64 - _P) - rest.bit_length() + 1
        if rank > registers[index]:
            registers[index] = rank

    def __len__(self) -> int:
        if self._exact is not None:
            return len(self._exact)
        registers = self._registers
        assert registers is not None
        estimate = _ALPHA * _M * _M / sum(2.0**-r for r in registers)
        zeros = registers.count(0)
        if estimate <= 2.5 * _M and zeros:
            estimate = _M * math.log(_M / zeros)  # small-range correction
        return round(estimate)
