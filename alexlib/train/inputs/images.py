"""Datasets stored as one image file each, in the class-per-folder layout (torchvision's ImageFolder):
``train/<class>/<image>`` and ``test/<class>/<image>``, read from a folder or straight from a ``.tar`` /
``.tar.gz`` / ``.tar.xz`` archive (streamed once, never extracted to disk), with or without one top folder
around train/ and test/.

The images are decoded once (Pillow) into uint8 (N, 3, H, W) ``Split`` s, and the decoded arrays are kept in
``<data_dir>/decoded-images/`` under the digest of what was read (the archive's sha256, or a folder's manifest
digest), written whole or not at all (a temporary file, then a rename), so the next run reads them back in a
fraction of a second instead of decoding again. A run's record names the data by one digest over a manifest of
the files (each file's name, size and sha256), the archive's sha256 and the decoded pixels' sha256, and by no
path of this machine.

alexlib.train.inputs.datasets registers what reads through it: CIFAR-10's JPEG copy (``cifar10_jpeg``) and any folder
of one's own images (``register_image_folder``).
"""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import sys
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import numpy as np

from .splits import DataError, Origin, Split, Splits, file_digest

SPLITS = ("train", "test")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz")
CACHE_FOLDER = "decoded-images"   # under the run's data_dir
CACHE_FORMAT = 1                  # the cache file's layout; a new layout is a new key, never a misread file

# Pillow's image modes other than RGB, as an error message names them
MODES = {"1": "black-and-white", "L": "grayscale", "LA": "grayscale-with-alpha", "P": "palette", "RGBA": "RGBA",
         "CMYK": "CMYK", "YCbCr": "YCbCr", "I": "32-bit integer", "F": "32-bit float", "I;16": "16-bit grayscale"}


@dataclass(frozen=True)
class ImageOrigin(Origin):
    """Where a class-per-folder dataset came from, for the record: the source's own name (never its folder),
    the archive's sha256, one digest over the manifest of the files read, how many, and the decoded pixels'
    digest (another JPEG decoder may give other pixels from the same files). ``location`` is for the console."""
    source: str = ""                   # the archive's or the folder's own name
    archive_sha256: str | None = None  # None for a folder
    manifest_sha256: str = ""          # ``manifest_digest`` of the files read
    file_count: int = 0                # images read, both splits
    pixels_sha256: str = ""            # sha256 of the decoded arrays (train x, y, test x, y)
    decoder: str = ""                  # the JPEG decoder that gave those pixels
    classes: tuple[str, ...] = field(default_factory=tuple)   # label 0, 1, ... in order

    def record(self) -> dict[str, Any]:
        # "files" stays a mapping (the report reads it as file -> md5) and is empty: the manifest digest names
        # the files; no "location", no "fallback_from": a record holds no path of this machine
        return {"location": None, "files": {}, "origin": self.note, "fallback_from": None, "source": self.source,
                "archive_sha256": self.archive_sha256, "manifest_sha256": self.manifest_sha256,
                "file_count": self.file_count, "pixels_sha256": self.pixels_sha256, "decoder": self.decoder,
                "classes": list(self.classes)}

    def fallback_note(self) -> str:
        if self.asked is None:
            return ""
        return f" ({self.asked} has none: read {self.location})"


# ---------------------------------------------------------------------------------------------------
# Digests: the archive's bytes, and the manifest of the files read (names, sizes, contents).
# ---------------------------------------------------------------------------------------------------
def sha256(path: str | os.PathLike) -> str:
    """A file's sha256, once per process per file (the 18 MB archive: about 0.05 s)."""
    return file_digest(path, "sha256")


def manifest_digest(entries: list[tuple[str, int, str]]) -> str:
    """One sha256 over the files read, as (name below the top folder, size in bytes, sha256 of the bytes), in
    name order: the same for an archive and the folder extracted from it, whatever order the archive holds
    them in."""
    h = hashlib.sha256()
    for name, size, digest in sorted(entries):
        h.update(f"{name}\t{size}\t{digest}\n".encode())
    return h.hexdigest()


