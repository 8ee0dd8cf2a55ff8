// Ad-hoc probe (not part of the build): one core or two streaming a 64 MiB f32 sum
// as 1..16 concurrent streams, on 2 MiB pages (MADV_HUGEPAGE) or 4 KiB pages (MADV_NOHUGEPAGE).
// rustc -O -C target-cpu=native page_streams.rs && T=1 ./page_streams && SMALL=1 T=1 ./page_streams
// (T: threads; SMALL: 4 KiB pages). Output of one run: runs/kernels-v15-page-streams.txt
use std::time::Instant;
use std::arch::x86_64::*;
extern "C" { fn madvise(addr: *mut u8, len: usize, advice: i32) -> i32; fn posix_memalign(p: *mut *mut u8, a: usize, n: usize) -> i32; }
#[target_feature(enable = "avx512f")]
unsafe fn one(p: *const f32, n: usize) -> f32 {
    let mut a = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n { for k in 0..4 { a[k] = _mm512_add_ps(a[k], _mm512_loadu_ps(p.add(i + 16 * k))); } i += 64; }
    _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])))
}
// S streams, each a contiguous 1/S of the data; each step reads 64 B x U from each stream
#[target_feature(enable = "avx512f")]
unsafe fn multi<const S: usize, const U: usize>(p: *const f32, n: usize) -> f32 {
    let len = n / S;
    let mut a = [[_mm512_setzero_ps(); U]; S];
    let mut i = 0;
    while i + 16 * U <= len {
        for s in 0..S { for u in 0..U { a[s][u] = _mm512_add_ps(a[s][u], _mm512_loadu_ps(p.add(s * len + i + 16 * u))); } }
        i += 16 * U;
    }
    let mut t = _mm512_setzero_ps();
    for s in 0..S { for u in 0..U { t = _mm512_add_ps(t, a[s][u]); } }
    _mm512_reduce_add_ps(t)
}
fn main() {
    let n = 16usize << 20;
    let huge = std::env::var("SMALL").is_err();
    let mut p = std::ptr::null_mut();
    let f = unsafe { posix_memalign(&mut p, 2 << 20, n * 4); madvise(p, n * 4, if huge {14} else {15}); let f = p as *mut f32; for i in 0..n { *f.add(i) = (i % 1000) as f32 * 0.001; } f as *const f32 };
    let names = ["1 stream", "2x2", "4x1", "4x2", "8x1", "16x1"];
    let mut res = vec![vec![]; names.len()];
    for _ in 0..9 { for k in 0..names.len() {
        let mut best = f64::MAX;
        let th: usize = std::env::var("T").map(|v| v.parse().unwrap()).unwrap_or(1);
        let run = |f: *const f32, n: usize| unsafe { match k { 0 => one(f, n), 1 => multi::<2,2>(f, n), 2 => multi::<4,1>(f, n), 3 => multi::<4,2>(f,n), 4 => multi::<8,1>(f,n), _ => multi::<16,1>(f,n) } };
        let fa = f as usize;
        for _ in 0..6 { let t = Instant::now();
            let v: f32 = if th == 1 { run(f, n) } else { std::thread::scope(|sc| { let h = sc.spawn(move || run((fa as *const f32).wrapping_add(n/2), n/2)); run(fa as *const f32, n/2) + h.join().unwrap() }) };
            std::hint::black_box(v); best = best.min(t.elapsed().as_secs_f64()); }
        res[k].push(n as f64 * 4.0 / best / 1e9);
    } }
    for (k, name) in names.iter().enumerate() { let mut v = res[k].clone(); v.sort_by(|a,b| a.partial_cmp(b).unwrap()); println!("{name:10} median {:.1} GB/s  {:?}", v[v.len()/2], v.iter().map(|x| (x*10.0).round()/10.0).collect::<Vec<_>>()); }
}
