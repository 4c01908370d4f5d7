"""The swtpm node's bundle plus an SEV-SNP report: the success path and each way it fails.

Real AMD-signed reports bind data we cannot choose, so the report here is synthetic
(``tests/support/snp_synthetic``): our own ARK, ASK and VCEK, trusted through the policy's
``[trust_roots] amd_arks``. The report's ``report_data`` binds the nonce, the swtpm node's REK
name and its AK name (``bundle.report_data(nonce, rek_name, ak_name)``), the binding
``verify_evidence`` checks (``binding.report_data``).

The quote is bound to the nonce by its qualifying data and the REK by the AK-certified creation;
the report binds the nonce, the REK and the AK, so the quote and its PCRs count. A report that
binds only the REK leaves the bare AK unbound: ``policy.tpm.ak_trust`` then fails. The reference's
binding (``SHA-256(quote signature)``, accepted with ``accept_reference_binding``) binds the quote
and so its AK; a test below shows it.

The policy is production's except for the TEE pins, the evidence it requires and the AMD roots.
It does not set ``danger_allow_software_tpm``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from openpcc.attestation import (
    EvidenceList,
    EvidencePiece,
    EvidenceType,
    Policy,
    load_policy,
    verify_evidence,
)
from openpcc.attestation import tpm as tpm_verify
from openpcc.attestation.bundle import bundle_from_identity, reference_report_data, report_data
from openpcc.attestation.policy import TrustRoots
from openpcc.node_identity import NodeIdentity

from tests.support.snp_synthetic import (
    POLICY_DEBUG,
    POLICY_DEFAULT,
    Chain,
    ReportFields,
    Tcb,
    Vcek,
    build_report,
    synthetic_chain,
)
from tests.support.snp_synthetic import (
    POLICY_MIGRATE_MA as SNP_MIGRATE_MA,
)
from tests.support.swtpm import provisioned_node

T = EvidenceType
MEASUREMENT = bytes.fromhex("5a" * 48)
TCB = Tcb(bootloader=9, tee=0, snp=23, microcode=72)
GOOD = ReportFields(measurement=MEASUREMENT)


@pytest.fixture
def node() -> Iterator[NodeIdentity]:
    with provisioned_node() as identity:
        yield identity


@pytest.fixture(scope="module")
def chain() -> Chain:
    return synthetic_chain("genoa")


@pytest.fixture(scope="module")
def vcek(chain: Chain) -> Vcek:
    return chain.issue_vcek(TCB)


def policy_toml(chain: Chain, *, trust_roots: bool = True) -> str:
    roots = (
        f'amd_arks = """\n{chain.ark_pem.decode()}"""\n'
        f'amd_chain = """\n{chain.chain_pem.decode()}"""\n'
        if trust_roots
        else ""
    )
    return f"""
name = "synthetic-sev-snp"
require_tee = true
required_evidence = ["TPM_QUOTE", "TPM_CERTIFY_REK_CREATION", "TPMT_PUBLIC", "AK_TPMT_PUBLIC",
                     "SEVSNP_REPORT", "OPENPCC_SEVSNP_VCEK"]
[sevsnp]
allowed_measurements = ["{MEASUREMENT.hex()}"]
[sevsnp.min_tcb]
bootloader = 9
tee = 0
snp = 23
microcode = 72
[trust_roots]
{roots}"""


@pytest.fixture(scope="module")
def policy(chain: Chain) -> Policy:
    return load_policy(policy_toml(chain))


def rek_name(node: NodeIdentity) -> bytes:
    return tpm_verify.public_name(node.rek_public)


def ak_name(node: NodeIdentity) -> bytes:
    return tpm_verify.public_name(node.ak_public)


def bound(node: NodeIdentity, nonce: bytes) -> bytes:
    """The report data a node with a bare AK must have its TEE sign."""
    return report_data(nonce, rek_name(node), ak_name(node))


def snp_pieces(report: bytes, vcek: Vcek) -> list[EvidencePiece]:
    # Reference layout: data = go-sev-guest Attestation protobuf (not read here), signature = report.
    return [
        EvidencePiece(T.SEVSNP_REPORT, b"", report),
        EvidencePiece(T.OPENPCC_SEVSNP_VCEK, vcek.der),
    ]


def snp_bundle(
    node: NodeIdentity,
    nonce: bytes,
    vcek: Vcek,
    *,
    bound_to: bytes | None = None,
    fields: ReportFields = GOOD,
    signer: Vcek | None = None,
    extra: tuple[EvidencePiece, ...] = (),
) -> bytes:
    """The node's bundle for ``nonce`` with a report whose report_data is ``bound_to``, by
    default this nonce, this node's REK and its AK."""
    report = build_report(
        fields.but(report_data=bound_to if bound_to is not None else bound(node, nonce)),
        vcek,
        signer=signer.key if signer else None,
    )
    return bundle_from_identity(node, nonce, extra=[*snp_pieces(report, vcek), *extra]).encode()


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def check(verdict, name: str):
    return next(c for c in verdict.checks if c.name == name)


