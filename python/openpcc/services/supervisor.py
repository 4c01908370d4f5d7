"""The supervisor: ``openpcc up`` runs a whole local stack, every role its own process.

On first run it writes ``<home>/openpcc.toml`` (a table per role and the ``[client]`` profile) and the
keys (mode 0600) under ``<home>``; later runs read that file. It then starts each role as
``openpcc <role> --config <home>/openpcc.toml`` in a process group of its own, waits for every
``/healthz``, prefixes each role's log lines with its name, restarts a role that exits with a bounded
backoff, and on :meth:`Stack.stop` (Ctrl-C or SIGTERM in ``openpcc up``) stops them by PID, compute
nodes first, then the edge, the banks and the rest. ``docs/stack.md`` describes the layout.

Ports: the reference's (auth 3000, relay 3100, gateway 3200, bank 3500, noncelock 3501, router 3600,
nodes 3700+, log 3900, witnesses 3910+), or with ``base_port=N`` a compact block from N (offsets in
:data:`PORT_OFFSETS`) so tests run beside a developer's stack.

The first witness reads the ``[witness]`` table; every witness gets its port, data directory and key
name as ``OPENPCC_WITNESS_*`` environment overrides (the configuration has one ``[witness]`` table).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from openpcc import config
from openpcc.exceptions import (
    LoadBalancerError,
    PortInUseError,
    RoleStartError,
    SupervisorError,
    UsageError,
)
from openpcc.services import pgserver
from openpcc.services.loadbalancer import HAProxy, Pool

CONFIG_FILE = "openpcc.toml"
HOST = "127.0.0.1"
NODE_NAMES = "abcdefghijklmnopqrstuvwxyz"

#: Port of each role relative to ``base_port`` (nodes and witnesses count up from theirs).
PORT_OFFSETS: Mapping[str, int] = {
    "auth": 0, "relay": 1, "gateway": 2, "bank": 3, "noncelock": 4, "router": 5, "log": 6,
    "witness": 7, "node": 10,
}
MAX_NODES = 20
WITNESSES = 2
#: With ``base_port``: the first gateway and router replicas and the stack's PostgreSQL (relative to it).
REPLICA_OFFSETS: Mapping[str, int] = {"gateway": 30, "router": 40}
POSTGRES_OFFSET = 9
DEFAULT_POSTGRES_PORT = 3800  # beside the reference's ports, away from a system cluster's 5432
#: The roles that run as replicas behind the load balancer, and those that then share one PostgreSQL.
REPLICATED_ROLES = ("gateway", "router")
SHARED_DATABASE_ROLES = ("router", "bank", "noncelock")
#: Balance of the API key ``openpcc up`` funds for the local client (currency units).
DEV_API_KEY_BALANCE = 1_000_000_000

#: Start order: roles in one tier start together. After the first tier the operator signs the statements
#: into the log (the banks and the router read the currency key's bundle at start). Nodes start with the
#: router and retry their heartbeat every few seconds until it answers.
START_TIERS: tuple[frozenset[str], ...] = (
    frozenset({"noncelock", "log", "witness", "gateway", "relay"}),
    frozenset({"bank", "auth", "router", "node"}),
)
NODE_HEARTBEAT_S = 3.0
#: Seconds between checks that the log holds the current gateway keys (they rotate) and re-pinning them.
REPUBLISH_EVERY_S = 60.0
#: Stop order: the compute nodes first (they tell the router they leave), then the edge, then the rest.
STOP_TIERS: tuple[frozenset[str], ...] = (
    frozenset({"node"}),
    frozenset({"relay", "gateway", "router"}),
    frozenset({"auth", "bank"}),
    frozenset({"noncelock", "log", "witness"}),
)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0
#: A role that exits this many times in a row, each within STABLE_AFTER_S of its start, is given up on.
MAX_QUICK_FAILURES = 8
STABLE_AFTER_S = 30.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 40

#: The development attestation policy (``policies/dev.toml``, a test keeps the two equal): a software
#: TPM with no TEE. It proves nothing about the hardware.
DEV_POLICY = """\
# Development policy: accepts a software TPM (swtpm) with no TEE. It proves only that the node
# holds a PCR-bound key in *some* TPM and answered this nonce; it proves nothing about hardware.
# NEVER use it for real prompts.
name = "dev"
require_tee = false
danger_allow_software_tpm = true
forbid_debug = true
require_nonce = true
max_evidence_age_seconds = 3600
required_evidence = ["TPM_QUOTE", "TPM_CERTIFY_REK_CREATION", "TPMT_PUBLIC", "AK_TPMT_PUBLIC"]

[tpm]
rek_pcrs = [0, 1, 2, 3, 4, 5, 7, 8, 12]

# A freshly started swtpm has every PCR at zero; pin the ones the dev node does not change.
[tpm.pcrs]
0 = ["0000000000000000000000000000000000000000000000000000000000000000"]
7 = ["0000000000000000000000000000000000000000000000000000000000000000"]
"""

#: Added to the dev policy when swtpm is missing and the nodes keep their request key in software.
SOFTWARE_KEY_POLICY = """
# DANGER (openpcc up: swtpm is not installed): the nodes keep their request-encryption key in their
# own process, not in a TPM. Install swtpm (scripts/install-swtpm.sh) and delete this file to
# go back to the TPM-only dev policy.
danger_allow_software_request_key = true
"""


# --- layout --------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleSpec:
    """One process of the stack: ``openpcc <role> --config FILE`` (plus ``--name`` for a node)."""

    role: str
    name: str | None
    port: int
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.role if self.name is None else f"{self.role}-{self.name}"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def argv(self, config_path: Path) -> list[str]:
        argv = [sys.executable, "-m", "openpcc", self.role, "--config", str(config_path)]
        if self.role == "node" and self.name is not None:
            argv += ["--name", self.name]
        return argv


def role_ports(base_port: int | None, nodes: int) -> dict[str, int]:
    """``{label: port}`` of every process: the reference's ports, or a block from ``base_port``."""
    if base_port is None:
        first = dict(config.DEFAULT_PORTS)
    else:
        if not 1024 <= base_port <= 65535 - REPLICA_OFFSETS["router"] - config.MAX_REPLICAS:
            raise UsageError(f"base port must be 1024..{65535 - REPLICA_OFFSETS['router'] - config.MAX_REPLICAS}")
        first = {role: base_port + offset for role, offset in PORT_OFFSETS.items()}
    ports = {role: port for role, port in first.items() if role not in ("node", "witness")}
    for i in range(WITNESSES):
        ports[f"witness-{i + 1}"] = first["witness"] + i
    for i in range(nodes):
        ports[f"node-{NODE_NAMES[i]}"] = first["node"] + i
    return ports


