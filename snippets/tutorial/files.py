"""Replace a folder only after its new contents were written in full.

The tutorial's build scripts write into a temporary folder and call
`replace_dir` at the end, so an interrupted or failed run never leaves the
committed assets (snippets/tutorial/assets/) deleted or half-written.
"""

import shutil
from pathlib import Path


def replace_dir(new: Path, dest: Path) -> None:
    """Move the finished folder `new` to `dest`, replacing what was there.

    The old `dest` is first renamed aside and deleted only once `new` is in
    place, so a failure in between leaves one complete copy.
    """
    if not new.is_dir():
        raise ValueError(f"{new} is not a folder: nothing to put at {dest}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(dest.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        dest.rename(old)
    try:
        shutil.move(str(new), str(dest))
    except BaseException:
        if old.exists() and not dest.exists():
            old.rename(dest)  # put the previous copy back
        raise
    if old.exists():
        shutil.rmtree(old)


def move_files(new: Path, dest: Path) -> list[Path]:
    """Move every file under the finished folder `new` to the same place in `dest`.

    Other files in `dest` are left alone; each file is replaced in one step
    (`Path.replace`). Returns the paths written.
    """
    written = []
    for src in sorted(p for p in Path(new).rglob("*") if p.is_file()):
        target = Path(dest) / src.relative_to(new)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(target))
        written.append(target)
    return written
