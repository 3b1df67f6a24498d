"""A real three-primary Redis Cluster on loopback for the tests: three ``redis-server
--cluster-enabled yes`` processes in a temporary directory, slots assigned and nodes met through
redis-py (no redis-cli), torn down at the end of the session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.asyncio.cluster import RedisCluster

from ticketing.adapters.redis.connection import connect

from tests.support.redis import REQUIRE_REDIS

CLUSTER_PORTS = tuple(
    int(p) for p in os.environ.get("REDIS_CLUSTER_PORTS", "7101,7102,7103").split(",")
)
CLUSTER_HOST = "127.0.0.1"
SLOTS = 16384
START_TIMEOUT = 20.0
CLUSTER_SKIP_REASON = (
    "no Redis Cluster could be started on 127.0.0.1 ports "
    f"{', '.join(map(str, CLUSTER_PORTS))} (needs `redis-server` 7 on PATH and those ports and "
    "the cluster bus ports +10000 free; REDIS_CLUSTER_PORTS picks others); CI sets "
    "REQUIRE_REDIS=1 so these tests never skip"
)


@dataclass
class LocalCluster:
    """The running cluster: its nodes' ports and their processes."""

    ports: tuple[int, ...]
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A ``REDIS_URL`` for ``REDIS_MODE=cluster``: the first node (the client learns the
        rest)."""
        return f"redis://{CLUSTER_HOST}:{self.ports[0]}"

    def flush(self) -> None:
        """Delete every key on every primary (between tests)."""
        for port in self.ports:
            with redis.Redis(host=CLUSTER_HOST, port=port) as node:
                node.flushall()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _start_node(directory: Path, port: int) -> subprocess.Popen[bytes]:
    node_dir = directory / str(port)
    node_dir.mkdir()
    command = [
        "redis-server",
        "--port", str(port),
        "--bind", CLUSTER_HOST,
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(node_dir / "nodes.conf"),
        "--cluster-node-timeout", "2000",
        "--dir", str(node_dir),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", str(node_dir / "redis.log"),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def _wait(condition: object, what: str, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except redis.RedisError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"Redis Cluster: timed out waiting for {what} ({last})")


def start_cluster(ports: tuple[int, ...] = CLUSTER_PORTS) -> LocalCluster:
    """Start the nodes, give each a third of the slots, introduce them, and wait for
    ``cluster_state:ok`` on every node. Raises RuntimeError (or OSError) when it cannot."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not on PATH")
    cluster = LocalCluster(ports, Path(tempfile.mkdtemp(prefix="ticketing-cluster-")))
    try:
        for port in ports:
            cluster.processes.append(_start_node(cluster.directory, port))
        deadline = time.monotonic() + START_TIMEOUT
        nodes = [redis.Redis(host=CLUSTER_HOST, port=port, socket_timeout=2) for port in ports]
        try:
            for port, process, node in zip(ports, cluster.processes, nodes, strict=True):
                _wait(lambda n=node: n.ping(), "the nodes to answer", deadline)
                if process.poll() is not None or not node.info("cluster").get("cluster_enabled"):
                    raise RuntimeError(f"port {port} is taken by another server")
            share = SLOTS // len(nodes)
            for index, node in enumerate(nodes):
                first = index * share
                last = SLOTS - 1 if index == len(nodes) - 1 else first + share - 1
                node.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            for port in ports[1:]:
                nodes[0].execute_command("CLUSTER", "MEET", CLUSTER_HOST, port)
            for node in nodes:
                _wait(
                    lambda n=node: b"cluster_state:ok" in n.execute_command("CLUSTER", "INFO"),
                    "cluster_state:ok",
                    deadline,
                )
                _wait(
                    lambda n=node: (
                        len(n.execute_command("CLUSTER", "NODES").splitlines()) == len(ports)
                    ),
                    "every node to know the others",
                    deadline,
                )
        finally:
            for node in nodes:
                node.close()
    except redis.RedisError as exc:
        cluster.stop()
        raise RuntimeError(f"Redis Cluster: {exc}") from exc
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextmanager
def local_cluster() -> Iterator[LocalCluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def cluster_unavailable(exc: BaseException) -> str:
    """What a test says when the cluster did not start (a failure under REQUIRE_REDIS)."""
    prefix = "REQUIRE_REDIS is set but " if REQUIRE_REDIS else ""
    return f"{prefix}{CLUSTER_SKIP_REASON}: {exc}"


def cluster_client(cluster: LocalCluster) -> RedisCluster:
    """An asyncio client on the cluster, built as the service builds it (``REDIS_MODE=cluster``)."""
    client = connect(cluster.url, mode="cluster")
    assert isinstance(client, RedisCluster)
    return client
