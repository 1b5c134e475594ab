"""Which machine and versions produced the numbers: ratios only mean something with these."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("langchain-core", "langchain-community", "comet_ml", "langchain-comet", "textstat")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def source_digest() -> str:
    """A short hash of langchain_comet/*.py: which code was measured, even uncommitted."""
    digest = hashlib.sha256()
    for path in sorted((PROJECT_ROOT / "langchain_comet").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def source_state() -> str:
    """The commit measured, and whether langchain_comet/ differs from it (read-only git)."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = _git("status", "--porcelain", "--", "langchain_comet")
    changes = " + uncommitted changes in langchain_comet/" if dirty else ""
    return f"{commit}{changes}; sources sha256 {source_digest()}"


def describe() -> dict[str, str]:
    info = {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "python": platform.python_version(),
        "source": source_state(),
    }
    info.update({package: _version(package) for package in PACKAGES})
    return info
