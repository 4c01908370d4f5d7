"""openpcc: private cloud compute for AI inference, on a Rust core.

The public modules (``openpcc.hpke``, ``openpcc.ohttp``, ``openpcc.bhttp``,
``openpcc.compute``, ``openpcc.attestation``) are thin layers over the
``openpcc._openpcc`` extension; errors live in ``openpcc.exceptions``.
"""

from openpcc._openpcc import __version__
from openpcc.client import AsyncClient, Client, PrivateResponse, VerificationSummary

__all__ = ["AsyncClient", "Client", "PrivateResponse", "VerificationSummary", "__version__"]
