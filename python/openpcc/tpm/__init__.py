"""A compact TPM 2.0 command client for compute nodes (swtpm in tests, ``/dev/tpmrm0`` on hosts).

Why speak the TPM command protocol directly instead of binding tpm2-tss (``tpm2-pytss``)?
Only compute nodes talk to a TPM, and the client wheel must stay free of system libraries:
tpm2-pytss needs the tpm2-tss shared libraries and a C toolchain at install time. The dozen
commands a node needs (CreatePrimary, Create, Load, CertifyCreation, Quote, PCR_Read,
PCR_Extend, StartAuthSession, PolicyPCR, PolicyGetDigest, ECDH_ZGen, FlushContext) are a few
hundred lines of marshalling over one transport abstraction, with no dependency at all.
Every structure the TPM returns is then verified by the Rust core (``openpcc.attestation.tpm``).

Sessions are password (``TPM_RS_PW``, empty auth) for hierarchies and keys, and an unsalted,
unbound policy session for the request-encryption key: the key's ``authPolicy`` is PolicyPCR,
so the session carries no HMAC. Parameter encryption is not used: nothing secret crosses the
bus (the ECDH input is a peer's public point; the output is the shared point, which a local
attacker on the bus could read, the same exposure as the reference's go-tpm code).
"""

from openpcc.tpm.client import TpmClient
from openpcc.tpm.transport import DeviceTransport, SwtpmProcess, TcpTransport, Transport

__all__ = ["DeviceTransport", "SwtpmProcess", "TcpTransport", "TpmClient", "Transport"]
