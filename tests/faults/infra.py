"""The fault suite's own Kafka and PostgreSQL, killed and restarted at will.

They run from the same jars and the same PostgreSQL wheel as `make up`, with the same
broker settings (deploy/kafka/conf, its ports moved up by PORT_SHIFT; SASL/SCRAM and ACLs
on every node, as `make up` runs it) and the same server
settings (deploy/postgres/postgres.py, another port and data directory), so that a kill -9
here never reaches the broker and database of `make run` or of `make test`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from services.common.kafka_security import ADMIN, ensure_password
from services.common.settings import Settings

REPO = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("REDTHREAD_HOME") or REPO / ".local").resolve()
FAULTS_HOME = HOME / "faults"
KAFKA_CONF = REPO / "deploy" / "kafka" / "conf"
KAFKA_LIB = HOME / "kafka" / "lib"
# 9092 → 19092, and so on for every listener of the templates; the three nodes go to
# 29092–29097, so that they can run beside the single one.
PORT_SHIFT = {1: 10_000, 3: 20_000}
PG_PORT = int(os.environ.get("REDTHREAD_FAULTS_PG_PORT", "15442"))
READY_LINE = "Kafka Server started"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(interval_s)


def _java() -> str:
    return str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else "java"


# The SASL/SCRAM and ACL settings of `make up`'s broker (deploy/kafka/conf/server.properties),
# laid over the three-node templates, whose listeners are otherwise PLAINTEXT.
SECURITY_SETTINGS = tuple(
    line for line in (KAFKA_CONF / "server.properties").read_text().splitlines()
    if line.startswith(("listener.name.", "sasl.", "authorizer.", "super.users", "allow.everyone"))
)


def secured(text: str) -> str:
    """A node's settings with every listener authenticated (SCRAM for clients and between
    brokers, PLAIN for admin between controllers) and ACLs on."""
    if "SASL_PLAINTEXT://" in text:
        return text
    text = re.sub(r"(?<![A-Z_])PLAINTEXT://", "SASL_PLAINTEXT://", text)
    text = re.sub(r"^inter\.broker\.listener\.name=.*$", "inter.broker.listener.name=SASL_PLAINTEXT", text, flags=re.M)
    text = re.sub(r"^listener\.security\.protocol\.map=.*$",
                  "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT", text, flags=re.M)
    return text + "\n" + "\n".join(SECURITY_SETTINGS) + "\n"


def admin_password() -> str:
    """The admin's password for every broker of the suite (its own credentials directory)."""
    return ensure_password(Settings(), ADMIN)


