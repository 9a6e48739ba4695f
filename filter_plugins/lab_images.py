"""The ID of the image in a `docker save` archive, read on the controller.

The app role compares it with the image a host runs, so an image rebuilt under the same tag is
rolled out (drained) like a new version, and a host whose earlier load failed loads it again.

    {{ app_image_archive | docker_archive_image_id }}   "sha256:..."
"""

from __future__ import annotations

import json
import os
import tarfile
from functools import cache
from pathlib import Path


@cache
def _image_id(path: str, mtime_ns: int, size: int) -> str:
    with tarfile.open(path) as archive:
        member = archive.extractfile("manifest.json")
        if member is None:
            raise ValueError(f"{path}: no manifest.json, not a `docker save` archive")
        manifest = json.load(member)
    if len(manifest) != 1:
        raise ValueError(f"{path}: holds {len(manifest)} images, not one")
    # "<hex>.json" (docker save up to 24) or "blobs/sha256/<hex>" (the OCI layout of 25 on).
    return "sha256:" + Path(manifest[0]["Config"]).name.removesuffix(".json")


def docker_archive_image_id(path: str) -> str:
    """The image ID ("sha256:...") of the one image in the archive at path."""
    stat = os.stat(path)
    return _image_id(path, stat.st_mtime_ns, stat.st_size)


class FilterModule:
    def filters(self) -> dict:
        return {"docker_archive_image_id": docker_archive_image_id}
