"""Cache of frozen lower-backbone activations, so fine-tuning runs only the upper blocks.

Features for a list of images are computed once per (image size, split block, flip)
and stored as fp16 chunks under ``cache_dir``; a killed run resumes at the first
missing chunk. Images that fail to load are recorded and get zero features with a
``bad`` flag, so one corrupt file never stops training.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vestis.data.base import DatasetError
from vestis.images import ImageLoadError, load_image
from vestis.models.backbones import EfficientNetLite0
from vestis.models.preprocess import to_array
from vestis.progress import progress_bar

log = logging.getLogger(__name__)
CHUNK = 512


#: a deterministic image transform of a training variant: (image, its path) → image
Transform = Callable[[Image.Image, str], Image.Image]


def cache_key(paths: Sequence[str], image_size: int, split: int, hflip: bool, variant: str = "") -> str:
    h = hashlib.sha1(f"v1|{image_size}|{split}|{hflip}{'|' + variant if variant else ''}".encode())
    for p in paths:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def lower_runner(backbone: EfficientNetLite0, image_size: int):
    """A function pixels → lower features: ONNX Runtime when installed (3-5x faster on CPU), else torch."""
    try:
        import onnxruntime as ort

        from vestis.cache import cache_dir

        class Lower(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = backbone

            def forward(self, x):
                return self.net.lower(x)

        weights = hashlib.sha1(backbone.stem[0].weight.detach().numpy().tobytes()).hexdigest()[:8]
        path = cache_dir("onnx") / f"lite0-lower-{weights}-{backbone.split}-{image_size}.onnx"
        if not path.is_file():
            tmp = path.with_suffix(".tmp")
            torch.onnx.export(
                Lower().eval(),
                (torch.zeros(2, 3, image_size, image_size),),
                str(tmp),
                input_names=["pixels"],
                output_names=["lower"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={"pixels": {0: "batch"}, "lower": {0: "batch"}},
            )
            tmp.replace(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return lambda pixels: session.run(None, {"pixels": pixels})[0]
    except Exception as exc:  # no onnxruntime, or export failed: torch does the same, slower
        log.info("feature cache runs on torch (%s)", exc)

        def run(pixels: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                x = torch.from_numpy(pixels).contiguous(memory_format=torch.channels_last)
                return backbone.lower(x).float().numpy()

        return run


def _load(path: str, transform: Transform | None = None):
    try:
        image = load_image(path)
    except ImageLoadError as exc:
        return exc
    return transform(image, path) if transform is not None else image


def lower_features(
    paths: Sequence[str],
    backbone: EfficientNetLite0,
    image_size: int,
    cache_dir: Path,
    hflip: bool = False,
    batch_size: int = 64,
    description: str = "features",
    transform: Transform | None = None,
    variant: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, C, H, W] fp16, bad [N] bool) for ``paths``; cached and resumable.

    ``transform`` (deterministic) is applied to each image first; ``variant`` names it in the
    cache key, so each transform has its own cache.
    """
    key = cache_key(paths, image_size, backbone.split, hflip, variant)
    folder = Path(cache_dir) / f"lower-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").write_text(
        json.dumps({"n": len(paths), "image_size": image_size, "split": backbone.split, "hflip": hflip})
    )
    n_chunks = (len(paths) + CHUNK - 1) // CHUNK
    todo = [c for c in range(n_chunks) if not (folder / f"{c:05d}.npz").is_file()]
    if todo:
        backbone.eval()
        run = lower_runner(backbone, image_size)
        with progress_bar() as bar, ThreadPoolExecutor(max_workers=2) as pool:
            task = bar.add_task(description, total=len(paths), completed=(n_chunks - len(todo)) * CHUNK)
            for c in todo:
                chunk_paths = paths[c * CHUNK : (c + 1) * CHUNK]
                feats, bad = [], []
                for start in range(0, len(chunk_paths), batch_size):
                    loaded = list(
                        pool.map(partial(_load, transform=transform), chunk_paths[start : start + batch_size])
                    )
                    ok = [im for im in loaded if not isinstance(im, Exception)]
                    for im in loaded:
                        if isinstance(im, Exception):
                            log.warning("skipping image: %s", im)
                    out = run(to_array(ok, image_size, hflip=hflip)) if ok else None
                    it = iter(out) if out is not None else iter(())
                    for im in loaded:
                        is_bad = isinstance(im, Exception)
                        bad.append(is_bad)
                        f = next(it) if not is_bad else None
                        feats.append(f.astype(np.float16) if f is not None else None)
                    bar.advance(task, len(loaded))
                shape = (
                    next(f.shape for f in feats if f is not None)
                    if any(f is not None for f in feats)
                    else None
                )
                if shape is None:
                    raise DatasetError(f"no image of chunk {c} could be loaded")
                arr = np.stack([f if f is not None else np.zeros(shape, np.float16) for f in feats])
                tmp = folder / f"{c:05d}.tmp.npz"
                np.savez(tmp, features=arr, bad=np.array(bad))
                tmp.replace(folder / f"{c:05d}.npz")  # atomic: a killed run never leaves a half chunk
    parts = [np.load(folder / f"{c:05d}.npz") for c in range(n_chunks)]
    return np.concatenate([p["features"] for p in parts]), np.concatenate([p["bad"] for p in parts])


def colour_feature_cache(
    paths: Sequence[str],
    image_size: int,
    cache_dir: Path,
    description: str = "colours",
    transform: Transform | None = None,
    variant: str = "",
) -> np.ndarray:
    """[N, COLOUR_FEATURE_DIM] pixel colour statistics of the letterboxed images (after ``transform``,
    named ``variant`` as in :func:`lower_features`), cached."""
    from vestis.colour import COLOUR_FEATURE_DIM, colour_features
    from vestis.models.preprocess import letterbox_batch

    h = hashlib.sha1(f"colour-v1|{image_size}{'|' + variant if variant else ''}".encode())
    for p in paths:
        h.update(p.encode())
        h.update(b"\0")
    path = Path(cache_dir) / f"colour-{h.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    out = np.zeros((len(paths), COLOUR_FEATURE_DIM), dtype=np.float32)
    with progress_bar() as bar, ThreadPoolExecutor(max_workers=2) as pool:
        task = bar.add_task(description, total=len(paths))
        for start in range(0, len(paths), 256):
            loaded = list(pool.map(partial(_load, transform=transform), paths[start : start + 256]))
            ok = [j for j, im in enumerate(loaded) if not isinstance(im, Exception)]
            if ok:
                boxed = letterbox_batch([loaded[j] for j in ok], image_size)
                out[[start + j for j in ok]] = colour_features(boxed)
            bar.advance(task, len(loaded))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return out
