"""``openpcc transparency ...``: keys, the log directory, bundle verification and the monitor.

Exit codes follow ``openpcc verify``: 0 valid, 1 refused (a bundle or checkpoint that does not
verify, an entry not in the log, a split view), 2 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpcc.exceptions import MalformedInputError, TransparencyError

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
MAX_FETCH_BYTES = 16 << 20


class HTTPFetch:
    """``fetch`` over a log served at ``base_url`` (tlog-tiles paths under it), bounded in size and time."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url, self.timeout = base_url.rstrip("/") + "/", timeout

    def __call__(self, path: str) -> bytes:
        from openpcc.exceptions import LogProofError

        try:
            with urllib.request.urlopen(self.base_url + path, timeout=self.timeout) as response:
                data: bytes = response.read(MAX_FETCH_BYTES + 1)
        except OSError as exc:
            raise LogProofError(f"cannot fetch {path} from the log: {type(exc).__name__}") from exc
        if len(data) > MAX_FETCH_BYTES:
            raise LogProofError(f"log resource {path} is larger than {MAX_FETCH_BYTES} bytes")
        return data


def _fetcher(location: str) -> Any:
    from openpcc.transparency.tlog import DirectoryFetch

    if location.startswith(("http://", "https://")):
        return HTTPFetch(location)
    return DirectoryFetch(location)


def _trust(args: argparse.Namespace) -> Any:
    from openpcc.transparency.note import Verifier
    from openpcc.transparency.tlog import LogTrust

    witnesses = tuple(Verifier.parse(w) for w in args.witness)
    quorum = len(witnesses) if args.quorum is None else args.quorum
    return LogTrust(Verifier.parse(args.log_key), witnesses, quorum)


def _keygen(args: argparse.Namespace) -> int:
    from openpcc.transparency.note import COSIGNATURE_V1, ED25519, Signer

    signer = Signer.generate(args.name, COSIGNATURE_V1 if args.cosigner else ED25519)
    out = Path(args.out)
    out.write_text(signer.encode_private() + "\n")
    out.chmod(0o600)
    print(signer.verifier.encode())
    return EXIT_VALID


def _append(args: argparse.Namespace) -> int:
    from openpcc.transparency.note import Signer
    from openpcc.transparency.tlog import TransparencyLog

    log = TransparencyLog(args.log, Signer.parse(Path(args.key).read_text().strip()))
    for name in args.entries:
        print(f"{log.append(Path(name).read_bytes())}\t{name}")
    signed = log.publish()
    print(f"checkpoint {signed.checkpoint.origin} size {signed.checkpoint.size}")
    return EXIT_VALID


def _describe_log_entry(entry: bytes) -> str | None:
    """A Rekor-style ``dsse`` entry (what the local signing profile logs): signer and payload digest."""
    import base64

    from cryptography import x509

    from openpcc.transparency.policy import certificate_identity

    try:
        body = json.loads(entry)
        spec = body["spec"]
        if body.get("kind") != "dsse":
            return None
        cert = x509.load_pem_x509_certificate(base64.b64decode(spec["signatures"][0]["verifier"]))
        issuer, subject = certificate_identity(cert)
        digest = spec["payloadHash"]["value"]
    except (ValueError, KeyError, IndexError, TypeError, TransparencyError):
        return None
    return f"dsse entry signed by {subject} ({issuer}), statement sha256 {str(digest)[:16]}"


def _describe(entry: bytes) -> str:
    """One line naming a logged statement: predicate type and subjects (signature not checked here)."""
    from openpcc.transparency.bundle import Bundle
    from openpcc.transparency.statements import Statement

    described = _describe_log_entry(entry) if entry[:1] == b"{" else None
    if described is not None:
        return described
    try:
        bundle = Bundle.from_bytes(entry)
        payload = bundle.sigstore._dsse_envelope
        if payload is None:
            return "message-signature bundle"
        statement = Statement.from_json(payload._inner.payload)
    except TransparencyError as exc:
        return f"not a statement bundle ({exc})"
    subjects = ", ".join(f"{s.name}={s.sha256.hex()[:16]}" for s in statement.subjects)
    return f"{statement.predicate_type} {subjects}{_content(statement)}"


