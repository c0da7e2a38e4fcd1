#!/usr/bin/env python3
"""Validates FHIR JSON with an independent implementation: the `fhir.resources` models.

Usage: validate_fhir.py VERSION FILE
  VERSION  stu3 | r4b
  FILE     a JSON list of resources (Bundles are validated with their entries)

Prints one line per invalid resource and exits 1 if any; prints "N valid" otherwise.
The integration tests call this with every response they collect.
"""
import json
import sys


def main() -> int:
    version, path = sys.argv[1], sys.argv[2]
    if version == "stu3":
        from fhir.resources.STU3 import get_fhir_model_class
    elif version == "r4b":
        from fhir.resources.R4B import get_fhir_model_class
    else:
        print(f"unknown FHIR version {version}", file=sys.stderr)
        return 2
    with open(path, encoding="utf-8") as f:
        resources = json.load(f)
    failures = 0
    for i, resource in enumerate(resources):
        kind = resource.get("resourceType", "?")
        try:
            get_fhir_model_class(kind).model_validate(resource)
        except Exception as e:  # the model's own error text says what is wrong
            failures += 1
            print(f"resource {i} ({kind}/{resource.get('id', '?')}): {e}")
    if failures:
        print(f"{failures} of {len(resources)} resources invalid")
        return 1
    print(f"{len(resources)} valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
