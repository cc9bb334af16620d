"""``folder``: every image under a directory, recursively, unlabelled."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example
from vestis.images import is_image_path


@DATASETS.register("folder")
class FolderDataset(Dataset):
    """Images under ``root`` (hidden files and non-image suffixes skipped), sorted by relative path.

    The id is the path relative to ``root`` (POSIX separators), so it is stable across machines.
    Symbolic links to files are followed, links to directories are not (no loops). Entries
    with an image suffix that cannot be images (a directory, FIFO, socket or device, a
    dangling link or a link loop) and directories that cannot be listed go to
    :attr:`skipped` with a reason of :data:`vestis.images.REASONS`; nothing is opened here,
    so a FIFO never blocks the walk. Names that are not valid UTF-8 are kept as
    ``os.fsdecode`` gives them (see :func:`vestis.images.path_text` for storing them).

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("folder:photos/")  # doctest: +SKIP
    """

    kind = "folder"

    def _load(self) -> list[Example]:
        if not self.root.is_dir():
            raise DatasetError(f"folder dataset: {self.root} is not a directory")
        examples = []
        for path in self._walk():
            rel = path.relative_to(self.root)
            examples.append(Example(id=rel.as_posix(), image=str(path), source=self.name))
        examples.sort(key=lambda ex: ex.id)
        self.skipped.sort()
        return examples

    def _walk(self):
        """Regular files (or links to them) with an image suffix; everything else met goes to skipped."""
        pending = [str(self.root)]
        while pending:
            folder = pending.pop()
            try:
                with os.scandir(folder) as entries:
                    listing = list(entries)
            except OSError as exc:
                self.skipped.append((folder, "unreadable", f"cannot list directory: {exc.strerror or exc}"))
                continue
            for entry in listing:
                if entry.name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    pending.append(entry.path)
                    if is_image_path(entry.name):
                        self.skipped.append((entry.path, "not_a_file", "a directory"))
                    continue
                if not is_image_path(entry.name):
                    continue
                kind = _file_kind(entry.path)
                if kind is None:
                    yield Path(entry.path)
                else:
                    self.skipped.append((entry.path, *kind))


def _file_kind(path: str) -> tuple[str, str] | None:
    """None for a regular file (after links), else (reason, detail) saying what it is instead."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not_found", "dangling symbolic link"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "not_a_file", "symbolic link loop"
        return "unreadable", exc.strerror or str(exc)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "not_a_file", "a symbolic link to a directory"
    if stat.S_ISFIFO(mode):
        return "not_a_file", "a FIFO"
    if stat.S_ISSOCK(mode):
        return "not_a_file", "a socket"
    return "not_a_file", "a device or other special file"
