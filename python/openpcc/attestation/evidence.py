"""``verify_evidence``: a node's evidence bundle judged against a policy.

Pieces are found by type; every present verifier runs (all signature and chain work is in the
Rust core, through the per-evidence modules); then the binding, freshness and policy checks run.
Each check is named and says why it passed or failed. The REK public key is in the claims only
when every check passed: a caller cannot use the key of evidence that failed.

Binding rules are documented in :mod:`openpcc.attestation.bundle`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from openpcc.attestation import tpm as tpm_verify
from openpcc.attestation.bundle import (
    EvidenceList,
    EvidencePiece,
    EvidenceType,
    decode_tpm_quote,
    gpu_nonce,
    quote_qualifying_data,
    reference_report_data,
    report_data,
)
from openpcc.attestation.policy import Policy
from openpcc.attestation.verdict import Check, Verdict
from openpcc.exceptions import (
    EvidenceFormatError,
    OpenPCCError,
    RimChainError,
    RimSignatureError,
)

__all__ = ["verify_evidence"]

T = EvidenceType
TEE_TYPES = (T.SEVSNP_REPORT, T.TDX_REPORT, T.SEVSNP_EXTENDED_REPORT)
#: Types whose duplicates would be ambiguous (which one did the verifier judge?).
SINGLE_TYPES = (
    *TEE_TYPES,
    T.TPM_QUOTE,
    T.TPM_CERTIFY_REK_CREATION,
    T.TPMT_PUBLIC,
    T.AK_TPMT_PUBLIC,
    T.OPENPCC_TCG_EVENT_LOG,
    T.OPENPCC_COLLECTED_AT,
    T.OPENPCC_NVIDIA_EVIDENCE,
)
#: Reference pieces this verifier does not interpret; they are listed in the claims, not trusted.
NOT_INTERPRETED = (
    T.UNSPECIFIED,
    T.EVENT_LOG,
    T.IMAGE_SIGSTORE_BUNDLE,
    T.NVIDIA_ETA,
    T.NVIDIA_INTERMEDIATE_CERTIFICATE,
    T.NVIDIA_SWITCH_ETA,
    T.NVIDIA_SWITCH_INTERMEDIATE_CERTIFICATE,
    T.AZURE_CVM_RUNTIME_DATA,
    T.TEE_TICKSTAMP,
    T.TDX_COLLATERAL,
    T.SEVSNP_EXTENDED_REPORT,
)
CLOCK_SKEW = timedelta(seconds=60)
SNP_DEBUG_BIT = 1 << 19  # guest policy bit 19: DEBUG allowed (AMD SEV-SNP ABI, Table 9)


class _Run:
    """Accumulates checks and claims while the steps run."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.claims: dict[str, Any] = {}

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def absorb(self, verdict: Verdict) -> Verdict:
        self.checks.extend(verdict.checks)
        return verdict

    def run(self, name: str, verifier: Callable[[], Verdict]) -> Verdict:
        """Runs a per-evidence verifier; an input it rejects by raising becomes the failed check ``name``."""
        try:
            return self.absorb(verifier())
        except OpenPCCError as exc:
            self.check(name, False, f"{type(exc).__name__}: {exc}")
            return Verdict(checks=(Check(name, False, str(exc)),))

    def verdict(self) -> Verdict:
        return Verdict(checks=tuple(self.checks), claims=self.claims)


def verify_evidence(
    bundle: bytes | EvidenceList,
    policy: Policy,
    *,
    nonce: bytes | None,
    at: datetime | None = None,
    sevsnp_crl: bytes | None = None,
) -> Verdict:
    """Verifies a ``SignedEvidenceList`` under ``policy`` for the client's ``nonce`` at ``at``
    (default now). Raises :class:`~openpcc.exceptions.EvidenceFormatError` only when ``bundle``
    is not a ``SignedEvidenceList`` at all; anything wrong inside it is a failed check.

    ``sevsnp_crl``: AMD's CRL for the report's ARK (DER or PEM), checked instead of an
    ``OPENPCC_SEVSNP_CRL`` piece when given. ``claims["unsigned_claims"]`` names the claims no
    verified signature covers (see docs/attestation-policy.md)."""
    evidence = bundle if isinstance(bundle, EvidenceList) else EvidenceList.decode(bundle)
    when = _utc(at)
    run = _Run()
    run.claims["policy"] = policy.name
    run.claims["pieces"] = evidence.kinds()
    _structure(run, evidence, policy)
    _nonce(run, policy, nonce)
    collected_at = _collected_at(run, evidence)
    identity = _tpm(run, evidence, policy, nonce, collected_at, when)
    _evidence_age(run, policy, collected_at, nonce, when)
    if identity is not None:
        _golden_pcrs(run, policy, identity["pcrs"])
        _event_log(run, evidence, policy, identity["pcrs"])
    rek_name = identity["rek_name"] if identity else None
    quote_sig = identity["quote_signature"] if identity else None
    ak_name = identity["ak_name"] if identity else None
    tee, binding = _tee(
        run, evidence, policy, nonce, rek_name, ak_name, quote_sig, when, sevsnp_crl
    )
    _ak_trust(run, evidence, policy, tee, binding)
    _gpu(run, evidence, policy, nonce, rek_name, when)
    _mark_unsigned(run)
    verdict = run.verdict()
    if verdict.valid and identity is not None and identity.get("rek_public_key"):
        run.claims["rek_public_key"] = identity["rek_public_key"]
    return run.verdict()


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# --- structure, nonce, age ----------------------------------------------------