# --- first run: configuration and keys ---------------------------------------------------


@dataclass(frozen=True)
class Paths:
    """Where the stack keeps its files, all under ``home``."""

    home: Path

    @property
    def config(self) -> Path:
        return self.home / CONFIG_FILE

    @property
    def currency_key(self) -> Path:
        return self.home / "keys" / "currency-key.pem"

    @property
    def badge_key(self) -> Path:
        return self.home / "keys" / "badge-key.pem"

    @property
    def badge_public_key(self) -> Path:
        return self.home / "keys" / "badge-public-key.pem"

    @property
    def gateway_keys_dir(self) -> Path:
        return self.home / "gateway" / "keys"

    @property
    def client_dir(self) -> Path:
        return self.home / "client"

    @property
    def api_key(self) -> Path:
        return self.client_dir / "api-key"

    @property
    def pinned_gateway_keys(self) -> Path:
        return self.client_dir / "gateway-keys.json"

    @property
    def ohttp_key_configs(self) -> Path:
        return self.home / "gateway" / "key-configs.bin"

    @property
    def node_policy(self) -> Path:
        return self.client_dir / "node-policy.toml"

    @property
    def currency_jwk(self) -> Path:
        return self.client_dir / "currency-key.jwk"

    @property
    def signing_profile(self) -> Path:
        return self.home / "transparency" / "profile"

    @property
    def statements(self) -> Path:
        return self.home / "transparency" / "statements"

    @property
    def currency_key_bundle(self) -> Path:
        return self.statements / "currency-key.sigstore.json"

    def witness_dir(self, index: int) -> Path:
        return self.home / f"witness-{index}"

    def log_dir(self) -> Path:
        return self.home / "log"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise SupervisorError(f"cannot write {type(value).__name__} to TOML")


