"""One error base for the core, the one per-item `Problem` every error carries a list of, and the
one table of what each reason code says (`MESSAGES`), worded by one renderer for every door."""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class Message:
    """What one reason code says, what to do about it, and the exit code of a command it ends."""

    template: str
    """One sentence, `str.format` style over named fields (`{path}`, and those the raiser gives)."""
    hint: str = ""
    """What to do, said after the sentence (the same fields); empty when nothing is to be done."""
    exit: int = 1
    """1 failed or refused, 2 bad usage or bad input (nothing written), 3 a bug, 130 interrupted."""


def _table(text: str) -> dict[str, Message]:
    """`CODE EXIT template || hint` rows, a line that starts with a blank continuing the one
    above, `#` a comment, as `Message`s."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(" "):
            rows[-1][2] += " " + line.strip()
        elif line and not line.startswith("#"):
            rows.append(line.split(maxsplit=2))
    return {row[0]: Message(*row[2].partition(" || ")[::2], exit=int(row[1])) for row in rows}


MESSAGES = _table("""
# any command: the command line, the operating system, the process
BAD_USAGE                     2  {reason}
INTERNAL                      3  {error} || {traceback}; this is a bug, please report it
INTERRUPTED                 130  stopped before it finished (Ctrl-C)
IO_ERROR                      1  {reason} || {advice}
BUILD_IN_PROGRESS             1  another build of this workspace holds its build slot ({path}):
                                 {holder}{waited} || start it again when that one finishes
LOCKED                        1  the lock is held by {holder} || retry when it finishes (a lock
                                 dies with its holder: it never needs removing)
LOG_TORN                      1  the last line is incomplete (no newline: an interrupted append?)
                                 || {remedy}
INPUT_TOO_LARGE               2  {what} is larger than {limit}, the most this command reads ||
                                 split it
RECORD_FILE_UNREADABLE        2  cannot read {what}: {reason}
# the seal contract (docs/SEAL_CONTRACT.md section 7): a run folder's problems
MISSING_REQUIRED_FILE         1  required file {path} is missing
MALFORMED_MANIFEST            2  {reason}
MANIFEST_DISAGREES            1  {reason}
DUPLICATE_ENTRY               2  listed twice in {where}
HASH_MISMATCH                 1  has different content than sealed{diagnosis}
SIZE_MISMATCH                 1  has a different size than sealed{diagnosis}
MISSING_FILE                  1  listed in {where} but missing
UNLISTED_FILE                 1  {reason}
ROOT_MISMATCH                 1  ROOT_SHA256 does not match {against}
UNSAFE_PATH                   2  {reason}
NOT_A_REGULAR_FILE            2  is {kind}, not a regular file
RUN_JSON_INVALID              1  {reason}
RUN_ID_MISMATCH               1  {reason}
SCHEMA_VIOLATION              1  {reason}
JSON_INVALID                  1  not valid {format}: {reason}
NOT_A_RUN_FOLDER              2  not a run folder: {reason}
SEAL_INVALID                  1  {reason}
# sealing, run folders and their schemas (core.seal)
UNREADABLE                    2  cannot read {what}: {reason}
RESERVED_NAME                 2  this name is written by the seal itself
NOTHING_TO_SEAL               2  nothing to seal: {reason}
SOURCE_CHANGED                1  changed since it was checked (sha256:{expected}, now
                                 sha256:{found}); nothing was sealed || build again
SOURCE_UNREADABLE             2  cannot read the source: {reason}
INVALID_REGISTRY_ID           2  a registry id is 1-64 characters of a-z, 0-9 and '_', starting with
                                 a letter
SCHEMAS_MISSING               2  the package's built-in schemas are missing || reinstall
                                 registry-pipeline
SCHEMA_INVALID                2  unusable schema: {reason}
SCHEMA_UNREADABLE             2  cannot read {what}: {reason}
DEST_EXISTS                   2  is already there: the restored copy never replaces anything
DEST_INSIDE_FOLDER            2  is inside the folder to restore ({source}): the copy would alter
                                 the evidence || choose a DEST outside it
DEST_NOT_A_FOLDER             2  is not a folder || DEST must be a folder, or a path where one can
                                 be created
RESTORE_UNRECOVERABLE         1  {count} file(s) match their seal neither as they are nor with their
                                 line endings converted back: {files}; nothing was written
