"""Atomic file writes and bounded, checked reads.

Writes: everything is written to a temporary name in the same folder, then renamed. A crash or Ctrl-C
mid-write therefore never leaves a truncated file under the final name, and an existing file is only
replaced once its successor is complete. Inside :func:`no_clobber` a final path that appeared while the
work ran (another process wrote it) is never replaced: the rename becomes an exclusive link and raises
:class:`~unimotion.errors.OutputExistsError`. Temporaries left by a killed process (``.NAME.XXXX.tmp...``)
are removed by :func:`remove_stale_temporaries`. File-system failures (read-only folder, disk full,
permission denied) raise :class:`~unimotion.errors.FileAccessError` naming the path.

Reads: :func:`read_limited` / :func:`read_text_limited` refuse files above a size limit before reading
them; :func:`load_npy` and :func:`load_npz_arrays` check a ``.npy`` header (dtype, number of dimensions,
byte size, truncation) against :mod:`unimotion.limits` before any data is read, and never unpickle.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    FileAccessError,
    InputError,
    LimitError,
    MissingFileError,
    OutputExistsError,
    UnimotionError,
)

# True inside `no_clobber()`: atomic writes refuse to replace a path that exists when they finish.
_NO_CLOBBER: contextvars.ContextVar[bool] = contextvars.ContextVar("unimotion_no_clobber", default=False)
#: Names of the temporaries written by atomic_path / atomic_dir (see remove_stale_temporaries).
TEMPORARY_RE = re.compile(r"^\..+\.tmp(\.[^./]*)?$|^\..+\.old-\d+$")


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: "No space left on device", "Permission denied", ... (without the errno)."""
    reason = exc.strerror or (errno.errorcode.get(exc.errno or -1) if exc.errno else None) or str(exc)
    if exc.errno == errno.EROFS:
        reason = "read-only file system"
    elif exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno == errno.EDQUOT:
        reason = "disk quota exceeded"
    return reason


