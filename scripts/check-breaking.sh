#!/usr/bin/env bash
# Breaking-change gate for the public contract: `buf breaking` (rules from
# buf.yaml: FILE for proto/, none for the vendored third_party/proto) on the
# working tree against the contract as it was before this change:
#
#   on a branch (HEAD is not main's tip):  the merge-base with main
#                                          (origin/main preferred, else main)
#   on main (CI: a fresh clone of main):   HEAD~1, the commit before the last
#   no such commit (single-commit or shallow clone, no main): skipped, exit 0
#
# The working tree is always the side under test, so uncommitted edits count.
# The baseline is exported with `git archive` into a temporary directory rather
# than read through buf's `.git#ref=...` input: that needs no clone depth for
# old commits and works the same in a fresh clone, a worktree or a detached HEAD.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

say() { printf 'check-breaking: %s\n' "$*"; }
commit_of() { git rev-parse --verify --quiet "$1^{commit}" 2>/dev/null; }

# Picks the baseline commit (prints nothing when there is none).
baseline() {
  local main head
  head=$(commit_of HEAD) || return 0
  for ref in origin/main main; do
    main=$(commit_of "$ref") || continue
    if [ "$main" != "$head" ]; then
      say "HEAD is not $ref: comparing with its merge-base with $ref" >&2
      git merge-base HEAD "$main" || true
      return 0
    fi
    break # HEAD is main's tip: fall through to HEAD~1
  done
  if commit_of HEAD~1 >/dev/null; then
    say "HEAD is main: comparing with HEAD~1" >&2
    commit_of HEAD~1
  fi
}

if ! git rev-parse --git-dir >/dev/null 2>&1; then
  say "not a git checkout: no baseline, skipped"
  exit 0
fi
base=$(baseline)
if [ -z "$base" ]; then
  say "no baseline commit (single-commit or shallow clone?): no baseline, skipped"
  exit 0
fi

# The baseline's workspace: buf.yaml and every module it names must come along.
paths=$(git ls-tree --name-only "$base" -- buf.yaml buf.lock proto third_party)
if ! grep -qx buf.yaml <<<"$paths" || ! grep -qx proto <<<"$paths"; then
  say "$(git log -1 --format='%h %s' "$base") has no buf.yaml or proto/: no baseline, skipped"
  exit 0
fi
against=$(mktemp -d)
trap 'rm -rf "$against"' EXIT
# shellcheck disable=SC2086 # one path per word, none with spaces
git archive --format=tar "$base" -- $paths | tar -x -C "$against"

say "buf breaking: working tree vs $(git log -1 --format='%h %s' "$base")"
buf="$root/node_modules/.bin/buf"
[ -x "$buf" ] || buf="npx buf"
if $buf breaking --against "$against"; then
  say "OK: no breaking change"
else
  say "FAILED: the change above breaks the public contract (proto/)." >&2
  say "Add new fields/messages/RPCs instead of renaming, renumbering or removing; see docs/clients.md." >&2
  exit 1
fi
