from .verdict import Verdict

DEVICE_ROOT_PEM: str

def verify_evidence(
    data: bytes,
    at_unix: int,
    nonce: bytes | None = None,
    roots: bytes | None = None,
    chain: bytes | None = None,
) -> Verdict: ...
def _clear_signature_cache() -> None: ...
