"""An aiosmtpd handler that writes each message it receives to a folder (one .eml file each).

Run as: python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_folder.Folder FOLDER
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any


class Folder:
    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_cli(cls, parser: Any, *args: str) -> Folder:
        if len(args) != 1:
            parser.error("smtp_folder.Folder takes one argument: the folder to write messages to")
        return cls(args[0])

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = uuid.uuid4().hex
        tmp = self.folder / f"{name}.tmp"
        header = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
        tmp.write_bytes(header.encode() + (envelope.original_content or envelope.content))
        os.replace(tmp, self.folder / f"{name}.eml")  # readers never see half a message
        return "250 Message accepted"
