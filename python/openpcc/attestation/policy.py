"""Attestation policy: what evidence a client accepts (a TOML document, see docs/attestation-policy.md).

Unknown keys and wrongly typed values are errors (:class:`~openpcc.exceptions.PolicyError`), so
a typo never silently weakens a policy. Omitted keys take the *production* defaults: a TEE report
is required, debug is forbidden, the client nonce must be bound, evidence must be recent.

A policy fails closed at load (:func:`load_policy`):

* with ``require_tee`` it must pin what it trusts: at least one launch measurement
  (``sevsnp.allowed_measurements`` or ``tdx.allowed_mrtd``), and for SEV-SNP a minimum TCB
  (``sevsnp.min_tcb`` bootloader, tee, snp, microcode). Without them any guest on any patch level
  would pass; the error names the missing keys.
* a maximum evidence age needs ``require_nonce``: the collection time is authenticated only
  through the quote's qualifying data, which exists only with the client's nonce.
* a value written as a ``"<placeholder>"`` (``policies/production.toml`` is such a template) is
  an error until it is filled in.

:meth:`Policy.production` gives the production *defaults* with nothing pinned: evidence from a
TEE fails its measurement checks under it (an unpinned TEE section accepts no guest).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from openpcc.attestation.bundle import EvidenceType
from openpcc.exceptions import OpenPCCError, PolicyError

__all__ = [
    "GpuPolicy",
    "Policy",
    "SevSnpPolicy",
    "TdxPolicy",
    "TpmPolicy",
    "TrustRoots",
    "check_fails_closed",
    "load_policy",
]

#: PCRs the reference binds the REK to and quotes (spec §6.1), SHA-256 bank.
REFERENCE_PCRS = (0, 1, 2, 3, 4, 5, 7, 8, 12)
#: Quoted PCRs replayed from the firmware event log: PCR 12 (the model hash) is extended by the
#: node's software after boot, so no firmware log covers it.
EVENTLOG_PCRS = (0, 1, 2, 3, 4, 5, 7, 8)
SNP_TCB_COMPONENTS = ("bootloader", "tee", "snp", "microcode", "fmc")
#: SEV-SNP TCB components a production policy must set a minimum for (``fmc`` is Turin only).
SNP_REQUIRED_MIN_TCB = ("bootloader", "tee", "snp", "microcode")
TDX_TCB_STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
)
_DEFAULT_REQUIRED = ("TPM_QUOTE", "TPM_CERTIFY_REK_CREATION", "TPMT_PUBLIC")


def _frozen(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class SevSnpPolicy:
    """``[sevsnp]``: pinned launch measurements (empty = no SEV-SNP guest accepted under
    ``require_tee``), minimum TCB, the VMPL the report must come from, and whether a migration
    agent may be associated with the guest (guest policy bit MIGRATE_MA)."""

    allowed_measurements: frozenset[bytes] = frozenset()
    min_tcb: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    vmpl: int = 0
    allow_migration_agent: bool = False


@dataclass(frozen=True)
class TdxPolicy:
    """``[tdx]``: pinned MRTD (empty = no TDX guest accepted under ``require_tee``) and RTMR
    values, and the Intel TCB statuses accepted (``UpToDate`` by default; ``OutOfDate``,
    ``ConfigurationNeeded``, ``SWHardeningNeeded``… only when listed)."""

    allowed_mrtd: frozenset[bytes] = frozenset()
    allowed_rtmr: Mapping[int, frozenset[bytes]] = field(default_factory=lambda: _frozen({}))
    allowed_tcb_status: frozenset[str] = frozenset({"UpToDate"})


@dataclass(frozen=True)
class GpuPolicy:
    """``[gpu]``: pinned SPDM measurement blocks (block index -> allowed 48-byte values; empty =
    not pinned) every GPU of the evidence must report, and NVIDIA reference integrity manifests
    (``rims``: the RIM files' bytes, parsed at load) checked against ``rim_roots`` (PEM).

    GPU evidence is accepted only when its measurements are pinned or RIM-checked
    (:attr:`measured`): no signed field of NVIDIA's evidence says whether confidential-computing
    mode is on (docs/eventlog-nvidia.md), so only the measurements can show it."""

    allowed_measurements: Mapping[int, frozenset[bytes]] = field(
        default_factory=lambda: _frozen({})
    )
    rims: tuple[bytes, ...] = ()
    rim_roots: bytes | None = None

    @property
    def measured(self) -> bool:
        return bool(self.allowed_measurements) or bool(self.rims)


@dataclass(frozen=True)
class TpmPolicy:
    """``[tpm]``: the REK's PolicyPCR set, PCR golden values, event-log replay set, and whether
    weak AKs (RSA under 2048 bits, SHA-1 signatures) are accepted."""

    rek_pcrs: tuple[int, ...] = REFERENCE_PCRS
    eventlog_pcrs: tuple[int, ...] = EVENTLOG_PCRS
    golden_pcrs: Mapping[int, frozenset[bytes]] = field(default_factory=lambda: _frozen({}))
    #: Accept an RSA AK under 2048 bits and SHA-1 signatures (refused by default).
    allow_weak_ak: bool = False


@dataclass(frozen=True)
class TrustRoots:
    """``[trust_roots]``: PEM text replacing the built-in anchors (``None`` = built-in).

    ``amd_chain``: the ASK/ASVK (and ARK) to build SEV-SNP chains with instead of the built-in
    intermediates. ``amd_arks``: the ARKs to trust *instead of* AMD's built-in roots; then no
    built-in intermediate is offered either, so ``amd_chain`` must be set too.
    """

    amd_chain: bytes | None = None
    amd_arks: bytes | None = None
    intel_root: bytes | None = None
    nvidia_device_root: bytes | None = None
    tpm_ak_intermediates: tuple[bytes, ...] = ()

    def __repr__(self) -> str:
        set_ = [
            n
            for n in ("amd_chain", "amd_arks", "intel_root", "nvidia_device_root")
            if getattr(self, n)
        ]
        return (
            f"TrustRoots(overridden={set_}, tpm_ak_intermediates={len(self.tpm_ak_intermediates)})"
        )


@dataclass(frozen=True)
class Policy:
    """A parsed policy. Build with :func:`load_policy`, :meth:`production` or :meth:`dev`."""

    name: str = "production"
    require_tee: bool = True
    danger_allow_software_tpm: bool = False
    forbid_debug: bool = True
    require_nonce: bool = True
    accept_reference_binding: bool = False
    require_gpu: bool = False
    max_evidence_age: timedelta | None = timedelta(minutes=5)
    required_evidence: frozenset[EvidenceType] = frozenset(
        EvidenceType.parse(n) for n in _DEFAULT_REQUIRED
    )
    sevsnp: SevSnpPolicy = SevSnpPolicy()
    tdx: TdxPolicy = TdxPolicy()
    tpm: TpmPolicy = TpmPolicy()
    gpu: GpuPolicy = GpuPolicy()
    trust_roots: TrustRoots = TrustRoots()

    @classmethod
    def production(cls) -> Policy:
        """The production defaults: a TEE report is required, no debug, nonce-bound evidence at
        most 5 minutes old. Nothing is pinned, so no TEE guest passes its measurement checks:
        load a policy that pins your fleet's values with :func:`load_policy` (which refuses one
        that pins nothing)."""
        return cls()

    @classmethod
    def dev(cls) -> Policy:
        """Accepts a software TPM with no TEE (a laptop or CI node). Never for real clients."""
        return cls(
            name="dev",
            require_tee=False,
            danger_allow_software_tpm=True,
            max_evidence_age=timedelta(hours=1),
        )


def load_policy(document: bytes | str) -> Policy:
    """Parses a TOML policy. Raises :class:`~openpcc.exceptions.PolicyError` with the key at fault."""
    try:
        text = document.decode("utf-8") if isinstance(document, bytes) else document
        raw = tomllib.loads(text)
    except UnicodeDecodeError:
        raise PolicyError("policy is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy is not valid TOML: {exc}") from None
    policy = _Reader(raw, "").policy()
    check_fails_closed(policy)
    return policy


def check_fails_closed(policy: Policy) -> None:
    """Raises :class:`~openpcc.exceptions.PolicyError` naming the keys a policy is missing to
    fail closed (see the module docstring)."""
    if policy.max_evidence_age is not None and not policy.require_nonce:
        raise PolicyError(
            "max_evidence_age_seconds is set but require_nonce is false: the collection time is "
            "signed only through the quote's qualifying data with the client's nonce; set "
            "require_nonce = true or max_evidence_age_seconds = 0"
        )
    if policy.require_gpu and not policy.gpu.measured:
        raise PolicyError(
            "require_gpu = true but GPU measurements are neither pinned "
            "(gpu.allowed_measurements) nor checked against NVIDIA RIMs (gpu.rim_files): no "
            "signed field of the GPU's evidence shows confidential-computing mode, so any GPU "
            "state would pass"
        )
    if not policy.require_tee:
        return
    snp, tdx = policy.sevsnp, policy.tdx
    if not snp.allowed_measurements and not tdx.allowed_mrtd:
        raise PolicyError(
            "require_tee = true but the policy pins no launch measurement: set "
            "sevsnp.allowed_measurements (with sevsnp.min_tcb) and/or tdx.allowed_mrtd; "
            "without them any guest image on any patch level would pass"
        )
    if snp.allowed_measurements:
        missing = [f"sevsnp.min_tcb.{c}" for c in SNP_REQUIRED_MIN_TCB if c not in snp.min_tcb]
        if missing:
            raise PolicyError(
                f"require_tee = true and SEV-SNP measurements are pinned but the minimum TCB is "
                f"not: set {', '.join(missing)}"
            )


class _Reader:
    """Reads one TOML table, tracking the keys used so that leftovers are reported as unknown."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        self.table = table
        self.where = where
        self.used: set[str] = set()

    def _path(self, key: str) -> str:
        return f"{self.where}{key}"

    def _get(self, key: str, kind: type | tuple[type, ...], what: str) -> Any:
        self.used.add(key)
        if key not in self.table:
            return None
        value = self.table[key]
        for item in value if isinstance(value, list) else [value]:
            if _is_placeholder(item):
                raise PolicyError(
                    f"{self._path(key)}: placeholder {item} is not filled in; this policy is a "
                    "template (policies/production.toml): pin your fleet's values before using it"
                )
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise PolicyError(f"{self._path(key)}: expected {what}, got {type(value).__name__}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, bool, "true or false")
        return default if value is None else bool(value)

    def integer(self, key: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self._get(key, int, "an integer")
        if value is None:
            return default
        if isinstance(value, bool) or value < minimum:
            raise PolicyError(f"{self._path(key)}: must be an integer >= {minimum}")
        return int(value)

    def string(self, key: str) -> str | None:
        value = self._get(key, str, "a string")
        return None if value is None else str(value)

    def strings(self, key: str) -> list[str] | None:
        value = self._get(key, list, "a list of strings")
        if value is None:
            return None
        if not all(isinstance(v, str) for v in value):
            raise PolicyError(f"{self._path(key)}: expected a list of strings")
        return list(value)

    def hexes(self, key: str, length: int) -> frozenset[bytes]:
        values = self.strings(key) or []
        return frozenset(_hex(v, length, self._path(key)) for v in values)

    def pcr_list(self, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = self._get(key, list, "a list of PCR indices")
        if value is None:
            return default
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 23 for v in value):
            raise PolicyError(f"{self._path(key)}: PCR indices must be integers 0-23")
        return tuple(sorted(set(value)))

    def sub(self, key: str) -> _Reader:
        value = self._get(key, dict, "a table")
        return _Reader(value or {}, f"{self._path(key)}.")

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise PolicyError(f"unknown policy key(s): {', '.join(self._path(k) for k in unknown)}")

    # --- sections ----------------------------------------------------------

    def policy(self) -> Policy:
        base = Policy()
        name = self.string("name") or "custom"
        age = self.integer("max_evidence_age_seconds", 300)
        required = self.strings("required_evidence")
        policy = Policy(
            name=name,
            require_tee=self.boolean("require_tee", base.require_tee),
            danger_allow_software_tpm=self.boolean(
                "danger_allow_software_tpm", base.danger_allow_software_tpm
            ),
            forbid_debug=self.boolean("forbid_debug", base.forbid_debug),
            require_nonce=self.boolean("require_nonce", base.require_nonce),
            accept_reference_binding=self.boolean(
                "accept_reference_binding", base.accept_reference_binding
            ),
            require_gpu=self.boolean("require_gpu", base.require_gpu),
            max_evidence_age=None if age == 0 else timedelta(seconds=age or 0),
            required_evidence=base.required_evidence if required is None else self._types(required),
            sevsnp=self.sub("sevsnp").sevsnp(),
            tdx=self.sub("tdx").tdx(),
            tpm=self.sub("tpm").tpm(),
            gpu=self.sub("gpu").gpu(),
            trust_roots=self.sub("trust_roots").trust_roots(),
        )
        self.finish()
        return policy

    def _types(self, names: list[str]) -> frozenset[EvidenceType]:
        try:
            return frozenset(EvidenceType.parse(n) for n in names)
        except ValueError as exc:
            raise PolicyError(f"{self._path('required_evidence')}: {exc}") from None

    def sevsnp(self) -> SevSnpPolicy:
        measurements = self.hexes("allowed_measurements", 48)
        tcb = self.sub("min_tcb")
        minimum = {c: v for c in SNP_TCB_COMPONENTS if (v := tcb.integer(c, None)) is not None}
        if any(v > 255 for v in minimum.values()):
            raise PolicyError(f"{self.where}min_tcb: components are 0-255")
        tcb.finish()
        vmpl = self.integer("vmpl", 0)
        if vmpl is None or vmpl > 3:
            raise PolicyError(f"{self.where}vmpl: must be 0-3")
        migration = self.boolean("allow_migration_agent", False)
        self.finish()
        return SevSnpPolicy(frozenset(measurements), _frozen(minimum), vmpl, migration)

    def tdx(self) -> TdxPolicy:
        mrtd = self.hexes("allowed_mrtd", 48)
        rtmr_table = self.sub("allowed_rtmr")
        rtmr = {i: rtmr_table.hexes(str(i), 48) for i in range(4) if str(i) in rtmr_table.table}
        rtmr_table.finish()
        statuses = self.strings("allowed_tcb_status")
        if statuses is not None:
            bad = [s for s in statuses if s not in TDX_TCB_STATUSES]
            if bad:
                raise PolicyError(f"{self.where}allowed_tcb_status: unknown status {bad[0]!r}")
        self.finish()
        return TdxPolicy(
            mrtd,
            _frozen(rtmr),
            frozenset(statuses) if statuses is not None else TdxPolicy().allowed_tcb_status,
        )

    def tpm(self) -> TpmPolicy:
        rek = self.pcr_list("rek_pcrs", REFERENCE_PCRS)
        replay = self.pcr_list("eventlog_pcrs", EVENTLOG_PCRS)
        golden_table = self.sub("pcrs")
        golden: dict[int, frozenset[bytes]] = {}
        for key in list(golden_table.table):
            if not key.isdigit() or int(key) > 23:
                raise PolicyError(f"{golden_table.where}{key}: PCR index must be 0-23")
            golden[int(key)] = golden_table.hexes(key, 32)
        golden_table.finish()
        weak = self.boolean("allow_weak_ak", False)
        self.finish()
        return TpmPolicy(rek, replay, _frozen(golden), weak)

    def gpu(self) -> GpuPolicy:
        table = self.sub("allowed_measurements")
        pinned: dict[int, frozenset[bytes]] = {}
        for key in list(table.table):
            if not key.isdigit() or not 1 <= int(key) <= 254:
                raise PolicyError(f"{table.where}{key}: SPDM measurement index must be 1-254")
            pinned[int(key)] = table.hexes(key, 48)
        table.finish()
        rims = tuple(self._rim_file(path) for path in self.strings("rim_files") or [])
        roots_path = self.string("rim_roots")
        roots = self._rim_roots(roots_path) if roots_path is not None else None
        if rims and roots is None:
            raise PolicyError(
                f"{self.where}rim_files needs {self.where}rim_roots: the PEM file of the RIM "
                "signing root (there is no built-in one)"
            )
        self.finish()
        return GpuPolicy(_frozen(pinned), rims, roots)

    def _rim_file(self, path: str) -> bytes:
        """A RIM file is read and parsed at load: a missing or malformed one is a policy error,
        its signature is checked when evidence is verified (``nvidia.rim.<k>.*``)."""
        from openpcc.attestation.nvidia_rim import parse_rim

        data = _read_file(path, f"{self.where}rim_files")
        try:
            parse_rim(data)
        except OpenPCCError as exc:
            raise PolicyError(f"{self.where}rim_files: {path}: {exc}") from None
        return data

    def _rim_roots(self, path: str) -> bytes:
        from openpcc.attestation.nvidia_rim import load_roots

        data = _read_file(path, f"{self.where}rim_roots")
        try:
            load_roots(data)
        except OpenPCCError as exc:
            raise PolicyError(f"{self.where}rim_roots: {path}: {exc}") from None
        return data

    def trust_roots(self) -> TrustRoots:
        def pem(key: str) -> bytes | None:
            value = self.string(key)
            return None if value is None else value.encode()

        roots = TrustRoots(
            amd_chain=pem("amd_chain"),
            amd_arks=self._amd_arks(pem("amd_arks")),
            intel_root=pem("intel_root"),
            nvidia_device_root=pem("nvidia_device_root"),
            tpm_ak_intermediates=tuple(
                s.encode() for s in (self.strings("tpm_ak_intermediates") or [])
            ),
        )
        if roots.amd_arks is not None and roots.amd_chain is None:
            raise PolicyError(
                f"{self.where}amd_arks replaces the built-in AMD roots and intermediates: "
                f"give the ASK in {self.where}amd_chain too"
            )
        self.finish()
        return roots

    def _amd_arks(self, value: bytes | None) -> bytes | None:
        """Replacing a trust anchor is parsed now: a broken one is a policy error, not a
        verification failure on every report."""
        if value is None:
            return None
        from openpcc.attestation.sevsnp import check_roots

        try:
            check_roots(value)
        except OpenPCCError as exc:
            raise PolicyError(f"{self.where}amd_arks: {exc}") from None
        return value


def _read_file(path: str, where: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise PolicyError(f"{where}: cannot read {path}: {exc.strerror}") from None


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def _hex(text: str, length: int, where: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise PolicyError(f"{where}: {text[:16]!r}... is not hex") from None
    if len(value) != length:
        raise PolicyError(f"{where}: expected {length} bytes of hex, got {len(value)}")
    return value