def _structure(run: _Run, evidence: EvidenceList, policy: Policy) -> None:
    for kind in sorted(policy.required_evidence):
        present = evidence.first(kind) is not None
        run.check(
            f"evidence.required.{kind.name}",
            present,
            "present"
            if present
            else f"the policy requires a {kind.name} piece and the bundle has none",
        )
    duplicated = sorted(
        {p.name for p in evidence if p.kind in SINGLE_TYPES and len(evidence.all_of(p.kind)) > 1}
    )
    run.check(
        "evidence.unique",
        not duplicated,
        "each verified piece type appears once"
        if not duplicated
        else f"more than one piece of type {', '.join(duplicated)}: ambiguous, rejected",
    )
    ignored = sorted(
        {p.name for p in evidence if p.kind in NOT_INTERPRETED or p.name.startswith("UNKNOWN_")}
    )
    if ignored:
        run.claims["ignored_pieces"] = ignored


def _nonce(run: _Run, policy: Policy, nonce: bytes | None) -> None:
    if not policy.require_nonce:
        return
    if nonce is not None and 16 <= len(nonce) <= 64:
        run.check("evidence.nonce", True, f"client nonce of {len(nonce)} bytes")
    else:
        run.check("evidence.nonce", False, "the policy requires a client nonce of 16 to 64 bytes")


def _collected_at(run: _Run, evidence: EvidenceList) -> int | None:
    """The node's stated collection time; it is authenticated only later, by the quote."""
    piece = evidence.first(T.OPENPCC_COLLECTED_AT)
    if piece is None:
        return None
    if len(piece.data) != 8:
        run.check(
            "evidence.collected_at",
            False,
            f"OPENPCC_COLLECTED_AT must be 8 bytes, got {len(piece.data)}",
        )
        return None
    stamp = int.from_bytes(piece.data, "big")
    run.claims["collected_at"] = stamp
    return stamp


def _passed(run: _Run, name: str) -> bool:
    return any(c.name == name for c in run.checks) and all(
        c.ok for c in run.checks if c.name == name
    )


def _passed_all(run: _Run, name: str) -> bool:
    """``name`` passed; a name ending in ``.`` means every check under that prefix (at least one)."""
    if not name.endswith("."):
        return _passed(run, name)
    under = [c for c in run.checks if c.name.startswith(name)]
    return bool(under) and all(c.ok for c in under)


def _evidence_age(
    run: _Run, policy: Policy, stamp: int | None, nonce: bytes | None, when: datetime
) -> None:
    """The age check counts only a collection time a signature covers: the quote's qualifying
    data is SHA-256("openpcc-quote-v1" || u64be(collected_at) || nonce), so the time is signed
    exactly when the quote's signature and its nonce check both passed with the client's nonce."""
    if policy.max_evidence_age is None:
        return
    if stamp is None:
        run.check(
            "evidence.age",
            False,
            "the policy limits evidence age but the bundle has no collection time "
            "(OPENPCC_COLLECTED_AT bound into the quote)",
        )
        return
    signed = (
        nonce is not None
        and _passed(run, "tpm.quote.signature")
        and _passed(run, "tpm.quote.nonce")
    )
    if not signed:
        run.check(
            "evidence.age",
            False,
            "the collection time is not covered by a signature (it is bound only through the "
            "quote's qualifying data with the client's nonce, and that did not verify): an "
            "unsigned time proves nothing about age",
        )
        return
    try:
        collected = datetime.fromtimestamp(stamp, UTC)
    except (OverflowError, OSError, ValueError):
        run.check("evidence.age", False, "collection time out of range")
        return
    age = when - collected
    if age < -CLOCK_SKEW:
        run.check(
            "evidence.age", False, f"collected {-age} in the future of the verification instant"
        )
    elif age > policy.max_evidence_age:
        run.check(
            "evidence.age",
            False,
            f"collected {age} before the verification instant; the policy allows {policy.max_evidence_age}",
        )
    else:
        run.check(
            "evidence.age",
            True,
            f"collected {max(age, timedelta(0))} ago (limit {policy.max_evidence_age}); "
            "the time is signed: it is in the quote's qualifying data with the client's nonce",
        )