def _pixels_digest(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in (*train, *test):
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def decoder_version() -> str:
    from PIL import Image, features
    turbo = features.version("libjpeg_turbo")
    return f"Pillow {Image.__version__}" + (f", libjpeg-turbo {turbo}" if turbo else "")


# ---------------------------------------------------------------------------------------------------
# Reading: the files of an archive or a folder as (name below the top folder, bytes), then decoded and checked.
# ---------------------------------------------------------------------------------------------------
def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def _hidden(parts: tuple[str, ...]) -> bool:
    # .DS_Store, ._ resource forks, .git: a copying tool's files, never images of the set
    return any(p.startswith(".") for p in parts)


def _below_top(parts: tuple[str, ...], source: Path, top: list[str | None]) -> tuple[str, ...] | None:
    """A member's path from train/ or test/ on (None: outside them, so not read). ``top`` holds the one top
    folder the archive puts around train/ and test/, once seen; a second one is an error."""
    if parts and parts[0] in SPLITS:
        prefix, rel = None, parts
    elif len(parts) >= 2 and parts[1] in SPLITS:
        prefix, rel = parts[0], parts[1:]
    else:
        return None
    if top and top[0] != prefix:
        raise DataError(f"{source} holds train/ and test/ under two top folders ({top[0] or 'none'} and "
                        f"{prefix or 'none'}); it must hold one dataset: rebuild it with one of them")
    top[:] = [prefix]
    return rel


def _archive_files(path: Path) -> Iterator[tuple[tuple[str, ...], bytes | None]]:
    """Each member below train/ or test/, streamed once: (its path from train/ or test/, its bytes; None for a
    folder)."""
    top: list[str | None] = []
    try:
        with tarfile.open(path, mode="r|*") as tar:   # "|": one pass over the stream, no seeking back
            for m in tar:
                parts = tuple(p for p in PurePosixPath(m.name).parts if p not in (".", ""))
                if _hidden(parts):
                    continue
                rel = _below_top(parts, path, top)
                if rel is None:
                    continue
                if m.isdir():
                    yield rel, None
                elif m.isfile():
                    f = tar.extractfile(m)
                    yield rel, f.read() if f is not None else b""
                else:
                    raise DataError(f"{path}: member {m.name} is not a regular file (a link or a device); "
                                    "rebuild the archive with the images themselves")
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError) as e:
        raise DataError(f"{path} could not be read to its end ({type(e).__name__}: {e}): it is truncated or not "
                        f"a tar archive; copy it again (or rebuild it: tar cJf NAME.tar.xz train test)") from e


def _folder_files(root: Path) -> Iterator[tuple[tuple[str, ...], bytes | None]]:
    """The same for a folder, in name order: train/ and test/ in it, or in its one subfolder that holds them."""
    if not any((root / s).is_dir() for s in SPLITS):
        inner = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
                 and any((d / s).is_dir() for s in SPLITS)]
        if len(inner) == 1:
            root = inner[0]
    for s in SPLITS:
        base = root / s
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(root).parts
            yield rel_dir, None
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                try:
                    data = p.read_bytes()
                except OSError as e:
                    raise DataError(f"{p} could not be read ({e}); fix its permissions or copy it again") from e
                yield (*rel_dir, name), data


@dataclass
class _Decoded:
    """What one pass over the files gives: per split, the images and labels in name order, and the manifest."""
    images: dict[str, list[tuple[str, np.ndarray]]]   # split -> [(name, (H, W, 3) uint8)]
    manifest: list[tuple[str, int, str]]
    classes: tuple[str, ...]


