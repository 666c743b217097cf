"""Writes the DSSE pre-authentication encoding of a bundle's envelope and its raw signature, for
`openssl` to check: PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body.

usage: python pae.py BUNDLE.json PAE.bin SIG.bin
"""
import base64
import json
import sys

with open(sys.argv[1], "rb") as f:
    env = json.load(f)["dsseEnvelope"]
body = base64.b64decode(env["payload"])
kind = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)
with open(sys.argv[2], "wb") as f:
    f.write(pae)
with open(sys.argv[3], "wb") as f:
    f.write(base64.b64decode(env["signatures"][0]["sig"]))