# --- TPM ------------------------------------------------------------------------


def _ak_bytes(evidence: EvidenceList) -> tuple[bytes | None, list[bytes], str]:
    """The AK (certificate or public area), its intermediates, and where it came from."""
    for cert_kind, inter_kind, source in (
        (T.GCE_AK_CERTIFICATE, T.GCE_AK_INTERMEDIATE_CERTIFICATE, "gce"),
        (T.AZURE_AK_CERTIFICATE, None, "azure"),
    ):
        cert = evidence.first(cert_kind)
        if cert is not None:
            inters = [p.data for p in evidence.all_of(inter_kind)] if inter_kind is not None else []
            return cert.data, inters, source
    public = evidence.first(T.AK_TPMT_PUBLIC)
    if public is not None:
        return public.data, [], "tpmt_public"
    # Reference fake mode (spec §6.2): the AK's TPMT_PUBLIC is an UNSPECIFIED piece. Its other
    # UNSPECIFIED piece (random data under an HMAC with a public secret) proves nothing and is ignored.
    for piece in evidence.all_of(T.UNSPECIFIED):
        try:
            tpm_verify.parse_public(piece.data)
        except OpenPCCError:
            continue
        return piece.data, [], "tpmt_public"
    return None, [], "none"


def _tpm(
    run: _Run,
    evidence: EvidenceList,
    policy: Policy,
    nonce: bytes | None,
    collected_at: int | None,
    when: datetime,
) -> dict[str, Any] | None:
    quote = evidence.first(T.TPM_QUOTE)
    creation = evidence.first(T.TPM_CERTIFY_REK_CREATION)
    rek = evidence.first(T.TPMT_PUBLIC)
    ak, intermediates, source = _ak_bytes(evidence)
    run.claims["ak_source"] = source
    if quote is None or ak is None:
        missing = [n for n, p in (("TPM_QUOTE", quote), ("an AK", ak)) if p is None]
        run.check(
            "tpm.identity", False, f"cannot verify the TPM identity without {', '.join(missing)}"
        )
        return None
    try:
        attest, pcrs = decode_tpm_quote(quote.data)
    except OpenPCCError as exc:
        run.check("tpm.quote.encoding", False, str(exc))
        return None
    expected_qd = quote_qualifying_data(nonce, collected_at) if nonce is not None else None
    intermediates = [*intermediates, *policy.trust_roots.tpm_ak_intermediates]
    run.claims["pcrs"] = {"sha256": {str(i): v.hex() for i, v in sorted(pcrs.items())}}
    _quote_selection(run, policy, pcrs)
    if creation is None or rek is None:
        # Without the REK the quote is still judged, so the PCR and event-log checks can run.
        run.run(
            "tpm.verify",
            lambda: tpm_verify.verify_quote(
                attest,
                quote.signature,
                ak,
                nonce=expected_qd,
                pcrs=pcrs,
                at=when,
                bank="sha256",
                nonce_required=policy.require_nonce,
                intermediates=intermediates,
                allow_weak_ak=policy.tpm.allow_weak_ak,
            ),
        )
        if source == "tpmt_public":
            _qualified_signer(run, ak, {"quote": attest})
        run.check(
            "tpm.identity",
            False,
            "no REK: the bundle lacks TPM_CERTIFY_REK_CREATION or TPMT_PUBLIC",
        )
        return {
            "pcrs": pcrs,
            "rek_name": None,
            "ak_name": _ak_name(ak, source),
            "quote_signature": quote.signature,
            "rek_public_key": None,
        }
    verdict = run.run(
        "tpm.verify",
        lambda: tpm_verify.verify_identity(
            quote=attest,
            quote_signature=quote.signature,
            pcrs=pcrs,
            creation=creation.data,
            creation_signature=creation.signature,
            rek_public=rek.data,
            ak=ak,
            nonce=expected_qd,
            nonce_required=policy.require_nonce,
            bank="sha256",
            policy_pcrs=policy.tpm.rek_pcrs,
            at=when,
            intermediates=intermediates,
            allow_weak_ak=policy.tpm.allow_weak_ak,
        ),
    )
    _rek_name_piece(run, rek)
    if source == "tpmt_public":
        _qualified_signer(run, ak, {"quote": attest, "creation": creation.data})
    try:
        rek_name = tpm_verify.public_name(rek.data)
    except OpenPCCError:
        rek_name = None
    return {
        "pcrs": pcrs,
        "rek_name": rek_name,
        "ak_name": _ak_name(ak, source),
        "quote_signature": quote.signature,
        "rek_public_key": verdict.claims.get("rek_public_key"),
    }


def _ak_name(ak: bytes, source: str) -> bytes | None:
    """A bare AK's TPM name (what a TEE report binds); ``None`` for certificates."""
    if source != "tpmt_public":
        return None
    try:
        return tpm_verify.public_name(ak)
    except OpenPCCError:
        return None


