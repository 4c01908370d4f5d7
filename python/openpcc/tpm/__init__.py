"""A compact TPM 2.0 command client for compute nodes (swtpm in tests, ``/dev/tpmrm0`` on hosts).

Why speak the TPM command protocol directly instead of binding tpm2-tss (``tpm2-pytss``)?
Only compute nodes talk to a TPM, and the client wheel must stay free of system libraries:
tpm2-pytss needs the tpm2-tss shared libraries and a C toolchain at install time. The dozen
commands a node needs (CreatePrimary, Create, Load, CertifyCreation, Quote, PCR_Read,
PCR_Extend, StartAuthSession, PolicyPCR, PolicyGetDigest, ECDH_ZGen, FlushContext) are a few
hundred lines of marshalling over one transport abstraction, with no dependency at all.
Every structure the TPM returns is then verified by the Rust core (``openpcc.attestation.tpm``).

Sessions are password (``TPM_RS_PW``, empty auth) for hierarchies and keys. The request-encryption
key is used through a policy session (its ``authPolicy`` is PolicyPCR) that is salted to the SRK
(ECDH with an ephemeral key, KDFe "SECRET") and encrypts ECDH_ZGen's response with AES-128-CFB
under the session key (KDFa "ATH", then "CFB"): the shared point Z never crosses the TPM interface
in the clear, and the command and response carry the session HMAC.
"""

from openpcc.tpm.client import TpmClient
from openpcc.tpm.transport import DeviceTransport, SwtpmProcess, TcpTransport, Transport

__all__ = ["DeviceTransport", "SwtpmProcess", "TcpTransport", "TpmClient", "Transport"]
