from . import attestation as attestation
from . import bhttp as bhttp
from . import blindrsa as blindrsa
from . import compute as compute
from . import credits as credits
from . import edge as edge
from . import eventlog as eventlog
from . import hpke as hpke
from . import nvidia as nvidia
from . import ohttp as ohttp
from . import sevsnp as sevsnp
from . import tdx as tdx
from . import tpm as tpm
from . import verdict as verdict

__version__: str
