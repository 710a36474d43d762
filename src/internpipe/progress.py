"""Progress: the runner emits plain event dicts; a reporter shows them.

- JsonReporter: one JSON object per line on stdout (events.py: the names, the schema);
  nothing else goes to stdout.
- PlainReporter: one readable line per event (not a terminal).
- live.LiveReporter: on a terminal, the stage table and rich.progress bars (live.py).
"""

from __future__ import annotations

import sys
import time
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
        from internpipe import events

        events.write(event, self.stream)

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
        elif kind == "env_build" and not event.get("total"):   # counts: the bar's, not a log's
            text = f"env {event['message']}"
        elif kind in ("waiting", "server_started", "server_stopped"):
            text = event_text(event)
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
        elif kind == "gate":
            text = gate_line(event)
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


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _progress_text(event: Event) -> str:
    """`3/10 batch task download/x loss 0.52` or `1.2/15.0 MB files 1/3`."""
    parts = []
    unit = event.get("unit") or ""
    current = event.get("current", 0) or 0
    if unit == "B":
        total = event.get("total")
        parts.append(human_bytes(current) + (f" of {human_bytes(total)}" if total else ""))
    elif event.get("total"):
        parts.append(f"{current}/{event['total']}" + (f" {unit}" if unit else ""))
    elif unit:
        parts.append(f"{unit} {current}")
    parts.extend(figures(event))
    return " ".join(parts)


SHOWN = ("event", "stage", "current", "total", "time", "unit", "schema")


def figures(event: Event) -> list[str]:
    """A progress event's own figures (loss, lr, task, files…) as `name value`."""
    return [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in event.items() if k not in SHOWN and v is not None]


def event_text(event: Event) -> str:
    """The line for the events that are a message only."""
    kind = event["event"]
    stage = f"{event['stage']}: " if event.get("stage") else ""
    if kind == "server_started":
        return f"{stage}serving at {event['base_url']} (pid {event['pid']})"
    if kind == "server_stopped":
        return f"{stage}stopped {'its previous' if event.get('previous') else ''} server " \
               f"(pid {event['pid']})".replace("  ", " ")
    return str(event.get("message", kind))


GATE_MARKS = {True: "pass", False: "FAIL", None: "not measured"}


def gate_line(event: Event) -> str:
    """A quality gate's verdict: `gate 'NAME' (line 12): pass: METRIC = 55, meets >= 50`."""
    line = f" (line {event['line']})" if event.get("line") else ""
    message = str(event.get("message", "")).removeprefix("not measured: ")
    return f"gate {event['name']!r}{line}: {GATE_MARKS[event.get('passed')]}: {message}"


def make_reporter(json_mode: bool, verbose: bool = False) -> Reporter:
    import os

    if json_mode:
        return JsonReporter()
    if sys.stdout.isatty() and os.environ.get("TERM") != "dumb":
        from internpipe.live import LiveReporter

        return LiveReporter(verbose=verbose)
    return PlainReporter(show_logs=verbose)