RESTORE_UNVERIFIED            1  the restored copy does not verify; nothing was written
# the workspace (core.workspace)
NOT_A_WORKSPACE               2  {reason}
NO_CATALOG                    2  no registry catalog ({relpath}) in this workspace
CATALOG_INVALID               2  {reason}
COORDINATION_INVALID          2  {reason}
ADOPT_UNSUPPORTED             2  {reason}
NO_SEED_CATALOG               2  no v0.1 registry catalog at {path} inside the repository being
                                 adopted{looked} || pass --catalog PATH to name it
OPERATIONS_UNREADABLE         2  cannot read the operations catalog: {reason}
ADOPT_CONFLICT                2  exists and {why} || move it aside to adopt this repository (nothing
                                 was written)
GIT_STATE_UNKNOWN             1  git cannot tell this workspace's state (git is not on PATH, the
                                 workspace is not inside a git work tree, or `git status` fails
                                 there): builds will record git_commit null and the state
                                 `unknown` (never clean), and nothing was told to git about the
                                 registry layer's own files || make it a committed repository where
                                 git works and run `registry adopt` again
NO_OPERATIONS_CATALOG         1  no operations catalog (OVC_ALLOWED_OPERATIONS_CATALOG_v*.md)
                                 beside the catalog or at the root: op_status_table cannot be built
                                 until one is there || add one, then adopt again
RUN_ROOT_MISSING              1  run root {path} named by the catalog does not exist here: the run
                                 registry indexes none of its runs until it does || check it out,
                                 or correct the catalog
OPERATION_NOT_LISTED          1  {registry_id}: our builder is operation {operation}, which the
                                 operations catalog does not list; built without an operation id
                                 until the catalog lists it || list it, then adopt again
DEPENDENCY_MISSING            1  {registry_id} reads {dependency!r}, which this repository does not
                                 have: its build will be refused until the catalog gets it
UNKNOWN_REGISTRY              2  unknown registry {registry_id!r}; {guess}known: {known}
UNSAFE_RUN_ROOT               2  run root {run_root!r} {reason} || a run root must be a real folder
                                 in the workspace
BAD_SOURCE                    2  {count} problem(s) with the files to seal; nothing was written
SOURCE_NOT_FOUND              2  no such file or folder
INIT_FAILED                   2  cannot {what}: {reason} || run init again once that is fixed
SNAPSHOT_UNREADABLE           2  cannot read its manifest.json: {reason}
FUTURE_DATED                  1  {reason} || this machine's clock is behind, or the folder was
                                 sealed by one ahead: set the clock right
POINTER_TARGETS_GIT_IGNORED   1  the committed pointer file {path} names {count} sealed folder(s)
                                 that git ignores ({folders}): a fresh clone has the pointers but
                                 none of their snapshots || commit the run root, or stop committing
                                 the pointer file
LINE_ENDINGS_CONVERTIBLE      1  .gitattributes lets git convert line endings under {path}: a
                                 converted file no longer matches its seal || add `/{path}** -text`
                                 to it
# the publish gate (core.gate)
CHECK_FAILED                  1  {run_id} failed its blocking checks ({build}, {created}):
                                 {failure}; a snapshot that failed a blocking check never becomes
                                 active || fix the registry and build again
NO_RECEIPT                    1  {run_id} has no promotion receipt: its blocking checks never passed
                                 as a whole, so it cannot be {what} || promote a snapshot instead
RECEIPT_INVALID               1  {reason}
DEPENDENCY_NOT_SEALED         1  {registry_id} has no sealed snapshot that passed its checks to
                                 check against || build it too (`registry build --select
                                 {registry_id} ...`)
REFERRER_BROKEN               1  making {run_id} the active {registry_id} would break the active
                                 {referrer} ({active}), whose {check} check then fails: {failure} ||
                                 change {referrer} too and build both
NO_MATERIALIZATION            1  no materialization of this asset in this run
# the delta log (core.delta_log): a record, a log snapshot, its state companion, the chain
RECORD_INVALID                1  {reason}
PREFIX_VIOLATION              1  {reason}
FROM_MISMATCH                 1  {registry_id}: from_ref must be the registry's previous to_ref in
                                 the log{first}
DUPLICATE_SNAPSHOT            1  {to_run_id} is already a to_ref in the log
OUT_OF_ORDER                  1  {registry_id}: {to_run_id} is ordered before the registry's
                                 previous to_ref {previous}
DERIVATION_MISMATCH           1  an appended record must name the build that appended it
MISSING_SNAPSHOT              1  the previous log snapshot {previous_run_id} is not in RUNS
CHAIN_INPUT_INVALID           1  {reason}
LOG_STATE_MISSING             1  no {artifact}: a log that extends another must be sealed with its
                                 state
