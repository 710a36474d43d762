"""What stages hand to each other: one typed artifact per kind of output.

An artifact is the `artifact` of a finished stage's state entry: JSON in the state file, a
TypedDict here so that every reader (the next stage, status, report, the CLI) is checked by
mypy against the keys its producer writes. `collect()` returns the kind's own keys; the
runner adds the common ones (`Published`) when it publishes the output.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

# Artifact kinds a stage can produce; references between stages are checked against them.
MODEL = "model"
ENDPOINT = "endpoint"
SCORES = "scores"
TRANSCRIPTS = "transcripts"
KINDS = (MODEL, ENDPOINT, SCORES, TRANSCRIPTS)


class Published(TypedDict, total=False):
    """Written by the runner for every artifact."""

    kind: str            # one of KINDS
    fingerprint: str     # the hash of the output's manifest
    files: int
    bytes: int
    path: str            # the published output folder
    source: str          # a human description of where it came from


class ModelArtifact(Published, total=False):
    """A Hugging Face model folder (download, finetune, quantize)."""

    chat_template: str | None
    chat_template_origin: str
    model_type: str | None
    modality: str | None     # "text" | "vision-language" (modelkind.py), for every model
    revision: str | None
    gguf: dict[str, Any]     # download of a GGUF: file, sha256, architecture, quantization
    # finetune
    method: str
    template: str            # the XTuner template it was trained with; its folder renders it
    stop_token_ids: list[int]
    steps: int | None
    loss_first: float | None
    loss_last: float | None
    adapter: str | None
    loss_curve: str
    xtuner_config: str       # the XTuner config it was trained with (Python, loadable)
    tracker: dict[str, str] | None   # report_to: {kind, dir}: the tracker's run folders
    # quantize
    bits: int
    group_size: int | None
    quantization_config: dict[str, Any]
    calibration: dict[str, Any]
    drift: dict[str, Any]


class EndpointArtifact(Published, total=False):
    """An OpenAI-compatible server (deploy)."""

    base_url: str
    health_url: str
    model: str
    engine: str
    pid: int
    log: str
    keep: bool
    model_dir: str
    api_key_env: str | None
    chat_template: str | None
    smoke: dict[str, Any]
    bench: str               # bench.json in the output folder (the `bench:` option)


class ScoresArtifact(Published, total=False):
    """A models × datasets score table (evaluate)."""

    models: list[str]
    datasets: list[str]
    scores: dict[str, Any]
    table: str
    csv: str
    predictions: str


class TranscriptsArtifact(Published, total=False):
    """The agent's transcripts (agent)."""

    endpoint: str
    model: str
    tools: list[str]
    queries: int
    tool_calls: int
    seconds: float
    summary: list[str]
    transcripts: str


Artifact = ModelArtifact | EndpointArtifact | ScoresArtifact | TranscriptsArtifact


def of_entry(entry: dict[str, Any] | None) -> dict[str, Any]:
    """The artifact of a state entry, {} when there is none."""
    art = (entry or {}).get("artifact")
    return art if isinstance(art, dict) else {}


def as_model(art: dict[str, Any] | None) -> ModelArtifact:
    return cast(ModelArtifact, art or {})


def as_endpoint(art: dict[str, Any] | None) -> EndpointArtifact:
    return cast(EndpointArtifact, art or {})


def as_scores(art: dict[str, Any] | None) -> ScoresArtifact:
    return cast(ScoresArtifact, art or {})


def as_transcripts(art: dict[str, Any] | None) -> TranscriptsArtifact:
    return cast(TranscriptsArtifact, art or {})
