"""What users pass to make (APP_VERSION, ANSIBLE_ARGS, ...) is checked or split, never run."""

import os
from pathlib import Path

from helpers import run


def test_with_args_splits_words_and_runs_none(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    words = f"-e 'app_replicas=4 x' ; touch {marker} $(touch {marker}) `touch {marker}`"
    result = run(
        "scripts/with-args", "ARGS", "printf", "[%s]",
        env={**os.environ, "ARGS": words}, timeout=30,
    )  # fmt: skip
    assert result.stdout.startswith("[-e][app_replicas=4 x][;][touch]")
    assert not marker.exists()


def test_with_args_refuses_unbalanced_quotes() -> None:
    result = run(
        "scripts/with-args", "ARGS", "true", env={**os.environ, "ARGS": "-e 'x"}, check=False
    )
    assert result.returncode != 0
    assert "ARGS could not be split into words" in result.stderr


def test_make_provision_does_not_run_what_ansible_args_hides(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = run(
        "make", "provision", f"ANSIBLE_ARGS=--syntax-check; touch {marker}",
        check=False, timeout=300,
    )  # fmt: skip
    assert not marker.exists(), result.stdout + result.stderr
    assert result.returncode != 0  # ansible-playbook refuses the stray words


def test_make_deploy_refuses_an_app_version_that_is_no_tag(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = run("make", "deploy", f"APP_VERSION=1.0;touch {marker}", check=False, timeout=300)
    assert result.returncode != 0
    assert "APP_VERSION must be 1-64 of the characters" in result.stderr
    assert not marker.exists()
