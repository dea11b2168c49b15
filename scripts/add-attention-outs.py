#!/usr/bin/env python3
"""Gives the attn.attention statements of .mlir files a destination.

attn.attention is in destination-passing style since issue 10: its text form
ends in `outs(%init)`. This rewrites statements written before that (in
tests of branches made earlier) in place: a tensor.empty of the result type
(with tensor.dim of Q for a dynamic batch or length, of V for a dynamic
value head dim) goes before the statement, above any expected-error lines
that point at it, and `outs(%init_<result>)` after its result type. CHECK
lines and statements that have a destination are left alone.

    scripts/add-attention-outs.py test/some/file.mlir ...
"""
import re
import sys

STMT = re.compile(r'^(\s*)(%[\w.$-]+)\s*=\s*attn\.attention\b')


def split_top(text):
    """`text` split at the commas outside brackets."""
    parts, depth, cur = [], 0, ''
    for ch in text:
        depth += ch in '<([{'
        depth -= ch in '>)]}'
        if ch == ',' and depth == 0:
            parts.append(cur.strip())
            cur = ''
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def convert(text):
    lines, out, i, changed = text.split('\n'), [], 0, 0
    while i < len(lines):
        m = STMT.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, result = m.group(1), m.group(2)
        j = i
        while '->' not in lines[j]:
            j += 1
        stmt = ' '.join(line.strip() for line in lines[i:j + 1])
        if 'outs(' in stmt:
            out.extend(lines[i:j + 1])
            i = j + 1
            continue
        head, rtype = stmt.rsplit('->', 1)
        rtype = rtype.strip()
        body = head.split('attn.attention', 1)[1]
        operands = re.findall(r'%[\w.$-]+', body.split(':', 1)[0])
        types = split_top(body.split(' : ', 1)[1]) if ' : ' in body else []
        name = 'init_' + re.sub(r'\W', '_', result[1:])
        new, dynamic = [], []
        shape = re.match(r'tensor<(.*)x([a-z]\w*)>$', rtype)
        for d, extent in enumerate(shape.group(1).split('x') if shape else []):
            if extent != '?':
                continue
            src, stype = ((operands[2], types[2]) if d == 3
                          else (operands[0], types[0]))
            new.append(f'{indent}%{name}_c{d} = arith.constant {d} : index')
            new.append(f'{indent}%{name}_d{d} = tensor.dim {src}, '
                       f'%{name}_c{d} : {stype}')
            dynamic.append(f'%{name}_d{d}')
        new.append(f'{indent}%{name} = tensor.empty({", ".join(dynamic)}) '
                   f': {rtype}')
        k = len(out)
        while k and out[k - 1].lstrip().startswith('//') and \
                'expected-' in out[k - 1]:
            k -= 1
        out[k:k] = new
        block = lines[i:j + 1]
        block[-1] = block[-1].rstrip() + f' outs(%{name})'
        out.extend(block)
        changed += 1
        i = j + 1
    return '\n'.join(out), changed


for path in sys.argv[1:]:
    new_text, n = convert(open(path).read())
    if n:
        open(path, 'w').write(new_text)
        print(f'{path}: {n} attention(s) given a destination')
