//! Load for an IPFIX mediator (podflow's, or another collector that forwards): many
//! exporters, one TCP session each, replaying the records of an IPFIX file, and the
//! collector behind the mediator, which counts what arrives and how long it took.
//!
//!     mediator_load --file RECORDS.ipfix --to ADDR:PORT --sink ADDR:PORT
//!                   [--exporters N] [--seconds S] [--rate RECORDS_PER_S] [--pid PID]
//!
//! It listens on `--sink` and waits for the mediator to connect, then opens `--exporters`
//! sessions to `--to`, sends each the file's templates, and sends the file's data
//! messages round-robin over the sessions for `--seconds` (at `--rate` records a second
//! over all sessions, or as fast as the mediator takes them). Each flow record's
//! flowEndMilliseconds is set to the time it is sent, so that the sink reads the latency
//! the mediator added from the same field (one clock, milliseconds). Once sending ends,
//! the sessions close and the sink waits for the records still on their way (10 s at
//! most). It prints one JSON line: records sent and received, the rate received, the
//! latency's median, 99th percentile and maximum, and with `--pid` the CPU seconds that
//! process used meanwhile (user and system, all threads) and records per CPU second.

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use podflow::ipfix::{
    sets, split_messages, template_set_records, Template, TemplateRecord, VARLEN,
};

const FLOW_END_MS: u16 = 153;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The records of a data set's body: for each, its offset in the body and the offset of
/// its flowEndMilliseconds, if the template has one.
fn walk(t: &Template, body: &[u8]) -> Vec<(usize, Option<usize>)> {
    let min = t.min_record_len().max(1);
    let mut out = Vec::new();
    let mut pos = 0;
    while body.len() - pos >= min {
        let start = pos;
        let mut end_ms = None;
        for f in &t.fields {
            let len = if f.length == VARLEN {
                let short = body[pos];
                if short == 255 {
                    let n = u16::from_be_bytes([body[pos + 1], body[pos + 2]]);
                    pos += 3;
                    usize::from(n)
                } else {
                    pos += 1;
                    usize::from(short)
                }
            } else {
                usize::from(f.length)
            };
            if f.spec.pen == 0 && f.spec.id == FLOW_END_MS && len == 8 {
                end_ms = Some(pos);
            }
            pos += len;
        }
        if pos > body.len() {
            break;
        }
        out.push((start, end_ms));
    }
    out
}

/// A data message of the file, ready to be sent again and again.
struct Prepared {
    bytes: Vec<u8>,
    records: u32,
    /// Offsets in `bytes` of the flowEndMilliseconds to set at each sending.
    stamps: Vec<usize>,
}

