"""The data folder (IOC_DATA_DIR) kept private to its owner: the folder and its subfolders 0700, every file 0600.

It holds password and token hashes, the audit log, the session key and Redis's data, so other local users must not
read any of it. Every ioc process sets the umask PRIVATE_UMASK at start (`ioc` entry points), so what it and its
children create is private; the code that creates the folder or its files (the SQLite database, the embedded Redis,
the secret key, lock and run files) asks for private modes itself too, so it holds for a library caller with the
usual umask. A folder left by an older version (0755, files 0644) is tightened the first time a process uses it,
with a warning naming what was open.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

FOLDER_MODE: Final = 0o700
FILE_MODE: Final = 0o600
PRIVATE_UMASK: Final = 0o077

_checked: set[Path] = set()  # folders already walked by this process (a walk per process is enough)
_checked_lock: Final = threading.Lock()


def set_private_umask() -> int:
    """Make every file and folder this process (and its children) creates private to the owner; the old umask."""
    return os.umask(PRIVATE_UMASK)


def private_opener(path: str, flags: int) -> int:
    """An `opener` for open(): a file it creates is private to the owner, whatever the umask."""
    return os.open(path, flags, FILE_MODE)


def private_folder(path: Path) -> Path:
    """Create the folder private to the owner (and any missing parent, which is ours too), or tighten it if open."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
            folder.chmod(FOLDER_MODE)  # mkdir's mode is masked by the umask; 0700 is what we mean
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & PRIVATE_UMASK:
        log.warning("%s was open to other users (mode %o); restricting it to its owner", path, mode)
        path.chmod(FOLDER_MODE)
    return path


def secure_data_folder(path: Path) -> Path:
    """The data folder created private, and (once per process) everything already in it tightened: subfolders to
    0700, files (the database with its -wal/-shm/-journal, Redis's files, the session key, run files) to 0600.
    Symbolic links are left alone."""
    private_folder(path)
    key = path.resolve()
    with _checked_lock:
        if key in _checked:
            return path
        _checked.add(key)
    opened: list[str] = []
    for folder, folders, files in os.walk(path):
        for name in folders + files:
            entry = Path(folder, name)
            try:
                info = entry.lstat()
                if stat.S_ISLNK(info.st_mode) or not info.st_mode & PRIVATE_UMASK:
                    continue
                entry.chmod(FOLDER_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE)
            except FileNotFoundError:
                continue  # removed meanwhile (a lock or a temporary file)
            opened.append(f"{entry} ({stat.S_IMODE(info.st_mode):o})")
    if opened:
        log.warning("files in %s were open to other users; restricted to their owner: %s", path, ", ".join(opened))
    return path


def private_file(path: Path) -> Path:
    """Create the file empty and private if it does not exist (a file made by someone else keeps its content)."""
    os.close(private_opener(str(path), os.O_WRONLY | os.O_CREAT))
    return path
