//! The interfaces and addresses of the calling thread's network namespace, asked of the
//! kernel over rtnetlink (`RTM_GETLINK` and `RTM_GETADDR` dumps). Unlike `getifaddrs`, the
//! link dump says what kind of device an interface is and where its peer lives, which is
//! how node mode tells the host ends of pod veth pairs. The message parsers are pure.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{
    recv, sendto, socket_with, sockopt, AddressFamily, RecvFlags, SendFlags, SocketFlags,
    SocketType,
};

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
/// `struct ifinfomsg`.
const IFINFO_LEN: usize = 16;
/// `struct ifaddrmsg`.
const IFADDR_LEN: usize = 8;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_LINK_NETNSID: u16 = 37;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// Attribute types carry two flag bits (nested, byte order) above the type.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One interface of the namespace, as the link dump describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    /// The driver kind (`veth`, `bridge`, `vxlan`, ...); `None` for physical devices.
    pub kind: Option<String>,
    /// `IFLA_LINK`: the peer's (veth) or parent's interface index.
    pub link: Option<u32>,
    /// The peer or parent lives in another network namespace (`IFLA_LINK_NETNSID`).
    pub link_elsewhere: bool,
}

/// The interfaces of the calling thread's network namespace.
pub fn links() -> io::Result<Vec<LinkInfo>> {
    let mut out = Vec::new();
    dump(RTM_GETLINK, IFINFO_LEN, |kind, body| {
        if kind == RTM_NEWLINK {
            out.extend(parse_link(body));
        }
    })?;
    Ok(out)
}

/// The addresses of the calling thread's network namespace: interface index and address.
pub fn addresses() -> io::Result<Vec<(u32, IpAddr)>> {
    let mut out = Vec::new();
    dump(RTM_GETADDR, IFADDR_LEN, |kind, body| {
        if kind == RTM_NEWADDR {
            out.extend(parse_address(body));
        }
    })?;
    Ok(out)
}

/// Sends one dump request (a zeroed family header of `header_len` bytes: every family) and
/// hands each answer's type and body to `each` until the kernel says done.
fn dump(request: u16, header_len: usize, mut each: impl FnMut(u16, &[u8])) -> io::Result<()> {
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE
    )?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(Duration::from_secs(2)))?;
    const SEQ: u32 = 1;
    let msg = request_message(request, header_len, SEQ);
    sendto(&fd, &msg, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, full) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
        if full > n {
            return Err(io::Error::other("netlink answer larger than the buffer"));
        }
        if let Some(end) = read_answer(&buf[..n], SEQ, &mut each) {
            return end;
        }
    }
}

/// Reads one datagram of the answer to request `seq`, handing the type and body of each of
/// its messages to `each`; `Some` once the kernel says the dump is done (or failed).
fn read_answer(
    datagram: &[u8],
    seq: u32,
    each: &mut impl FnMut(u16, &[u8]),
) -> Option<io::Result<()>> {
    for m in messages(datagram) {
        if m.seq != seq {
            continue;
        }
        match m.kind {
            NLMSG_DONE => return Some(Ok(())),
            NLMSG_ERROR => {
                let code = m
                    .body
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap_or_default()));
                if code != 0 {
                    // The kernel sends -errno; i32::MIN has no negation and is no errno.
                    let error = code.checked_neg().map_or_else(
                        || io::Error::other(format!("netlink error code {code}")),
                        io::Error::from_raw_os_error,
                    );
                    return Some(Err(error));
                }
                return Some(Ok(()));
            }
            kind => each(kind, m.body),
        }
    }
    None
}

/// What one datagram of a dump's answer holds, read as [`links`] and [`addresses`] read it.
#[derive(Debug)]
pub struct AnswerPart {
    pub links: Vec<LinkInfo>,
    pub addresses: Vec<(u32, IpAddr)>,
    /// `Some` when the datagram ends the dump: done, or the kernel's error.
    pub end: Option<io::Result<()>>,
}

