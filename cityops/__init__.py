"""CityOps: the wire contract and command line shared by the edge agent and the cloud hub.

Neither `edge_agent` nor `cloud_hub` imports the other; both import `cityops.contract`.
"""

__version__ = "0.1.0"