_HIERARCHIES = {0x4000000B: "endorsement", 0x40000001: "owner", 0x4000000C: "platform"}
_NAME_HASHES = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}


def _qualified_signer(run: _Run, ak: bytes, attests: Mapping[str, bytes]) -> None:
    """A bare AK must be the key that signed: each attestation's qualifiedSigner must be the AK's
    qualified name as a primary key, ``nameAlg || H(hierarchy handle || AK name)`` (TPM 2.0 Part 1
    §16). Without this, any public area with the same key would pass as the AK."""
    try:
        name = tpm_verify.public_name(ak)
        signers = {
            what: tpm_verify.parse_attest(data).get("qualifiedSigner", "")
            for what, data in attests.items()
        }
    except OpenPCCError as exc:
        run.check(
            "tpm.ak.qualified_signer", False, f"cannot compute the AK's qualified name: {exc}"
        )
        return
    algorithm = _NAME_HASHES.get(int.from_bytes(name[:2], "big"))
    if algorithm is None:
        run.check("tpm.ak.qualified_signer", False, "AK name algorithm unsupported")
        return
    qualified = {
        (
            name[:2] + hashlib.new(algorithm, handle.to_bytes(4, "big") + name).digest()
        ).hex(): hierarchy
        for handle, hierarchy in _HIERARCHIES.items()
    }
    wrong = sorted(what for what, signer in signers.items() if signer not in qualified)
    if wrong:
        run.check(
            "tpm.ak.qualified_signer",
            False,
            f"the {' and '.join(wrong)} qualifiedSigner is not this AK as a primary key",
        )
        return
    where = sorted({qualified[s] for s in signers.values()})
    run.check(
        "tpm.ak.qualified_signer",
        True,
        f"signed by this AK, a primary key in the {', '.join(where)} hierarchy",
    )


def _rek_name_piece(run: _Run, rek: EvidencePiece) -> None:
    """The reference ships the REK's name as the TPMT_PUBLIC piece's signature; if present it must agree."""
    if not rek.signature:
        return
    try:
        name = tpm_verify.public_name(rek.data)
    except OpenPCCError as exc:
        run.check("tpm.rek.name_piece", False, f"REK public area does not parse: {exc}")
        return
    ok = hmac.compare_digest(name, rek.signature)
    run.check(
        "tpm.rek.name_piece",
        ok,
        "the piece's stated name is the REK's name"
        if ok
        else "the TPMT_PUBLIC piece's signature is not the REK's name",
    )


def _quote_selection(run: _Run, policy: Policy, pcrs: Mapping[int, bytes]) -> None:
    missing = sorted(set(policy.tpm.rek_pcrs) - set(pcrs))
    run.check(
        "tpm.quote.covers_rek_pcrs",
        not missing,
        f"the quote covers the REK's policy PCRs {list(policy.tpm.rek_pcrs)}"
        if not missing
        else f"the quote omits the REK's policy PCR(s) {missing}",
    )


def _golden_pcrs(run: _Run, policy: Policy, pcrs: Mapping[int, bytes]) -> None:
    for index, allowed in sorted(policy.tpm.golden_pcrs.items()):
        value = pcrs.get(index)
        if value is None:
            run.check(
                f"policy.pcr.{index}",
                False,
                f"PCR {index} has a golden value but the quote does not cover it",
            )
        elif value in allowed:
            run.check(
                f"policy.pcr.{index}",
                True,
                f"PCR {index} = {value.hex()[:16]}..., an allowed value",
            )
        else:
            run.check(
                f"policy.pcr.{index}",
                False,
                f"PCR {index} = {value.hex()} is not among the {len(allowed)} allowed value(s)",
            )


def _event_log(
    run: _Run, evidence: EvidenceList, policy: Policy, pcrs: Mapping[int, bytes]
) -> None:
    piece = evidence.first(T.OPENPCC_TCG_EVENT_LOG)
    if piece is None:
        return
    from openpcc.attestation import eventlog

    compared = {i: v for i, v in pcrs.items() if i in policy.tpm.eventlog_pcrs}
    verdict = run.run(
        "eventlog.verify",
        lambda: eventlog.verify_event_log(piece.data, expected_pcrs={"sha256": compared}),
    )
    for key in ("events",):
        if key in verdict.claims:
            run.claims["eventlog"] = verdict.claims[key]


# --- TEE --------------------------------------------------------------------------


