//! Three network namespaces in a line, client -- router -- server, joined by veth pairs;
//! the client is the pod (its interface is `eth0`). The router forwards between them
//! through a wire of known length: delays, losses and reordering the test chooses, made
//! with netfilter (the kernel may lack netem). The server namespace runs DNS, HTTP, TLS
//! and plain TCP servers. Everything is deleted when the value is dropped, also when the
//! test fails. Needs root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{root, Background};
use crate::netns::{ip, PodNet};

pub const CLIENT_V4: &str = "10.254.1.2";
pub const ROUTER_CLIENT_SIDE: &str = "10.254.1.1";
pub const ROUTER_SERVER_SIDE: &str = "10.254.2.1";
pub const SERVER_V4: &str = "10.254.2.2";

/// One-way delay of the router's egress towards the server.
pub const TO_SERVER_MS: u64 = 20;
/// One-way delay of the router's egress towards the client.
pub const TO_CLIENT_MS: u64 = 10;
/// Of the client's segments of 1,000 bytes or more to the HTTP port, the router drops one
/// in this many (3.3 %): only the upload sends such segments that way.
pub const DROP_EVERY: u64 = 30;
/// Of the server's segments of 1,000 bytes or more from the HTTP port, one in this many
/// takes 5 ms longer than the others and arrives after segments sent later: only the
/// download sends such segments.
pub const LATE_EVERY: u64 = 20;

pub const DNS_NAME: &str = "shop.test";
/// A name of the zone dnsmasq answers NXDOMAIN for.
pub const MISSING_NAME: &str = "nothing.nowhere.test";
pub const HTTP_PORT: u16 = 8080;
pub const TLS_PORT: u16 = 8443;
/// A server that leaves what it receives unread for a second, its window closed.
pub const SLOW_PORT: u16 = 9000;
/// A server that reads whatever comes, for the connection that outlives the probe's start.
pub const SINK_PORT: u16 = 9001;

pub struct Lab {
    pub client: String,
    pub router: String,
    pub server: String,
    /// The servers, the wire's delay process: ended before the namespaces go.
    processes: Vec<Background>,
}

impl Lab {
    /// The namespaces, their links and routes, and the router's wire. `tag` keeps
    /// concurrent labs apart.
    pub fn new(tag: u8) -> Lab {
        let id = std::process::id();
        let name = |role: &str| format!("pf-npm-{id}-{tag}-{role}");
        let lab = Lab {
            client: name("c"),
            router: name("r"),
            server: name("s"),
            processes: Vec::new(),
        };
        for ns in [&lab.client, &lab.router, &lab.server] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // No IPv6: its router solicitations and reports would be traffic of nobody's.
            lab.run(ns, "sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            lab.run(
                ns,
                "sysctl",
                &["-qw", "net.ipv6.conf.default.disable_ipv6=1"],
            );
        }
        let (c, r, s) = (&lab.client, &lab.router, &lab.server);
        ip(&[
            "link", "add", "eth0", "netns", c, "type", "veth", "peer", "name", "toclient", "netns",
            r,
        ]);
        ip(&[
            "link", "add", "toserver", "netns", r, "type", "veth", "peer", "name", "eth0", "netns",
            s,
        ]);
        for (ns, dev, addr) in [
            (c, "eth0", CLIENT_V4),
            (r, "toclient", ROUTER_CLIENT_SIDE),
            (r, "toserver", ROUTER_SERVER_SIDE),
            (s, "eth0", SERVER_V4),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&[
            "-n",
            c,
            "route",
            "add",
            "default",
            "via",
            ROUTER_CLIENT_SIDE,
        ]);
        ip(&[
            "-n",
            s,
            "route",
            "add",
            "default",
            "via",
            ROUTER_SERVER_SIDE,
        ]);
        lab.run(r, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        let mut lab = lab;
        lab.wire();
        lab
    }

