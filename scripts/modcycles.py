#!/usr/bin/env python3
# Module cycles of a crate (no cycles between modules is a rule of this repository; .ci/run checks it).
"""Module cycles of a Rust crate: modcycles.py <crate>/src [-v: show the paths behind each edge]. Edges: crate::/super::/self::/
child paths and use trees outside comments, strings, #[cfg(test)] mods; `pub use` re-exports are followed, not edges."""
import re, sys, pathlib; from itertools import accumulate; src, WHY = pathlib.Path(sys.argv[1]), '-v' in sys.argv
def clean(t):  # drop comments, strings and `#[cfg(test)] mod x { .. }` bodies
    t = re.sub(r'//[^\n]*|/\*(?:.|\n)*?\*/|r(#*)"(?:.|\n)*?"\1|b?"(?:\\.|[^"\\])*"|\'(?:\\.|[^\\\'])\'', ' ', t)
    while m := re.search(r'#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{', t):
        t = t[:m.start()] + t[m.end() + next(k for k, d in enumerate(accumulate((c == '{') - (c == '}') for c in t[m.end():]), 1) if d < 0):]
    return t
mods = {tuple(p[:-1] if p[-1] in ('mod', 'lib', 'main') else p): clean(f.read_text())
        for f in src.rglob('*.rs') for p in [list(f.relative_to(src).with_suffix('').parts)]}
sp, USE = lambda s: [x.strip() for x in s.split('::') if x.strip()], r'(pub(?:\([^)]*\))?\s+)?use\s+([^;]*);'
def expand(pre, t):  # use tree -> [(segments, name)]
    t = t.strip(); m = re.fullmatch(r'(.*?)\{(.*)\}', t, re.S); out, d, cur = [], 0, ''
    if not m: a = re.fullmatch(r'(.*?)\s+as\s+(\w+)', t, re.S); s = pre + sp(a[1] if a else t); return [(s, a[2] if a else s[-1])]
    for c in m[2] + ',':
        d += (c == '{') - (c == '}'); out, cur = (out + (expand(pre + sp(m[1]), cur) if cur.strip() else []), '') if c == ',' and d == 0 else (out, cur + c)
    return out
def absolute(m, segs):  # None: not a path into this crate
    s, base = list(segs), list(m)
    if s[0] == 'crate': return s[1:]
    while s and s[0] in ('super', 'self'): base = base[:-1] if s.pop(0) == 'super' else base
    return base + s if len(s) < len(segs) else (list(m) + s if m + (s[0],) in mods else None)
reexp = {m: {n: a for v, t in re.findall(USE, x) if v for s, n in expand([], t) if (a := absolute(m, s)) and n not in ('self', '*')} for m, x in mods.items()}
def resolve(s, depth=0):
    i = max(i for i in range(len(s) + 1) if tuple(s[:i]) in mods); m = tuple(s[:i]); n = s[i] if i < len(s) else None
    return resolve(reexp[m][n] + s[i + 1:], depth + 1) if n in reexp[m] and depth < 9 else m
edges, why, idx, low, st, out = {m: set() for m in mods}, {}, {}, {}, [], []
for m, x in mods.items():
    for s in [s for v, t in re.findall(USE, x) if not v for s, _ in expand([], t)] + [p.split('::') for p in re.findall(r'(?<![\w:])(\w+(?:::\w+)+)', re.sub(USE, ' ', x))]:
        if (a := absolute(m, s)) is not None and (d := resolve(a)) != m: edges[m].add(d); why.setdefault((m, d), set()).add('::'.join(s))
def tarjan(v):  # strongly connected components
    idx[v] = low[v] = len(idx); st.append(v)
    for w in edges[v]:
        if w not in idx: tarjan(w); low[v] = min(low[v], low[w])
        elif w in st: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]: c = st[st.index(v):]; del st[st.index(v):]; out.extend([c] if len(c) > 1 else [])
sys.setrecursionlimit(10000); [tarjan(v) for v in sorted(mods) if v not in idx]; name = lambda m: '::'.join(m) or 'lib'
for c in out: print('cycle:', ', '.join(sorted(map(name, c)))); [print('   ', name(v), '->', name(w), sorted(why[v, w]) if WHY else '') for v, w in sorted((v, w) for v in c for w in edges[v] if w in c)]
print(f'{len(out)} cycle group(s) in {src} ({len(mods)} modules)')
