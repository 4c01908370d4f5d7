"""The whole stack on loopback, each role its own process stopped by its PID: nonce locking, blind bank, auth
bank (with a funded API key, badges granting `echo`), router, gateway, relay and compute nodes (echo engine,
each with its own swtpm, requiring the auth bank's badges), plus a client profile (``[client]``) pinning the gateway's keys, a node policy and the currency key.

    with client_stack(tmp_path) as stack:
        with openpcc.Client(stack.client_config()) as client:
            ...

A node named in ``off_policy`` gets PCR 7 of its TPM extended before it starts: the router's policy
(``dev.toml`` without the PCR 7 pin) admits it, the client's (``policies/dev.toml``) refuses it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpcc import config

from .currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key
from .prerequisites import missing
from .servers import RoleProcess, free_port, role_process

ROOT = Path(__file__).resolve().parents[2]
DEV_POLICY = ROOT / "policies" / "dev.toml"
API_BALANCE = 10_000_000
READY_TIMEOUT_S = 60.0


def need_stack_prerequisites() -> None:
    import shutil

    if not shutil.which("swtpm"):
        missing("swtpm is not installed (scripts/install-swtpm.sh installs it)")
    import importlib.util

    if importlib.util.find_spec("openpcc.services.router") is None:
        missing("openpcc.services.router (the `router` branch) is not in this tree")


def _toml(table: str, settings: dict[str, Any]) -> str:
    return f"[{table}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())


@dataclass
class ClientStack:
    root: Path
    roles: dict[str, RoleProcess] = field(default_factory=dict)
    api_key_file: Path | None = None
    gateway_keys: Path | None = None
    currency_key: Path | None = None
    node_ids: dict[str, str] = field(default_factory=dict)
    badge_public_key: Path | None = None  # the auth bank's; every node requires badges it signed
    _running: contextlib.ExitStack | None = None
    _starts: dict[str, tuple[str, str, int, tuple[str, ...]]] = field(default_factory=dict)

    def url(self, role: str) -> str:
        return self.roles[role].url

    def client_config(self, name: str = "client", **client: Any) -> Path:
        """A configuration file whose ``[client]`` table reaches this stack (``client`` overrides)."""
        settings: dict[str, Any] = {
            "relay_url": self.url("relay"),
            "gateway_keys": str(self.gateway_keys),
            "node_policy": str(DEV_POLICY),
            "currency_key": str(self.currency_key),
            "auth_url": self.url("auth"),
            "api_key_file": str(self.api_key_file),
            "data_dir": str(self.root / name),
            "use_keyring": False,
            "max_delay": 0.0,
            "credit_amount": 4096,
            "model": "echo",
            "timeout": 60.0,
            **client,
        }
        path = self.root / f"{name}.toml"
        path.write_text(_toml("client", settings))
        return path

    def restart(self, role: str) -> None:
        """Stops ``role`` by its PID and starts it again on the same port with the same settings."""
        assert self._running is not None
        name, text, port, extra = self._starts[role]
        self.roles[role].terminate()
        self.roles[role] = self._running.enter_context(role_process(name, text, self.root / "work", port, extra))

    def metric(self, role: str, name: str) -> float:
        with urllib.request.urlopen(self.url(role) + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def _write_currency_key(data_dir: Path) -> None:
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())


def _add_api_key(root: Path, auth_config: Path) -> Path:
    added = subprocess.run(
        [sys.executable, "-m", "openpcc", "auth", "keys", "add", "--balance", str(API_BALANCE), "--config", str(auth_config)],
        check=True, capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(root / "home")},
    )
    key_file = root / "secrets" / "api-key"
    config.write_key_file(key_file, added.stdout.strip())
    return key_file


def _pin_gateway_keys(gateway_url: str, path: Path) -> Path:
    """What an operator publishes and a client pins: the gateway's key configs and rotation periods."""
    with urllib.request.urlopen(gateway_url + "/.well-known/ohttp-gateway", timeout=10) as resp:
        configs = resp.read()
    with urllib.request.urlopen(gateway_url + "/key-rotation-periods", timeout=10) as resp:
        periods = json.loads(resp.read())
    path.write_text(json.dumps({"key_configs": base64.b64encode(configs).decode(), "rotation_periods": periods}))
    return path


