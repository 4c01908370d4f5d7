"""Makes sure the Debian software TPM (swtpm) is there, or skips with the reason (fails under ``CI``).

``make test`` installs it first (``scripts/install-swtpm.sh``); this covers a bare ``pytest`` run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .prerequisites import missing

if TYPE_CHECKING:
    from openpcc.node_identity import NodeIdentity

INSTALL = Path(__file__).resolve().parents[2] / "scripts" / "install-swtpm.sh"


def ensure_swtpm() -> None:
    if shutil.which("swtpm"):
        return
    if os.geteuid() != 0 or not INSTALL.exists():
        missing("swtpm is not installed and we are not root: run scripts/install-swtpm.sh as root")
    result = subprocess.run([str(INSTALL)], capture_output=True, text=True, check=False)
    if result.returncode != 0 or not shutil.which("swtpm"):
        missing(f"scripts/install-swtpm.sh could not install swtpm: {result.stderr.strip()[-300:]}")


@contextmanager
def provisioned_node() -> Iterator[NodeIdentity]:
    """A compute-node identity provisioned on a fresh swtpm of its own, closed afterwards."""
    from openpcc.node_identity import NodeIdentity
    from openpcc.tpm import SwtpmProcess, TpmClient

    ensure_swtpm()
    with SwtpmProcess() as proc:
        client = TpmClient(proc.transport())
        identity = NodeIdentity.provision(client)
        try:
            yield identity
        finally:
            identity.close()
            client.close()
