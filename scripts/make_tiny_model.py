#!/usr/bin/env python3
"""Build the tiny offline model used by the tests and the CPU demo, deterministically.

    X=$(internpipe env path xtuner --device cpu)
    $X/bin/python scripts/make_tiny_model.py recipes/models/tiny-internlm2

Run it with any Python that has torch, transformers and tokenizers (the xtuner environment
does: its transformers 4.48 writes files that 4.48 through 5.x read). It writes a Llama
architecture model (hidden 128, intermediate 256, 2 layers, 4 heads; ~0.85 M parameters,
fp32 safetensors), a byte-level BPE tokenizer trained on a small generated zh+en corpus, and
the InternLM2 chat template (<|im_start|> / <|im_end|>). Seeded: the same versions give the
same bytes. The result is committed; rerun this only to change the model.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path

VOCAB_SIZE = 2000
SPECIAL = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<|action_start|>",
           "<|action_end|>", "<|interpreter|>", "<|plugin|>"]
# InternLM2's tool-call markers stay single tokens but are not "special": a server that
# decodes with skip_special_tokens (transformers serve cannot be told otherwise) must keep
# them in the text, or no agent can see a tool call.
ACTION_TOKENS = SPECIAL[5:]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

EN = ["I am a helpful assistant", "the model answers questions", "what is your name",
      "who made you", "please compute", "the answer is", "tell me about", "InternLM",
      "Shanghai AI Laboratory", "a small language model", "calculator", "python code",
      "three point five times twelve", "fine tuning", "quantization", "deployment",
      "hello world", "thank you", "evaluate the model", "an agent uses tools"]
ZH = ["我是一个乐于助人的助手", "你叫什么名字", "是谁创造了你", "请计算", "答案是",
      "上海人工智能实验室", "书生浦语", "小型语言模型", "计算器", "微调", "量化", "部署",
      "你好世界", "谢谢", "评测模型", "智能体使用工具", "今天天气很好", "我们一起学习"]
DIGITS = [str(n) for n in range(200)] + ["3.5", "12", "42", "+", "-", "*", "/", "=", "(", ")"]


def corpus(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for a, b in itertools.product(EN + ZH, repeat=2):
        lines.append(f"{a} {rng.choice(DIGITS)} {b}.")
    for _ in range(3000):
        lines.append(" ".join(rng.choice(EN + ZH + DIGITS) for _ in range(rng.randint(3, 12))))
    return lines


def plain_action_tokens(out: Path) -> None:
    """Mark the tool-call markers as ordinary added tokens in the saved tokenizer files."""
    tj = json.loads((out / "tokenizer.json").read_text())
    for token in tj["added_tokens"]:
        if token["content"] in ACTION_TOKENS:
            token["special"] = False
    (out / "tokenizer.json").write_text(json.dumps(tj, indent=2, ensure_ascii=False) + "\n")
    tc = json.loads((out / "tokenizer_config.json").read_text())
    for token in tc.get("added_tokens_decoder", {}).values():
        if token["content"] in ACTION_TOKENS:
            token["special"] = False
    tc["additional_special_tokens"] = [t for t in tc.get("additional_special_tokens", [])
                                       if t not in ACTION_TOKENS]
    (out / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, ensure_ascii=False)
                                               + "\n")
    sm_path = out / "special_tokens_map.json"
    if sm_path.exists():
        sm = json.loads(sm_path.read_text())
        sm["additional_special_tokens"] = [t for t in sm.get("additional_special_tokens", [])
                                           if (t if isinstance(t, str) else t["content"])
                                           not in ACTION_TOKENS]
        sm_path.write_text(json.dumps(sm, indent=2, ensure_ascii=False) + "\n")


def main(dest: str) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="</s>", additional_special_tokens=SPECIAL[3:5],
        model_input_names=["input_ids", "attention_mask"])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
        rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
        torch_dtype="float32")
    model = LlamaForCausalLM(config)
    model.generation_config.max_new_tokens = 32
    model.save_pretrained(out, safe_serialization=True)

    # The tokenizer must not hand token_type_ids to generate() (transformers 4.48 and 4.57).
    tc_path = out / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text())
    tc["model_input_names"] = ["input_ids", "attention_mask"]
    tc_path.write_text(json.dumps(tc, indent=2, ensure_ascii=False) + "\n")

    plain_action_tokens(out)
    reloaded = PreTrainedTokenizerFast.from_pretrained(out)
    prompt = reloaded.apply_chat_template([{"role": "user", "content": "你好 hello"}],
                                          tokenize=False, add_generation_prompt=True)
    ids = reloaded(prompt, return_tensors="pt")
    gen = LlamaForCausalLM.from_pretrained(out).generate(**ids, max_new_tokens=4,
                                                         do_sample=False)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params} parameters, vocab {len(fast)}, "
          f"generate ok ({gen.shape[1] - ids['input_ids'].shape[1]} new tokens)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "recipes/models/tiny-internlm2")
