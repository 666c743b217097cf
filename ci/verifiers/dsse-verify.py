"""Verifies the DSSE envelope of a Sigstore bundle with securesystemslib (the key's keyid is
set to the envelope's empty keyid, which DSSE does not sign). Exit 0 verified, 1 rejected.

usage: python dsse-verify.py BUNDLE.json PUBLIC.pem
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

bundle_path, key_path = sys.argv[1:3]
try:
    with open(bundle_path, "rb") as f:
        envelope = Envelope.from_dict(json.load(f)["dsseEnvelope"])
    with open(key_path, "rb") as f:
        found = SSlibKey.from_crypto(load_pem_public_key(f.read()))
    key = SSlibKey("", found.keytype, found.scheme, found.keyval)
    envelope.verify([key], 1)
    print(f"securesystemslib: verified ({found.scheme})")
except Exception as e:  # any failure is a rejection
    print(f"securesystemslib: rejected: {type(e).__name__}: {e}")
    sys.exit(1)