/// Parses one datagram of the kernel's answer to dump request `seq`. Pure: the entry point
/// of the netlink fuzz target.
pub fn parse_answer(datagram: &[u8], seq: u32) -> AnswerPart {
    let (mut links, mut addresses) = (Vec::new(), Vec::new());
    let end = read_answer(datagram, seq, &mut |kind, body| match kind {
        RTM_NEWLINK => links.extend(parse_link(body)),
        RTM_NEWADDR => addresses.extend(parse_address(body)),
        _ => {}
    });
    AnswerPart {
        links,
        addresses,
        end,
    }
}

/// A dump request: the netlink header and a zeroed family header.
fn request_message(kind: u16, header_len: usize, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDR_LEN + header_len;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.resize(len, 0);
    m
}

/// One netlink message of a datagram.
struct Message<'a> {
    kind: u16,
    seq: u32,
    body: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The messages of a datagram; stops at the first malformed length.
fn messages(mut data: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        let len = u32_at(data, 0)? as usize;
        if len < NLMSG_HDR_LEN || len > data.len() {
            return None;
        }
        let m = Message {
            kind: u16_at(data, 4)?,
            seq: u32_at(data, 8)?,
            body: &data[NLMSG_HDR_LEN..len],
        };
        data = &data[align4(len).min(data.len())..];
        Some(m)
    })
}

/// The attributes (type without flag bits, payload) of a run of rtattrs.
fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16_at(data, 0)? as usize;
        if len < 4 || len > data.len() {
            return None;
        }
        let kind = u16_at(data, 2)? & NLA_TYPE_MASK;
        let payload = &data[4..len];
        data = &data[align4(len).min(data.len())..];
        Some((kind, payload))
    })
}

/// A NUL-terminated attribute string.
fn string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// An `RTM_NEWLINK` body: `ifinfomsg` and attributes.
fn parse_link(body: &[u8]) -> Option<LinkInfo> {
    let index = u32_at(body, 4)?;
    let flags = u32_at(body, 8)?;
    let mut link = LinkInfo {
        index,
        up: flags & IFF_UP != 0,
        loopback: flags & IFF_LOOPBACK != 0,
        ..LinkInfo::default()
    };
    for (kind, payload) in attributes(body.get(IFINFO_LEN..)?) {
        match kind {
            IFLA_IFNAME => link.name = string(payload),
            IFLA_LINK => link.link = u32_at(payload, 0),
            IFLA_LINK_NETNSID => link.link_elsewhere = true,
            IFLA_LINKINFO => {
                link.kind = attributes(payload)
                    .find(|(k, _)| *k == IFLA_INFO_KIND)
                    .map(|(_, p)| string(p));
            }
            _ => {}
        }
    }
    (!link.name.is_empty()).then_some(link)
}

