"""XTuner 0.2.0's prompt templates (`xtuner.utils.templates.PROMPT_TEMPLATE`), as data: the
exact SYSTEM / INSTRUCTION / SUFFIX / SEP strings the finetune stage trains with, from which
chat_templates.py renders the text XTuner trains on and writes the equivalent jinja chat
template into the model folder. Copied from the installed package's source, not imported
(XTuner lives in its own environment); tests/integration/test_chat_templates.py compares
every entry with the XTuner env's own dict."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """One XTuner prompt template. Turn 0: SYSTEM + INSTRUCTION, output + SUFFIX, SEP; later
    turns: INSTRUCTION, output + SUFFIX, SEP. Without SUFFIX_AS_EOS the tokenizer's EOS
    follows each output and a BOS starts the next turn."""

    system: str = ""            # "": the template has no SYSTEM (a system message is dropped)
    instruction: str = "{input}"
    suffix: str = ""
    sep: str = ""
    suffix_as_eos: bool = False
    stop_words: tuple[str, ...] = ()


TEMPLATES: dict[str, Template] = {
    'default': Template(
        system='<|System|>:{system}\n',
        instruction='<|User|>:{input}\n<|Bot|>:',
        sep='\n',
    ),
    'zephyr': Template(
        system='<|system|>\n{system}\n',
        instruction='<|user|>\n{input}\n<|assistant|>\n',
        sep='\n',
    ),
    'internlm_chat': Template(
        system='<|System|>:{system}\n',
        instruction='<|User|>:{input}<eoh>\n<|Bot|>:',
        suffix='<eoa>',
        sep='\n',
        suffix_as_eos=True,
        stop_words=('<eoa>',),
    ),
    'internlm2_chat': Template(
        system='<|im_start|>system\n{system}<|im_end|>\n',
        instruction='<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n',
        suffix='<|im_end|>',
        sep='\n',
        suffix_as_eos=True,
        stop_words=('<|im_end|>',),
    ),
    'moss_sft': Template(
        system='{system}\n',
        instruction='<|Human|>: {input}<eoh>\n',
        sep='\n',
        stop_words=('<eoc>', '<eom>'),
    ),
    'llama2_chat': Template(
        system=('[INST] <<SYS>>\n You are a helpful, respectful and honest assistant. Al'
            'ways answer as helpfully as possible, while being safe. Your answers s'
            'hould not include any harmful, unethical, racist, sexist, toxic, dange'
            'rous, or illegal content. Please ensure that your responses are social'
            'ly unbiased and positive in nature.\n{system}\n<</SYS>>\n [/INST] '),
        instruction='[INST] {input} [/INST]',
        sep='\n',
    ),
    'code_llama_chat': Template(
        system='{system}\n',
        instruction='[INST] {input} [/INST]',
    ),
    'chatglm2': Template(
        system='{system}\n',
        instruction='[Round {round}]\n\n问：{input}\n\n答：',
        sep='\n\n',
    ),
    'chatglm3': Template(
        system='<|system|>\n{system}',
        instruction='<|user|>\n{input}<|assistant|>\n',
        sep='\n',
    ),
    'qwen_chat': Template(
        system='<|im_start|>system\n{system}<|im_end|>\n',
        instruction='<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n',
        suffix='<|im_end|>',
        sep='\n',
        suffix_as_eos=True,
        stop_words=('<|im_end|>', '<|endoftext|>'),
    ),
    'baichuan_chat': Template(
        system='{system}\n',
        instruction='<reserved_102>{input}<reserved_103>',
        sep='\n',
    ),
    'baichuan2_chat': Template(
        system='{system}\n',
        instruction='<reserved_106>{input}<reserved_107>',
        sep='\n',
    ),
    'wizardlm': Template(
        system=('A chat between a curious user and an artificial intelligence assistant'
            '. The assistant gives helpful, detailed, and polite answers to the use'
            "r's questions. {system}\n "),
        instruction='USER: {input} ASSISTANT:',
        sep='\n',
    ),
    'wizardcoder': Template(
        system=('Below is an instruction that describes a task. Write a response that a'
            'ppropriately completes the request.\n\n{system}\n '),
        instruction='### Instruction:\n{input}\n\n### Response:',
        sep='\n\n',
    ),
    'vicuna': Template(
        system=('A chat between a curious user and an artificial intelligence assistant'
            '. The assistant gives helpful, detailed, and polite answers to the use'
            "r's questions. {system}\n "),
        instruction='USER: {input} ASSISTANT:',
        sep='\n',
    ),
    'deepseek_coder': Template(
        system=('You are an AI programming assistant, utilizing the DeepSeek Coder mode'
            'l, developed by DeepSeekCompany, and you only answer questions related'
            ' to computer science. For politically sensitive questions, security an'
            'd privacy issues, and other non-computer science questions, you will r'
            'efuse to answer. {system}\n'),
        instruction='### Instruction:\n{input}\n### Response:\n',
        sep='\n',
    ),
    'deepseekcoder': Template(
        system=('You are an AI programming assistant, utilizing the DeepSeek Coder mode'
            'l, developed by DeepSeekCompany, and you only answer questions related'
            ' to computer science. For politically sensitive questions, security an'
            'd privacy issues, and other non-computer science questions, you will r'
            'efuse to answer. {system}\n'),
        instruction='### Instruction:\n{input}\n### Response:\n',
        sep='\n',
    ),
    'deepseek_moe': Template(
        system='[INST] {system} [/INST]\n',
        instruction='[INST] {input} [/INST]',
        sep='\n',
    ),
    'deepseek_v2': Template(
        system='{system}\n\n',
        instruction='User: {input}\n\nAssistant: ',
        suffix='<｜end▁of▁sentence｜>',
        suffix_as_eos=True,
        stop_words=('<｜end▁of▁sentence｜>',),
    ),
    'mistral': Template(
        system='[INST] {system} [/INST]\n',
        instruction='[INST] {input} [/INST]',
        sep='\n',
    ),
    'mixtral': Template(
        system='[INST] {system} [/INST]\n',
        instruction='[INST] {input} [/INST]',
        sep='\n',
    ),
    'minicpm': Template(
        instruction='<用户> {input} <AI>',
        sep='\n',
    ),
    'minicpm3': Template(
        system='<|im_start|>system\n{system}<|im_end|>\n',
        instruction='<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n',
        suffix='<|im_end|>',
        sep='\n',
        suffix_as_eos=True,
        stop_words=('<|im_end|>', '<|endoftext|>'),
    ),
    'gemma': Template(
        system='<start_of_turn>system\n{system}<end_of_turn>\n',
        instruction='<start_of_turn>user\n{input}<end_of_turn>\n<start_of_turn>model\n',
        suffix='<end_of_turn>',
        sep='\n',
        suffix_as_eos=False,
        stop_words=('<end_of_turn>',),
    ),
    'cohere_chat': Template(
        system='<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{system}<|END_OF_TURN_TOKEN|>',
        instruction=('<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{input}<|END_OF_TURN_TOKEN|><|STA'
            'RT_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'),
        suffix='<|END_OF_TURN_TOKEN|>',
        suffix_as_eos=True,
        stop_words=('<|END_OF_TURN_TOKEN|>',),
    ),
    'llama3_chat': Template(
        system='<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>',
        instruction=('<|start_header_id|>user<|end_header_id|>\n\n{input}<|eot_id|><|start_hea'
            'der_id|>assistant<|end_header_id|>\n\n'),
        suffix='<|eot_id|>',
        suffix_as_eos=True,
        stop_words=('<|eot_id|>',),
    ),
    'phi3_chat': Template(
        system='<|system|>\n{system}<|end|>\n',
        instruction='<|user|>\n{input}<|end|>\n<|assistant|>\n',
        suffix='<|end|>',
        sep='\n',
        suffix_as_eos=True,
        stop_words=('<|end|>',),
    ),
}
