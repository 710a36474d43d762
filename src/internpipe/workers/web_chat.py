"""The web chat page, a Streamlit app run inside the agent environment (Streamlit comes
with Lagent there, the library of the course's and Lagent's own web demos):

    streamlit run web_chat.py -- SPEC.json

SPEC.json (written by internpipe's chat/web.py) names the served models, the system prompt,
the generation settings, the agent (tools the recipe or the command line allow) and the
variable holding the access key when the page is reachable from other machines. Modes:
chat (streamed), agent (Lagent's InternLM2 agent; each tool call and its result shown as it
happens) and compare (one prompt, two models, answers side by side). Images attached to a
question (the chat box's upload) go to a vision-language model as OpenAI image parts.
Nothing the page sends runs on the server except chat requests and the spec's tools.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import streamlit as st  # in the agent env only

if TYPE_CHECKING:
    from internpipe.workers import chat_images, chat_stream
else:  # run by path inside the agent env: this folder is put first on sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import chat_images  # images as the terminal chat sends them
    import chat_stream  # the same streaming client as the terminal chat

MODES = {"chat": "Chat", "agent": "Agent (tools)", "compare": "Compare two models"}
IMAGE_TYPES = ["png", "jpg", "jpeg", "gif", "webp", "bmp"]


def load_spec() -> dict[str, Any]:
    with open(sys.argv[-1], encoding="utf-8") as f:
        return dict(json.load(f))


def allowed(spec: dict[str, Any]) -> bool:
    """The access key, when the page is served beyond this machine: from ?key= or typed."""
    key_env = spec.get("key_env")
    if not key_env:
        return True
    want = os.environ.get(str(key_env), "")
    given = st.query_params.get("key") or st.session_state.get("key") or ""
    if want and hmac.compare_digest(str(given), want):
        st.session_state["key"] = given
        return True
    typed = st.text_input("Access key", type="password")
    if typed and want and hmac.compare_digest(typed, want):
        st.session_state["key"] = typed
        st.rerun()
    st.warning("This chat needs its access key (printed where `internpipe chat --web` runs).")
    return False


def sidebar(spec: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    models = spec["models"]
    modes = ["chat"] + (["agent"] if spec.get("agent") else []) + \
        (["compare"] if len(models) > 1 else [])
    with st.sidebar:
        mode = st.radio("Mode", modes, format_func=MODES.__getitem__, key="mode")
        system = st.text_area("System prompt / persona", value=spec.get("system") or "",
                              key="system")
        start = spec["settings"]
        settings = {
            "temperature": st.slider("Temperature", 0.0, 2.0,
                                     float(start.get("temperature") or 0.0), 0.05),
            "top_p": st.slider("Top-p", 0.0, 1.0, float(start.get("top_p") or 1.0), 0.05),
            "max_tokens": int(st.number_input("Max new tokens", 1, 32768,
                                              int(start.get("max_tokens") or 512))),
        }
        if st.button("Reset conversation"):
            st.session_state["turns"] = []
        for i, m in enumerate(models):
            st.caption(f"{'AB'[i]}: {m['label']} · {m.get('engine') or 'server'} · "
                       f"{m['base_url']}")
        if spec.get("agent"):
            st.caption("agent tools: " + (", ".join(spec["agent"]["tools"]) or "none"))
    return mode, system.strip(), settings


def history(turns: list[dict[str, Any]], slot: int, system: str) -> list[dict[str, Any]]:
    """The messages for model `slot`: its own earlier answers (or the only one)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for turn in turns:
        answers = turn["answers"]
        messages += [{"role": "user", "content": chat_images.user_content(
                          turn["user"], turn.get("images", []))},
                     {"role": "assistant",
                      "content": answers[min(slot, len(answers) - 1)]["text"]}]
    return messages


def show_tool(call: dict[str, Any]) -> None:
    state = "complete" if call.get("error") is None else "error"
    with st.status(f"⚙ {call['name']}", state=state, expanded=True):
        st.code(json.dumps(call["args"], ensure_ascii=False), language="json")
        st.markdown(f"↳ {call.get('result') if call.get('error') is None else call['error']}")


def show_user(text: str, images: list[str]) -> None:
    with st.chat_message("user"):
        if images:
            st.image(images, width=160)
        st.write(text)


def asked() -> tuple[str, list[str]] | None:
    """The question and its images' data: URLs, once the user sends one."""
    sent = st.chat_input("Ask something (attach images for a vision-language model)",
                         accept_file="multiple", file_type=IMAGE_TYPES)
    if not sent:
        return None
    images, bad = [], []
    for upload in sent.files:
        try:
            images.append(chat_images.data_url(upload.getvalue()))
        except chat_images.BadImage as exc:
            bad.append(f"{upload.name}: {exc}")
    for why in bad:
        st.error(why)
    return (sent.text or "", images) if (sent.text or images) and not bad else None


def show_turn(turn: dict[str, Any]) -> None:
    show_user(turn["user"], turn.get("images", []))
    answers = turn["answers"]
    if len(answers) == 1:
        with st.chat_message("assistant"):
            for call in answers[0].get("tools", []):
                show_tool(call)
            st.markdown(answers[0]["text"])
        return
    for column, got in zip(st.columns(len(answers)), answers, strict=True):
        with column:
            st.markdown(f"**{got['label']}**")
            st.markdown(got["text"])