def _tee(
    run: _Run,
    evidence: EvidenceList,
    policy: Policy,
    nonce: bytes | None,
    rek_name: bytes | None,
    ak_name: bytes | None,
    quote_signature: bytes | None,
    when: datetime,
    sevsnp_crl: bytes | None,
) -> tuple[str | None, str | None]:
    """Judges the TEE report; returns the TEE and what its report data binds (see
    :func:`_report_data`)."""
    present = [k for k in (T.SEVSNP_REPORT, T.TDX_REPORT) if evidence.first(k) is not None]
    if not present:
        ok = not policy.require_tee
        run.check(
            "policy.tee",
            ok,
            "no TEE report; the policy accepts that"
            if ok
            else "no TEE report (SEVSNP_REPORT or TDX_REPORT); the policy requires one",
        )
        run.claims["tee"] = None
        return None, None
    if len(present) > 1:
        run.check(
            "policy.tee",
            False,
            "both an SEV-SNP and a TDX report: exactly one TEE report is allowed",
        )
        return None, None
    kind = present[0]
    tee = "sev-snp" if kind == T.SEVSNP_REPORT else "tdx"
    run.claims["tee"] = tee
    piece = evidence.first(kind)
    if piece is None:  # unreachable: `present` lists only types that have a piece
        return None, None
    if kind == T.SEVSNP_REPORT:
        claims = _sevsnp(run, evidence, policy, piece, when, sevsnp_crl)
    else:
        claims = _tdx(run, evidence, policy, piece, when)
    binding = _report_data(
        run, policy, claims.get("report_data"), nonce, rek_name, ak_name, quote_signature
    )
    return tee, binding


SNP_MIGRATE_MA_BIT = 1 << 18  # guest policy bit 18: a migration agent may be associated


def _sevsnp(
    run: _Run,
    evidence: EvidenceList,
    policy: Policy,
    piece: EvidencePiece,
    when: datetime,
    sevsnp_crl: bytes | None,
) -> dict[str, Any]:
    from openpcc.attestation import sevsnp

    # Reference layout: data = go-sev-guest Attestation protobuf, signature = the raw report.
    report = piece.signature if piece.signature else piece.data
    vcek = evidence.first(T.OPENPCC_SEVSNP_VCEK)
    crl_piece = evidence.first(T.OPENPCC_SEVSNP_CRL)
    crl = sevsnp_crl if sevsnp_crl is not None else (crl_piece.data if crl_piece else None)
    verdict = run.run(
        "sevsnp.verify",
        lambda: sevsnp.verify_report(
            report,
            vcek=vcek.data if vcek else None,
            chain=policy.trust_roots.amd_chain,
            crl=crl,
            at=when,
            roots=policy.trust_roots.amd_arks,
        ),
    )
    claims = verdict.claims
    run.claims["sevsnp"] = {
        k: claims[k]
        for k in ("measurement", "policy", "reported_tcb_decoded", "vmpl")
        if k in claims
    }
    # A verdict under replaced roots must say so: such a chain was not necessarily signed by AMD.
    run.claims["sevsnp"]["roots"] = (
        "built-in AMD" if policy.trust_roots.amd_arks is None else "policy amd_arks"
    )
    run.claims["sevsnp"]["crl"] = "checked" if crl is not None else "not supplied"
    measurement = _unhex(claims.get("measurement"))
    _pinned(
        run,
        policy,
        "policy.sevsnp.measurement",
        measurement,
        policy.sevsnp.allowed_measurements,
        "SEV-SNP launch measurement",
    )
    guest_policy = _int(claims.get("policy"))
    if policy.forbid_debug:
        debug = guest_policy is None or bool(guest_policy & SNP_DEBUG_BIT)
        run.check(
            "policy.sevsnp.debug",
            not debug,
            "guest policy forbids debugging"
            if not debug
            else "guest policy allows debugging (or is unreadable); the policy forbids it",
        )
    migration = guest_policy is None or bool(guest_policy & SNP_MIGRATE_MA_BIT)
    migration_ok = not migration or policy.sevsnp.allow_migration_agent
    run.check(
        "policy.sevsnp.migration_agent",
        migration_ok,
        "guest policy allows no migration agent"
        if not migration
        else (
            "guest policy allows a migration agent; the policy accepts that"
            if migration_ok
            else "guest policy allows a migration agent (MIGRATE_MA, or unreadable), which could "
            "export the guest's memory; the policy forbids it (sevsnp.allow_migration_agent)"
        ),
    )
    vmpl = _int(claims.get("vmpl"))
    run.check(
        "policy.sevsnp.vmpl",
        vmpl == policy.sevsnp.vmpl,
        f"report requested at VMPL {vmpl}, as the policy requires"
        if vmpl == policy.sevsnp.vmpl
        else f"report requested at VMPL {vmpl}; the policy requires VMPL {policy.sevsnp.vmpl} "
        "(a less privileged VMPL does not speak for the whole guest)",
    )
    _min_tcb(run, policy, claims.get("reported_tcb_decoded") or {})
    return claims


