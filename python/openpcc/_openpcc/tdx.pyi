def verify_quote(
    quote: bytes,
    *,
    collateral: bytes | None = None,
    at: int,
    root: bytes | None = None,
) -> str: ...
def parse_quote(quote: bytes) -> str: ...
