"""Sealing and checking one run folder: the byte-level contract of docs/SEAL_CONTRACT.md.

Owns hashing, the two manifests and the root hash, run ids, the run envelope (`run.json`), the
run store (staging, atomic publish), the folder inspector (the one judge of a folder) and
validation, the line-ending diagnosis, relpath rules, git state, file and fault-injection
helpers, and the schema catalog that validation checks artifacts and `run.json` against
(jsonschema-rs decides first, jsonschema is the reference and writes the messages).

Imports nothing else of the core but `errors` and `_json`: a run folder can be sealed and
validated with every other subpackage absent. The run store publishes into anything shaped like
a workspace (`run_store.RunsHome`) rather than importing `workspace/`.
"""
