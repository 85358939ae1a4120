"""Per-unit streaming statistics of one layer over a dataset, with an exact, order-free merge.

A :class:`LayerSummary` holds, for every unit (channel) of a layer, in memory independent of the
number of images:

- the top-K and bottom-K images (each at its extreme position, one example per image, as
  ``scan`` reports them), ordered by value then by file index (ties go to the earlier file);
- exact moments (count, mean, M2) and the sum and count of positive values, for the
  exponential tail fit and the firing fraction;
- a histogram with exact integer counts over fixed per-unit edges (plus under/overflow bins);
- a seeded sample of positions shared by the layer's units: the R positions with the smallest
  ``hash(seed, file, position)`` keys, with every unit's value there.

Integer counts, top/bottom lists and the sample merge exactly in any order. Floating-point
moments are summed over a canonical binary tree whose leaves are images (see :class:`MomentTree`),
so any split of the images over processes or checkpoints gives the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_EMPTY = -1
# Of a bin width: float32 bin positions closer than this to an edge are checked (few: 0.6 % of
# values), units whose arithmetic could err by more than a quarter of it are searched whole.
_MARGIN = 0.003


_SCRATCH: dict[tuple[str, torch.dtype, torch.device], torch.Tensor] = {}


def _scratch(name: str, shape: torch.Size, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A reused work buffer of ``shape``: fresh large CPU tensors cost page faults on every batch."""
    size, key = int(np.prod(shape)), (name, dtype, device)
    if key not in _SCRATCH or _SCRATCH[key].numel() < size:
        _SCRATCH[key] = torch.empty(size, dtype=dtype, device=device)
    return _SCRATCH[key][:size].view(shape)


def release_scratch() -> None:
    """Free the work buffers (after a build)."""
    _SCRATCH.clear()


def _flat_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Flat indices of the true entries of a contiguous ``mask`` (numpy's is faster on the CPU)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.view(-1).nonzero().squeeze(1)


@dataclass(frozen=True)
class LayerSpec:
    """A layer in the atlas: its name, the layer its values come from (pre-ReLU where the model
    has one), its channel count and its (H, W) grid at the atlas's input size."""

    name: str
    source: str
    channels: int
    grid: tuple[int, int]


@dataclass
class Moments:
    """Moments of every unit over ``count`` positions: ``mean``, ``m2`` (sum of squared
    deviations) and ``tail`` (sum of positive values), float64 [C]."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    tail: np.ndarray

    def merged(self, right: Moments) -> Moments:
        """Chan et al.'s parallel combination (self holds the earlier images)."""
        if right.count == 0:
            return self
        if self.count == 0:
            return right
        n = self.count + right.count
        delta = right.mean - self.mean
        mean = self.mean + delta * (right.count / n)
        m2 = self.m2 + right.m2 + delta * delta * (self.count * right.count / n)
        return Moments(n, mean, m2, self.tail + right.tail)


class MomentTree:
    """Moments summed over a canonical binary tree of image indices.

    Node ``(level, i)`` covers images ``[i * 2**level, (i + 1) * 2**level)``; it is always
    ``left.merged(right)`` of its two children, and an absent child is the identity. Nodes are
    combined as soon as both siblings are present, so at most one node per level waits: memory
    is O(log N) nodes, and any partition of the leaves (ranks, checkpoints) gives the same root.
    """

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], Moments] = {}

    def insert(self, level: int, index: int, node: Moments) -> None:
        while (level, index ^ 1) in self.nodes:
            sibling = self.nodes.pop((level, index ^ 1))
            node = sibling.merged(node) if index & 1 else node.merged(sibling)
            level, index = level + 1, index >> 1
        self.nodes[(level, index)] = node

    def absorb(self, other: MomentTree) -> None:
        for (level, index), node in sorted(other.nodes.items()):
            self.insert(level, index, node)

    def root(self, channels: int) -> Moments:
        """The moments over every image: absent siblings are empty, so lone nodes move up."""
        nodes = dict(self.nodes)
        if not nodes:
            return Moments(0, np.zeros(channels), np.zeros(channels), np.zeros(channels))
        while len(nodes) > 1:
            level, index = min(nodes)
            node = nodes.pop((level, index))
            sibling = nodes.pop((level, index ^ 1), None)
            if sibling is not None:
                node = node.merged(sibling)  # min() picked the left (even) one
            nodes[(level + 1, index >> 1)] = node
        return next(iter(nodes.values()))


