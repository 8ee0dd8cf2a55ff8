# Fits tanh(x)/x = P(x^2)/Q(x^2) toward minimax ulp error and evaluates the
# f32-rounded coefficients as a kernel would; the finding (every rational form
# is 5+ ulp near 1 in f32, ours 2.17) is perf-artifacts/kernels-v11-tanh-rational-tried.md.
# Needs numpy. Run: python conformance/oracle/fit_tanh.py
import numpy as np, sys
f32 = np.float32
def ev32(x, p, q):
    # f32 evaluation as the kernel does it: s = x*x; P, Q by Horner with FMA; x*P / Q
    x = x.astype(np.float32)
    s = (x.astype(np.float64)*x).astype(np.float32)
    def horner(c):
        acc = np.full_like(s, f32(c[-1]))
        for k in range(len(c)-2, -1, -1):
            acc = (acc.astype(np.float64)*s + np.float64(f32(c[k]))).astype(np.float32)
        return acc
    P = horner(p); Q = horner(q)
    num = (x.astype(np.float64)*P).astype(np.float32)
    return (num.astype(np.float64)/Q).astype(np.float32)

def ulp_err(got, x):
    want = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want)/ulp

def fit(m, n, X, iters=60):
    # tanh(x)/x = P(s)/Q(s), p0 = q0 = 1
    g = np.concatenate([np.linspace(1e-3, X, 20000), np.geomspace(1e-4, 1e-3, 200)])
    x = g; s = x*x; y = np.tanh(x)
    ulp = np.spacing(y.astype(np.float32)).astype(np.float64)
    A = np.concatenate([np.stack([x*s**k for k in range(1, m+1)], 1), np.stack([-y*s**k for k in range(1, n+1)], 1)], 1)
    b = y - x
    w = np.ones_like(x); Qp = np.ones_like(x)
    best = None
    for it in range(iters):
        W = w/(Qp*ulp)
        c, *_ = np.linalg.lstsq(A*W[:,None], b*W, rcond=None)
        p = np.concatenate([[1.0], c[:m]]); q = np.concatenate([[1.0], c[m:]])
        Pv = np.polyval(p[::-1], s); Qv = np.polyval(q[::-1], s)
        err = (x*Pv/Qv - y)/ulp
        e = np.abs(err).max()
        if best is None or e < best[0]: best = (e, p, q)
        Qp = np.abs(Qv)
        w = w*(1 + 2*np.abs(err)/e); w /= w.mean()
    return best

def check(p, q, X):
    # dense f32 grid: every f32 in [2^-12, X] stepping by bits, plus tiny ones
    lo = np.float32(2**-12).view(np.uint32); hi = np.float32(X).view(np.uint32)
    bits = np.arange(lo, hi+1, 3, dtype=np.uint32)
    x = bits.view(np.float32)
    x = np.concatenate([x, np.geomspace(1e-38, 2**-12, 20000).astype(np.float32)])
    xc = np.minimum(x, f32(X))
    got = ev32(xc, p, q)
    e = ulp_err(got, x.astype(np.float64))
    i = e.argmax()
    return e.max(), float(x[i])

if __name__ == "__main__":
    for (m, n) in [(3,3),(4,3),(5,3),(4,4),(5,4),(6,3)]:
        for X in (7.9, 9.0):
            e, p, q = fit(m, n, X)
            p32 = [f32(v) for v in p]; q32 = [f32(v) for v in q]
            emax, at = check(p32, q32, X)
            # beyond X: tanh rounds to 1 only if X large enough; check x in [X, 10]
            x2 = np.linspace(X, 12, 2000).astype(np.float32)
            e2 = ulp_err(ev32(np.full_like(x2, f32(X)), p32, q32), x2.astype(np.float64)).max()
            print(f"m={m} n={n} X={X}: exact-arith {e:.3f} ulp; f32 eval max {emax:.3f} ulp at {at:.6g}; beyond X {e2:.2f}")
            sys.stdout.flush()
