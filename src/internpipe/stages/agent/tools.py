"""The tool names `tools:` may take, as data: AgentLego 0.2.0's tools (the BaseTool classes
`agentlego.tools` exports, which `load_tool(NAME)` builds) and the Lagent 0.2.4 actions the
agent worker builds itself. Read from the installed packages' source, not imported (they live
in the agent environment); tests/integration/test_upstream_names.py compares this list with
the agent env's files."""

from __future__ import annotations

# Lagent's own actions; any other plain name is an AgentLego tool (load_tool), a URL an
# agentlego-server.
LAGENT_ACTIONS = ("PythonInterpreter", "IPythonInterpreter", "ArxivSearch")
# Of those, the ones that run code (they get `tool_timeout`).
CODE_ACTIONS = ("PythonInterpreter", "IPythonInterpreter")

AGENTLEGO_TOOLS = (
    "CannyTextToImage", "ImageToCanny", "DepthTextToImage", "ImageToDepth", "ImageExpansion",
    "ObjectRemove", "ObjectReplace", "HumanFaceLandmark", "HumanBodyPose", "PoseToImage",
    "ImageToScribble", "ScribbleTextToImage", "ImageDescription", "TextToImage", "VQA",
    "ObjectDetection", "TextToBbox", "OCR", "SegmentObject", "SegmentAnything",
    "SemanticSegmentation", "ImageStylization", "AudioToImage", "ThermalToImage",
    "AudioImageToImage", "AudioTextToImage", "SpeechToText", "TextToSpeech", "Translation",
    "GoogleSearch", "Calculator",
)

TOOL_NAMES = LAGENT_ACTIONS + AGENTLEGO_TOOLS
