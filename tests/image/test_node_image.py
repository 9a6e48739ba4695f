"""The node image (Vagrant's docker provider, Molecule): no password, only the lab's key."""

import pytest
from helpers import ROOT, docker

pytestmark = pytest.mark.docker
NODE = "flask-lb-lab/node:bookworm"
# Vagrant's well-known insecure keys are known to everyone: the comment they carry.
INSECURE = "vagrant insecure public key"


def in_node(*command: str) -> str:
    return docker("run", "--rm", "--entrypoint", command[0], NODE, *command[1:])


def test_no_account_has_a_known_password() -> None:
    # passwd -S: the second field is L (locked) or NP (no password, unusable with sshd's default).
    for user in ("root", "vagrant"):
        assert in_node("passwd", "-S", user).split()[1] == "L", user
    shadow = in_node("cat", "/etc/shadow")
    assert all(line.split(":")[1][:1] in ("!", "*") for line in shadow.splitlines()), shadow


def test_only_the_lab_key_is_authorized() -> None:
    keys = in_node("cat", "/home/vagrant/.ssh/authorized_keys").splitlines()
    assert keys == [(ROOT / ".lab/ssh/id_ed25519.pub").read_text().strip()]
    assert not [key for key in keys if INSECURE in key]
