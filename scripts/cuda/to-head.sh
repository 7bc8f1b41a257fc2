#!/usr/bin/env bash
# Writes .device/to-head.sh, which puts the device copy of the working tree back to HEAD: files that differ from
# HEAD (helpers' unfinished work) are restored from .device/head/, untracked ones removed. Run it here before a
# device call that carries .device; start the device command with `bash .device/to-head.sh`.
cd "$(dirname "$0")/../.."
rm -rf .device/head && mkdir -p .device/head
{
  echo '#!/usr/bin/env bash'
  git ls-files --others --exclude-standard | while read -r f; do echo "rm -f '$f'"; done
  git diff --name-only HEAD | while read -r f; do
    if git cat-file -e "HEAD:$f" 2>/dev/null; then
      mkdir -p ".device/head/$(dirname "$f")"
      git show "HEAD:$f" > ".device/head/$f"
      echo "cp '.device/head/$f' '$f'"
    else
      echo "rm -f '$f'"
    fi
  done
} > .device/to-head.sh
