"""Test support: a real redis-server on a free port, and a gateway wired to the simulator.

Nothing here fakes Redis; the only stand-in is the project's own Rivya simulator, reached by the
gateway's one upstream engine over in-memory connections (``tests/memory_link.py``) or a real
loopback server (``served``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import httpx
import uvicorn
from fastapi import FastAPI
from redis import Redis as SyncRedis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as SyncRetry

from app.clock import Clock, FakeClock
from app.domain.teams import Team
from app.factory import create_app
from app.services.webhook_targets import Resolver
from app.settings import Settings
from app.simulator.app import create_simulator_app
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState
from app.store.keyspace import KeySpace
from app.store.redis import close_redis, create_redis, learn_cluster_layout
from app.store.spend import PeriodSpend, SpendStore
from app.wiring.resources import Seams
from tests.memory_link import MemoryConnector
from tests.rivya_side import Asgi, Handler

ORG_KEY = "rvya_sk_test_org_key_9f3c2a7d1e"
ADMIN_TOKEN = "admin-test-token-5b8e1c"
UPSTREAM_URL = "http://rivya.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (the kernel may hand one out twice once it is released)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class RedisServer:
    """A throwaway redis-server; ``stop``/``start`` on the same port simulate an outage.
    ``durable`` keeps every acknowledged write through a crash (AOF, fsync always), as the
    deployment guide asks of production's Redis."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="gw-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *(
                    ("--appendonly", "yes", "--appendfsync", "always")
                    if self.durable
                    else ("--appendonly", "no")
                ),
                "--dir",
                self.dir,
                # DEBUG SLEEP stalls the server on purpose: a Redis that runs a script but
                # answers after the client has given up.
                "--enable-debug-command",
                "local",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = SyncRedis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def crash(self) -> None:
        """Killed with no warning (SIGKILL): nothing is saved on the way down."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def flush(self) -> None:
        client = SyncRedis(port=self.port)
        client.flushall()
        client.close()

    def go_down(self) -> None:
        """An outage that keeps the data: snapshot, then stop (connections refused)."""
        client = SyncRedis(port=self.port)
        client.save()
        client.close()
        self.stop()

    def come_back(self) -> None:
        self.start()  # loads the snapshot from the same directory
        # ...once: a later plain restart must come back empty, as it always did.
        Path(self.dir, "dump.rdb").unlink(missing_ok=True)

    def stall(self, seconds: float) -> None:
        """Block the server for ``seconds``; returns once it is seen blocked (a PING times out),
        while the stall goes on in a thread."""

        def sleep() -> None:
            client = SyncRedis(port=self.port, socket_timeout=seconds + 10)
            client.execute_command("DEBUG", "SLEEP", seconds)  # type: ignore[no-untyped-call]
            client.close()

        threading.Thread(target=sleep, daemon=True).start()
        probe = SyncRedis(
            port=self.port,
            socket_timeout=0.05,
            socket_connect_timeout=0.05,
            retry=SyncRetry(NoBackoff(), 0),  # one timeout is the answer: no quiet retries
        )
        try:
            while True:
                probe.ping()
        except (RedisTimeoutError, RedisConnectionError):
            pass  # blocked
        finally:
            probe.close()


# Where the gateways a test process builds keep their copies of results: one directory for
# all (each team's copies are under its own tenant, which no other team shares).
RESULTS_DIR = Path(tempfile.mkdtemp(prefix="rivya-results-"))


def gateway_settings(redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "results_dir": RESULTS_DIR,
        "rivya_base_url": UPSTREAM_URL,
        "rivya_api_key": ORG_KEY,
        "gateway_admin_token": ADMIN_TOKEN,
        "key_cache_seconds": 2.0,
        "wait_poll_seconds": 1.0,
        "rivya_timeout_seconds": 5.0,
        # Long enough for a busy CI machine; tests of stalls and timeouts set their own.
        "redis_timeout_seconds": 2.0,
        "settler_enabled": False,  # tests drive the settler with run_once()
        "metrics_cache_seconds": 0,  # every scrape reads afresh (the cache has its own test)
        # No Rivya call at startup: tests check every upstream request a request makes.
        "reconciliation_baseline_at_start": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


class _RedisProcesses:
    """redis-server processes a fixture started, in a directory of their own."""

    def __init__(self, prefix: str) -> None:
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.processes: list[subprocess.Popen[bytes]] = []

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes = []
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisClusterNodes(_RedisProcesses):
    """A real local Redis Cluster: three masters (``redis-server --cluster-enabled yes``) joined
    by ``redis-cli --cluster create``, covering all 16384 slots; with ``replicas``, that many
    replicas of each master."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        self.replicas = replicas
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are needed (make test installs them)")
        self.binary, self.cli = binary, cli
        super().__init__("gw-cluster-")
        nodes = masters * (1 + replicas)
        # Each node's port and its cluster bus port (its default, port + 10000, may be taken).
        chosen = free_ports(2 * nodes)
        self.ports, self._bus_ports = (
            chosen[:nodes],
            dict(zip(chosen[:nodes], chosen[nodes:], strict=True)),
        )

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def role(self, port: int) -> str:
        client = SyncRedis(port=port, decode_responses=True)
        try:
            replication = client.info("replication")
        finally:
            client.close()
        if replication["role"] == "master":
            return "master"
        return "replica" if replication.get("master_link_status") == "up" else "syncing"

    def start(self) -> None:
        for port in self.ports:
            node_dir = Path(self.dir, str(port))
            node_dir.mkdir()
            bus = self._bus_ports[port]
            self.processes.append(
                subprocess.Popen(
                    [
                        *(self.binary, "--port", str(port), "--bind", "127.0.0.1"),
                        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                        *("--cluster-port", str(bus)),
                        *("--save", "", "--appendonly", "no", "--dir", str(node_dir)),
                        *("--repl-diskless-sync-delay", "0"),  # a replica syncs at once
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in self.ports:
            _wait_for_ping(port, self.processes)
        subprocess.run(
            [
                *(self.cli, "--cluster", "create"),
                *(f"127.0.0.1:{port}" for port in self.ports),
                *("--cluster-replicas", str(self.replicas), "--cluster-yes"),
            ],
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while not all(self._state(port) == "ok" for port in self.ports) or (
            "syncing" in {self.role(port) for port in self.ports}
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the local Redis Cluster did not come up")
            time.sleep(0.05)

    def fail_over(self) -> int:
        """Every replica takes its master's place at once (``CLUSTER FAILOVER TAKEOVER``: no
        handshake with the master and no vote, as when its master is cut off); returns once the
        cluster is ok with the old masters serving as their replicas. The new masters' count."""
        # A replica cut off from its master (``cut_off_replicas``) takes over too.
        replicas = [port for port in self.ports if self.role(port) != "master"]
        for port in replicas:
            client = SyncRedis(port=port)
            try:
                client.execute_command("CLUSTER", "FAILOVER", "TAKEOVER")  # type: ignore[no-untyped-call]
            finally:
                client.close()
        deadline = time.monotonic() + 30
        while not (
            all(self.role(port) == "master" for port in replicas)
            and all(self._state(port) == "ok" for port in self.ports)
            and "syncing" not in {self.role(port) for port in self.ports}
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster's replicas did not take over")
            time.sleep(0.05)
        return len(replicas)

    def cut_off_replicas(self) -> None:
        """Every replica stops receiving its master's writes (``cut_off_replica``)."""
        for port in self.ports:
            if self.role(port) == "replica":
                client = SyncRedis(port=port, decode_responses=True)
                try:
                    master = int(client.info("replication")["master_port"])
                finally:
                    client.close()
                cut_off_replica(master, port)

    def _state(self, port: int) -> str:
        client = SyncRedis(port=port)
        try:
            info = client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
        finally:
            client.close()
        text = info.decode() if isinstance(info, bytes) else str(info)
        return text.split("cluster_state:", 1)[1].split()[0]

    def flush(self) -> None:
        for port in self.ports:
            if self.role(port) == "master":  # replicas follow (and refuse writes)
                client = SyncRedis(port=port)
                client.flushall()
                client.close()


class RedisSentinelSet(_RedisProcesses):
    """A real local Sentinel set: a master, a replica of it, and three sentinels watching it
    as ``mymaster`` (quorum 2); or one sentinel (quorum 1), whose failovers are done once it
    has made them (three tell each other within 2 s)."""

    service = "mymaster"

    def __init__(self, sentinels: int = 3) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        self.binary = binary
        self.master_port, self.replica_port, *self.sentinel_ports = free_ports(2 + sentinels)
        super().__init__("gw-sentinel-")

    @property
    def quorum(self) -> int:
        return len(self.sentinel_ports) // 2 + 1

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def _run(self, *args: str) -> None:
        self.processes.append(
            subprocess.Popen(
                [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )

    def start(self) -> None:
        common = (
            *("--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir),
            # A replica syncs at once, not after the default 5 s wait for others to join in.
            *("--repl-diskless-sync-delay", "0"),
        )
        self._run("--port", str(self.master_port), *common)
        _wait_for_ping(self.master_port, self.processes)
        self._run(
            *("--port", str(self.replica_port), *common),
            *("--replicaof", "127.0.0.1", str(self.master_port)),
        )
        _wait_for_ping(self.replica_port, self.processes)
        for port in self.sentinel_ports:
            config = Path(self.dir, f"sentinel-{port}.conf")
            config.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {self.service} 127.0.0.1 {self.master_port} {self.quorum}\n"
                f"sentinel down-after-milliseconds {self.service} 1000\n"
                f"sentinel failover-timeout {self.service} 5000\n"
            )
            self._run(str(config), "--sentinel")
        for port in self.sentinel_ports:
            _wait_for_ping(port, self.processes)
        deadline = time.monotonic() + 20
        # The replica holds the master's data, and every sentinel knows it and its peers.
        while not (self._replicating() and self._watched()):
            if time.monotonic() > deadline:
                raise RuntimeError("the local Sentinel set did not come up")
            time.sleep(0.05)

    def _replicating(self) -> bool:
        client = SyncRedis(port=self.replica_port, decode_responses=True)
        try:
            return client.info("replication").get("master_link_status") == "up"
        finally:
            client.close()

    def _watched(self) -> bool:
        for port in self.sentinel_ports:
            client = SyncRedis(port=port, decode_responses=True)
            try:
                state = cast(dict[str, Any], client.sentinel_master(self.service))
            finally:
                client.close()
            peers = len(self.sentinel_ports) - 1
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < peers:
                return False
        return True

    def current_master_port(self, sentinel: int | None = None) -> int:
        """The master as a sentinel names it now (a failover moves it to the replica)."""
        client = SyncRedis(port=sentinel or self.sentinel_ports[0], decode_responses=True)
        try:
            address = client.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
            )
        finally:
            client.close()
        return int(address[1])

    def fail_over(self, *, every_sentinel: bool = True) -> int:
        """Make the sentinels promote the replica (``SENTINEL FAILOVER``); returns once the
        old master serves as its replica and the first sentinel (or, ``every_sentinel``, each
        of them: they tell each other every 2 s) names it as the master. The new master's
        port."""
        old = self.current_master_port()
        deadline = time.monotonic() + 30

        def until(done: Callable[[], bool], what: str) -> None:
            while not done():
                if time.monotonic() > deadline:
                    raise RuntimeError(what)
                time.sleep(0.02)

        self._known_to_the_sentinel(deadline)
        client = SyncRedis(port=self.sentinel_ports[0], decode_responses=True)
        try:
            client.execute_command("SENTINEL", "FAILOVER", self.service)  # type: ignore[no-untyped-call]
        finally:
            client.close()
        until(lambda: self.current_master_port() != old, "the sentinels did not fail over")
        new = self.current_master_port()
        # Clients (redis-py) ask SENTINEL MASTERS, which names the old master until the
        # failover is over: wait for that, as a client would see it.
        until(lambda: self._failed_over_to(new), "the failover did not end")
        # The sentinels demote the old master when they next look at it (every 10 s): done at
        # once here, as they would do it.
        demoted = SyncRedis(port=old, decode_responses=True)
        try:
            demoted.execute_command("REPLICAOF", "127.0.0.1", new)  # type: ignore[no-untyped-call]
            until(
                lambda: demoted.info("replication")["role"] == "slave",
                "the old master did not become a replica",
            )
        finally:
            demoted.close()
        if every_sentinel:
            until(
                lambda: all(self.current_master_port(port) == new for port in self.sentinel_ports),
                "the sentinels did not all name the new master",
            )
        return new

    def cut_off_replicas(self) -> None:
        """The replica stops receiving the master's writes (``cut_off_replica``)."""
        master = self.current_master_port()
        replica = self.replica_port if master == self.master_port else self.master_port
        cut_off_replica(master, replica)

    def heal(self) -> None:
        """Replication works again (after ``cut_off_replicas``): every node logs in to its
        master as before; returns once the replica holds the master's data and the sentinel
        knows of it."""
        for port in (self.master_port, self.replica_port):
            client = SyncRedis(port=port)
            try:
                client.config_set("masteruser", "")
                client.config_set("masterauth", "")
            finally:
                client.close()
        master = self.current_master_port()
        replica = self.replica_port if master == self.master_port else self.master_port
        deadline = time.monotonic() + 20
        while _link_of(replica) != "up" or _replicas_of(master) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the replica on port {replica} did not link up again with the master the "
                    f"sentinel names ({master}): {self.replication()}"
                )
            time.sleep(0.02)
        self._known_to_the_sentinel(deadline)

    def _known_to_the_sentinel(self, deadline: float) -> None:
        """The sentinel promotes only a replica it knows of. One that became a replica since
        (the last failover's old master) it learns of by looking at the master every 10 s; a
        reset makes it look now, which finds the replica only while it is linked: so this is
        done when the replica is healed, before it may be cut off again."""
        client = SyncRedis(port=self.sentinel_ports[0], decode_responses=True)
        try:
            if self._replica_known(client):
                return
            client.execute_command("SENTINEL", "RESET", self.service)  # type: ignore[no-untyped-call]
            while not self._replica_known(client):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the sentinel knows no replica: {self.replication()}")
                time.sleep(0.02)
        finally:
            client.close()

    def replication(self) -> dict[int, dict[str, Any]]:
        """What each node says of its replication (role, master, link, replicas): for
        failures' messages."""
        states = {}
        for port in (self.master_port, self.replica_port):
            client = SyncRedis(port=port, decode_responses=True)
            try:
                info = client.info("replication")
            finally:
                client.close()
            fields = ("role", "master_port", "master_link_status", "connected_slaves")
            states[port] = {k: info.get(k) for k in fields}
        return states

    def _failed_over_to(self, new: int) -> bool:
        client = SyncRedis(port=self.sentinel_ports[0], decode_responses=True)
        try:
            state = cast(dict[str, Any], client.sentinel_master(self.service))
        finally:
            client.close()
        return int(state["port"]) == new and "failover_in_progress" not in str(state["flags"])

    def _replica_known(self, sentinel: SyncRedis) -> bool:
        replicas = cast(
            list[dict[str, Any]],
            sentinel.execute_command("SENTINEL", "REPLICAS", self.service),  # type: ignore[no-untyped-call]
        )
        return any(
            not {"s_down", "o_down", "disconnected"} & set(str(replica["flags"]).split(","))
            for replica in replicas
        )

    def flush(self) -> None:
        client = SyncRedis(port=self.current_master_port())
        client.flushall()
        client.execute_command("WAIT", 1, 5000)  # type: ignore[no-untyped-call]
        client.close()


def _wait_for_ping(port: int, processes: list[subprocess.Popen[bytes]]) -> None:
    client = SyncRedis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return
            except RedisConnectionError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.02)
    finally:
        client.close()


def cut_off_replica(master: int, replica: int) -> None:
    """The replica stops receiving its master's writes, as when the network between them fails,
    while both keep their roles, so that a failover still promotes it, without those writes: it
    logs in to the master again as a user that does not exist, which the master refuses. Returns
    once the master has no replica left to send its writes to."""
    client = SyncRedis(port=replica)
    try:
        client.config_set("masteruser", "cut-off")
        client.config_set("masterauth", "cut-off")
        client.execute_command("CLIENT", "KILL", "TYPE", "master")  # type: ignore[no-untyped-call]
    finally:
        client.close()
    deadline = time.monotonic() + 10
    while _replicas_of(master) > 0 or _link_of(replica) == "up":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the replica on port {replica} is still linked to its master")
        time.sleep(0.02)


def _replicas_of(port: int) -> int:
    client = SyncRedis(port=port, decode_responses=True)
    try:
        return int(client.info("replication")["connected_slaves"])
    finally:
        client.close()


def _link_of(port: int) -> str:
    client = SyncRedis(port=port, decode_responses=True)
    try:
        return str(client.info("replication").get("master_link_status"))
    finally:
        client.close()


def simulator_app(clock: Clock, **overrides: Any) -> FastAPI:
    values: dict[str, Any] = {
        "api_key": ORG_KEY,
        "queued_seconds": 2.0,
        "processing_seconds": 4.0,
        "public_base_url": UPSTREAM_URL,
        "seed": 7,
    }
    values.update(overrides)
    return create_simulator_app(SimulatorSettings(**values), clock=clock)


@dataclass
class Gateway:
    """One running gateway app (in-process) with an admin client and helpers."""

    app: FastAPI
    sim_app: FastAPI
    http: httpx.AsyncClient
    link: MemoryConnector | None = None  # what the engine connects through (None: the network)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def sim(self) -> SimState:
        state: SimState = self.sim_app.state.sim
        return state

    async def create_team(self, team_id: str = "alpha", **policy: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/admin/teams", json={"id": team_id, **policy}, headers=admin_headers()
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def issue_key(self, team_id: str = "alpha", name: str | None = None) -> str:
        response = await self.http.post(
            f"/admin/teams/{team_id}/keys", json={"name": name}, headers=admin_headers()
        )
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        self.keys[team_id] = key
        return key

    async def team_with_key(self, team_id: str = "alpha", **policy: Any) -> str:
        await self.create_team(team_id, **policy)
        return await self.issue_key(team_id)

    def upstream_requests(self, path_contains: str = "/api/v1/") -> list[Any]:
        return [r for r in self.sim.requests if path_contains in r.path]


TOKEN_SECRET = "token-signing-secret-0123456789abcdef"


def token_settings(redis_url: str, **overrides: Any) -> Settings:
    """A gateway that mints browser tokens."""
    return gateway_settings(redis_url, gateway_token_secret=TOKEN_SECRET, **overrides)


async def mint_token(gw: Gateway, key: str, subject: str, **body: Any) -> str:
    """A browser token for ``subject``, minted with the team's ``key``."""
    answer = await gw.http.post(
        "/v1/tokens", json={"subject": subject, **body}, headers=bearer(key)
    )
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def admin_get(gw: Gateway, path: str, **params: Any) -> Any:
    """GET an admin route that must answer 200; its JSON."""
    response = await gw.http.get(path, params=params, headers=admin_headers())
    assert response.status_code == 200, response.text
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def running_gateway(
    settings: Settings,
    sim_app: FastAPI,
    clock: Clock,
    *,
    raise_app_exceptions: bool = True,
    upstream: Handler | MemoryConnector | Literal["network"] | None = None,
    alert_transport: httpx.AsyncBaseTransport | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    webhook_resolver: Resolver | None = None,
    download_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Gateway]:
    """A gateway app with its lifespan running. The production engine sends to Rivya through
    in-memory connections to the simulator (``upstream=None``), to a scripted handler or
    connector, or (``"network"``) to whatever ``settings.rivya_base_url`` points at."""
    link = (
        None
        if upstream == "network"
        else upstream
        if isinstance(upstream, MemoryConnector)
        else MemoryConnector(upstream or Asgi(sim_app))
    )
    app = create_app(
        settings,
        seams=Seams(
            upstream=link,
            alerts=alert_transport,
            # Rivya's result files: from the simulator too (or the network, as the API is).
            downloads=download_transport
            or (None if upstream == "network" else httpx.ASGITransport(app=sim_app)),
            webhooks=webhook_transport,
            resolver=webhook_resolver,
        ),
        clock=clock,
        configure_logs=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Gateway(app=app, sim_app=sim_app, http=http, link=link)


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict[str, str]:
    prefixes = ("RIVYA_", "GATEWAY_", "SIM_", "RESULT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


@asynccontextmanager
async def served(
    app: FastAPI, *, tls: tuple[Path, Path] | None = None, **options: Any
) -> AsyncIterator[str]:
    """Serve an ASGI app with a real uvicorn server on a free loopback port (same event loop),
    for what only a real socket shows: timeouts, hangs, connection resets; with ``tls`` (its
    certificate chain and key files), over https; ``options``: more of uvicorn's (the gateway's
    own, ``app.http_server.GATEWAY_SERVER``)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="off",
        date_header=False,  # the simulator dates its own answers
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


async def tenant_of(gw: Gateway, team: str) -> str:
    """Where the team's data lives in Redis (its id and generation: store/keyspace.py)."""
    found: Team = await gw.app.state.services.teams.get(team)
    return found.tenant


async def total_spend(gw: Gateway, team: str) -> PeriodSpend:
    """The team's all-time spend straight from Redis, the source of truth."""
    return await tenant_spend(gw, await tenant_of(gw, team))


async def tenant_spend(gw: Gateway, tenant: str) -> PeriodSpend:
    """All-time spend of one tenant (a deleted team's included)."""
    settings = gw.app.state.services.settings
    redis = create_redis(settings.redis_url)
    try:
        await learn_cluster_layout(redis)
        return await SpendStore(redis, KeySpace(settings.redis_key_prefix)).read(tenant, "total")
    finally:
        await close_redis(redis)


async def settle_all(gw: Gateway, clock: FakeClock, rounds: int = 6) -> None:
    """Let every task end at the simulator and the settler see it: the fake clock moves on,
    no real waiting."""
    for _ in range(rounds):
        clock.advance(15)
        await gw.app.state.services.settler.run_once()


def rivya_charged(sim: SimState) -> int:
    """What Rivya took from the org's account: its starting balance less what is left."""
    return sim.settings.initial_credits - sim.current_credits()


async def assert_books_close(gw: Gateway, *teams: str) -> None:
    """Once every task has ended: the teams were charged exactly what Rivya charged, with
    nothing reserved and nothing in flight."""
    totals = [await total_spend(gw, team) for team in teams]
    assert [(t.reserved, t.in_flight) for t in totals] == [(0, 0)] * len(teams)
    assert sum(t.spent for t in totals) == rivya_charged(gw.sim)


def forget_apps() -> None:
    """Let the apps a test built be collected. FastAPI classifies every dependency callable
    once, in caches of 4,096 entries each that keep the callables (closures over their app)
    alive: in a process that builds thousands of apps, hundreds stay, ~3 MB each, and each
    full garbage collection walks them all."""
    from fastapi.dependencies import models

    for name in dir(models):
        cache_clear = getattr(getattr(models, name), "cache_clear", None)
        if name.endswith("_cached") and cache_clear is not None:
            cache_clear()
