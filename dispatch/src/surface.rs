//! The op surface: every kernel reachable as a method of [`Tensor`], with
//! PyTorch's names and argument order, each returning `Result` and going
//! through dispatch. In-place forms end in `_`; `_out` forms write into a
//! tensor the caller gives (and allocate nothing when it has the right
//! shape and dtype).

use crate::Tensor;
use crate::frame::{Arg, Frame, Outputs};
use crate::ops::Op;
use crate::route;
use ft_core::{DType, Result, Scalar};

#[inline]
fn run(op: Op, args: &[Arg<'_>]) -> Result<Outputs> {
    let mut out = Outputs::default();
    route::call(op, &Frame::new(args)?, &mut out)?;
    Ok(out)
}

/// One new tensor. The result goes from the kernel's slot straight to the
/// caller: no `Result<Outputs>` (two tensors wide) is moved in between.
#[inline]
fn new(op: Op, args: &[Arg<'_>]) -> Result<Tensor> {
    let mut out = Outputs::default();
    route::call(op, &Frame::new(args)?, &mut out)?;
    out.one()
}

/// In place and `out=`: the result is in a tensor the caller has, so the
/// kernel's slot stays empty and nothing is moved back.
#[inline]
fn into(op: Op, args: &[Arg<'_>]) -> Result<()> {
    let mut out = Outputs::default();
    route::call(op, &Frame::new(args)?, &mut out)
}

const ONE: Arg<'static> = Arg::Scalar(Scalar::Int(1));

macro_rules! unary_methods {
    ($($m:ident $mi:ident $mo:ident => $op:ident $opi:ident $opo:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("`torch.", stringify!($m), "(self)`, elementwise, into a new tensor.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let x = Tensor::from_slice(&[0.25f32, 1.0, 4.0], &[3])?;\n",
                    "let y = x.", stringify!($m), "()?;\n",
                    "assert_eq!(y.shape(), &[3]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $m(&self) -> Result<Tensor> {
                    new(Op::$op, &[Arg::Tensor(self)])
                }

                #[doc = concat!("`self.", stringify!($mi), "()`: [`Tensor::", stringify!($m), "`] in place ",
                    "(the result must keep the dtype of `self`).\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let x = Tensor::from_slice(&[0.25f32, 1.0, 4.0], &[3])?;\n",
                    "let want = x.", stringify!($m), "()?.to_vec::<f32>()?;\n",
                    "x.", stringify!($mi), "()?;\n",
                    "assert_eq!(x.to_vec::<f32>()?, want);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $mi(&self) -> Result<()> {
                    into(Op::$opi, &[Arg::Tensor(self)])
                }

                #[doc = concat!("`torch.", stringify!($m), "(self, out=out)`: [`Tensor::", stringify!($m), "`] ",
                    "written into `out`.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n# use ft_core::DType;\n",
                    "let x = Tensor::from_slice(&[0.25f32, 1.0, 4.0], &[3])?;\n",
                    "let out = Tensor::zeros(&[3], DType::F32)?;\n",
                    "x.", stringify!($mo), "(&out)?;\n",
                    "assert_eq!(out.to_vec::<f32>()?, x.", stringify!($m), "()?.to_vec::<f32>()?);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $mo(&self, out: &Tensor) -> Result<()> {
                    into(Op::$opo, &[Arg::Tensor(self), Arg::Tensor(out)])
                }
            )*
        }
    };
}

unary_methods! {
    neg neg_ neg_out => Neg NegInplace NegOut;
    abs abs_ abs_out => Abs AbsInplace AbsOut;
    sign sign_ sign_out => Sign SignInplace SignOut;
    exp exp_ exp_out => Exp ExpInplace ExpOut;
    expm1 expm1_ expm1_out => Expm1 Expm1Inplace Expm1Out;
    log log_ log_out => Log LogInplace LogOut;
    log1p log1p_ log1p_out => Log1p Log1pInplace Log1pOut;
    sqrt sqrt_ sqrt_out => Sqrt SqrtInplace SqrtOut;
    rsqrt rsqrt_ rsqrt_out => Rsqrt RsqrtInplace RsqrtOut;
    reciprocal reciprocal_ reciprocal_out => Reciprocal ReciprocalInplace ReciprocalOut;
    sin sin_ sin_out => Sin SinInplace SinOut;
    cos cos_ cos_out => Cos CosInplace CosOut;
    tanh tanh_ tanh_out => Tanh TanhInplace TanhOut;
    sigmoid sigmoid_ sigmoid_out => Sigmoid SigmoidInplace SigmoidOut;
    relu relu_ relu_out => Relu ReluInplace ReluOut;
    silu silu_ silu_out => Silu SiluInplace SiluOut;
    erf erf_ erf_out => Erf ErfInplace ErfOut;
    floor floor_ floor_out => Floor FloorInplace FloorOut;
    ceil ceil_ ceil_out => Ceil CeilInplace CeilOut;
    round round_ round_out => Round RoundInplace RoundOut;
}

macro_rules! binary_methods {
    ($($m:ident $ms:ident $mi:ident $mo:ident => $op:ident $ops:ident $opi:ident $opo:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("`torch.", stringify!($m), "(self, other)`, broadcasting, with PyTorch's type promotion.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[3.0f32, 5.0, 7.0], &[3])?;\n",
                    "let b = Tensor::from_slice(&[2.0f32], &[1])?;\n",
                    "let c = a.", stringify!($m), "(&b)?;\n",
                    "assert_eq!(c.shape(), &[3]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $m(&self, other: &Tensor) -> Result<Tensor> {
                    new(Op::$op, &[Arg::Tensor(self), Arg::Tensor(other)])
                }

                #[doc = concat!("`torch.", stringify!($m), "(self, other)` with a number for `other`.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[3.0f32, 5.0], &[2])?;\n",
                    "let b = Tensor::from_slice(&[2.0f32, 2.0], &[2])?;\n",
                    "assert_eq!(a.", stringify!($ms), "(2.0f32)?.to_vec::<f32>()?, a.", stringify!($m), "(&b)?.to_vec::<f32>()?);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $ms(&self, other: impl Into<Scalar>) -> Result<Tensor> {
                    new(Op::$ops, &[Arg::Tensor(self), Arg::Scalar(other.into())])
                }

                #[doc = concat!("`self.", stringify!($mi), "(other)`: [`Tensor::", stringify!($m), "`] in place.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[3.0f32, 5.0], &[2])?;\n",
                    "let b = Tensor::from_slice(&[2.0f32], &[1])?;\n",
                    "let want = a.", stringify!($m), "(&b)?.to_vec::<f32>()?;\n",
                    "a.", stringify!($mi), "(&b)?;\n",
                    "assert_eq!(a.to_vec::<f32>()?, want);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $mi(&self, other: &Tensor) -> Result<()> {
                    into(Op::$opi, &[Arg::Tensor(self), Arg::Tensor(other)])
                }

                #[doc = concat!("`torch.", stringify!($m), "(self, other, out=out)`.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n# use ft_core::DType;\n",
                    "let a = Tensor::from_slice(&[3.0f32, 5.0], &[2])?;\n",
                    "let out = Tensor::zeros(&[2], DType::F32)?;\n",
                    "a.", stringify!($mo), "(&a, &out)?;\n",
                    "assert_eq!(out.to_vec::<f32>()?, a.", stringify!($m), "(&a)?.to_vec::<f32>()?);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $mo(&self, other: &Tensor, out: &Tensor) -> Result<()> {
                    into(Op::$opo, &[Arg::Tensor(self), Arg::Tensor(other), Arg::Tensor(out)])
                }
            )*
        }
    };
}

