#!/usr/bin/env bash
# The repository stands alone: no tracked file may point outside it, to the
# reference folder that sat beside it while it was written (the parent's
# "shared" folder) or to documents that live there. A plain clone with nothing
# beside it must build, test and read the same.
#
#   tests/repo/self_contained_test.sh [REPO_ROOT]
set -uo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT" || { echo "FAIL: cannot enter $ROOT"; exit 1; }

# The patterns are split so that this file does not match itself.
DOTS='\.\.'
PATTERN="${DOTS}/shared|/work/shared|shared/(fixtures|docs|seeds|hooks)|(WIRE|DESIGN|STYLE)\.md"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files)
  source_of_list="git ls-files"
else
  # Not a git checkout (an exported tarball): every file but build output.
  mapfile -t files < <(find . -type f -not -path './build*' -not -path './.git/*' -not -path './tools/.local/*' \
                         | sed 's|^\./||')
  source_of_list="find (not a git checkout)"
fi
if [ "${#files[@]}" -lt 10 ]; then
  echo "FAIL: only ${#files[@]} files listed by $source_of_list in $ROOT; is this the repository?"
  exit 1
fi

# This file names the patterns, so it is the one file not searched.
self="tests/repo/self_contained_test.sh"
hits=$(printf '%s\0' "${files[@]}" | grep -zvxF "$self" | xargs -0 grep -nIE "$PATTERN" -- 2>/dev/null || true)
if [ -n "$hits" ]; then
  echo "FAIL: tracked files refer to material outside the repository (use examples/wire and docs/wire-formats.md):"
  echo "$hits"
  exit 1
fi
echo "ok: ${#files[@]} files ($source_of_list), none refers outside the repository"
