//! Devices. Only the CPU executes; the other kinds PyTorch names parse, so
//! that a device string from a PyTorch program is understood, and then fail
//! closed when anything would run on them.

use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    Cpu,
    Cuda,
    Mps,
    Xpu,
    Meta,
}

impl DeviceKind {
    pub const fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Mps => "mps",
            DeviceKind::Xpu => "xpu",
            DeviceKind::Meta => "meta",
        }
    }
}

/// A device and an optional index, as `torch.device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    pub kind: DeviceKind,
    pub index: Option<u16>,
}

impl Device {
    pub const CPU: Device = Device {
        kind: DeviceKind::Cpu,
        index: None,
    };

    #[inline]
    pub fn is_cpu(&self) -> bool {
        self.kind == DeviceKind::Cpu
    }

    /// `Ok` for the CPU; for any other device, the error every operation on
    /// it returns.
    #[inline]
    pub fn check_executable(&self) -> Result<()> {
        if self.is_cpu() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Device,
            format!(
                "device '{self}' is not available: FrankenTorch executes on the CPU only \
                 (Torch not compiled with {} enabled)",
                self.kind.name().to_uppercase()
            ),
        ))
    }
}

impl Default for Device {
    fn default() -> Self {
        Device::CPU
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}:{i}", self.kind.name()),
            None => f.write_str(self.kind.name()),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// Parses `cpu`, `cuda`, `cuda:1`, `mps`, `xpu:0`, `meta`.
    fn from_str(s: &str) -> Result<Self> {
        let (kind_str, index_str) = match s.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (s, None),
        };
        let kind = match kind_str {
            "cpu" => DeviceKind::Cpu,
            "cuda" => DeviceKind::Cuda,
            "mps" => DeviceKind::Mps,
            "xpu" => DeviceKind::Xpu,
            "meta" => DeviceKind::Meta,
            _ => {
                return Err(Error::new(
                    ErrorKind::Device,
                    format!(
                        "Expected one of cpu, cuda, mps, xpu, meta device type at start of \
                         device string: {s}"
                    ),
                ));
            }
        };
        let index = match index_str {
            None => None,
            Some(i) => match i.parse::<u16>() {
                Ok(v) if !i.starts_with('+') && (i == "0" || !i.starts_with('0')) => Some(v),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Device,
                        format!("Invalid device string: '{s}'"),
                    ));
                }
            },
        };
        Ok(Device { kind, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pytorch_device_strings() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::CPU);
        let d: Device = "cuda:1".parse().unwrap();
        assert_eq!((d.kind, d.index), (DeviceKind::Cuda, Some(1)));
        assert_eq!(d.to_string(), "cuda:1");
        assert!("cuda:x".parse::<Device>().is_err());
        assert!("cuda:01".parse::<Device>().is_err());
        assert!("tpu".parse::<Device>().is_err());
    }

    #[test]
    fn only_cpu_executes() {
        assert!(Device::CPU.check_executable().is_ok());
        let e = "mps"
            .parse::<Device>()
            .unwrap()
            .check_executable()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Device);
    }
}