def _decode(source: Path, classes: tuple[str, ...] | None, side: int | None) -> _Decoded:
    """Every image below train/ and test/ decoded and checked: RGB, one size (``side`` when given), in a class
    folder of ``classes`` (when given; else the training split's class folders, sorted), both splits holding
    every class. Each problem is a DataError naming the file and the fix."""
    from PIL import Image, UnidentifiedImageError
    files = _archive_files(source) if is_archive(source) else _folder_files(source)
    seen: dict[str, dict[str, list[tuple[str, np.ndarray]]]] = {s: {} for s in SPLITS}   # split -> class -> images
    manifest: list[tuple[str, int, str]] = []
    names: set[str] = set()
    size: tuple[int, int] | None = (side, side) if side else None
    allowed = f"the classes are {', '.join(classes)}" if classes else ""
    for rel, data in files:
        where = f"{source}: {'/'.join(rel)}"
        if data is not None and len(rel) < 3:
            raise DataError(f"{where} is not in a class folder; images lie in {rel[0]}/<class>/<image>: move it "
                            f"into its class's folder")
        if data is None and len(rel) > 2 or data is not None and len(rel) > 3:
            raise DataError(f"{where} lies in a folder inside a class folder; images lie directly in "
                            f"{rel[0]}/<class>/: move them up")
        if len(rel) >= 2 and classes is not None and rel[1] not in classes:
            raise DataError(f"{where}: class folder {rel[1]!r} is not one of this dataset's classes ({allowed}); "
                            f"remove or rename it")
        if data is None:   # a folder: a class folder is known even while it holds no image
            if len(rel) == 2:
                seen[rel[0]].setdefault(rel[1], [])
            continue
        name = "/".join(rel)
        if name in names:
            raise DataError(f"{where} appears twice; rebuild the archive with each file once")
        names.add(name)
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                mode, got, arr = im.mode, im.size, np.asarray(im)
        except UnidentifiedImageError as e:
            raise DataError(f"{where} is not a readable image (not in any format Pillow reads: {data[:16]!r}...); "
                            f"replace it with the image, or remove it") from e
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"{where} is not a readable image ({type(e).__name__}: {e}: damaged or cut short); "
                            f"replace it with the image, or remove it") from e
        if mode != "RGB":
            raise DataError(f"{where} is a {MODES.get(mode, mode)} image (Pillow mode {mode}), expected RGB; convert "
                            f"it (Pillow: Image.open(f).convert('RGB').save(f)) or remove it")
        if size is None:
            size = got
        if got != size:
            raise DataError(f"{where} is {got[0]}x{got[1]} pixels, expected {size[0]}x{size[1]} like the "
                            f"{'dataset' if side else 'first image read'}; resize it or remove it")
        manifest.append((name, len(data), hashlib.sha256(data).hexdigest()))
        seen[rel[0]].setdefault(rel[1], []).append((rel[2], arr))
    for s in SPLITS:
        if not any(seen[s].values()):
            raise DataError(f"{source}: the {s} split holds no images (expected {s}/<class>/<image>); add them, "
                            f"or point at the folder or archive that holds them")
    if classes is None:
        classes = tuple(sorted(seen["train"]))
    for s in SPLITS:
        for c in classes:
            if not seen[s].get(c):
                raise DataError(f"{source}: class folder {s}/{c}/ is missing or holds no image; every split needs "
                                f"every class ({', '.join(classes)}): add its images")
        extra = sorted(set(seen[s]) - set(classes))
        if extra:
            raise DataError(f"{source}: class folder {s}/{extra[0]}/ is in the {s} split only (the classes are "
                            f"{', '.join(classes)}, from train/); add it to train/ too, or remove it")
    images = {s: [(f"{c}/{n}", a) for c in classes for n, a in sorted(seen[s][c], key=lambda t: t[0])]
              for s in SPLITS}
    return _Decoded(images, manifest, tuple(classes))


def folder_manifest(root: Path) -> str:
    """``manifest_digest`` of a folder's files below train/ and test/, read without decoding them (60,000 small
    files: about a second from a warm disk)."""
    return manifest_digest([("/".join(rel), len(data), hashlib.sha256(data).hexdigest())
                            for rel, data in _folder_files(root) if data is not None])


def _manifest_mismatch(source: Path, got: str, expected: str) -> str:
    return (f"{source}: its files' manifest digest is {got}, expected {expected}: files are missing, added or "
            f"changed; copy the original again (or point at the archive itself)")


def _arrays(dec: _Decoded, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, H, W) uint8 images and (N,) int64 labels, class by class, each class's files in name order."""
    index = {c: i for i, c in enumerate(dec.classes)}
    items = dec.images[split]
    x = np.stack([a for _, a in items]).transpose(0, 3, 1, 2)   # (N, H, W, 3) as decoded -> (N, 3, H, W)
    y = np.array([index[n.split("/", 1)[0]] for n, _ in items], dtype=np.int64)
    return np.ascontiguousarray(x), y


# ---------------------------------------------------------------------------------------------------
# The cache: the decoded arrays under the digest of what was read, written atomically.
# ---------------------------------------------------------------------------------------------------
def cache_path(cache_dir: Path, key: str, classes: tuple[str, ...] | None, side: int | None) -> Path:
    """The cache file of source digest ``key`` read with ``classes`` and ``side``, by this decoder and layout
    (any of them different: another file, so a cached array is never read as something it is not)."""
    variant = json.dumps([CACHE_FORMAT, list(classes) if classes else None, side or 0, decoder_version()])
    return cache_dir / CACHE_FOLDER / f"{key}-{hashlib.sha256(variant.encode()).hexdigest()[:8]}.npz"


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """The arrays as one uncompressed .npz (the images are JPEG-noisy: compression would slow every read for a
    few MB), written to a temporary file beside it and renamed, so the cache never holds half a file. A cache
    that cannot be written (a read-only data_dir, a full disk) is said and skipped: the run goes on."""
    from ...io import atomic_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            os.chmod(tmp, 0o644)   # a data file others may read (the temporary file starts as 0600)
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        print(f"warning: the decoded images could not be cached at {path} ({e}); the next run decodes them again",
              file=sys.stderr, flush=True)


