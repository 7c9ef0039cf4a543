#!/usr/bin/env bash
# Checks the crate's layering: every `crate::X` a module of server/src refers
# to (in code, not in comments) must be a module declared *before* it in
# server/src/lib.rs. Prints each module's edges; exits 1 on an upward edge.
set -euo pipefail
cd "$(dirname "$0")/../server/src"

mapfile -t order < <(sed -n 's/^pub mod \([a-z_]*\);$/\1/p' lib.rs)
declare -A rank
for i in "${!order[@]}"; do rank[${order[$i]}]=$i; done

status=0
for module in "${order[@]}"; do
    files=()
    [[ -f $module.rs ]] && files+=("$module.rs")
    [[ -d $module ]] && mapfile -t -O "${#files[@]}" files < <(find "$module" -name '*.rs')
    # Code only: drop line comments (doc comments included), then collect
    # the first segment after `crate::`, also inside `use crate::{a, b}`.
    targets=$(sed -e 's://.*$::' "${files[@]}" |
        grep -o 'crate::\([a-z_]*\|{[^}]*\)' |
        sed -e 's/^crate:://' -e 's/[{}]//g' | tr ',' '\n' |
        sed -e 's/^ *//' -e 's/::.*//' | grep -v '^$' | sort -u | grep -vx "$module" || true)
    echo "$module -> $(echo $targets)"
    for target in $targets; do
        if [[ -z ${rank[$target]+x} ]]; then
            echo "  error: $module uses crate::$target, not a module of lib.rs" >&2
            status=1
        elif (( rank[$target] >= rank[$module] )); then
            echo "  error: $module uses $target, which lib.rs lists after it" >&2
            status=1
        fi
    done
done
exit $status
