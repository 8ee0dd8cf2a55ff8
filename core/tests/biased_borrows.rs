//! The borrow flags biased to a storage's maker (`ft_core::storage::bias`):
//! its own guards take no locked instruction, another thread's first access
//! revokes the bias, and every conflict is still refused across the switch.
//! (Where the process cannot bias, `membarrier` missing or
//! `FT_BIASED_BORROWS=0`, every check below holds on the shared flags.)

use ft_core::ErrorKind;
use ft_core::storage::{Storage, bias};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

#[test]
fn the_maker_owns_the_flags_until_another_thread_touches_them() {
    let s = Arc::new(Storage::zeroed(64).unwrap());
    assert_eq!(s.is_biased_here(), bias::enabled());
    // The maker's read guard, taken on the biased path, is seen by the
    // other thread: its write is refused, its read allowed.
    let r = s.read().unwrap();
    let s2 = s.clone();
    thread::spawn(move || {
        assert_eq!(s2.write().unwrap_err().kind(), ErrorKind::Borrow);
        assert!(!s2.is_biased_here());
        drop(s2.read().unwrap());
    })
    .join()
    .unwrap();
    assert!(!s.is_biased_here());
    // Still held: a write from anywhere is refused until it is released.
    assert!(s.write().is_err());
    let s2 = s.clone();
    assert!(thread::spawn(move || s2.write().is_err()).join().unwrap());
    drop(r);
    let s2 = s.clone();
    thread::spawn(move || s2.write().unwrap().bytes_mut()[0] = 7)
        .join()
        .unwrap();
    assert_eq!(s.read().unwrap().bytes()[0], 7);
    assert_eq!(s.version(), 1);
}

#[test]
fn a_write_begun_before_the_revocation_refuses_readers_until_it_ends() {
    let s = Arc::new(Storage::zeroed(64).unwrap());
    let mut w = s.write().unwrap();
    w.bytes_mut()[0] = 3;
    let s2 = s.clone();
    assert!(thread::spawn(move || s2.read().is_err()).join().unwrap());
    // The maker's own further access, now on the shared path, sees its
    // write too.
    assert!(s.read().is_err());
    assert!(s.write().is_err());
    drop(w);
    let s2 = s.clone();
    assert_eq!(
        thread::spawn(move || s2.read().unwrap().bytes()[0])
            .join()
            .unwrap(),
        3
    );
    drop(s.write().unwrap());
    assert_eq!(s.version(), 2);
}

/// Fills the bytes with one value under a write guard, or checks under a
/// read guard that they all hold one value: a reader that ever saw a
/// half-written storage would find two.
fn hammer(s: &Storage, value: u8, rounds: usize, torn: &AtomicU64, done: &AtomicU64) {
    for i in 0..rounds {
        if i % 2 == 0 {
            if let Ok(mut w) = s.write() {
                w.bytes_mut().fill(value);
                done.fetch_add(1, Ordering::Relaxed);
            }
        } else if let Ok(r) = s.read() {
            let b = r.bytes();
            if b.iter().any(|&x| x != b[0]) {
                torn.fetch_add(1, Ordering::Relaxed);
            }
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn revoking_while_the_maker_reads_and_writes_never_tears_the_bytes() {
    let torn = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    // Many storages, each revoked at some point of its maker's loop of
    // guards: the other thread starts hammering when told to, so the
    // revocation lands while the maker holds a guard or between two.
    for round in 0..300 {
        let s = Arc::new(Storage::zeroed(4096).unwrap());
        let go = Arc::new(AtomicBool::new(false));
        let (s2, go2, torn2, done2) = (s.clone(), go.clone(), torn.clone(), done.clone());
        let other = thread::spawn(move || {
            while !go2.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            hammer(&s2, 0xB0, 400, &torn2, &done2);
        });
        for i in 0..400 {
            if i == round % 50 {
                go.store(true, Ordering::Release);
            }
            hammer(&s, 0x0A, 1, &torn, &done);
            hammer(&s, 0x0A, 2, &torn, &done);
        }
        go.store(true, Ordering::Release);
        other.join().unwrap();
        assert!(!s.is_biased_here() || !bias::enabled());
    }
    assert_eq!(torn.load(Ordering::Relaxed), 0);
    assert!(done.load(Ordering::Relaxed) > 100_000);
}

#[test]
fn biased_guards_are_not_send() {
    // A biased borrow is released by plain stores only its owner may make:
    // guards must not move to another thread (this fails to compile if
    // they become `Send`), while `&guard` may be shared.
    fn is_sync<T: Sync>() {}
    is_sync::<ft_core::storage::ReadGuard<'static>>();
    is_sync::<ft_core::storage::WriteGuard<'static>>();
    trait NotSend {
        const IS_SEND: bool = false;
    }
    impl<T: ?Sized> NotSend for T {}
    struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
    #[allow(dead_code)]
    impl<T: ?Sized + Send> Probe<T> {
        const IS_SEND: bool = true;
    }
    const { assert!(!Probe::<ft_core::storage::ReadGuard<'static>>::IS_SEND) };
    const { assert!(!Probe::<ft_core::storage::WriteGuard<'static>>::IS_SEND) };
}
