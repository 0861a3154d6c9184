"""The shipped kill_mid_hybrid study, end to end, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, SCENARIOS, postgres_available
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from recovery_lab import assertions, run_scenario


def _check_kill_mid_hybrid(results_dir: Path, system_db: str | None) -> None:
    study = run_scenario(SCENARIOS / "kill_mid_hybrid.yaml", results_dir, system_db)
    assertions.assert_study_recovered(study)
    (pool,) = study.find("pool")
    (dbos,) = study.find("dbos")
    (hybrid,) = study.find("hybrid")
    killed_after = pool.metrics.finished_before_kill[0]
    assertions.assert_recomputed_at_least(pool, killed_after)
    assert dbos.metrics.recomputed + dbos.metrics.lost_in_flight <= int(
        dbos.settings["worker_concurrency"]
    )
    assert hybrid.metrics.recomputed + hybrid.metrics.lost_in_flight <= int(
        hybrid.settings["chunk_size"]
    )
    assert dbos.metrics.recomputed < pool.metrics.recomputed
    assert hybrid.metrics.recomputed < pool.metrics.recomputed
    assert (results_dir / "report.md").is_file()


def test_kill_mid_hybrid_on_sqlite(tmp_path: Path) -> None:
    _check_kill_mid_hybrid(tmp_path / "results", None)
    assert list(tmp_path.glob("results/runs/dbos/*/dbos_system.sqlite"))


# CI always has PostgreSQL, so there a missing server fails the test instead.
@pytest.mark.skipif(
    not os.environ.get("CI") and not postgres_available(),
    reason="no PostgreSQL server on 127.0.0.1:5432",
)
def test_kill_mid_hybrid_on_postgres(tmp_path: Path) -> None:
    # Run databases are named after the database of the server URL, so a unique
    # name here keeps this test's databases apart from any other study's.
    prefix = f"rltest{uuid.uuid4().hex[:8]}"
    server_url = make_url(POSTGRES_URL).set(database=prefix)
    _check_kill_mid_hybrid(
        tmp_path / "results", server_url.render_as_string(hide_password=False)
    )
    engine = create_engine(
        server_url.set(drivername="postgresql+psycopg", database="postgres")
    )
    with engine.connect() as connection:
        names = {
            row[0]
            for row in connection.execute(text("SELECT datname FROM pg_database"))
        }
    engine.dispose()
    # Every run's own database was dropped after the run.
    assert [name for name in names if name.startswith(prefix)] == []
    assert not list(tmp_path.glob("results/runs/*/*/dbos_system.sqlite"))