def test_bound_report_under_the_synthetic_roots_is_valid(
    node: NodeIdentity, vcek: Vcek, policy: Policy
) -> None:
    nonce = os.urandom(32)
    verdict = verify_evidence(snp_bundle(node, nonce, vcek), policy, nonce=nonce)
    assert verdict.valid, verdict.failures
    assert check(verdict, "binding.report_data").ok
    assert "REK name || AK name" in check(verdict, "binding.report_data").detail
    for name in (
        "sevsnp.report.signature",
        "sevsnp.chain.ark",
        "sevsnp.tcb.match",
        "sevsnp.chip_id.match",
        "policy.sevsnp.measurement",
        "policy.sevsnp.debug",
        "policy.sevsnp.tcb",
        "policy.sevsnp.vmpl",
        "policy.sevsnp.migration_agent",
        "sevsnp.chain.path",
        "evidence.age",
        "evidence.required.SEVSNP_REPORT",
        "evidence.required.OPENPCC_SEVSNP_VCEK",
        "tpm.quote.nonce",
    ):
        assert check(verdict, name).ok, name
    assert "bound to the TEE report" in check(verdict, "policy.tpm.ak_trust").detail
    assert verdict.claims["unsigned_claims"] == []
    assert verdict.claims["tee"] == "sev-snp"
    assert verdict.claims["sevsnp"]["measurement"] == MEASUREMENT.hex()
    assert verdict.claims["sevsnp"]["roots"] == "policy amd_arks"
    assert verdict.claims["rek_public_key"] == node.rek_public_key.hex()


def test_report_bound_to_another_nonce(node: NodeIdentity, vcek: Vcek, policy: Policy) -> None:
    nonce = os.urandom(32)
    # The quote answers this nonce, the report another one (a report replayed from another session).
    other = os.urandom(32)
    bundle = snp_bundle(
        node, nonce, vcek, bound_to=report_data(other, rek_name(node), ak_name(node))
    )
    verdict = verify_evidence(bundle, policy, nonce=nonce)
    # Unbound, the report vouches for no AK either.
    assert failed(verdict) == ["binding.report_data", "policy.tpm.ak_trust"]
    assert "rek_public_key" not in verdict.claims
    # Verified with another nonce altogether, the quote (and so the signed time) fails too.
    verdict = verify_evidence(snp_bundle(node, nonce, vcek), policy, nonce=os.urandom(32))
    assert failed(verdict) == [
        "tpm.quote.nonce",
        "evidence.age",
        "binding.report_data",
        "policy.tpm.ak_trust",
    ]


def test_report_bound_to_another_rek_name(node: NodeIdentity, vcek: Vcek, policy: Policy) -> None:
    nonce = os.urandom(32)
    # A genuine TPM name, but the AK's, not the REK's: the TEE vouches for another key.
    other_name = tpm_verify.public_name(node.ak_public)
    wrong = report_data(nonce, other_name, ak_name(node))
    verdict = verify_evidence(snp_bundle(node, nonce, vcek, bound_to=wrong), policy, nonce=nonce)
    assert failed(verdict) == ["binding.report_data", "policy.tpm.ak_trust"]
    assert "rek_public_key" not in verdict.claims