class LayerSummary:
    """Streaming per-unit statistics of one layer (see the module docstring).

    ``edges`` (float32 [C, bins + 1], see :func:`unit_edges`) are each unit's histogram bin
    edges; values below the first or above the last go to the under- and overflow bins
    (columns 0 and bins + 1 of ``hist``). Being float32, the edges compare exactly with the
    network's float32 values, so counts equal ``np.histogram(values, bins=edges)``.
    """

    def __init__(self, spec: LayerSpec, top: int, reservoir: int, edges: np.ndarray) -> None:
        c = spec.channels
        self.edges = np.ascontiguousarray(edges, np.float32)
        bins = self.edges.shape[1] - 1
        self.spec, self.k, self.r, self.bins = spec, top, reservoir, bins
        lo, hi = self.edges[:, 0].astype(np.float64), self.edges[:, -1].astype(np.float64)
        # Units whose float32 bin arithmetic could be off by more than _MARGIN are binned by search.
        imprecise = (np.abs(lo) + np.abs(hi)) / (hi - lo) * bins * 2.0 ** -21 > _MARGIN / 4
        self._searched = np.flatnonzero(imprecise).tolist()
        self.hist = np.zeros((c, bins + 2), np.int64)
        self.positives = np.zeros(c, np.int64)
        self.top = _Extremes.empty(c, top, largest=True)
        self.bottom = _Extremes.empty(c, top, largest=False)
        self.sample_key = np.zeros(0, np.uint64)
        self.sample_file = np.zeros(0, np.int32)
        self.sample_pos = np.zeros(0, np.int32)
        self.sample_value = np.zeros((0, c), np.float32)
        self.tree = MomentTree()
        self._device_tables: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    # -- adding images -----------------------------------------------------------------------

    def update(self, files: np.ndarray, file_keys: np.ndarray, values: torch.Tensor) -> None:
        """Add images ``files`` (indices into the sorted file list) with their hash keys
        (uint64 [B]) and the layer's values [B, C, H, W] (or [B, C]), on any device."""
        b = values.shape[0]
        x = values.reshape(b, self.spec.channels, -1).float().contiguous()
        files = np.asarray(files, np.int64)
        vmax, amax = x.max(dim=2)
        vmin, amin = x.min(dim=2)
        self.top.add(files, vmax.cpu().numpy(), amax.cpu().numpy())
        self.bottom.add(files, vmin.cpu().numpy(), amin.cpu().numpy())
        self.hist += self._bin_counts(x)
        # As 0.0 / 1.0 in float32: summing floats is several times faster than summing bools, and
        # exact (one image's count is at most its positions, far below 2**24).
        positive = torch.gt(x, 0, out=_scratch("position", x.shape, torch.float32, x.device))
        self.positives += positive.sum(dim=2).long().sum(dim=0).cpu().numpy()
        xd = _scratch("double", x.shape, torch.float64, x.device).copy_(x)
        mean = xd.mean(dim=2)
        m2 = xd.sub_(mean[:, :, None]).square_().sum(dim=2)
        tail = xd.copy_(x).clamp_(min=0).sum(dim=2)
        positions = x.shape[2]
        mean, m2, tail = (t.cpu().numpy() for t in (mean, m2, tail))
        for i, f in enumerate(files):
            self.tree.insert(0, int(f), Moments(positions, mean[i], m2[i], tail[i]))
        self._sample(files, file_keys, x)

    def _bin_counts(self, x: torch.Tensor) -> np.ndarray:
        """Histogram counts [C, bins + 2] of float32 values [B, C, P], binned exactly as
        ``np.histogram(values, bins=edges)`` does (right edge of the last bin included).

        The column (0 the underflow, 1..bins the bins, bins + 1 the overflow) is read off
        ``(x - lo) * bins / (hi - lo) + 1 + _MARGIN`` in float32, within _MARGIN / 4 of exact;
        where the fraction is under 2 * _MARGIN the value may sit on either side of a boundary,
        and is checked against the two column starts around it. Units where rounding could
        matter more are searched whole.
        """
        c, bins, device = self.spec.channels, self.bins, x.device
        edges, scale, shift, lowest, offset = self._tables(device)
        near = torch.addcmul(shift, x, scale, out=_scratch("position", x.shape, torch.float32, device))
        column = _scratch("column", x.shape, torch.int32, device).copy_(near.clamp_(-0.5, bins + 1.5))  # truncates
        whole = _scratch("whole", x.shape, torch.float32, device).copy_(column)  # float - float is faster
        unsure = _flat_nonzero(torch.lt(near.sub_(whole), 2 * _MARGIN,
                                        out=_scratch("mask", x.shape, torch.bool, device)))
        if unsure.numel():
            value, unit = x.view(-1)[unsure], unsure // x.shape[2] % c
            estimate = column.view(-1)[unsure].long()
            start = estimate + unit * (bins + 3)
            exact = estimate - 1 + (lowest.take(start) <= value) + (lowest.take(start + 1) <= value)
            column.view(-1)[unsure] = exact.int()
        for u in self._searched:
            values = x[:, u].contiguous()
            found = torch.searchsorted(edges[u], values, right=True)
            column[:, u] = (found - (values == edges[u, -1]).long()).int()
        column += offset
        return torch.bincount(column.view(-1), minlength=c * (bins + 2)).reshape(c, bins + 2).cpu().numpy()

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Per unit on ``device``: the edges, the scale and shift from value to column position
        (plus _MARGIN), the flat table of each column's lowest value (-inf, the edges, the float
        after the last edge, which belongs to the last bin, and NaN, which no value reaches),
        and the unit's offset into the flat counts."""
        if device not in self._device_tables:
            c, bins = self.spec.channels, self.bins
            edges = torch.as_tensor(self.edges, device=device)
            scale = bins / (edges[:, -1:] - edges[:, :1])
            shift = 1 + _MARGIN - edges[:, :1] * scale
            after = torch.as_tensor(np.nextafter(self.edges[:, -1:], np.float32(np.inf)), device=device)
            lowest = torch.cat([torch.full((c, 1), -np.inf, device=device), edges[:, :-1], after,
                                torch.full((c, 1), np.nan, device=device)], dim=1).reshape(-1)
            offset = (torch.arange(c, device=device, dtype=torch.int32) * (bins + 2))[:, None]
            self._device_tables[device] = (edges, scale, shift, lowest, offset)
        return self._device_tables[device]

    def _sample(self, files: np.ndarray, file_keys: np.ndarray, x: torch.Tensor) -> None:
        if self.r == 0:
            return
        positions = x.shape[2]
        pos = np.arange(positions, dtype=np.uint64)
        keys = position_keys(file_keys[:, None], pos[None, :])  # [B, P]
        take = min(self.r, keys.size)
        flat = np.argpartition(keys.reshape(-1), take - 1)[:take] if take < keys.size else np.arange(keys.size)
        rows, cols = flat // positions, flat % positions
        values = x[torch.as_tensor(rows), :, torch.as_tensor(cols)].cpu().numpy()  # [take, C]
        self._keep_sample(keys.reshape(-1)[flat], files[rows].astype(np.int32), cols.astype(np.int32), values)

    def _keep_sample(self, key: np.ndarray, file: np.ndarray, pos: np.ndarray, value: np.ndarray) -> None:
        key = np.concatenate([self.sample_key, key])
        file = np.concatenate([self.sample_file, file])
        pos = np.concatenate([self.sample_pos, pos])
        value = np.concatenate([self.sample_value, value])
        order = np.lexsort((pos, file, key))[:self.r]
        self.sample_key, self.sample_file, self.sample_pos = key[order], file[order], pos[order]
        self.sample_value = value[order]

    # -- merging and reading -----------------------------------------------------------------

    def merge(self, other: LayerSummary) -> None:
        """Add ``other``'s images (disjoint from this summary's); exact in any order."""
        self.hist += other.hist
        self.positives += other.positives
        self.top.merge(other.top)
        self.bottom.merge(other.bottom)
        self._keep_sample(other.sample_key, other.sample_file, other.sample_pos, other.sample_value)
        self.tree.absorb(other.tree)

    def moments(self) -> Moments:
        return self.tree.root(self.spec.channels)

    def state(self) -> dict[str, np.ndarray]:
        """Every array of the summary (the moments as tree nodes), for checkpoints and gathers."""
        nodes = sorted(self.tree.nodes.items())
        c = self.spec.channels
        out = {"edges": self.edges, "hist": self.hist, "positives": self.positives,
               "sample_key": self.sample_key, "sample_file": self.sample_file, "sample_pos": self.sample_pos,
               "sample_value": self.sample_value,
               "node_id": np.array([k for k, _ in nodes], np.int64).reshape(-1, 2),
               "node_count": np.array([n.count for _, n in nodes], np.int64),
               "node_mean": np.array([n.mean for _, n in nodes]).reshape(-1, c),
               "node_m2": np.array([n.m2 for _, n in nodes]).reshape(-1, c),
               "node_tail": np.array([n.tail for _, n in nodes]).reshape(-1, c)}
        out.update(self.top.state("top"))
        out.update(self.bottom.state("bottom"))
        return out

    @classmethod
    def from_state(cls, spec: LayerSpec, top: int, reservoir: int, state: dict[str, np.ndarray]) -> LayerSummary:
        summary = cls(spec, top, reservoir, state["edges"])
        summary.hist = np.array(state["hist"], np.int64)
        summary.positives = np.array(state["positives"], np.int64)
        summary.sample_key = np.array(state["sample_key"], np.uint64)
        summary.sample_file = np.array(state["sample_file"], np.int32)
        summary.sample_pos = np.array(state["sample_pos"], np.int32)
        summary.sample_value = np.array(state["sample_value"], np.float32)
        summary.top = _Extremes.from_state(state, "top", largest=True)
        summary.bottom = _Extremes.from_state(state, "bottom", largest=False)
        for (level, index), count, mean, m2, tail in zip(state["node_id"], state["node_count"], state["node_mean"],
                                                        state["node_m2"], state["node_tail"]):
            summary.tree.nodes[(int(level), int(index))] = Moments(int(count), mean.copy(), m2.copy(), tail.copy())
        return summary


