//! An op's output over every f32 input (all 2^32 bit patterns), hashed:
//! two builds that print the same hash compute the same bits (NaN outputs
//! count as one value, whatever their sign and payload). For checking
//! that a faster formula changed nothing.
//!
//! `cargo run --release -p ft-bench --example unary_bits -- tanh [exp ...]`
use ft_core::TensorImpl;
use ft_kernels::UnaryOp;

fn main() {
    let ops: Vec<String> = std::env::args().skip(1).collect();
    const CHUNK: u64 = 1 << 24;
    for name in &ops {
        let op = match name.as_str() {
            "tanh" => UnaryOp::Tanh,
            "exp" => UnaryOp::Exp,
            "expm1" => UnaryOp::Expm1,
            "sigmoid" => UnaryOp::Sigmoid,
            "gelu" => UnaryOp::Gelu,
            "erf" => UnaryOp::Erf,
            other => panic!("unknown op {other}"),
        };
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut nans = 0u64;
        for c in 0..(1u64 << 32) / CHUNK {
            let xs: Vec<f32> = (c * CHUNK..(c + 1) * CHUNK)
                .map(|b| f32::from_bits(b as u32))
                .collect();
            let x = TensorImpl::from_slice(&xs, &[xs.len()]).expect("x");
            let y = ft_kernels::unary(op, &x).expect("op");
            for v in y.to_vec::<f32>().expect("y") {
                let bits = if v.is_nan() {
                    nans += 1;
                    0x7fc0_0000
                } else {
                    v.to_bits()
                };
                hash = (hash ^ bits as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        println!("{name:8} {hash:016x} ({nans} NaN outputs)");
    }
}