def _router_policy(root: Path) -> Path:
    """``dev.toml`` without its PCR 7 pin: the router admits a node the client's policy refuses."""
    text = DEV_POLICY.read_text()
    kept = [line for line in text.splitlines() if not line.startswith("7 = ")]
    path = root / "router-policy.toml"
    path.write_text("\n".join(kept) + "\n")
    return path


def _wait_routable(stack: ClientStack, count: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if stack.metric("router", "openpcc_router_routable_nodes") >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the router did not route {count} node(s) within {READY_TIMEOUT_S}s")


@contextlib.contextmanager
def client_stack(
    root: Path, *, nodes: tuple[str, ...] = ("a", "b"), off_policy: tuple[str, ...] = (), echo_token_delay: float = 0.0
) -> Iterator[ClientStack]:
    """Starts every role (see the module doc); stops each by its PID when the block ends."""
    need_stack_prerequisites()
    from openpcc.tpm import SwtpmProcess
    from openpcc.tpm.client import TpmClient

    stack = ClientStack(root)
    with contextlib.ExitStack() as running:
        stack._running = running

        def start(role: str, settings: dict[str, Any], extra: tuple[str, ...] = (), table: str | None = None) -> RoleProcess:
            port = free_port()
            text = _toml(table or role, {"port": port, **settings})
            proc = running.enter_context(role_process(role, text, root / "work", port, extra))
            label = role if table is None else table.replace("node.", "node-")
            stack.roles[label] = proc
            stack._starts[label] = (role, text, port, extra)
            return proc

        noncelock = start("noncelock", {"data_dir": str(root / "noncelock")})
        for role in ("bank", "auth", "router"):
            _write_currency_key(root / role)
        start("bank", {"data_dir": str(root / "bank"), "noncelock_url": noncelock.url})
        auth_port = free_port()
        auth_settings = {
            "port": auth_port, "data_dir": str(root / "auth"), "noncelock_url": noncelock.url, "badge_models": "echo",
        }
        auth_config = root / "auth-keys.toml"
        auth_config.write_text(_toml("auth", auth_settings))
        stack.api_key_file = _add_api_key(root, auth_config)
        stack.roles["auth"] = running.enter_context(
            role_process("auth", _toml("auth", auth_settings), root / "work", auth_port)
        )
        stack.badge_public_key = root / "auth" / "badge-public-key.pem"  # written by the auth bank at its start
        router = start("router", {
            "data_dir": str(root / "router"), "noncelock_url": noncelock.url, "policy": str(_router_policy(root)),
            "health_interval_secs": 0.2, "health_timeout_secs": 2.0, "health_retries": 1, "health_min_checks": 1,
        })
        gateway = start("gateway", {
            "keys_dir": str(root / "gateway-keys"), "router_url": router.url, "bank_url": stack.url("bank"),
        })
        start("relay", {"gateway_url": gateway.url + "/"})
        for name in nodes:
            tpm = running.enter_context(SwtpmProcess())
            if name in off_policy:
                transport = tpm.transport()
                try:
                    TpmClient(transport).pcr_extend(7, hashlib.sha256(b"not the pinned value").digest())
                finally:
                    transport.close()
            proc = start("node", {
                "engine": "echo", "tpm": f"tcp:127.0.0.1:{tpm.port}", "router_url": router.url,
                "heartbeat_interval": 5.0, "echo_token_delay": echo_token_delay, "evidence_quotes_per_second": 50.0,
                "badge_public_key": str(stack.badge_public_key),
            }, ("--name", name), table=f"node.{name}")
            with urllib.request.urlopen(proc.url + "/info", timeout=20) as resp:
                stack.node_ids[name] = json.loads(resp.read())["node_id"]
        _wait_routable(stack, len(nodes))
        time.sleep(1.1)  # the gateway's key became active at its start second; rotation periods start exclusive
        stack.gateway_keys = _pin_gateway_keys(gateway.url, root / "gateway-keys.json")
        stack.currency_key = root / "currency-public.pem"
        stack.currency_key.write_text(load_test_currency_key().public_key().to_pem())
        yield stack
