"""Sealing and checking one run folder: the byte-level contract of docs/SEAL_CONTRACT.md.

Owns hashing, the two manifests and the root hash, run ids, the run envelope (`run.json`), the
run store (staging, atomic publish), validation (`validate.py`: the folder inspector, the one
judge of a folder), the verdicts and the line-ending diagnosis, relpath rules, git state, and
the schema catalog that validation checks artifacts and `run.json` against (jsonschema-rs, the
one engine; the tests compare it with jsonschema, the reference).

Imports nothing of the core but its bottom layer (`errors`, `fs`, `jsonl`, `json_strict`,
`faults`): a run folder can be sealed and
validated with every other subpackage absent. The run store publishes into anything shaped like
a workspace (`run_store.RunsHome`) rather than importing `workspace/`.
"""
