//! The `mmsim` binary: exit statuses and report formats (DESIGN.md, "The
//! command line"; SCENARIOS.md, "Output and exit status").

use std::io::{Read, Write};
use std::process::{Command, Stdio};

fn mmsim(args: &[&str]) -> (i32, String, String) {
    mmsim_with_input(args, None)
}

/// Runs the binary with `input` on its standard input.
fn mmsim_with_input(args: &[&str], input: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmsim"))
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("writes");
    }
    let out = child.wait_with_output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mmsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn tour_runs_clean() {
    let (code, out, err) = mmsim(&["run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("hotplug add"), "the tour is verbose: {out}");
    assert!(out.trim_end().ends_with(" passed, 0 failed"), "{out}");
}

#[test]
fn failed_expectation_exits_1_with_file_and_line() {
    let p = scenario("fail.mms", "machine ram=1G\nexpect pfn_valid 0 == 0\n");
    let (code, out, _) = mmsim(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("fail.mms:2: expected 0, got 1"), "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn bad_input_exits_2_with_position_before_running() {
    let p = scenario("bad.mms", "machine ram=1G\nhotplug add 0x100000000 12X\n");
    let (code, out, err) = mmsim(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.mms:2:25:"), "{err}");
    assert!(out.is_empty(), "nothing ran: {out}");
    let p = scenario(
        "later.mms",
        "machine ram=1G hugepages=1\nspawn A\nA mmap b 2M thp hugetlb\n",
    );
    let (code, _, err) = mmsim(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("later.mms:3:1: not supported yet"), "{err}");
}

#[test]
fn missing_file_and_bad_variant_exit_2() {
    let (code, _, err) = mmsim(&["run", "/nonexistent/x.mms"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.mms"), "{err}");
    let (code, _, err) = mmsim(&["run", "--variant", "cow_reuse=sometimes"]);
    assert_eq!(code, 2, "{err}");
}

/// A bad --variant is reported against the flag, before any file is read.
#[test]
fn bad_variant_flag_is_reported_before_any_file() {
    let (code, out, err) = mmsim(&["run", "--variant", "cow_reuse=bogus", "/nonexistent.mms"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("--variant cow_reuse=bogus: "), "{err}");
    assert!(err.contains("exclusive"), "{err}");
    assert!(out.is_empty(), "{out}");
    let (code, out, _) = mmsim(&["run", "--json", "--variant", "nope=1"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("nope"),
        "{v}"
    );
}

#[test]
fn dash_reads_standard_input() {
    let (code, out, err) = mmsim_with_input(
        &["run", "-"],
        Some("machine ram=1G\nexpect pfn_valid 0 == 1\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1 passed, 0 failed\n");
}

/// `mmsim run /dev/zero` ends at once: scenario files are bounded.
#[test]
fn endless_input_is_refused() {
    let (code, out, err) = mmsim(&["run", "/dev/zero"]);
    assert_eq!(code, 2);
    assert!(err.contains("/dev/zero:1:1: larger than 16M"), "{err}");
    assert!(out.is_empty());
}

/// A failing command is reported at its line and fails the run (SCENARIOS.md,
/// "Output and exit status").
#[test]
fn a_failing_command_exits_1() {
    let p = scenario(
        "cmdfail.mms",
        "machine ram=1G\nsysfs write devices/system/memory/memory99/state online\n",
    );
    let (code, out, _) = mmsim(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains(
            "cmdfail.mms:2: sysfs write devices/system/memory/memory99/state online failed: ENOENT"
        ),
        "{out}"
    );
}

/// A reader that goes away early is no error: no panic, the run's status.
#[test]
fn a_closed_pipe_ends_quietly() {
    // Far more output than a pipe buffers.
    let text = format!(
        "machine ram=1G\n{}",
        "expect pfn_valid 0 == 1\n".repeat(20_000)
    );
    let p = scenario("long.mms", &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmsim"))
        .args(["run", "--verbose", p.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("exits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Input errors found while running keep the reports of the files before, in
/// text and in JSON.
#[test]
fn a_runtime_input_error_keeps_earlier_reports() {
    let a = scenario("first.mms", "machine ram=1G\nexpect pfn_valid 0 == 0\n");
    let b = scenario(
        "second.mms",
        "machine ram=1G\nspawn A\nA mmap b 1M\nlet x = A read b 1M\nexpect A read b 4K == $x$x$x$x$x\n",
    );
    let (code, out, err) = mmsim(&["run", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.contains("first.mms:2: expected 0, got 1"), "{out}");
    assert!(err.contains("second.mms:5:"), "{err}");
    let (code, out, _) = mmsim(&["run", "--json", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["files"][0]["failed"], 1, "{v}");
    assert_eq!(v["error"]["line"], 5, "{v}");
}

/// The tour's JSON report holds its transcript; `help commands` lists every
/// command of the language.
#[test]
fn tour_json_has_its_transcript_and_help_lists_commands() {
    let (code, out, _) = mmsim(&["run", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let transcript = v["files"][0]["transcript"].as_array().expect("transcript");
    assert!(transcript.len() > 50, "{v}");
    let (code, out, _) = mmsim(&["help", "commands"]);
    assert_eq!(code, 0);
    for form in [
        "machine ram=SIZE",
        "P gup PIN PLACE LEN",
        "kpageflags PFN",
        "virtio-mem add DEV",
    ] {
        assert!(out.contains(form), "{form} missing from:\n{out}");
    }
    let (code, out, _) = mmsim(&["help", "variants"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("cow_reuse=exclusive|refcount|mapcount"),
        "{out}"
    );
    let (code, out, _) = mmsim(&["run", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("docs/scenarios.md"), "{out}");
}

#[test]
fn json_report_is_one_document() {
    let p = scenario("ok.mms", "machine ram=1G\nexpect pfn_valid 0 == 1\n");
    let (code, out, _) = mmsim(&["run", "--json", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["passed"], 1);
    assert_eq!(v["failed"], 0);
}

// `mmsim stress`: bad options exit 2 with a message naming the option,
// before anything runs; a short run prints one JSON report.
#[test]
fn stress_refuses_bad_options() {
    for (args, said) in [
        (&["stress", "--seconds", "0"][..], "--seconds"),
        (&["stress", "--seconds", "-3"], "--seconds"),
        (&["stress", "--seconds", "1e300"], "--seconds"),
        (&["stress", "--threads", "0"], "--threads"),
        (&["stress", "--threads", "100000"], "--threads"),
        (&["stress", "--ram", "1000M"], "--ram"),
        (&["stress", "--ram", "64M"], "--ram"),
        (&["stress", "--ram", "99999999999T"], "--ram"),
        (&["stress", "--ram", "lots"], "--ram"),
        (&["stress", "--variant", "cow_reuse=sometimes"], "--variant"),
        (&["stress", "--variant", "nonsense"], "--variant"),
    ] {
        let (code, out, err) = mmsim(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(said), "{args:?}: {err}");
    }
}

#[test]
fn stress_short_run_reports_json() {
    let (code, out, err) = mmsim(&[
        "stress",
        "--seconds",
        "1",
        "--ram",
        "512M",
        "--threads",
        "1",
        "--json",
    ]);
    // The verdict is the library's (tests/stress.rs); here the format:
    // exit 1 exactly when violations are listed.
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let violations = doc["violations"].as_array().expect("a list");
    assert_eq!(
        code,
        if violations.is_empty() { 0 } else { 1 },
        "{out}{err}"
    );
    // One process, ksmd, admin, virtio-mem, balloon, kcore, kpageflags, scanner.
    assert!(
        doc["actors"].as_array().is_some_and(|a| a.len() == 8),
        "{doc}"
    );
}

// `mmsim completions SHELL` (clap_complete): a script the shell accepts,
// naming every subcommand; an unknown shell is bad input.
#[test]
fn completions_are_scripts_for_each_shell() {
    let (code, out, err) = mmsim(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    for sub in ["run", "races", "explore", "stress", "completions", "man"] {
        assert!(out.contains(sub), "bash completion lacks {sub}");
    }
    let checked = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut bash| {
            bash.stdin.take().unwrap().write_all(out.as_bytes())?;
            bash.wait()
        });
    if let Ok(status) = checked {
        assert!(status.success(), "bash -n rejects the completion script");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, out, _) = mmsim(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(out.contains("explore"), "{shell}");
    }
    let (code, _, err) = mmsim(&["completions", "nosh"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values"), "{err}");
}

// `mmsim man` (clap_mangen): the roff page on stdout, or one page per
// subcommand in --dir; an unwritable directory is bad input.
#[test]
fn man_pages_render_from_the_same_definitions_as_help() {
    let (code, out, _) = mmsim(&["man"]);
    assert_eq!(code, 0);
    assert!(out.contains(".TH mmsim 1"), "{out}");
    assert!(out.contains("explore"), "{out}");
    let dir = std::env::temp_dir().join(format!("mmsim-man-{}", std::process::id()));
    let (code, _, err) = mmsim(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for page in [
        "mmsim.1",
        "mmsim-run.1",
        "mmsim-explore.1",
        "mmsim-stress.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).expect(page);
        assert!(text.starts_with(".ie"), "{page} is roff");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let (code, _, err) = mmsim(&["man", "--dir", "/proc/mmsim-no-such-dir"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot write the man pages"), "{err}");
}

/// Renders an SVG as resvg does (no text), for reading pixels: the colour
/// at (x, y) as `#rrggbb`. MMSIM_MAP_PNG=FILE keeps the picture.
fn render_svg(text: &str) -> impl Fn(u32, u32) -> String {
    let tree = resvg::usvg::Tree::from_str(text, &resvg::usvg::Options::default()).unwrap();
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    if let Some(png) = std::env::var_os("MMSIM_MAP_PNG") {
        pixmap.save_png(png).unwrap();
    }
    move |x: u32, y: u32| {
        let c = pixmap.pixel(x, y).unwrap();
        format!("#{:02x}{:02x}{:02x}", c.red(), c.green(), c.blue())
    }
}

/// The y of the middle of the row labelled `label` (a row's label is the
/// text at its top + 15; rows are found by label because boot RAM's free
/// blocks share rows).
fn row_centre(svg: &str, label: &str) -> u32 {
    let at = svg.find(&format!(">{label}<")).expect(label);
    let y = svg[..at].rsplit("y=\"").next().unwrap();
    let y: u32 = y[..y.find('"').unwrap()].parse().unwrap();
    y - 15 + mmsim::script::map::layout::ROW / 2
}

// `mmsim map` (issue 12 item 2): the SVG rendered by resvg has, at the
// places mmsim::script::map::layout gives, the colours of what the
// scenario left: an online and an offline hot-added block, anonymous pages
// in the online one, the not-online strip of the offline one.
#[test]
fn map_svg_renders_the_blocks_the_scenario_left() {
    use mmsim::script::map::{layout, state_colour, PageKind};
    let p = scenario(
        "map.mms",
        "machine ram=1G\n\
         hotplug add 0x100000000 256M\n\
         sysfs write devices/system/memory/memory32/state online_movable\n\
         spawn A\n\
         A mmap buf 16M\n\
         A write buf 16M 0x5a\n",
    );
    let svg = std::env::temp_dir().join(format!("mmsim-map-{}.svg", std::process::id()));
    let (code, out, err) = mmsim(&[
        "map",
        p.to_str().unwrap(),
        "-o",
        svg.to_str().unwrap(),
        "--buckets",
        "64",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&svg).unwrap();
    let rgb = render_svg(&text);
    let row_centre = |label: &str| row_centre(&text, label);
    let (m32, m33) = (row_centre("memory32 4G"), row_centre("memory33 4224M"));
    let row_y = |row: u32| if row == 8 { m32 } else { m33 };
    let state_x = layout::STATE_X + layout::STATE_W - 4;
    assert_eq!(rgb(state_x, row_y(8)), state_colour("online"), "memory32");
    assert_eq!(rgb(state_x, row_y(9)), state_colour("offline"), "memory33");
    let bucket_x = |k: u32| layout::STRIP_X + k * (layout::STRIP_W / 64) + 4;
    assert!(
        (0..64).all(|k| rgb(bucket_x(k), row_y(9)) == PageKind::NotOnline.colour()),
        "an offline block has no online page"
    );
    // 16 MiB of anon pages fill at least 7 of memory32's 2 MiB runs.
    let anon = (0..64)
        .filter(|&k| rgb(bucket_x(k), row_y(8)) == PageKind::Anon.colour())
        .count();
    assert!(anon >= 7, "{anon} anon runs in memory32");
    assert!((0..64).any(|k| rgb(bucket_x(k), row_y(8)) == PageKind::Buddy.colour()));
    std::fs::remove_file(&svg).unwrap();

    // Up to line 2 the block is only added: offline.
    let (code, svg_text, _) = mmsim(&["map", p.to_str().unwrap(), "--at", "2"]);
    assert_eq!(code, 0);
    assert!(svg_text.starts_with("<svg"), "SVG on a pipe");
    // memory32 and memory33, both offline with no online page, share a row.
    assert!(svg_text.contains(">memory32-33 4G<"), "{svg_text}");
}

// ZONE_DEVICE memory has no memory block, and /proc/kpageflags shows its
// pages as no page at all: each pgmap gets its own row, in address order,
// its type in the state cell and its pages in use (mapped, handed out) told
// from idle ones by refcount and mapcount (`__init_zone_device_page()`
// leaves fsdax pages at refcount 0). Neighbouring pgmaps never merge.
#[test]
fn map_draws_a_row_per_zone_device_range() {
    use mmsim::script::map::{layout, state_colour, PageKind};
    let p = scenario(
        "map-device.mms",
        "machine ram=1G\n\
         memremap add pmem0 addr=0x100000000 size=16M type=fsdax\n\
         memremap add pmem1 addr=0x101000000 size=16M type=fsdax\n\
         file F 16M dax=pmem0\n\
         spawn A\n\
         A mmap s 16M file=F shared\n\
         A write s 16M 0x5a\n",
    );
    let (code, svg, err) = mmsim(&["map", p.to_str().unwrap(), "--buckets", "16"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        svg.contains("8 memory blocks and 2 ZONE_DEVICE ranges"),
        "{svg}"
    );
    let rgb = render_svg(&svg);
    let (used, idle) = (
        row_centre(&svg, "pmem0 4G"),
        row_centre(&svg, "pmem1 4112M"),
    );
    assert_eq!(used + layout::ROW, idle, "one row each, in address order");
    for y in [used, idle] {
        assert_eq!(
            rgb(layout::STATE_X + layout::STATE_W - 4, y),
            state_colour("device")
        );
    }
    let bucket_x = |k: u32| layout::STRIP_X + k * (layout::STRIP_W / 16) + 4;
    assert!((0..16).all(|k| rgb(bucket_x(k), used) == PageKind::DeviceInUse.colour()));
    assert!((0..16).all(|k| rgb(bucket_x(k), idle) == PageKind::DeviceIdle.colour()));
    assert!(svg.contains(">fsdax<"), "the pgmap's type names its state");
}

// Hostile input to `mmsim map`: exit 2 with a message, never a panic.
#[test]
fn map_rejects_bad_input() {
    let none = scenario("nomachine.mms", "# nothing\n");
    let bad = scenario("bad.mms", "machine ram=1G\nfrobnicate\n");
    let fails = scenario("fails.mms", "machine ram=1G\nexpect pfn_valid 0 == 0\n");
    for (args, want) in [
        (
            vec!["map", none.to_str().unwrap()],
            "must start with `machine`",
        ),
        (vec!["map", bad.to_str().unwrap()], "bad.mms:2"),
        (vec!["map", "/no/such.mms"], "/no/such.mms"),
        (vec!["map", fails.to_str().unwrap(), "--at", "0"], "--at"),
        (
            vec!["map", fails.to_str().unwrap(), "--buckets", "0"],
            "--buckets",
        ),
        (
            vec!["map", fails.to_str().unwrap(), "--buckets", "100000"],
            "--buckets",
        ),
        (
            vec!["map", fails.to_str().unwrap(), "-o", "/proc/no/x.svg"],
            "cannot write the map",
        ),
        (
            vec!["map", fails.to_str().unwrap(), "--variant", "nope=1"],
            "--variant",
        ),
    ] {
        let (code, _, err) = mmsim(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A failed expectation still draws, and exits 1.
    let (code, out, err) = mmsim(&["map", fails.to_str().unwrap(), "--at", "99999"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with("<svg") && err.contains("expected 0, got 1"),
        "{err}"
    );
}

// `mmsim bench --quick --json` (issue 12 item 3): every operation with a
// model figure and its floor, the host kernel's figure for the user-level
// ones, and the ratios; the offline moves the 64 MiB it was given. (Shape
// only: speed is for the reader, never a test.)
#[test]
fn bench_quick_json_has_every_row() {
    let (code, out, err) = mmsim(&["bench", "--quick", "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let rows = doc["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    let expected = [
        "mmap + first touch",
        "fork of a populated mapping",
        "COW fault after fork",
        "GUP FOLL_GET (host: vmsplice)",
        "GUP FOLL_PIN|LONGTERM (host: io_uring)",
        "MADV_PAGEOUT to swap",
        "swap-in fault",
        "online + offline of a free 128 MiB block",
        "offline migrating 64 MiB",
        "order-0 alloc + free",
    ];
    // In this order, other rows allowed between them.
    let mut at = names.iter();
    for want in expected {
        assert!(
            at.any(|n| *n == want),
            "{want} missing or out of order: {names:?}"
        );
    }
    let row = |name: &str| rows.iter().find(|r| r["operation"] == name).unwrap();
    for r in rows {
        assert!(r["model_ns"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["floor_ns"].as_f64().unwrap() > 0.0, "{r}");
    }
    // The host does the user-level work too; MADV_PAGEOUT only with swap.
    for name in &expected[..3] {
        let r = row(name);
        assert!(r["host_ns"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["model_over_host"].as_f64().unwrap() > 0.0, "{r}");
    }
    let swap = doc["host_swap"].as_bool().expect("host_swap");
    for name in &expected[5..7] {
        assert_eq!(row(name)["host_ns"].is_f64(), swap, "{}", row(name));
    }
    assert!(doc["floors"]["memcpy_gib_s"].as_f64().unwrap() > 0.0);
}

// `mmsim mount` on a path that is not a directory is bad input (exit 2),
// found before any scenario runs or anything is mounted.
#[test]
fn mount_refuses_a_mount_point_that_is_not_a_directory() {
    let file = std::env::temp_dir().join(format!("mmsim-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, b"").unwrap();
    let missing = file.with_extension("missing");
    for (path, why) in [(&file, "Not a directory"), (&missing, "No such file")] {
        let (code, out, err) = mmsim(&["mount", path.to_str().unwrap()]);
        assert_eq!((code, out.as_str()), (2, ""), "{err}");
        assert!(err.contains(why), "{err}");
    }
    std::fs::remove_file(&file).unwrap();
}
