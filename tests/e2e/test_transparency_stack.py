"""Transparency wired end to end: the log and two witnesses each its own process (stopped by PID), an
operator publishing with the local signing profile, clients verifying what they fetch.

Covers: publish and verify (gateway keys with rotation periods, currency key, node image values); a
tampered bundle, a wrong identity, an expired rotation period, a split view between two clients and
against the checkpoint kept on disk, a key or statement absent from the log, too few cosignatures;
a gateway key rotation republished and picked up; the banks' check of the logged currency key."""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpcc import config, ohttp
from openpcc.exceptions import (
    BundleVerificationError,
    ConfigError,
    EntryNotLoggedError,
    IdentityMismatchError,
    KeyRotationError,
    SplitViewError,
    TooFewWitnessesError,
)
from openpcc.services.bank import check_currency_key_bundle
from openpcc.services.gateway import write_key_file
from openpcc.transparency import stack
from openpcc.transparency.note import COSIGNATURE_V1, SignedCheckpoint, Signer
from openpcc.transparency.tlog import DirectoryFetch, TransparencyLog, Witness
from support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key
from support.servers import RoleProcess, free_port, role_process

ORIGIN = "log.test/openpcc"
REPO = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = int(NOW.timestamp())
SEED_1, SEED_2 = bytes(range(32)), bytes(range(32, 64))


@dataclass
class Deployment:
    log: RoleProcess
    log_dir: Path
    witness_dirs: list[Path]
    publisher: stack.StackPublisher
    keys_dir: Path
    settings: dict[str, object]
    root: Path

    def client(self, name: str, **overrides: object) -> stack.TransparencyClient:
        values = {**self.settings, **overrides}
        trust = stack.ClientTrust.from_settings(values, self.root / f"client-{name}")
        assert trust is not None
        return stack.TransparencyClient(trust)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True)
    return path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("transparency-stack")
    log_dir = _private_dir(root / "log")
    signer = Signer.generate(ORIGIN)
    config.write_key_file(log_dir / "log.key", signer.encode_private().encode())
    with ExitStack() as processes:
        witnesses, witness_dirs = [], []
        for i in range(2):
            port, wdir = free_port(), _private_dir(root / f"witness{i}")
            text = (
                f'[witness]\nport = {port}\ndata_dir = "{wdir}"\nname = "witness{i}.test"\n'
                f'log_keys = "{signer.verifier.encode()}"\n'
            )
            witnesses.append(processes.enter_context(role_process("witness", text, root / f"w{i}-run", port)))
            witness_dirs.append(wdir)
        port = free_port()
        urls = ",".join(w.url for w in witnesses)
        text = f'[log]\nport = {port}\ndata_dir = "{log_dir}"\norigin = "{ORIGIN}"\nwitness_urls = "{urls}"\n'
        log = processes.enter_context(role_process("log", text, root / "log-run", port))

        currency_key = root / "currency" / "currency-key.pem"
        config.write_key_file(currency_key, TEST_CURRENCY_KEY_PEM.read_bytes())
        model_file = root / "model.gguf"
        model_file.write_bytes(b"GGUF a stand-in model file")
        keys_dir = root / "gateway-keys"
        write_key_file(keys_dir, 1, ohttp.X25519_KEM, T0 - 100, T0 + 1000, SEED_1)
        profile = stack.load_or_create_profile(root / "profile", NOW)
        publisher = stack.StackPublisher(profile, log.url, root / "statements")
        what = stack.StackStatements(
            keys_dir, currency_key, REPO / "policies" / "dev.toml", "echo", "echo", model_file,
        )
        stack.publish_stack(publisher, what, NOW)
        settings = stack.client_settings(
            root / "profile", log.url, log_dir / "log.vkey", [d / "witness.vkey" for d in witness_dirs]
        )
        yield Deployment(log, log_dir, witness_dirs, publisher, keys_dir, settings, root)


def _key_config(key_id: int, seed: bytes) -> bytes:
    key = ohttp.GatewayKey.from_seed(key_id, ohttp.X25519_KEM, seed, [ohttp.HKDF_SHA256_AES128GCM])
    return bytes(key.key_config.encode())


