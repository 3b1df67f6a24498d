"""A real Sentinel-managed Redis for the tests: a primary, a replica and three sentinels on
loopback in a temporary directory, that can fail over on demand and is always torn down.

The sentinels are real ``redis-server --sentinel`` processes with short timings
(``down-after-milliseconds`` 1000), so a killed primary is replaced within a few seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server")
MASTER_NAME = "ticketing-test"
# The loopback ports this project's tests may use for it (a primary, a replica, 3 sentinels).
DATA_PORTS = (7201, 7202)
SENTINEL_PORTS = (27201, 27202, 27203)
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
SKIP_REASON = (
    "cannot start a primary, a replica and three sentinels on loopback ports 7201-7202 and "
    "27201-27203 (needs `redis-server` on PATH and the ports free); run with REQUIRE_REDIS=1 "
    "to make this a failure instead of a skip"
)


class TopologyError(RuntimeError):
    """The topology did not start, or did not settle in time."""


def wait_for(what: str, condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` until it holds; a TopologyError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TopologyError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(0.05)


@dataclass
class SentinelTopology:
    """A primary, its replica and three sentinels watching them as ``MASTER_NAME``.

    ``url(db)`` is what the service takes as ``REDIS_URL`` (with ``REDIS_MODE=sentinel`` and
    ``REDIS_SENTINEL_MASTER=MASTER_NAME``).
    """

    directory: Path
    data_ports: tuple[int, int] = DATA_PORTS
    sentinel_ports: tuple[int, ...] = SENTINEL_PORTS
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _clients: dict[int, redis.Redis] = field(default_factory=dict)

    def url(self, db: int = 0) -> str:
        sentinels = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis://{sentinels}/{db}"

    def start(self) -> None:
        if REDIS_SERVER is None:
            raise TopologyError("redis-server is not on PATH")
        primary, replica = self.data_ports
        self._start_data(primary)
        self._start_data(replica, "--replicaof", "127.0.0.1", str(primary))
        wait_for("the replica is in sync", lambda: self._linked(replica), 15)
        for port in self.sentinel_ports:
            conf = self.directory / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} {QUORUM}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._spawn(port, str(conf), "--sentinel")
        self.settle(primary)

    def primary_port(self) -> int:
        """The primary's port as the first sentinel names it."""
        _, port = self._client(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def replica_port(self) -> int:
        primary = self.primary_port()
        return next(port for port in self.data_ports if port != primary)

    def settle(self, primary: int, timeout: float = 30) -> None:
        """Wait until every sentinel names ``primary``, sees the other sentinels and a healthy
        replica, and the replica is in sync: the state a failover can start from."""
        replica = next(port for port in self.data_ports if port != primary)

        def agreed() -> bool:
            for port in self.sentinel_ports:
                sentinel = self._client(port)
                master = sentinel.sentinel_master(MASTER_NAME)
                if int(master["port"]) != primary or master.get("is_master_down_after_period"):
                    return False
                if int(master["num-other-sentinels"]) < len(self.sentinel_ports) - 1:
                    return False
                replicas = sentinel.sentinel_slaves(MASTER_NAME)
                healthy = [
                    r
                    for r in replicas
                    if int(r["port"]) == replica
                    and r.get("master-link-status") == "ok"
                    and not (r.get("is_sdown") or r.get("is_odown") or r.get("is_disconnected"))
                ]
                if not healthy:
                    return False
            return self._linked(replica) and self._client(primary).info("replication")["role"] == (
                "master"
            )

        wait_for(f"the sentinels agree that port {primary} is the primary", agreed, timeout)

    def failover(self, timeout: float = 30) -> int:
        """``SENTINEL FAILOVER``: the replica becomes the primary, the old primary its replica
        (both keep running). Returns the new primary's port once all agree."""
        new = self.switch(timeout)
        self.settle(new, timeout)
        return new

    def switch(self, timeout: float = 30) -> int:
        """``SENTINEL FAILOVER``, returning the new primary's port as soon as a sentinel names
        it; the old primary still runs as a primary, until the sentinels make it a replica
        (some 10 s later) and it throws away what was written to it meanwhile."""
        old = self.primary_port()
        self._client(self.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        new = next(port for port in self.data_ports if port != old)
        wait_for(f"a sentinel names port {new}", lambda: self.primary_port() == new, timeout)
        return new

    def kill_primary(self, timeout: float = 30) -> int:
        """SIGKILL the primary (a crash): the sentinels promote the replica; the old primary is
        then started again and rejoins as a replica. Returns the new primary's port."""
        old = self.primary_port()
        process = self.processes.pop(old)
        process.kill()
        process.wait(timeout=10)
        new = next(port for port in self.data_ports if port != old)
        wait_for(
            f"a sentinel names port {new} the primary",
            lambda: self.primary_port() == new,
            timeout,
        )
        self._start_data(old, "--replicaof", "127.0.0.1", str(new))
        self.settle(new, timeout)
        return new

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        self.processes.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # -- internals -------------------------------------------------------------------------

    def _start_data(self, port: int, *extra: str) -> None:
        self._spawn(
            port,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
            "--dir",
            str(self.directory),
            "--dbfilename",
            f"dump-{port}.rdb",
            *extra,
        )

    def _spawn(self, port: int, *argv: str) -> None:
        assert REDIS_SERVER is not None
        process = subprocess.Popen(  # noqa: S603 - the machine's redis-server, fixed arguments
            [REDIS_SERVER, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.processes[port] = process
        wait_for(f"port {port} answers", lambda: self._answers(port, process), 10)

    def _client(self, port: int) -> redis.Redis:
        if port not in self._clients:
            self._clients[port] = redis.Redis(
                port=port, socket_connect_timeout=0.3, socket_timeout=2, decode_responses=True
            )
        return self._clients[port]

    def _answers(self, port: int, process: subprocess.Popen[bytes]) -> bool:
        if process.poll() is not None:
            raise TopologyError(f"redis-server on port {port} exited ({process.returncode})")
        return bool(self._client(port).ping())

    def _linked(self, replica: int) -> bool:
        info = self._client(replica).info("replication")
        return info.get("role") == "slave" and info.get("master_link_status") == "up"


@contextlib.contextmanager
def sentinel_topology() -> Iterator[SentinelTopology]:
    """A started SentinelTopology in a temporary directory, always stopped at the end (a
    failure to start raises TopologyError)."""
    with tempfile.TemporaryDirectory(prefix="ticketing-sentinel-") as directory:
        topology = SentinelTopology(Path(directory))
        try:
            topology.start()
            yield topology
        finally:
            topology.stop()