binary_methods! {
    mul mul_scalar mul_ mul_out => MulTensor MulScalar MulInplace MulOut;
    div div_scalar div_ div_out => DivTensor DivScalar DivInplace DivOut;
    remainder remainder_scalar remainder_ remainder_out => RemainderTensor RemainderScalar RemainderInplace RemainderOut;
    pow pow_scalar pow_ pow_out => PowTensor PowScalar PowInplace PowOut;
}

macro_rules! compare_methods {
    ($($m:ident $ms:ident => $op:ident $ops:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("`torch.", stringify!($m), "(self, other)`: a bool tensor, broadcasting.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n# use ft_core::DType;\n",
                    "let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;\n",
                    "let b = Tensor::from_slice(&[2.0f32], &[1])?;\n",
                    "let c = a.", stringify!($m), "(&b)?;\n",
                    "assert_eq!(c.dtype(), DType::Bool);\n",
                    "assert_eq!(c.to_vec::<bool>()?, a.", stringify!($ms), "(2.0f32)?.to_vec::<bool>()?);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $m(&self, other: &Tensor) -> Result<Tensor> {
                    new(Op::$op, &[Arg::Tensor(self), Arg::Tensor(other)])
                }

                #[doc = concat!("`torch.", stringify!($m), "(self, other)` with a number for `other`.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[1i64, 2, 3], &[3])?;\n",
                    "let b = Tensor::from_slice(&[2i64, 2, 2], &[3])?;\n",
                    "assert_eq!(a.", stringify!($ms), "(2)?.to_vec::<bool>()?, a.", stringify!($m), "(&b)?.to_vec::<bool>()?);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $ms(&self, other: impl Into<Scalar>) -> Result<Tensor> {
                    new(Op::$ops, &[Arg::Tensor(self), Arg::Scalar(other.into())])
                }
            )*
        }
    };
}

compare_methods! {
    eq eq_scalar => EqTensor EqScalar;
    ne ne_scalar => NeTensor NeScalar;
    lt lt_scalar => LtTensor LtScalar;
    le le_scalar => LeTensor LeScalar;
    gt gt_scalar => GtTensor GtScalar;
    ge ge_scalar => GeTensor GeScalar;
}

macro_rules! alpha_methods {
    ($($m:ident $ma:ident $ms:ident $mi:ident $mia:ident $mo:ident => $op:ident $ops:ident $opi:ident $opo:ident, $sign:literal;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("`torch.", stringify!($m), "(self, other)`: `self ", $sign, " other`, broadcasting, ",
                    "with PyTorch's type promotion.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;\n",
                    "let b = Tensor::from_slice(&[10.0f32, 20.0], &[2])?;\n",
                    "let c = a.", stringify!($m), "(&b)?;\n",
                    "assert_eq!(c.to_vec::<f32>()?, vec![1.0 ", $sign, " 10.0, 2.0 ", $sign, " 20.0]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $m(&self, other: &Tensor) -> Result<Tensor> {
                    new(Op::$op, &[Arg::Tensor(self), Arg::Tensor(other), ONE])
                }

                #[doc = concat!("`torch.", stringify!($m), "(self, other, alpha=alpha)`: `self ", $sign, " alpha * other`.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;\n",
                    "let c = a.", stringify!($ma), "(&a, 3.0f32)?;\n",
                    "assert_eq!(c.to_vec::<f32>()?, vec![1.0 ", $sign, " 3.0, 2.0 ", $sign, " 6.0]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $ma(&self, other: &Tensor, alpha: impl Into<Scalar>) -> Result<Tensor> {
                    new(Op::$op, &[Arg::Tensor(self), Arg::Tensor(other), Arg::Scalar(alpha.into())])
                }

                #[doc = concat!("`torch.", stringify!($m), "(self, other)` with a number for `other`.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;\n",
                    "assert_eq!(a.", stringify!($ms), "(1.0f32)?.to_vec::<f32>()?, vec![1.0 ", $sign, " 1.0, 2.0 ", $sign, " 1.0]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $ms(&self, other: impl Into<Scalar>) -> Result<Tensor> {
                    new(Op::$ops, &[Arg::Tensor(self), Arg::Scalar(other.into()), ONE])
                }

                #[doc = concat!("`self.", stringify!($mi), "(other)`: `self ", $sign, "= other` in place.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;\n",
                    "a.", stringify!($mi), "(&a.clone())?;\n",
                    "assert_eq!(a.to_vec::<f32>()?, vec![1.0 ", $sign, " 1.0, 2.0 ", $sign, " 2.0]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $mi(&self, other: &Tensor) -> Result<()> {
                    into(Op::$opi, &[Arg::Tensor(self), Arg::Tensor(other), ONE])
                }

                #[doc = concat!("`self.", stringify!($m), "_(other, alpha=alpha)`: `self ", $sign,
                    "= alpha * other` in place, in one pass (as an optimizer's update).\n\n",
                    "```\n# use ft_dispatch::Tensor;\n",
                    "let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;\n",
                    "a.", stringify!($mia), "(&a.clone(), 3.0f32)?;\n",
                    "assert_eq!(a.to_vec::<f32>()?, vec![1.0 ", $sign, " 3.0, 2.0 ", $sign, " 6.0]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $mia(&self, other: &Tensor, alpha: impl Into<Scalar>) -> Result<()> {
                    into(Op::$opi, &[Arg::Tensor(self), Arg::Tensor(other), Arg::Scalar(alpha.into())])
                }

                #[doc = concat!("`torch.", stringify!($m), "(self, other, out=out)`: no allocation when `out` ",
                    "has the broadcast shape and a dtype the result casts to.\n\n",
                    "```\n# use ft_dispatch::Tensor;\n# use ft_core::DType;\n",
                    "let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;\n",
                    "let out = Tensor::zeros(&[2], DType::F32)?;\n",
                    "a.", stringify!($mo), "(&a, &out)?;\n",
                    "assert_eq!(out.to_vec::<f32>()?, vec![1.0 ", $sign, " 1.0, 2.0 ", $sign, " 2.0]);\n",
                    "# Ok::<(), ft_core::Error>(())\n```")]
                #[inline]
                pub fn $mo(&self, other: &Tensor, out: &Tensor) -> Result<()> {
                    into(Op::$opo, &[Arg::Tensor(self), Arg::Tensor(other), ONE, Arg::Tensor(out)])
                }
            )*
        }
    };
}

