"""A separate process using a wallet against the real banks: ``python -m support.wallet_child JSON``.

JSON keys: ``path``, ``bank_url``, ``auth_url``, ``api_key_file``, ``action`` (``refill``, ``close``,
``refund`` (of the credit in ``refund``, hex) or ``take``), ``count`` (for ``take``: print that many credits, hex, one a line), ``kill_at`` (a fault step
at which the process SIGKILLs itself) and ``settings`` (WalletSettings fields).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from openpcc import config
from openpcc.credits import Credit
from openpcc.wallet import HTTPBankClient, Wallet, WalletSettings, direct_transport

from .currency_key import load_test_currency_key


def main() -> None:
    args = json.loads(sys.argv[1])
    api_key = config.read_key_file(Path(args["api_key_file"])).decode().strip()
    bank = HTTPBankClient(
        direct_transport(args["bank_url"]), direct_transport(args["auth_url"]), api_key
    )
    kill_at = args.get("kill_at")

    def fault(step: str) -> None:
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    key = load_test_currency_key().public_key()
    wallet = Wallet(
        args["path"], bank, key, WalletSettings(**args["settings"]), use_keyring=False, fault=fault
    )
    if args["action"] == "refill":
        wallet.refill()
    elif args["action"] == "close":
        wallet.close()
    elif args["action"] == "refund":
        wallet.deposit_refund(Credit.decode(bytes.fromhex(args["refund"])))
    else:
        for _ in range(args["count"]):
            print(wallet.take().encode().hex(), flush=True)


if __name__ == "__main__":
    main()
