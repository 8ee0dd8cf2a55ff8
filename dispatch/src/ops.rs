//! Every op, its schema name, and its CPU kernel: the static table that
//! binds the schema file (`dispatch/ops.schema`) to kernels.

use crate::cpu::{self, Fold};
use crate::frame::Kernel;
use ft_kernels::{BinaryOp, UnaryOp};

macro_rules! ops {
    ($($var:ident = $name:literal => $kernel:expr;)*) => {
        /// An op: one `- func:` entry of the schema file.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $($var,)*
        }

        impl Op {
            /// Every op, in schema order.
            pub const ALL: &'static [Op] = &[$(Op::$var,)*];
            pub const COUNT: usize = Op::ALL.len();

            /// The schema name: `add.Tensor`, `relu`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$var => $name,)*
                }
            }
        }

        /// The CPU (dense) kernel of every op.
        pub(crate) const CPU_KERNELS: &[(Op, Kernel)] = &[$((Op::$var, $kernel),)*];
    };
}

ops! {
    AddTensor = "add.Tensor" => cpu::add_tensor;
    AddScalar = "add.Scalar" => cpu::add_scalar;
    AddInplace = "add_.Tensor" => cpu::add_inplace;
    AddOut = "add.out" => cpu::add_out;
    SubTensor = "sub.Tensor" => cpu::sub_tensor;
    SubScalar = "sub.Scalar" => cpu::sub_scalar;
    SubInplace = "sub_.Tensor" => cpu::sub_inplace;
    SubOut = "sub.out" => cpu::sub_out;
    MulTensor = "mul.Tensor" => |f| cpu::bin(f, BinaryOp::Mul);
    MulScalar = "mul.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Mul);
    MulInplace = "mul_.Tensor" => |f| cpu::bin_inplace(f, BinaryOp::Mul);
    MulOut = "mul.out" => |f| cpu::bin_out(f, BinaryOp::Mul);
    DivTensor = "div.Tensor" => |f| cpu::bin(f, BinaryOp::Div);
    DivScalar = "div.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Div);
    DivInplace = "div_.Tensor" => |f| cpu::bin_inplace(f, BinaryOp::Div);
    DivOut = "div.out" => |f| cpu::bin_out(f, BinaryOp::Div);
    RemainderTensor = "remainder.Tensor" => |f| cpu::bin(f, BinaryOp::Remainder);
    RemainderScalar = "remainder.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Remainder);
    RemainderInplace = "remainder_.Tensor" => |f| cpu::bin_inplace(f, BinaryOp::Remainder);
    RemainderOut = "remainder.out" => |f| cpu::bin_out(f, BinaryOp::Remainder);
    PowTensor = "pow.Tensor_Tensor" => |f| cpu::bin(f, BinaryOp::Pow);
    PowScalar = "pow.Tensor_Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Pow);
    PowInplace = "pow_.Tensor" => |f| cpu::bin_inplace(f, BinaryOp::Pow);
    PowOut = "pow.Tensor_Tensor_out" => |f| cpu::bin_out(f, BinaryOp::Pow);
    Maximum = "maximum" => |f| cpu::bin(f, BinaryOp::Maximum);
    MaximumOut = "maximum.out" => |f| cpu::bin_out(f, BinaryOp::Maximum);
    Minimum = "minimum" => |f| cpu::bin(f, BinaryOp::Minimum);
    MinimumOut = "minimum.out" => |f| cpu::bin_out(f, BinaryOp::Minimum);
    EqTensor = "eq.Tensor" => |f| cpu::bin(f, BinaryOp::Eq);
    EqScalar = "eq.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Eq);
    NeTensor = "ne.Tensor" => |f| cpu::bin(f, BinaryOp::Ne);
    NeScalar = "ne.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Ne);
    LtTensor = "lt.Tensor" => |f| cpu::bin(f, BinaryOp::Lt);
    LtScalar = "lt.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Lt);
    LeTensor = "le.Tensor" => |f| cpu::bin(f, BinaryOp::Le);
    LeScalar = "le.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Le);
    GtTensor = "gt.Tensor" => |f| cpu::bin(f, BinaryOp::Gt);
    GtScalar = "gt.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Gt);
    GeTensor = "ge.Tensor" => |f| cpu::bin(f, BinaryOp::Ge);
    GeScalar = "ge.Scalar" => |f| cpu::bin_scalar(f, BinaryOp::Ge);
    LogicalAnd = "logical_and" => |f| cpu::bin(f, BinaryOp::LogicalAnd);
    LogicalOr = "logical_or" => |f| cpu::bin(f, BinaryOp::LogicalOr);
    LogicalXor = "logical_xor" => |f| cpu::bin(f, BinaryOp::LogicalXor);
    Where = "where.self" => cpu::where_self;
    Neg = "neg" => |f| cpu::un(f, UnaryOp::Neg);
    NegInplace = "neg_" => |f| cpu::un_inplace(f, UnaryOp::Neg);
    NegOut = "neg.out" => |f| cpu::un_out(f, UnaryOp::Neg);
    Abs = "abs" => |f| cpu::un(f, UnaryOp::Abs);
    AbsInplace = "abs_" => |f| cpu::un_inplace(f, UnaryOp::Abs);
    AbsOut = "abs.out" => |f| cpu::un_out(f, UnaryOp::Abs);
    Sign = "sign" => |f| cpu::un(f, UnaryOp::Sign);
    SignInplace = "sign_" => |f| cpu::un_inplace(f, UnaryOp::Sign);
    SignOut = "sign.out" => |f| cpu::un_out(f, UnaryOp::Sign);
    Exp = "exp" => |f| cpu::un(f, UnaryOp::Exp);
    ExpInplace = "exp_" => |f| cpu::un_inplace(f, UnaryOp::Exp);
    ExpOut = "exp.out" => |f| cpu::un_out(f, UnaryOp::Exp);
    Expm1 = "expm1" => |f| cpu::un(f, UnaryOp::Expm1);
    Expm1Inplace = "expm1_" => |f| cpu::un_inplace(f, UnaryOp::Expm1);
    Expm1Out = "expm1.out" => |f| cpu::un_out(f, UnaryOp::Expm1);
    Log = "log" => |f| cpu::un(f, UnaryOp::Log);
    LogInplace = "log_" => |f| cpu::un_inplace(f, UnaryOp::Log);
    LogOut = "log.out" => |f| cpu::un_out(f, UnaryOp::Log);
    Log1p = "log1p" => |f| cpu::un(f, UnaryOp::Log1p);
    Log1pInplace = "log1p_" => |f| cpu::un_inplace(f, UnaryOp::Log1p);
    Log1pOut = "log1p.out" => |f| cpu::un_out(f, UnaryOp::Log1p);
    Sqrt = "sqrt" => |f| cpu::un(f, UnaryOp::Sqrt);
    SqrtInplace = "sqrt_" => |f| cpu::un_inplace(f, UnaryOp::Sqrt);
    SqrtOut = "sqrt.out" => |f| cpu::un_out(f, UnaryOp::Sqrt);
    Rsqrt = "rsqrt" => |f| cpu::un(f, UnaryOp::Rsqrt);
    RsqrtInplace = "rsqrt_" => |f| cpu::un_inplace(f, UnaryOp::Rsqrt);
    RsqrtOut = "rsqrt.out" => |f| cpu::un_out(f, UnaryOp::Rsqrt);
    Reciprocal = "reciprocal" => |f| cpu::un(f, UnaryOp::Reciprocal);
    ReciprocalInplace = "reciprocal_" => |f| cpu::un_inplace(f, UnaryOp::Reciprocal);
    ReciprocalOut = "reciprocal.out" => |f| cpu::un_out(f, UnaryOp::Reciprocal);
    Sin = "sin" => |f| cpu::un(f, UnaryOp::Sin);
    SinInplace = "sin_" => |f| cpu::un_inplace(f, UnaryOp::Sin);
    SinOut = "sin.out" => |f| cpu::un_out(f, UnaryOp::Sin);
    Cos = "cos" => |f| cpu::un(f, UnaryOp::Cos);
    CosInplace = "cos_" => |f| cpu::un_inplace(f, UnaryOp::Cos);
    CosOut = "cos.out" => |f| cpu::un_out(f, UnaryOp::Cos);
    Tanh = "tanh" => |f| cpu::un(f, UnaryOp::Tanh);
    TanhInplace = "tanh_" => |f| cpu::un_inplace(f, UnaryOp::Tanh);
    TanhOut = "tanh.out" => |f| cpu::un_out(f, UnaryOp::Tanh);
    Sigmoid = "sigmoid" => |f| cpu::un(f, UnaryOp::Sigmoid);
    SigmoidInplace = "sigmoid_" => |f| cpu::un_inplace(f, UnaryOp::Sigmoid);
    SigmoidOut = "sigmoid.out" => |f| cpu::un_out(f, UnaryOp::Sigmoid);
    Relu = "relu" => |f| cpu::un(f, UnaryOp::Relu);
    ReluInplace = "relu_" => |f| cpu::un_inplace(f, UnaryOp::Relu);
    ReluOut = "relu.out" => |f| cpu::un_out(f, UnaryOp::Relu);
    Silu = "silu" => |f| cpu::un(f, UnaryOp::Silu);
    SiluInplace = "silu_" => |f| cpu::un_inplace(f, UnaryOp::Silu);
    SiluOut = "silu.out" => |f| cpu::un_out(f, UnaryOp::Silu);
    Erf = "erf" => |f| cpu::un(f, UnaryOp::Erf);
    ErfInplace = "erf_" => |f| cpu::un_inplace(f, UnaryOp::Erf);
    ErfOut = "erf.out" => |f| cpu::un_out(f, UnaryOp::Erf);
    Floor = "floor" => |f| cpu::un(f, UnaryOp::Floor);
    FloorInplace = "floor_" => |f| cpu::un_inplace(f, UnaryOp::Floor);
    FloorOut = "floor.out" => |f| cpu::un_out(f, UnaryOp::Floor);
    Ceil = "ceil" => |f| cpu::un(f, UnaryOp::Ceil);
    CeilInplace = "ceil_" => |f| cpu::un_inplace(f, UnaryOp::Ceil);
    CeilOut = "ceil.out" => |f| cpu::un_out(f, UnaryOp::Ceil);
    Round = "round" => |f| cpu::un(f, UnaryOp::Round);
    RoundInplace = "round_" => |f| cpu::un_inplace(f, UnaryOp::Round);
    RoundOut = "round.out" => |f| cpu::un_out(f, UnaryOp::Round);
    Gelu = "gelu" => cpu::gelu;
    GeluInplace = "gelu_" => cpu::gelu_inplace;
    GeluOut = "gelu.out" => cpu::gelu_out;
    Clamp = "clamp" => cpu::clamp;
    ClampInplace = "clamp_" => cpu::clamp_inplace;
    ClampOut = "clamp.out" => cpu::clamp_out;
    ToDtype = "to.dtype" => cpu::to_dtype;
    CopyInplace = "copy_" => cpu::copy_inplace;
    Sum = "sum" => |f| cpu::fold_all(f, Fold::Sum);
    SumDim = "sum.dim_IntList" => |f| cpu::fold_dims(f, Fold::Sum);
    Mean = "mean" => |f| cpu::fold_all(f, Fold::Mean);
    MeanDim = "mean.dim" => |f| cpu::fold_dims(f, Fold::Mean);
    Prod = "prod" => |f| cpu::fold_all(f, Fold::Prod);
    ProdDim = "prod.dim_int" => cpu::prod_dim;
    Max = "max" => |f| cpu::extreme(f, true);
    MaxDim = "max.dim" => |f| cpu::extreme_dim(f, true);
    Min = "min" => |f| cpu::extreme(f, false);
    MinDim = "min.dim" => |f| cpu::extreme_dim(f, false);
    Argmax = "argmax" => |f| cpu::arg(f, true);
    Argmin = "argmin" => |f| cpu::arg(f, false);
    Var = "var.correction" => |f| cpu::moments(f, false);
    Std = "std.correction" => |f| cpu::moments(f, true);
    Logsumexp = "logsumexp" => cpu::logsumexp;
    Norm = "norm.Scalar" => cpu::norm;
    NormDim = "norm.ScalarOpt_dim" => cpu::norm_dim;
    Any = "any" => |f| cpu::any_all(f, false, false);
    AnyDims = "any.dims" => |f| cpu::any_all(f, false, true);
    All = "all" => |f| cpu::any_all(f, true, false);
    AllDims = "all.dims" => |f| cpu::any_all(f, true, true);
    Softmax = "softmax.int" => |f| cpu::softmax(f, false);
    LogSoftmax = "log_softmax.int" => |f| cpu::softmax(f, true);
}