alpha_methods! {
    add add_alpha add_scalar add_ add_alpha_ add_out => AddTensor AddScalar AddInplace AddOut, "+";
    sub sub_alpha sub_scalar sub_ sub_alpha_ sub_out => SubTensor SubScalar SubInplace SubOut, "-";
}

impl Tensor {
    /// `torch.maximum(self, other)`: elementwise; NaN propagates.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, 5.0], &[2])?;
    /// let b = Tensor::from_slice(&[3.0f32, 2.0], &[2])?;
    /// assert_eq!(a.maximum(&b)?.to_vec::<f32>()?, vec![3.0, 5.0]);
    /// assert_eq!(a.minimum(&b)?.to_vec::<f32>()?, vec![1.0, 2.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        new(Op::Maximum, &[Arg::Tensor(self), Arg::Tensor(other)])
    }

    /// `torch.maximum(self, other, out=out)` (see [`Tensor::maximum`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, 5.0], &[2])?;
    /// let out = Tensor::zeros(&[2], ft_core::DType::F32)?;
    /// a.maximum_out(&Tensor::from_slice(&[3.0f32], &[1])?, &out)?;
    /// assert_eq!(out.to_vec::<f32>()?, vec![3.0, 5.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn maximum_out(&self, other: &Tensor, out: &Tensor) -> Result<()> {
        into(
            Op::MaximumOut,
            &[Arg::Tensor(self), Arg::Tensor(other), Arg::Tensor(out)],
        )
    }

    /// `torch.minimum(self, other)` (see [`Tensor::maximum`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, f32::NAN], &[2])?;
    /// let m = a.minimum(&Tensor::from_slice(&[0.0f32], &[1])?)?.to_vec::<f32>()?;
    /// assert!(m[0] == 0.0 && m[1].is_nan()); // NaN propagates
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        new(Op::Minimum, &[Arg::Tensor(self), Arg::Tensor(other)])
    }

    /// `torch.minimum(self, other, out=out)` (see [`Tensor::maximum`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, 5.0], &[2])?;
    /// let out = Tensor::zeros(&[2], ft_core::DType::F32)?;
    /// a.minimum_out(&Tensor::from_slice(&[3.0f32], &[1])?, &out)?;
    /// assert_eq!(out.to_vec::<f32>()?, vec![1.0, 3.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn minimum_out(&self, other: &Tensor, out: &Tensor) -> Result<()> {
        into(
            Op::MinimumOut,
            &[Arg::Tensor(self), Arg::Tensor(other), Arg::Tensor(out)],
        )
    }

    /// `torch.logical_and(self, other)`: a bool tensor (nonzero is true).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[0.0f32, 1.0, 2.0], &[3])?;
    /// let b = Tensor::from_slice(&[1i64, 0, 3], &[3])?;
    /// assert_eq!(a.logical_and(&b)?.to_vec::<bool>()?, vec![false, false, true]);
    /// assert_eq!(a.logical_or(&b)?.to_vec::<bool>()?, vec![true, true, true]);
    /// assert_eq!(a.logical_xor(&b)?.to_vec::<bool>()?, vec![true, true, false]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn logical_and(&self, other: &Tensor) -> Result<Tensor> {
        new(Op::LogicalAnd, &[Arg::Tensor(self), Arg::Tensor(other)])
    }

    /// `torch.logical_or(self, other)` (see [`Tensor::logical_and`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[0i64, 0, 2], &[3])?;
    /// let b = Tensor::from_slice(&[false, true, false], &[3])?;
    /// assert_eq!(a.logical_or(&b)?.to_vec::<bool>()?, vec![false, true, true]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn logical_or(&self, other: &Tensor) -> Result<Tensor> {
        new(Op::LogicalOr, &[Arg::Tensor(self), Arg::Tensor(other)])
    }

    /// `torch.logical_xor(self, other)` (see [`Tensor::logical_and`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[0i64, 1, 2], &[3])?;
    /// let b = Tensor::from_slice(&[true, true, false], &[3])?;
    /// assert_eq!(a.logical_xor(&b)?.to_vec::<bool>()?, vec![true, false, true]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn logical_xor(&self, other: &Tensor) -> Result<Tensor> {
        new(Op::LogicalXor, &[Arg::Tensor(self), Arg::Tensor(other)])
    }

    /// `torch.where(condition, self, other)`: `self` where `condition` is
    /// true, else `other`, broadcasting all three. (The trailing `_` is
    /// because `where` is a Rust keyword; this is not an in-place op.)
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let c = Tensor::from_slice(&[true, false], &[2])?;
    /// let a = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = Tensor::from_slice(&[9.0f32], &[1])?;
    /// assert_eq!(Tensor::where_(&c, &a, &b)?.to_vec::<f32>()?, vec![1.0, 9.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn where_(condition: &Tensor, this: &Tensor, other: &Tensor) -> Result<Tensor> {
        new(
            Op::Where,
            &[
                Arg::Tensor(condition),
                Arg::Tensor(this),
                Arg::Tensor(other),
            ],
        )
    }

    /// `torch.nn.functional.gelu(self, approximate=...)`: `"none"` (erf) or
    /// `"tanh"`; anything else is PyTorch's error.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[-1.0f32, 0.0, 1.0], &[3])?;
    /// let y = x.gelu("none")?.to_vec::<f32>()?;
    /// assert!((y[2] - 0.841_344_7).abs() < 1e-6 && y[1] == 0.0);
    /// assert!(x.gelu("fast").is_err());
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn gelu(&self, approximate: &str) -> Result<Tensor> {
        new(Op::Gelu, &[Arg::Tensor(self), Arg::Str(approximate)])
    }

    /// [`Tensor::gelu`] in place.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[0.0f32, 1.0], &[2])?;
    /// let want = x.gelu("tanh")?.to_vec::<f32>()?;
    /// x.gelu_("tanh")?;
    /// assert_eq!(x.to_vec::<f32>()?, want);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn gelu_(&self, approximate: &str) -> Result<()> {
        into(Op::GeluInplace, &[Arg::Tensor(self), Arg::Str(approximate)])
    }

    /// [`Tensor::gelu`] written into `out`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[0.0f32, 1.0], &[2])?;
    /// let out = Tensor::zeros(&[2], ft_core::DType::F32)?;
    /// x.gelu_out("none", &out)?;
    /// assert_eq!(out.to_vec::<f32>()?, x.gelu("none")?.to_vec::<f32>()?);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn gelu_out(&self, approximate: &str, out: &Tensor) -> Result<()> {
        into(
            Op::GeluOut,
            &[Arg::Tensor(self), Arg::Str(approximate), Arg::Tensor(out)],
        )
    }

    /// `torch.clamp(self, min, max)`: either bound may be `None` (not both).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::Scalar;
    /// let x = Tensor::from_slice(&[-2.0f32, 0.5, 3.0], &[3])?;
    /// let y = x.clamp(Some(Scalar::Float(-1.0)), Some(Scalar::Float(1.0)))?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![-1.0, 0.5, 1.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn clamp(&self, min: Option<Scalar>, max: Option<Scalar>) -> Result<Tensor> {
        new(
            Op::Clamp,
            &[Arg::Tensor(self), Arg::OptScalar(min), Arg::OptScalar(max)],
        )
    }

    /// [`Tensor::clamp`] in place.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::Scalar;
    /// let x = Tensor::from_slice(&[-2.0f32, 3.0], &[2])?;
    /// x.clamp_(Some(Scalar::Float(0.0)), None)?;
    /// assert_eq!(x.to_vec::<f32>()?, vec![0.0, 3.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn clamp_(&self, min: Option<Scalar>, max: Option<Scalar>) -> Result<()> {
        into(
            Op::ClampInplace,
            &[Arg::Tensor(self), Arg::OptScalar(min), Arg::OptScalar(max)],
        )
    }

    /// [`Tensor::clamp`] written into `out`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::Scalar;
    /// let x = Tensor::from_slice(&[-2.0f32, 3.0], &[2])?;
    /// let out = Tensor::zeros(&[2], ft_core::DType::F32)?;
    /// x.clamp_out(None, Some(Scalar::Float(1.0)), &out)?;
    /// assert_eq!(out.to_vec::<f32>()?, vec![-2.0, 1.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn clamp_out(&self, min: Option<Scalar>, max: Option<Scalar>, out: &Tensor) -> Result<()> {
        let args = [
            Arg::Tensor(self),
            Arg::OptScalar(min),
            Arg::OptScalar(max),
            Arg::Tensor(out),
        ];
        into(Op::ClampOut, &args)
    }

    /// `self.to(dtype)`: a converted copy, or `self` itself (no copy) when
    /// the dtype already matches.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::DType;
    /// let x = Tensor::from_slice(&[1.7f32, -2.5], &[2])?;
    /// assert_eq!(x.to_dtype(DType::I64)?.to_vec::<i64>()?, vec![1, -2]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::DType(Some(dtype)),
            Arg::Bool(false),
            Arg::Bool(false),
        ];
        new(Op::ToDtype, &args)
    }

    /// `self.copy_(src)`: writes `src` (broadcast, converted) into `self`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::DType;
    /// let x = Tensor::zeros(&[2, 2], DType::F32)?;
    /// x.copy_(&Tensor::from_slice(&[1i64, 2], &[2])?)?;
    /// assert_eq!(x.to_vec::<f32>()?, vec![1.0, 2.0, 1.0, 2.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        into(
            Op::CopyInplace,
            &[Arg::Tensor(self), Arg::Tensor(src), Arg::Bool(false)],
        )
    }

    /// `self.sum()`: all elements; integers and bool sum in int64.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.sum()?.to_vec::<f32>()?, vec![21.0]);
    /// assert_eq!(x.sum_dim(&[1], false)?.to_vec::<f32>()?, vec![6.0, 15.0]);
    /// assert_eq!(x.sum_dim(&[0], true)?.shape(), &[1, 3]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn sum(&self) -> Result<Tensor> {
        new(Op::Sum, &[Arg::Tensor(self), Arg::DType(None)])
    }

    /// `self.sum(dim, keepdim)` over a list of dims (see [`Tensor::sum`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(x.sum_dim(&[0, 1], true)?.shape(), &[1, 1]);
    /// assert_eq!(x.sum_dim(&[-1], false)?.to_vec::<f32>()?, vec![3.0, 7.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn sum_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.sum_dim_dtype(dims, keepdim, None)
    }

    /// `self.sum(dim, keepdim, dtype=dtype)`: summed in `dtype`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::DType;
    /// let x = Tensor::from_slice(&[1i32, 2, 3], &[3])?;
    /// let s = x.sum_dim_dtype(&[0], false, Some(DType::F64))?;
    /// assert_eq!(s.to_vec::<f64>()?, vec![6.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn sum_dim_dtype(
        &self,
        dims: &[isize],
        keepdim: bool,
        dtype: Option<DType>,
    ) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::Dims(Some(dims)),
            Arg::Bool(keepdim),
            Arg::DType(dtype),
        ];
        new(Op::SumDim, &args)
    }

    /// `self.mean()`: floating dtypes only, as PyTorch.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.mean()?.to_vec::<f32>()?, vec![3.5]);
    /// assert_eq!(x.mean_dim(&[1], false)?.to_vec::<f32>()?, vec![2.0, 5.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn mean(&self) -> Result<Tensor> {
        new(Op::Mean, &[Arg::Tensor(self), Arg::DType(None)])
    }

    /// `self.mean(dim, keepdim)` (see [`Tensor::mean`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(x.mean_dim(&[0], true)?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn mean_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::Dims(Some(dims)),
            Arg::Bool(keepdim),
            Arg::DType(None),
        ];
        new(Op::MeanDim, &args)
    }

    /// `self.prod()`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.prod()?.to_vec::<f32>()?, vec![720.0]);
    /// assert_eq!(x.prod_dim(1, false)?.to_vec::<f32>()?, vec![6.0, 120.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn prod(&self) -> Result<Tensor> {
        new(Op::Prod, &[Arg::Tensor(self), Arg::DType(None)])
    }

    /// `self.prod(dim, keepdim)` (see [`Tensor::prod`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(x.prod_dim(0, false)?.to_vec::<f32>()?, vec![3.0, 8.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn prod_dim(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::Int(dim as i64),
            Arg::Bool(keepdim),
            Arg::DType(None),
        ];
        new(Op::ProdDim, &args)
    }

    /// `self.max()`: the largest element (NaN if any is NaN).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 9.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.max()?.to_vec::<f32>()?, vec![9.0]);
    /// assert_eq!(x.min()?.to_vec::<f32>()?, vec![1.0]);
    /// let (values, indices) = x.max_dim(1, false)?;
    /// assert_eq!(values.to_vec::<f32>()?, vec![9.0, 6.0]);
    /// assert_eq!(indices.to_vec::<i64>()?, vec![1, 2]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn max(&self) -> Result<Tensor> {
        new(Op::Max, &[Arg::Tensor(self)])
    }

    /// `self.min()` (see [`Tensor::max`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[2.0f32, -1.0, 7.0], &[3])?;
    /// assert_eq!(x.min()?.to_vec::<f32>()?, vec![-1.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn min(&self) -> Result<Tensor> {
        new(Op::Min, &[Arg::Tensor(self)])
    }

    /// `self.max(dim, keepdim)`: values and their indices (see [`Tensor::max`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 4.0, 3.0, 2.0], &[2, 2])?;
    /// let (v, i) = x.max_dim(0, true)?;
    /// assert_eq!((v.to_vec::<f32>()?, i.to_vec::<i64>()?), (vec![3.0, 4.0], vec![1, 0]));
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        run(
            Op::MaxDim,
            &[Arg::Tensor(self), Arg::Int(dim as i64), Arg::Bool(keepdim)],
        )?
        .two()
    }

    /// `self.min(dim, keepdim)` (see [`Tensor::max`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 4.0, 3.0, 2.0], &[2, 2])?;
    /// let (v, i) = x.min_dim(1, false)?;
    /// assert_eq!((v.to_vec::<f32>()?, i.to_vec::<i64>()?), (vec![1.0, 2.0], vec![0, 1]));
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        run(
            Op::MinDim,
            &[Arg::Tensor(self), Arg::Int(dim as i64), Arg::Bool(keepdim)],
        )?
        .two()
    }

    /// `self.argmax(dim, keepdim)`: the index of the first largest element
    /// (of the flattened tensor when `dim` is `None`).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 9.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.argmax(None, false)?.to_vec::<i64>()?, vec![1]);
    /// assert_eq!(x.argmin(Some(1), false)?.to_vec::<i64>()?, vec![0, 0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::OptInt(dim.map(|d| d as i64)),
            Arg::Bool(keepdim),
        ];
        new(Op::Argmax, &args)
    }

    /// `self.argmin(dim, keepdim)` (see [`Tensor::argmax`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[3.0f32, 1.0, 1.0], &[3])?;
    /// assert_eq!(x.argmin(None, false)?.to_vec::<i64>()?, vec![1]); // the first minimum
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::OptInt(dim.map(|d| d as i64)),
            Arg::Bool(keepdim),
        ];
        new(Op::Argmin, &args)
    }

    /// `self.var(dim, correction=correction, keepdim=keepdim)`; `dims`
    /// `None` is all dims, `correction` 1 is Bessel's.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0], &[4])?;
    /// assert_eq!(x.var(None, 1.0, false)?.to_vec::<f64>()?, vec![5.0 / 3.0]);
    /// assert_eq!(x.std(None, 0.0, false)?.to_vec::<f64>()?, vec![1.25f64.sqrt()]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn var(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::Dims(dims),
            Arg::OptScalar(Some(Scalar::Float(correction))),
            Arg::Bool(keepdim),
        ];
        new(Op::Var, &args)
    }

    /// `self.std(dim, correction=correction, keepdim=keepdim)` (see [`Tensor::var`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[2.0f64, 4.0, 4.0, 6.0], &[2, 2])?;
    /// assert_eq!(x.std(Some(&[1]), 0.0, false)?.to_vec::<f64>()?, vec![1.0, 1.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn std(&self, dims: Option<&[isize]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::Dims(dims),
            Arg::OptScalar(Some(Scalar::Float(correction))),
            Arg::Bool(keepdim),
        ];
        new(Op::Std, &args)
    }

    /// `torch.logsumexp(self, dim, keepdim)`, numerically stable.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1000.0f32, 1000.0], &[2])?;
    /// let y = x.logsumexp(&[0], false)?.to_vec::<f32>()?;
    /// assert!((y[0] - (1000.0 + 2f32.ln())).abs() < 1e-3);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        new(
            Op::Logsumexp,
            &[Arg::Tensor(self), Arg::Dims(Some(dims)), Arg::Bool(keepdim)],
        )
    }

    /// `torch.norm(self, p)` over all elements, for p = 1, 2 or infinity.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[3.0f32, -4.0], &[2])?;
    /// assert_eq!(x.norm(2.0)?.to_vec::<f32>()?, vec![5.0]);
    /// assert_eq!(x.norm_dim(1.0, &[0], false)?.to_vec::<f32>()?, vec![7.0]);
    /// assert_eq!(x.norm(f64::INFINITY)?.to_vec::<f32>()?, vec![4.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn norm(&self, p: f64) -> Result<Tensor> {
        new(
            Op::Norm,
            &[Arg::Tensor(self), Arg::Scalar(Scalar::Float(p))],
        )
    }

    /// `torch.norm(self, p, dim, keepdim)` (see [`Tensor::norm`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[3.0f32, 4.0, 6.0, 8.0], &[2, 2])?;
    /// assert_eq!(x.norm_dim(2.0, &[1], false)?.to_vec::<f32>()?, vec![5.0, 10.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn norm_dim(&self, p: f64, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::OptScalar(Some(Scalar::Float(p))),
            Arg::Dims(Some(dims)),
            Arg::Bool(keepdim),
        ];
        new(Op::NormDim, &args)
    }

    /// `self.any()`: whether any element is nonzero (a bool tensor).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 0.0], &[2, 2])?;
    /// assert_eq!(x.any()?.to_vec::<bool>()?, vec![true]);
    /// assert_eq!(x.all()?.to_vec::<bool>()?, vec![false]);
    /// assert_eq!(x.any_dim(&[1], false)?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn any(&self) -> Result<Tensor> {
        new(Op::Any, &[Arg::Tensor(self)])
    }

    /// `self.any(dim, keepdim)` (see [`Tensor::any`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[false, true, false, false], &[2, 2])?;
    /// assert_eq!(x.any_dim(&[0], false)?.to_vec::<bool>()?, vec![false, true]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn any_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        new(
            Op::AnyDims,
            &[Arg::Tensor(self), Arg::Dims(Some(dims)), Arg::Bool(keepdim)],
        )
    }

    /// `self.all()` (see [`Tensor::any`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;
    /// assert_eq!(x.all()?.to_vec::<bool>()?, vec![true]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn all(&self) -> Result<Tensor> {
        new(Op::All, &[Arg::Tensor(self)])
    }

    /// `self.all(dim, keepdim)` (see [`Tensor::any`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[true, true, false, true], &[2, 2])?;
    /// assert_eq!(x.all_dim(&[1], false)?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn all_dim(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        new(
            Op::AllDims,
            &[Arg::Tensor(self), Arg::Dims(Some(dims)), Arg::Bool(keepdim)],
        )
    }

    /// `self.softmax(dim)`: numerically stable; floating dtypes (Hardened
    /// mode also takes integers, through a cast to float32, and records it).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 1.0], &[2, 2])?;
    /// assert_eq!(x.softmax(-1)?.to_vec::<f32>()?, vec![0.5; 4]);
    /// let l = x.log_softmax(-1)?.to_vec::<f32>()?;
    /// assert!((l[0] + 2f32.ln()).abs() < 1e-6);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        new(
            Op::Softmax,
            &[Arg::Tensor(self), Arg::Int(dim as i64), Arg::DType(None)],
        )
    }

    /// `self.log_softmax(dim)` (see [`Tensor::softmax`]).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[0.0f32, 0.0], &[2])?;
    /// let y = x.log_softmax(0)?.to_vec::<f32>()?;
    /// assert!((y[0] + 2f32.ln()).abs() < 1e-6);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        new(
            Op::LogSoftmax,
            &[Arg::Tensor(self), Arg::Int(dim as i64), Arg::DType(None)],
        )
    }
}

