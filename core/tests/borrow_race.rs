//! The storage's reader/writer flag under contention: a reader refused
//! because a write is in progress must leave no trace. (A reader that
//! added to the count before checking for the writer, and subtracted after,
//! could have its add erased by the writer's release in between; its
//! subtraction then wrapped the count into a permanent "being written".)

use ft_core::{DType, TensorImpl};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

#[test]
fn refused_readers_leave_the_borrow_flag_clean() {
    let t = Arc::new(TensorImpl::zeros(&[4], DType::F32).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (t, stop, refused) = (t.clone(), stop.clone(), refused.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if t.as_slice::<f32>().is_err() {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Write until readers have been refused many times (each refusal is
    // a chance for the old race), within a bound.
    let mut writes = 0u64;
    for i in 0..50_000_000u64 {
        if t.fill_(1.0f32).is_ok() {
            writes += 1;
        }
        if i >= 1_000_000 && refused.load(Ordering::Relaxed) >= 1_000_000 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(writes > 0);
    // Nothing holds the storage now: a write must succeed, and so a read.
    t.fill_(2.0f32)
        .expect("the flag was left in a borrowed state");
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![2.0; 4]);
}