def test_published_statements_verify_with_both_cosignatures(deployment: Deployment) -> None:
    client = deployment.client("a")
    verified = client.verify(NOW)
    assert verified.gateway.active_period.key_id == 1
    assert verified.gateway.key_config.encode() == _key_config(1, SEED_1)
    verified.require_logged_key_config(_key_config(1, SEED_1))
    key = load_test_currency_key().public_key()
    logged = verified.currency_public_key()
    assert (logged.n, logged.e) == (key.n, key.e)
    image = verified.node_image
    assert image is not None and image.model == "echo" and image.engine == "echo"
    assert image.tpm_pcrs[0] == ("00" * 32,)
    assert image.model_sha256 == stack.sha256_file(deployment.root / "model.gguf")
    assert image.attestation_policy == (REPO / "policies" / "dev.toml").read_text()
    assert set(verified.indexes) == {"gateway-keys", "currency-key", "node-image"}
    signed = SignedCheckpoint.parse(client.checkpoint())
    assert signed.verify(deployment.client("x").trust.log_key, client.trust.witnesses, 2) == 2
    assert "local development root" in verified.report()
    assert json.loads(verified.gateway_keys_document()["rotation_periods"])[0]["key_id"] == 1


def test_the_client_profile_reads_its_settings_from_the_config_file(deployment: Deployment, tmp_path: Path) -> None:
    lines = ["[client]", f'data_dir = "{tmp_path / "client"}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in deployment.settings.items()]
    path = tmp_path / "openpcc.toml"
    path.write_text("\n".join(lines) + "\n")
    verified = stack.verified_statements_for(config.load(path, env={}).client(), NOW)
    assert verified is not None and verified.gateway.active_period.key_id == 1
    assert (tmp_path / "client" / "log-checkpoint").exists()
    assert stack.verified_statements_for(config.load(None, env={"OPENPCC_HOME": str(tmp_path)}).client()) is None


def test_a_log_without_its_trust_settings_is_refused(deployment: Deployment) -> None:
    from openpcc.exceptions import TrustRootError

    with pytest.raises(TrustRootError, match="trust_root"):
        stack.ClientTrust.from_settings({**deployment.settings, "trust_root": ""}, deployment.root)
    with pytest.raises(TrustRootError, match="min_witnesses"):
        stack.ClientTrust.from_settings({**deployment.settings, "min_witnesses": 3}, deployment.root)


def test_expired_rotation_period_is_refused(deployment: Deployment) -> None:
    with pytest.raises(KeyRotationError, match="no OHTTP key rotation period is active"):
        deployment.client("expired").verify(NOW + timedelta(days=30))


def test_wrong_identity_is_refused(deployment: Deployment) -> None:
    policy = stack.identity_policy_setting("someone-else@openpcc.localhost")
    with pytest.raises(IdentityMismatchError, match="not allowed by the identity policy"):
        deployment.client("wrong-identity", identity_policy=policy).verify(NOW)
    # A bundle from another signer presented through another channel is refused too.
    bundle = deployment.publisher.profile.sign_statement(
        stack.statements.public_key_statement(b'{"kty":"RSA","n":"AQAB","e":"AQAB","use":"sig"}'),
        identity="mallory@evil.test", issuer=stack.LOCAL_ISSUER, at=NOW,
    )
    with pytest.raises(IdentityMismatchError):
        deployment.client("b").verify_presented(bundle)


def _tampered(bundle: bytes) -> bytes:
    document = json.loads(bundle)
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"]["jwkRaw"] = base64.b64encode(b'{"kty":"RSA","n":"AQAB","e":"AQAB","use":"sig"}').decode()
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(document).encode()


def test_tampered_bundle_is_refused_and_never_used(deployment: Deployment) -> None:
    genuine = deployment.publisher.bundle_path("currency-key").read_bytes()
    tampered = _tampered(genuine)
    client = deployment.client("tamper")
    with pytest.raises(BundleVerificationError):
        client.verify_presented(tampered)
    # Appended to the log by anyone, it is passed over: the newest statement that verifies is used.
    deployment.publisher.submit(tampered)
    logged = client.verify(NOW).currency_public_key()
    key = load_test_currency_key().public_key()
    assert (logged.n, logged.e) == (key.n, key.e)


def test_statement_or_key_absent_from_the_log_is_refused(deployment: Deployment) -> None:
    client = deployment.client("absent")
    verified = client.verify(NOW)
    with pytest.raises(EntryNotLoggedError, match="not among the keys published"):
        verified.require_logged_key_config(_key_config(7, bytes(32)))
    # Validly signed by the operator's profile but never appended: shown to one client only.
    unlogged = deployment.publisher.profile.sign_statement(
        stack.statements.public_key_statement(stack.currency_jwk(load_test_currency_key().public_key())),
        identity=stack.LOCAL_IDENTITY, issuer=stack.LOCAL_ISSUER, at=NOW + timedelta(seconds=1),
    )
    with pytest.raises(EntryNotLoggedError, match="not in the log"):
        client.verify_presented(unlogged)
    assert client.verify_presented(deployment.publisher.bundle_path("currency-key").read_bytes()) >= 0


def test_too_few_cosignatures_are_refused(deployment: Deployment) -> None:
    stranger = Signer.generate("witness9.test", COSIGNATURE_V1).verifier.encode()
    one_real = str(deployment.settings["witness_keys"]).split(",")[0]
    with pytest.raises(TooFewWitnessesError, match="1 of the 2 witness cosignatures"):
        deployment.client("few", witness_keys=f"{one_real},{stranger}").verify(NOW)


def _fork(deployment: Deployment, entry: bytes) -> Path:
    """The log's operator forks it: same key, another entry, cosigned by witnesses that collude (their
    keys, a fresh view). The honest witness processes refuse to cosign it (tests/services/test_log.py)."""
    fork_dir = deployment.root / f"fork-{time.monotonic_ns()}"
    shutil.copytree(deployment.log_dir / "tiles", fork_dir)
    signer = Signer.parse(config.read_key_file(deployment.log_dir / "log.key").decode().strip())
    fork = TransparencyLog(fork_dir, signer)
    fork.append(entry)
    signed = fork.publish()
    for i, wdir in enumerate(deployment.witness_dirs):
        witness_signer = Signer.parse(config.read_key_file(wdir / "witness.key").decode().strip())
        colluding = Witness(witness_signer, [signer.verifier], deployment.root / f"collude-{i}-{fork_dir.name}", lambda: int(time.time()))
        line = colluding.cosign(signed.encode(), []).note.encode().decode().splitlines()[-1]
        signed = SignedCheckpoint(signed.checkpoint, signed.note.add(line))
    fork.write_checkpoint(signed)
    return fork_dir


def test_split_view_between_two_clients_and_against_the_saved_checkpoint(deployment: Deployment) -> None:
    honest = deployment.client("honest")
    honest.verify(NOW)
    # A genuine new entry after the fork point makes the histories diverge at the same size.
    fork_dir = _fork(deployment, b"an entry shown to one client only")
    deployment.publisher.submit(b"an entry every client sees")
    honest.verify(NOW)
    trust = stack.ClientTrust.from_settings(deployment.settings, deployment.root / "client-partitioned")
    assert trust is not None
    partitioned = stack.TransparencyClient(trust, DirectoryFetch(fork_dir))
    assert partitioned.verify(NOW).gateway.active_period.key_id == 1  # it sees a complete, cosigned view
    with pytest.raises(SplitViewError, match="different histories"):
        honest.accept_checkpoint(partitioned.checkpoint())
    with pytest.raises(SplitViewError, match="different histories"):
        partitioned.accept_checkpoint(honest.checkpoint())
    # The honest client's checkpoint on disk catches the fork when it is served to it later.
    later = stack.TransparencyClient(honest.trust, DirectoryFetch(fork_dir))
    with pytest.raises(SplitViewError):
        later.verify(NOW)


def test_a_fork_the_witnesses_did_not_cosign_is_refused(deployment: Deployment) -> None:
    fork_dir = deployment.root / "uncosigned"
    shutil.copytree(deployment.log_dir / "tiles", fork_dir)
    signer = Signer.parse(config.read_key_file(deployment.log_dir / "log.key").decode().strip())
    fork = TransparencyLog(fork_dir, signer)
    fork.append(b"unwitnessed entry")
    fork.publish()
    trust = stack.ClientTrust.from_settings(deployment.settings, deployment.root / "client-uncosigned")
    assert trust is not None
    with pytest.raises(TooFewWitnessesError, match="0 of the 2"):
        stack.TransparencyClient(trust, DirectoryFetch(fork_dir)).verify(NOW)


def test_gateway_key_rotation_is_republished_and_picked_up(deployment: Deployment) -> None:
    client = deployment.client("rotation")
    before = client.verify(NOW)
    unchanged = deployment.publisher.publish_gateway_keys(deployment.keys_dir, NOW)
    assert not unchanged.changed and unchanged.index == before.indexes["gateway-keys"]
    # The gateway writes the next key before the current one ends; the operator republishes at once.
    write_key_file(deployment.keys_dir, 2, ohttp.X25519_KEM, T0 + 900, T0 + 2000, SEED_2)
    later = datetime.now(UTC)
    republished = deployment.publisher.publish_gateway_keys(deployment.keys_dir, later)
    assert republished.changed and republished.index > before.indexes["gateway-keys"]
    now_view = client.verify(NOW)
    assert now_view.indexes["gateway-keys"] == republished.index
    assert now_view.gateway.active_period.key_id == 1  # the next key is logged before it is active
    now_view.require_logged_key_config(_key_config(2, SEED_2))
    after = client.verify(NOW + timedelta(seconds=1500))
    assert after.gateway.active_period.key_id == 2
    assert after.gateway.key_config.encode() == _key_config(2, SEED_2)


def test_banks_check_the_logged_currency_key(deployment: Deployment, tmp_path: Path) -> None:
    bundle_path = deployment.publisher.bundle_path("currency-key")
    path = tmp_path / "bank.toml"
    path.write_text(f'[bank]\ncurrency_key_bundle_file = "{bundle_path}"\n')
    cfg = config.load(path, env={}).role("bank")
    key = load_test_currency_key().public_key()
    assert check_currency_key_bundle(cfg, key) == bundle_path.read_bytes()
    from cryptography.hazmat.primitives.asymmetric import rsa
    from openpcc.blindrsa import PublicKey

    numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    other = PublicKey(numbers.n.to_bytes(256, "big"), numbers.e.to_bytes(3, "big"))
    with pytest.raises(ConfigError, match="names another currency key"):
        check_currency_key_bundle(cfg, other)
    image_bundle = deployment.publisher.bundle_path("node-image")
    path.write_text(f'[bank]\ncurrency_key_bundle_file = "{image_bundle}"\n')
    with pytest.raises(ConfigError, match="not a currency key statement"):
        check_currency_key_bundle(config.load(path, env={}).role("bank"), key)


def test_monitor_prints_every_key_and_image_entry(deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from openpcc.cli import main

    args = ["transparency", "monitor", "--log", deployment.log.url, "--log-key", str(deployment.settings["log_key"])]
    for key in str(deployment.settings["witness_keys"]).split(","):
        args += ["--witness", key]
    assert main([*args, "--state", str(tmp_path / "seen")]) == 0
    out = capsys.readouterr().out
    assert "ohttp-keys" in out and "public-key" in out and "image-manifest" in out
    assert "key 1" in out and "openpcc-node-image:sha256:" in out


def test_the_client_takes_keys_policy_and_currency_key_from_the_log(deployment: Deployment, tmp_path: Path) -> None:
    from openpcc.client import AsyncClient, _load_profile

    settings = {**deployment.settings, "data_dir": str(tmp_path / "client"), "use_keyring": False}
    lines = ["[client]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path = tmp_path / "openpcc.toml"
    path.write_text("\n".join(lines) + "\n")  # no pinned gateway_keys, node_policy or currency_key
    profile = _load_profile(path, {})
    assert profile.keys.choose().encode() == _key_config(1, SEED_1)
    assert profile.policy.name == "dev" and profile.policy_origin.startswith("log entry ")
    assert profile.currency_key == load_test_currency_key().public_key()
    assert "local development root" in profile.transparency
    client = AsyncClient(path)
    assert "transparency: log log.test/openpcc" in client.transparency
    # A profile whose identity policy names someone else refuses to start, saying why.
    with pytest.raises(IdentityMismatchError):
        _load_profile(path, {"identity_policy": stack.identity_policy_setting("nobody@openpcc.localhost")})


def test_publish_stack_command_confirms_unchanged_statements(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    from openpcc.cli import main

    args = [
        "transparency", "publish-stack", "--profile", str(deployment.root / "profile"),
        "--log-url", deployment.log.url, "--state-dir", str(deployment.publisher.state_dir),
        "--gateway-keys", str(deployment.keys_dir),
    ]
    published = json.loads((deployment.publisher.state_dir / "published.json").read_text())
    assert main(args) == 0
    out = capsys.readouterr().out.split("\t")
    assert out[0] == "gateway-keys" and out[1] == f"entry {published['gateway-keys']['index']}"
    assert json.loads((deployment.publisher.state_dir / "published.json").read_text()) == published
    assert main([*args[:-1], str(deployment.root / "no-such-keys")]) == 2  # no live key: unreadable input


def test_a_long_lived_client_reads_the_log_again_when_its_keys_run_out(deployment: Deployment, tmp_path: Path) -> None:
    from openpcc.client import _load_profile

    settings = {**deployment.settings, "data_dir": str(tmp_path / "client"), "use_keyring": False}
    path = tmp_path / "openpcc.toml"
    path.write_text("\n".join(["[client]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]) + "\n")
    profile = _load_profile(path, {})
    assert profile.keys.choose(NOW).key_id == 1
    assert {c.key_id for c in profile.keys.configs} == {1, 2}  # the rotation test published key 2 ahead
    write_key_file(deployment.keys_dir, 3, ohttp.X25519_KEM, T0 + 1900, T0 + 3000, bytes(range(64, 96)))
    assert deployment.publisher.publish_gateway_keys(deployment.keys_dir, datetime.now(UTC)).changed
    # Past every period it loaded, the client reads the log again and finds the key published since.
    assert profile.keys.choose(NOW + timedelta(seconds=2500)).encode() == _key_config(3, bytes(range(64, 96)))
    with pytest.raises(KeyRotationError):
        profile.keys.choose(NOW + timedelta(days=30))


def test_the_auth_bank_serves_the_logged_currency_key_statement(deployment: Deployment, tmp_path: Path) -> None:
    from openpcc.compute import decode_message
    from openpcc.services.auth import AuthBankService

    bundle_path = deployment.publisher.bundle_path("currency-key")
    data_dir = tmp_path / "auth"
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    path = tmp_path / "auth.toml"
    path.write_text(f'[auth]\ndata_dir = "{data_dir}"\ncurrency_key_bundle_file = "{bundle_path}"\n')
    service = AuthBankService(config.load(path, env={}).role("auth"))
    try:
        answer = decode_message("csprotos.AuthConfigResponse", service.remote_config)
    finally:
        service.store.close()
    served = base64.b64decode(answer["currencyKeyBundle"])
    assert served == bundle_path.read_bytes()
    # What the bank serves is the statement every client finds in the log.
    assert deployment.client("auth-config").verify_presented(served) == json.loads(
        (deployment.publisher.state_dir / "published.json").read_text()
    )["currency-key"]["index"]


def test_check_command_prints_what_a_client_verified(deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from openpcc.cli import main

    settings = {**deployment.settings, "data_dir": str(tmp_path / "client")}
    path = tmp_path / "openpcc.toml"
    path.write_text("\n".join(["[client]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]) + "\n")
    assert main(["transparency", "check", "--config", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["gateway_key_id"] == 1 and result["node_image"]["engine"] == "echo"
    assert "local development root" in result["report"] and result["currency_jwk"]["use"] == "sig"
    settings["identity_policy"] = stack.identity_policy_setting("nobody@openpcc.localhost")
    path.write_text("\n".join(["[client]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]) + "\n")
    assert main(["transparency", "check", "--config", str(path)]) == 1  # refused: wrong identity
    assert "not allowed by the identity policy" in capsys.readouterr().err


def test_the_auth_bank_serves_the_current_gateway_key_statement(deployment: Deployment, tmp_path: Path) -> None:
    from openpcc.compute import decode_message
    from openpcc.services.auth import AuthBankService

    bundle_path = deployment.publisher.bundle_path("gateway-keys")
    data_dir = tmp_path / "auth"
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    served_file = tmp_path / "ohttp-keys.sigstore.json"
    served_file.write_bytes(bundle_path.read_bytes())
    path = tmp_path / "auth.toml"
    path.write_text(f'[auth]\ndata_dir = "{data_dir}"\nohttp_key_configs_bundle_file = "{served_file}"\n')
    service = AuthBankService(config.load(path, env={}).role("auth"))
    try:
        answer = decode_message("csprotos.AuthConfigResponse", service.remote_config)
        assert base64.b64decode(answer["ohttpKeyConfigsBundle"]) == bundle_path.read_bytes()
        client = deployment.client("auth-keys")
        assert client.verify_presented(base64.b64decode(answer["ohttpKeyConfigsBundle"])) >= 0
        # A republished statement (the operator's rotation) is what the next request gets.
        served_file.write_bytes(b'{"republished": true}')
        os.utime(served_file, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        answer = decode_message("csprotos.AuthConfigResponse", service.current_remote_config())
        assert base64.b64decode(answer["ohttpKeyConfigsBundle"]) == b'{"republished": true}'
        served_file.unlink()  # unreadable for a moment: the last statement read is still served
        answer = decode_message("csprotos.AuthConfigResponse", service.current_remote_config())
        assert base64.b64decode(answer["ohttpKeyConfigsBundle"]) == b'{"republished": true}'
    finally:
        service.store.close()