macro_rules! std_ops {
    ($($trait:ident $f:ident $op:literal => $m:ident;)*) => {
        $(
            #[doc = concat!("`&a ", stringify!($trait), " &b` is [`Tensor::", stringify!($m), "`]; ",
                "an operator cannot return `Result`, so the output is `Result<Tensor>`.\n\n",
                "```\n# use ft_dispatch::Tensor;\n",
                "let a = Tensor::from_slice(&[6.0f32, 9.0], &[2])?;\n",
                "let b = Tensor::from_slice(&[3.0f32], &[1])?;\n",
                "assert_eq!((&a ", $op, " &b)?.to_vec::<f32>()?, a.", stringify!($m), "(&b)?.to_vec::<f32>()?);\n",
                "# Ok::<(), ft_core::Error>(())\n```")]
            impl std::ops::$trait<&Tensor> for &Tensor {
                type Output = Result<Tensor>;
                fn $f(self, rhs: &Tensor) -> Result<Tensor> {
                    self.$m(rhs)
                }
            }
        )*
    };
}

std_ops! {
    Add add "+" => add;
    Sub sub "-" => sub;
    Mul mul "*" => mul;
    Div div "/" => div;
    Rem rem "%" => remainder;
}

/// `-&a` is [`Tensor::neg`].
///
/// ```
/// # use ft_dispatch::Tensor;
/// let a = Tensor::from_slice(&[1.0f32, -2.0], &[2])?;
/// assert_eq!((-&a)?.to_vec::<f32>()?, vec![-1.0, 2.0]);
/// # Ok::<(), ft_core::Error>(())
/// ```
impl std::ops::Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}

