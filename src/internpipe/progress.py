"""Progress: the runner emits plain event dicts; a reporter shows them.

- JsonReporter: one JSON object per line on stdout (for CI); nothing else goes to stdout.
- PlainReporter: one readable line per event (not a terminal, or NO_COLOR with --plain).
- RichReporter: a live view of the stages, the running step, a progress bar when the tool's
  log gives step/total, else the last lines of its log.

Events: plan, env, stage_started, step_started, log, progress, stage_finished, run_finished.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from typing import IO, Any, Protocol

Event = dict[str, Any]


class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...

    def close(self) -> None:
        """Show what is kept for the end; closing twice shows it once."""


class JsonReporter:
    """`log` events are left out: the full log is in the stage's log file."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, event: Event) -> None:
        if event["event"] == "log":
            return
        self.stream.write(json.dumps({"time": round(time.time(), 3), **event}, default=str)
                          + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def _score_table(event: Event) -> Any:
    """What a finished stage has to show beyond its status line, as a rich renderable: an
    evaluate stage's score table, an agent stage's query summary (None otherwise)."""
    artifact = event.get("artifact") or {}
    if event.get("status") not in ("ok", "cached"):
        return None
    if isinstance(artifact.get("scores"), dict):
        from internpipe import scores

        return scores.render(scores.from_json(artifact["scores"]), f"{event['stage']}: scores")
    if isinstance(artifact.get("summary"), list) and "transcripts" in artifact:
        from rich.console import Group
        from rich.text import Text

        lines = [Text(f"{event['stage']}: {artifact.get('queries')} queries, "
                      f"{artifact.get('tool_calls')} tool calls "
                      f"(transcripts: {artifact.get('path', '')}/{artifact['transcripts']})",
                      style="bold")]
        return Group(*lines, *(Text("  " + str(line)) for line in artifact["summary"]))
    return None


def _finished_line(event: Event) -> str:
    status = event["status"]
    line = f"{event['stage']}: {status}"
    if event.get("seconds") is not None and status not in ("cached", "skipped"):
        line += f" in {event['seconds']:.1f}s"
    if event.get("reason"):
        line += f" ({event['reason']})"
    return line


class PlainReporter:
    def __init__(self, stream: IO[str] | None = None, show_logs: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.show_logs = show_logs
        self.last_progress = 0.0
        self.tables: list[Any] = []

    def emit(self, event: Event) -> None:
        kind = event["event"]
        text: str | None = None
        if kind == "plan":
            parts = [f"{s['stage']}={s['action']}" for s in event["stages"]]
            text = f"plan for {event['name']}: " + ", ".join(parts)
        elif kind == "env":
            text = f"env {event['message']}"
        elif kind == "stage_started":
            text = f"{event['stage']}: started ({'; '.join(event.get('reasons', []))})"
        elif kind == "step_started":
            text = f"{event['stage']}: {event['step']}: {' '.join(event['argv'])}"
        elif kind == "log" and self.show_logs:
            text = f"  {event['stage']}| {event['line']}"
        elif kind == "progress" and time.monotonic() - self.last_progress > 5:
            self.last_progress = time.monotonic()
            text = f"{event['stage']}: {_progress_text(event)}"
        elif kind == "stage_finished":
            text = _finished_line(event)
            table = _score_table(event)
            if table is not None:
                self.tables.append(table)
        elif kind == "run_finished":
            text = f"run {event['status']} in {event['seconds']:.1f}s"
        if text is not None:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tables:
            from rich.console import Console

            out = Console(file=self.stream, no_color=True, width=120, highlight=False)
            for table in self.tables:
                out.print(table)
        self.tables = []


def _progress_text(event: Event) -> str:
    parts = []
    if event.get("total"):
        parts.append(f"{event.get('current', 0)}/{event['total']}")
    for key, value in event.items():
        if key in ("event", "stage", "current", "total", "time"):
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return " ".join(parts)


ICONS = {"pending": "·", "running": "▶", "ok": "✔", "cached": "✔", "skipped": "-",
         "failed": "✘", "interrupted": "✘"}
STYLES = {"running": "bold cyan", "ok": "green", "cached": "dim green", "skipped": "dim",
          "failed": "bold red", "interrupted": "yellow"}


class RichReporter:
    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.rows: dict[str, dict[str, Any]] = {}
        self.tail: deque[str] = deque(maxlen=6)
        self.progress: Event | None = None
        self.current: str | None = None
        self.step: str = ""
        self.message: str = ""
        self.tables: list[Any] = []
        self.live = Live(console=self.console, refresh_per_second=4, transient=False,
                         get_renderable=self._render)
        self.live.start()

    def emit(self, event: Event) -> None:
        kind = event["event"]
        if kind == "plan":
            for s in event["stages"]:
                action = s["action"]
                self.rows[s["stage"]] = {
                    "kind": s["kind"], "status": "pending" if action == "run" else
                    ("cached" if action == "cached" else "skipped"),
                    "note": "; ".join(s["reasons"]), "started": None, "seconds": None}
        elif kind == "env":
            self.message = event["message"]
        elif kind == "stage_started":
            self.current = event["stage"]
            self.tail.clear()
            self.progress = None
            self.message = ""
            row = self.rows.setdefault(event["stage"], {"kind": "", "note": ""})
            row.update(status="running", started=time.monotonic())
        elif kind == "step_started":
            self.step = event["step"]
        elif kind == "log":
            self.tail.append(event["line"])
        elif kind == "progress":
            self.progress = event
        elif kind == "stage_finished":
            row = self.rows.setdefault(event["stage"], {"kind": "", "note": ""})
            row.update(status=event["status"], seconds=event.get("seconds"),
                       note=event.get("reason") or row.get("note", ""))
            table = _score_table(event)
            if table is not None:
                self.tables.append(table)
            if event["stage"] == self.current:
                self.current = None

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
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
                          elapsed, Text(str(row.get("note", ""))[:70], style="dim"))
        parts: list[Any] = [table]
        if self.message:
            parts.append(Text(self.message, style="cyan"))
        if self.current:
            if self.progress and self.progress.get("total"):
                done = int(self.progress.get("current", 0))
                total = int(self.progress["total"])
                width = 30
                filled = int(width * done / max(total, 1))
                bar = "━" * filled + "╺" + " " * (width - filled)
                parts.append(Text(f"  {self.step}  {bar}  {_progress_text(self.progress)}",
                                  style="cyan"))
            for line in self.tail:
                parts.append(Text("  │ " + line[:150], style="dim"))
        return Group(*parts)

    def close(self) -> None:
        self.live.stop()          # a no-op once stopped
        for table in self.tables:
            self.console.print(table)
        self.tables = []


def make_reporter(json_mode: bool, verbose: bool = False) -> Reporter:
    import os

    if json_mode:
        return JsonReporter()
    if sys.stdout.isatty() and os.environ.get("TERM") != "dumb":
        return RichReporter()
    return PlainReporter(show_logs=verbose)