@contextlib.contextmanager
def os_errors(action: str, path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError raised inside the block into FileAccessError("cannot {action} {path}: {reason}")."""
    try:
        yield
    except FileAccessError:
        raise
    except FileNotFoundError as exc:
        raise MissingFileError(f"cannot {action} {path}: {describe_os_error(exc)}") from exc
    except FileExistsError as exc:
        raise OutputExistsError(f"cannot {action} {path}: it exists") from exc
    except OSError as exc:
        raise FileAccessError(f"cannot {action} {path}: {describe_os_error(exc)}") from exc


@contextlib.contextmanager
def no_clobber(enabled: bool = True) -> Iterator[None]:
    """Inside the block, atomic writes never replace an existing file or folder (see the module docs).

    Commands use it when ``--overwrite`` was not given: they check their outputs at start-up, and this
    catches a path that appeared during the run (another process wrote it) instead of replacing it.
    """
    token = _NO_CLOBBER.set(bool(enabled))
    try:
        yield
    finally:
        _NO_CLOBBER.reset(token)


def _refuse_existing(path: Path) -> OutputExistsError:
    return OutputExistsError(f"{path} appeared while this command ran (another process wrote it); not replacing "
                             "it — pass --overwrite to replace existing outputs")


def _commit_file(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` onto ``path``; under no_clobber an existing ``path`` is refused atomically."""
    if not _NO_CLOBBER.get():
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails with EEXIST if the path exists: no window between check and rename
    except FileExistsError:
        raise _refuse_existing(path) from None
    except OSError:  # no hard links on this file system: check, then rename (a small window remains)
        if os.path.lexists(path):
            raise _refuse_existing(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The temporary file keeps the final suffix (some writers choose the format from it). File-system
    errors (read-only folder, disk full, ...) raise :class:`FileAccessError` naming ``path``.
    """
    path = Path(path)
    with os_errors("write", path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{path.suffix}.tmp{path.suffix}", dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        with os_errors("write", path):
            yield tmp_path
            if tmp_path.exists():
                os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
            _commit_file(tmp_path, path)
    finally:
        with contextlib.suppress(OSError):
            if tmp_path.exists():
                tmp_path.unlink()


def remove_stale_temporaries(root: str | os.PathLike, min_age_s: float = 60.0, recursive: bool = True) -> list[Path]:
    """Delete the temporaries that a killed :func:`atomic_path` / :func:`atomic_dir` left under ``root``.

    Only names of the form those functions create are touched, and only when older than ``min_age_s``
    seconds (so that a concurrent writer's live temporary survives). Returns what was removed.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    now = time.time()
    walker = os.walk(root) if recursive else [(str(root), [d.name for d in root.iterdir() if d.is_dir()],
                                                 [f.name for f in root.iterdir() if not f.is_dir()])]
    for folder, dirs, files in walker:
        for name in list(dirs) + list(files):
            if not TEMPORARY_RE.match(name):
                continue
            p = Path(folder) / name
            try:
                if now - p.lstat().st_mtime < min_age_s:
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                    if name in dirs:
                        dirs.remove(name)
                else:
                    p.unlink()
                removed.append(p)
            except OSError:
                continue
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(array), allow_pickle=False)


def _stat_input(path: Path, what: str) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MissingFileError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise FileAccessError(f"cannot read {what} {path}: {describe_os_error(exc)}") from exc
    if path.is_dir():
        raise FileAccessError(f"{what} {path} is a folder, not a file")
    return st


def read_limited(path: str | os.PathLike, max_bytes: float | None = None, limit: str = "TEXT_MAX_BYTES",
                 what: str = "file", error: type[Exception] = LimitError) -> bytes:
    """The bytes of ``path``, refusing (before reading) a file larger than limit ``limit`` of
    :mod:`unimotion.limits` (``max_bytes`` when given). Missing / unreadable files raise MissingFileError /
    FileAccessError; special files that grow while read (``/dev/zero``) are cut at the limit and refused."""
    from .. import limits

    path = Path(path)
    bound = int(limits.get(limit) if max_bytes is None else max_bytes)
    st = _stat_input(path, what)
    limits.check(limit, st.st_size, f"{what} {path} is larger", error=error)
    with os_errors("read", path), open(path, "rb") as f:
        data = f.read(bound + 1)
    limits.check(limit, len(data), f"{what} {path} is larger", error=error)
    return data


def read_text_limited(path: str | os.PathLike, limit: str = "TEXT_MAX_BYTES", what: str = "file",
                      error: type[Exception] = LimitError) -> str:
    """:func:`read_limited` decoded as UTF-8 (a clean InputError when it is not)."""
    data = read_limited(path, None, limit, what, error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})") from None


def read_json_limited(path: str | os.PathLike, limit: str = "TEXT_MAX_BYTES", what: str = "JSON file",
                      error: type[Exception] = LimitError) -> Any:
    """Parse a JSON file after :func:`read_text_limited`; malformed JSON gives an InputError with the line."""
    text = read_text_limited(path, limit, what, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(f"{what} {path} nests too deeply to be read") from None


NUMERIC_KINDS = "biuf"  # bool, signed / unsigned integers, floats


def _npy_header(f, name: str, kinds: str, what: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Read and check the header of a .npy stream: (shape, dtype, fortran_order, data bytes)."""
    from .. import limits

    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except Exception as exc:  # numpy's header parser: ValueError, EOFError, SyntaxError, tokenize errors, ...
        if isinstance(exc, (FileAccessError, MemoryError)):
            raise
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"{what} {name} is not a readable .npy array ({reason})") from None
    if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None:
        raise InputError(f"{what} {name} holds dtype {dtype}; expected a plain numeric array"
                         + (" or text" if "U" in kinds else "") + " (object arrays are never unpickled)")
    limits.check("NPY_MAX_DIMS", len(shape), f"{what} {name} has more dimensions")
    if any(int(d) < 0 for d in shape):
        raise InputError(f"{what} {name} declares a negative size {shape}")
    nbytes = int(dtype.itemsize)
    for d in shape:
        nbytes *= int(d)
    limits.check("NPY_MAX_BYTES", nbytes, f"{what} {name} {tuple(shape)} {dtype} is larger")
    return tuple(int(d) for d in shape), dtype, bool(fortran), nbytes


def load_npy(path: str | os.PathLike, what: str = "array", kinds: str = NUMERIC_KINDS,
             mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` file without ever unpickling objects, checking its header first.

    The dtype must be of one of ``kinds`` (default: bool, integers, floats), the byte size within
    ``NPY_MAX_BYTES`` and the dimensions within ``NPY_MAX_DIMS`` (:mod:`unimotion.limits`), and the file
    must hold all the bytes its header declares. ``mmap=True`` returns a read-only memory map (the caller
    can slice before anything is copied).
    """
    path = Path(path)
    st = _stat_input(path, what)
    with os_errors("read", path), open(path, "rb") as f:
        shape, dtype, fortran, nbytes = _npy_header(f, str(path), kinds, what)
        offset = f.tell()
    if st.st_size < offset + nbytes:
        raise InputError(f"{what} {path} is truncated: its header declares {nbytes:,} bytes of data, the file "
                         f"holds {max(0, st.st_size - offset):,}")
    with os_errors("read", path):
        if mmap and nbytes > 0:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, EOFError) as exc:
            raise InputError(f"{what} {path} cannot be read ({exc})") from None


def _zip_member_count(path: Path) -> int | None:
    """Number of members from a zip's end-of-central-directory record (None when not found)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65_557))
        tail = f.read()
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return None
    return struct.unpack("<H", tail[pos + 10: pos + 12])[0]


def load_npz_arrays(path: str | os.PathLike, names: Sequence[str] | None = None, what: str = "archive",
                    kinds: str = NUMERIC_KINDS + "U", max_members: int = 256) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (all, or those of ``names`` that exist), each header checked like
    :func:`load_npy` before it is read; never unpickles. Member names are given without ``.npy``."""
    import zipfile

    from .. import limits

    path = Path(path)
    st = _stat_input(path, what)
    limits.check("NPY_MAX_BYTES", st.st_size, f"{what} {path} is larger")
    with os_errors("read", path):
        count = _zip_member_count(path)
    if count is not None and count > max_members:
        raise InputError(f"{what} {path} holds {count} members; at most {max_members} are read")
    out: dict[str, np.ndarray] = {}
    try:
        with os_errors("read", path), zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > max_members:
                raise InputError(f"{what} {path} holds {len(infos)} members; at most {max_members} are read")
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if names is not None and key not in names:
                    continue
                with zf.open(info) as member:
                    shape, dtype, fortran, nbytes = _npy_header(member, f"{path}:{key}", kinds, what)
                    data = member.read(nbytes + 1)
                if len(data) != nbytes:
                    raise InputError(f"{what} {path}:{key} is truncated or too long: {len(data):,} bytes of data for "
                                     f"{shape} {dtype} ({nbytes:,} bytes)")
                arr = np.frombuffer(data, dtype=dtype)
                out[key] = (arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)).copy()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError, KeyError,
            struct.error, RuntimeError) as exc:
        if isinstance(exc, UnimotionError):
            raise
        raise InputError(f"{what} {path} is not a readable .npz archive ({str(exc)[:200]})") from None
    except (OSError, __import__("zlib").error) as exc:
        if isinstance(exc, FileAccessError):
            raise
        raise InputError(f"{what} {path} is not a readable .npz archive ({str(exc)[:200]})") from None
    return out


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``path`` (a directory) in one rename.

    With ``overwrite=False`` an existing ``path`` raises ``FileExistsError`` before anything is written.
    """
    path = Path(path)
    overwrite = overwrite and not _NO_CLOBBER.get()
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; refusing to overwrite it")
    with os_errors("write", path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; give the folder the usual permissions
    try:
        with os_errors("write", path):
            yield tmp
            if path.exists():
                if not overwrite:
                    raise _refuse_existing(path)
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                try:
                    # rename(2) onto an existing *empty* folder succeeds: mkdir-then-rename would too; a folder
                    # that appeared meanwhile is non-empty in practice and makes the rename fail (ENOTEMPTY)
                    os.rename(tmp, path)
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise _refuse_existing(path) from None
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def save_npz(path: str | os.PathLike, compress: bool = True, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` whose bytes depend only on the arrays (fixed zip timestamps), atomically.

    ``np.savez_compressed`` stamps the current time into the zip, so reruns would differ byte-wise;
    dataset builds must be byte-reproducible.
    """
    import io
    import zipfile

    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=mode) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                np.save(buf, np.asarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = mode
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` while the block runs (no-op for None or "").

    Benchmarks take ``--lock FILE`` so that heavy jobs on a shared machine run one at a time.
    """
    if not path:
        yield
        return
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive_folder(folder: str | os.PathLike, lock_name: str = ".lock", what: str = "folder") -> Iterator[list[Path]]:
    """Hold a non-blocking exclusive lock on ``folder`` (a ``lock_name`` file inside it) and, once it is
    held, remove every temporary an interrupted earlier writer left in it (:func:`remove_stale_temporaries`,
    any age: no other writer can be running). Yields the removed paths. A folder locked by another process
    raises :class:`FileAccessError` at once instead of two writers interleaving."""
    import fcntl

    folder = Path(folder)
    lock_path = folder / lock_name
    with os_errors("lock", lock_path):
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileAccessError(f"{what} {folder} is being written by another process (it holds {lock_path}); "
                                  "wait for it to finish") from None
        removed = remove_stale_temporaries(folder, min_age_s=0.0)
        try:
            yield removed
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()

