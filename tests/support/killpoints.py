"""Test-only: SIGKILL internpipe at a chosen point of publishing a stage's output, to test
the recovery of the publish → state-entry window. Nothing in internpipe knows about it: it
is loaded as a plugin, INTERNPIPE_PLUGINS=support.teststages,support.killpoints, and
INTERNPIPE_TEST_KILL_AT=POINT:STAGE picks the point for that stage:

- before_publish: just before out/ changes (the new output is complete in .out.tmp)
- mid_publish:    after the old out/ was swapped aside, before the new one is renamed in
- after_publish:  out/ is the new output, the state entry is not written yet
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from internpipe import state

POINT, _, STAGE = os.environ.get("INTERNPIPE_TEST_KILL_AT", "").partition(":")
_publish = state.WorkDir.publish


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _killing_publish(self: state.WorkDir, stage: str) -> Path:
    if stage != STAGE:
        return _publish(self, stage)
    if POINT == "before_publish":
        _die()
    if POINT == "mid_publish":
        real = os.replace
        tmp = self.tmp_out(stage)

        def replace(src: Any, dst: Any) -> None:
            if Path(src) == tmp:
                _die()
            real(src, dst)

        os.replace = replace
    out = _publish(self, stage)
    if POINT == "after_publish":
        _die()
    return out


state.WorkDir.publish = _killing_publish  # type: ignore[method-assign]
