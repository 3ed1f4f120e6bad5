//! virtio-mem devices: `virtio-mem add|probe|resize|show|driver|request|busy|
//! expire`.
//!
//! A device is the `virtio-mem` crate's, run by the VMM model
//! ([`crate::vmm::virtio_mem`]); unless `nodriver` is given, Linux's driver
//! ([`crate::drivers::virtio_mem`]) probes it at once and talks to it through
//! its virtqueue. Every command waits until the drivers have settled (see
//! the interpreter), so `resize` returns when the driver has plugged or
//! unplugged what it could. Time passes only with `virtio-mem expire`, which
//! fires the driver's armed retry timer.

use std::collections::BTreeMap;

use super::{Cmd, CommandDoc, Family};
use crate::drivers::virtio_mem::{DriverParams, Mode, VirtioMem};
use crate::errno::Errno;
use crate::machine::Machine;
use crate::script::args::{set_once, Args, Parsed, Word};
use crate::script::lexer::{ColumnError, Token};
use crate::script::output::{ok, text, CmdError, CmdResult};
use crate::script::world::World;
use crate::sync::Arc;
use crate::vmm::virtio_mem::{BlockState, HostVirtioMem, ResponseType};

/// Driver options of `add` and `probe` (module parameters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverOpts {
    /// `force_bbm=0|1`.
    pub force_bbm: Option<bool>,
    /// `bbm_block_size=SIZE`.
    pub bbm_block_size: Option<u64>,
    /// `unplug_online=0|1`.
    pub unplug_online: Option<bool>,
    /// `offline_threshold=SIZE`.
    pub offline_threshold: Option<u64>,
}

impl DriverOpts {
    fn params(&self) -> DriverParams {
        let d = DriverParams::default();
        DriverParams {
            unplug_online: self.unplug_online.unwrap_or(d.unplug_online),
            force_bbm: self.force_bbm.unwrap_or(d.force_bbm),
            bbm_block_size: self.bbm_block_size.unwrap_or(d.bbm_block_size),
            offline_threshold: self.offline_threshold,
        }
    }