LOG_STATE_INVALID             1  {reason}
LOG_STATE_MISMATCH            1  {reason}
NO_VALID_LOG                  1  delta log snapshots exist but none is usable (each fails its seal,
                                 its state or its chain) || run `registry delta verify` for the
                                 reasons
# the active pointers (core.pointers, `registry pointers`)
NO_POINTER                    1  {registry_id} has no active snapshot{why}
TARGET_UNSEALED               1  {run_id} is not sealed: {reason}
LOCK_HELD                     1  a pointer change is in progress: {lock}: {holder}
BAD_HEAD                      2  --expect-head takes a 64-character lowercase hex SHA-256
# the object store (core.objstore): a bucket's objects, its URL and client settings
STORE_URL_INVALID             2  {setting}: {reason}
FOLDER_EXISTS                 1  {run_id} is published in this bucket already
FOLDER_NOT_FOUND              1  {run_id} is not published
REMOTE_STATE_INVALID          1  {path} is not {what} this release wrote ({reason}) || {remedy}
JOURNAL_CORRUPT               1  the journal is unreadable ({reason}) || run `registry pointers
                                 verify`
JOURNAL_MISSING               1  the pointer journal {journal} is gone, but the workspace shows it
                                 existed ({found}): the pointer file is no longer explained by any
                                 history
RECORD_UNREADABLE             1  {reason}
HEAD_NOT_FOUND                1  no record hashes to the expected head {head}: the journal was
                                 truncated before it or rewritten
TORN_TAIL                     1  the last line is an incomplete record ({reason}): a promotion died
                                 while appending it, before the pointer file changed; the next
                                 pointer change removes it
ABORTED                       1  {registry}: {reason}
ACCEPTED_EDIT                 1  {registry}: a hand edit to {ref} was accepted: {reason}
CHAIN_BROKEN                  1  the chain breaks between {before} and this record: its prev_sha256
                                 is {prev}, the line before it hashes to {hashed}; the record before
                                 it was edited, or records between them were removed, inserted or
                                 moved
SEQ_GAP                       1  seq {expected} is missing ({found})
PENDING_RECORD                1  record {seq} ({record}) is journaled but the pointer file was not
                                 replaced (an interrupted promotion); the next pointer change
                                 completes it
NOT_JOURNALED                 1  {registry}: pointer {ref} predates the journal; the first pointer
                                 change records it as found (an `adopt` record)
POINTER_MISMATCH              1  {difference}: the file was edited by hand || `registry pointers
                                 accept {registry_id} --reason TEXT` records the edit (its target
                                 must pass the gate), `registry pointers repair {registry_id}
                                 --reason TEXT` restores the journal's value
POINTERS_INVALID              1  {reason} || `registry pointers repair --all --reason TEXT` keeps
                                 it in .codex/quarantine/ and writes it again from the journal,
                                 each value through the gate
DUPLICATE_MOVE                2  a set moves each registry once; {twice} more than once
REASON_TOO_LONG               2  the reason is {length} characters; at most {most}
NOTHING_TO_ACCEPT             1  the journal already explains the pointer of {registry_id}; nothing
                                 to accept
NOTHING_TO_REPAIR             1  {reason}; nothing to {what}
CAS_CONFLICT                  1  {registry_id}: expected the active snapshot to be {expected}, it is
                                 {found}