def _content(statement: Any) -> str:
    """What a key or image statement claims (as logged; its signature is checked by clients)."""
    import hashlib

    from openpcc.transparency import statements as st
    from openpcc.transparency.rotation import format_rfc3339nano, parse_key_rotation_periods

    try:
        if statement.predicate_type == st.PredicateType.OHTTP_KEYS:
            periods = parse_key_rotation_periods(st.predicate_data(statement, st.ROTATION_PERIODS_FIELD))
            return "; " + ", ".join(
                f"key {p.key_id} {format_rfc3339nano(p.active_from)}..{format_rfc3339nano(p.active_until)}"
                for p in periods
            )
        if statement.predicate_type == st.PredicateType.PUBLIC_KEY:
            jwk = st.predicate_data(statement, st.JWK_FIELD)
            return f"; currency key JWK sha256 {hashlib.sha256(jwk).hexdigest()[:16]}"
        if statement.predicate_type == st.PredicateType.IMAGE_MANIFEST:
            manifest = st.image_manifest(statement)
            custom = manifest.get("custom_data", {})
            return f"; image {manifest['artifact_id']} model {custom.get('model', '?')!s} engine {custom.get('engine', '?')!s}"
    except (TransparencyError, KeyError, TypeError, AttributeError):
        return "; content does not parse"
    return ""


def _monitor(args: argparse.Namespace) -> int:
    from openpcc.transparency.tlog import LogClient

    client = LogClient(_trust(args), _fetcher(args.log), args.state)
    start = client.latest.checkpoint.size if client.latest is not None else 0
    checkpoint = client.update()
    for index, entry in client.entries(start):
        print(f"{index}\t{_describe(entry)}")
    print(
        f"checkpoint {checkpoint.origin} size {checkpoint.size} root {checkpoint.root.hex()}",
        file=sys.stderr,
    )
    return EXIT_VALID


def _verify_bundle(args: argparse.Namespace) -> int:
    from openpcc.transparency.policy import Identity, IdentityPolicy
    from openpcc.transparency.rotation import parse_rfc3339
    from openpcc.transparency.verify import StatementVerifier

    identity = Identity(
        issuer=args.issuer,
        issuer_regex=args.issuer_regex,
        subject=args.subject,
        subject_regex=args.subject_regex,
    )
    verifier = StatementVerifier(args.trusted_root, IdentityPolicy((identity,)))
    bundle = Path(args.bundle).read_bytes()
    signed = verifier.verify_statement(bundle, args.predicate_type)
    result: dict[str, Any] = {
        "predicate_type": signed.statement.predicate_type,
        "issuer": signed.issuer,
        "subject": signed.subject,
        "integrated_time": signed.integrated_time.isoformat() if signed.integrated_time else None,
        "subjects": {s.name: s.sha256.hex() for s in signed.statement.subjects},
    }
    if signed.statement.predicate_type == "https://confident.security/v2/ohttp-keys":
        # The command line is the caller, so it may take the clock; the library never does.
        at: datetime = parse_rfc3339(args.at) if args.at else datetime.now(UTC)
        keys = verifier.ohttp_keys(bundle, at)
        result["active_key_id"] = keys.active_period.key_id
    print(json.dumps(result, indent=2, sort_keys=True))
    return EXIT_VALID


def _profile_init(args: argparse.Namespace) -> int:
    from openpcc.transparency.local import LocalSigstore

    # The command line is the caller: it may take the clock for the profile's start of validity.
    profile = LocalSigstore.generate(args.name, str(Path(args.dir) / "log"), datetime.now(UTC))
    path = profile.save(args.dir)
    print(f"trusted root: {path / 'trusted_root.json'}")
    print(f"log key: {profile.log.signer.verifier.encode()}")
    return EXIT_VALID


def _sign(args: argparse.Namespace) -> int:
    from openpcc.transparency import statements
    from openpcc.transparency.local import LocalSigstore

    profile = LocalSigstore.load(args.profile)
    if args.ohttp_keys:
        if not args.rotation_periods:
            raise MalformedInputError("--ohttp-keys needs --rotation-periods")
        statement = statements.ohttp_keys_statement(
            Path(args.ohttp_keys).read_bytes(), Path(args.rotation_periods).read_bytes()
        )
    elif args.jwk:
        statement = statements.public_key_statement(Path(args.jwk).read_bytes())
    else:
        statement = statements.image_manifest_statement(Path(args.image_manifest).read_bytes())
    bundle = profile.sign_statement(
        statement, identity=args.identity, issuer=args.issuer, at=datetime.now(UTC)
    )
    Path(args.out).write_bytes(bundle)
    print(f"{statement.predicate_type} signed by {args.identity}, log size {profile.log.size}")
    return EXIT_VALID


