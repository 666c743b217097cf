"""Parses the in-toto Statement in a Sigstore bundle strictly with in-toto-attestation's
protobuf definitions (unknown fields refused) and validates it; an SLSA v1 predicate is parsed
strictly as SLSA Provenance v1 too. Exit 0 valid, 1 rejected.

usage: python in-toto-parse.py BUNDLE.json
"""
import base64
import json
import sys

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement

try:
    with open(sys.argv[1], "rb") as f:
        payload = base64.b64decode(json.load(f)["dsseEnvelope"]["payload"], validate=True)
    pb = json_format.Parse(payload, statement_pb2.Statement(), ignore_unknown_fields=False)
    Statement.copy_from_pb(pb).validate()
    kind = pb.predicate_type
    if kind == "https://slsa.dev/provenance/v1":
        predicate = json.dumps(json.loads(payload)["predicate"])
        prov = json_format.Parse(predicate, provenance_pb2.Provenance(), ignore_unknown_fields=False)
        if not prov.build_definition.build_type or not prov.run_details.builder.id:
            raise ValueError("buildType and builder.id are required")
    print(f"in-toto-attestation: valid Statement v1 ({kind}, {len(pb.subject)} subjects)")
except Exception as e:
    print(f"in-toto-attestation: rejected: {type(e).__name__}: {e}")
    sys.exit(1)