def streamed(endpoint: dict[str, Any], messages: list[dict[str, Any]],
             settings: dict[str, Any]) -> str:
    try:
        text = st.write_stream(chat_stream.stream(endpoint, messages, settings))
    except chat_stream.ChatFailed as exc:
        st.error(str(exc))
        return ""
    return text if isinstance(text, str) else "".join(map(str, text))


def streamed_side_by_side(models: list[dict[str, Any]],
                          conversations: list[list[dict[str, Any]]],
                          settings: dict[str, Any]) -> list[str]:
    """Both answers at once, each streamed into its column as its model writes it: one
    thread per model reads its stream, this thread draws (Streamlit draws from the script's
    thread only)."""
    import queue
    import threading

    boxes = []
    for column, model in zip(st.columns(len(models)), models, strict=True):
        with column:
            st.markdown(f"**{model['label']}**")
            boxes.append(st.empty())
    events: queue.Queue[tuple[int, str, str]] = queue.Queue()
    stop = threading.Event()

    def pump(slot: int) -> None:
        pieces = chat_stream.stream(models[slot], conversations[slot], settings)
        try:
            for piece in pieces:
                if stop.is_set():
                    break
                events.put((slot, "piece", piece))
        except Exception as exc:  # one model's failure is shown in its column
            events.put((slot, "error", str(exc)))
        finally:
            pieces.close()         # closes the connection: that server stops generating
            events.put((slot, "end", ""))

    for slot in range(len(models)):
        threading.Thread(target=pump, args=(slot,), daemon=True).start()
    texts = [""] * len(models)
    running = len(models)
    try:
        while running:
            slot, kind, value = events.get()
            if kind == "end":
                running -= 1
                continue
            texts[slot] += value if kind == "piece" else f"\n\n✘ {value}"
            boxes[slot].markdown(texts[slot])
    finally:
        stop.set()                 # the page stopped this run: the threads let go too
    return texts


def agent_answer(spec: dict[str, Any], system: str, messages: list[dict[str, Any]],
                 settings: dict[str, Any]) -> dict[str, Any]:
    """Lagent's agent on the first model; each tool call is drawn as it happens."""
    if TYPE_CHECKING:
        from internpipe.workers.agent_run import Recorder, ask, make_agent
    else:  # it imports Lagent: in agent mode only
        from agent_run import Recorder, ask, make_agent

    agent_spec = {**spec["agent"], "meta_prompt": system or spec["agent"].get("meta_prompt"),
                  "temperature": settings["temperature"],
                  "max_new_tokens": settings["max_tokens"]}
    calls: list[dict[str, Any]] = []
    placeholder: dict[str, Any] = {}

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "tool_call":
            placeholder["box"] = st.status(f"⚙ {data['name']}", state="running",
                                           expanded=True)
            placeholder["box"].code(json.dumps(data["args"], ensure_ascii=False),
                                    language="json")
        elif kind == "tool_result":
            calls.append(data)
            box = placeholder.pop("box", None) or st.status(f"⚙ {data['name']}")
            text = data["result"] if data["error"] is None else f"error: {data['error']}"
            box.markdown(f"↳ {text}")
            box.update(state="complete" if data["error"] is None else "error")
        elif kind == "malformed":
            st.warning(f"malformed tool call: {data['text'][:200]}")

    rec = Recorder(on_event)
    agent = make_agent(agent_spec, rec)
    with st.spinner("the agent is working…"):
        record = ask(agent, rec, agent_spec, messages[1:] if system else messages)
    text = record["answer"] if record["status"] == "ok" else f"✘ {record['reason']}"
    st.markdown(text or "")
    return {"label": spec["models"][0]["label"], "text": text or "", "tools": calls}


def main() -> None:
    spec = load_spec()
    st.set_page_config(page_title="internpipe chat", page_icon="💬", layout="wide")
    if not allowed(spec):
        st.stop()
    mode, system, settings = sidebar(spec)
    st.title("internpipe chat")
    turns: list[dict[str, Any]] = st.session_state.setdefault("turns", [])
    for turn in turns:
        show_turn(turn)
    sent = asked()
    if sent is None:
        return
    question, images = sent
    show_user(question, images)
    asking = {"role": "user", "content": chat_images.user_content(question, images)}
    models = spec["models"]
    answers: list[dict[str, Any]] = []
    if mode == "compare":
        pair = models[:2]
        conversations = [[*history(turns, slot, system), asking] for slot in range(len(pair))]
        texts = streamed_side_by_side(pair, conversations, settings)
        answers += [{"label": m["label"], "text": t} for m, t in zip(pair, texts, strict=True)]
    else:
        messages = [*history(turns, 0, system), asking]
        with st.chat_message("assistant"):
            if mode == "agent":
                answers.append(agent_answer(spec, system, messages, settings))
            else:
                answers.append({"label": models[0]["label"],
                                "text": streamed(models[0], messages, settings)})
    turns.append({"user": question, "images": images, "answers": answers})


main()