def _publish_stack(args: argparse.Namespace) -> int:
    import signal
    import threading

    from openpcc.transparency import stack

    # The command line is the caller: it may take the clock.
    profile = stack.load_or_create_profile(args.profile, datetime.now(UTC))
    publisher = stack.StackPublisher(
        profile, args.log_url, args.state_dir or Path(args.profile) / "statements",
        identity=args.identity or stack.LOCAL_IDENTITY, issuer=args.issuer or stack.LOCAL_ISSUER,
    )
    what = stack.StackStatements(
        Path(args.gateway_keys),
        Path(args.currency_key) if args.currency_key else None,
        Path(args.node_policy) if args.node_policy else None,
        args.model, args.engine, Path(args.model_file) if args.model_file else None,
    )
    stop = threading.Event()
    if args.watch:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    while True:
        for kind, done in stack.publish_stack(publisher, what, datetime.now(UTC)).items():
            if done.changed or not args.watch:
                print(f"{kind}\tentry {done.index}\t{done.bundle_path}", flush=True)
        if not args.watch or stop.wait(args.watch):
            return EXIT_VALID


def _check(args: argparse.Namespace) -> int:
    from openpcc import config
    from openpcc.transparency import stack

    path = args.config or config.default_config_path()
    trust = stack.ClientTrust.from_config(config.load(path if Path(path).exists() or args.config else None).client())
    if trust is None:
        print("openpcc transparency: the [client] profile sets no log_url (it uses pinned files)", file=sys.stderr)
        return EXIT_UNREADABLE
    # The command line is the caller: it may take the clock.
    at = datetime.now(UTC)
    verified = stack.TransparencyClient(trust).verify(at)
    image = verified.node_image
    result = {
        "report": verified.report(),
        "gateway_key_id": verified.gateway.active_period.key_id,
        "gateway_key_ids": sorted({p.key_id for p in verified.gateway.rotation_periods}),
        "currency_jwk": json.loads(verified.currency_jwk) if verified.currency_jwk else None,
        "node_image": None if image is None else {
            "artifact_id": image.artifact_id, "model": image.model, "engine": image.engine,
            "model_sha256": image.model_sha256, "tpm_pcrs": {str(k): list(v) for k, v in image.tpm_pcrs.items()},
        },
    }
    print(json.dumps(result, indent=2, sort_keys=True))
    return EXIT_VALID


