//! The wire format against the C header the host has installed
//! (`<linux/virtio_mem.h>`, Debian's linux-libc-dev): sizes, offsets of every
//! field, and every VIRTIO_MEM_* constant. Rust offsets are not written
//! down twice: they are found by encoding distinct values and searching the
//! bytes `to_bytes()` produced.
//!
//! Without a C compiler or the header the test fails under `CI=true` and
//! prints why it skipped otherwise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use virtio_mem::*;

const PROGRAM: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <linux/virtio_mem.h>

#define P(name, v) printf("%s %llu\n", name, (unsigned long long)(v))
#define FIELD(ty, f) do { \
    P(#ty "." #f ".offset", offsetof(struct ty, f)); \
    P(#ty "." #f ".size", sizeof(((struct ty *)0)->f)); \
} while (0)
#define MISSING(name) printf("missing %s\n", name)

int main(void)
{
    P("virtio_mem_config.size", sizeof(struct virtio_mem_config));
    FIELD(virtio_mem_config, block_size);
    FIELD(virtio_mem_config, node_id);
    FIELD(virtio_mem_config, padding);
    FIELD(virtio_mem_config, addr);
    FIELD(virtio_mem_config, region_size);
    FIELD(virtio_mem_config, usable_region_size);
    FIELD(virtio_mem_config, plugged_size);
    FIELD(virtio_mem_config, requested_size);

    P("virtio_mem_req.size", sizeof(struct virtio_mem_req));
    FIELD(virtio_mem_req, type);
    FIELD(virtio_mem_req, padding);
    FIELD(virtio_mem_req, u.plug.addr);
    FIELD(virtio_mem_req, u.plug.nb_blocks);
    FIELD(virtio_mem_req, u.plug.padding);
    FIELD(virtio_mem_req, u.unplug.addr);
    FIELD(virtio_mem_req, u.unplug.nb_blocks);
    FIELD(virtio_mem_req, u.unplug.padding);
    FIELD(virtio_mem_req, u.state.addr);
    FIELD(virtio_mem_req, u.state.nb_blocks);
    FIELD(virtio_mem_req, u.state.padding);

    P("virtio_mem_resp.size", sizeof(struct virtio_mem_resp));
    FIELD(virtio_mem_resp, type);
    FIELD(virtio_mem_resp, padding);
    FIELD(virtio_mem_resp, u.state.state);

    P("VIRTIO_ID_MEM", VIRTIO_ID_MEM);
    P("VIRTIO_F_VERSION_1", VIRTIO_F_VERSION_1);
    P("VIRTIO_MEM_REQ_PLUG", VIRTIO_MEM_REQ_PLUG);
    P("VIRTIO_MEM_REQ_UNPLUG", VIRTIO_MEM_REQ_UNPLUG);
    P("VIRTIO_MEM_REQ_UNPLUG_ALL", VIRTIO_MEM_REQ_UNPLUG_ALL);
    P("VIRTIO_MEM_REQ_STATE", VIRTIO_MEM_REQ_STATE);
    P("VIRTIO_MEM_RESP_ACK", VIRTIO_MEM_RESP_ACK);
    P("VIRTIO_MEM_RESP_NACK", VIRTIO_MEM_RESP_NACK);
    P("VIRTIO_MEM_RESP_BUSY", VIRTIO_MEM_RESP_BUSY);
    P("VIRTIO_MEM_RESP_ERROR", VIRTIO_MEM_RESP_ERROR);
    P("VIRTIO_MEM_STATE_PLUGGED", VIRTIO_MEM_STATE_PLUGGED);
    P("VIRTIO_MEM_STATE_UNPLUGGED", VIRTIO_MEM_STATE_UNPLUGGED);
    P("VIRTIO_MEM_STATE_MIXED", VIRTIO_MEM_STATE_MIXED);
    P("VIRTIO_MEM_F_ACPI_PXM", VIRTIO_MEM_F_ACPI_PXM);
#ifdef VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE
    P("VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE", VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE);
#else
    MISSING("VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE");
#endif
#ifdef VIRTIO_MEM_F_PERSISTENT_SUSPEND
    P("VIRTIO_MEM_F_PERSISTENT_SUSPEND", VIRTIO_MEM_F_PERSISTENT_SUSPEND);
#else
    MISSING("VIRTIO_MEM_F_PERSISTENT_SUSPEND");
#endif
    return 0;
}
"#;

/// Build and run the C program; `Err` says why that was impossible.
fn run_c_program() -> Result<String, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("virtio-mem-c-layout");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, PROGRAM).map_err(|e| format!("cannot write {}: {e}", src.display()))?;
    let cc = Command::new("cc")
        .arg("-std=gnu11")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .map_err(|e| format!("no C compiler `cc`: {e}"))?;
    if !cc.status.success() {
        return Err(format!(
            "cc could not build the layout program (is linux-libc-dev installed?):\n{}",
            String::from_utf8_lossy(&cc.stderr)
        ));
    }
    let run = Command::new(&exe)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !run.status.success() {
        return Err(format!("{} failed: {:?}", exe.display(), run.status));
    }
    Ok(String::from_utf8_lossy(&run.stdout).into_owned())
}