def test_measurement_not_in_the_policy(node: NodeIdentity, vcek: Vcek, policy: Policy) -> None:
    nonce = os.urandom(32)
    fields = ReportFields(measurement=bytes.fromhex("a5" * 48))
    verdict = verify_evidence(snp_bundle(node, nonce, vcek, fields=fields), policy, nonce=nonce)
    assert failed(verdict) == ["policy.sevsnp.measurement"]
    assert "a5a5" in verdict.failures[0].detail


def test_debug_enabled_in_the_guest_policy(node: NodeIdentity, vcek: Vcek, policy: Policy) -> None:
    nonce = os.urandom(32)
    fields = ReportFields(measurement=MEASUREMENT, policy=POLICY_DEFAULT | POLICY_DEBUG)
    verdict = verify_evidence(snp_bundle(node, nonce, vcek, fields=fields), policy, nonce=nonce)
    assert failed(verdict) == ["policy.sevsnp.debug"]
    assert verdict.claims["sevsnp"]["policy"] == hex(POLICY_DEFAULT | POLICY_DEBUG)


def test_tcb_below_the_minimum(node: NodeIdentity, chain: Chain, policy: Policy) -> None:
    nonce = os.urandom(32)
    # A genuine report and VCEK of an older firmware: they agree with each other (tcb.match).
    old = chain.issue_vcek(replace(TCB, snp=22, microcode=70))
    verdict = verify_evidence(snp_bundle(node, nonce, old), policy, nonce=nonce)
    assert failed(verdict) == ["policy.sevsnp.tcb"]
    assert verdict.failures[0].detail == (
        "reported TCB below the minimum: snp 22 < 23; microcode 70 < 72"
    )


def test_production_default_roots_reject_the_synthetic_chain(
    node: NodeIdentity, chain: Chain, vcek: Vcek, policy: Policy
) -> None:
    nonce = os.urandom(32)
    bundle = snp_bundle(node, nonce, vcek)
    # The same policy with the built-in AMD roots: no AMD ASK issued this VCEK.
    builtin = replace(policy, trust_roots=TrustRoots())
    assert failed(verify_evidence(bundle, builtin, nonce=nonce)) == ["sevsnp.chain.vcek"]
    # Given the synthetic chain but not its ARK as a root: the ARK is not one of AMD's.
    chain_only = replace(policy, trust_roots=TrustRoots(amd_chain=chain.chain_pem))
    verdict = verify_evidence(bundle, chain_only, nonce=nonce)
    assert failed(verdict) == ["sevsnp.chain.ark"]
    assert "not a trusted AMD root" in verdict.failures[0].detail
    # The production defaults as they are: the AMD chain does not hold, and nothing is pinned,
    # so no guest passes (an unpinned TEE accepts none).
    verdict = verify_evidence(bundle, Policy.production(), nonce=nonce)
    assert failed(verdict) == [
        "sevsnp.chain.vcek",
        "policy.sevsnp.measurement",
        "policy.sevsnp.tcb",
    ]
    assert verdict.claims["sevsnp"]["roots"] == "built-in AMD"
    assert "rek_public_key" not in verdict.claims
    assert Policy.production().trust_roots.amd_arks is None


def test_report_signed_by_another_vcek(
    node: NodeIdentity, chain: Chain, vcek: Vcek, policy: Policy
) -> None:
    nonce = os.urandom(32)
    # A VCEK the synthetic ASK really issued, for the same chip and TCB, but not the one shipped.
    other = chain.issue_vcek(TCB)
    verdict = verify_evidence(snp_bundle(node, nonce, vcek, signer=other), policy, nonce=nonce)
    assert failed(verdict) == ["sevsnp.report.signature"]
    # Shipping the signer's certificate instead makes it valid again.
    assert verify_evidence(snp_bundle(node, nonce, other), policy, nonce=nonce).valid


def test_vcek_from_an_untrusted_ask(node: NodeIdentity, policy: Policy) -> None:
    nonce = os.urandom(32)
    stranger = synthetic_chain("genoa", "other").issue_vcek(TCB)
    verdict = verify_evidence(snp_bundle(node, nonce, stranger), policy, nonce=nonce)
    assert failed(verdict) == ["sevsnp.chain.vcek"]


