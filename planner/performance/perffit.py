"""The pooled least-squares fit behind the table strategies' perplexity surfaces.

Per strategy, ``ln ppl = a + b u + c z + d u z + e z^2`` (`planner.performance.perfdata`
defines u, z).
The strategies are fitted jointly: each one's compute slopes (b, d) are shrunk toward a
slope shared by all (ridge on the deviations), so a strategy with few points borrows the
others' trend, and a strategy with a single data size stays solvable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.performance.perfdata import LN8 as _LN8
from planner.performance.perfdata import Observation as _Obs

__all__ = ["PooledFit"]

_NF = 5  # features per strategy: 1, u, z, u z, z^2
_SLOPES = (1, 3)  # u and u z: shrunk toward the shared slopes


def _phi(u: float, z: float) -> np.ndarray:
    return np.array([1.0, u, z, u * z, z * z])


@dataclass
class PooledFit:
    """Per-strategy log-linear surfaces sharing their compute slopes through a ridge."""

    strategies: tuple[str, ...]
    coef: dict[str, np.ndarray]
    u_range: dict[str, tuple[float, float]]
    z_range: dict[str, tuple[float, float]]
    n_obs: dict[str, int]

    @classmethod
    def fit(cls, obs: list[_Obs], *, slope_penalty: float) -> PooledFit:
        strategies = tuple(sorted({o.strategy for o in obs}))
        index = {s: i for i, s in enumerate(strategies)}
        n_s = len(strategies)
        ncol = n_s * _NF + len(_SLOPES)
        rows, ys, ws = [], [], []
        for o in obs:
            f = _phi(o.u, o.z)
            r = np.zeros(ncol)
            k = index[o.strategy]
            r[k * _NF:(k + 1) * _NF] = f
            for j, si in enumerate(_SLOPES):
                r[n_s * _NF + j] = f[si]
            rows.append(r * math.sqrt(o.w))
            ys.append(o.y * math.sqrt(o.w))
            ws.append(o.w)
        penalty = []
        for k in range(n_s):
            for si in range(_NF):
                r = np.zeros(ncol)
                # slope deviations shrink toward the shared slope; the rest only need a
                # whisper of ridge so a strategy with one data size stays solvable
                r[k * _NF + si] = math.sqrt(slope_penalty) if si in _SLOPES else 1e-4
                penalty.append(r)
        x = np.vstack(rows + penalty)
        y = np.concatenate([ys, np.zeros(len(penalty))])
        w, *_ = np.linalg.lstsq(x, y, rcond=None)
        coef = {}
        for s, k in index.items():
            c = w[k * _NF:(k + 1) * _NF].copy()
            for j, si in enumerate(_SLOPES):
                c[si] += w[n_s * _NF + j]
            coef[s] = c
        u_range, z_range, n_obs = {}, {}, {}
        for s in strategies:
            mine = [o for o in obs if o.strategy == s]
            u_range[s] = (min(o.u for o in mine), max(o.u for o in mine))
            z_range[s] = (min(o.z for o in mine), max(o.z for o in mine))
            n_obs[s] = len(mine)
        return cls(strategies, coef, u_range, z_range, n_obs)

    def value(self, strategy: str, u: float, z: float) -> tuple[float, float]:
        """(ln ppl, distance outside the fitted range in e-folds)."""
        c = self.coef[strategy]
        u_lo, u_hi = self.u_range[strategy]
        z_lo, z_hi = self.z_range[strategy]
        dist = max(0.0, u - u_hi) + max(0.0, u_lo - u)
        u_eval = min(u, u_hi)  # above the measured compute: no gain assumed
        z_c = min(max(z, z_lo), z_hi)
        y = float(_phi(u_eval, z_c) @ c)
        if z != z_c:  # outside the data sizes: continue linearly from the edge
            dydz = c[2] + c[3] * u_eval + 2 * c[4] * z_c
            y += dydz * (z - z_c)
            dist += abs(z - z_c) * _LN8
        return y, dist
