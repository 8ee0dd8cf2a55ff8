//! Prints the reference loop's time (`ft_bench::measure::reference_loop_ns`)
//! every `PHASE_MS` milliseconds (default 500), `PHASE_N` times (default
//! 20): which phase the benchmark VM is in.
fn main() {
    let every: u64 = std::env::var("PHASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let n: usize = std::env::var("PHASE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for _ in 0..n {
        println!("{:.1} us", ft_bench::measure::reference_loop_ns() / 1e3);
        std::thread::sleep(std::time::Duration::from_millis(every));
    }
}