    /// Runs `program` in namespace `ns` to success.
    pub fn run(&self, ns: &str, program: &str, args: &[&str]) -> String {
        let out = PodNet::exec(ns, program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The router's forwarding path. The probe captures on the client's eth0, which sees
    /// a frame after that interface's own egress queue and before everything downstream:
    /// so the losses are made on the router, downstream of the capture point, where the
    /// probe sees both a lost segment and its retransmission. The delays hold each
    /// forwarded packet in a netfilter queue for a fixed time (it/py/nfq_delay.py).
    fn wire(&mut self) {
        let r = self.router.clone();
        let rule = |args: &str| {
            let args: Vec<&str> = args.split_whitespace().collect();
            self.run(&r, "iptables", &args);
        };
        let big = "-m length --length 1000:65535";
        rule(&format!(
            "-A FORWARD -o toserver -p tcp --dport {HTTP_PORT} {big} \
             -m statistic --mode nth --every {DROP_EVERY} --packet 10 -j DROP"
        ));
        rule("-A FORWARD -o toserver -j NFQUEUE --queue-num 0");
        rule(&format!(
            "-A FORWARD -o toclient -p tcp --sport {HTTP_PORT} {big} \
             -m statistic --mode nth --every {LATE_EVERY} --packet 10 -j NFQUEUE --queue-num 2"
        ));
        rule("-A FORWARD -o toclient -j NFQUEUE --queue-num 1");
        let (wire, said) = crate::common::start({
            let mut cmd = PodNet::exec(&r, "python3");
            cmd.arg(root().join("it/py/nfq_delay.py")).args([
                format!("0:{TO_SERVER_MS}"),
                format!("1:{TO_CLIENT_MS}"),
                format!("2:{}", TO_CLIENT_MS + 5),
            ]);
            cmd
        });
        assert_eq!(said, "ready");
        self.processes.push(wire);
    }

    /// Starts the servers of the server namespace on the files of `site`, and waits until
    /// each listens.
    pub fn serve(&mut self, site: &Site) {
        let s = self.server.clone();
        let dnsmasq = PodNet::exec(&s, "dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--user=root",
                "--pid-file=",
                &format!("--listen-address={SERVER_V4}"),
                &format!("--address=/{DNS_NAME}/{SERVER_V4}"),
                "--address=/nowhere.test/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq runs");
        self.processes.push(Background(dnsmasq));
        let python = |args: &[String]| {
            let mut cmd = PodNet::exec(&s, "python3");
            cmd.args(args).stdout(Stdio::null());
            Background(cmd.spawn().unwrap())
        };
        let py = |script: &str| root().join("it/py").join(script).display().to_string();
        self.processes.push(python(&[
            py("web.py"),
            SERVER_V4.into(),
            HTTP_PORT.to_string(),
            site.dir.display().to_string(),
        ]));
        self.processes.push(python(&[
            py("traffic.py"),
            "tcp-slow-server".into(),
            SERVER_V4.into(),
            SLOW_PORT.to_string(),
            "1".into(),
        ]));
        self.processes.push(python(&[
            py("traffic.py"),
            "tcp-server".into(),
            SERVER_V4.into(),
            SINK_PORT.to_string(),
        ]));
        let s_server = PodNet::exec(&s, "openssl")
            .current_dir(&site.dir)
            .args(["s_server", "-WWW", "-quiet", "-alpn", "http/1.1"])
            .args(["-accept", &format!("{SERVER_V4}:{TLS_PORT}")])
            .arg("-cert")
            .arg(&site.cert)
            .arg("-key")
            .arg(&site.key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.processes.push(Background(s_server));
        self.wait_listening("-Hlun", 53);
        for port in [HTTP_PORT, TLS_PORT, SLOW_PORT, SINK_PORT] {
            self.wait_listening("-Hltn", port);
        }
    }

    fn wait_listening(&self, flags: &str, port: u16) {
        let want = format!("{SERVER_V4}:{port} ");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.run(&self.server, "ss", &[flags]).contains(&want) {
            assert!(
                Instant::now() < deadline,
                "nothing listens on {SERVER_V4}:{port} ({flags})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.processes.clear();
        for ns in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The servers' files: a test CA and a certificate for `shop.test` it signed, a small
/// page, a 1 MB download; and the client's 2 MB upload.
pub struct Site {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub upload: PathBuf,
}

pub const PAGE: &str = "hello.txt";
pub const DOWNLOAD: &str = "down.bin";

impl Site {
    pub fn make(work: &Path) -> Site {
        let dir = work.join("site");
        std::fs::create_dir(&dir).unwrap();
        let openssl = |args: &str| {
            let args: Vec<&str> = args.split_whitespace().collect();
            let out = Command::new("openssl")
                .current_dir(work)
                .args(&args)
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        openssl(&format!(
            "req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj /CN=podflow-test-CA"
        ));
        openssl(&format!(
            "req {key} -keyout srv.key -out srv.csr -subj /CN={DNS_NAME}"
        ));
        std::fs::write(
            work.join("san.cnf"),
            format!("subjectAltName=DNS:{DNS_NAME}\n"),
        )
        .unwrap();
        openssl(
            "x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
             -extfile san.cnf -out srv.pem",
        );
        std::fs::write(dir.join(PAGE), "hello from the shop\n").unwrap();
        let bytes = |n: usize, seed: u32| -> Vec<u8> {
            // Incompressible enough, and the same every run.
            let mut x = seed;
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        };
        std::fs::write(dir.join(DOWNLOAD), bytes(1_000_000, 7)).unwrap();
        let upload = work.join("upload.bin");
        std::fs::write(&upload, bytes(2_000_000, 11)).unwrap();
        Site {
            dir,
            ca: work.join("ca.pem"),
            cert: work.join("srv.pem"),
            key: work.join("srv.key"),
            upload,
        }
    }
}