/// Offset of `needle` inside `hay`, which must occur exactly once.
fn find(hay: &[u8], needle: &[u8]) -> u64 {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:x?} must occur once in {hay:x?}");
    hits[0] as u64
}

/// Everything the Rust side says, in the C program's vocabulary.
fn rust_facts() -> BTreeMap<String, u64> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: u64| {
        f.insert(k.to_string(), v);
    };

    let cfg = Config {
        block_size: 0x1111_1111_1111_1101,
        node_id: 0xe5f6,
        addr: 0x2222_2222_2222_2202,
        region_size: 0x3333_3333_3333_3303,
        usable_region_size: 0x4444_4444_4444_4404,
        plugged_size: 0x5555_5555_5555_5505,
        requested_size: 0x6666_6666_6666_6606,
    };
    let cb = cfg.to_bytes();
    assert_eq!(cb.len(), CONFIG_SIZE);
    put("virtio_mem_config.size", CONFIG_SIZE as u64);
    for (name, v, off) in [
        ("block_size", cfg.block_size, Config::OFFSET_BLOCK_SIZE),
        ("addr", cfg.addr, Config::OFFSET_ADDR),
        ("region_size", cfg.region_size, Config::OFFSET_REGION_SIZE),
        (
            "usable_region_size",
            cfg.usable_region_size,
            Config::OFFSET_USABLE_REGION_SIZE,
        ),
        (
            "plugged_size",
            cfg.plugged_size,
            Config::OFFSET_PLUGGED_SIZE,
        ),
        (
            "requested_size",
            cfg.requested_size,
            Config::OFFSET_REQUESTED_SIZE,
        ),
    ] {
        let found = find(&cb, &v.to_le_bytes());
        assert_eq!(found, off, "Config's offset constant for {name}");
        put(&format!("virtio_mem_config.{name}.offset"), found);
        put(&format!("virtio_mem_config.{name}.size"), 8);
    }
    let node = find(&cb, &cfg.node_id.to_le_bytes());
    assert_eq!(node, Config::OFFSET_NODE_ID);
    put("virtio_mem_config.node_id.offset", node);
    put("virtio_mem_config.node_id.size", 2);
    // The padding is what lies between node_id and addr, and reads as zero.
    assert_eq!(Config::OFFSET_PADDING, node + 2);
    put("virtio_mem_config.padding.offset", Config::OFFSET_PADDING);
    put(
        "virtio_mem_config.padding.size",
        Config::OFFSET_ADDR - Config::OFFSET_PADDING,
    );
    assert!(
        cb[Config::OFFSET_PADDING as usize..Config::OFFSET_ADDR as usize]
            .iter()
            .all(|&b| b == 0)
    );
    assert_eq!(Config::from_bytes(&cb), cfg);

    put("virtio_mem_req.size", REQUEST_SIZE as u64);
    let ty = Request::Unknown(0xc3d4).to_bytes();
    put(
        "virtio_mem_req.type.offset",
        find(&ty, &0xc3d4u16.to_le_bytes()),
    );
    put("virtio_mem_req.type.size", 2);
    put("virtio_mem_req.padding.offset", 2);
    put("virtio_mem_req.padding.size", 6);
    let addr = 0x0102_0304_0506_0708u64;
    let nb_blocks = 0xa1b2u16;
    for (name, req) in [
        ("plug", Request::Plug { addr, nb_blocks }),
        ("unplug", Request::Unplug { addr, nb_blocks }),
        ("state", Request::State { addr, nb_blocks }),
    ] {
        let b = req.to_bytes();
        assert_eq!(b.len(), REQUEST_SIZE);
        let a = find(&b, &addr.to_le_bytes());
        let n = find(&b, &nb_blocks.to_le_bytes());
        put(&format!("virtio_mem_req.u.{name}.addr.offset"), a);
        put(&format!("virtio_mem_req.u.{name}.addr.size"), 8);
        put(&format!("virtio_mem_req.u.{name}.nb_blocks.offset"), n);
        put(&format!("virtio_mem_req.u.{name}.nb_blocks.size"), 2);
        // The request-specific padding runs from after nb_blocks to the end.
        put(&format!("virtio_mem_req.u.{name}.padding.offset"), n + 2);
        put(
            &format!("virtio_mem_req.u.{name}.padding.size"),
            REQUEST_SIZE as u64 - (n + 2),
        );
        assert_eq!(Request::parse(&b), req);
    }

    let rb = Response {
        ty: ResponseType::Error,
        state: Some(BlockState::Mixed),
    }
    .to_bytes();
    assert_eq!(rb.len(), RESPONSE_SIZE);
    put("virtio_mem_resp.size", RESPONSE_SIZE as u64);
    put("virtio_mem_resp.type.offset", find(&rb, &[3, 0]));
    put("virtio_mem_resp.type.size", 2);
    put("virtio_mem_resp.padding.offset", 2);
    put("virtio_mem_resp.padding.size", 6);
    put("virtio_mem_resp.u.state.state.offset", find(&rb, &[2, 0]));
    put("virtio_mem_resp.u.state.state.size", 2);

    put("VIRTIO_ID_MEM", u64::from(VIRTIO_ID_MEM));
    put(
        "VIRTIO_F_VERSION_1",
        VIRTIO_F_VERSION_1.trailing_zeros().into(),
    );
    put("VIRTIO_MEM_REQ_PLUG", VIRTIO_MEM_REQ_PLUG.into());
    put("VIRTIO_MEM_REQ_UNPLUG", VIRTIO_MEM_REQ_UNPLUG.into());
    put(
        "VIRTIO_MEM_REQ_UNPLUG_ALL",
        VIRTIO_MEM_REQ_UNPLUG_ALL.into(),
    );
    put("VIRTIO_MEM_REQ_STATE", VIRTIO_MEM_REQ_STATE.into());
    put("VIRTIO_MEM_RESP_ACK", ResponseType::Ack as u64);
    put("VIRTIO_MEM_RESP_NACK", ResponseType::Nack as u64);
    put("VIRTIO_MEM_RESP_BUSY", ResponseType::Busy as u64);
    put("VIRTIO_MEM_RESP_ERROR", ResponseType::Error as u64);
    put("VIRTIO_MEM_STATE_PLUGGED", BlockState::Plugged as u64);
    put("VIRTIO_MEM_STATE_UNPLUGGED", BlockState::Unplugged as u64);
    put("VIRTIO_MEM_STATE_MIXED", BlockState::Mixed as u64);
    // The header defines feature *bit numbers*; the Rust constants are masks.
    put(
        "VIRTIO_MEM_F_ACPI_PXM",
        VIRTIO_MEM_F_ACPI_PXM.trailing_zeros().into(),
    );
    put(
        "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE",
        VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE.trailing_zeros().into(),
    );
    put(
        "VIRTIO_MEM_F_PERSISTENT_SUSPEND",
        VIRTIO_MEM_F_PERSISTENT_SUSPEND.trailing_zeros().into(),
    );
    f
}

