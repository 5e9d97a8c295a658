"""POST /api/v1/appeals under concurrent clients on PostgreSQL, over real HTTP (uvicorn), with
an Idempotency-Key on every request: each appeal is checked, located, compared with open cases
nearby, registered, filed and dispatched. Baseline in the same run: a bare endpoint of the same
framework (FastAPI on uvicorn, SQLAlchemy on the same database) that stores one row per request.
Target (issue 4): p99 ≤ 100 ms with 32 concurrent clients.

    python bench/bench_appeals_api.py [--clients 32] [--requests 40] [--pg URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from chengzhi import db
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.demo.build import DEMO_PASSWORD

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]
TEXTS = (
    "幸福路口两盏路灯连续三晚不亮，晚上走路很危险。",
    "小区门口垃圾堆了三天没人清运，气味很大。",
    "人行道上的井盖松动了，踩上去晃得厉害。",
    "路边的绿化带被人倾倒了建筑垃圾，请处理。",
    "公交站旁边有人占道经营，行人只能走机动车道。",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_database(server: str) -> str:
    name = f"chengzhi_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(server: str, url: str) -> None:
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def setup(url: str) -> list[tuple[float, float]]:
    db.migrate(url)
    engine = db.make_engine(url)
    clock = FrozenClock(datetime.now(UTC))
    city = plan.plan_city("small", 1)
    with db.transaction(engine) as session:
        build.store_city(session, city, clock)
        catalog.install_defaults(session, clock)
    engine.dispose()
    grids = [r.polygon.representative_point() for r in city.regions if r.level == "grid"]
    return [(p.x, p.y) for p in grids]


def serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server on {port} did not start: {proc.stderr.read().decode()[-2000:]}")


def request(conn, method, path, body=None, headers=None):  # type: ignore[no-untyped-def]
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"content-type": "application/json", **(headers or {})})  # fmt: skip
    response = conn.getresponse()
    data = response.read()
    return response.status, data


def login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    status, data = request(
        conn, "POST", "/api/v1/auth/login", {"username": "operator", "password": DEMO_PASSWORD}
    )
    assert status == 200, data
    return str(json.loads(data)["token"])


def load(port: int, path: str, clients: int, per_client: int, body_for, headers):  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        rng = random.Random(n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        start.wait()
        for i in range(per_client):
            t = time.perf_counter()
            status, data = request(
                conn, "POST", path, body_for(rng), {**headers, "Idempotency-Key": f"{n}-{i}"}
            )
            mine.append(time.perf_counter() - t)
            if status not in (200, 201):
                with lock:
                    errors.append(f"{status} {data[:200]!r}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - began, errors


def figures(latencies: list[float], seconds: float) -> tuple[float, float, float]:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    return statistics.median(ms), p99, len(ms) / seconds


class Body(BaseModel):
    text: str


def bare_app(url: str):  # type: ignore[no-untyped-def]
    """The baseline: the same framework and database, one row stored per request."""
    from fastapi import FastAPI

    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_rows (id serial PRIMARY KEY, b text)"))
    app = FastAPI()

    @app.post("/bare", status_code=201)
    def store(body: Body) -> dict[str, int]:
        with engine.begin() as conn:
            row = conn.execute(
                text("INSERT INTO bench_rows (b) VALUES (:b) RETURNING id"), {"b": body.text}
            ).scalar_one()
        return {"id": row}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--pg", default=os.environ.get("PG_SERVER", PG))
    parser.add_argument("--bare-server", help=argparse.SUPPRESS)  # internal: URL
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        import uvicorn

        uvicorn.run(bare_app(args.bare_server), host="127.0.0.1", port=args.port, log_level="error")
        return

    url = make_database(args.pg)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        t = time.perf_counter()
        points = setup(url)
        print(f"set up a small demo city on PostgreSQL in {time.perf_counter() - t:.1f} s")
        env = {**os.environ, "CHENGZHI_DATABASE_URL": url}
        app_port, bare_port = free_port(), free_port()
        chengzhi = str(Path(sys.executable).with_name("chengzhi"))
        procs.append(serve([chengzhi, "serve", "--port", str(app_port)], env, app_port))
        procs.append(
            serve(
                [sys.executable, __file__, "--bare-server", url, "--port", str(bare_port)],
                env,
                bare_port,
            )
        )
        token = {"Authorization": f"Bearer {login(app_port)}"}

        def appeal(rng: random.Random) -> dict[str, object]:
            lon, lat = rng.choice(points)
            return {"text": rng.choice(TEXTS), "category": "matter:06010", "lon": lon, "lat": lat}

        def bare(rng: random.Random) -> dict[str, object]:
            return {"text": rng.choice(TEXTS)}

        n = args.clients * args.requests
        print(f"{args.clients} concurrent clients × {args.requests} requests = {n:,} each")
        load(bare_port, "/bare", args.clients, 3, bare, {})  # warm-up
        load(app_port, "/api/v1/appeals", args.clients, 3, appeal, token)
        lat, secs, errors = load(app_port, "/api/v1/appeals", args.clients, args.requests,
                                 appeal, token)  # fmt: skip
        base, base_secs, base_errors = load(bare_port, "/bare", args.clients, args.requests,
                                            bare, {})  # fmt: skip
        for name, (p50, p99, rate), errs in (
            ("POST /api/v1/appeals", figures(lat, secs), errors),
            ("bare one-row endpoint", figures(base, base_secs), base_errors),
        ):
            print(f"{name:24} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   {rate:8.1f} req/s"
                  f"   errors {len(errs)}")  # fmt: skip
            for e in errs[:3]:
                print("   ", e)
        ratio = figures(lat, secs)[2] / figures(base, base_secs)[2]
        print(f"throughput ratio  {ratio:.3f}  appeals / bare endpoint")
        print("target: p99 ≤ 100 ms with 32 concurrent clients")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        drop_database(args.pg, url)


if __name__ == "__main__":
    main()
