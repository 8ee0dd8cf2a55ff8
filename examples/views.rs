//! Views without copies: run with `cargo run --example views`.
use frankentorch::prelude::*;

fn main() -> Result<()> {
    let x = TensorImpl::arange(0.0, 24.0, 1.0, DType::F32)?.view(&[2, 3, 4])?;
    let p = x.permute(&[2, 0, 1])?;
    println!("x:            {x:?}");
    println!(
        "permuted:     shape {:?}, strides {:?}",
        p.shape(),
        p.strides()
    );
    println!("shares storage with x: {}", p.shares_storage(&x));
    let flat = p.reshape(&[-1])?;
    println!(
        "reshape of a permuted view copies: {}",
        !flat.shares_storage(&x)
    );
    println!("first 6: {:?}", &flat.to_vec::<f32>()?[..6]);
    Ok(())
}
