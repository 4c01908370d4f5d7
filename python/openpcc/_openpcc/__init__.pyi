from . import attestation as attestation
from . import bhttp as bhttp
from . import compute as compute
from . import hpke as hpke
from . import ohttp as ohttp

__version__: str