HELD                          1  {held} (journal #{seq}, {action} by {by}) || `registry pointers
                                 release {registry_id}` resumes automatic promotion
NO_GATE                       1  this pointer change was called without the publish gate; every
                                 move passes `core.gate.gate.admission`
TARGET_NOT_IN_RUNS            1  {run_id!r} is not the name of a run folder directly under {runs}/
TARGET_MISSING                1  {reason}
TARGET_WRONG_REGISTRY         1  {run_id} is a snapshot of {owner}, not of {registry_id}
TARGET_INVALID                1  {run_id}: {reason}
TARGET_CHANGED                1  the active snapshot {run_id} has root {root}, its pointer records
                                 {recorded}: the sealed folder was changed || `registry validate
                                 --active` says how; promote or roll back to a snapshot that
                                 validates
TARGET_NOT_HERE               1  {reason}
NOT_NEWER                     1  {run_id} is not newer than the active {active} ({stands}) || moving
                                 back is an explicit rollback (registry pointers rollback
                                 {registry_id} --to {run_id} --reason ...)
NOT_OLDER                     1  {run_id} is not older than the active {active} ({stands}) || use
                                 promote
INPUT_NOT_ACTIVE              1  {run_id} was built from {source} {built}, but the active {source}
                                 {active}: a derived snapshot becomes active only with the inputs it
                                 was built from || promote {source} {built} first, or build again
REMOTE_UNSUPPORTED            1  {what}: a journal in a bucket is never rewritten (its entries are
                                 immutable) || {remedy}
CONTENDED                     1  lost the race for the next journal entry {times} times in {seconds}
                                 s to other machines; nothing was changed || try again
BUILD_LEASE_LOST              1  {holder} lost the bucket's build lease {how}: another build may
                                 have built and promoted since, so nothing of it is promoted ||
                                 build again
# append-only catalogs (core.append_only, `registry check-append-only`)
CATALOG_SHAPE                 2  no array at {items} (the entries the {rules} rules check)
ID_REMOVED                    1  {id} was published; deprecate it instead of removing it
DUPLICATE_ID                  1  {id} is also the id of {other}
INVALID_ID                    1  {reason}
ALIAS_COLLISION               1  {reason}
INVALID_CONTRACT_ID           1  {reason}
DUPLICATE_CONTRACT_ID         1  {id} is also declared at {other}
CONTRACT_REMOVED              1  {id} was published; add a new version beside it instead
CONTRACT_SURFACE_DRIFT        1  the published surface of {id} changed ({kind}) || keep it and
                                 publish the change as {instead}
CONTRACT_SURFACE_INVALID      1  {reason}
RULES_INVALID                 2  {what} cannot be used: {reason}
NO_RULES                      2  no catalog entry with append_only rules has {path} among its
                                 sources || pass --rules rolepack (or another preset, or a rules
                                 file)
BASELINE_MISSING              2  {reason} || --require-baseline refuses to check it as a first
                                 publish
BASELINE_REF_UNRESOLVABLE     2  {reason} || --require-baseline refuses to check it as a first
                                 publish
BASELINE_REF_INVALID          2  --baseline-git {ref!r} is not a ref (it must not be empty, start
                                 with '-', or hold ':' or a newline)
NOT_A_GIT_REPOSITORY          2  --baseline-git needs {needs}
BASELINE_UNREADABLE           2  cannot read {what}: {reason}
BASELINE_INVALID              2  the active snapshot of {registry_id} is missing or does not
                                 validate ({verdict}); the append-only check has no trustworthy
                                 baseline
# the write path's logs and registry types (core.write_path)
BAD_ACTOR                     2  {field} must be at most {most} printable characters, not {given}
LOG_UNWRITABLE                1  cannot append to this log: {reason}
LOG_UNREADABLE                1  cannot read the log: {reason}
LOG_INVALID                   1  {reason}
WRITE_UNCONFIRMED             1  written, but its folder could not be synced ({reason}): the change
                                 may not survive a power loss; its audit is recorded
UNKNOWN_TYPE                  2  unknown type {type!r}; {guess}known: {known}
LOG_TYPE                      2  {path} is a record log ({source}): its records are appended with
                                 `registry runs append --index {registry_id}`, never rewritten
REASON_REQUIRED               2  {what} needs --reason TEXT (it is recorded)
UNKNOWN_KEY                   2  no {type} entry {key!r} (deprecate marks an existing entry){guess}
ALREADY_DEPRECATED            1  {type} {key!r} is already deprecated ({field} is {equals!r});
                                 nothing was written
NOT_DEPRECATABLE              2  {path} has no lifecycle field{shape}: its schema allows neither
                                 {fields} || declare one in the coordination file (`lifecycle:
                                 {{{path}: {{field: /FIELD, deprecated: VALUE}}}}`)
DEPRECATED                    1  deprecated ({field} set to {equals!r}): {reason}
ENTRY_INVALID                 2  {reason}
FIELD_TYPE_CHANGED            2  {reason}
UNGOVERNED_NAME               2  no schema governs the file name {name!r}, so it would be sealed
                                 unchecked || name the entry to match {patterns}
REGISTRY_FILE_INVALID         1  must be {shape}
REGISTRY_FILE_MISSING         1  does not exist || create it with its first entry by hand
KEY_MISMATCH                  1  {key!r} does not match the file name {name!r}
KEY_MISSING                   1  every {what} needs a non-empty string key
CONTAINER_MISSING             1  the file has no {shape} at {pointer} (the catalog's container) ||
                                 add one (`{token}: []`) or fix its name
DUPLICATE_KEY                 1  duplicate key{index}; first in {first}
DEPENDENCY_UNREADABLE         1  {type} cannot be read ({reason}): coordination not checked
SPLICE_MISMATCH               3  the {what} would read back differently
INIT_CONFLICT                 2  refusing to initialize: {count} path(s) in the way ({listed}) ||
                                 move them aside and run init again (nothing was written)
# strict YAML (core.yaml_io): a registry file's refusals, after the line they are on
YAML_SYNTAX                   2  {reason}
YAML_ENCODING                 2  not UTF-8 text ({reason})
YAML_TOO_LARGE                2  too large to read: {reason}
YAML_TOO_DEEP                 2  nested more than {limit} levels deep
YAML_MULTIPLE_DOCUMENTS       2  a second document (a registry file holds exactly one)
YAML_ALIAS                    2  the alias *{anchor}: anchors and aliases are not allowed in a
                                 registry file
YAML_MERGE_KEY                2  merge keys (<<) are not allowed in a registry file
YAML_TAG                      2  the tag {tag} is not allowed on {what} (only !!str, !!int,
                                 !!float, !!bool, !!null, !!map and !!seq, each where it fits)
YAML_KEY_NOT_STRING           2  a mapping key must be a string, not {kind} || quote a scalar to
                                 make it a string
YAML_DUPLICATE_KEY            2  duplicate key {key!r} (first at line {first})
YAML_NUMBER_TOO_LARGE         2  an integer of {digits} digits (at most {most})
YAML_NON_FINITE               2  {text} is not a finite number (a registry file's numbers must be)
# explanations and builders (core.explain, core.builders)
UNPARSEABLE                   1  {reason}
BAD_AS_OF                     2  as_of must be YYYY-MM-DDTHH:MM:SSZ (the newest input's created_utc)
BAD_WORKING_TREE_STATE        2  working_tree_state must be clean, dirty or null
BAD_EXPECTED_VERSIONS         2  expected_versions has no `expected` object
PREVIOUS_SNAPSHOT_INVALID     2  the previous seal-status snapshot is malformed: {reason}
BAD_RUN_ROOT                  2  run root label {reason}
OP_STATUS_INPUT_INVALID       2  {reason}
CATALOG_LINE_NOT_UNDERSTOOD   1  {reason}
# the command line's own refusals (cli)
NOTHING_TO_VALIDATE           2  name RUN_FOLDERs or pass --all or --active
POINTERS_MISSING              1  the active pointer file is missing, {reason} || `registry pointers
                                 repair --all --reason TEXT` puts the journal's values back, each
                                 through the gate, before you trust what is active
ENTRY_TOO_LARGE               2  the entry is {size} bytes; at most {limit}
ENTRY_UNPARSABLE              2  not a valid entry: {reason}
INVALID_OPERATION_ID          2  an operation id looks like OP-QA07
BAD_DAY                       2  {field} {text!r} is not a day (YYYY-MM-DD){guess}
BAD_TIMESTAMP                 2  {field} {text!r} is not a day (2026-11-20) or a UTC timestamp
                                 (2026-11-20T18:00:00Z){guess}
BAD_RANGE                     2  {reason}
DAY_NOT_ENDED                 2  {day} has not ended yet (UTC); the last complete day is {last}
PARTITIONED_ASSET             2  {path} has one partition per day || build it with `registry drift
                                 backfill --from DAY --to DAY` (or from the UI)
NOT_A_FOLDER                  2  not a folder
POINTER_FILE_UNREADABLE       1  the pointer file {path} cannot be read ({error}: {reason}) ||
                                 builds refuse it until it is fixed or restored (from git or a
                                 backup)
SNAPSHOTS_ABSENT              1  the pointer file names {count} snapshot(s) absent here
                                 ({absent}): builds will not read them; the first build journals
                                 each entry as found, then promotes its own snapshot over it || to
                                 keep them active, bring those run folders here before the first
                                 build
# the run index (core.run_index, `registry runs`)
NO_RUN_INDEX                  2  the catalog has no run index (a log with a `run_index` block;
                                 docs/RUN_INDEX.md)
UNKNOWN_INDEX                 2  no run index {index!r}; {guess}run indexes: {known}
UNKNOWN_LANE                  2  {path!r} is not a lane of {registry_id}; {guess}lanes: {known}
BAD_LANE                      2  --lane takes FIELD=VALUE, not {text!r}
BAD_DATE                      2  {field} {text!r} {reason}
LOG_MISSING                   1  the run index's log does not exist (create it empty to start one)
INDEX_CHANGED                 1  line {at} is no longer the record the index has (the log was
                                 rewritten while this command ran) || run it again
LOG_WRITTEN_UNLOCKED          1  the log grew from {before} to {after} bytes while this append
                                 held its lock (written without the lock): {outcome} || look at
                                 the log's last lines, then append the records again
RECORD_UNPARSABLE             2  line {line} does not parse: {reason}; nothing was written
NO_RECORDS                    2  no records given (empty input)
SIDECAR_STALE                 1  the {count} record(s) are appended (written and fsynced), but the
                                 sidecar index could not be updated: {reason}. The index stays
                                 consistent: the next query or append brings the sidecar up to the
                                 log, or `registry runs repair --reindex` rebuilds it
NOTES_NOT_RECORDED            1  the records are appended, but {count} finding(s) of severity record
                                 could not be added to the notes log ({reason})
SIDECAR_UNUSABLE              1  {reason}
SIDECAR_DAMAGED               1  the sidecar index turned out damaged while answering; it is rebuilt
                                 from the log on the next command || run it again
SIDECAR_READ_ONLY             1  the sidecar index could not be written ({reason})
SIDECAR_UNWRITABLE            1  the sidecar index could not be updated ({reason})
RECORD_REFUSED                1  {count} problem(s) in the records{more}; nothing was written
AUGMENT_NOT_LATER             2  {reason}
PARTIAL_RETRY                 1  {reason}
OVERRIDE_MISSING              1  {failed} FAILed and the run passed ({success}): name the override
                                 that allows it
OVERRIDE_NOT_LOGGED           1  {override} is not in the overrides log
OVERRIDE_OTHER_RUN            1  {override} is logged for {other!r}, not for this run
OVERRIDE_NOT_COVERING         1  FAILed, but {override} covers only {covered}
# the Dagster layer (lib): its instance, its storage, its steps
INSTANCE_UNAVAILABLE          1  cannot prepare the Dagster instance: {reason}
DAGSTER_STORAGE               1  {reason}
RUN_ID_TAKEN                  1  sealed as {run_id}, but its records name {named} (another build
                                 sealed that id meanwhile) || build again
NO_VALID_INPUT                1  no valid sealed snapshot of {registry_id!r} || build it first
                                 (registry build --select {registry_id})
CHECK_NOT_RUN                 1  {check} was not evaluated: the day is not checked
NOT_MATERIALIZED              1  no snapshot of the day was sealed
RUN_FAILED                    1  {reason} (the run's log is in the UI)
NO_BUILD_RUN                  1  the promotion run names no build run in this instance
                                 ({build_run_id!r})
CHECKS_NOT_PASSED             1  checks not passed: {checks}
""")

SEAL_CODES = ("MISSING_REQUIRED_FILE", "MALFORMED_MANIFEST", "MANIFEST_DISAGREES",
              "DUPLICATE_ENTRY", "HASH_MISMATCH", "SIZE_MISMATCH", "MISSING_FILE", "UNLISTED_FILE",
              "ROOT_MISMATCH",
              "UNSAFE_PATH", "NOT_A_REGULAR_FILE", "RUN_JSON_INVALID", "RUN_ID_MISMATCH",
              "SCHEMA_VIOLATION", "JSON_INVALID", "NOT_A_RUN_FOLDER")  # fmt: skip
ReasonCode = StrEnum("ReasonCode", {code: code for code in SEAL_CODES})  # type: ignore[misc]
"""The seal contract's codes (docs/SEAL_CONTRACT.md) by name, for scripts; rows of `MESSAGES`."""

"""Every reason code: what it says and does. A raiser names the code and the fields (`Problem.of`,
`RegistryError.of`); `test_messages.py` pins each template's wording against a golden line."""


def render(code: str, /, **fields: Any) -> str:
    """The one wording of `code` with `fields`: its template, then its hint."""
    entry = MESSAGES[code]
    said = entry.template.format(**fields)
    return f"{said}; {entry.hint.format(**fields)}" if entry.hint else said


def problem_object(
    code: str,
    message: str,
    *,
    path: str | None = None,
    line: int | None = None,
    field: str | None = None,
    **extra: object,
) -> dict[str, object]:
    """The one `--json` shape of a problem: code, path, line, field, message, then the rest."""
    document: dict[str, object] = {
        "code": code,
        "path": path,
        "line": line,
        "field": field,
        "message": message,
    }
    document.update({key: value for key, value in extra.items() if value is not None})
    return document


def problem_text(problem: Problem | Mapping[str, object], *, error: bool = False) -> str:
    """A problem as one human line, `CODE  path:line: field: message` (`error`: the line that
    heads an error, `error: CODE path: message`): the one text renderer of every door."""
    if isinstance(problem, Problem):
        problem = problem.as_json()
    where = str(problem.get("path") or "")
    message = str(problem.get("message"))
    field, line = problem.get("field"), problem.get("line")
    if field and str(field) not in message:
        message = f"{field}: {message}"
    if line is not None and f"line {line}" not in message:
        where = f"{where}:{line}" if where else f"line {line}"
    if error:
        text = f"error: {problem.get('code')}{' ' + where + ':' if where else ''} {message}"
    else:
        text = f"{problem.get('code')}  {where + ': ' if where else ''}{message}"
    return text.replace("\n", "\\x0a")  # one line: a value's newline (a reason) is escaped


class Hint(StrEnum):
    """Machine-readable diagnoses attached to a problem when its cause is known."""

    LINE_ENDINGS_CONVERTED = "LINE_ENDINGS_CONVERTED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong (or worth knowing), with context to act on; no pydantic, for CLI start-up."""

    code: str
    """The reason code: a row of `MESSAGES`, or a user's rule id."""
    path: str | None = None
    """Relpath inside the run folder, if any."""
    message: str
    """One human sentence saying what is wrong (`MESSAGES`' wording of the code, via `of`)."""
    expected: str | int | None = None
    """What the seal records."""
    found: str | int | None = None
    """What is actually there."""
    hint: Hint | None = None
    """A diagnosed cause, when one is known."""
    line: int | None = None
    """1-based line in the file at `path`, when known."""
    column: int | None = None
    """1-based column on that line, when known (a parser's position)."""
    field: str | None = None
    """The offending field, as a JSON pointer, when known."""
    run_id: str | None = None
    """The run folder the problem was found in, when it is one of many (a delta log's chain)."""
    previous_run_id: str | None = None
    """The older run folder of a pair the problem is between (a link of a chain)."""
    severity: str = "error"
    """`error` fails (a check, a write); `warning` and `note` are told; `record` is logged."""
    subject: tuple[str, ...] = ()
    """What the problem is about, by the names that pick it out, outermost first."""
    related: tuple[str, ...] = ()
    """The other thing involved, named the same way (the entry it collides with, an owner)."""
    extra: Mapping[str, object] = dataclasses.field(default_factory=dict)
    """Whatever else its vocabulary records (a journal record's `seq`, a drift's verdict)."""

    @classmethod
    def of(cls, code: str, /, **fields: Any) -> Problem:
        """The problem `code`, worded by `MESSAGES` with `fields`; those that are a problem's
        own (path, line, expected, ...) are set too."""
        own = {name: fields[name] for name in _OWN.intersection(fields)}
        if own.get("path") is not None:
            own["path"] = fields["path"] = os.fsdecode(own["path"])
        return cls(code=code, message=render(code, **fields), **own)

    def __str__(self) -> str:
        return problem_text(self)

    def as_json(self) -> dict[str, object]:
        """The problem as `problem_object` shapes it (`registry validate --json`), `extra` last."""
        return problem_object(
            str(self.code),
            self.message,
            path=self.path,
            line=self.line,
            field=self.field,
            run_id=self.run_id,
            previous_run_id=self.previous_run_id,
            column=self.column,
            expected=self.expected,
            found=self.found,
            hint=None if self.hint is None else self.hint.value,
            **self.extra,
        )


_OWN = frozenset(f.name for f in dataclasses.fields(Problem)) - {"code", "message"}
"""The fields of `Problem.of` that are also the problem's own."""


class RegistryError(Exception):
    """Base of every error the core raises; `problems` holds its per-item findings."""

    code: str = "REGISTRY_ERROR"
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        problems: Iterable[Problem] = (),
        exit_code: int | None = None,
        headline: str | None = None,
        text: Callable[[Problem], str] = problem_text,
        as_json: Callable[[Problem], dict[str, object]] = Problem.as_json,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if exit_code is not None:
            self.exit_code = exit_code
        self.path = path
        self.line = line
        """1-based line in the file at `path`, when known (a parser's position)."""
        self.column = column
        """1-based column on that line, when known."""
        self.field = field
        """The offending field (a JSON pointer) or option (`--type`), when known."""
        self.problems: tuple[Problem, ...] = tuple(problems)
        """Every per-item finding behind the error, in the order found."""
        self.headline = headline
        """Pending migration (rooms that word their own): a first line of `diagnostics()`."""
        self.problem_text = text
        """Pending migration: one problem as its line of `diagnostics()`."""
        self.problem_json = as_json
        """Pending migration: one problem as its object of `--json`'s `details`."""

    @classmethod
    def of(cls, code: str, /, *, problems: Iterable[Problem] = (), exit_code: int | None = None,
           **fields: Any) -> Self:  # fmt: skip
        """The error `code` as `MESSAGES` words it, with its exit code (a UsageError for exit 2;
        `exit_code` where a door kept another); `path`, `line`, `column` and `field` among
        `fields` are the error's own too."""
        entry = MESSAGES[code]
        if fields.get("path") is not None:
            fields["path"] = os.fsdecode(fields["path"])
        kind = UsageError if cls is RegistryError and entry.exit == 2 else cls
        return kind(render(code, **fields), code=code, exit_code=exit_code or entry.exit,
                    problems=problems, path=fields.get("path"), line=fields.get("line"),
                    column=fields.get("column"), field=fields.get("field"))  # type: ignore[return-value]  # fmt: skip

    def as_json(self) -> dict[str, object]:
        """The error as `--json` prints it: a problem object, its problems under `details`."""
        details = [self.problem_json(problem) for problem in self.problems] or None
        return problem_object(self.code, self.message, path=self.path, line=self.line,
                              field=self.field, column=self.column, details=details)  # fmt: skip

    def diagnostics(self) -> str:
        """The text shown to a user: code, path, message, then one indented line per problem."""
        own = problem_object(self.code, self.message, path=self.path, line=self.line,
                             field=self.field)  # fmt: skip
        lines = [self.headline or problem_text(own, error=True)]
        lines.extend(f"  {self.problem_text(problem)}" for problem in self.problems)
        return "\n".join(lines)

    @property
    def details(self) -> tuple[str, ...]:
        """The problems as the lines `diagnostics()` shows."""
        return tuple(self.problem_text(problem) for problem in self.problems)


class BuildInProgress(RegistryError):
    """Another build holds the workspace's build slot; its own class: callers find it by name."""

    code = "BUILD_IN_PROGRESS"


class UsageError(RegistryError):
    """Bad arguments or unreadable input: the caller must change what they asked for."""

    code = "BAD_USAGE"
    exit_code = 2


IO_ERROR = "IO_ERROR"
"""The operating system failed a read or write (a full disk, a read-only filesystem, a denied
permission, a failing device): the error names the file and says what to do."""

TRY_AGAIN = "then try again"
"""How every piece of advice on an IO_ERROR ends (`io_advice`)."""
DISK_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
"""Errnos of the disk rather than of the file (full, a size limit, failing): IO_ERROR even where
a file that cannot be written has a code of its own."""

_IO_ADVICE = {
    errno.ENOSPC: f"free space on the disk that holds it, {TRY_AGAIN}",
    errno.EDQUOT: f"free space within the disk quota (or raise it), {TRY_AGAIN}",
    errno.EFBIG: f"a file size limit was reached (`ulimit -f`, the filesystem's): raise it, "
    f"{TRY_AGAIN}",
    errno.EROFS: f"the filesystem is mounted read-only: make it writable, {TRY_AGAIN}",
    errno.EACCES: f"give this user access to it, {TRY_AGAIN}",
    errno.EPERM: "it is not this user's to change (another owner, or immutable: `lsattr`): fix "
    f"that, {TRY_AGAIN}",
    errno.EIO: f"the device reported an error: check it (`dmesg`), {TRY_AGAIN}",
}


def io_advice(cause: int | str | None) -> str:
    """What to do about a failed read or write, by its errno or a message naming its strerror."""
    if isinstance(cause, str):
        cause = next((number for number in _IO_ADVICE if os.strerror(number) in cause), None)
    return _IO_ADVICE.get(cause or 0, f"fix its cause, {TRY_AGAIN}")


def advised(message: str) -> str:
    """An IO_ERROR's `message` ending with what to do (`io_advice`), unless it says so already."""
    return message if TRY_AGAIN in message else f"{message}; {io_advice(message)}"


def io_error(
    exc: OSError, path: str | os.PathLike[str] | None = None, *, done: str = ""
) -> RegistryError:
    """IO_ERROR for `exc`: the file it names (else `path`), why (with the errno's name), what
    was or was not `done`, and what to do."""
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = f"{exc.strerror or exc}" + (f" ({name})" if name else "") + (f"; {done}" * bool(done))
    where = exc.filename if exc.filename is not None else path
    if where is not None and exc.filename2 is not None:
        where = f"{os.fsdecode(where)} -> {os.fsdecode(exc.filename2)}"
    return RegistryError.of(IO_ERROR, path=where, reason=reason, advice=io_advice(exc.errno))


@contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """OSErrors of the block that name no file name `path` (a write or fsync on a descriptor)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None
