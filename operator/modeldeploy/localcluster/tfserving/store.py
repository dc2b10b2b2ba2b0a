"""What exists under model base paths: a directory tree standing in for buckets and volumes.

A base path URI maps to a directory under ``root``: ``gs://b/p`` to ``root/gs/b/p``, ``s3://b/p`` to
``root/s3/b/p``, ``pvc://claim/p`` to ``root/pvc/claim/p``, ``http(s)://host/p`` to ``root/http/host/p``,
``/x/y`` (or ``file:///x/y``) to ``root/file/x/y``. ``aliases`` maps a pod-local path prefix (an emptyDir
an init container filled, e.g. ``/models/resnet``, or a claim's mount) to the URI it came from. A version
is a numeric sub-directory; an optional ``version.json`` inside holds ``VersionSpec`` fields, e.g.
``{"load_seconds": 2, "error": "bad graph"}``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

from modeldeploy.localcluster.tfserving.status import CODE_NUMBERS

VERSION_FILE = "version.json"
_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9.]*)://(?P<host>[^/]*)(?P<path>/.*)?$")
# absl::SimpleAtoi as file_system_storage_path_source.cc ParseVersionNumber uses it: optional surrounding
# whitespace, an optional sign, decimal digits, within int64.
_VERSION_DIR = re.compile(r"^\s*[+-]?\d+\s*$", re.ASCII)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class VersionSpec:
    """How loading one version behaves: how long it takes and, when ``error`` is set, how it fails."""

    load_seconds: float = 0.0
    error: str | None = None
    error_code: str = "UNKNOWN"

    def __post_init__(self) -> None:
        if self.load_seconds < 0:
            raise ValueError(f"load_seconds must be >= 0, got {self.load_seconds}")
        if self.error_code not in CODE_NUMBERS or self.error_code == "OK":
            raise ValueError(f"error_code must be a non-OK status code name, got {self.error_code!r}")


def parse_version_dir(name: str) -> int | None:
    if not _VERSION_DIR.match(name):
        return None
    number = int(name.strip())
    return number if -_INT64_MAX - 1 <= number <= _INT64_MAX else None


def _spec_from_file(path: Path) -> VersionSpec:
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return VersionSpec()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON object of VersionSpec fields ({exc})") from exc
    known = {f.name for f in fields(VersionSpec)}
    if not isinstance(raw, dict) or set(raw) - known:
        raise ValueError(f"{path}: expected a JSON object with keys among {sorted(known)}, got {raw!r}")
    return VersionSpec(**raw)


class ModelStore:
    def __init__(self, root: Path, aliases: Mapping[str, str] | None = None) -> None:
        self.root = Path(root)
        # Trailing slashes carry no meaning in a prefix; dropping them keeps the prefix match simple.
        self.aliases = {k.rstrip("/"): v.rstrip("/") for k, v in (aliases or {}).items()}

    def directory(self, base_path: str) -> Path | None:
        """The directory standing in for ``base_path``, or None for a relative path or unknown scheme."""
        resolved = self._resolve_alias(base_path)
        match = _URI.match(resolved)
        if match is None:
            if not resolved.startswith("/"):
                return None
            return self._under("file", "", resolved)
        scheme = match["scheme"].lower()
        path = match["path"] or "/"
        if scheme == "file":
            return self._under("file", "", path)
        if scheme in ("gs", "s3", "pvc"):
            return self._under(scheme, match["host"], path)
        if scheme in ("http", "https"):
            return self._under("http", match["host"], path)
        return None

    def _resolve_alias(self, base_path: str) -> str:
        best = ""
        for prefix in self.aliases:
            if (base_path == prefix or base_path.startswith(prefix + "/")) and len(prefix) > len(best):
                best = prefix
        return self.aliases[best] + base_path[len(best) :] if best else base_path

    def _under(self, top: str, host: str, path: str) -> Path | None:
        parts = [p for p in PurePosixPath(path).parts if p not in ("/", "")]
        if ".." in parts or (host and ("/" in host or host in (".", ".."))):
            return None  # never let a base path escape the store
        return self.root.joinpath(top, *([host] if host else []), *parts)

    def exists(self, base_path: str) -> bool:
        directory = self.directory(base_path)
        return directory is not None and directory.is_dir()

    def versions(self, base_path: str) -> dict[int, VersionSpec]:
        directory = self.directory(base_path)
        if directory is None or not directory.is_dir():
            return {}
        found: dict[int, VersionSpec] = {}
        for child in sorted(directory.iterdir()):
            number = parse_version_dir(child.name)
            if number is not None and child.is_dir():
                found[number] = _spec_from_file(child / VERSION_FILE)
        return found

    def add_version(self, uri: str, number: int, load_seconds: float = 0.0, error: str | None = None) -> Path:
        directory = self.directory(uri)
        if directory is None:
            raise ValueError(f"{uri!r} is not a base path the store can hold")
        spec = VersionSpec(load_seconds=load_seconds, error=error)
        version_dir = directory / str(number)
        version_dir.mkdir(parents=True, exist_ok=True)
        (version_dir / VERSION_FILE).write_text(json.dumps(asdict(spec)))
        return version_dir

    def remove_version(self, uri: str, number: int) -> None:
        directory = self.directory(uri)
        if directory is not None:
            shutil.rmtree(directory / str(number), ignore_errors=True)

    def make_base_path(self, uri: str) -> Path:
        """An empty base path (it exists, with no versions)."""
        directory = self.directory(uri)
        if directory is None:
            raise ValueError(f"{uri!r} is not a base path the store can hold")
        directory.mkdir(parents=True, exist_ok=True)
        return directory
