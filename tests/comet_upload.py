"""What ``comet upload`` checks before its first network call, run on an archive.

``comet upload ARCHIVE`` unzips the archive and builds comet_ml's ``OfflineSender`` over
it, which reads and validates ``experiment.json``; sending then validates every message
of ``messages.json`` against comet_ml's own JSON schemas before it is sent. This does
all of that with comet_ml's own code and schemas, and stops before the handshake.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from comet_ml import offline

# Message type -> the sender's validator attribute, as OfflineSender._send_messages uses them.
VALIDATORS = {
    "metric_msg": "metric_msg_validator",
    "parameter_msg": "parameter_msg_validator",
    "file_upload": "upload_msg_validator",
    "remote_file": "remote_file_msg_validator",
    "log_other": "log_other_message_validator",
    "os_packages": "os_packages_msg_validator",
    "graph": "graph_msg_validator",
    "system_details": "system_details_msg_validator",
    "cloud_details": "cloud_details_msg_validator",
    "installed_packages": "installed_packages_validator",
    "remote_model": "remote_model_msg_validator",
    "register_model": "register_model_msg_validator",
    "file_name": "file_name_msg_validator",
    "html": "html_msg_validator",
    "htmlOverride": "html_override_msg_validator",
    "gpu_static_info": "gpu_static_info_msg_validator",
    "git_metadata": "git_metadata_msg_validator",
    "system_info": "system_info_msg_validator",
    "log_dependency": "log_dependency_msg_validator",
    "standard_output": "standard_output_msg_validator",
    "ws_msg": "ws_msg_validator",
}


def comet_upload_accepts(archive: Path) -> Counter[str]:
    """Raise if comet_ml's offline-archive code refuses ``archive``; the message types."""
    directory = offline.unzip_offline_archive(str(archive))
    try:
        sender = offline.OfflineSender(
            api_key="0" * 25, offline_dir=directory, raise_validation_error_for_tests=True
        )
        kinds: Counter[str] = Counter()
        lines = Path(directory, "messages.json").read_text(encoding="utf-8").split("\n")
        for line in lines:
            if not line.strip():
                continue
            message: dict[str, Any] = json.loads(line)
            kind = message["type"]
            kinds[kind] += 1
            validator = getattr(sender, VALIDATORS[kind])
            validator.validate(message["payload"])
            if kind == "file_upload":
                assert Path(directory, message["payload"]["file_path"]).is_file()
        return kinds
    finally:
        shutil.rmtree(directory, ignore_errors=True)