def _read_cache(path: Path, classes: tuple[str, ...] | None) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when there is no usable cache file (one unreadable or inconsistent is decoded
    again and replaced)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        ok = (all(a[f"{s}_x"].dtype == np.uint8 and a[f"{s}_x"].ndim == 4 and a[f"{s}_x"].shape[1] == 3
                  and a[f"{s}_y"].shape == (len(a[f"{s}_x"]),) for s in SPLITS)
              and (classes is None or tuple(a["classes"].tolist()) == tuple(classes)))
        return a if ok else None
    except (OSError, ValueError, KeyError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        print(f"warning: the cached images {path} could not be read ({type(e).__name__}: {e}); decoding again",
              file=sys.stderr, flush=True)
        return None


# ---------------------------------------------------------------------------------------------------
# The reader.
# ---------------------------------------------------------------------------------------------------
def load_image_folder(source: str | os.PathLike, cache_dir: str | os.PathLike | None = "data",
                      classes: tuple[str, ...] | None = None, side: int | None = None,
                      sha256_expected: str | None = None, manifest_expected: str | None = None,
                      note: str = "class-per-folder images") -> Splits:
    """A class-per-folder dataset from a folder or a .tar[.gz|.xz] archive as ``Splits`` of uint8 (N, 3, H, W),
    labels by ``classes`` (default: the training split's folder names, sorted). ``sha256_expected`` checks an
    archive's bytes before anything is read, ``manifest_expected`` the files read (an archive's or a folder's).
    The decoded arrays are cached under ``cache_dir`` (None: no cache) by the archive's sha256 or, for a folder,
    by its manifest digest."""
    import torch
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source} does not exist; give a folder holding train/<class>/ and test/<class>/, or a "
                        f".tar, .tar.gz or .tar.xz archive of them")
    archive = is_archive(source) and source.is_file()
    if not archive and not source.is_dir():
        raise DataError(f"{source} is neither a folder nor a {', '.join(ARCHIVE_SUFFIXES)} archive; give a folder "
                        f"holding train/<class>/ and test/<class>/, or an archive of them")
    digest = sha256(source) if archive else None
    if digest is not None and sha256_expected is not None and digest != sha256_expected:
        raise DataError(f"{source} has sha256 {digest}, expected {sha256_expected}: it is another file or a damaged "
                        f"copy (truncated, changed); copy the original again")
    # a folder's key is its manifest: one pass reading its files (no decoding) before the cache is looked at
    manifest = None if archive else folder_manifest(source)
    if manifest is not None and manifest_expected is not None and manifest != manifest_expected:
        raise DataError(_manifest_mismatch(source, manifest, manifest_expected))
    classes = tuple(classes) if classes else None
    path = cache_path(Path(cache_dir), digest or manifest, classes, side) if cache_dir is not None else None
    cached = _read_cache(path, classes) if path is not None else None
    if cached is None:
        dec = _decode(source, classes, side)
        manifest = manifest_digest(dec.manifest)
        if manifest_expected is not None and manifest != manifest_expected:
            raise DataError(_manifest_mismatch(source, manifest, manifest_expected))
        train, test = _arrays(dec, "train"), _arrays(dec, "test")
        cached = {"train_x": train[0], "train_y": train[1], "test_x": test[0], "test_y": test[1],
                  "classes": np.array(dec.classes), "manifest_sha256": np.array(manifest),
                  "pixels_sha256": np.array(_pixels_digest(train, test)), "file_count": np.array(len(dec.manifest))}
        if path is not None:
            _write_cache(path, cached)
    origin = ImageOrigin(str(source.resolve()), {}, note, source=source.name, archive_sha256=digest,
                         manifest_sha256=str(cached["manifest_sha256"]), file_count=int(cached["file_count"]),
                         pixels_sha256=str(cached["pixels_sha256"]), decoder=decoder_version(),
                         classes=tuple(cached["classes"].tolist()))
    return Splits(Split(torch.from_numpy(cached["train_x"]), torch.from_numpy(cached["train_y"])),
                  Split(torch.from_numpy(cached["test_x"]), torch.from_numpy(cached["test_y"])), origin)