/// Matrix products (`torch.mm`, `bmm`, `matmul`, `addmm`, `linear`, `dot`,
/// `mv`), on FrankenTorch's own GEMM.
impl Tensor {
    /// `torch.mm(self, mat2)`: the product of two matrices.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::from_slice(&[5.0f32, 6.0, 7.0, 8.0], &[2, 2])?;
    /// assert_eq!(a.mm(&b)?.to_vec::<f32>()?, vec![19.0, 22.0, 43.0, 50.0]);
    /// // Shapes that do not chain fail with PyTorch's message.
    /// let err = a.mm(&Tensor::from_slice(&[1.0f32; 3], &[3, 1])?).unwrap_err();
    /// assert!(err.to_string().contains("mat1 and mat2 shapes cannot be multiplied (2x2 and 3x1)"));
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn mm(&self, mat2: &Tensor) -> Result<Tensor> {
        new(Op::Mm, &[Arg::Tensor(self), Arg::Tensor(mat2)])
    }

    /// [`Tensor::mm`] into `out` (of the result's shape and dtype).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, 2.0], &[1, 2])?;
    /// let b = Tensor::from_slice(&[3.0f32, 4.0], &[2, 1])?;
    /// let out = Tensor::zeros(&[1, 1], ft_core::DType::F32)?;
    /// a.mm_out(&b, &out)?;
    /// assert_eq!(out.to_vec::<f32>()?, vec![11.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn mm_out(&self, mat2: &Tensor, out: &Tensor) -> Result<()> {
        into(
            Op::MmOut,
            &[Arg::Tensor(self), Arg::Tensor(mat2), Arg::Tensor(out)],
        )
    }

    /// `torch.bmm(self, mat2)`: `[b, n, k] @ [b, k, m] -> [b, n, m]`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 1, 2])?;
    /// let b = Tensor::from_slice(&[1.0f32, 1.0, 2.0, 0.0], &[2, 2, 1])?;
    /// assert_eq!(a.bmm(&b)?.to_vec::<f32>()?, vec![3.0, 6.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn bmm(&self, mat2: &Tensor) -> Result<Tensor> {
        new(Op::Bmm, &[Arg::Tensor(self), Arg::Tensor(mat2)])
    }

    /// [`Tensor::bmm`] into `out`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[2.0f32], &[1, 1, 1])?;
    /// let out = Tensor::zeros(&[1, 1, 1], ft_core::DType::F32)?;
    /// a.bmm_out(&a, &out)?;
    /// assert_eq!(out.to_vec::<f32>()?, vec![4.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn bmm_out(&self, mat2: &Tensor, out: &Tensor) -> Result<()> {
        into(
            Op::BmmOut,
            &[Arg::Tensor(self), Arg::Tensor(mat2), Arg::Tensor(out)],
        )
    }

    /// `torch.matmul(self, other)` (`self @ other` in Python): a dot
    /// product for two vectors, matrix-vector and vector-matrix products,
    /// and batched products with broadcast batch dims.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::DType;
    /// let a = Tensor::ones(&[5, 1, 2, 3], DType::F32)?;
    /// let b = Tensor::ones(&[4, 3, 6], DType::F32)?;
    /// assert_eq!(a.matmul(&b)?.shape(), &[5, 4, 2, 6]);
    /// let v = Tensor::ones(&[3], DType::F32)?;
    /// assert_eq!(a.matmul(&v)?.shape(), &[5, 1, 2]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        new(Op::Matmul, &[Arg::Tensor(self), Arg::Tensor(other)])
    }

    /// [`Tensor::matmul`] into `out`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::DType;
    /// let a = Tensor::ones(&[2, 3], DType::F64)?;
    /// let out = Tensor::zeros(&[2, 2], DType::F64)?;
    /// a.matmul_out(&a.t()?, &out)?;
    /// assert_eq!(out.to_vec::<f64>()?, vec![3.0; 4]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn matmul_out(&self, other: &Tensor, out: &Tensor) -> Result<()> {
        into(
            Op::MatmulOut,
            &[Arg::Tensor(self), Arg::Tensor(other), Arg::Tensor(out)],
        )
    }

    /// `torch.addmm(self, mat1, mat2, beta=, alpha=)`: `beta * self + alpha *
    /// (mat1 @ mat2)`, `self` broadcast to the product's shape. With `beta`
    /// zero, `self` is not read (NaN in it does not propagate).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::Scalar;
    /// let bias = Tensor::from_slice(&[10.0f32, 20.0], &[2])?;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0], &[1, 2])?;
    /// let eye = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0], &[2, 2])?;
    /// let y = bias.addmm(&x, &eye, Scalar::Int(1), Scalar::Float(2.0))?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![12.0, 24.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn addmm(
        &self,
        mat1: &Tensor,
        mat2: &Tensor,
        beta: Scalar,
        alpha: Scalar,
    ) -> Result<Tensor> {
        let args = [
            Arg::Tensor(self),
            Arg::Tensor(mat1),
            Arg::Tensor(mat2),
            Arg::Scalar(beta),
            Arg::Scalar(alpha),
        ];
        new(Op::Addmm, &args)
    }

    /// [`Tensor::addmm`] in place: `self = beta * self + alpha * (mat1 @ mat2)`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::Scalar;
    /// let acc = Tensor::from_slice(&[1.0f32], &[1, 1])?;
    /// let x = Tensor::from_slice(&[3.0f32], &[1, 1])?;
    /// acc.addmm_(&x, &x, Scalar::Int(1), Scalar::Int(1))?;
    /// assert_eq!(acc.to_vec::<f32>()?, vec![10.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn addmm_(&self, mat1: &Tensor, mat2: &Tensor, beta: Scalar, alpha: Scalar) -> Result<()> {
        let args = [
            Arg::Tensor(self),
            Arg::Tensor(mat1),
            Arg::Tensor(mat2),
            Arg::Scalar(beta),
            Arg::Scalar(alpha),
        ];
        into(Op::AddmmInplace, &args)
    }

    /// [`Tensor::addmm`] into `out`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// use ft_core::{DType, Scalar};
    /// let c = Tensor::ones(&[1, 1], DType::F32)?;
    /// let out = Tensor::zeros(&[1, 1], DType::F32)?;
    /// c.addmm_out(&c, &c, Scalar::Float(0.5), Scalar::Int(1), &out)?;
    /// assert_eq!(out.to_vec::<f32>()?, vec![1.5]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn addmm_out(
        &self,
        mat1: &Tensor,
        mat2: &Tensor,
        beta: Scalar,
        alpha: Scalar,
        out: &Tensor,
    ) -> Result<()> {
        let args = [
            Arg::Tensor(self),
            Arg::Tensor(mat1),
            Arg::Tensor(mat2),
            Arg::Scalar(beta),
            Arg::Scalar(alpha),
            Arg::Tensor(out),
        ];
        into(Op::AddmmOut, &args)
    }

    /// `torch.nn.functional.linear(self, weight, bias)`: `self @ weight.T +
    /// bias`, with `weight` `[out_features, in_features]`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0], &[1, 2])?;
    /// let w = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 3.0], &[2, 2])?;
    /// let b = Tensor::from_slice(&[0.5f32, -1.0], &[2])?;
    /// assert_eq!(x.linear(&w, Some(&b))?.to_vec::<f32>()?, vec![3.5, 5.0]);
    /// assert_eq!(x.linear(&w, None)?.to_vec::<f32>()?, vec![3.0, 6.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        new(
            Op::Linear,
            &[Arg::Tensor(self), Arg::Tensor(weight), Arg::OptTensor(bias)],
        )
    }

    /// `torch.dot(self, other)`: the dot product of two vectors, 0-D.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let a = Tensor::from_slice(&[1.0f64, 2.0, 3.0], &[3])?;
    /// assert_eq!(a.dot(&a)?.to_vec::<f64>()?, vec![14.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        new(Op::Dot, &[Arg::Tensor(self), Arg::Tensor(other)])
    }

    /// `torch.mv(self, vec)`: matrix times vector.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let m = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let v = Tensor::from_slice(&[1.0f32, 1.0], &[2])?;
    /// assert_eq!(m.mv(&v)?.to_vec::<f32>()?, vec![3.0, 7.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn mv(&self, vec: &Tensor) -> Result<Tensor> {
        new(Op::Mv, &[Arg::Tensor(self), Arg::Tensor(vec)])
    }
}

