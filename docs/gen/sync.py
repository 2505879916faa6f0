#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Refresh (or, with --check, verify) the generated blocks of the docs.

    docs/gen/sync.py [--check] CFGDOC_TOOL [FILE...]

A generated block is every line between a BEGIN and an END marker:
  Markdown:  <!-- BEGIN generated: ramp_cfgdoc md controller -->
             <!-- END generated -->
  roff:      .\\" BEGIN generated: ramp_cfgdoc roff agent
             .\\" END generated
The marker names the command whose output the block holds (ramp_cfgdoc
is CFGDOC_TOOL, the built tool). Without FILEs: docs/operations.md,
man/ramp-controller.8 and man/ramp-agent.8 under the source tree.
--check exits 1, naming each stale file, and changes nothing.
"""
import os
import re
import subprocess
import sys

BEGIN = re.compile(r'^(?:<!--|\.\\")\s*BEGIN generated: ramp_cfgdoc ((?:md|roff) (?:controller|agent))\s*(?:-->)?\s*$')
END = re.compile(r'^(?:<!--|\.\\")\s*END generated\s*(?:-->)?\s*$')


def refresh(path, tool):
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    out, i, blocks = [], 0, 0
    while i < len(lines):
        m = BEGIN.match(lines[i])
        out.append(lines[i])
        i += 1
        if not m:
            continue
        blocks += 1
        while i < len(lines) and not END.match(lines[i]):
            i += 1
        if i == len(lines):
            sys.exit(f'{path}: BEGIN generated without END')
        gen = subprocess.run([tool] + m.group(1).split(), check=True,
                             capture_output=True, text=True).stdout
        out.extend(gen.rstrip('\n').split('\n'))
        out.append(lines[i])
        i += 1
    if blocks == 0:
        sys.exit(f'{path}: no generated block')
    return '\n'.join(out)


def main(argv):
    check = len(argv) > 0 and argv[0] == '--check'
    if check:
        argv = argv[1:]
    if not argv:
        sys.exit(__doc__)
    tool, files = argv[0], argv[1:]
    if not files:
        top = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        files = [os.path.join(top, p) for p in
                 ('docs/operations.md', 'man/ramp-controller.8',
                  'man/ramp-agent.8')]
    stale = []
    for path in files:
        new = refresh(path, tool)
        with open(path, encoding='utf-8') as f:
            old = f.read()
        if new == old:
            continue
        if check:
            stale.append(path)
        else:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(new)
            print(f'updated {path}')
    for path in stale:
        print(f'{path}: generated settings are out of date; run '
              '`make docs-sync` in a build directory', file=sys.stderr)
    return 1 if stale else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