def _min_tcb(run: _Run, policy: Policy, tcb: Mapping[str, Any]) -> None:
    if not policy.sevsnp.min_tcb:
        run.check(
            "policy.sevsnp.tcb",
            not policy.require_tee,
            "the policy sets no minimum TCB (require_tee = false)"
            if not policy.require_tee
            else "the policy sets no minimum TCB (sevsnp.min_tcb): any patch level would pass",
        )
        return
    low = [
        f"{c} {tcb.get(c)} < {m}"
        for c, m in policy.sevsnp.min_tcb.items()
        if not isinstance(tcb.get(c), int) or tcb[c] < m
    ]
    run.check(
        "policy.sevsnp.tcb",
        not low,
        "reported TCB meets the minimum"
        if not low
        else f"reported TCB below the minimum: {'; '.join(low)}",
    )


def _tdx(
    run: _Run, evidence: EvidenceList, policy: Policy, piece: EvidencePiece, when: datetime
) -> dict[str, Any]:
    from openpcc.attestation import tdx

    collateral = evidence.first(T.OPENPCC_TDX_COLLATERAL)
    verdict = run.run(
        "tdx.verify",
        lambda: tdx.verify_quote(
            piece.data,
            collateral=collateral.data if collateral else None,
            at=when,
            root=policy.trust_roots.intel_root,
            accept_tcb_status=sorted(policy.tdx.allowed_tcb_status),
        ),
    )
    claims = verdict.claims
    run.claims["tdx"] = {
        k: claims[k]
        for k in ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "tcb_status")
        if k in claims
    }
    _pinned(
        run, policy, "policy.tdx.mrtd", _unhex(claims.get("mrtd")), policy.tdx.allowed_mrtd, "MRTD"
    )
    for index, allowed in sorted(policy.tdx.allowed_rtmr.items()):
        _pinned(
            run,
            policy,
            f"policy.tdx.rtmr{index}",
            _unhex(claims.get(f"rtmr{index}")),
            allowed,
            f"RTMR{index}",
        )
    status = claims.get("tcb_status")
    run.check(
        "policy.tdx.tcb_status",
        status in policy.tdx.allowed_tcb_status,
        f"TCB status {status} is accepted"
        if status in policy.tdx.allowed_tcb_status
        else f"TCB status {status} is not among {sorted(policy.tdx.allowed_tcb_status)}",
    )
    if policy.forbid_debug:
        debug = claims.get("debug") is not False
        run.check(
            "policy.tdx.debug",
            not debug,
            "TD attributes: not a debug TD"
            if not debug
            else "TD attributes allow debugging (or are unreadable); the policy forbids it",
        )
    return claims


def _report_data(
    run: _Run,
    policy: Policy,
    value: Any,
    nonce: bytes | None,
    rek_name: bytes | None,
    ak_name: bytes | None,
    quote_signature: bytes | None,
) -> str | None:
    """Checks the TEE report's data; returns what it binds: ``"ak"`` (nonce, REK and AK names),
    ``"quote"`` (the reference binding: the quote's signature, so the AK too), ``"rek"`` (nonce
    and REK name only: the AK is not bound) or ``None``."""
    actual = _unhex(value)
    if actual is None:
        run.check("binding.report_data", False, "the TEE report's report_data is unreadable")
        return None
    if nonce is not None and rek_name is not None:
        if (
            ak_name is not None
            and len(nonce) <= 255
            and hmac.compare_digest(actual, report_data(nonce, rek_name, ak_name))
        ):
            run.check(
                "binding.report_data",
                True,
                "report_data = SHA-512(tag || nonce || REK name || AK name): the TEE vouches "
                "for this REK, this AK and this nonce",
            )
            return "ak"
        if hmac.compare_digest(actual, report_data(nonce, rek_name)):
            run.check(
                "binding.report_data",
                True,
                "report_data = SHA-512(nonce || REK name): the TEE vouches for this REK and "
                "nonce (not for the AK)",
            )
            return "rek"
    if (
        policy.accept_reference_binding
        and quote_signature is not None
        and hmac.compare_digest(actual, reference_report_data(quote_signature))
    ):
        run.check(
            "binding.report_data",
            True,
            "report_data = SHA-256(quote signature) padded (reference binding, accepted by the policy)",
        )
        return "quote"
    run.check(
        "binding.report_data",
        False,
        "report_data binds neither this nonce and REK"
        + (" nor the quote (reference binding)" if policy.accept_reference_binding else ""),
    )
    return None


