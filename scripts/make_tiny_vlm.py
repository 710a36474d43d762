#!/usr/bin/env python3
"""Build the tiny offline vision-language model used by the tests and the CPU VLM demo.

    T=$(internpipe env path transformers --device cpu)
    $T/bin/python scripts/make_tiny_vlm.py recipes/models/tiny-vlm

Run it with the transformers environment's Python (transformers 5.x, torch, Pillow): the
CPU engine (`transformers serve`) is what serves it. It writes a LLaVA architecture model
(`LlavaForConditionalGeneration`: a CLIP vision tower, 28 x 28 pixels in 14-pixel patches,
a 2-layer projector and a Llama language model of the tiny text model's size), the same
byte-level BPE tokenizer as `make_tiny_model.py` plus the `<image>` token, a real CLIP image
processor (Pillow backend: no torchvision) and the InternLM2 chat template extended with
image parts. InternVL's own processor is not used because it needs torchvision, which has no
CPU build beside this torch. Seeded: the same versions give the same bytes. The result is
committed; `tests/integration/test_tiny_vlm.py` rebuilds it and compares every file.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_model import SPECIAL, VOCAB_SIZE, corpus

IMAGE_TOKEN = "<image>"
IMAGE_SIZE = 28
PATCH = 14
# Content may be a string or a list of parts ({"type": "image"} / {"type": "text"}): each
# image becomes one <image> line before the text, as InternVL's chat format puts it.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
    "{{ '<image>\n' }}{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=[*SPECIAL, IMAGE_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="</s>", additional_special_tokens=[*SPECIAL[3:5], IMAGE_TOKEN],
        model_input_names=["input_ids", "attention_mask"])


def main(dest: str) -> None:
    import torch
    from PIL import Image
    from transformers import (
        AutoProcessor,
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    fast = tokenizer()
    images = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=MEAN, image_std=STD)
    processor = LlavaProcessor(image_processor=images, tokenizer=fast, patch_size=PATCH,
                               vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)

    torch.manual_seed(0)
    text = LlamaConfig(
        vocab_size=len(fast), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
        rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                              num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH,
                              projection_dim=64)
    config = LlavaConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                         image_token_index=fast.convert_tokens_to_ids(IMAGE_TOKEN),
                         vision_feature_select_strategy="default", vision_feature_layer=-1,
                         projector_hidden_act="gelu", tie_word_embeddings=False,
                         image_seq_length=(IMAGE_SIZE // PATCH) ** 2)
    config.dtype = "bfloat16"
    # bf16 on disk keeps the committed folder under 2 MB (fp32: 2.9 MB)
    model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.max_new_tokens = 32
    model.generation_config.bos_token_id = fast.bos_token_id
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(out, safe_serialization=True)

    reloaded = AutoProcessor.from_pretrained(out)
    picture = Image.new("RGB", (40, 30), (200, 30, 30))
    messages = [{"role": "user", "content": [{"type": "image"},
                                             {"type": "text", "text": "What colour is it?"}]}]
    prompt = reloaded.apply_chat_template(messages, add_generation_prompt=True)
    inputs = reloaded(images=picture, text=prompt, return_tensors="pt")
    gen = LlavaForConditionalGeneration.from_pretrained(out).generate(
        **inputs, max_new_tokens=4, do_sample=False)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {params} parameters, vocab {len(fast)}, "
          f"{int((inputs['input_ids'] == config.image_token_index).sum())} image tokens, "
          f"generate ok ({gen.shape[1] - inputs['input_ids'].shape[1]} new tokens)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "recipes/models/tiny-vlm")
