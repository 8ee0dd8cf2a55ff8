//! Dispatch's shortcuts for plain calls (`route::plain_route`), calls that
//! record (`route::recorded_route`) and the op an autograd kernel runs
//! below itself (`route::below_autograd_route`) select exactly what the general
//! path selects, which the ledger shows: its own test binary, since the
//! ledger and the mode are process-wide.

use ft_autograd::AutogradExt;
use ft_core::Scalar;
use ft_dispatch::grad_mode::no_grad;
use ft_dispatch::ledger::{self, Fallback, Reason};
use ft_dispatch::route::{below_autograd_route, plain_route, recorded_route};
use ft_dispatch::{Arg, DispatchKey, Frame, Mode, Op, Outputs, Tensor, lookup, with_mode};

/// Whether an entry is a direct selection of `key`'s kernel.
fn direct(e: &ledger::Entry, key: DispatchKey) -> bool {
    e.selected == Some(key) && e.fallback == Fallback::None && e.reason == Reason::Direct
}

#[test]
fn shortcuts_select_what_the_general_path_selects() {
    let a = Tensor::from_slice(&[1.0f32, -2.0, 3.0], &[3]).unwrap();
    let g = a.detach().requires_grad_(true).unwrap();
    let g64 = Tensor::from_slice(&[0.5f64, 1.0, 2.0], &[3])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let gi = Tensor::from_slice(&[1i64, 2, 3], &[3]).unwrap();
    let m = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let one = Arg::Scalar(Scalar::Int(1));
    let half = Arg::Scalar(Scalar::Float(0.5));
    let none = Arg::Str("none");
    let cases: Vec<(Op, Vec<Arg<'_>>)> = vec![
        (Op::AddTensor, vec![Arg::Tensor(&g), Arg::Tensor(&a), one]),
        (Op::AddTensor, vec![Arg::Tensor(&g), Arg::Tensor(&g64), one]),
        (Op::AddTensor, vec![Arg::Tensor(&g), Arg::Tensor(&gi), one]),
        (Op::MulScalar, vec![Arg::Tensor(&g), half]),
        (Op::MulScalar, vec![Arg::Tensor(&g64), half]),
        (Op::Gelu, vec![Arg::Tensor(&g), none]),
        // No autograd kernel: falls through to the CPU kernel.
        (Op::LtTensor, vec![Arg::Tensor(&g), Arg::Tensor(&a)]),
        // A view.
        (
            Op::Transpose,
            vec![Arg::Tensor(&m), Arg::Int(0), Arg::Int(1)],
        ),
        // Not requiring grad at all: the plain shortcut.
        (Op::MulScalar, vec![Arg::Tensor(&a), half]),
    ];
    // `exact`: a shortcut must be taken wherever the general path selects
    // that kernel directly; otherwise only never where it does not. In
    // Hardened mode the general path checks an elementwise output's size
    // before the CPU kernel: no shortcut may reach that kernel.
    let check = |label: &str, exact: bool| {
        let hardened = ft_dispatch::mode::mode() == Mode::Hardened;
        let mut recorded = 0;
        for (op, args) in &cases {
            let f = Frame::new(args).unwrap();
            // What `call` takes before the general path's key set.
            let top = plain_route(*op, &f).or_else(|| recorded_route(*op, &f));
            let below = below_autograd_route(*op, &f);
            ledger::clear();
            let mut o = Outputs::default();
            ft_dispatch::call(*op, &f, &mut o).unwrap();
            let entries = ledger::entries();
            let first = entries.first().expect("the general path records");
            let key = if f.tensors().any(Tensor::requires_grad)
                && ft_dispatch::grad_mode::is_grad_enabled()
            {
                DispatchKey::AUTOGRAD_CPU
            } else {
                DispatchKey::CPU
            };
            let is_direct = direct(first, key);
            if exact {
                assert_eq!(top.is_some(), is_direct, "{label} {op:?}: {first:?}");
            } else {
                assert!(top.is_none() || is_direct, "{label} {op:?}: {first:?}");
            }
            if let Some(k) = top {
                assert!(
                    std::ptr::fn_addr_eq(k, lookup(*op, key).unwrap()),
                    "{label} {op:?}"
                );
                assert!(!hardened || key != DispatchKey::CPU, "{label} {op:?}");
            }
            // The autograd kernel's own call below itself.
            if key == DispatchKey::AUTOGRAD_CPU && is_direct {
                recorded += 1;
                let second = entries.get(1).expect("the op below autograd records");
                assert_eq!(second.op, *op, "{label}");
                let is_direct = direct(second, DispatchKey::CPU);
                if exact {
                    assert_eq!(below.is_some(), is_direct, "{label} {op:?}: {second:?}");
                } else {
                    assert!(below.is_none() || is_direct, "{label} {op:?}: {second:?}");
                }
                assert!(!hardened || below.is_none(), "{label} {op:?}");
                if let Some(k) = below {
                    assert!(std::ptr::fn_addr_eq(
                        k,
                        lookup(*op, DispatchKey::CPU).unwrap()
                    ));
                }
            }
        }
        recorded
    };
    ledger::enable(64);
    with_mode(Mode::Strict, || {
        // Seven of the calls record (all but the comparison and the call
        // without grad).
        assert_eq!(check("strict", true), 7);
        assert_eq!(no_grad(|| check("no_grad", false)), 0);
    });
    with_mode(Mode::Hardened, || {
        check("hardened", false);
    });
    ledger::disable();
}
