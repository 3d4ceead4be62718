"""The help texts of `registry pointers`."""

EPILOG = """\
examples:
  registry pointers show
  registry pointers promote op_status_table 2026-11-21__101500__op_status_table_build \\
      --expect 2026-11-20__101500__op_status_table_build --reason "reviewed"
  registry pointers rollback drift_signals --to 2026-11-19__090000__drift_signals_build \\
      --reason "bad threshold pack"
  registry pointers release drift_signals --reason "pack fixed"
  registry pointers hold run_registry --reason "freeze for the audit"
  registry pointers accept expected_versions --reason "pinned by hand for the audit"
  registry pointers history drift_signals --json
  registry pointers verify --expect-head "$(cat journal-head.txt)"
  registry pointers as-of 2026-11-20T18:00:00Z
  registry pointers check rolepack 2026-11-21__101500__rolepack_build
  registry pointers repair expected_versions --reason "undo the hand edit"
  registry pointers repair --reason "a journal line was deleted; evidence kept"

A rollback, a hold and an accepted hand edit hold the registry: builds still build and check it
but do not promote it until `registry pointers release` (or a person promotes a snapshot). A
pointer file edited by hand stops builds and promotions with POINTER_MISMATCH until the edit is
undone (`registry pointers repair REGISTRY`) or recorded with `registry pointers accept`.

One publish gate: every move (a build, the promotion job, promote, accept, rollback) needs a
passing promotion receipt for exactly the target's root (.codex/RECEIPTS/<root>.jsonl, written
when a build's blocking checks ran, or by the gate running all of them now). A snapshot that
failed a blocking check never becomes active (CHECK_FAILED names the check); a rollback needs a
receipt (NO_RECEIPT). While `registry pointers verify` fails (CHAIN_BROKEN, POINTER_MISMATCH,
...), no pointer moves until `registry pointers repair`.

exit codes: 0 done (also when nothing had to change), 1 refused (CAS_CONFLICT, TARGET_INVALID,
NOT_NEWER, NOT_OLDER, LOCKED, POINTER_MISMATCH, JOURNAL_CORRUPT, CHECK_FAILED, NO_RECEIPT,
CHAIN_BROKEN, ...) or verification failed, 2 bad usage"""

DESCRIPTION = """\
The active pointer file (.codex/ACTIVE_REGISTRY_POINTERS_v0_1.json) is the only mutable file of
a workspace: it names each registry's active snapshot. Every change is a compare-and-swap under
a lock (.codex/ACTIVE_REGISTRY_POINTERS_v0_1.json.lock), validates its target again and is
recorded first in a hash-chained journal (.codex/ACTIVE_REGISTRY_POINTERS_JOURNAL_v0_1.jsonl).
show, history, verify and as-of only read."""

SHOW = """\
Print each registry's active snapshot: run id, root hash (first 12 hex digits), when it became
active, then the state of the run folder it names, validated again (ok, missing, wrong_registry,
root_mismatch, or invalid: CODES), the journal's verdict when it does not explain the pointer
(POINTER_MISMATCH, a hand edit) and any hold. The catalog's registries come first ("no pointer
by design" for those without one, "none" when nothing is active yet), then pointers the catalog
does not list; a workspace without a catalog shows its pointers alone. Changes no pointer.
Exit 0."""

HISTORY = """\
Print the pointer journal, oldest first: per record its number, time, action (promote,
rollback, hold, release, accept, abort), registry, the run ids before and after, the actor and
the reason; --json prints every record with its sha256. With REGISTRY_ID, only that registry's
records. Exit 0; 1 JOURNAL_CORRUPT when a line cannot be read (see `registry pointers verify`);
2 UNKNOWN_REGISTRY when REGISTRY_ID is in none of the catalog, the pointer file and a non-empty
journal."""