/// Views (no copy: the result shares the input's storage; `reshape` and
/// `contiguous` copy only where PyTorch does). They go through dispatch
/// like every op, so that autograd records them.
impl Tensor {
    /// `self.view(size)`: another shape over the same data; `-1` infers
    /// one size. Fails (PyTorch's message) when the strides forbid a view.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[6])?;
    /// assert_eq!(x.view(&[2, -1])?.shape(), &[2, 3]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn view(&self, size: &[isize]) -> Result<Tensor> {
        new(Op::View, &[Arg::Tensor(self), Arg::Dims(Some(size))])
    }

    /// `self.reshape(shape)`: a view where the strides allow one, else a
    /// contiguous copy.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let r = x.t()?.reshape(&[4])?; // not viewable: copies
    /// assert_eq!(r.to_vec::<f32>()?, vec![1.0, 3.0, 2.0, 4.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        new(Op::Reshape, &[Arg::Tensor(self), Arg::Dims(Some(shape))])
    }

    /// `self.t()`: the transpose of a tensor of at most 2 dims.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(x.t()?.shape(), &[3, 2]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn t(&self) -> Result<Tensor> {
        new(Op::T, &[Arg::Tensor(self)])
    }

    /// `self.transpose(dim0, dim1)`: swaps two dims.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// # use ft_core::DType;
    /// let x = Tensor::zeros(&[2, 3, 4], DType::F32)?;
    /// assert_eq!(x.transpose(0, -1)?.shape(), &[4, 3, 2]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor> {
        new(
            Op::Transpose,
            &[
                Arg::Tensor(self),
                Arg::Int(dim0 as i64),
                Arg::Int(dim1 as i64),
            ],
        )
    }

    /// `self.permute(dims)`: the dims in a new order.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// # use ft_core::DType;
    /// let x = Tensor::zeros(&[2, 3, 4], DType::F32)?;
    /// assert_eq!(x.permute(&[2, 0, 1])?.shape(), &[4, 2, 3]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        new(Op::Permute, &[Arg::Tensor(self), Arg::Dims(Some(dims))])
    }

    /// `self.narrow(dim, start, length)`: `length` entries of `dim` from
    /// `start`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[4])?;
    /// assert_eq!(x.narrow(0, 1, 2)?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn narrow(&self, dim: isize, start: isize, length: isize) -> Result<Tensor> {
        new(
            Op::Narrow,
            &[
                Arg::Tensor(self),
                Arg::Int(dim as i64),
                Arg::Int(start as i64),
                Arg::Int(length as i64),
            ],
        )
    }

    /// `self.select(dim, index)`: one entry of `dim`, which is removed.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// assert_eq!(x.select(1, -1)?.to_vec::<f32>()?, vec![2.0, 4.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        new(
            Op::Select,
            &[
                Arg::Tensor(self),
                Arg::Int(dim as i64),
                Arg::Int(index as i64),
            ],
        )
    }

    /// `self.expand(sizes)`: broadcasts size-1 dims (stride 0, no copy);
    /// `-1` keeps a size.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0], &[2, 1])?;
    /// assert_eq!(x.expand(&[-1, 3])?.to_vec::<f32>()?, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn expand(&self, sizes: &[isize]) -> Result<Tensor> {
        new(
            Op::Expand,
            &[Arg::Tensor(self), Arg::Dims(Some(sizes)), Arg::Bool(false)],
        )
    }

    /// `self.squeeze()`: without its size-1 dims.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// # use ft_core::DType;
    /// assert_eq!(Tensor::zeros(&[1, 3, 1], DType::F32)?.squeeze()?.shape(), &[3]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn squeeze(&self) -> Result<Tensor> {
        new(Op::Squeeze, &[Arg::Tensor(self)])
    }

    /// `self.squeeze(dim)`: without `dim` if its size is 1 (else the same
    /// shape).
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// # use ft_core::DType;
    /// assert_eq!(Tensor::zeros(&[1, 3, 1], DType::F32)?.squeeze_dim(-1)?.shape(), &[1, 3]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn squeeze_dim(&self, dim: isize) -> Result<Tensor> {
        new(Op::SqueezeDim, &[Arg::Tensor(self), Arg::Int(dim as i64)])
    }

    /// `self.unsqueeze(dim)`: a new size-1 dim at `dim`.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// # use ft_core::DType;
    /// assert_eq!(Tensor::zeros(&[3], DType::F32)?.unsqueeze(0)?.shape(), &[1, 3]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        new(Op::Unsqueeze, &[Arg::Tensor(self), Arg::Int(dim as i64)])
    }

    /// `self.flatten(start_dim, end_dim)`: dims `start_dim..=end_dim`
    /// merged into one.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// # use ft_core::DType;
    /// assert_eq!(Tensor::zeros(&[2, 3, 4], DType::F32)?.flatten(1, -1)?.shape(), &[2, 12]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Tensor> {
        new(
            Op::Flatten,
            &[
                Arg::Tensor(self),
                Arg::Int(start_dim as i64),
                Arg::Int(end_dim as i64),
            ],
        )
    }

    /// `self.contiguous()`: `self` if already row-major contiguous, else a
    /// row-major copy.
    ///
    /// ```
    /// # use ft_dispatch::Tensor;
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?.t()?;
    /// let c = x.contiguous()?;
    /// assert!(c.is_contiguous());
    /// assert_eq!(c.to_vec::<f32>()?, vec![1.0, 3.0, 2.0, 4.0]);
    /// # Ok::<(), ft_core::Error>(())
    /// ```
    pub fn contiguous(&self) -> Result<Tensor> {
        new(Op::Contiguous, &[Arg::Tensor(self)])
    }
}
