"""The built wheel stands alone: installed into a fresh virtualenv, its `loomworks db upgrade`
migrates an empty PostgreSQL database (the top-level alembic/ ships inside the package)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from loomworks.platform.engine import create_engine

PROJECT = Path(__file__).resolve().parents[1]
UV = os.environ.get("UV") or shutil.which("uv")


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.skipif(UV is None, reason="building the wheel needs uv on PATH")
async def test_installed_wheel_migrates_an_empty_database(
    empty_database: str, tmp_path: Path
) -> None:
    assert UV is not None
    _run(UV, "build", "--wheel", "--out-dir", tmp_path / "dist", PROJECT, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("loomworks-*.whl")
    venv = tmp_path / "venv"
    _run(UV, "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(UV, "pip", "install", "--quiet", "--python", python, wheel, cwd=tmp_path)

    # Run from an empty folder with a clean environment: nothing of the source tree is used.
    env = {"PATH": os.environ["PATH"], "LOOMWORKS_DATABASE_URL": empty_database}
    out = _run(venv / "bin" / "loomworks", "db", "upgrade", cwd=tmp_path, env=env)
    assert "newest schema" in out

    engine = create_engine(empty_database, pool_size=1)
    try:
        async with engine.connect() as conn:
            (version,) = (await conn.execute(text("SELECT version_num FROM alembic_version"))).one()
            counts = await conn.execute(text("SELECT count(*) FROM dashboard_counts"))
    finally:
        await engine.dispose()
    heads = _run(python, "-c", _HEADS, cwd=tmp_path, env=env).split()
    assert heads == [version]
    assert counts.scalar_one() == 0
    # The dashboard page's files ship inside the package too: every one of them.
    shipped = _run(python, "-c", _PAGE_FILES, cwd=tmp_path, env=env).split()
    assert {"index.html", "app.js", "app.css"} <= set(shipped)
    assert set(shipped) == {path.name for path in (PROJECT / "src/loomworks/web/static").iterdir()}


# The installed package's own idea of its newest migration.
_HEADS = (
    "from alembic.script import ScriptDirectory\n"
    "from loomworks.platform.migrate import alembic_config\n"
    "print(*ScriptDirectory.from_config(alembic_config()).get_heads())\n"
)
_PAGE_FILES = (
    "from loomworks.api.routers.page import STATIC_DIR\n"
    "print(*sorted(path.name for path in STATIC_DIR.iterdir()))\n"
)
