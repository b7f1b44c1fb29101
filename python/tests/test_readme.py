"""The Python blocks of the workspace README's "## Python" section run as they are written."""

import asyncio
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    if not README.exists():
        return []
    text = README.read_text(encoding="utf-8")
    start = text.find("\n## Python\n")
    if start < 0:
        return []
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else len(text)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.skipif(not python_blocks(), reason="no README beside the package")
@pytest.mark.parametrize("block", python_blocks())
def test_readme_block_runs(block):
    namespace = {"__name__": "readme"}
    exec(compile(block, str(README), "exec"), namespace)
    handler = namespace.get("handler")
    if handler is not None and asyncio.iscoroutinefunction(handler):
        assert asyncio.run(handler()) == {"data": 1}
