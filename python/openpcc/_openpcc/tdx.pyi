from typing import Self

from .verdict import Verdict

def verify_quote(
    quote: bytes,
    *,
    collateral: bytes | None = None,
    at: int,
    root: bytes | None = None,
    accept_tcb_status: list[str] | None = None,
) -> Verdict: ...
def parse_quote(quote: bytes) -> Verdict: ...
def verify_azure_hcl(hcl_report: bytes, *, quote: bytes | None = None) -> Verdict: ...

class TdxVerifier:
    def __new__(cls, root: bytes | None = None) -> Self: ...
    def verify(
        self,
        quote: bytes,
        *,
        collateral: bytes | None = None,
        at: int,
        accept_tcb_status: list[str] | None = None,
    ) -> Verdict: ...
