"""DualPipe's step() (deepseek-ai/DualPipe 3da1bbe, dualpipe/dualpipe.py) transcribed
line by line as action lists, and a dependency-driven timing of them with abstract chunk
times: the oracle of tests/check_dualpipe.c.

  python3 tests/dualpipe_oracle.py --actions PP M RANK   one rank's actions
  python3 tests/dualpipe_oracle.py                       bubbles against the report's
"""
import sys

def actions(pp, m, rank):
    """Transcription of DualPipe.step: returns list of primitive actions."""
    A = []
    half = pp // 2
    second = rank >= half
    first_rank, last_rank = rank == 0, rank == pp - 1
    middle = rank == half - 1 or rank == half
    hr = min(rank, pp - 1 - rank)
    hm = m // 2
    def real(ph): return ph ^ second
    def is_first_stage(d): return (first_rank and d == 0) or (last_rank and d == 1)
    def is_last_stage(d): return (first_rank and d == 1) or (last_rank and d == 0)
    def recv_f(ph):
        d = real(ph)
        if not is_first_stage(d): A.append(('recvF', d))
    def send_f(ph):
        d = real(ph)
        if not is_last_stage(d): A.append(('sendF', d))
    def recv_b(ph):
        d = real(ph)
        if not is_last_stage(d): A.append(('recvB', d))
    def send_b(ph):
        d = real(ph)
        if not is_first_stage(d): A.append(('sendB', d))
    def commit(): A.append(('commit',))
    def fchunk(ph, recv=True, send=True):
        if recv: recv_f(ph)
        commit(); A.append(('F', real(ph)))
        if send: send_f(ph)
    def bchunk(ph, zb=False, recv=True, send=True):
        if recv: recv_b(ph)
        commit(); A.append(('B', real(ph), zb))
        if send: send_b(ph)
    def fbchunk(p0, p1, recv0=True):
        if recv0: recv_f(p0)
        recv_b(p1); commit()
        A.append(('FB', real(p0), real(p1)))
        send_f(p0); send_b(p1)
    def wchunk():
        commit(); A.append(('W',))
    for i in range((half - hr - 1) * 2): fchunk(0)
    s2 = hr + 1
    recv_f(0)
    for i in range(s2):
        fchunk(0, recv=False, send=middle)
        recv_f(0)
        fchunk(1, send=(not middle) or (i < s2 - 1))
        if not middle: send_f(0)
    for i in range(half - hr - 1):
        bchunk(1, zb=True); recv_f(1); wchunk(); fchunk(1, recv=False)
    for i in range(hm - pp + hr + 1):
        if i == 0:
            if middle:
                fchunk(0, recv=False, send=False); send_f(1); bchunk(1, send=False); send_f(0); send_b(1)
            else:
                fbchunk(0, 1, recv0=False)
        else:
            fbchunk(0, 1)
        fbchunk(1, 0)
    for i in range(half - hr - 1):
        bchunk(1); fbchunk(1, 0)
    s6 = hr + 1; zb = False
    for i in range(s6):
        if i == s6 // 2 and hr % 2 == 1: zb = True
        bchunk(1, zb=zb)
        if i == s6 // 2 and hr % 2 == 0: zb = True
        bchunk(0, zb=zb)
    for i in range(half - hr - 1):
        wchunk(); bchunk(0, zb=True)
    for i in range(hr + 1): wchunk()
    commit()
    return A

def simulate(pp, m, F, B, W, FB, lat=0.0):
    """Each rank: sequential. commit waits for all pending recvs; sends leave at commit
    (the batch is posted then) and land lat later. Returns per-rank (end, busy)."""
    acts = [actions(pp, m, r) for r in range(pp)]
    # mailbox arrival times: key (rank, kind, d, idx)
    arrive = {}
    pcs = [0] * pp; t = [0.0] * pp; busy = [0.0] * pp
    pend_recv = [[] for _ in range(pp)]; pend_send = [[] for _ in range(pp)]
    cnt = [dict() for _ in range(pp)]
    def nxt(r, key):
        c = cnt[r].get(key, 0); cnt[r][key] = c + 1; return c
    wq = [[] for _ in range(pp)]
    def dst_of(r, kind, d):
        fwd = (kind == 'F')
        step = 1 if (d == 0) == fwd else -1
        return r + step
    progress = True
    while progress:
        progress = False
        for r in range(pp):
            while pcs[r] < len(acts[r]):
                a = acts[r][pcs[r]]
                k = a[0]
                if k == 'recvF' or k == 'recvB':
                    pend_recv[r].append((k[-1], a[1], nxt(r, (k, a[1]))))
                elif k == 'sendF' or k == 'sendB':
                    pend_send[r].append((k[-1], a[1], nxt(r, (k, a[1]))))
                elif k == 'commit':
                    for (kk, d, i) in pend_send[r]:
                        arrive[(dst_of(r, kk, d), kk, d, i)] = t[r] + lat
                    pend_send[r] = []
                    ok = all((r, kk, d, i) in arrive for (kk, d, i) in pend_recv[r])
                    if not ok: break
                    for (kk, d, i) in pend_recv[r]:
                        t[r] = max(t[r], arrive[(r, kk, d, i)])
                    pend_recv[r] = []
                elif k == 'F':
                    t[r] += F; busy[r] += F
                elif k == 'B':
                    dur = B - W if a[2] else B
                    if a[2]: wq[r].append(1)
                    t[r] += dur; busy[r] += dur
                elif k == 'FB':
                    t[r] += FB; busy[r] += FB
                elif k == 'W':
                    wq[r].pop(0); t[r] += W; busy[r] += W
                pcs[r] += 1; progress = True
    assert all(pcs[r] == len(acts[r]) for r in range(pp)), "deadlock"
    return t, busy

def encode(a):
    """The encoding tests/check_dualpipe.c compares with."""
    k = a[0]
    if k == 'commit': return 'C'
    if k in ('recvF', 'recvB', 'sendF', 'sendB'): return k[0] + k[-1] + str(a[1])
    if k == 'F': return 'F%d' % a[1]
    if k == 'B': return ('b' if a[2] else 'B') + str(a[1])
    if k == 'FB': return 'X%d%d' % (a[1], a[2])
    return 'W'

if __name__ == '__main__':
    if len(sys.argv) == 5 and sys.argv[1] == '--actions':
        pp, m, r = (int(x) for x in sys.argv[2:])
        print(' '.join(encode(a) for a in actions(pp, m, r)))
        sys.exit(0)
    # The bubble of each rank against the report's (PP/2 - 1)(F&B + B - 3W).
    for pp in (4, 6, 8):
        for m in (2 * pp, 2 * pp + 2, 3 * pp):
            for (F, B, W, FB) in ((1.0, 2.0, 1.0, 3.0), (1.3, 2.9, 1.1, 3.7), (0.7, 1.9, 0.4, 2.2)):
                t, busy = simulate(pp, m, F, B, W, FB)
                T = max(t)
                bub = [T - b for b in busy]
                expr = (pp / 2 - 1) * (FB + B - 3 * W)
                print(pp, m, (F, B, W, FB), "T=%.3f" % T, "bubbles", ["%.3f" % x for x in bub], "expr %.3f" % expr)
