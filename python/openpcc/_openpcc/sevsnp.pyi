from typing import Self

from .verdict import Verdict

def verify_report(
    report: bytes,
    *,
    vcek: bytes | None = None,
    chain: bytes | None = None,
    crl: bytes | None = None,
    at: int,
) -> Verdict: ...
def parse_report(report: bytes) -> Verdict: ...

class SevSnpVerifier:
    def __new__(cls, roots: bytes | None = None) -> Self: ...
    def verify(
        self,
        report: bytes,
        *,
        vcek: bytes | None = None,
        chain: bytes | None = None,
        crl: bytes | None = None,
        at: int,
    ) -> Verdict: ...
