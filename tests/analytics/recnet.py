"""The unit tests' in-process network of real nodes, with a DatasetRecorder on every node."""

from __future__ import annotations

from rakis_py.analytics.recorder import DatasetRecorder, Retention
from tests.unit.netharness import Net, NodeSpec  # noqa: F401  (re-exported for the tests)


class RecordedNet(Net):
    """`Net` whose nodes each feed their actions to their own recorder (what a runtime does)."""

    retention: Retention = Retention()

    def __post_init__(self) -> None:
        self.recorders: list[DatasetRecorder] = []
        super().__post_init__()

    def _recorder(self, i: int) -> DatasetRecorder:
        while len(self.recorders) <= i:
            j = len(self.recorders)
            self.recorders.append(DatasetRecorder(self.ids[j] if j < len(self.ids) else f"n{j}",
                                                  runtime="cpython", started=self.start,
                                                  retention=self.retention))
        return self.recorders[i]

    def deliver(self, i: int, event, at: int) -> None:
        if i in self.down:
            return
        actions = self.nodes[i].handle(event, at)
        if i < len(self.ids):
            self._recorder(i).feed(actions, at)
        for a in actions:
            self.apply(i, a, at)
