"""Compiled K-Means kernels (Numba): scale, nearest centroid and per-centroid totals in one pass.

The arithmetic is :mod:`custseg.engines.kernels`' reference, operation for operation, so both
give the same bits (``tests/test_kernels.py`` checks it): a row is scaled as
``(x - mean) / scale`` (a true IEEE division); its distance to centroid ``c`` is
``norms[c] - 2 * z·c`` with the dot product added feature by feature, first feature first; the
nearest centroid is the first of the smallest; the squared distance is that plus ``z·z`` (added
the same way), floored at 0; within a block, a centroid's sums and the block's inertia are added
row by row, in row order. Numba does not contract ``a * b + c`` into a fused multiply-add unless
asked (``fastmath``, never set here), so no step rounds differently; a division gives the same
quotient in a SIMD lane as alone.

How the pass is laid out (rows are taken :data:`SUB_ROWS` at a time, a *tile*; tiles never
straddle blocks):

- a tile's scaled features are stored feature by feature (``Z[j, r]``), so the distance loops
  over its rows run in SIMD lanes (:func:`_nearest`; centroids four at a time, the best
  distance and label kept in registers between them);
- the per-centroid sums and the inertia are then added row by row, in row order
  (:func:`_add_rows`), a loop bound by the latency of those additions; the divisions of the
  *next* tile run in that same loop (:func:`_add_rows_scaling`: one SIMD subtraction and
  division per row, :func:`_scaled_row`), so the divider works while the additions wait, and
  the rows a few tiles ahead are fetched from memory meanwhile (:func:`_prefetch`).

The scaler comes as tuples (:func:`custseg.engines.kernels.assign_rows`,
:meth:`custseg.engines.kernels.PassAccumulator.add_blocks`), so the number of features is a
constant of the compiled code: one compilation per number of features, each cached on disk.
Blocks (:data:`custseg.engines.kernels.BLOCK_ROWS` rows) are independent, so
:func:`pass_blocks` can run ranges of blocks in threads (the kernels release the GIL) and the
caller adds the block totals in block order: the same bits with any number of threads.

This module imports Numba; :func:`custseg.engines.kernels.fused_kernels` imports it only for
passes large enough to repay Numba's start-up (compiled code is cached on disk after the first
run).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

#: Rows scaled and compared at a time (their scaled features stay in the L1 cache).
SUB_ROWS = 256
#: Rows ahead of the ones being scaled whose memory is asked for (two tiles).
AHEAD_ROWS = 2 * SUB_ROWS
#: Compiled once per number of features (``mean`` and ``scale`` come as tuples) and cached on
#: disk. ``error_model="numpy"``: no check for a zero divisor (a scale is never 0), which would
#: keep the divisions from running in SIMD lanes; the quotients are the same IEEE ones.
_OPTIONS = {"nogil": True, "cache": True, "boundscheck": False, "error_model": "numpy"}


@intrinsic
def _scaled_row(typingctx, x, offset, mean, scale):
    """``((x[offset + j] - mean[j]) / scale[j] for j < d)``: one SIMD subtraction and one SIMD
    division over a row's ``d`` values (``x`` a flat float64 array, ``mean`` and ``scale`` tuples
    of ``d`` floats; no index check, no wrap-around). Plain IEEE ``fsub`` and ``fdiv``, no
    fast-math flag: each lane's result is the scalar one."""
    d = mean.count
    sig = types.UniTuple(types.float64, d)(x, offset, mean, scale)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        index = ir.IntType(32)
        vector = ir.VectorType(ir.DoubleType(), d)
        pointer = builder.bitcast(builder.gep(array.data, [args[1]], inbounds=True),
                                  vector.as_pointer())
        values = builder.load(pointer, align=8)
        means = ir.Constant(vector, None)
        scales = ir.Constant(vector, None)
        for j in range(d):
            means = builder.insert_element(means, builder.extract_value(args[2], j), index(j))
            scales = builder.insert_element(scales, builder.extract_value(args[3], j), index(j))
        quotients = builder.fdiv(builder.fsub(values, means), scales)
        return context.make_tuple(builder, signature.return_type,
                                  [builder.extract_element(quotients, index(j)) for j in range(d)])

    return sig, codegen


@intrinsic
def _prefetch(typingctx, x, offset):
    """Ask for the cache line holding ``x[offset]`` (a hint: no result, no fault)."""
    sig = types.void(x, offset)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        flag = ir.IntType(32)
        pointer = builder.bitcast(builder.gep(array.data, [args[1]]), ir.IntType(8).as_pointer())
        function = cgutils.get_or_insert_function(  # "p0i8" with typed pointers, "p0" without
            builder.module, ir.FunctionType(ir.VoidType(), [pointer.type, flag, flag, flag]),
            "llvm.prefetch." + pointer.type.intrinsic_name)
        builder.call(function, [pointer, flag(0), flag(3), flag(1)])  # read, keep, data
        return context.get_dummy_value()

    return sig, codegen