PROMOTE = """\
Make RUN_ID, a sealed snapshot of REGISTRY_ID in .codex/RUNS/, the registry's active snapshot.
Under the lock the target is validated again (seal and schemas), must be newer than the active
one (by created_utc, then run id; moving back is `registry pointers rollback`) and must pass the
publish gate: its promotion receipt, or every blocking check of its registry run now (append-only,
coordination, rules: as a build runs them) and their receipt written. The change is journaled,
naming the receipt, then the pointer file is replaced atomically. A person's promotion also ends
a hold. Exit 0 when promoted or already active (nothing changes); 1 when refused (CHECK_FAILED,
CAS_CONFLICT, TARGET_INVALID, TARGET_MISSING, NOT_NEWER, POINTER_MISMATCH, CHAIN_BROKEN, LOCKED,
...)."""

ROLLBACK = """\
Make RUN_ID, an older valid snapshot of REGISTRY_ID, active again and hold the registry there:
builds still build and check it but do not promote it until `registry pointers release` (or a
person promotes a snapshot). The target is validated again, must be older than the active one
and must have a passing promotion receipt (its checks passed when it was built: NO_RECEIPT
otherwise, `registry pointers check` runs them). Exit 0 when rolled back or already active; 1
when refused (NOT_OLDER, also when nothing is active; NO_RECEIPT, CHECK_FAILED, CAS_CONFLICT,
TARGET_INVALID, POINTER_MISMATCH, LOCKED, ...); 2 without a reason."""

HOLD = """\
Stop automatic promotion of REGISTRY_ID (by `registry build` and the promotion job): builds still
build and check it. The hold is journaled; the active snapshot does not change. Exit 0 when held
or already held (nothing changes); 1 NO_POINTER when nothing is active, POINTER_MISMATCH when the
pointer file was edited by hand; 2 without a reason."""

RELEASE = """\
Lift the hold that `hold`, a rollback or an accepted hand edit left on REGISTRY_ID: automatic
promotion resumes. The release is journaled; the active snapshot does not change. Exit 0 when
released or not held (nothing changes); 1 POINTER_MISMATCH when the pointer file was edited by
hand."""

ACCEPT = """\
Record the pointer file's current entry for REGISTRY_ID, which the journal does not explain (a
hand edit: builds and promotions stop with POINTER_MISMATCH), as a journaled decision, after
validating the snapshot it names and passing it through the publish gate (a snapshot that failed
a blocking check is refused: CHECK_FAILED). The registry is then held until `registry pointers
release`. Exit 0 when accepted; 1 NOTHING_TO_ACCEPT when the journal explains the entry,
TARGET_MISSING or TARGET_INVALID when the entry names no valid snapshot (`registry pointers
repair REGISTRY` restores the journal's value), CHECK_FAILED; 2 without a reason."""

VERIFY = """\
Replay the journal from its first record: every line must parse, each record must name the
previous one's sha256 (CHAIN_BROKEN), follow its number (SEQ_GAP) and start from the pointer the
registry had reached (FROM_MISMATCH), and the replay must give the pointer file (POINTER_MISMATCH);
every active target must be here (TARGET_MISSING) with the root its pointer records
(TARGET_CHANGED).
Notes that are no failure: a torn last line left by a crash, an interrupted change the next one
completes, aborted changes, accepted edits, pointers older than the journal, a change in
progress. On success it prints the record count and the head (the last record's sha256): keep
it, and pass it later as --expect-head. Changes nothing. Exit 0 when the journal holds, 1 when
it does not, 2 for a malformed --expect-head."""

AS_OF = """\
Replay the journal up to TIMESTAMP and print, per registry, the snapshot that was active then,
with the time and number of the registry's last journal record at or before TIMESTAMP. TIMESTAMP
is an ISO 8601 time with a zone (2026-11-20T18:00:00Z, 2026-11-20T19:00:00+01:00) or a date,
meaning the end of that UTC day. Only the journal is read: a pointer it never recorded is not
shown. Exit 0; 1 JOURNAL_CORRUPT; 2 BAD_TIMESTAMP."""