/// The file's template sets as one message or more, and its data messages.
fn prepare(file: &[u8]) -> (Vec<Vec<u8>>, Vec<Prepared>) {
    let mut templates: HashMap<(u32, u16), Template> = HashMap::new();
    let mut template_sets: Vec<Vec<u8>> = Vec::new();
    let mut data = Vec::new();
    for msg in split_messages(file) {
        let msg = msg.expect("an IPFIX file");
        let domain = u32::from_be_bytes([msg[12], msg[13], msg[14], msg[15]]);
        let mut kept = msg[..16].to_vec();
        let (mut records, mut stamps) = (0u32, Vec::new());
        let mut pos = 16;
        for (id, body) in sets(msg).expect("the records file holds whole messages") {
            let set_start = pos;
            pos += 4 + body.len();
            if id == 2 || id == 3 {
                template_sets.push(msg[set_start..pos].to_vec());
                for record in template_set_records(body, id).expect("template set") {
                    if let TemplateRecord::Define(t) = record {
                        templates.insert((domain, t.id), t);
                    }
                }
            } else if id >= 256 {
                let Some(t) = templates.get(&(domain, id)) else {
                    continue;
                };
                let at = kept.len() + 4;
                kept.extend_from_slice(&msg[set_start..pos]);
                for (_, end) in walk(t, body) {
                    records += 1;
                    stamps.extend(end.map(|e| at + e));
                }
            }
        }
        if records > 0 {
            let len = kept.len() as u16;
            kept[2..4].copy_from_slice(&len.to_be_bytes());
            data.push(Prepared {
                bytes: kept,
                records,
                stamps,
            });
        }
    }
    // The template sets in messages of at most 60,000 bytes, domain 1 as in the file.
    let header = |sets: &[u8]| {
        let mut m = vec![0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let first = file.get(12..16).unwrap_or(&[0, 0, 0, 1]);
        m[12..16].copy_from_slice(first);
        m.extend_from_slice(sets);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    };
    let mut preamble = Vec::new();
    let mut current = Vec::new();
    for set in template_sets {
        if current.len() + set.len() > 60_000 {
            preamble.push(header(&current));
            current.clear();
        }
        current.extend_from_slice(&set);
    }
    if !current.is_empty() {
        preamble.push(header(&current));
    }
    (preamble, data)
}

/// What the sink saw.
#[derive(Default)]
struct Seen {
    records: AtomicU64,
    /// Records by latency in milliseconds (the last bucket: that or more).
    latency: Mutex<Vec<u64>>,
}

const BUCKETS: usize = 60_000;

/// Reads the mediator's export until `stop`: counts records, and the latency of those
/// that carry flowEndMilliseconds.
fn sink(conn: TcpStream, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    conn.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let mut reader = BufReader::with_capacity(1 << 20, conn);
    let mut templates: HashMap<(u32, u16), Template> = HashMap::new();
    let mut local = vec![0u64; BUCKETS];
    let mut head = [0u8; 16];
    let mut msg = Vec::with_capacity(65_536);
    let flush = |local: &mut Vec<u64>| {
        let mut l = seen.latency.lock().unwrap();
        if l.is_empty() {
            l.resize(BUCKETS, 0);
        }
        for (a, b) in l.iter_mut().zip(local.iter_mut()) {
            *a += std::mem::take(b);
        }
    };
    loop {
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                flush(&mut local);
                if stop.load(Relaxed) {
                    return;
                }
                continue;
            }
            Err(_) => break,
        }
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        msg.clear();
        msg.extend_from_slice(&head);
        msg.resize(len.max(16), 0);
        // A message begun is read whole, timeouts or not.
        let mut got = 16;
        while got < len {
            match reader.read(&mut msg[got..len]) {
                Ok(0) => return,
                Ok(n) => got += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
        let domain = u32::from_be_bytes([msg[12], msg[13], msg[14], msg[15]]);
        let now = now_ms();
        let mut records = 0;
        for (id, body) in sets(&msg).expect("the mediator sends whole messages") {
            if id == 2 || id == 3 {
                for record in template_set_records(body, id).unwrap_or_default() {
                    if let TemplateRecord::Define(t) = record {
                        templates.insert((domain, t.id), t);
                    }
                }
            } else if let Some(t) = templates.get(&(domain, id)) {
                for (_, end) in walk(t, body) {
                    records += 1;
                    if let Some(e) = end {
                        let v = u64::from_be_bytes(body[e..e + 8].try_into().unwrap());
                        let ms = now.saturating_sub(v) as usize;
                        local[ms.min(BUCKETS - 1)] += 1;
                    }
                }
            }
        }
        seen.records.fetch_add(records, Relaxed);
    }
    flush(&mut local);
}

fn percentile(hist: &[u64], p: f64) -> usize {
    let total: u64 = hist.iter().sum();
    let want = ((total as f64) * p).ceil() as u64;
    let mut acc = 0;
    for (ms, n) in hist.iter().enumerate() {
        acc += n;
        if acc >= want.max(1) {
            return ms;
        }
    }
    0
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

struct Args {
    file: String,
    to: String,
    sink: String,
    exporters: usize,
    seconds: f64,
    rate: Option<f64>,
    pid: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        file: String::new(),
        to: String::new(),
        sink: String::new(),
        exporters: 1000,
        seconds: 20.0,
        rate: None,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--file" => a.file = v(),
            "--to" => a.to = v(),
            "--sink" => a.sink = v(),
            "--exporters" => a.exporters = v().parse().expect("--exporters N"),
            "--seconds" => a.seconds = v().parse().expect("--seconds S"),
            "--rate" => a.rate = Some(v().parse().expect("--rate RECORDS_PER_S")),
            "--pid" => a.pid = Some(v().parse().expect("--pid PID")),
            _ => panic!(
                "unknown argument {k}; see the comment at the top of examples/mediator_load.rs"
            ),
        }
    }
    assert!(
        !a.file.is_empty() && !a.to.is_empty() && !a.sink.is_empty(),
        "--file, --to and --sink are needed"
    );
    a
}

