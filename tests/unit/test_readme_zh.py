"""README_zh-CN.md is the English README in Chinese: the same sections in the same order,
and in each section the same commands (the lines of its `sh` blocks and every inline
`internpipe …` command), so a command added to one and not the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {
    "Set up": "安装与上手",
    "Quick start": "快速开始",
    "The InternLM course": "实战营课程对照",
    "A recipe": "配方",
    "Commands": "命令",
    "How a run works": "一次运行是怎样进行的",
    "Stages": "各阶段",
    "Chat with what you built": "和训练出的模型对话",
    "Vision-language models": "视觉语言模型（多模态）",
    "Going to a cluster (Slurm)": "上集群（Slurm）",
    "Recipe reference": "配方参考",
    "Troubleshooting": "常见问题",
    "Tool environments": "工具环境",
    "The tiny offline model": "自带的小模型",
    "Status": "现状",
    "Development": "开发",
    "Contributing: the layout and the stage contract": "参与开发：目录结构与阶段约定",
}


def sections(path: Path) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", path.read_text(encoding="utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def commands(body: str) -> set[str]:
    found = set()
    for block in re.findall(r"```sh\n(.*?)```", body, re.S):
        found |= {line.split("#")[0].strip() for line in block.splitlines() if line.strip()}
    prose = re.sub(r"```.*?```", "", body, flags=re.S)
    found |= {" ".join(span.split()) for span in re.findall(r"`(internpipe [^`]*)`", prose)}
    return found


def test_both_readmes_link_each_other() -> None:
    assert "(README_zh-CN.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(README.md)" in (ROOT / "README_zh-CN.md").read_text(encoding="utf-8")


def test_same_sections_in_the_same_order() -> None:
    english = list(sections(ROOT / "README.md"))
    chinese = list(sections(ROOT / "README_zh-CN.md"))
    assert english == list(SECTIONS), "a section was added to README.md: map it here"
    assert chinese == [SECTIONS[s] for s in english]


def test_same_commands_in_each_section() -> None:
    english = sections(ROOT / "README.md")
    chinese = sections(ROOT / "README_zh-CN.md")
    for en, zh in SECTIONS.items():
        assert commands(english[en]) == commands(chinese[zh]), en


def test_the_course_table_has_the_same_rows() -> None:
    def rows(body: str) -> list[str]:
        return [" ".join(re.findall(r"`([^`]*)`", line.split("|")[-2]))
                for line in body.splitlines() if line.startswith("| ") and "`" in line]

    english = sections(ROOT / "README.md")["The InternLM course"]
    chinese = sections(ROOT / "README_zh-CN.md")["实战营课程对照"]
    assert rows(english) == rows(chinese) and len(rows(english)) >= 10
