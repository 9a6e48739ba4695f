"""The README's figures, copied from the committed results files, never typed by hand.

A figure block in README.md sits between `<!-- figures: FILE#SECTION -->` and
`<!-- end figures -->` and holds the section `## SECTION` of FILE (its heading left out). The
bench tools refresh the blocks of the files they write (refresh); tests/unit/test_readme_figures.py
checks that every block equals its section (blocks, section).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- figures: ([^#\s]+)#(\S+) -->\n(.*?)<!-- end figures -->", re.S)


def section(path: str, name: str) -> str:
    """The text under `## name` in path, up to the next `## ` heading."""
    parts = re.split(r"^## (\S+)\n", (ROOT / path).read_text(), flags=re.M)
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    if name not in found:
        raise KeyError(f"{path} has no section '## {name}'")
    return found[name].strip() + "\n"


def blocks(readme: Path = README) -> list[tuple[str, str, str]]:
    """Each figure block of the README as (file, section, text)."""
    return BLOCK.findall(readme.read_text())


def refresh(path: str, readme: Path = README) -> None:
    """Copy the sections of path into the README's blocks for it."""
    text = readme.read_text()

    def fill(match: re.Match) -> str:
        if match.group(1) != path:
            return match.group(0)
        return (
            f"<!-- figures: {path}#{match.group(2)} -->\n"
            f"{section(path, match.group(2))}<!-- end figures -->"
        )

    readme.write_text(BLOCK.sub(fill, text))
