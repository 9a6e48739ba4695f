"""The README's figures are the committed results files' own, never typed by hand."""

import pytest
import readme_figures

BLOCKS = readme_figures.blocks()


def test_the_readme_quotes_every_benchmark() -> None:
    quoted = {(path, name) for path, name, _ in BLOCKS}
    assert {
        ("bench/results/results.md", "ratios"),
        ("bench/results/provision.md", "warm"),
        ("bench/results/provision.md", "hosts"),
        ("bench/results/provision.md", "cold"),
        ("bench/results/suite.md", "suite"),
    } <= quoted


@pytest.mark.parametrize(("path", "name", "text"), BLOCKS, ids=[f"{p}#{n}" for p, n, _ in BLOCKS])
def test_each_figure_block_equals_its_results_section(path: str, name: str, text: str) -> None:
    assert text == readme_figures.section(path, name)