    /// Takes `word` if it is a driver option.
    fn take(&mut self, word: Word<'_>, token: &Token) -> Parsed<bool> {
        let flag = |v: Word<'_>| -> Parsed<bool> {
            match v.text {
                "0" => Ok(false),
                "1" => Ok(true),
                _ if v.is_hole() => Ok(false),
                _ => Err(v.error(format!("expected 0 or 1, got `{}`", v.text))),
            }
        };
        match word.option() {
            Some(("force_bbm", v)) => set_once(&mut self.force_bbm, flag(v)?, token)?,
            Some(("unplug_online", v)) => set_once(&mut self.unplug_online, flag(v)?, token)?,
            Some(("bbm_block_size", v)) => set_once(&mut self.bbm_block_size, v.size()?, token)?,
            Some(("offline_threshold", v)) => {
                let t = v.size()?;
                if t == 0 && !v.is_hole() {
                    return Err(v.error("offline_threshold must not be 0".into()));
                }
                set_once(&mut self.offline_threshold, t, token)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A command of the virtio-mem family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VirtioCmd {
    /// `virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N]
    /// [requested=SIZE] [inaccessible] [nodriver] [driver options]`.
    Add {
        /// The device's name.
        dev: String,
        /// Start of the device region.
        addr: u64,
        /// Size of the device region.
        size: u64,
        /// Device block size.
        block: u64,
        /// Node (offers VIRTIO_MEM_F_ACPI_PXM).
        node: Option<u16>,
        /// Initial requested_size (default 0).
        requested: u64,
        /// Offer VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE.
        inaccessible: bool,
        /// Leave the device without a guest driver.
        nodriver: bool,
        /// The driver's module parameters.
        opts: DriverOpts,
    },
    /// `virtio-mem probe DEV [driver options]`: the driver binds to a
    /// device added with `nodriver`.
    Probe {
        /// The device.
        dev: String,
        /// The driver's module parameters.
        opts: DriverOpts,
    },
    /// `virtio-mem resize DEV SIZE`: the host sets requested_size.
    Resize {
        /// The device.
        dev: String,
        /// The new requested_size.
        size: u64,
    },
    /// `virtio-mem show DEV [FIELD]`: the device's configuration.
    Show {
        /// The device.
        dev: String,
        /// One field only.
        field: Option<String>,
    },
    /// `virtio-mem driver DEV [FIELD]`: the driver's state.
    Driver {
        /// The device.
        dev: String,
        /// One field only.
        field: Option<String>,
    },
    /// `virtio-mem request DEV KIND ...`: a raw guest request.
    Request {
        /// The device.
        dev: String,
        /// The request.
        req: VirtioMemRequest,
    },
    /// `virtio-mem busy DEV on|off`: the host backend is busy (QEMU during
    /// migration): state changes are answered BUSY.
    Busy {
        /// The device.
        dev: String,
        /// On or off.
        on: bool,
    },
    /// `virtio-mem expire DEV`: model time jumps to the driver's retry
    /// timer, which fires.
    Expire {
        /// The device.
        dev: String,
    },
}

/// A raw virtio-mem guest request: the wire format's own type (a parsed
/// `virtio-mem request` never holds `Unknown`).
pub use virtio_mem::Request as VirtioMemRequest;

impl VirtioCmd {
    /// The command's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            VirtioCmd::Add { .. } => "virtio-mem add",
            VirtioCmd::Probe { .. } => "virtio-mem probe",
            VirtioCmd::Resize { .. } => "virtio-mem resize",
            VirtioCmd::Show { .. } => "virtio-mem show",
            VirtioCmd::Driver { .. } => "virtio-mem driver",
            VirtioCmd::Request { .. } => "virtio-mem request",
            VirtioCmd::Busy { .. } => "virtio-mem busy",
            VirtioCmd::Expire { .. } => "virtio-mem expire",
        }
    }
}

pub(crate) const FAMILY: Family = Family {
    keywords: &[("virtio-mem", virtio_mem)],
    process_verbs: &[],
    pin_verbs: &[],
    docs: &[
        CommandDoc {
            syntax: "virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N] [requested=SIZE] [inaccessible] [nodriver]",
            summary: "a virtio-mem device (VMM side) and, unless nodriver, Linux's driver probing it; also takes the driver options of `probe`",
        },
        CommandDoc {
            syntax: "virtio-mem probe DEV [force_bbm=0|1] [bbm_block_size=SIZE] [unplug_online=0|1] [offline_threshold=SIZE]",
            summary: "the driver binds to a device added with nodriver (with memory still plugged it sends UNPLUG_ALL first)",
        },
        CommandDoc {
            syntax: "virtio-mem resize DEV SIZE",
            summary: "the host sets requested_size (a config-change interrupt); returns when the driver settled",
        },
        CommandDoc {
            syntax: "virtio-mem show DEV [FIELD]",
            summary: "the device's configuration, one field a line in bytes: block_size addr region_size usable_region_size plugged_size requested_size",
        },
        CommandDoc {
            syntax: "virtio-mem driver DEV [FIELD]",
            summary: "the driver's state: mode unit plugged_size offline_size offline_threshold retry_timer_ms timer broken, then one line per block it prepared: memoryN=STATE PLUGGED/TOTAL (SBM) or bbN=STATE (BBM)",
        },
        CommandDoc {
            syntax: "virtio-mem request DEV plug|unplug|unplug_all|state ADDR NB_BLOCKS",
            summary: "a raw guest request to the device; prints ACK|NACK|BUSY|ERROR (state: PLUGGED|UNPLUGGED|MIXED)",
        },
        CommandDoc {
            syntax: "virtio-mem busy DEV on|off",
            summary: "the host backend is busy (as during migration): plug and unplug requests get BUSY",
        },
        CommandDoc {
            syntax: "virtio-mem expire DEV",
            summary: "model time jumps to the driver's armed retry timer, which fires (ENOENT if none is armed)",
        },
    ],
};

fn virtio_mem(a: &mut Args<'_>) -> Parsed<Cmd> {
    let sub =
        a.word("`add`, `probe`, `resize`, `show`, `driver`, `request`, `busy` or `expire`")?;
    let dev = match sub.text {
        "add" | "probe" | "resize" | "show" | "driver" | "request" | "busy" | "expire" => {
            a.name("DEV")?
        }
        _ => return Err(sub.unknown("virtio-mem")),
    };
    Ok(Cmd::Virtio(match sub.text {
        "add" => virtio_mem_add(dev, a)?,
        "probe" => {
            let mut opts = DriverOpts::default();
            for (word, token) in a.rest_words("a driver option")? {
                if !opts.take(word, token)? {
                    return Err(word.unknown_option("virtio-mem probe"));
                }
            }
            VirtioCmd::Probe { dev, opts }
        }
        "resize" => VirtioCmd::Resize {
            dev,
            size: a.size("SIZE")?,
        },
        "show" => VirtioCmd::Show {
            dev,
            field: a.field()?,
        },
        "driver" => VirtioCmd::Driver {
            dev,
            field: a.field()?,
        },
        "busy" => {
            let w = a.word("`on` or `off`")?;
            let on = match w.text {
                "on" => true,
                "off" => false,
                _ => return Err(w.error(format!("expected `on` or `off`, got `{}`", w.text))),
            };
            VirtioCmd::Busy { dev, on }
        }
        "expire" => VirtioCmd::Expire { dev },
        _ => {
            let kind = a.word("`plug`, `unplug`, `unplug_all` or `state`")?;
            let req = match kind.text {
                // VIRTIO_MEM_REQ_UNPLUG_ALL carries no range on the wire; one
                // written as in the other requests is accepted and checked, not
                // sent.
                "unplug_all" => {
                    if a.more() {
                        a.number("ADDR")?;
                        a.word("NB_BLOCKS")?.small::<u16>()?;
                    }
                    VirtioMemRequest::UnplugAll
                }
                "plug" | "unplug" | "state" => {
                    let addr = a.number("ADDR")?;
                    let nb_blocks = a.word("NB_BLOCKS")?.small()?;
                    match kind.text {
                        "plug" => VirtioMemRequest::Plug { addr, nb_blocks },
                        "unplug" => VirtioMemRequest::Unplug { addr, nb_blocks },
                        _ => VirtioMemRequest::State { addr, nb_blocks },
                    }
                }
                _ => return Err(kind.unknown("virtio-mem request")),
            };
            VirtioCmd::Request { dev, req }
        }
    }))
}

/// `virtio-mem add DEV addr=ADDR size=SIZE block=SIZE [node=N] [requested=SIZE]
/// [inaccessible] [nodriver] [driver options]`. The device's own rules
/// (QEMU's realize checks) are checked here, at the word that breaks them.
fn virtio_mem_add(dev: String, a: &mut Args<'_>) -> Parsed<VirtioCmd> {
    let mut addr: Option<(u64, Word<'_>)> = None;
    let mut size: Option<(u64, Word<'_>)> = None;
    let mut block: Option<(u64, Word<'_>)> = None;
    let mut node = None;
    let mut requested: Option<(u64, Word<'_>)> = None;
    let mut inaccessible = None;
    let mut nodriver = None;
    let mut opts = DriverOpts::default();
    for (word, token) in a.rest_words("a virtio-mem option")? {
        match word.text {
            "inaccessible" => set_once(&mut inaccessible, (), token)?,
            "nodriver" => set_once(&mut nodriver, (), token)?,
            _ if opts.take(word, token)? => {}
            _ => match word.option() {
                Some(("addr", v)) => set_once(&mut addr, (v.number()?, v), token)?,
                Some(("size", v)) => set_once(&mut size, (v.size()?, v), token)?,
                Some(("block", v)) => set_once(&mut block, (v.size()?, v), token)?,
                Some(("node", v)) => set_once(&mut node, v.small()?, token)?,
                Some(("requested", v)) => set_once(&mut requested, (v.size()?, v), token)?,
                _ => return Err(word.unknown_option("virtio-mem add")),
            },
        }
    }
    let missing = |what: &str| ColumnError::new(a.end, format!("missing `{what}`"));
    let (addr, addr_w) = addr.ok_or_else(|| missing("addr=ADDR"))?;
    let (size, size_w) = size.ok_or_else(|| missing("size=SIZE"))?;
    let (block, block_w) = block.ok_or_else(|| missing("block=SIZE"))?;
    if !block_w.is_hole() {
        if !block.is_power_of_two() || block < virtio_mem::MIN_BLOCK_SIZE {
            return Err(block_w.error(format!(
                "block={block:#x}: the device block size is a power of two of at least {:#x} (V-CFG-5)",
                virtio_mem::MIN_BLOCK_SIZE
            )));
        }
        let aligned = |v: u64, w: Word<'_>, what: &str| -> Parsed<()> {
            if !w.is_hole() && v % block != 0 {
                return Err(w.error(format!(
                    "{what}={v:#x} is not a multiple of block={block:#x} (V-CFG-6)"
                )));
            }
            Ok(())
        };
        aligned(addr, addr_w, "addr")?;
        aligned(size, size_w, "size")?;
        if let Some((r, w)) = requested {
            aligned(r, w, "requested")?;
        }
    }
    if !size_w.is_hole() && size == 0 {
        return Err(size_w.error("size must not be 0".into()));
    }
    if !size_w.is_hole() && !block_w.is_hole() && size / block > MAX_DEVICE_BLOCKS {
        return Err(size_w.error(format!(
            "size={size:#x} is {} blocks of {block:#x}; a device has at most {MAX_DEVICE_BLOCKS} (its bitmaps live in host memory): use a larger block",
            size / block
        )));
    }
    if !addr_w.is_hole() && !size_w.is_hole() && addr.checked_add(size).is_none() {
        return Err(size_w.error(format!(
            "addr={addr:#x} + size={size:#x} overflows the address space"
        )));
    }
    if let Some((r, w)) = requested {
        if !w.is_hole() && !size_w.is_hole() && r > size {
            return Err(w.error(format!("requested={r:#x} exceeds size={size:#x}")));
        }
    }
    Ok(VirtioCmd::Add {
        dev,
        addr,
        size,
        block,
        node,
        requested: requested.map_or(0, |(r, _)| r),
        inaccessible: inaccessible.is_some(),
        nodriver: nodriver.is_some(),
        opts,
    })
}

/// Blocks a device may have (2^26: 8 MiB of bitmap in the device and as
/// much in its fence; 256G of 4K blocks, 128T of 2M blocks).
pub const MAX_DEVICE_BLOCKS: u64 = 1 << 26;

/// Devices a machine may have (each driver runs a thread; KVM offers a few
/// hundred memory slots in all).
pub const MAX_DEVICES: usize = 64;

/// A device of the scenario and its driver, if one is bound.
pub(crate) struct VirtioDev {
    host: Arc<HostVirtioMem>,
    driver: Option<Arc<VirtioMem>>,
}

/// The scenario's virtio-mem devices, by name.
#[derive(Default)]
pub(crate) struct VirtioDevs {
    devs: BTreeMap<String, VirtioDev>,
}

impl VirtioDevs {
    fn get(&self, name: &str) -> Result<&VirtioDev, CmdError> {
        self.devs.get(name).ok_or(CmdError::Errno(Errno::ENODEV))
    }

    /// For the memory block `[start, start + size)` inside a device's
    /// region: the device's name and, per device block of the memory block
    /// (at most 64, each then standing for a run), whether the host has it
    /// plugged. None if no device's region holds the block.
    pub(crate) fn plugged_in(&self, start: u64, size: u64) -> Option<(String, Vec<bool>)> {
        self.devs.iter().find_map(|(name, d)| {
            let c = d.host.config();
            let end = c.addr.checked_add(c.region_size)?;
            if start < c.addr || start.checked_add(size)? > end || c.block_size == 0 {
                return None;
            }
            let runs = d.host.plugged_ranges();
            let n = (size / c.block_size).clamp(1, 64);
            let step = size / n;
            let plugged = (0..n)
                .map(|i| {
                    let at = start + i * step;
                    runs.iter().any(|&(a, len)| a <= at && at < a + len)
                })
                .collect();
            Some((name.clone(), plugged))
        })
    }
}

fn probe(m: &Arc<Machine>, name: &str, d: &mut VirtioDev, opts: &DriverOpts) -> CmdResult {
    if d.driver.is_some() {
        return Err(CmdError::Errno(Errno::EBUSY));
    }
    let transport = d.host.clone();
    d.driver = Some(m.virtio_mem_probe(name, transport, opts.params())?);
    ok()
}

/// The family's runner.
pub(crate) fn run(cmd: &VirtioCmd, w: &mut World) -> CmdResult {
    let m = &w.machine;
    let devs = &mut w.virtio;
    match cmd {
        VirtioCmd::Add {
            dev,
            addr,
            size,
            block,
            node,
            requested,
            inaccessible,
            nodriver,
            opts,
        } => {
            if devs.devs.contains_key(dev) {
                return Err(CmdError::Errno(Errno::EEXIST));
            }
            if devs.devs.len() >= MAX_DEVICES {
                m.log(format!("virtio-mem {dev}: at most {MAX_DEVICES} devices"));
                return Err(CmdError::Errno(Errno::ENOSPC));
            }
            let end = addr.saturating_add(*size);
            // The region is the device's own: no RAM and no other device there
            // (QEMU: "address space already in use").
            let clash = m
                .resources()
                .iter()
                .any(|r| r.range.start < end && *addr < r.range.end)
                || devs.devs.values().any(|d| {
                    let c = d.host.config();
                    c.addr < end && *addr < c.addr + c.region_size
                });
            if clash {
                return Err(CmdError::Errno(Errno::EBUSY));
            }
            if let Some(n) = node {
                if usize::from(*n) >= m.config().nodes {
                    return Err(CmdError::Errno(Errno::EINVAL));
                }
            }
            let params = virtio_mem::DeviceParams {
                addr: *addr,
                region_size: *size,
                block_size: *block,
                node_id: node.unwrap_or(0),
                requested_size: *requested,
                offer_acpi_pxm: node.is_some(),
                offer_unplugged_inaccessible: *inaccessible,
                ..virtio_mem::DeviceParams::default()
            };
            let host = HostVirtioMem::new(m, dev, params).map_err(|e| {
                m.log(format!("virtio-mem {dev}: {e}"));
                CmdError::Errno(Errno::EINVAL)
            })?;
            let mut d = VirtioDev {
                host: Arc::new(host),
                driver: None,
            };
            let ret = if *nodriver {
                ok()
            } else {
                probe(m, dev, &mut d, opts)
            };
            if ret.is_err() {
                d.host.unplug_device(m);
                return ret;
            }
            devs.devs.insert(dev.clone(), d);
            ret
        }
        VirtioCmd::Probe { dev, opts } => {
            let d = devs
                .devs
                .get_mut(dev)
                .ok_or(CmdError::Errno(Errno::ENODEV))?;
            probe(m, dev, d, opts)
        }
        VirtioCmd::Resize { dev, size } => {
            devs.get(dev)?
                .host
                .set_requested_size(*size)
                .map_err(|_| CmdError::Errno(Errno::EINVAL))?;
            ok()
        }
        VirtioCmd::Show { dev, field } => {
            let c = devs.get(dev)?.host.config();
            let fields = [
                ("block_size", c.block_size),
                ("addr", c.addr),
                ("region_size", c.region_size),
                ("usable_region_size", c.usable_region_size),
                ("plugged_size", c.plugged_size),
                ("requested_size", c.requested_size),
            ];
            lines(&fields.map(|(k, v)| (k, v.to_string())), field)
        }
        VirtioCmd::Driver { dev, field } => {
            let vm = devs
                .get(dev)?
                .driver
                .clone()
                .ok_or(CmdError::Errno(Errno::ENODEV))?;
            driver_state(m, &vm, field)
        }
        VirtioCmd::Request { dev, req } => {
            let host = &devs.get(dev)?.host;
            let resp = host.handle(m, *req);
            text(match (resp.ty, resp.state) {
                (ResponseType::Ack, Some(BlockState::Plugged)) => "PLUGGED",
                (ResponseType::Ack, Some(BlockState::Unplugged)) => "UNPLUGGED",
                (ResponseType::Ack, Some(BlockState::Mixed)) => "MIXED",
                (ResponseType::Ack, None) => "ACK",
                (ResponseType::Nack, _) => "NACK",
                (ResponseType::Busy, _) => "BUSY",
                (ResponseType::Error, _) => "ERROR",
            })
        }
        VirtioCmd::Busy { dev, on } => {
            devs.get(dev)?.host.set_busy(*on);
            ok()
        }
        VirtioCmd::Expire { dev } => {
            let vm = devs
                .get(dev)?
                .driver
                .clone()
                .ok_or(CmdError::Errno(Errno::ENODEV))?;
            m.virtio_mem()
                .advance_to_timer(&vm)
                .ok_or(CmdError::Errno(Errno::ENOENT))?;
            ok()
        }
    }
}

/// `KEY=VALUE`, one a line, or one value (EINVAL for an unknown field).
fn lines<K: AsRef<str>>(fields: &[(K, String)], field: &Option<String>) -> CmdResult {
    match field {
        Some(f) => fields
            .iter()
            .find(|(k, _)| k.as_ref() == f)
            .map(|(_, v)| text(v))
            .unwrap_or(Err(CmdError::Errno(Errno::EINVAL))),
        None => text(
            fields
                .iter()
                .map(|(k, v)| format!("{}={v}", k.as_ref()))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    }
}

/// The driver's state, then one line per block it prepared:
/// `memoryN=STATE PLUGGED/TOTAL` (SBM) or `bbN=STATE` (BBM).
fn driver_state(m: &Machine, vm: &VirtioMem, field: &Option<String>) -> CmdResult {
    let (mode, unit) = match vm.mode {
        Mode::Sbm { sb_size, .. } => ("sbm", sb_size),
        Mode::Bbm { bb_size } => ("bbm", bb_size),
    };
    let timer = match vm.timer_armed() {
        Some(at) => format!("{}ms", at.saturating_sub(m.virtio_mem().now_ms())),
        None => "none".into(),
    };
    let mut fields: Vec<(String, String)> = [
        ("mode", mode.to_string()),
        ("unit", unit.to_string()),
        ("plugged_size", vm.plugged_size().to_string()),
        ("offline_size", vm.offline_size().to_string()),
        ("offline_threshold", vm.offline_threshold.to_string()),
        ("retry_timer_ms", vm.retry_timer_ms().to_string()),
        ("timer", timer),
        ("broken", u8::from(vm.is_broken()).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    match vm.mode {
        Mode::Sbm { sbs_per_mb, .. } => {
            for (id, s, n) in vm.sbm_blocks() {
                fields.push((
                    format!("memory{id}"),
                    format!("{} {n}/{sbs_per_mb}", s.name()),
                ));
            }
        }
        Mode::Bbm { .. } => {
            for (id, s) in vm.bbm_blocks() {
                fields.push((format!("bb{id}"), s.name().to_string()));
            }
        }
    }
    lines(&fields, field)
}