def to_toml(tables: Mapping[str, Any], header: str = "") -> str:
    """The tables as TOML: plain values first (``home = ...``), then a table per mapping; a mapping inside
    a table becomes a ``[role.name]`` subtable."""
    lines = [header.rstrip("\n"), ""] if header else []
    top = {k: v for k, v in tables.items() if not isinstance(v, Mapping)}
    if top:
        lines += [f"{key} = {_toml_value(value)}" for key, value in top.items()] + [""]
    for table, values in tables.items():
        if not isinstance(values, Mapping):
            continue
        flat = {k: v for k, v in values.items() if not isinstance(v, Mapping)}
        nested = {k: v for k, v in values.items() if isinstance(v, Mapping)}
        if flat or not nested:
            lines.append(f"[{table}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in flat.items()]
            lines.append("")
        for name, sub in nested.items():
            lines.append(f"[{table}.{name}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in sub.items()]
            lines.append("")
    return "\n".join(lines)


def swtpm_available() -> bool:
    return shutil.which("swtpm") is not None


@dataclass(frozen=True)
class Replication:
    """Gateways and routers as replicas behind HAProxy (on the roles' own ports), the router, bank and
    noncelock on one PostgreSQL: ``database``, run by the stack under ``postgres_dir`` when ``own_postgres``."""

    replicas: int
    gateway_ports: tuple[int, ...]
    router_ports: tuple[int, ...]
    database: str
    own_postgres: bool
    postgres_port: int
    postgres_dir: Path

    def replica_ports(self, role: str) -> tuple[int, ...]:
        return self.gateway_ports if role == "gateway" else self.router_ports

    def table(self) -> dict[str, Any]:
        """The ``[stack]`` table that describes it."""
        return {
            "replicas": self.replicas, "gateway_replica_port": self.gateway_ports[0],
            "router_replica_port": self.router_ports[0], "database": "" if self.own_postgres else self.database,
            "postgres_port": self.postgres_port, "postgres_dir": str(self.postgres_dir),
        }

    def postgres(self) -> pgserver.LocalPostgres:
        return pgserver.LocalPostgres(self.postgres_dir, self.postgres_port, host=HOST)


def default_postgres_dir(home: Path) -> Path:
    """``<home>/postgres``; as root, when the postgres account cannot reach it (e.g. under /root),
    a directory of this home's own under /var/lib/openpcc."""
    preferred = home / "postgres"
    if pgserver.reachable_by_postgres(preferred):
        return preferred
    import hashlib

    return Path("/var/lib/openpcc") / f"postgres-{hashlib.sha256(str(home).encode()).hexdigest()[:12]}"


def replication_of(
    home: Path, ports: Mapping[str, int], stack: Mapping[str, Any], base_port: int | None = None
) -> Replication | None:
    """The replication a ``[stack]`` table (or its defaults) asks for; ``None`` for one of each role."""
    replicas = int(stack["replicas"])
    if replicas == 1:
        return None

    def first(role: str) -> int:
        configured = int(stack[f"{role}_replica_port"])
        if configured:
            return configured
        return ports[role] + 1 if base_port is None else base_port + REPLICA_OFFSETS[role]

    postgres_port = int(stack["postgres_port"]) or (
        DEFAULT_POSTGRES_PORT if base_port is None else base_port + POSTGRES_OFFSET
    )
    postgres_dir = Path(stack["postgres_dir"]) if stack["postgres_dir"] else default_postgres_dir(home)
    own = not stack["database"]
    database = pgserver.LocalPostgres(postgres_dir, postgres_port, host=HOST).url if own else str(stack["database"])
    return Replication(
        replicas, tuple(range(first("gateway"), first("gateway") + replicas)),
        tuple(range(first("router"), first("router") + replicas)), database, own, postgres_port, postgres_dir,
    )


@dataclass(frozen=True)
class Layout:
    """What the stack runs: ports, node count, engine, and whether nodes keep their key in software."""

    ports: Mapping[str, int]
    engine: str
    software_request_key: bool
    replication: Replication | None = None

    @property
    def node_names(self) -> list[str]:
        return [label.split("-", 1)[1] for label in self.ports if label.startswith("node-")]

    def url(self, label: str) -> str:
        return f"http://{HOST}:{self.ports[label]}"


def witness_key_name(index: int) -> str:
    return f"openpcc.localhost/witness-{index}"


def engine_model(engine: str) -> str:
    from openpcc.services.engines.llama import DEFAULT_MODEL

    return DEFAULT_MODEL if engine == "llama" else "echo"


def stack_tables(
    paths: Paths, layout: Layout, *, log_key: str, transparency: Mapping[str, Any], echo_delay: float = 0.0
) -> dict[str, Any]:
    """Every table of the stack's ``openpcc.toml`` (the witness instances get environment overrides)."""
    url = layout.url
    spending = {
        "currency_key_file": str(paths.currency_key),
        "currency_key_bundle_file": str(paths.currency_key_bundle),
        "noncelock_url": url("noncelock"),
    }
    node_common: dict[str, Any] = {
        "engine": layout.engine,
        "router_url": url("router"),
        "heartbeat_interval": NODE_HEARTBEAT_S,
        "badge_public_key": str(paths.badge_public_key),  # nodes require the auth bank's badges
    }
    if layout.engine == "echo" and echo_delay:
        node_common["echo_token_delay"] = echo_delay
    if layout.software_request_key:
        node_common["danger_software_request_key"] = True
    nodes = {name: {"port": layout.ports[f"node-{name}"], **node_common} for name in layout.node_names}
    witnesses = [url(label) for label in layout.ports if label.startswith("witness-")]
    tables: dict[str, Any] = {
        "home": str(paths.home),
        "noncelock": {"port": layout.ports["noncelock"]},
        "bank": {"port": layout.ports["bank"], **spending},
        "auth": {
            "port": layout.ports["auth"], **spending,
            "badge_key_file": str(paths.badge_key),
            "badge_models": engine_model(layout.engine),  # one model set for every user: one badge for all
            "relay_urls": url("relay"),
            "ohttp_key_configs_file": str(paths.ohttp_key_configs),
            "ohttp_key_configs_bundle_file": str(paths.statements / "gateway-keys.sigstore.json"),
        },
        "router": {
            "port": layout.ports["router"], **spending,
            "policy": str(paths.node_policy),
            "health_interval_secs": 1.0,  # graded routable ~3 s after admission (reference: 2 s)
        },
        "gateway": {
            "port": layout.ports["gateway"], "keys_dir": str(paths.gateway_keys_dir),
            "bank_url": url("bank"), "router_url": url("router"),
        },
        "relay": {"port": layout.ports["relay"], "gateway_url": url("gateway") + "/"},
        "log": {"port": layout.ports["log"], "witness_urls": ",".join(witnesses)},
        "witness": {"port": layout.ports["witness-1"], "log_keys": log_key},
        "node": nodes,
        "client": {
            "data_dir": str(paths.client_dir),
            "relay_url": url("relay"),
            "auth_url": url("auth"),
            "bank_url": url("bank"),
            "gateway_keys": str(paths.pinned_gateway_keys),
            "node_policy": str(paths.node_policy),
            "api_key_file": str(paths.api_key),
            "currency_key": str(paths.currency_jwk),
            "model": engine_model(layout.engine),
            **transparency,
        },
    }
    if layout.replication is not None:
        for role in SHARED_DATABASE_ROLES:
            tables[role]["database"] = layout.replication.database
        tables[config.STACK] = layout.replication.table()
    return tables


def _config_header(layout: Layout) -> str:
    lines = [
        "# Written by `openpcc up` on its first run; later runs read it (edit freely, or delete it to start over).",
        "# Development stack: every role on loopback, nodes on a software TPM, the dev attestation policy.",
    ]
    if layout.software_request_key:
        lines.append("# DANGER: swtpm was not installed: the nodes keep their request key in software.")
    return "\n".join(lines) + "\n"


def merge_tables(tables: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``tables`` with ``overrides`` applied key by key (nested mappings merge, e.g. ``node.a.advertise_url``)."""
    merged = dict(tables)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_tables(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def write_first_run_files(
    paths: Paths,
    layout: Layout,
    *,
    currency_key_pem: bytes | None = None,
    echo_delay: float = 0.0,
    overrides: Mapping[str, Any] | None = None,
) -> None:
    """Config, currency key, log and witness keys, first gateway key, node policy, funded API key."""
    from openpcc import blindrsa
    from openpcc.services.log import load_or_create_signer

    config.ensure_private_dir(paths.home)
    if not paths.currency_key.exists():
        pem = currency_key_pem or blindrsa.SecretKey.generate(2048).to_pem().encode()
        config.write_key_file(paths.currency_key, pem)
    from openpcc.services.auth import ensure_badge_key

    ensure_badge_key(paths.badge_key)
    from openpcc.transparency.note import COSIGNATURE_V1
    from openpcc.transparency.stack import (
        client_settings,
        currency_jwk_from_key_file,
        load_or_create_profile,
    )

    log_key = config.ensure_private_dir(paths.log_dir()) / "log.key"
    log_signer = load_or_create_signer(log_key, "openpcc.localhost/log", 0x01)
    witness_vkeys = []
    for i in range(1, WITNESSES + 1):
        witness_key = config.ensure_private_dir(paths.witness_dir(i)) / "witness.key"
        load_or_create_signer(witness_key, witness_key_name(i), COSIGNATURE_V1)
        witness_vkeys.append(witness_key.with_suffix(".vkey"))
    config.ensure_private_dir(paths.signing_profile.parent)
    load_or_create_profile(paths.signing_profile, datetime.now(UTC))
    transparency = client_settings(
        paths.signing_profile, layout.url("log"), log_key.with_suffix(".vkey"), witness_vkeys
    )
    config.ensure_private_dir(paths.client_dir)
    paths.currency_jwk.write_bytes(currency_jwk_from_key_file(paths.currency_key))
    tables = stack_tables(
        paths, layout, log_key=log_signer.verifier.encode(), transparency=transparency, echo_delay=echo_delay
    )
    tables = merge_tables(tables, overrides or {})
    write_node_policy(paths, layout.software_request_key)
    paths.config.write_text(to_toml(tables, _config_header(layout)))
    os.chmod(paths.config, 0o600)
    refresh_gateway_keys(paths)
    fund_api_key(paths)


def write_node_policy(paths: Paths, software_request_key: bool) -> None:
    config.ensure_private_dir(paths.client_dir)
    text = DEV_POLICY + (SOFTWARE_KEY_POLICY if software_request_key else "")
    paths.node_policy.write_text(text)


def fund_api_key(paths: Paths) -> None:
    """Creates the local client's API key at the auth bank's store (once) and keeps it 0600."""
    from openpcc.services.auth import add_api_key
    from openpcc.services.store import open_bank_store

    if paths.api_key.exists():
        return
    cfg = config.load(paths.config, env={config.HOME_ENV: str(paths.home)}).role("auth")
    config.ensure_private_dir(cfg.data_dir)
    store = open_bank_store(cfg.database)
    try:
        key = add_api_key(store, DEV_API_KEY_BALANCE, "openpcc up: local client")
    finally:
        store.close()
    config.write_key_file(paths.api_key, key.encode() + b"\n")


def refresh_gateway_keys(paths: Paths) -> bytes:
    """Writes the gateway key that is due (as the gateway's own rotation would) and pins the live ones."""
    from openpcc.services import gateway

    cfg = config.load(paths.config, env={config.HOME_ENV: str(paths.home)}).role("gateway")
    config.ensure_private_dir(paths.gateway_keys_dir.parent)
    config.ensure_private_dir(paths.gateway_keys_dir)
    gateway.rotate(
        paths.gateway_keys_dir, int(cfg["kem"]), int(cfg["key_lifetime_secs"]), int(cfg["key_overlap_secs"])
    )
    return pin_gateway_keys(paths)


def pin_gateway_keys(paths: Paths) -> bytes:
    """Writes the client's pinned gateway keys (``{"key_configs": b64, "rotation_periods": [...]}``) and
    the auth bank's ``application/ohttp-keys`` file from the gateway's live key files (the same content
    the gateway-keys statement signs); returns the key configs."""
    from openpcc.exceptions import StatementError
    from openpcc.transparency.stack import gateway_key_material

    try:
        encoded, periods = gateway_key_material(paths.gateway_keys_dir, int(time.time()))
    except StatementError as exc:
        raise SupervisorError(f"cannot pin the gateway keys: {exc}") from None
    pinned = {"key_configs": base64.b64encode(encoded).decode(), "rotation_periods": json.loads(periods)}
    config.ensure_private_dir(paths.client_dir)
    _replace(paths.pinned_gateway_keys, (json.dumps(pinned, indent=2) + "\n").encode())
    _replace(paths.ohttp_key_configs, encoded)
    return encoded


def _replace(path: Path, data: bytes) -> None:
    """Writes ``path`` whole or not at all (a client or the auth bank may be reading it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def layout_of(paths: Paths) -> Layout:
    """The layout an existing ``openpcc.toml`` describes."""
    loaded = config.load(paths.config, env={config.HOME_ENV: str(paths.home)})
    ports = {role: loaded.role(role).port for role in ("auth", "relay", "gateway", "bank", "noncelock", "router", "log")}
    witness = loaded.role("witness").port
    for i in range(WITNESSES):
        ports[f"witness-{i + 1}"] = witness + i
    names = loaded.node_names()
    engine = "llama"
    software = False
    for name in names:
        node = loaded.role("node", name)
        ports[f"node-{name}"] = node.port
        engine = str(node["engine"])
        software = software or bool(node["danger_software_request_key"])
    return Layout(ports, engine, software, replication_of(paths.home, ports, loaded.stack().values))


def check_replication_unchanged(
    path: Path, replication: Replication | None, replicas: int | None, database: str | None
) -> None:
    """A later run must ask for what the file describes: replicas move the stores to PostgreSQL."""
    have = replication.replicas if replication is not None else 1
    if replicas is not None and replicas != have:
        raise SupervisorError(
            f"{path} describes {have} replica(s), not {replicas}: edit its [stack] table (with replicas the "
            "router, bank and noncelock need a PostgreSQL `database`), or use another home"
        )
    if database is not None and (replication is None or replication.database != database):
        raise SupervisorError(f"{path} names another database: edit its [stack] and role tables, or use another home")


def check_shared_database(paths: Paths) -> None:
    """With replicas, every role that keeps shared state must be on PostgreSQL."""
    loaded = config.load(paths.config, env={config.HOME_ENV: str(paths.home)})
    local = [r for r in SHARED_DATABASE_ROLES
             if not str(loaded.role(r)["database"]).startswith(("postgresql://", "postgres://"))]
    if local:
        raise SupervisorError(
            f"replicas share state through PostgreSQL, but {', '.join(local)} in {paths.config} keep theirs "
            "locally: set their `database` to the [stack] database URL"
        )


# --- running processes -------------------------------------------------------------------


class _Sink:
    """Writes each role's lines, prefixed with its name, to one stream (one line at a time)."""

    def __init__(self, stream: IO[str] | None, width: int) -> None:
        self.stream = stream
        self.width = width
        self.lock = threading.Lock()

    def line(self, label: str, text: str) -> None:
        if self.stream is None:
            return
        with self.lock:
            self.stream.write(f"{label:<{self.width}} | {text}\n")
            self.stream.flush()


class _Child:
    """One role's process (replaced on restart), its recent output and its restart bookkeeping."""

    def __init__(self, spec: RoleSpec, config_path: Path, env: Mapping[str, str], sink: _Sink) -> None:
        self.spec = spec
        self.config_path = config_path
        self.env = env
        self.sink = sink
        self.proc: subprocess.Popen[bytes] | None = None
        self.tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.started_at = 0.0
        self.quick_failures = 0
        self.restarts = 0
        self.restart_at: float | None = None
        self.gave_up = False
        self.expected_exit = False

    def launch(self) -> None:
        self.expected_exit = False
        self.proc = subprocess.Popen(
            self.spec.argv(self.config_path),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**self.env, **self.spec.env}, start_new_session=True,
        )
        self.started_at = time.monotonic()
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True, name=f"log-{self.spec.label}").start()

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode(errors="replace").rstrip("\n")
            self.tail.append(text)
            self.sink.line(self.spec.label, text)
        proc.stdout.close()

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise SupervisorError(f"{self.spec.label} is not running")
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM by PID, SIGKILL if it outlives ``timeout``, then its process group (swtpm, ...)."""
        proc = self.proc
        if proc is None:
            return
        self.expected_exit = True
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        self.reap_group()

    def reap_group(self) -> None:
        """Kills what the role left behind in its process group (a node's swtpm after a crash)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def last_lines(self, count: int = 12) -> str:
        return "\n".join(list(self.tail)[-count:])


def check_ports_free(ports: Mapping[str, int]) -> None:
    """Raises PortInUseError naming every role whose port another process holds."""
    taken = []
    for label, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                taken.append(f"{label} ({port})")
    if taken:
        raise PortInUseError(
            f"ports in use by another process: {', '.join(taken)}; stop it (another `openpcc up`?) "
            "or pick other ports with --base-port N"
        )


def health(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """``(ready, why not)`` from ``<url>/healthz``."""
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=timeout) as resp:
            return resp.status == 200, ""
    except urllib.error.HTTPError as exc:
        return False, exc.read(512).decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return False, type(exc).__name__


def _require_embedded_model() -> None:
    from openpcc.services.engines.llama import INSTALL_HINT, missing_prerequisite

    absent = missing_prerequisite()
    if absent is not None:
        raise SupervisorError(
            f"the embedded model is not installed ({absent}): {INSTALL_HINT}, or start the nodes on the echo "
            "engine (--engine echo)"
        )


def _model_file(engine: str) -> Path | None:
    """The embedded model's GGUF (its SHA-256 goes into the node image statement), when that engine runs."""
    if engine != "llama":
        return None
    from openpcc.exceptions import EngineUnavailableError
    from openpcc.services.engines.llama import shipped_model_path

    try:
        return shipped_model_path()
    except EngineUnavailableError:
        return None


def _router_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openpcc.services.router") is not None


class Stack:
    """A local openpcc stack: every role its own process, started, watched and stopped by PID.

    ``with Stack(home) as stack:`` starts it and stops it at the end. ``config_path`` is the
    ``openpcc.toml`` it wrote; its ``[client]`` table is what ``openpcc.Client(config_path)`` needs.
    """

    def __init__(
        self,
        home: Path | str,
        *,
        base_port: int | None = None,
        nodes: int = 2,
        engine: str = "llama",
        replicas: int | None = None,
        echo_for_tests: bool = False,
        echo_token_delay: float = 0.0,
        log_stream: IO[str] | None = None,
        currency_key_pem: bytes | None = None,
        allow_software_request_key: bool = True,
        database: str | None = None,
        postgres_dir: Path | str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """``overrides`` (first run only) replaces settings of the written tables, e.g.
        ``{"relay": {"gateway_url": ...}}``; ``echo_token_delay`` slows the echo engine (tests).
        ``replicas``: gateways and routers behind HAProxy (``None``: what the file says, else 1), the
        router, bank and noncelock then on ``database`` (a PostgreSQL URL), or on a server the stack runs
        under ``postgres_dir`` (default ``<home>/postgres``). Both are fixed on the first run."""
        if replicas is not None and not 1 <= replicas <= config.MAX_REPLICAS:
            raise UsageError(f"replicas must be 1..{config.MAX_REPLICAS}")
        if database is not None and not database.startswith(("postgresql://", "postgres://")):
            raise UsageError("database must be a postgresql:// URL")
        if not 1 <= nodes <= MAX_NODES:
            raise UsageError(f"nodes must be 1..{MAX_NODES}")
        if echo_for_tests:
            engine = "echo"
        self.paths = Paths(Path(home).expanduser().absolute())
        self.config_path = self.paths.config
        self.first_run = not self.config_path.exists()
        if self.first_run:
            if engine == "llama":
                _require_embedded_model()
            software = not swtpm_available()
            if software and not allow_software_request_key:
                raise SupervisorError("swtpm is not installed (scripts/install-swtpm.sh installs it)")
            ports = role_ports(base_port, nodes)
            wanted_stack = {s.key: s.default for s in config.STACK_SETTINGS} | {
                "replicas": replicas or 1, "database": database or "", "postgres_dir": str(postgres_dir or ""),
            }
            layout = Layout(ports, engine, software, replication_of(self.paths.home, ports, wanted_stack, base_port))
            write_first_run_files(
                self.paths, layout, currency_key_pem=currency_key_pem, echo_delay=echo_token_delay,
                overrides=overrides,
            )
        else:
            layout = layout_of(self.paths)
            wanted = role_ports(base_port, len(layout.node_names)) if base_port is not None else None
            if wanted is not None and wanted != dict(layout.ports):
                raise SupervisorError(
                    f"{self.config_path} describes ports from {min(layout.ports.values())}, not --base-port "
                    f"{base_port}; use another home (--home / OPENPCC_HOME) or delete the file"
                )
            check_replication_unchanged(self.config_path, layout.replication, replicas, database)
        if layout.engine == "llama" and not self.first_run:
            _require_embedded_model()
        self.layout = layout
        self.replication = layout.replication
        if self.replication is not None:
            check_shared_database(self.paths)
        self._postgres: pgserver.LocalPostgres | None = None
        self._balancer: HAProxy | None = None
        self.router_missing = not _router_available()
        width = max(len(label) for label in layout.ports)
        self._sink = _Sink(log_stream, width)
        env = {k: v for k, v in os.environ.items() if not k.startswith(config.ENV_PREFIX)}
        env[config.HOME_ENV] = str(self.paths.home)
        env["PYTHONUNBUFFERED"] = "1"
        self._children: dict[str, _Child] = {
            spec.label: _Child(spec, self.config_path, env, self._sink) for spec in self._specs()
        }
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self.started_in: float | None = None
        self.published: dict[str, int] = {}
        self.phases: dict[str, float] = {}  # seconds each start phase took

    # --- layout -----------------------------------------------------------------------

    def _specs(self) -> Iterator[RoleSpec]:
        for label, port in self.layout.ports.items():
            role, _, name = label.partition("-")
            if role == "router" and self.router_missing:
                continue
            if self.replication is not None and role in REPLICATED_ROLES:
                yield from self._replica_specs(role)
                continue
            if role == "witness":
                index = int(name)
                yield RoleSpec(role, name, port, {
                    "OPENPCC_WITNESS_PORT": str(port),
                    "OPENPCC_WITNESS_DATA_DIR": str(self.paths.witness_dir(index)),
                    "OPENPCC_WITNESS_NAME": witness_key_name(index),
                })
                continue
            yield RoleSpec(role, name or None, port)

    def _replica_specs(self, role: str) -> Iterator[RoleSpec]:
        """Replica ``i`` of ``role``: the role's table with its own port (and, past the first gateway,
        no key writing: one replica rotates the shared key files, the others read them)."""
        assert self.replication is not None
        prefix = f"{config.ENV_PREFIX}{role.upper()}_"
        for i, port in enumerate(self.replication.replica_ports(role), start=1):
            env = {prefix + "PORT": str(port)}
            if role == "gateway" and i > 1:
                env[prefix + "MANAGE_KEYS"] = "false"
            yield RoleSpec(role, str(i), port, env)

    def _replicated(self, role: str) -> bool:
        return self.replication is not None and role in REPLICATED_ROLES

    def _pools(self) -> list[Pool]:
        assert self.replication is not None
        return [
            Pool(role, HOST, self.layout.ports[role], tuple((HOST, p) for p in self.replication.replica_ports(role)))
            for role in REPLICATED_ROLES if not (role == "router" and self.router_missing)
        ]

    def _ports(self) -> dict[str, int]:
        """Every port the stack listens on: the roles', the load balancer's and its PostgreSQL's."""
        ports = {c.spec.label: c.spec.port for c in self._children.values()}
        if self.replication is not None:
            ports |= {f"loadbalancer ({p.name})": p.listen_port for p in self._pools()}
            if self.replication.own_postgres:
                ports["postgres"] = self.replication.postgres_port
        return ports

    @property
    def labels(self) -> list[str]:
        return list(self._children)

    def _child(self, role: str, name: str | None) -> _Child:
        label = role if name is None else f"{role}-{name}"
        if label not in self._children:
            raise UsageError(f"no role {label!r} in this stack; roles: {', '.join(self._children)}")
        return self._children[label]

    def url(self, role: str, name: str | None = None) -> str:
        """The role's URL; for a replicated role without ``name``, the load balancer in front of it."""
        if name is None and self._replicated(role):
            return self.layout.url(role)
        return self._child(role, name).spec.url

    def pid(self, role: str, name: str | None = None) -> int:
        """A role's PID, or with replicas the ``loadbalancer``'s (HAProxy) and ``postgres``'s."""
        if role == "loadbalancer" and self._balancer is not None:
            return self._balancer.pid
        if role == "postgres" and self._postgres is not None and self._postgres.pid:
            return self._postgres.pid
        if name is None and self._replicated(role):
            assert self.replication is not None
            raise UsageError(f"{role} runs as replicas 1..{self.replication.replicas}: name one")
        return self._child(role, name).pid

    def pids(self) -> dict[str, int]:
        """Every running role's PID."""
        return {label: c.pid for label, c in self._children.items() if c.proc is not None}

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> None:
        """Starts every role and waits for each ``/healthz``; on failure stops what it started."""
        begun = time.monotonic()
        check_ports_free(self._ports())
        refresh_gateway_keys(self.paths)
        mark = time.monotonic()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            self.phases[name] = now - mark
            mark = now

        try:
            if self.replication is not None:
                self._start_shared(begun + timeout)
                phase("PostgreSQL and HAProxy started")
            for index, tier in enumerate(START_TIERS):
                group = [c for c in self._children.values() if c.spec.role in tier]
                for child in group:
                    child.launch()
                self._wait_healthy(group, begun + timeout)
                phase(("" if index == 0 else "then ") + "+".join(sorted(tier)) + " healthy")
                if index == 0:
                    self.publish()
                    phase("statements signed and logged")
            if not self.router_missing:
                self._wait_routable(begun + timeout)
                phase("nodes admitted and graded by the router")
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - begun
        self._monitor = threading.Thread(target=self._watch, daemon=True, name="openpcc-supervisor")
        self._monitor.start()

    def _start_shared(self, deadline: float) -> None:
        """With replicas: the PostgreSQL server (unless given a URL), then HAProxy before the replicas."""
        if self.replication is None:
            return
        if self.replication.own_postgres:
            self._postgres = self.replication.postgres()
            self._postgres.start(timeout=max(5.0, deadline - time.monotonic()))
            self._sink.line("postgres", f"pid {self._postgres.pid} on {HOST}:{self.replication.postgres_port}")
        self._balancer = HAProxy(self._pools(), self.paths.home / "loadbalancer")
        self._balancer.start(timeout=max(5.0, deadline - time.monotonic()))
        self._sink.line("loadbalancer", f"HAProxy pid {self._balancer.pid}, {self._balancer.config_path}")

    def _stop_shared(self) -> None:
        if self._balancer is not None:
            self._balancer.stop()
            self._balancer = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None

    def _wait_healthy(self, group: list[_Child], deadline: float) -> None:
        waiting = {c.spec.label: c for c in group}
        why: dict[str, str] = {}
        while waiting:
            self._check_interrupted()
            for label, child in list(waiting.items()):
                if not child.running():
                    code = child.proc.returncode if child.proc is not None else None
                    raise RoleStartError(
                        f"{label} exited with status {code} while starting:\n{child.last_lines()}"
                    )
                ready, why[label] = health(child.spec.url)
                if ready:
                    del waiting[label]
            if not waiting:
                return
            if time.monotonic() > deadline:
                detail = "; ".join(f"{label}: {why.get(label) or 'no answer'}" for label in waiting)
                raise RoleStartError(f"not healthy in time: {detail}")
            time.sleep(0.1)

    def interrupt(self) -> None:
        """Makes a :meth:`start` under way give up (signal handlers call it); :meth:`stop` still stops."""
        self._stopping.set()

    def _check_interrupted(self) -> None:
        if self._stopping.is_set():
            raise SupervisorError("interrupted while starting")

    def routable_nodes(self, name: str | None = None) -> int:
        """How many nodes the router would route to now (its ``openpcc_router_routable_nodes`` gauge);
        with replicas, router ``name`` (default: the one the load balancer picks)."""
        try:
            with urllib.request.urlopen(self.url("router", name) + "/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError):
            return 0
        for line in text.splitlines():
            if line.startswith("openpcc_router_routable_nodes "):
                return int(float(line.split()[1]))
        return 0

    def _wait_routable(self, deadline: float) -> None:
        """Waits until the router (every replica) admitted (attested) and graded every node."""
        wanted = len(self.layout.node_names)
        names: list[str | None] = [None]
        if self.replication is not None:
            names = [str(i) for i in range(1, self.replication.replicas + 1)]
        for name in names:
            while self.routable_nodes(name) < wanted:
                self._check_interrupted()
                if time.monotonic() > deadline:
                    child = self._child("router", name)
                    raise RoleStartError(
                        f"{child.spec.label} routes to {self.routable_nodes(name)} of {wanted} nodes; its log:\n"
                        + child.last_lines()
                    )
                time.sleep(0.2)

    def wait_healthy(self, role: str, name: str | None = None, timeout: float = 60.0) -> None:
        """Waits until the role's current process answers ``/healthz`` with 200."""
        child = self._child(role, name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.running() and health(child.spec.url)[0]:
                return
            time.sleep(0.1)
        raise RoleStartError(f"{child.spec.label} not healthy within {timeout:.0f}s:\n{child.last_lines()}")

    def restart(self, role: str, name: str | None = None, timeout: float = 60.0) -> None:
        """Stops the role's process by PID, starts a new one and waits for its ``/healthz``."""
        child = self._child(role, name)
        with self._lock:
            child.terminate()
            child.restart_at = None
            child.launch()
        self.wait_healthy(role, name, timeout)

    def publish(self) -> dict[str, Any]:
        """Signs the gateway keys, the currency key and the node image with the local profile into the
        log (unchanged statements are only confirmed) and re-pins the gateway keys of the profile."""
        from openpcc.transparency.stack import (
            StackPublisher,
            StackStatements,
            load_or_create_profile,
            publish_stack,
        )

        now = datetime.now(UTC)
        profile = load_or_create_profile(self.paths.signing_profile, now)
        publisher = StackPublisher(profile, self.layout.url("log"), self.paths.statements)
        what = StackStatements(
            gateway_keys_dir=self.paths.gateway_keys_dir,
            currency_key_file=self.paths.currency_key,
            node_policy_file=self.paths.node_policy,
            model=engine_model(self.layout.engine),
            engine=self.layout.engine,
            model_file=_model_file(self.layout.engine),
        )
        done = publish_stack(publisher, what, now)
        pin_gateway_keys(self.paths)
        self.published = {kind: p.index for kind, p in done.items()}
        return done

    def _watch(self) -> None:
        """Restarts roles that exit, after a backoff that doubles up to BACKOFF_MAX_S; republishes the
        gateway keys when they rotate."""
        from openpcc.exceptions import TransparencyError

        next_publish = time.monotonic() + REPUBLISH_EVERY_S
        while not self._stopping.wait(0.2):
            with self._lock:
                for child in self._children.values():
                    if self._stopping.is_set():
                        return
                    self._supervise(child)
                self._supervise_balancer()
            if time.monotonic() >= next_publish:
                next_publish = time.monotonic() + REPUBLISH_EVERY_S
                try:
                    self.publish()
                except (TransparencyError, SupervisorError, OSError) as exc:
                    self._sink.line("openpcc", f"publishing the statements failed: {type(exc).__name__}: {exc}")

    def _supervise_balancer(self) -> None:
        """Starts HAProxy again if it exited (it holds no state: the same configuration, new PID)."""
        balancer = self._balancer
        if balancer is None or self._stopping.is_set() or balancer.running():
            return
        self._sink.line("loadbalancer", "HAProxy exited; starting it again")
        try:
            balancer.start()
        except LoadBalancerError as exc:
            self._sink.line("loadbalancer", f"HAProxy did not start again: {exc}")

    def _supervise(self, child: _Child) -> None:
        now = time.monotonic()
        if child.gave_up or child.proc is None or child.expected_exit:
            return
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                child.restarts += 1
                child.launch()
            return
        code = child.proc.poll()
        if code is None:
            if now - child.started_at > STABLE_AFTER_S:
                child.quick_failures = 0
            return
        child.reap_group()
        child.quick_failures += 1
        label = child.spec.label
        if child.quick_failures > MAX_QUICK_FAILURES:
            child.gave_up = True
            self._sink.line("openpcc", f"{label} exited {MAX_QUICK_FAILURES} times in a row; not restarting it")
            return
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (child.quick_failures - 1))
        child.restart_at = now + delay
        self._sink.line("openpcc", f"{label} exited with status {code}; restarting in {delay:.1f}s")

    def stop(self) -> None:
        """Stops every role by PID, nodes first; each tier's processes stop together."""
        self._stopping.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=5)
        with self._lock:
            for tier in STOP_TIERS:
                group = [c for c in self._children.values() if c.spec.role in tier]
                threads = [threading.Thread(target=c.terminate) for c in group]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            self._stop_shared()

    # --- reporting --------------------------------------------------------------------

    def summary(self, *, how_to_chat: bool = True) -> str:
        """What runs where, the dev trust settings in force and how to chat (``openpcc up`` prints it)."""
        lines = ["openpcc stack:"]
        for label, child in self._children.items():
            pid = child.proc.pid if child.proc is not None else "-"
            lines.append(f"  {label:<10} {child.spec.url:<24} pid {pid}")
        if self.router_missing:
            lines.append("  router     NOT STARTED: this build has no `openpcc router` yet")
        if self.replication is not None:
            for pool in self._pools():
                front = f"http://{HOST}:{pool.listen_port}"
                lines.append(f"  {pool.name:<10} {front:<24} HAProxy in front of {pool.name}-1..{len(pool.replicas)}")
            where = (f"run by the stack on {HOST}:{self.replication.postgres_port} "
                     f"({self.replication.postgres_dir})" if self.replication.own_postgres else "given by URL")
            lines.append(f"  database   PostgreSQL for {', '.join(SHARED_DATABASE_ROLES)}: {where}")
        tpm = (
            "SOFTWARE request key (danger_software_request_key: swtpm is not installed)"
            if self.layout.software_request_key else "one swtpm (software TPM) per node"
        )
        lines += [
            "",
            "Trust settings in force (DEVELOPMENT ONLY):",
            f"  nodes:        {tpm}, engine {self.layout.engine}",
            f"  node policy:  {self.paths.node_policy} (dev: accepts a software TPM, no TEE; it proves",
            "                nothing about the hardware: never send real prompts to this stack)",
            f"  gateway keys: pinned in {self.paths.pinned_gateway_keys}",
            (f"  transparency: gateway keys, currency key, node image signed by the LOCAL profile "
            f"{self.paths.signing_profile}"),
            (f"                (a development trust root) into the log {self.layout.url('log')}, "
            f"cosigned by {WITNESSES} witnesses (entries {sorted(self.published.values())})"),
            f"  API key:      {self.paths.api_key} (funded with {DEV_API_KEY_BALANCE} at the local auth bank)",
            f"  config:       {self.config_path} ([client] is the client profile)",
        ]
        if how_to_chat:
            lines += ["", "Chat:  openpcc chat \"Hello\"      (or: openpcc.Client() in Python)"]
        if self.started_in is not None:
            lines.append(f"Ready in {self.started_in:.1f}s." + (" Ctrl-C stops every role." if how_to_chat else ""))
            lines.append("  (" + ", ".join(f"{name} {took:.1f}s" for name, took in self.phases.items()) + ")")
        return "\n".join(lines)


def read_config_tables(path: Path) -> dict[str, Any]:
    """The raw tables of a stack's ``openpcc.toml``."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


# --- openpcc up ----------------------------------------------------------------------------


def main_up(
    home: Path | None, base_port: int | None, nodes: int, engine: str, stream: IO[str] = sys.stdout,
    *, replicas: int | None = None, database: str | None = None,
) -> int:
    """``openpcc up``: start the stack, print the summary, run until SIGINT/SIGTERM, stop it."""
    stop = threading.Event()
    stacks: list[Stack] = []

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        for stack in stacks:
            stack.interrupt()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack = Stack(home or config.default_home(), base_port=base_port, nodes=nodes, engine=engine, log_stream=stream,
                      replicas=replicas, database=database)
        stacks.append(stack)
        if stack.first_run:
            print(f"openpcc up: first run, wrote {stack.config_path} and keys under {stack.paths.home}", file=stream)
        try:
            stack.start()
            print(stack.summary(), file=stream, flush=True)
            while not stop.wait(0.5):  # a bounded wait keeps the main thread responsive to signals
                pass
            print("openpcc up: stopping every role", file=stream, flush=True)
        finally:
            stack.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


__all__ = [
    "Layout", "Paths", "Replication", "RoleSpec", "Stack", "check_ports_free", "main_up",
    "pin_gateway_keys", "role_ports", "stack_tables", "to_toml",
]