#[test]
fn wire_format_matches_linux_virtio_mem_h() {
    let out = match run_c_program() {
        Ok(out) => out,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but the C layout check cannot run: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED wire_format_matches_linux_virtio_mem_h: {why}");
            return;
        }
    };
    let rust = rust_facts();
    let mut seen = BTreeMap::new();
    let mut missing = Vec::new();
    for line in out.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("missing"), Some(name)) => missing.push(name.to_string()),
            (Some(name), Some(v)) => {
                seen.insert(name.to_string(), v.parse::<u64>().expect("a number"));
            }
            _ => panic!("unexpected line from the C program: {line:?}"),
        }
    }
    let mut mismatches = Vec::new();
    for (name, c) in &seen {
        match rust.get(name) {
            Some(r) if r == c => {}
            Some(r) => mismatches.push(format!("{name}: C {c}, Rust {r}")),
            None => mismatches.push(format!("{name}: C {c}, no Rust counterpart")),
        }
    }
    for name in rust.keys() {
        if !seen.contains_key(name) && !missing.contains(name) {
            mismatches.push(format!("{name}: not printed by the C program"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "wire format differs from <linux/virtio_mem.h>:\n{}",
        mismatches.join("\n")
    );
    // Every field and constant the header defines was compared.
    assert!(seen.len() >= 60, "only {} facts compared", seen.len());
    if !missing.is_empty() {
        eprintln!(
            "note: this <linux/virtio_mem.h> predates {} (checked against the spec's bit numbers only)",
            missing.join(", ")
        );
    }
}