/// An `RTM_NEWADDR` body: `ifaddrmsg` and attributes. IPv4 prefers `IFA_LOCAL` (on
/// point-to-point links `IFA_ADDRESS` is the far end).
fn parse_address(body: &[u8]) -> Option<(u32, IpAddr)> {
    let family = *body.first()?;
    let index = u32_at(body, 4)?;
    let (mut local, mut address) = (None, None);
    for (kind, payload) in attributes(body.get(IFADDR_LEN..)?) {
        let ip = match (family, payload.len()) {
            (AF_INET, 4) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(payload).ok()?)),
            (AF_INET6, 16) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(payload).ok()?)),
            _ => continue,
        };
        match kind {
            IFA_LOCAL => local = Some(ip),
            IFA_ADDRESS => address = Some(ip),
            _ => {}
        }
    }
    Some((index, local.or(address)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize(align4(a.len()), 0);
        a
    }

    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR_LEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m.resize(align4(m.len()), 0);
        m
    }

    fn ifinfo(index: u32, flags: u32) -> Vec<u8> {
        let mut b = vec![0u8; 4];
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b
    }

    #[test]
    fn a_veth_whose_peer_is_elsewhere() {
        let mut body = ifinfo(7, IFF_UP);
        body.extend(attr(IFLA_IFNAME, b"veth-p1\0"));
        body.extend(attr(IFLA_LINK, &2u32.to_ne_bytes()));
        body.extend(attr(IFLA_LINK_NETNSID, &0i32.to_ne_bytes()));
        // IFLA_LINKINFO is nested: the flag bit 0x8000 must not hide its type.
        body.extend(attr(
            IFLA_LINKINFO | 0x8000,
            &attr(IFLA_INFO_KIND, b"veth\0"),
        ));
        body.extend(attr(999, b"whatever"));
        let data = [
            message(RTM_NEWLINK, 1, &body),
            message(NLMSG_DONE, 1, &[0; 4]),
        ]
        .concat();
        let msgs: Vec<_> = messages(&data).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[1].kind, NLMSG_DONE);
        let link = parse_link(msgs[0].body).unwrap();
        assert_eq!(
            link,
            LinkInfo {
                index: 7,
                name: "veth-p1".into(),
                up: true,
                loopback: false,
                kind: Some("veth".into()),
                link: Some(2),
                link_elsewhere: true,
            }
        );
    }

    #[test]
    fn addresses_prefer_the_local_one() {
        let mut v4 = vec![AF_INET, 24, 0, 0];
        v4.extend_from_slice(&3u32.to_ne_bytes());
        v4.extend(attr(IFA_ADDRESS, &[10, 0, 0, 1]));
        v4.extend(attr(IFA_LOCAL, &[10, 0, 0, 2]));
        assert_eq!(parse_address(&v4), Some((3, "10.0.0.2".parse().unwrap())));
        let mut v6 = vec![AF_INET6, 64, 0, 0];
        v6.extend_from_slice(&4u32.to_ne_bytes());
        v6.extend(attr(
            IFA_ADDRESS,
            &"fd00::5".parse::<Ipv6Addr>().unwrap().octets(),
        ));
        assert_eq!(parse_address(&v6), Some((4, "fd00::5".parse().unwrap())));
    }

    #[test]
    fn garbage_never_panics() {
        for data in [
            &[][..],
            &[1, 2, 3],
            &[200, 0, 0, 0, 1, 2],
            &[16, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(messages(data).count(), 0);
            assert!(parse_link(data).is_none());
            assert!(parse_address(data).is_none());
            let _ = attributes(data).count();
        }
        // An attribute longer than its message is not read past the end.
        let mut body = ifinfo(1, 0);
        body.extend_from_slice(&[40, 0, 3, 0, b'x']);
        assert!(parse_link(&body).is_none());
    }

    #[test]
    fn error_answers_end_the_dump() {
        let enodev = message(NLMSG_ERROR, 7, &(-19i32).to_ne_bytes());
        let end = parse_answer(&enodev, 7).end.unwrap().unwrap_err();
        assert_eq!(end.raw_os_error(), Some(19));
        assert!(
            parse_answer(&enodev, 8).end.is_none(),
            "another request's answer"
        );
        // The fuzzer's find: an error code of i32::MIN, whose negation overflowed.
        let mut found = message(NLMSG_ERROR, 7, &i32::MIN.to_ne_bytes());
        found.extend(message(RTM_NEWLINK, 7, &ifinfo(1, IFF_UP)));
        let end = parse_answer(&found, 7).end.unwrap().unwrap_err();
        assert!(end.to_string().contains("-2147483648"), "{end}");
        let done = message(NLMSG_DONE, 7, &[0; 4]);
        assert!(parse_answer(&done, 7).end.unwrap().is_ok());
    }

    #[test]
    fn this_namespace_has_a_loopback() {
        let links = links().unwrap();
        let lo = links
            .iter()
            .find(|l| l.loopback)
            .expect("a loopback interface");
        assert_eq!(lo.name, "lo");
        assert!(lo.kind.is_none() || lo.kind.as_deref() == Some("loopback"));
        let addrs = addresses().unwrap();
        assert!(
            addrs.contains(&(lo.index, IpAddr::V4(Ipv4Addr::LOCALHOST))),
            "{addrs:?}"
        );
    }
}
