"""``folder``: every image under a directory, recursively, unlabelled."""

from __future__ import annotations

from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example
from vestis.images import is_image_path


@DATASETS.register("folder")
class FolderDataset(Dataset):
    """Images under ``root`` (hidden files and non-image suffixes skipped), sorted by relative path.

    The id is the path relative to ``root`` (POSIX separators), so it is stable across machines.

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("folder:photos/")  # doctest: +SKIP
    """

    kind = "folder"

    def _load(self) -> list[Example]:
        if not self.root.is_dir():
            raise DatasetError(f"folder dataset: {self.root} is not a directory")
        examples = []
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root)
            hidden = any(part.startswith(".") for part in rel.parts)
            if hidden or not is_image_path(path) or not path.is_file():
                continue
            examples.append(Example(id=rel.as_posix(), image=str(path), source=self.name))
        examples.sort(key=lambda ex: ex.id)
        return examples
