"""Fault: the disk fills up while `shopbot index` writes a new index.

The index directory sits on a tiny tmpfs (mounted in a private user+mount namespace with
`unshare -rm`, so no root is needed and nothing leaks to the host; as root without unshare it is
mounted directly and unmounted after). An index is built, the catalog changes, the disk is filled,
and `shopbot index` runs again: it exits non-zero with a clear message and no traceback, leaves no
temporary file, every file of the old index is byte for byte what it was, and the old index loads
and answers searches exactly as before. Once there is room again, the next run succeeds.

The steps on the small disk run in a child process (`python -m tests.test_faults_disk_full`),
since the mount exists only in its namespace; it writes a JSON report the test checks.
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TMPFS_SIZE = "4m"  # a few times the demo index (about 0.2 MB), far less than the filler
QUERIES = ["running shoes", "something warm for winter", "water bottle", "dog bed", "wireless headphones"]
NEW_PRODUCT = {
    "product_id": "fault-thermos-1", "name": "Glacier Vacuum Thermos", "brand": "Polar Peak",
    "category": "Outdoors > Camping > Drinkware", "description": "Keeps coffee hot for 12 hours.",
    "price": 31.0, "options": {"color": "steel"},
}


# ---------------------------------------------------------------------------- the child process
def _files(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def _fill(path: Path) -> int:
    """Write zeros until the file system says it is full; returns the bytes written."""
    chunk = b"\0" * 65536
    written = 0
    with open(path, "wb", buffering=0) as out:
        while True:
            try:
                written += out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        try:  # the last partial page too
            while out.write(b"\0" * 512):
                written += 512
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return written


async def _inside(home: Path, database_url: str, product_file: Path) -> dict[str, Any]:
    from bot.db import Database
    from bot.settings import Settings
    from retrieval.embed import Embedder
    from retrieval.ingest import ingest_file
    from retrieval.service import CatalogSearch, build_catalog_index

    settings = Settings.from_env(home=home, database_url=database_url, data_dir=None)
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(index_dir)], check=True, capture_output=True)
    report: dict[str, Any] = {}
    db = Database(database_url)
    embedder = Embedder(models_dir=settings.models_dir)
    try:
        await build_catalog_index(settings, db, embedder=embedder, public=False, progress=False)
        report["ingest"] = str(await ingest_file(db, product_file, source="demo"))  # the catalog changes

        def searches(catalog: CatalogSearch) -> dict[str, list[list[str]]]:
            return {q: [[h.id for h in catalog.search(q, 5, mode=m)] for m in ("hybrid", "dense")] for q in QUERIES}

        report["before_search"] = searches(await CatalogSearch.load(settings, db, embedder=embedder))
        report["before_files"] = _files(index_dir)
        filler = index_dir / "filler"
        report["filled_bytes"] = _fill(filler)
        report["free_bytes"] = shutil.disk_usage(index_dir).free

        env = {**os.environ, "SHOPBOT_HOME": str(home), "SHOPBOT_DATABASE_URL": database_url}
        run = subprocess.run([sys.executable, "-m", "bot.cli", "index", "--no-public"], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
        report["run"] = {"rc": run.returncode, "stdout": run.stdout, "stderr": run.stderr}

        after = _files(index_dir)
        after.pop("filler")
        report["after_files"] = after
        catalog = await CatalogSearch.load(settings, db, embedder=embedder)
        report["after_search"] = searches(catalog)
        report["after_count"] = len(catalog.index.ids)

        filler.unlink()  # room again: the next run must not trip over anything the failed one left
        await build_catalog_index(settings, db, embedder=embedder, public=False, progress=False)
        catalog = await CatalogSearch.load(settings, db, embedder=embedder)
        report["rebuilt_has_new_product"] = NEW_PRODUCT["product_id"] in catalog.index.ids
        report["rebuilt_count"] = len(catalog.index.ids)
        report["rebuilt_top_hit"] = catalog.search("vacuum thermos", 1, mode="dense")[0].id
        report["rebuilt_files"] = sorted(_files(index_dir))
    finally:
        await db.dispose()
        subprocess.run(["umount", str(index_dir)], capture_output=True)  # also left by the namespace's end
    return report


def main(argv: list[str]) -> int:
    home, database_url, product_file, out = Path(argv[0]), argv[1], Path(argv[2]), Path(argv[3])
    out.write_text(json.dumps(asyncio.run(_inside(home, database_url, product_file))), encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------- the test
def _can_mount_tmpfs(prefix: list[str], where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    probe = f"mount -t tmpfs -o size=1m tmpfs {where} && umount {where}"
    try:
        return subprocess.run([*prefix, "sh", "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _namespace_prefix(scratch: Path) -> list[str]:
    """How to get a private tmpfs: `unshare -rm` (user+mount namespace), else root as is; else skip."""
    unshare = shutil.which("unshare")
    if unshare and _can_mount_tmpfs([unshare, "-rm"], scratch):
        return [unshare, "-rm"]
    if os.geteuid() == 0 and _can_mount_tmpfs([], scratch):
        return []
    pytest.skip("cannot mount a small tmpfs: `unshare -rm` is refused here (user namespaces disabled) "
                "and mounting as this user is not permitted (not root, or no CAP_SYS_ADMIN in a container)")


def test_full_disk_during_index_build_keeps_the_old_index(tmp_path: Path, new_database: Any) -> None:
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.store.generate import generate_store
    from bot.store.load import load_store

    prefix = _namespace_prefix(tmp_path / "probe")
    home = tmp_path / "home"
    home.mkdir()
    url = new_database(home / "shopbot.db")

    async def prepare() -> None:
        await upgrade_async(url)
        db = Database(url)
        try:
            await load_store(db, generate_store(seed=7, n_users=20), "demo")
        finally:
            await db.dispose()

    asyncio.run(prepare())
    product_file = tmp_path / "new.json"
    product_file.write_text(json.dumps([NEW_PRODUCT]), encoding="utf-8")
    out = tmp_path / "report.json"
    # The PyTorch encoder for the catalog: no one-off fp32 ONNX export into this fresh home (the encoder is not the point).
    env = {**os.environ, "SHOPBOT_HOME": str(home), "SHOPBOT_ENCODER": "torch", "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.test_faults_disk_full", str(home), url, str(product_file), str(out)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    report = json.loads(out.read_text(encoding="utf-8"))

    assert report["filled_bytes"] > 0 and report["free_bytes"] < 64 * 1024
    run = report["run"]
    # A clear error, a non-zero exit, no traceback.
    assert run["rc"] == 1, run
    assert "No space left on device" in run["stderr"] and "previous index is unchanged" in run["stderr"], run["stderr"]
    assert "Traceback" not in run["stderr"] + run["stdout"]
    # Nothing left behind, nothing of the old index touched.
    assert report["after_files"] == report["before_files"], (report["before_files"], report["after_files"])
    assert not [name for name in report["after_files"] if "tmp" in name]
    # The old index still loads and answers exactly as before (the new product is not in it).
    assert report["after_search"] == report["before_search"]
    assert all(hits[1] for hits in report["before_search"].values())
    # With room again, the next run builds the new index (the new product is searchable).
    assert report["rebuilt_has_new_product"] and report["rebuilt_count"] == report["after_count"] + 1
    assert report["rebuilt_top_hit"] == NEW_PRODUCT["product_id"]
    assert not [name for name in report["rebuilt_files"] if "tmp" in name]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