def test_missing_vcek_piece(node: NodeIdentity, vcek: Vcek, policy: Policy) -> None:
    nonce = os.urandom(32)
    report = build_report(
        ReportFields(measurement=MEASUREMENT, report_data=bound(node, nonce)), vcek
    )
    pieces = [EvidencePiece(T.SEVSNP_REPORT, b"", report)]
    bundle = bundle_from_identity(node, nonce, extra=pieces).encode()
    verdict = verify_evidence(bundle, policy, nonce=nonce)
    assert failed(verdict) == ["evidence.required.OPENPCC_SEVSNP_VCEK", "sevsnp.vcek"]


def test_reference_binding_to_the_quote_only_when_the_policy_accepts_it(
    node: NodeIdentity, vcek: Vcek, policy: Policy
) -> None:
    nonce = os.urandom(32)
    bundle = bundle_from_identity(node, nonce)
    quote = bundle.first(T.TPM_QUOTE)
    assert quote is not None
    fields = ReportFields(
        measurement=MEASUREMENT, report_data=reference_report_data(quote.signature)
    )
    pieces = [*snp_pieces(build_report(fields, vcek), vcek), *bundle]
    encoded = EvidenceList.of(pieces).encode()
    assert failed(verify_evidence(encoded, policy, nonce=nonce)) == [
        "binding.report_data",
        "policy.tpm.ak_trust",
    ]
    relaxed = replace(policy, accept_reference_binding=True)
    verdict = verify_evidence(encoded, relaxed, nonce=nonce)
    assert verdict.valid, verdict.failures
    assert "quote signature" in check(verdict, "binding.report_data").detail


def test_cli_with_a_policy_file(
    node: NodeIdentity, chain: Chain, vcek: Vcek, tmp_path: Path
) -> None:
    nonce = os.urandom(32)
    bundle = tmp_path / "bundle.pb"
    bundle.write_bytes(snp_bundle(node, nonce, vcek))
    policy_file = tmp_path / "snp.toml"
    policy_file.write_text(policy_toml(chain))
    builtin_file = tmp_path / "builtin.toml"
    builtin_file.write_text(policy_toml(chain, trust_roots=False))

    def run(policy: Path) -> int:
        command = [sys.executable, "-m", "openpcc", "verify", "evidence", str(bundle)]
        command += ["--policy", str(policy), "--nonce", nonce.hex(), "--json"]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        return proc.returncode

    assert run(policy_file) == 0
    assert run(builtin_file) == 1


def test_unparsable_roots_built_without_the_loader(
    node: NodeIdentity, chain: Chain, vcek: Vcek, policy: Policy
) -> None:
    # load_policy rejects such roots; a Policy built in code gets a failed check, not an exception.
    nonce = os.urandom(32)
    broken = replace(
        policy, trust_roots=TrustRoots(amd_chain=chain.chain_pem, amd_arks=b"not a certificate")
    )
    verdict = verify_evidence(snp_bundle(node, nonce, vcek), broken, nonce=nonce)
    assert not verdict.valid
    assert failed(verdict)[0] == "sevsnp.verify"
    assert verdict.failures[0].detail.startswith("EvidenceFormatError")


def outer_algorithm_span(vcek: Vcek) -> range:
    """Where the VCEK's outer (unsigned) signatureAlgorithm sits in its DER."""
    der = vcek.der
    outer_header = 4  # SEQUENCE with a two-byte length
    algorithm_start = outer_header + len(vcek.cert.tbs_certificate_bytes)
    algorithm_end = len(der) - (4 + 1 + len(vcek.cert.signature))  # BIT STRING header, pad byte
    assert der[algorithm_end] == 0x03  # the signature BIT STRING starts there
    return range(algorithm_start, algorithm_end)


