"""The finetune stage turns XTuner's sample generations (EvaluateChatHook's
eval_outputs_iter_N.txt, as the demo's fine-tune wrote them) into generations.jsonl records
{iter, prompt, output}: the model's answer alone, without the rendered prompt or stop word."""

from __future__ import annotations

from pathlib import Path

from internpipe.stages.finetune import generations

# Written by XTuner 0.2.0 during the demo's fine-tune (SmolLM2, internlm2_chat template).
SAMPLE = ("Eval output 1:\n<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
          "I am Xiaopu, an assistant built by the internpipe team.<|im_end|>\n\n\n"
          "Eval output 2:\n<|im_start|>user\n你是谁？<|im_end|>\n<|im_start|>assistant\n"
          "我是Xiaopu，由internpipe团队打造的助手。<|im_end|>\n\n\n")


def test_each_sample_is_its_prompt_and_the_models_answer(tmp_path: Path) -> None:
    for n, text in ((25, SAMPLE), (5, SAMPLE.replace("Xiaopu", "Bob"))):
        (tmp_path / f"eval_outputs_iter_{n}.txt").write_text(text, encoding="utf-8")
    records = generations.from_files(sorted(tmp_path.glob("*.txt")),
                                     ["Who are you?", "你是谁？"], "internlm2_chat")
    assert records == [
        {"iter": 5, "prompt": "Who are you?",
         "output": "I am Bob, an assistant built by the internpipe team."},
        {"iter": 5, "prompt": "你是谁？", "output": "我是Bob，由internpipe团队打造的助手。"},
        {"iter": 25, "prompt": "Who are you?",
         "output": "I am Xiaopu, an assistant built by the internpipe team."},
        {"iter": 25, "prompt": "你是谁？", "output": "我是Xiaopu，由internpipe团队打造的助手。"}]


def test_an_unknown_template_still_cuts_the_prompt_off() -> None:
    records = generations.parse("Eval output 1:\n<s>[Q] hi [A] hello there\n", 3, ["hi"],
                                "no-such-template")
    assert records == [{"iter": 3, "prompt": "hi", "output": "[A] hello there"}]
