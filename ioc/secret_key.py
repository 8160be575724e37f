"""The key that signs session cookies: IOC_SECRET_KEY, or one generated once and kept in IOC_DATA_DIR.

The generated key is written to a private temporary file and linked into place, so web workers starting at the
same moment all end up reading the one key that won, never a half-written file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from ioc.datadir import secure_data_folder
from ioc.errors import IocError
from ioc.settings import MIN_SECRET_KEY_LENGTH, Settings

log = logging.getLogger(__name__)

SECRET_KEY_FILE: Final = "secret_key"
KEY_BYTES: Final = 32  # written as 64 hex characters


def _read_key(path: Path) -> bytes:
    """The key kept in the file; its permissions tightened to the owner if they were looser."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); restricting it to its owner", path, mode)
        path.chmod(0o600)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise IocError(f"{path} holds no usable secret key; delete it to generate a new one (sessions end)")
    return key.encode("ascii")


def secret_key(settings: Settings) -> bytes:
    """The session signing key: IOC_SECRET_KEY, else the one in IOC_DATA_DIR/secret_key (made, mode 0600)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    path = settings.data_dir / SECRET_KEY_FILE
    try:
        secure_data_folder(settings.data_dir)
        try:
            return _read_key(path)
        except FileNotFoundError:
            pass
        draft = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(KEY_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won the race: use its key
                os.link(draft, path)
                log.info("generated the session secret key in %s", path)
        finally:
            draft.unlink(missing_ok=True)
        return _read_key(path)
    except (UnicodeDecodeError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise IocError(f"cannot read or create the secret key {path}: {reason} (or set IOC_SECRET_KEY)") from None
