"""scripts/readme_commands.py: how a recorded run's output replaces the one the README shows (no commands run)."""

from __future__ import annotations

from types import ModuleType

import pytest
from _scripts import load_script

COMMAND = "surrogate optimize --model m --gpus h100-sxm:1 --input-len 8 --output-len 8"
RECORD = f"$ {COMMAND}\n[exit 0]\ntable\nRecommended on 1x h100-sxm: vllm serve m\nnote: no latency limit given\n\n"


@pytest.fixture(scope="module")
def readme() -> ModuleType:
    return load_script("scripts/readme_commands.py", "readme_commands_script")


def test_an_elided_output_keeps_its_last_line_on_stdout(readme: ModuleType) -> None:
    text = f"intro\n```\n$ {COMMAND}\n...\nold last line\n```\nafter\n"
    assert readme.refresh_readme(text, {COMMAND: RECORD}) == (
        f"intro\n```\n$ {COMMAND}\n...\nRecommended on 1x h100-sxm: vllm serve m\n```\nafter\n")


def test_a_whole_output_is_shown_whole_with_its_notes(readme: ModuleType) -> None:
    text = f"```\n$ {COMMAND}\nold\n```\n"
    assert readme.refresh_readme(text, {COMMAND: RECORD}) == (
        f"```\n$ {COMMAND}\ntable\nRecommended on 1x h100-sxm: vllm serve m\nnote: no latency limit given\n```\n")