def _ak_trust(
    run: _Run, evidence: EvidenceList, policy: Policy, tee: str | None, binding: str | None
) -> None:
    """A bare AK (a public area the node chose) gives assurance only when a TEE report binds it
    (its name, or the quote it signed, in the report data): otherwise the quote, its PCRs and the
    event log replayed against them may come from any TPM, software included."""
    source = run.claims.get("ak_source")
    if source in ("gce", "azure"):
        return  # tpm.ak.chain already judged the certificate chain to the vendor's root
    if source != "tpmt_public":
        return
    if tee is not None and binding in ("ak", "quote"):
        run.check(
            "policy.tpm.ak_trust",
            True,
            "AK is a bare public area bound to the TEE report ("
            + (
                "its name is in the report data"
                if binding == "ak"
                else "the report data binds the quote it signed"
            )
            + ")",
        )
    elif policy.danger_allow_software_tpm:
        run.check(
            "policy.tpm.ak_trust",
            True,
            "AK is a bare public area (any TPM, software included); accepted by "
            "danger_allow_software_tpm: the PCR and event-log checks prove nothing about hardware",
        )
    elif tee is not None:
        run.check(
            "policy.tpm.ak_trust",
            False,
            "AK is a bare public area the TEE report does not bind (its name is not in the report "
            "data): the quote, its PCRs and the event log may come from any TPM and do not count",
        )
    else:
        run.check(
            "policy.tpm.ak_trust",
            False,
            "AK is a bare public area with no certificate and no TEE: it may be a software TPM, which the policy forbids",
        )


def _gpu(
    run: _Run,
    evidence: EvidenceList,
    policy: Policy,
    nonce: bytes | None,
    rek_name: bytes | None,
    when: datetime,
) -> None:
    piece = evidence.first(T.OPENPCC_NVIDIA_EVIDENCE)
    if piece is None:
        run.check(
            "policy.gpu",
            not policy.require_gpu,
            "no GPU evidence; the policy does not require it"
            if not policy.require_gpu
            else "the policy requires GPU evidence (OPENPCC_NVIDIA_EVIDENCE) and there is none",
        )
        return
    from openpcc.attestation import nvidia

    if nonce is None or rek_name is None:
        run.check(
            "binding.gpu", False, "GPU evidence cannot be bound without a client nonce and a REK"
        )
        return
    verdict = run.run(
        "nvidia.verify",
        lambda: nvidia.verify_evidence(
            piece.data,
            nonce=gpu_nonce(nonce, rek_name),
            at=when,
            roots=policy.trust_roots.nvidia_device_root,
        ),
    )
    devices = verdict.claims.get("devices", [])
    run.claims["gpu"] = devices
    if not policy.gpu.measured:
        run.check(
            "policy.gpu.measurements",
            False,
            "GPU measurements are neither pinned (gpu.allowed_measurements) nor checked against "
            "NVIDIA RIMs (gpu.rim_files): no signed field of the evidence shows confidential-"
            "computing mode, so unmeasured GPU evidence is refused",
        )
        return
    _gpu_measurements(run, policy, devices)
    if policy.gpu.rims:
        _gpu_rims(run, policy, devices, when)


def _gpu_rims(run: _Run, policy: Policy, devices: list[Any], when: datetime) -> None:
    """The policy's RIMs (signature, signer chain), then each GPU against the RIMs for its
    signed driver and VBIOS versions."""
    from openpcc.attestation import nvidia_rim

    rims: list[nvidia_rim.Rim] = []
    for k, data in enumerate(policy.gpu.rims):
        try:
            rim = nvidia_rim.verify_rim(data, policy.gpu.rim_roots or b"", at=when)
        except RimChainError as exc:
            run.check(f"nvidia.rim.{k}.chain", False, str(exc))
            continue
        except (RimSignatureError, EvidenceFormatError) as exc:
            run.check(f"nvidia.rim.{k}.chain", True, "the signer chains to the RIM roots")
            run.check(f"nvidia.rim.{k}.signature", False, str(exc))
            continue
        run.check(f"nvidia.rim.{k}.chain", True, "the signer chains to the RIM roots")
        run.check(f"nvidia.rim.{k}.signature", True, f"RIM for version {rim.version} is signed")
        rims.append(rim)
    if not devices:
        run.check("nvidia.rim.measurements", False, "no verified GPU measurements to compare")
    for n, device in enumerate(devices):
        _device_rims(run, n, device, rims)


def _device_rims(run: _Run, n: int, device: Mapping[str, Any], rims: list[Any]) -> None:
    versions = {
        "driver": str(device.get("driver_version") or "").lower(),
        "VBIOS": str(device.get("vbios_version") or "").lower(),
    }
    chosen = {
        what: next((r for r in rims if version and r.version == version), None)
        for what, version in versions.items()
    }
    missing = [f"{what} {versions[what] or '(none signed)'}" for what, r in chosen.items() if not r]
    run.check(
        f"nvidia.{n}.rim.version",
        not missing,
        "a verified RIM for the signed driver and VBIOS versions"
        if not missing
        else f"no verified RIM for {', '.join(missing)} (RIMs given for: "
        f"{', '.join(sorted(r.version for r in rims)) or 'none'})",
    )
    applicable = [r for r in chosen.values() if r is not None]
    problems = _rim_mismatches(device.get("measurements") or {}, applicable)
    if not applicable:
        problems = ["no RIM applies to this GPU's versions"]
    run.check(
        f"nvidia.{n}.rim.measurements",
        not problems,
        "every measurement block is described by the RIMs and every active one matches"
        if not problems
        else "; ".join(problems),
    )