impl Op {
    /// The op of a schema name.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// A dense index for tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Ops whose outputs are never differentiable (bool or integer
    /// results): with a tensor that requires grad they skip the autograd
    /// key and run the backend kernel, as PyTorch's fallthrough does.
    pub const fn autograd_fallthrough(self) -> bool {
        matches!(
            self,
            Op::EqTensor
                | Op::EqScalar
                | Op::NeTensor
                | Op::NeScalar
                | Op::LtTensor
                | Op::LtScalar
                | Op::LeTensor
                | Op::LeScalar
                | Op::GtTensor
                | Op::GtScalar
                | Op::GeTensor
                | Op::GeScalar
                | Op::LogicalAnd
                | Op::LogicalOr
                | Op::LogicalXor
                | Op::Argmax
                | Op::Argmin
                | Op::Any
                | Op::AnyDims
                | Op::All
                | Op::AllDims
        )
    }

    /// Elementwise ops: their new output has the broadcast shape of their
    /// tensor arguments (what Hardened mode checks before allocating).
    pub fn is_elementwise(self) -> bool {
        let name = self.name();
        !matches!(
            name.split('.').next().unwrap_or(""),
            "sum"
                | "mean"
                | "prod"
                | "max"
                | "min"
                | "argmax"
                | "argmin"
                | "var"
                | "std"
                | "logsumexp"
                | "norm"
                | "any"
                | "all"
                | "softmax"
                | "log_softmax"
        )
    }
}
