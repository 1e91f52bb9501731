//! Samba's test interface `rpcecho` (`librpc/idl/echo.idl`: uuid
//! `60a15ec5-4de8-11d7-a637-005056a20182`, version 1.0): the example of an interface declared
//! with [`dce_interface!`](crate::dce_interface), and a server ([`Echo`]) that answers as
//! Samba's does, so Samba's `rpcclient` and impacket can try pipework, and pipework's client
//! can try Samba.
//!
//! ```
//! use std::sync::Arc;
//! use pipework::rpc::dce::{echo, Server};
//! use pipework::rpc::dce::ndr::Conformant;
//!
//! let mut server = Server::new();
//! server.add(echo::RpcechoServer(echo::Echo));
//! let server = Arc::new(server);
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! std::thread::spawn(move || server.serve_tcp(listener));
//!
//! let mut client = echo::RpcechoClient::bind(std::net::TcpStream::connect(addr)?)?;
//! assert_eq!(client.add_one(1)?, 2);
//! assert_eq!(client.echo_data(3, Conformant(vec![7, 8, 9]))?.0, [7, 8, 9]);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::time::Duration;

use super::interface::{CallInfo, Fault};
use super::ndr::{max_align, Conformant, Ndr, NdrError, NdrReader, NdrWriter, Unique, WString};

/// The pipe Samba serves `rpcecho` on (`ncacn_np:[\pipe\rpcecho]`).
pub const PIPE_NAME: &str = r"\\.\pipe\rpcecho";

/// `NT_STATUS_INVALID_LEVEL`, what Samba's `TestCall2` returns for a level it does not know.
pub const NT_STATUS_INVALID_LEVEL: u32 = 0xc000_0148;

crate::dce_interface! {
    /// Samba's `rpcecho` interface: operation numbers and arguments as `echo.idl` gives them.
    pub trait Rpcecho;
    server RpcechoServer; client RpcechoClient;
    uuid "60a15ec5-4de8-11d7-a637-005056a20182", version (1, 0);
    /// `echo_AddOne`: `in_data + 1`.
    0 => fn add_one(in_data: u32) -> u32;
    /// `echo_EchoData`: the `len` bytes sent, back.
    1 => fn echo_data(len: u32, in_data: Conformant<u8>) -> Conformant<u8>;
    /// `echo_SinkData`: takes `len` bytes, answers nothing.
    2 => fn sink_data(len: u32, data: Conformant<u8>) -> ();
    /// `echo_SourceData`: `len` bytes, byte `i` being `i & 0xff`.
    3 => fn source_data(len: u32) -> Conformant<u8>;
    /// `echo_TestCall`: a UTF-16 string, back through a unique pointer.
    4 => fn test_call(s1: WString) -> Unique<WString>;
    /// `echo_TestCall2`: the union arm of `level` with Samba's fixed values, and an NTSTATUS.
    5 => fn test_call2(level: u16) -> (Info, u32);
    /// `echo_TestSleep`: waits `seconds` (pipework's server: at most 10), returns them.
    6 => fn test_sleep(seconds: u32) -> u32;
    /// `echo_TestEnum`: the three values back, `foo2.e1` set to `ECHO_ENUM2`.
    7 => fn test_enum(foo1: u16, foo2: Enum2, foo3: Enum3) -> (u16, Enum2, Enum3);
    /// `echo_TestSurrounding`: `x` doubled, and that many zeros.
    8 => fn test_surrounding(data: Surrounding) -> Surrounding;
    /// `echo_TestDoublePointer`: the `uint16` at the end of `data`'s pointers (0 if a pointer
    /// is null).
    9 => fn test_double_pointer(data: Unique<Unique<u16>>) -> u16;
}

crate::ndr_struct! {
    /// `echo_info5`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Info5 { /** `v1` */ pub v1: u8, /** `v2` */ pub v2: u64 }
}

crate::ndr_struct! {
    /// `echo_info6`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Info6 { /** `v1` */ pub v1: u8, /** `info1.v` */ pub info1: u8 }
}

crate::ndr_struct! {
    /// `echo_info7`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Info7 { /** `v1` */ pub v1: u8, /** `info4.v` */ pub info4: u64 }
}

crate::ndr_struct! {
    /// `echo_Enum2`: a 16-bit and a 32-bit (`v1_enum`) enum.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Enum2 { /** `e1` */ pub e1: u16, /** `e2` */ pub e2: u32 }
}

/// `echo_Info`: a union switched by a `uint16` level, which travels before the arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Info {
    /// Level 1, `echo_info1`.
    Info1(u8),
    /// Level 2, `echo_info2`.
    Info2(u16),
    /// Level 3, `echo_info3`.
    Info3(u32),
    /// Level 4, `echo_info4` (a `hyper`).
    Info4(u64),
    /// Level 5.
    Info5(Info5),
    /// Level 6.
    Info6(Info6),
    /// Level 7.
    Info7(Info7),
}

impl Ndr for Info {
    const ALIGN: usize = 8;
    const MIN_SIZE: usize = 3;
    fn encode(&self, w: &mut NdrWriter) {
        match self {
            Info::Info1(v) => (1u16, *v).encode(w),
            Info::Info2(v) => {
                w.u16(2);
                v.encode(w)
            }
            Info::Info3(v) => {
                w.u16(3);
                v.encode(w)
            }
            Info::Info4(v) => {
                w.u16(4);
                v.encode(w)
            }
            Info::Info5(v) => {
                w.u16(5);
                v.encode(w)
            }
            Info::Info6(v) => {
                w.u16(6);
                v.encode(w)
            }
            Info::Info7(v) => {
                w.u16(7);
                v.encode(w)
            }
        }
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        Ok(match r.u16()? {
            1 => Info::Info1(u8::decode(r)?),
            2 => Info::Info2(u16::decode(r)?),
            3 => Info::Info3(u32::decode(r)?),
            4 => Info::Info4(u64::decode(r)?),
            5 => Info::Info5(Info5::decode(r)?),
            6 => Info::Info6(Info6::decode(r)?),
            7 => Info::Info7(Info7::decode(r)?),
            n => return Err(NdrError(format!("echo_Info: no arm for level {n}"))),
        })
    }
}