class KafkaNode:
    def __init__(self, template: Path, name: str, root: Path, shift: int, host: str) -> None:
        self.name = name
        self.host = host
        self.data = root / "data" / name
        self.logs = root / "logs" / name
        self.conf = root / "conf" / f"{name}.properties"
        text = secured(template.read_text()).replace("@DATA_DIR@", str(self.data))
        text = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"{host}:{int(m.group(1)) + shift}", text)
        self.text = text
        self.node_id = int(re.search(r"^node\.id=(\d+)", text, re.M).group(1))
        self.port = int(re.search(r"PLAINTEXT://[^:]+:(\d+)", text).group(1))
        self.controller_port = int(re.search(r"CONTROLLER://[^:]+:(\d+)", text).group(1))
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    def format(self, cluster_id: str, standalone: bool) -> None:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        password = admin_password()
        self.conf.write_text(self.text.replace("@ADMIN_PASSWORD@", password))
        self.conf.chmod(0o600)
        self.data.mkdir(parents=True, exist_ok=True)
        flags = ["--standalone"] if standalone else []
        # Every controller reads the admin's SCRAM credential from its own log: each node gets it.
        _tool("kafka.tools.StorageTool", "format", *flags, "-t", cluster_id, "-c", str(self.conf),
              "--add-scram", f"SCRAM-SHA-512=[name={ADMIN},password={password}]")

    def launch(self) -> None:
        if port_open(self.port, self.host) or port_open(self.controller_port, self.host):
            raise RuntimeError(f"{self.name}: port {self.port} or {self.controller_port} is in use")
        self.logs.mkdir(parents=True, exist_ok=True)
        server_log = self.logs / "server.log"
        self._log_offset = server_log.stat().st_size if server_log.exists() else 0
        stdout = open(self.logs / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [_java(), "-Xms512M", "-Xmx512M", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
             "-Djava.awt.headless=true", f"-Dkafka.logs.dir={self.logs}",
             f"-Dlog4j2.configurationFile={KAFKA_CONF / 'log4j2.yaml'}",
             "-cp", f"{KAFKA_LIB}/*", "kafka.Kafka", str(self.conf)],
            stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def ready(self) -> bool:
        if not self.running():
            raise RuntimeError(f"{self.name} exited during startup; see {self.logs}")
        log = self.logs / "server.log"
        if not log.exists():
            return False
        with log.open("rb") as f:
            f.seek(self._log_offset)
            return READY_LINE.encode() in f.read()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def _tool(cls: str, *args: str) -> str:
    done = subprocess.run(
        [_java(), "-Xmx256M", f"-Dlog4j2.configurationFile={KAFKA_CONF / 'tools-log4j2.yaml'}",
         "-cp", f"{KAFKA_LIB}/*", cls, *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{cls} {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


class Kafka:
    """One node (deploy/kafka/conf/server.properties) or three
    (deploy/kafka/conf/cluster/, replication 3, min.insync.replicas=2), freshly formatted.
    `host`: the address its listeners bind (loopback, or the host end of a link into a
    network namespace) with the ports shifted by `shift`."""

    def __init__(self, nodes: int = 1, host: str = "127.0.0.1", shift: int | None = None, name: str = "") -> None:
        self.root = FAULTS_HOME / (name or ("kafka" if nodes == 1 else "kafka-cluster"))
        templates = (
            [KAFKA_CONF / "server.properties"]
            if nodes == 1
            else [KAFKA_CONF / "cluster" / f"node{n}.properties" for n in (1, 2, 3)]
        )
        shift = PORT_SHIFT[nodes] if shift is None else shift
        self.nodes = [KafkaNode(t, f"node{i + 1}", self.root, shift, host) for i, t in enumerate(templates)]
        self.replication = 1 if nodes == 1 else 3

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{n.host}:{n.port}" for n in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def start(self) -> None:
        if not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"no Kafka jars in {KAFKA_LIB}: run `make install` (or `make up`) first")
        shutil.rmtree(self.root, ignore_errors=True)
        cluster_id = _tool("kafka.tools.StorageTool", "random-uuid").strip()
        for node in self.nodes:
            node.format(cluster_id, standalone=len(self.nodes) == 1)
        for node in self.nodes:
            node.launch()
        self.wait_ready()

    def restart(self, node: KafkaNode) -> None:
        node.launch()
        wait_until(node.ready, 90, f"{node.name} ready again")

    def wait_ready(self) -> None:
        for node in self.nodes:
            wait_until(node.ready, 90, f"{node.name} ready")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def quorum_leader(self) -> int:
        """The node id of the active controller (the KRaft quorum's leader)."""
        client = self.root / "conf" / "admin-client.properties"
        client.write_text(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{admin_password()}";\n'
        )
        client.chmod(0o600)
        out = _tool("org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", self.bootstrap_servers,
                    "--command-config", str(client), "describe", "--status")
        return int(re.search(r"LeaderId:\s*(\d+)", out).group(1))


class Postgres:
    """A server of its own: deploy/postgres/postgres.py with another data directory and port."""

    def __init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
            "REDTHREAD_HOME": str(FAULTS_HOME),
            "REDTHREAD_PG_PORT": str(PG_PORT),
        }
        self.pid_file = FAULTS_HOME / "postgres" / "data" / "postmaster.pid"
        self.url = f"postgresql://postgres@127.0.0.1:{PG_PORT}/redthread"

    def _run(self, command: str) -> str:
        done = subprocess.run(
            [sys.executable, str(REPO / "deploy" / "postgres" / "postgres.py"), command],
            env=self.env, capture_output=True, text=True, timeout=180, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"postgres.py {command} failed: {done.stderr}")
        return done.stdout.strip()

    def start(self) -> None:
        FAULTS_HOME.mkdir(parents=True, exist_ok=True)
        self.url = self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def postmaster_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """kill -9 of the postmaster and every backend: a crash, then crash recovery at start."""
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError("PostgreSQL is not running")
        group = os.getpgid(pid)
        if group == os.getpgid(0):
            raise RuntimeError("the postmaster shares this process group; refusing to kill it")
        os.killpg(group, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 10, "the postmaster gone")

    def restart(self) -> None:
        # Orphaned backends may linger a moment and hold the shared memory: retry.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class NetworkNamespace:
    """A network namespace of the suite's own, joined to this host by one veth pair per
    link, each link a /30 of its own (this host's end .1, the namespace's end .2).

    Cutting a link takes its host end down: every packet across it is dropped, so
    established connections hang without a reset and new ones find no route (the
    namespace's end keeps its address and route, as a machine behind a dead switch port
    does); the other links carry on. Only addresses of these links are used, and the
    namespace is removed with them."""

    def __init__(self, name: str, links: dict[str, str]) -> None:
        self.name = name
        self.links = links  # link name → its /30's first three octets, e.g. "10.231.77"

    @staticmethod
    def unavailable() -> str | None:
        """Why namespaces cannot be made here, or None."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        if shutil.which("ip") is None:
            return "no `ip` (iproute2) on this machine"
        return None

    def host_address(self, link: str) -> str:
        return f"{self.links[link]}.1"

    def address(self, link: str) -> str:
        return f"{self.links[link]}.2"

    def _host_end(self, link: str) -> str:
        return f"{self.name[:8]}-{link[:4]}h"

    @property
    def prefix(self) -> tuple[str, ...]:
        """What runs a command inside the namespace."""
        return ("ip", "netns", "exec", self.name)

    def create(self) -> None:
        self.delete()  # what a run stopped without cleaning up left behind
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        for link in self.links:
            host_end, inner_end = self._host_end(link), f"{self.name[:8]}-{link[:4]}n"
            _ip("link", "add", host_end, "type", "veth", "peer", "name", inner_end)
            _ip("link", "set", inner_end, "netns", self.name)
            _ip("addr", "add", f"{self.host_address(link)}/30", "dev", host_end)
            _ip("-n", self.name, "addr", "add", f"{self.address(link)}/30", "dev", inner_end)
            _ip("link", "set", host_end, "up")
            _ip("-n", self.name, "link", "set", inner_end, "up")

    def cut(self, link: str) -> None:
        _ip("link", "set", self._host_end(link), "down")

    def heal(self, link: str) -> None:
        _ip("link", "set", self._host_end(link), "up")

    def delete(self) -> None:
        for link in self.links:  # the veth pairs go with the namespace, unless it is gone already
            subprocess.run(["ip", "link", "del", self._host_end(link)], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Forwarder:
    """Joins every TCP connection taken on (host, port) to `target`: how a process in a
    network namespace reaches a server that listens on loopback alone (the suite's
    PostgreSQL). Threads, one pair per connection; stop() closes them all."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server((host, 0))
        self.address = self._listener.getsockname()[:2]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> Forwarder:
        threading.Thread(target=self._accept, name="forwarder", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue  # the listener closed by stop()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # as the server itself would refuse: the client retries
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            for end in (source, sink):
                end.close()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            for end in self._sockets:
                end.close()
