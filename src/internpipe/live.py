"""The live view on a terminal: the stage table above rich.progress bars, one per long wait
(a tool env being built, the running stage), and the last lines of the tool's output.

- A bar counts what its tool reports (`progress` events: steps, batches, bytes, layers,
  queries) and rich.progress gives the rate and an ETA from it where the tool gives none;
  a count with no total (a layer of an unknown number) shows a pulsing bar.
- A row shows its plan note while it is pending, "waits for env X" while that env is
  built, then only its outcome; notes fold at the terminal's width instead of being cut.
- The tail: six lines while no bar runs, fifteen always with -v; one row each, cut at the
  edge, so a long tool line never wraps across the view.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from internpipe.progress import Event, _score_table, figures, gate_line, human_bytes

ICONS = {"pending": "·", "running": "▶", "ok": "✔", "cached": "✔", "skipped": "-",
         "failed": "✘", "interrupted": "✘"}
STYLES = {"running": "bold cyan", "ok": "green", "cached": "dim green", "skipped": "dim",
          "failed": "bold red", "interrupted": "yellow"}


class CountColumn(ProgressColumn):
    """`12.3/15.0 MB 2.1 MB/s` for bytes, `3/10 batch` for counts, `layer 3` without a
    total; then the tool's own figures (loss, lr, task, files)."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit") or ""
        done, total = task.completed, task.total
        if unit == "B":
            text = human_bytes(done) + (f"/{human_bytes(total)}" if total else "")
            if task.speed:
                text += f" {human_bytes(task.speed)}/s"
        elif total:
            text = f"{int(done)}/{int(total)}" + (f" {unit}" if unit else "")
        else:
            text = f"{unit} {int(done)}".strip()
        extra = task.fields.get("figures") or ""
        return Text(f"{text}  {extra}".rstrip(), style="cyan")


REDRAWN = frozenset({"env_build", "progress", "stage_started", "stage_finished"})
REDRAW_S = 0.02


