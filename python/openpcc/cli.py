"""The ``openpcc`` command line.

``openpcc up`` runs a whole local stack until Ctrl-C; ``openpcc demo`` starts one, sends a private chat
completion through it and shows what each hop saw. ``openpcc chat ["prompt"]`` talks to a model privately through the
client profile (``openpcc.chat``). ``openpcc proxy`` serves a local OpenAI-compatible API over the private
path (``openpcc.proxy``). ``openpcc relay|gateway --config FILE`` run the OHTTP relay and gateway roles until SIGTERM/SIGINT.
``openpcc router`` serves the router, ``openpcc noncelock`` serves nonce locking, ``openpcc bank`` the blind bank, ``openpcc auth`` the auth bank
(``openpcc auth keys add --balance N`` prints a new API key). ``openpcc verify <kind> ...`` verifies attestation
evidence and exits 0 when valid, 1 when invalid, 2 when an input cannot be read (missing file,
bad hex, bad instant, or bytes that are not the format at all). ``openpcc transparency ...``
verifies signed statements and keeps or watches a transparency log (same exit codes).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpcc.attestation.policy import TDX_TCB_STATUSES

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2


class UnreadableInput(Exception):
    """An input file or option value could not be read."""


def _run_demo(args: argparse.Namespace) -> int:
    from openpcc.services.demo import main as demo_main

    return demo_main(args)


# --- argument helpers -------------------------------------------------------


def _required(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableInput(f"cannot read {path}: {exc.strerror or exc}") from None


def _read(path: str | None) -> bytes | None:
    return None if path is None else _required(path)


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UnreadableInput(f"--at is not an ISO-8601 instant: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _hex(text: str | None, option: str) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise UnreadableInput(f"{option} is not hex") from None


def _pcr_file(path: str | None) -> tuple[str, dict[int, bytes] | None]:
    """``(bank, {index: value})`` from ``{"bank": "sha256", "pcrs": {...}}`` (or a bare index map)."""
    from openpcc.attestation import tpm

    if path is None:
        return "sha256", None
    try:
        raw = json.loads(_required(path))
    except ValueError:
        raise UnreadableInput(f"{path}: not a PCR file (not JSON)") from None
    if isinstance(raw, dict) and "pcrs" not in raw:
        raw = {"pcrs": raw}
    if not isinstance(raw, dict):
        raise UnreadableInput(f"{path}: not a PCR file (expected a JSON object)")
    return tpm.parse_pcrs(raw)


# --- verify subcommands -----------------------------------------------------


def _verify_sev_snp(a: argparse.Namespace) -> Any:
    from openpcc.attestation import sevsnp

    return sevsnp.verify_report(
        _required(a.report), vcek=_read(a.vcek), chain=_read(a.chain), crl=_read(a.crl),
        at=_instant(a.at), roots=_read(a.roots),
    )


#: Intel TCB statuses a relying party may choose to accept besides UpToDate (never Revoked).
TDX_ACCEPTABLE_STATUSES = tuple(status for status in TDX_TCB_STATUSES if status != "UpToDate")


def _verify_tdx(a: argparse.Namespace) -> Any:
    from openpcc.attestation import tdx

    return tdx.verify_quote(
        _required(a.quote), collateral=_required(a.collateral), at=_instant(a.at), root=_read(a.root),
        accept_tcb_status=a.accept_tcb_status or (),
    )


def _verify_tpm_quote(a: argparse.Namespace) -> Any:
    from openpcc.attestation import tpm

    bank, pcrs = _pcr_file(a.pcrs)
    return tpm.verify_quote(
        _required(a.attest), _required(a.signature), _required(a.ak),
        nonce=_hex(a.nonce, "--nonce"), nonce_required=not a.no_nonce, pcrs=pcrs, bank=bank,
        at=_instant(a.at),
    )


def _verify_eventlog(a: argparse.Namespace) -> Any:
    from openpcc.attestation import eventlog

    return eventlog.verify_event_log(_required(a.log))


def _verify_nvidia(a: argparse.Namespace) -> Any:
    from openpcc.attestation import nvidia

    return nvidia.verify_evidence(
        _required(a.evidence), nonce=_hex(a.nonce, "--nonce"), at=_instant(a.at),
        roots=_read(a.roots), chain=_read(a.chain),
    )


def _verify_evidence(a: argparse.Namespace) -> Any:
    from openpcc.attestation import load_policy, verify_evidence

    policy = load_policy(_required(a.policy))
    nonce = _hex(a.nonce, "--nonce")
    return verify_evidence(
        _required(a.bundle), policy, nonce=nonce, at=_instant(a.at), sevsnp_crl=_read(a.sevsnp_crl)
    )


def _report(verdict: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2, sort_keys=True))
    else:
        for check in verdict.checks:
            mark = "ok  " if check.ok else "FAIL"
            print(f"{mark} {check.name}: {check.detail}")
        print("valid" if verdict.valid else "INVALID")
    return EXIT_VALID if verdict.valid else EXIT_INVALID


def _run_verify(args: argparse.Namespace) -> int:
    from openpcc.exceptions import MalformedInputError

    runner: Callable[[argparse.Namespace], Any] = args.verify
    try:
        verdict = runner(args)
    except (UnreadableInput, MalformedInputError) as exc:
        if args.json:
            print(json.dumps({"valid": False, "error": str(exc), "checks": [], "claims": {}}))
        print(f"openpcc verify: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    return _report(verdict, args.json)


def _add_verify(commands: Any) -> None:
    verify = commands.add_parser(
        "verify",
        help="verify attestation evidence",
        description="Verify attestation evidence. Exit 0 valid, 1 invalid, 2 unreadable input.",
    )
    kinds = verify.add_subparsers(dest="kind", required=True, metavar="KIND")

    def kind(name: str, helptext: str, run: Callable[[argparse.Namespace], Any]) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = kinds.add_parser(name, help=helptext, description=helptext)
        p.add_argument("--at", metavar="ISO-8601", help="instant to judge certificates and collateral at (default: now)")
        p.add_argument("--json", action="store_true", help="print valid, checks and claims as JSON")
        p.set_defaults(run=_run_verify, verify=run)
        return p

    p = kind("sev-snp", "an AMD SEV-SNP attestation report (raw, or Azure HCL-wrapped)", _verify_sev_snp)
    p.add_argument("report")
    p.add_argument("--vcek", help="VCEK or VLEK certificate (DER or PEM)")
    p.add_argument("--chain", help="ASK and ARK certificates (PEM); default: the built-in AMD roots")
    p.add_argument("--crl", help="AMD certificate revocation list (DER or PEM)")
    p.add_argument(
        "--roots",
        help="ARK certificates (PEM) to trust instead of the built-in AMD roots; --chain must then hold the ASK",
    )

    p = kind("tdx", "an Intel TDX quote (v4 or v5) with its collateral", _verify_tdx)
    p.add_argument("quote")
    p.add_argument("--collateral", required=True, help="collateral JSON (TCB info, QE identity, CRLs, chains)")
    p.add_argument("--root", help="trust anchor (DER or PEM) instead of the built-in Intel SGX Root CA")
    p.add_argument(
        "--accept-tcb-status", action="append", metavar="STATUS", choices=TDX_ACCEPTABLE_STATUSES,
        help="also accept this Intel TCB status (repeatable): the platform then has a known, unfixed "
        "weakness; default: UpToDate only",
    )

    p = kind("tpm-quote", "a TPM 2.0 quote (TPMS_ATTEST + TPMT_SIGNATURE) under an attestation key", _verify_tpm_quote)
    p.add_argument("--attest", required=True, help="TPMS_ATTEST bytes")
    p.add_argument("--signature", required=True, help="TPMT_SIGNATURE bytes")
    p.add_argument("--ak", required=True, help="AK public area (TPMT_PUBLIC / TPM2B_PUBLIC) or AK certificate")
    p.add_argument("--nonce", metavar="HEX", help="expected qualifying data")
    p.add_argument(
        "--no-nonce", action="store_true",
        help="accept a quote without qualifying data (replayable: only for evidence you collected yourself)",
    )
    p.add_argument("--pcrs", help='JSON {"bank": "sha256", "pcrs": {"0": "hex", ...}} of the quoted PCRs')

    p = kind("eventlog", "a TCG (UEFI) event log: replay every PCR bank", _verify_eventlog)
    p.add_argument("log")

    p = kind("nvidia", "NVIDIA GPU or NVSwitch evidence (SPDM measurements and certificate chain)", _verify_nvidia)
    p.add_argument("evidence")
    p.add_argument("--nonce", metavar="HEX", help="expected SPDM nonce")
    p.add_argument("--roots", help="device root certificate(s) (PEM) instead of the built-in NVIDIA Device Identity CA")
    p.add_argument("--chain", help="the device certificate chain (PEM), for hex evidence that does not carry it")

    p = kind("evidence", "a node's evidence bundle against a policy", _verify_evidence)
    p.add_argument("bundle")
    p.add_argument(
        "--policy", required=True,
        help="policy TOML (policies/production.toml is a template: fill in its <placeholders> first)",
    )
    p.add_argument("--nonce", required=True, metavar="HEX", help="the client's nonce")
    p.add_argument("--sevsnp-crl", help="AMD CRL (DER or PEM) for the SEV-SNP report's ARK")


def _add_noncelock(commands: Any) -> None:
    p = commands.add_parser(
        "noncelock",
        help="serve nonce locking (the reference's credithole API, port 3501)",
        description=(
            "Serve nonce locking: POST /lock, /consume and /release as the reference's credithole, over "
            "SQLite (default) or PostgreSQL. Runs until SIGTERM or Ctrl-C, then finishes in-flight "
            "requests. Exit 2 when the configuration or the store cannot be read."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: every setting's default)")
    p.set_defaults(run=_run_role("noncelock"))


def _add_bank(commands: Any) -> None:
    p = commands.add_parser(
        "bank",
        help="serve the blind bank (the reference's BlindBank API, port 3500)",
        description=(
            "Serve the blind bank: POST /deposit, /withdraw, /exchange, /withdraw-full and /balance as the "
            "reference's, with pseudonymous accounts over SQLite (default) or PostgreSQL. Needs the currency "
            "signing key (currency_key_file). Runs until SIGTERM or Ctrl-C, then finishes in-flight requests. "
            "Exit 2 when the configuration, the key or the store cannot be read."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: every setting's default)")
    p.set_defaults(run=_run_role("bank"))


def _run_auth(args: argparse.Namespace) -> int:
    from openpcc.exceptions import ConfigError, ServiceError
    from openpcc.services import auth

    try:
        if getattr(args, "keys_command", None) == "add":
            return auth.add_key_command(args)
        return auth.main(args)
    except (ConfigError, ServiceError) as exc:
        print(f"openpcc auth: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE


def _add_auth(commands: Any) -> None:
    p = commands.add_parser(
        "auth",
        help="serve the auth bank (the reference's Auth API, port 3000), or manage its API keys",
        description=(
            "Serve the auth bank: /api/config, /api/auth, /api/attestationRequest and /api/refund as the "
            "reference's, with API-key accounts over SQLite (default) or PostgreSQL. Needs the currency "
            "signing key (currency_key_file). 'openpcc auth keys add --balance N' creates a funded API key "
            "and prints it once. Exit 2 when the configuration, a key or the store cannot be read."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: every setting's default)")
    p.set_defaults(run=_run_auth)
    sub = p.add_subparsers(dest="auth_command", metavar="COMMAND")
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    add = keys.add_parser("add", help="create a funded API key and print it (only its hash is stored)")
    add.add_argument("--balance", type=_non_negative_int, required=True, help="initial balance (currency units)")
    add.add_argument("--label", default="", help="a note for operators (stored in clear)")
    add.add_argument("--config", metavar="FILE", help="TOML configuration (default: every setting's default)")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _run_currency_key(args: argparse.Namespace) -> int:
    from openpcc import blindrsa, config
    from openpcc.credits import public_key_to_jwk
    from openpcc.exceptions import ConfigError

    path = Path(args.out)
    if path.exists():
        print(f"openpcc currency-key: {path} exists; refusing to replace a signing key", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        key = blindrsa.SecretKey.generate(args.bits)
        config.write_key_file(path, key.to_pem().encode())
    except (ConfigError, blindrsa.BlindRSAError, OSError) as exc:
        print(f"openpcc currency-key: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    print(json.dumps(public_key_to_jwk(key.public_key())))
    return 0


def _add_currency_key(commands: Any) -> None:
    p = commands.add_parser(
        "currency-key",
        help="create a currency signing key (safe primes) for the banks and the router",
        description=(
            "Create a currency signing key: RSA with safe primes (needed by partially blind RSA), written "
            "as PKCS#8 PEM to a new file with mode 0600, and print its public key as the reference's JWK. "
            "Point currency_key_file of [bank], [auth] (and the router) at it, or put it at "
            "<data_dir>/currency-key.pem. 2048 bits can take minutes. Exit 2 if the file exists."
        ),
    )
    p.add_argument("--out", required=True, metavar="FILE", help="the new key file (must not exist)")
    p.add_argument("--bits", type=int, default=2048, help="modulus size (default 2048)")
    p.set_defaults(run=_run_currency_key)


def _run_role(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        from openpcc.exceptions import ConfigError, ServiceError, TransparencyError

        try:
            result: int = importlib.import_module(f"openpcc.services.{module}").main(args)
            return result
        except (ConfigError, ServiceError, TransparencyError, OSError) as exc:
            print(f"openpcc {module}: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE

    return run


def _add_transparency_roles(commands: Any) -> None:
    for name, helptext in (
        ("log", "serve the transparency log (C2SP tlog-tiles, checkpoints cosigned by witnesses; port 3900)"),
        ("witness", "serve a witness that cosigns consistent log checkpoints (c2sp.org/tlog-witness; port 3910)"),
    ):
        p = commands.add_parser(name, help=helptext, description=helptext + ". Exit 2 when the configuration or keys cannot be read.")
        p.add_argument("--config", metavar="FILE", help="TOML configuration (default: every setting's default)")
        p.set_defaults(run=_run_role(name))


# --- relay and gateway roles ---------------------------------------------------


def _run_edge_role(args: argparse.Namespace) -> int:
    from openpcc.exceptions import ConfigError, EdgeError

    try:
        if args.command == "relay":
            from openpcc.services import relay

            return relay.main(args.config)
        from openpcc.services import gateway

        return gateway.main(args.config)
    except (ConfigError, EdgeError) as exc:
        print(f"openpcc {args.command}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE


def _add_edge_roles(commands: Any) -> None:
    roles = {
        "relay": "run the OHTTP relay (forwards encapsulated requests to the gateway, hides clients)",
        "gateway": "run the OHTTP gateway (decapsulates, forwards to the bank and the router)",
    }
    for name, helptext in roles.items():
        p = commands.add_parser(name, help=helptext, description=f"{helptext}. Stops gracefully on SIGTERM/SIGINT.")
        p.add_argument("--config", metavar="FILE", help=f"TOML file with a [{name}] table (default: built-in defaults)")
        p.set_defaults(run=_run_edge_role)


def _add_node(commands: Any) -> None:
    p = commands.add_parser(
        "node",
        help="serve a compute node (request key in a TPM, an engine; port 3700 + its index)",
        description=(
            "Serve a compute node: POST / (encrypted compute requests from the router, answered as an "
            "encrypted token stream with the X-Refund-Amount trailer), GET|POST /evidence, GET /info, "
            "/healthz, /_health, /metrics (docs/node.md). The request-encryption key lives in the TPM the "
            "node's `tpm` setting names. Runs until SIGTERM or Ctrl-C. Exit 2 when the configuration "
            "cannot be read."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: every setting's default)")
    p.add_argument(
        "--name", metavar="NAME", help="which [node.<name>] table to serve (optional when there is one)"
    )
    p.set_defaults(run=_run_role("node"))


def _run_up(args: argparse.Namespace) -> int:
    from openpcc.exceptions import ConfigError, ServiceError, UsageError
    from openpcc.services import supervisor

    try:
        home = Path(args.home) if args.home else None
        return supervisor.main_up(home, args.base_port, args.nodes, args.engine,
                                  replicas=args.replicas, database=args.database)
    except (ConfigError, ServiceError, UsageError, OSError) as exc:
        print(f"openpcc up: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE


def _add_up(commands: Any) -> None:
    p = commands.add_parser(
        "up",
        help="run a whole local stack (every role its own process) until Ctrl-C",
        description=(
            "Run a local development stack in the foreground: auth bank, blind bank, nonce locking, relay, "
            "gateway, router, compute nodes (one swtpm each, the embedded SmolLM2 model), the transparency "
            "log and two witnesses, each as `openpcc <role> --config <home>/openpcc.toml`. The first run "
            "writes that file, the keys and the client profile ([client]) that `openpcc chat` and "
            "openpcc.Client() read. Crashed roles are restarted with backoff; Ctrl-C or SIGTERM stops "
            "them all. Exit 2 when a port is taken or a role cannot start (docs/stack.md)."
        ),
    )
    p.add_argument("--home", metavar="DIR", help="data directory (default: $OPENPCC_HOME or the XDG data dir)")
    p.add_argument(
        "--base-port", type=int, metavar="N",
        help="use a block of ports from N instead of the reference's (3000, 3100, ...), e.g. for tests",
    )
    p.add_argument("--nodes", type=int, default=2, help="compute nodes on the first run (default 2)")
    p.add_argument(
        "--engine", choices=("llama", "echo"), default="llama",
        help="what the nodes run on the first run: the embedded model (default) or the echo engine",
    )
    p.add_argument(
        "--replicas", type=int, metavar="N",
        help="on the first run: N gateways and N routers behind HAProxy on their usual ports (replicas on the "
        "ports after them), the router, bank and noncelock on one PostgreSQL ([stack] table; docs/deployment.md)",
    )
    p.add_argument(
        "--database", metavar="URL",
        help="with --replicas: the postgresql:// URL they share (default: a PostgreSQL the stack runs itself)",
    )
    p.set_defaults(run=_run_up)


def _add_router(commands: Any) -> None:
    p = commands.add_parser(
        "router",
        help="serve the router (node admission by evidence, health, manifests, compute proxy; port 3600)",
        description=(
            "Serve the router: POST /node-events (a node is admitted only after its evidence over a fresh "
            "router nonce passes the `policy`), POST /compute-manifests, POST / (the compute request, "
            "streamed to a healthy admitted node; refunds capped at the credit), /healthz, /_health, "
            "/metrics (docs/router.md). Needs the currency signing key (currency_key_file). Runs until "
            "SIGTERM or Ctrl-C. Exit 2 when the configuration, the policy, the key or the store cannot be read."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: every setting's default)")
    p.set_defaults(run=_run_role("router"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openpcc",
        description="openpcc: private cloud compute for AI inference.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="start a local stack, stream one private chat answer, show what each hop saw, stop",
        description=(
            "Start a whole local stack (as `openpcc up`, in a temporary home, on the reference's ports when "
            "free), send one chat completion through relay, gateway and router to a compute node running the "
            "embedded SmolLM2 model, print the answer token by token, then per hop the bytes each role "
            "counted and the HTTP heads that arrived there (never bodies), and stop every role."
        ),
    )
    from openpcc.services.demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    demo.set_defaults(run=_run_demo)
    _add_up(commands)
    _add_verify(commands)
    _add_edge_roles(commands)
    _add_noncelock(commands)
    _add_node(commands)
    _add_router(commands)
    _add_bank(commands)
    _add_auth(commands)
    _add_currency_key(commands)
    _add_transparency_roles(commands)
    from openpcc.chat import add_command as add_chat
    from openpcc.proxy import add_command as add_proxy
    from openpcc.transparency.cli import add_commands as add_transparency

    add_chat(commands)
    add_proxy(commands)

    add_transparency(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result
