"""The TPM's own operations on the compute node's request path, reported apart from the private path's
added latency (they are the price of a request key bound to the attested state):

* ``node-request-key-ecdh``: the HPKE ``dh`` step of opening one request, TPM2_ECDH_ZGen under a salted
  PolicyPCR session in swtpm (:meth:`openpcc.node_identity.NodeIdentity.ecdh`, what every request
  costs the node), against the same P-256 ECDH with the key in this process (``cryptography``, the
  ``danger_software_request_key`` path);
* ``node-evidence-quote``: one evidence bundle quoted over a fresh nonce (what a client-fresh manifest
  or a router admission costs the node), no peer.

swtpm runs as its own process on loopback; a hardware TPM is slower still.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from openpcc.attestation.bundle import bundle_from_identity
from support.swtpm import provisioned_node


@pytest.fixture(scope="module")
def identity() -> Iterator[Any]:
    with provisioned_node() as node:
        yield node


def _client_share() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )


def test_request_key_ecdh_in_the_tpm(paired: Callable[[str, str], Any], identity: Any) -> None:
    enc = _client_share()
    assert len(identity.ecdh(enc)) == 32
    paired("node-request-key-ecdh", "openpcc").pedantic(identity.ecdh, args=(enc,), rounds=20, warmup_rounds=2)


def test_request_key_ecdh_in_process(paired: Callable[[str, str], Any]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _client_share())
    paired("node-request-key-ecdh", "cryptography-in-process").pedantic(
        key.exchange, args=(ec.ECDH(), peer), rounds=200, warmup_rounds=5
    )


def test_evidence_quote_over_a_fresh_nonce(paired: Callable[[str, str], Any], identity: Any) -> None:
    def quote() -> bytes:
        return bytes(bundle_from_identity(identity, secrets.token_bytes(32)).encode())

    assert quote()
    paired("node-evidence-quote", "openpcc").pedantic(quote, rounds=5, warmup_rounds=1)