def test_unsigned_regions_are_refused_too(node: NodeIdentity, vcek: Vcek, policy: Policy) -> None:
    """The two places a flip changes no signed byte: the report's reserved bytes after s, and the
    VCEK's outer signatureAlgorithm (RFC 5280: it must equal the signed one)."""
    nonce = os.urandom(32)
    bundle = EvidenceList.decode(snp_bundle(node, nonce, vcek))
    pieces = list(bundle)
    report_at = next(i for i, p in enumerate(pieces) if p.kind == T.SEVSNP_REPORT)
    report = bytearray(pieces[report_at].signature)
    report[0x400] ^= 1
    tampered = [*pieces]
    tampered[report_at] = EvidencePiece(T.SEVSNP_REPORT, pieces[report_at].data, bytes(report))
    verdict = verify_evidence(EvidenceList.of(tampered), policy, nonce=nonce)
    assert failed(verdict) == ["sevsnp.report.signature"]
    assert "0x330..0x4A0" in verdict.failures[0].detail

    vcek_at = next(i for i, p in enumerate(pieces) if p.kind == T.OPENPCC_SEVSNP_VCEK)
    der = bytearray(vcek.der)
    der[outer_algorithm_span(vcek)[-1]] ^= 1  # the last byte of the PSS parameters
    tampered = [*pieces]
    tampered[vcek_at] = EvidencePiece(T.OPENPCC_SEVSNP_VCEK, bytes(der))
    assert not verify_evidence(EvidenceList.of(tampered), policy, nonce=nonce).valid