def _guarded(run: Any) -> Any:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            code: int = run(args)
            return code
        except (OSError, MalformedInputError) as exc:
            print(f"openpcc transparency: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
        except TransparencyError as exc:
            print(f"openpcc transparency: refused: {exc}", file=sys.stderr)
            return EXIT_INVALID

    return wrapper


def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "transparency",
        help="signed statements and the transparency log",
        description="Verify signed statements, keep a tlog-tiles log, and watch it.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sub.add_parser("keygen", help="make an Ed25519 log key (or a witness cosigner key)")
    p.add_argument("name", help="key name, e.g. log.example.org/openpcc")
    p.add_argument("--out", required=True, help="file for the private key (mode 0600)")
    p.add_argument(
        "--cosigner", action="store_true", help="a witness cosignature/v1 key (type 0x04)"
    )
    p.set_defaults(run=_guarded(_keygen))

    p = sub.add_parser(
        "append", help="append entries (statement bundles) to a log directory and publish"
    )
    p.add_argument("--log", required=True, help="the log's tlog-tiles directory")
    p.add_argument("--key", required=True, help="file holding the log's private key")
    p.add_argument("entries", nargs="+", help="files to append")
    p.set_defaults(run=_guarded(_append))

    p = sub.add_parser(
        "monitor", help="print every new entry of a log, after checking its checkpoint"
    )
    p.add_argument("--log", required=True, help="log directory or http(s) URL")
    p.add_argument("--log-key", required=True, help="the log's verifier key (name+id+key)")
    p.add_argument(
        "--witness", action="append", default=[], help="a witness verifier key (repeatable)"
    )
    p.add_argument(
        "--quorum", type=int, default=None, help="witness cosignatures required (default: all)"
    )
    p.add_argument("--state", required=True, help="file keeping the last checkpoint seen")
    p.set_defaults(run=_guarded(_monitor))

    p = sub.add_parser(
        "profile-init", help="make a local signing profile: CA, CT key, log (offline)"
    )
    p.add_argument(
        "--dir", required=True, help="directory for the keys (0600), trusted_root.json and the log"
    )
    p.add_argument(
        "--name", default="openpcc.localhost", help="the profile's name (CA, log origin)"
    )
    p.set_defaults(run=_guarded(_profile_init))

    p = sub.add_parser("sign", help="sign a statement with a local profile and log it")
    p.add_argument("--profile", required=True, help="directory made by profile-init")
    p.add_argument(
        "--identity", required=True, help="signer identity for the certificate (email or URI)"
    )
    p.add_argument("--issuer", required=True, help="OIDC issuer recorded in the certificate")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ohttp-keys", help="application/ohttp-keys file (with --rotation-periods)")
    what.add_argument("--jwk", help="currency public key JWK file")
    what.add_argument("--image-manifest", help="Packer image manifest JSON file")
    p.add_argument("--rotation-periods", help="key rotation periods JSON file")
    p.add_argument("--out", required=True, help="bundle file to write (JSON, v0.3)")
    p.set_defaults(run=_guarded(_sign))

    p = sub.add_parser(
        "publish-stack",
        help="sign the stack's gateway keys, currency key and node image with a local profile and log them",
        description="Sign the gateway's live OHTTP keys (with their rotation periods), the currency key and "
        "the node image manifest with the local profile (made on first use) and append each bundle to the log "
        "role. Unchanged statements are not signed again; with --watch it republishes when the gateway rotates.",
    )
    p.add_argument("--profile", required=True, help="local signing profile directory (made if missing)")
    p.add_argument("--log-url", required=True, help="base URL of the log role")
    p.add_argument("--state-dir", default="", help="where the bundles are kept (default: PROFILE/statements)")
    p.add_argument("--gateway-keys", required=True, help="the gateway's keys_dir")
    p.add_argument("--currency-key", default="", help="the banks' currency signing key file (0600 PEM)")
    p.add_argument("--node-policy", default="", help="the attestation policy TOML nodes are judged under")
    p.add_argument("--model", default="", help="model name the node image serves")
    p.add_argument("--engine", default="", help="engine the node image runs")
    p.add_argument("--model-file", default="", help="GGUF file whose SHA-256 the image manifest pins")
    p.add_argument("--identity", default="", help="signer identity in certificates (default: the local one)")
    p.add_argument("--issuer", default="", help="issuer recorded in certificates (default: the local one)")
    p.add_argument("--watch", type=float, default=0.0, help="check every SECS seconds until SIGTERM (0: once)")
    p.set_defaults(run=_guarded(_publish_stack))

    p = sub.add_parser(
        "check",
        help="verify the statements a client profile takes from the log, as openpcc.Client does",
        description="Read the [client] profile's log, check its checkpoint (signature, witness cosignatures, "
        "consistency with the saved one), prove the entries and verify the newest gateway-key, currency-key "
        "and node-image statements; print what was verified and under which trust root.",
    )
    p.add_argument("--config", default=None, help="the openpcc.toml holding [client] (default: <home>/openpcc.toml)")
    p.set_defaults(run=_guarded(_check))

    p = sub.add_parser("verify", help="verify a Sigstore statement bundle offline")
    p.add_argument("bundle", help="bundle file (protobuf or JSON)")
    p.add_argument("--trusted-root", required=True, help="Sigstore trusted_root.json")
    issuer = p.add_mutually_exclusive_group(required=True)
    issuer.add_argument("--issuer", help="exact OIDC issuer")
    issuer.add_argument("--issuer-regex", help="OIDC issuer, full-match regular expression")
    subject = p.add_mutually_exclusive_group(required=True)
    subject.add_argument("--subject", help="exact signer identity (SAN)")
    subject.add_argument("--subject-regex", help="signer identity, full-match regular expression")
    p.add_argument("--predicate-type", default=None, help="required predicate type")
    p.add_argument(
        "--at", default=None, help="RFC 3339 time for the OHTTP key rotation check (default: now)"
    )
    p.set_defaults(run=_guarded(_verify_bundle))
