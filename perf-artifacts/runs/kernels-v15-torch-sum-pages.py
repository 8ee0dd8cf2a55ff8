# Output (2026-12-04, Zen 4 guest): runs 4k, THP, 4k, THP -> 1T/2T medians listed in kernels-v15-sum-one-pass.md
# /tmp/tv/bin/python kernels-v15-torch-sum-pages.py; THP_MEM_ALLOC_ENABLE=1 /tmp/tv/bin/python kernels-v15-torch-sum-pages.py
import torch, time, statistics
a = (torch.rand([16777216]) * 2 - 1)
print([l.strip() for l in open('/proc/self/smaps_rollup') if 'AnonHuge' in l])
for th in [1, 2, 1, 2]:
    torch.set_num_threads(th)
    for _ in range(3): a.sum()
    ts = []
    for _ in range(100):
        t0 = time.perf_counter_ns(); a.sum(); ts.append(time.perf_counter_ns() - t0)
    print(th, "median %.1f GB/s" % (64*2**20 / statistics.median(ts)))