def test_every_bit_flip_in_the_tee_pieces_fails(chain: Chain, vcek: Vcek) -> None:
    """Every single-bit flip of the report (1184 bytes) and of the VCEK's DER, each one, never
    verifies: judged by the SEV-SNP verifier the bundle path runs, with the same roots."""
    from openpcc.attestation.sevsnp import SevSnpVerifier

    verifier = SevSnpVerifier(roots=chain.ark_pem)
    report = build_report(GOOD.but(report_data=bytes(64)), vcek)

    def valid(report: bytes, vcek_der: bytes) -> bool:
        return verifier.verify(report, vcek=vcek_der, chain=chain.chain_pem).valid

    assert valid(report, vcek.der)
    flipped = 0
    for blob, rebuild in (
        (report, lambda b: (b, vcek.der)),
        (vcek.der, lambda b: (report, b)),
    ):
        for bit in range(len(blob) * 8):
            mutated = bytearray(blob)
            mutated[bit // 8] ^= 1 << (bit % 8)
            assert not valid(*rebuild(bytes(mutated))), bit
            flipped += 1
    assert flipped == (len(report) + len(vcek.der)) * 8


def test_sampled_bit_flips_through_verify_evidence_fail(
    node: NodeIdentity, vcek: Vcek, policy: Policy
) -> None:
    """150 random single-bit flips (of the ~19 000 the test above makes one by one) through the
    whole bundle path: never a valid verdict, never a REK key in the claims."""
    import random

    from openpcc.exceptions import EvidenceFormatError

    nonce = os.urandom(32)
    bundle = EvidenceList.decode(snp_bundle(node, nonce, vcek))
    assert verify_evidence(bundle, policy, nonce=nonce).valid
    rng = random.Random(5)
    for _ in range(150):
        pieces = list(bundle)
        index = rng.choice(
            [i for i, p in enumerate(pieces) if p.kind in (T.SEVSNP_REPORT, T.OPENPCC_SEVSNP_VCEK)]
        )
        piece = pieces[index]
        blob = bytearray(piece.signature or piece.data)
        blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
        if piece.kind == T.SEVSNP_REPORT:
            pieces[index] = EvidencePiece(piece.kind, piece.data, bytes(blob))
        else:
            pieces[index] = EvidencePiece(piece.kind, bytes(blob))
        try:
            verdict = verify_evidence(EvidenceList.of(pieces), policy, nonce=nonce)
        except EvidenceFormatError:
            continue
        assert not verdict.valid, (piece.name, blob.hex()[:16])
        assert "rek_public_key" not in verdict.claims


# --- issue 9: each hole, built as an attack, refused by the named check ----------------------


def test_policy_tpm_ak_trust_refuses_a_bare_ak_the_report_does_not_bind(
    node: NodeIdentity, vcek: Vcek, policy: Policy
) -> None:
    """The TEE vouches for the REK only: the AK (and so the quote and its PCRs) could be any
    TPM's, a software one included."""
    nonce = os.urandom(32)
    rek_only = report_data(nonce, rek_name(node))
    verdict = verify_evidence(snp_bundle(node, nonce, vcek, bound_to=rek_only), policy, nonce=nonce)
    assert failed(verdict) == ["policy.tpm.ak_trust"]
    assert "does not bind" in verdict.failures[0].detail
    assert "rek_public_key" not in verdict.claims


def test_policy_sevsnp_vmpl_refuses_a_report_from_another_vmpl(
    node: NodeIdentity, vcek: Vcek, policy: Policy
) -> None:
    nonce = os.urandom(32)
    verdict = verify_evidence(
        snp_bundle(node, nonce, vcek, fields=GOOD.but(vmpl=2)), policy, nonce=nonce
    )
    assert failed(verdict) == ["policy.sevsnp.vmpl"]
    lenient = replace(policy, sevsnp=replace(policy.sevsnp, vmpl=2))
    assert verify_evidence(
        snp_bundle(node, nonce, vcek, fields=GOOD.but(vmpl=2)), lenient, nonce=nonce
    ).valid


def test_policy_sevsnp_migration_agent_refuses_migrate_ma(
    node: NodeIdentity, vcek: Vcek, policy: Policy
) -> None:
    nonce = os.urandom(32)
    fields = GOOD.but(policy=POLICY_DEFAULT | SNP_MIGRATE_MA)
    verdict = verify_evidence(snp_bundle(node, nonce, vcek, fields=fields), policy, nonce=nonce)
    assert failed(verdict) == ["policy.sevsnp.migration_agent"]
    lenient = replace(policy, sevsnp=replace(policy.sevsnp, allow_migration_agent=True))
    assert verify_evidence(snp_bundle(node, nonce, vcek, fields=fields), lenient, nonce=nonce).valid


def test_policy_sevsnp_measurement_refuses_an_unpinned_guest(
    node: NodeIdentity, vcek: Vcek, policy: Policy
) -> None:
    """A Policy built in code with require_tee and no pins: no SEV-SNP guest passes."""
    nonce = os.urandom(32)
    unpinned = replace(policy, sevsnp=replace(policy.sevsnp, allowed_measurements=frozenset()))
    verdict = verify_evidence(snp_bundle(node, nonce, vcek), unpinned, nonce=nonce)
    assert failed(verdict) == ["policy.sevsnp.measurement"]
    assert "not pinned" in verdict.failures[0].detail


def revoking_crl(chain: Chain, serials: tuple[int, ...]) -> bytes:
    """AMD's CRL shape: issued and signed (RSASSA-PSS SHA-384) by the ARK."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(chain.ark.subject)
        .last_update(now - timedelta(days=1))
        .next_update(now + timedelta(days=30))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - timedelta(days=1))
            .build()
        )
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    crl = builder.sign(chain.ark_key, hashes.SHA384(), rsa_padding=pss)
    return crl.public_bytes(serialization.Encoding.DER)


def test_sevsnp_crl_refuses_a_revoked_ask_on_the_bundle_path(
    node: NodeIdentity, chain: Chain, vcek: Vcek, policy: Policy
) -> None:
    nonce = os.urandom(32)
    revoked = revoking_crl(chain, (chain.ask.serial_number,))
    piece = (EvidencePiece(T.OPENPCC_SEVSNP_CRL, revoked),)
    verdict = verify_evidence(snp_bundle(node, nonce, vcek, extra=piece), policy, nonce=nonce)
    assert failed(verdict) == ["sevsnp.crl"]
    # The caller's own CRL takes the piece's place.
    clean = revoking_crl(chain, ())
    verdict = verify_evidence(
        snp_bundle(node, nonce, vcek), policy, nonce=nonce, sevsnp_crl=revoked
    )
    assert failed(verdict) == ["sevsnp.crl"]
    ok = verify_evidence(
        snp_bundle(node, nonce, vcek, extra=piece), policy, nonce=nonce, sevsnp_crl=clean
    )
    assert ok.valid, ok.failures
    assert ok.claims["sevsnp"]["crl"] == "checked"
