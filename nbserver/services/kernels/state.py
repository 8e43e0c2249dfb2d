"""What the server knows about each running kernel: its record and its execution state.

The record belongs to nbserver, not to jupyter_client: the bridge updates it from the
kernel's traffic and the manager turns it into the REST model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nbserver.timestamps import iso_timestamp


class ExecutionState(str, Enum):
    """A kernel's ``execution_state``, with Jupyter's spelling."""

    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RESTARTING = "restarting"
    DEAD = "dead"

    @classmethod
    def from_status(cls, value: Any) -> ExecutionState | None:
        """The state an iopub ``status`` message reports, or None for one we do not track."""
        try:
            return cls(value)
        except ValueError:
            return None


@dataclass
class KernelRecord:
    """One kernel as the REST API reports it, plus where it was started."""

    id: str
    name: str
    path: str = ""
    execution_state: ExecutionState = ExecutionState.STARTING
    last_activity: float = field(default_factory=time.time)
    connections: int = 0

    def touch(self) -> None:
        """Record traffic to or from the kernel now."""
        self.last_activity = time.time()

    def to_model(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "last_activity": iso_timestamp(self.last_activity),
            "execution_state": self.execution_state.value,
            "connections": self.connections,
        }
