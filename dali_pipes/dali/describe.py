"""What runs where: the operators of a loader's DALI graph and their devices, without a GPU.

A pipeline is defined (not built) for the asked device; DALI checks operator placement while it
defines, so this works for `device="gpu"` on any machine. `dali-pipes graph` prints it, and the
tests define every GPU graph the configuration allows through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import GpuDecoder, Preprocess
from ..sampling import EpochPlan
from ..state import LoaderState
from .pipeline import BatchFeeder, define_pipeline, untraced


@dataclass(frozen=True)
class GraphOp:
    name: str  # DALI's schema name, e.g. "Resize", "decoders__Image", "_conditional__Split"
    device: str  # "cpu" | "mixed" | "gpu"
    inputs: tuple[str, ...]  # names of the data nodes it reads
    outputs: tuple[str, ...]
    arguments: tuple[tuple[str, object], ...] = ()  # the operator's (name, value) arguments, as given

    def argument(self, name: str, default=None):
        return dict(self.arguments).get(name, default)

    @property
    def public(self) -> bool:
        """A user-facing operator (not DALI's internal arithmetic, indexing or conditional plumbing)."""
        return not self.name.startswith("_") and self.name not in ("Constant",)

    @property
    def display_name(self) -> str:
        return self.name.replace("__", ".")


class _ShapeOnlySource:
    """Stands in for a source: defining a graph reads only these attributes."""

    def __init__(self, encoded: bool, multilabel: bool):
        self.encoded = encoded
        self.targets = np.zeros((1, 2), np.float32) if multilabel else np.zeros(1, np.int64)
        self.classes = ["0", "1"]

    def __len__(self) -> int:
        return 1


def graph_ops(cfg: Preprocess, *, train: bool, device: str, encoded: bool = True, multilabel: bool = False,
              resampler: str = "dali", decoder: GpuDecoder | None = None) -> list[GraphOp]:
    """Every operator of the (train or eval) graph for `device`, in definition order."""
    feeder = BatchFeeder(_ShapeOnlySource(encoded, multilabel), LoaderState(EpochPlan(1, 1, False, False, 0)),
                         cfg.train if train else None)
    pipe = define_pipeline(feeder, cfg, train=train, device=device, num_threads=1,
                           device_id=0 if device == "gpu" else None, seed=0, prefetch=2, resampler=resampler,
                           decoder=decoder)
    with untraced():
        pipe._build_graph()  # the Python graph only: no backend, no device needed (DALI's own step of build())
    ops = []
    for instance in pipe._ops:
        op = instance._op
        arguments = tuple((k, v) for k, v in (getattr(op, "_init_args", None) or {}).items() if not k.startswith("_"))
        ops.append(GraphOp(getattr(op, "schema_name", None) or type(op).__name__, op.device,
                           tuple(node.name for node in instance.inputs),
                           tuple(node.name for node in instance.outputs), arguments))
    return ops


def summary(ops: list[GraphOp]) -> list[dict]:
    """The public operators in order of first appearance: `{"op", "device", "count"}`."""
    rows: dict[tuple[str, str], dict] = {}
    for op in ops:
        if op.public:
            row = rows.setdefault((op.display_name, op.device),
                                  {"op": op.display_name, "device": op.device, "count": 0})
            row["count"] += 1
    return list(rows.values())
