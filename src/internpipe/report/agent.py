"""The agent transcripts and the lineage as HTML. A transcript reads as a conversation (the
model's words, each tool call with its arguments and result); the raw records stay one click
away in a collapsed <details>. Pure."""

from __future__ import annotations

import json
from typing import Any

from internpipe.report.text import esc

SHORT = 300          # characters of a message shown before it is folded away


def _args(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return json.dumps(args, ensure_ascii=False)


def _message(m: Any) -> str:
    if not isinstance(m, dict):
        return f"<li>{esc(m)}</li>"
    role, content = m.get("role", "?"), m.get("content")
    if isinstance(content, dict) and "name" in content:      # a tool call the model made
        text = f"calls {content['name']}({_args(content.get('parameters'))})"
    elif isinstance(content, str):
        text = content
    else:
        text = json.dumps(content, ensure_ascii=False)
    body = esc(text) if len(text) <= SHORT else \
        f"{esc(text[:SHORT])}… <details><summary>all of it</summary>{esc(text)}</details>"
    return f"<li><b class=role>{esc(role)}</b> <span class=pre>{body}</span></li>"


def transcript(r: dict[str, Any], alone: list[dict[str, Any]]) -> str:
    mark = "<span class=ok>ok</span>" if r.get("status") == "ok" else \
        f"<span class=bad>failed: {esc(r.get('reason'))}</span>"
    calls = "".join(
        f"<li>tool call <b>{esc(c.get('name'))}</b> <code>{esc(_args(c.get('args')))}</code>"
        f" → <code>{esc(c.get('result') if c.get('error') is None else c.get('error'))}"
        f"</code> ({float(c.get('seconds') or 0):.2f}s)</li>" for c in r.get("tool_calls", []))
    # The same question asked by evaluate, answered by each model without tools.
    without = "".join(f"<li class=alone>without tools, <b>{esc(p['model'])}</b>: "
                      f"{esc(str(p['prediction'])[:200])}</li>" for p in alone
                      if p["question"] == str(r.get("query", "")).strip())
    messages = "".join(_message(m) for m in r.get("messages") or [])
    return (f"<details class=transcript open><summary>#{esc(r.get('index'))} {mark} "
            f"<b>{esc(r.get('query'))}</b></summary><ul>{calls}<li>answer: "
            f"{esc(r.get('answer'))}</li>{without}<li class=dim>{esc(r.get('model_calls'))} "
            f"model calls, {esc(r.get('seconds'))}s</li></ul><details><summary>conversation "
            f"({len(r.get('messages') or [])} messages)</summary><ol class=msgs>{messages}"
            f"</ol></details><details><summary>raw record (JSON)</summary><pre>"
            f"{esc(json.dumps(r, ensure_ascii=False, indent=1))}</pre></details></details>")


def section(stage: dict[str, Any], alone: list[dict[str, Any]]) -> str:
    records = [r for r in stage.get("transcripts") or [] if isinstance(r, dict)]
    if not records and stage["state"] != "failed":
        return ""
    head = f"<h3>{esc(stage['stage'])} <span class=dim>({esc(stage['state'])})</span></h3>"
    if stage["state"] in ("failed", "interrupted"):
        head += (f"<p class=bad>{esc(stage.get('failure') or stage['state'])}</p><p "
                 "class=dim>the transcripts its run left in work/transcripts/:</p>")
    return head + ("".join(transcript(r, alone) for r in records) or
                   "<p class=dim>no transcript was written</p>")


def lineage(data: dict[str, Any]) -> str:
    parts = ["<p class=dim><b>stage fingerprint</b>: what <code>plan</code> compares (options,"
             " tool env, inputs' fingerprints); <b>artifact fingerprint</b>: the hash of the "
             "output's manifest.json (every file's sha256), what later stages' provenance "
             "names as their parent.</p>"]
    for s in data["stages"]:
        prov = s.get("provenance") or {}
        commands = "\n".join(" ".join(c) for c in s["commands"]) or "(none recorded)"
        versions = prov.get("tool_versions") or {}
        parents = prov.get("parents") or {}
        parent_text = "; ".join(f"{field}: " + ", ".join(
            f"{p.get('stage')} (artifact {str(p.get('artifact_fingerprint'))[:16]})"
            for p in refs) for field, refs in parents.items()) or "-"
        version_text = ", ".join(f"{k} {v}" for k, v in versions.items()) or "-"
        parts.append(
            f"<details class=lineage><summary><b>{esc(s['stage'])}</b> stage fingerprint "
            f"<code>{esc(s['fingerprint'][:16])}</code> · artifact fingerprint <code>"
            f"{esc((s.get('artifact_fingerprint') or '-')[:16])}</code></summary>"
            f"<p>stage fingerprint <code>{esc(s['fingerprint'])}</code>"
            + ("" if s.get("recorded_fingerprint") in (None, s["fingerprint"]) else
               f" (the finished run's was <code>{esc(s['recorded_fingerprint'])}</code>)")
            + f"<br>artifact <code>{esc(s['artifact'].get('path', ''))}</code>, fingerprint "
            f"<code>{esc(s.get('artifact_fingerprint') or '')}</code></p>"
            f"<p>parents: {esc(parent_text)}</p><p>tool versions: {esc(version_text)}</p>"
            f"<p>commands (log: <code>{esc(s['log'])}</code>):</p><pre>{esc(commands)}</pre>"
            + (f"<p>Slurm jobs: {esc(s['slurm_jobs'])}</p>" if s["slurm_jobs"] else "")
            + "</details>")
    return "".join(parts)