@njit(**_OPTIONS)
def _scale_rows(Xf, i0, m, mean, scale, Z, r0, ahead):
    """Scale rows ``i0 .. i0 + m - 1`` of ``X`` (``Xf``: ``X`` flat) into ``Z[:, r0:r0 + m]``,
    asking for the memory from value ``ahead`` on meanwhile."""
    d = len(mean)  # a tuple's length: a constant of the compiled code, so the loops over j unroll
    for r in range(m):
        q = _scaled_row(Xf, (i0 + r) * d, mean, scale)
        for j in range(d):
            Z[j, r0 + r] = q[j]
        _prefetch(Xf, ahead + r * d)


@njit(**_OPTIONS)
def _step(Z, r, d, centers, c, nc, bd, bi):
    """Row ``r`` against centroid ``c``: the nearer of (``bd``, ``bi``) and (its distance, c)."""
    dot = Z[0, r] * centers[c, 0]
    for j in range(1, d):
        dot = dot + Z[j, r] * centers[c, j]
    dist = nc - 2.0 * dot
    nearer = dist < bd
    return (dist if nearer else bd), (c if nearer else bi)


@njit(**_OPTIONS)
def _squared(Z, r, d, bd):
    """Row ``r``'s squared distance to its centroid, from ``bd = norms[c] - 2 z·c``."""
    zz = Z[0, r] * Z[0, r]
    for j in range(1, d):
        zz = zz + Z[j, r] * Z[j, r]
    s = bd + zz
    return s if s > 0.0 else 0.0


@njit(**_OPTIONS)
def _nearest(Z, m, mean, centers, norms, best, bestd, sq, with_sq):
    """Nearest centroid (``best``, first of the smallest) of the ``m`` scaled rows in ``Z``,
    ``norms[c] - 2 z·c`` to it (``bestd``) and, with ``with_sq``, the squared distance
    (``sq``). Centroids are compared in order, four at a time: in each loop over the rows the
    best so far stays in registers and the rows run in SIMD lanes."""
    d = len(mean)
    k = centers.shape[0]
    if k >= 4:
        n0, n1, n2, n3 = norms[0], norms[1], norms[2], norms[3]
        for r in range(m):
            bd, bi = _step(Z, r, d, centers, 0, n0, np.inf, 0)
            bd, bi = _step(Z, r, d, centers, 1, n1, bd, bi)
            bd, bi = _step(Z, r, d, centers, 2, n2, bd, bi)
            bd, bi = _step(Z, r, d, centers, 3, n3, bd, bi)
            bestd[r] = bd
            best[r] = bi
        c = 4
    else:
        n0 = norms[0]
        for r in range(m):
            bd, bi = _step(Z, r, d, centers, 0, n0, np.inf, 0)
            bestd[r] = bd
            best[r] = bi
        c = 1
    while c + 4 <= k:
        n0, n1, n2, n3 = norms[c], norms[c + 1], norms[c + 2], norms[c + 3]
        for r in range(m):
            bd, bi = _step(Z, r, d, centers, c, n0, bestd[r], best[r])
            bd, bi = _step(Z, r, d, centers, c + 1, n1, bd, bi)
            bd, bi = _step(Z, r, d, centers, c + 2, n2, bd, bi)
            bd, bi = _step(Z, r, d, centers, c + 3, n3, bd, bi)
            bestd[r] = bd
            best[r] = bi
        c += 4
    while c < k:
        n0 = norms[c]
        for r in range(m):
            bd, bi = _step(Z, r, d, centers, c, n0, bestd[r], best[r])
            bestd[r] = bd
            best[r] = bi
        c += 1
    if with_sq:
        for r in range(m):
            sq[r] = _squared(Z, r, d, bestd[r])


@njit(**_OPTIONS)
def _add_rows(Z, r0, m, mean, best, sq, S, N, total):
    """Add rows ``r0 .. m - 1`` of ``Z`` to their centroid's sums ``S`` and count ``N``, and
    their ``sq`` to ``total``, row by row; the new total."""
    d = len(mean)
    for r in range(r0, m):
        c = np.uint64(best[r])  # an unsigned index: no wrap-around test
        N[c] += 1
        for j in range(d):
            S[c, j] += Z[j, r]
        total += sq[r]
    return total