/// `echo_Enum3`: a union switched by a `uint16`, which travels before the arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enum3 {
    /// `ECHO_ENUM1`: an `echo_Enum1`.
    E1(u16),
    /// `ECHO_ENUM2`: an `echo_Enum2`.
    E2(Enum2),
}

impl Ndr for Enum3 {
    const ALIGN: usize = 4;
    const MIN_SIZE: usize = 4;
    fn encode(&self, w: &mut NdrWriter) {
        match self {
            Enum3::E1(v) => {
                w.u16(1);
                v.encode(w)
            }
            Enum3::E2(v) => {
                w.u16(2);
                v.encode(w)
            }
        }
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        Ok(match r.u16()? {
            1 => Enum3::E1(u16::decode(r)?),
            2 => Enum3::E2(Enum2::decode(r)?),
            n => return Err(NdrError(format!("echo_Enum3: no arm for {n}"))),
        })
    }
}

/// `echo_Surrounding`: a conformant structure (its array's size travels first, then `x`,
/// then the array).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Surrounding {
    /// `x`, which is also the array's size.
    pub x: u32,
    /// `surrounding[x]`.
    pub surrounding: Vec<u16>,
}

impl Ndr for Surrounding {
    const ALIGN: usize = max_align(4, 2);
    const MIN_SIZE: usize = 8;
    fn encode(&self, w: &mut NdrWriter) {
        w.u32(self.surrounding.len() as u32);
        w.u32(self.x);
        for v in &self.surrounding {
            v.encode(w);
        }
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        let max = r.u32()?;
        let x = r.u32()?;
        if max != x {
            return Err(NdrError(format!(
                "echo_Surrounding: array size {max}, x {x}"
            )));
        }
        let n = r.count(max, 2)?;
        let mut surrounding = Vec::with_capacity(n);
        for _ in 0..n {
            surrounding.push(u16::decode(r)?);
        }
        Ok(Surrounding { x, surrounding })
    }
}

/// The `rpcecho` server, answering as Samba's does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

fn same_len(len: u32, data: &[u8]) -> Result<(), Fault> {
    if len as usize == data.len() {
        Ok(())
    } else {
        Err(Fault::BAD_STUB_DATA)
    }
}

impl Rpcecho for Echo {
    fn add_one(&self, _: &CallInfo, in_data: u32) -> Result<u32, Fault> {
        Ok(in_data.wrapping_add(1))
    }

    fn echo_data(
        &self,
        _: &CallInfo,
        len: u32,
        data: Conformant<u8>,
    ) -> Result<Conformant<u8>, Fault> {
        same_len(len, &data.0)?;
        Ok(data)
    }

    fn sink_data(&self, _: &CallInfo, len: u32, data: Conformant<u8>) -> Result<(), Fault> {
        same_len(len, &data.0)
    }

    fn source_data(&self, _: &CallInfo, len: u32) -> Result<Conformant<u8>, Fault> {
        if len as usize > super::server::DEFAULT_MAX_CALL {
            return Err(Fault::NO_MEMORY);
        }
        Ok(Conformant((0..len).map(|i| i as u8).collect()))
    }

    fn test_call(&self, _: &CallInfo, s1: WString) -> Result<Unique<WString>, Fault> {
        Ok(Unique(Some(s1)))
    }

    fn test_call2(&self, _: &CallInfo, level: u16) -> Result<(Info, u32), Fault> {
        let info = match level {
            1 => Info::Info1(10),
            2 => Info::Info2(20),
            3 => Info::Info3(30),
            4 => Info::Info4(40),
            5 => Info::Info5(Info5 { v1: 50, v2: 60 }),
            6 => Info::Info6(Info6 { v1: 70, info1: 80 }),
            7 => Info::Info7(Info7 { v1: 80, info4: 90 }),
            // Samba's answer (NT_STATUS_INVALID_LEVEL) comes with a union it cannot marshal.
            _ => return Err(Fault::BAD_STUB_DATA),
        };
        Ok((info, 0))
    }

    fn test_sleep(&self, _: &CallInfo, seconds: u32) -> Result<u32, Fault> {
        std::thread::sleep(Duration::from_secs(seconds.min(10) as u64));
        Ok(seconds)
    }

    fn test_enum(
        &self,
        _: &CallInfo,
        foo1: u16,
        mut foo2: Enum2,
        foo3: Enum3,
    ) -> Result<(u16, Enum2, Enum3), Fault> {
        foo2.e1 = 2;
        Ok((foo1, foo2, foo3))
    }

    fn test_surrounding(&self, _: &CallInfo, data: Surrounding) -> Result<Surrounding, Fault> {
        let x = data.x.checked_mul(2).ok_or(Fault::NO_MEMORY)?;
        if x as usize > super::server::DEFAULT_MAX_CALL / 2 {
            return Err(Fault::NO_MEMORY);
        }
        Ok(Surrounding {
            x,
            surrounding: vec![0; x as usize],
        })
    }

    fn test_double_pointer(&self, _: &CallInfo, data: Unique<Unique<u16>>) -> Result<u16, Fault> {
        Ok(data.0.and_then(|p| p.0).unwrap_or(0))
    }
}