def _rim_mismatches(reported: Mapping[str, str], rims: list[Any]) -> list[str]:
    """Blocks the RIMs do not describe, active RIM entries the evidence lacks, values not
    among the alternatives, and an index two RIMs both claim as active."""
    active: dict[int, Any] = {}
    described: set[int] = set()
    problems: list[str] = []
    for rim in rims:
        for index, entry in rim.measurements.items():
            described.add(index + 1)
            if entry.active:
                if index + 1 in active:
                    problems.append(f"block {index + 1} is active in two RIMs")
                active[index + 1] = entry
    blocks = {int(k): _unhex(v) for k, v in reported.items() if str(k).isdigit()}
    unknown = sorted(b for b in blocks if b not in described)
    absent = sorted(b for b in active if b not in blocks)
    wrong = sorted(b for b, e in active.items() if b in blocks and blocks[b] not in e.values)
    if unknown:
        problems.append(f"block(s) {_ranges(unknown)} not described by any RIM")
    if absent:
        problems.append(f"active RIM measurement(s) {_ranges(absent)} missing from the evidence")
    if wrong:
        problems.append(f"block(s) {_ranges(wrong)} not among the RIM's values")
    return problems


def _ranges(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:12]) + (" ..." if len(numbers) > 12 else "")


def _gpu_measurements(run: _Run, policy: Policy, devices: list[Any]) -> None:
    """Each GPU's signed SPDM measurement blocks against the policy's pinned values."""
    pinned = policy.gpu.allowed_measurements
    if not pinned:
        return
    if not devices:
        run.check("policy.gpu.measurements", False, "no verified GPU measurements to compare")
        return
    for n, device in enumerate(devices):
        reported = device.get("measurements") or {}
        wrong = [
            str(index)
            for index, allowed in sorted(pinned.items())
            if _unhex(reported.get(str(index))) not in allowed
        ]
        run.check(
            f"policy.gpu.{n}.measurements",
            not wrong,
            f"the {len(pinned)} pinned measurement block(s) have allowed values"
            if not wrong
            else f"measurement block(s) {', '.join(wrong)} missing or not among the allowed values",
        )


# --- helpers ---------------------------------------------------------------------------


def _pinned(
    run: _Run,
    policy: Policy,
    name: str,
    value: bytes | None,
    allowed: frozenset[bytes],
    what: str,
) -> None:
    """An unpinned value fails under ``require_tee`` (a policy that pins no measurement for a TEE
    accepts no guest of that TEE) and passes, saying so, otherwise."""
    if not allowed:
        if value is None:
            run.check(name, False, f"{what} unreadable")
        elif policy.require_tee:
            run.check(
                name,
                False,
                f"{what} {value.hex()[:16]}... is not pinned by the policy: with require_tee an "
                "unpinned TEE accepts no guest",
            )
        else:
            run.check(name, True, f"{what} not pinned (require_tee = false: any value accepted)")
    elif value in allowed:
        run.check(name, True, f"{what} {value.hex()[:16]}... is allowed")
    else:
        run.check(
            name,
            False,
            f"{what} {value.hex() if value else 'unreadable'} is not among the {len(allowed)} allowed value(s)",
        )


#: Claims that are the verifier's own bookkeeping, not statements of the evidence.
VERIFIER_CLAIMS = frozenset(
    {"policy", "pieces", "ignored_pieces", "tee", "ak_source", "unsigned_claims"}
)
#: Claim -> the checks that must all pass for a signature to cover it.
SIGNED_BY = {
    "collected_at": ("evidence.age",),
    "pcrs": ("tpm.quote.signature", "tpm.quote.pcr_digest"),
    "eventlog": ("tpm.quote.signature", "tpm.quote.pcr_digest", "eventlog.pcrs.sha256"),
    "sevsnp": ("sevsnp.report.signature", "sevsnp.chain.path"),
    "tdx": (
        "tdx.quote.signature",
        "tdx.qe_report.signature",
        "tdx.pck_chain",
        "tdx.collateral.tcb_info",
    ),
    "gpu": ("nvidia.",),
    "rek_public_key": ("tpm.quote.signature",),
}


def _mark_unsigned(run: _Run) -> None:
    """Lists, as ``claims["unsigned_claims"]``, every evidence claim no passing signature check
    covers (a node can write anything there); the verifier's own claims are not listed."""
    unsigned = []
    for key in sorted(run.claims):
        if key in VERIFIER_CLAIMS:
            continue
        needed = SIGNED_BY.get(key)
        if needed is None or not all(_passed_all(run, n) for n in needed):
            unsigned.append(key)
    run.claims["unsigned_claims"] = unsigned


def _unhex(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return None
    return None