@njit(**_OPTIONS)
def _add_rows_scaling(Z, m, mean, scale, best, sq, S, N, total, Xf, i1, Zn, ahead):
    """:func:`_add_rows` for rows ``0 .. m - 1`` of ``Z`` and, in the same loop, scale rows
    ``i1 .. i1 + m - 1`` of ``X`` into ``Zn`` (as :func:`_scale_rows`): the divisions run
    while the additions wait on each other. The new total."""
    d = len(mean)
    for r in range(m):
        c = np.uint64(best[r])
        N[c] += 1
        for j in range(d):
            S[c, j] += Z[j, r]
        total += sq[r]
        q = _scaled_row(Xf, (i1 + r) * d, mean, scale)
        for j in range(d):
            Zn[j, r] = q[j]
        _prefetch(Xf, ahead + r * d)
    return total


@njit(**_OPTIONS)
def _ahead(i, m, n, d):
    """Where to start asking for memory while scaling rows ``i .. i + m - 1`` of ``n``."""
    return min(i + AHEAD_ROWS, n - m) * d


@njit(**_OPTIONS)
def pass_blocks(X, first, last, block, mean, scale, centers, norms, with_inertia,
                sums, counts, inertia):
    """One Lloyd pass over blocks ``first .. last - 1`` of ``X`` (C-contiguous, ``block`` rows
    each): for block ``b``, the per-centroid sums ``sums[b]`` (k, d), counts ``counts[b]`` and,
    with ``with_inertia``, ``inertia[b]`` (0 without); ``mean`` and ``scale`` are tuples of
    ``d`` floats."""
    n = X.shape[0]
    d = len(mean)
    k = centers.shape[0]
    Xf = X.reshape(X.size)
    Z = np.empty((d, SUB_ROWS))  # this tile, scaled
    Zn = np.empty((d, SUB_ROWS))  # the next one
    best = np.empty(SUB_ROWS, np.int64)
    bestd = np.empty(SUB_ROWS)
    sq = np.zeros(SUB_ROWS)  # stays 0 without inertia
    S = np.empty((k, d))
    N = np.empty(k, np.int64)
    if first < last:
        i0 = first * block
        m = min(SUB_ROWS, min(n, i0 + block) - i0)
        _scale_rows(Xf, i0, m, mean, scale, Z, 0, _ahead(i0, m, n, d))
    for b in range(first, last):
        stop = min(n, (b + 1) * block)
        total = 0.0
        S[:, :] = 0.0
        N[:] = 0
        for i0 in range(b * block, stop, SUB_ROWS):
            m = min(SUB_ROWS, stop - i0)
            i1 = i0 + SUB_ROWS  # the next tile: i1 .. i1 + m1 - 1
            m1 = 0
            if i1 < stop:
                m1 = min(SUB_ROWS, stop - i1)
            elif b + 1 < last:
                i1 = stop
                m1 = min(SUB_ROWS, min(n, i1 + block) - i1)
            _nearest(Z, m, mean, centers, norms, best, bestd, sq, with_inertia)
            both = min(m, m1)
            total = _add_rows_scaling(Z, both, mean, scale, best, sq, S, N, total, Xf, i1, Zn,
                                      _ahead(i1, both, n, d))
            total = _add_rows(Z, both, m, mean, best, sq, S, N, total)
            _scale_rows(Xf, i1 + both, m1 - both, mean, scale, Zn, both,
                        _ahead(i1 + both, m1 - both, n, d))
            Z, Zn = Zn, Z
        for c in range(k):
            counts[b, c] = N[c]
            for j in range(d):
                sums[b, c, j] = S[c, j]
        inertia[b] = total


@njit(**_OPTIONS)
def assign_rows(X, start, stop, mean, scale, centers, norms, labels, squared):
    """Nearest centroid (``labels``) and squared scaled distance (``squared``) of rows
    ``start .. stop - 1`` of ``X`` (C-contiguous; ``mean`` and ``scale``: tuples of ``d``
    floats)."""
    n = X.shape[0]
    d = len(mean)
    Xf = X.reshape(X.size)
    Z = np.empty((d, SUB_ROWS))
    best = np.empty(SUB_ROWS, np.int64)
    bestd = np.empty(SUB_ROWS)
    sq = np.empty(SUB_ROWS)
    for i0 in range(start, stop, SUB_ROWS):
        m = min(SUB_ROWS, stop - i0)
        _scale_rows(Xf, i0, m, mean, scale, Z, 0, _ahead(i0, m, n, d))
        _nearest(Z, m, mean, centers, norms, best, bestd, sq, True)
        for r in range(m):
            labels[i0 + r] = best[r]
            squared[i0 + r] = sq[r]
