"""Each role variable has its default in defaults/main.yml, and the argument specs say the same."""

import pytest
import yaml
from helpers import ROOT

ROLES = sorted(path.parent.parent.name for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role: str) -> None:
    defaults = yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text()) or {}
    specs = yaml.safe_load((ROOT / f"roles/{role}/meta/argument_specs.yml").read_text())
    # Every entry point's options (a role used only through tasks_from has no main).
    options = {
        name: option
        for entry in specs["argument_specs"].values()
        for name, option in entry.get("options", {}).items()
    }
    assert sorted(options) == sorted(defaults), "variables in one file and not the other"
    for name, option in options.items():
        assert option.get("default") == defaults[name], name