class LiveReporter:
    def __init__(self, console: Console | None = None, verbose: bool = False) -> None:
        self.console = console or Console()
        self.verbose = verbose
        self.rows: dict[str, dict[str, Any]] = {}
        self.tail: deque[str] = deque(maxlen=15 if verbose else 6)
        self.current: str | None = None
        self.tables: list[Any] = []
        self.messages: list[str] = []
        self.bars = Progress(TextColumn("  {task.description}"), BarColumn(bar_width=30),
                             CountColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                             console=self.console, auto_refresh=False, expand=False)
        self.stage_bar: TaskID | None = None
        self.env_bars: dict[str, TaskID] = {}
        self.live = Live(console=self.console, refresh_per_second=4, transient=False,
                         get_renderable=self._render)
        self.drawn = 0.0
        self.live.start()

    # ------------------------------------------------------------------ events
    def emit(self, event: Event) -> None:
        handler = getattr(self, "_on_" + event["event"], None)
        if handler is not None:
            handler(event)
        # A change worth seeing is drawn now, not at the next of Live's 4 ticks a second: a
        # short env build or three quick evaluation items would otherwise never be shown.
        # Byte counts (a download redrawing its bar) are drawn at most every REDRAW_S.
        counted = event.get("unit") != "B"
        if event["event"] in REDRAWN and (counted or time.monotonic() - self.drawn >= REDRAW_S):
            self.drawn = time.monotonic()
            self.live.refresh()

    def _on_plan(self, event: Event) -> None:
        for s in event["stages"]:
            action = s["action"]
            self.rows[s["stage"]] = {
                "status": "pending" if action == "run" else
                ("cached" if action == "cached" else "skipped"),
                "note": "; ".join(s["reasons"]), "started": None, "seconds": None}

    def _on_waiting(self, event: Event) -> None:
        self.messages = [event["message"]]

    def _on_env_build(self, event: Event) -> None:
        env = event.get("env") or event["tool"]
        for stage in event.get("stages", []):
            if stage in self.rows and self.rows[stage]["status"] == "pending":
                self.rows[stage]["note"] = f"waits for env {env}"
        if env not in self.env_bars:
            self.env_bars[env] = self.bars.add_task(f"env {event['tool']}", total=None,
                                                    unit="packages", figures="", size="")
        bar = self.env_bars[env]
        task = next(t for t in self.bars.tasks if t.id == bar)
        size, step = task.fields["size"], event["message"].split(": ", 1)[-1]
        if event.get("total"):
            size = f"{human_bytes(event['bytes'])} installed" if event.get("bytes") else ""
            self.bars.update(bar, completed=event.get("current", 0), total=event["total"])
        self.bars.update(bar, size=size, figures=f"{size}  {step}".strip())

    def _end_env_bars(self) -> None:
        for bar in self.env_bars.values():
            self.bars.remove_task(bar)
        self.env_bars.clear()

    def _on_stage_started(self, event: Event) -> None:
        self._end_env_bars()              # envs are all ready before the first stage runs
        self.current = event["stage"]
        self.tail.clear()
        self.messages = []
        row = self.rows.setdefault(event["stage"], {"note": ""})
        row.update(status="running", started=time.monotonic(), note="")
        self._new_stage_bar(event["stage"])

    def _new_stage_bar(self, description: str) -> None:
        if self.stage_bar is not None:
            self.bars.remove_task(self.stage_bar)
        self.stage_bar = self.bars.add_task(description, total=None, start=False,
                                            unit="", figures="", visible=False)

    def _on_step_started(self, event: Event) -> None:
        self.rows.setdefault(event["stage"], {"note": ""})["note"] = f"step {event['step']}"

    def _on_log(self, event: Event) -> None:
        self.tail.append(event["line"])

    def _on_progress(self, event: Event) -> None:
        unit = event.get("unit") or ""
        task = self._stage_task()
        if task is None or task.fields.get("unit") != unit or event.get("task"):
            # another count starts (the next OpenCompass task, another phase): a fresh bar,
            # so that its rate and ETA are its own
            label = " ".join(str(x) for x in (event["stage"], event.get("task")) if x)
            self._new_stage_bar(label)
            task = self._stage_task()
        assert task is not None and self.stage_bar is not None
        if not task.started:
            self.bars.start_task(self.stage_bar)
        shown = {k: v for k, v in event.items() if k != "task"}
        self.bars.update(self.stage_bar, completed=event.get("current") or 0,
                         total=event.get("total") or None, unit=unit, visible=True,
                         figures=" ".join(figures(shown)))

    def _stage_task(self) -> Task | None:
        return next((t for t in self.bars.tasks if t.id == self.stage_bar), None)

    def _on_server_started(self, event: Event) -> None:
        self.messages = [f"serving at {event['base_url']} (pid {event['pid']})"]

    def _on_stage_finished(self, event: Event) -> None:
        row = self.rows.setdefault(event["stage"], {"note": ""})
        # a finished row says its outcome only: the plan's "never run" no longer holds
        note = event.get("reason") if event["status"] in ("failed", "skipped") else ""
        row.update(status=event["status"], seconds=event.get("seconds"), note=note or "")
        table = _score_table(event)
        if table is not None:
            self.tables.append(table)
        if event["stage"] == self.current:
            self.current = None
            if self.stage_bar is not None:
                self.bars.remove_task(self.stage_bar)
                self.stage_bar = None

    def _on_gate(self, event: Event) -> None:
        passed = event.get("passed")
        style = "dim" if passed is None else "green" if passed else "bold red"
        self.tables.append(Text(gate_line(event), style=style))     # shown with the scores

    # ------------------------------------------------------------------ view
    def _render(self) -> Any:
        table = Table.grid(padding=(0, 2))
        for column in ("icon", "stage", "status", "time"):
            table.add_column(column, no_wrap=True)
        table.add_column("note", overflow="fold")      # a path wraps, it is never cut
        for name, row in self.rows.items():
            status = row["status"]
            if status == "running" and row.get("started"):
                elapsed = f"{time.monotonic() - row['started']:.0f}s"
            elif row.get("seconds") is not None and status in ("ok", "failed", "interrupted"):
                elapsed = f"{row['seconds']:.1f}s"
            else:
                elapsed = ""
            table.add_row(Text(ICONS.get(status, "?"), style=STYLES.get(status, "")),
                          Text(name, style="bold"), Text(status, style=STYLES.get(status, "")),
                          elapsed, Text(str(row.get("note") or ""), style="dim"))
        parts: list[Any] = [table]
        parts += [Text(m, style="cyan") for m in self.messages]
        if any(t.visible for t in self.bars.tasks):
            parts.append(self.bars)
        if self.current and (self.verbose or not self._stage_bar_visible()):
            parts += [Text("  │ " + line, style="dim", no_wrap=True, overflow="ellipsis")
                      for line in self.tail]
        return Group(*parts)

    def _stage_bar_visible(self) -> bool:
        task = self._stage_task()
        return task is not None and task.visible

    def close(self) -> None:
        self.live.stop()          # a no-op once stopped
        for table in self.tables:
            self.console.print(table)
        self.tables = []