fn main() {
    let a = args();
    let file = std::fs::read(&a.file).expect("the records file");
    let (preamble, data) = prepare(&file);
    assert!(!data.is_empty(), "no data records in {}", a.file);

    let listener = TcpListener::bind(&a.sink).expect("the sink's address");
    eprintln!("waiting for the mediator to connect to {}", a.sink);
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    // Every connection the mediator opens is read (a forwarder may keep several).
    let readers = Arc::new(Mutex::new(Vec::new()));
    let (first, connected) = std::sync::mpsc::channel();
    {
        let (seen, stop, readers) = (seen.clone(), stop.clone(), readers.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (seen, stop) = (seen.clone(), stop.clone());
                let reader = std::thread::spawn(move || sink(conn, seen, stop));
                readers.lock().unwrap().push(reader);
                let _ = first.send(());
            }
        });
    }
    connected.recv().expect("the mediator's connection");

    let mut sessions: Vec<TcpStream> = (0..a.exporters)
        .map(|_| {
            let s = TcpStream::connect(&a.to).expect("the mediator's listener");
            s.set_nodelay(true).ok();
            s
        })
        .collect();
    for s in &mut sessions {
        for m in &preamble {
            s.write_all(m).expect("templates sent");
        }
    }
    let mut sequence = vec![0u32; sessions.len()];
    let mut buffers: Vec<Vec<u8>> = data.iter().map(|d| d.bytes.clone()).collect();
    let cpu0 = a.pid.map(cpu_seconds);
    let t0 = Instant::now();
    let (mut sent, mut i) = (0u64, 0usize);
    while t0.elapsed().as_secs_f64() < a.seconds {
        let k = i % data.len();
        let session = i % sessions.len();
        i += 1;
        let (d, buf) = (&data[k], &mut buffers[k]);
        let now = now_ms();
        for &at in &d.stamps {
            buf[at..at + 8].copy_from_slice(&now.to_be_bytes());
        }
        buf[4..8].copy_from_slice(&((now / 1000) as u32).to_be_bytes());
        buf[8..12].copy_from_slice(&sequence[session].to_be_bytes());
        sequence[session] = sequence[session].wrapping_add(d.records);
        sessions[session].write_all(buf).expect("data sent");
        sent += u64::from(d.records);
        if let Some(rate) = a.rate {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let sending = t0.elapsed().as_secs_f64();
    drop(sessions);
    // What is on its way arrives, or 10 s pass.
    let drain = Instant::now();
    let mut last = (seen.records.load(Relaxed), Instant::now());
    while seen.records.load(Relaxed) < sent && drain.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        let now = seen.records.load(Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let elapsed = last.1.duration_since(t0).as_secs_f64();
    let cpu = a.pid.map(cpu_seconds).zip(cpu0).map(|(b, a)| b - a);
    stop.store(true, Relaxed);
    for reader in std::mem::take(&mut *readers.lock().unwrap()) {
        reader.join().ok();
    }
    let received = seen.records.load(Relaxed);
    let hist = seen.latency.lock().unwrap().clone();
    let cpu_json = cpu.map_or("null".to_string(), |c| format!("{c:.2}"));
    let per_cpu = cpu.map_or("null".to_string(), |c| {
        format!("{:.0}", received as f64 / c.max(0.01))
    });
    println!(
        "{{\"exporters\": {}, \"sending_s\": {sending:.2}, \"elapsed_s\": {elapsed:.2}, \"records_sent\": {sent}, \"records_received\": {received}, \"received_per_s\": {:.0}, \"latency_ms\": {{\"p50\": {}, \"p99\": {}, \"max\": {}}}, \"cpu_s\": {cpu_json}, \"records_per_cpu_s\": {per_cpu}}}",
        a.exporters,
        received as f64 / elapsed.max(0.001),
        percentile(&hist, 0.5),
        percentile(&hist, 0.99),
        hist.iter().rposition(|n| *n > 0).unwrap_or(0),
    );
}