@dataclass
class _Extremes:
    """The K images with the largest (or smallest) per-image extreme of each unit:
    value float32, file int32 (-1 = empty slot) and flat position int32, each [C, K], best first."""

    value: np.ndarray
    file: np.ndarray
    pos: np.ndarray
    largest: bool

    @classmethod
    def empty(cls, channels: int, k: int, largest: bool) -> _Extremes:
        fill = -np.inf if largest else np.inf
        return cls(np.full((channels, k), fill, np.float32), np.full((channels, k), _EMPTY, np.int32),
                   np.zeros((channels, k), np.int32), largest)

    def add(self, files: np.ndarray, value: np.ndarray, pos: np.ndarray) -> None:
        """Candidates: one per image of ``files`` [B]; ``value``/``pos`` [B, C]."""
        c = self.value.shape[0]
        self._keep(value.T.astype(np.float32), np.broadcast_to(files.astype(np.int32), (c, len(files))),
                   pos.T.astype(np.int32))

    def merge(self, other: _Extremes) -> None:
        self._keep(other.value, other.file, other.pos)

    def _keep(self, value: np.ndarray, file: np.ndarray, pos: np.ndarray) -> None:
        k = self.value.shape[1]
        value = np.concatenate([self.value, value], axis=1)
        file = np.concatenate([self.file, file], axis=1)
        pos = np.concatenate([self.pos, pos], axis=1)
        # Empty slots sort last: their file is the largest key, their value the worst.
        file_key = np.where(file == _EMPTY, np.iinfo(np.int64).max, file.astype(np.int64))
        order = np.lexsort((file_key, -value if self.largest else value), axis=1)[:, :k]
        self.value = np.take_along_axis(value, order, 1)
        self.file = np.take_along_axis(file, order, 1)
        self.pos = np.take_along_axis(pos, order, 1)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_value": self.value, f"{prefix}_file": self.file, f"{prefix}_pos": self.pos}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], prefix: str, largest: bool) -> _Extremes:
        return cls(np.array(state[f"{prefix}_value"], np.float32), np.array(state[f"{prefix}_file"], np.int32),
                   np.array(state[f"{prefix}_pos"], np.int32), largest)


def unit_edges(lo: np.ndarray, hi: np.ndarray, bins: int) -> np.ndarray:
    """Per-unit histogram edges: ``np.linspace(lo, hi, bins + 1)`` in float32 [C, bins + 1]
    (a range too narrow to give increasing float32 edges is widened)."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    hi = np.maximum(hi, lo + np.maximum(np.abs(lo), 1.0) * 1e-3)
    return np.stack([np.linspace(a, b, bins + 1) for a, b in zip(lo, hi)]).astype(np.float32)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def position_keys(file_keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The sample key (uint64) of flat position ``positions`` of files with ``file_keys``:
    splitmix64 of ``file_key + (position + 1) * golden``; broadcasts."""
    with np.errstate(over="ignore"):
        z = file_keys.astype(np.uint64) + (positions.astype(np.uint64) + np.uint64(1)) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
