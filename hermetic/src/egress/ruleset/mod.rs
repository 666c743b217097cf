//! The nftables rules of a job network, built as typed `nft -j` JSON with the `nftables` crate.
//!
//! In the job namespace, table `inet hrun`:
//!
//! ```text
//! forward (policy drop): ct state established,related accept
//!                        ct state invalid drop
//!                        iifname <guest side> jump guest        (new traffic from the uplink: dropped)
//! guest:   tcp/udp dport 53 log "hrun dns-bypass"   drop   (accept in audit mode)
//!          ip daddr @allow4 | ip daddr . th dport @allow4_port   log "hrun allow" accept
//!          ip daddr @dns4   | ip daddr . th dport @dns4_port     log "hrun allow-dns" accept
//!          (the same for IPv6)
//!          log "hrun deny" drop                            (log "hrun audit" accept in audit mode)
//! input (policy drop):   established,related, lo, ICMP/ICMPv6, and DNS from the guest side
//! ```
//!
//! Every rule that decides a new connection logs it to NFLOG group [`LOG_GROUP`] with a prefix
//! naming the verdict ([`LogClass`]); [`nflog`](super::nflog) reads them. The static sets hold
//! the allowlist's networks; the `dns*` sets are filled by the resolver with a timeout equal to
//! the record's TTL. In the uplink namespace, table `inet hrun-<pid>-<slot>` masquerades the
//! guest's addresses when they leave by another interface than the job's veth.
//!
//! Must never: accept a new connection without logging it, or let DNS reach any resolver but
//! hrun's while blocking.

mod expr;
mod learned;
mod nft;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nftables::batch::Batch;
use nftables::expr::{Expression, MetaKey};
use nftables::schema::{Chain, NfListObject, Nftables, Rule};
use nftables::stmt::{JumpTarget, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::allowlist::AllowEntry;
use super::policy::EgressPolicy;
use expr::{
    anonymous_set, base_chain, concat, ct_state, log, matches, meta, network, payload, rule, s,
    set, table, tcp_or_udp,
};
pub(crate) use learned::{add_learned, Learned};
pub(crate) use nft::{apply, list_inet_tables};

/// The job namespace's table.
pub(crate) const JOB_TABLE: &str = "hrun";
/// The NFLOG group the job's rules log to (NFLOG groups are per namespace).
pub(crate) const LOG_GROUP: u16 = 1;
/// Bytes of each logged packet copied to the reader: enough for the IPv6 and transport headers.
pub(crate) const LOG_SNAPLEN: u32 = 128;

/// Why a rule logged a packet; carried as the NFLOG prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LogClass {
    /// Allowed by a network of the allowlist.
    Allow,
    /// Allowed as an address the resolver answered for an allowlisted name.
    AllowDns,
    /// Not allowed, dropped.
    Deny,
    /// Not allowed, let through (audit mode).
    Audit,
    /// DNS to a resolver other than hrun's.
    DnsBypass,
}

impl LogClass {
    pub fn prefix(self) -> &'static str {
        match self {
            LogClass::Allow => "hrun allow",
            LogClass::AllowDns => "hrun allow-dns",
            LogClass::Deny => "hrun deny",
            LogClass::Audit => "hrun audit",
            LogClass::DnsBypass => "hrun dns-bypass",
        }
    }

    pub fn from_prefix(prefix: &str) -> Option<Self> {
        [
            LogClass::Allow,
            LogClass::AllowDns,
            LogClass::Deny,
            LogClass::Audit,
            LogClass::DnsBypass,
        ]
        .into_iter()
        .find(|class| class.prefix() == prefix)
    }
}

/// One of the job table's sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SetId {
    v6: bool,
    learned: bool,
    with_port: bool,
}

impl SetId {
    pub fn new(v6: bool, learned: bool, with_port: bool) -> Self {
        SetId {
            v6,
            learned,
            with_port,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match (self.learned, self.v6, self.with_port) {
            (false, false, false) => "allow4",
            (false, false, true) => "allow4_port",
            (false, true, false) => "allow6",
            (false, true, true) => "allow6_port",
            (true, false, false) => "dns4",
            (true, false, true) => "dns4_port",
            (true, true, false) => "dns6",
            (true, true, true) => "dns6_port",
        }
    }

    fn all() -> impl Iterator<Item = SetId> {
        (0..8u8).map(|bits| SetId::new(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0))
    }
}

/// The job namespace's ruleset for `policy`, with the guest on interface `guest_if`.
pub(crate) fn job_ruleset(policy: &EgressPolicy, guest_if: &str) -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.add(table(JOB_TABLE));
    for id in SetId::all() {
        let elements = if id.learned {
            Vec::new()
        } else {
            static_elements(policy, id)
        };
        batch.add(set(id, elements));
    }
    batch.add(base_chain(
        JOB_TABLE,
        "forward",
        NfChainType::Filter,
        NfHook::Forward,
        0,
        NfChainPolicy::Drop,
    ));
    batch.add(base_chain(
        JOB_TABLE,
        "input",
        NfChainType::Filter,
        NfHook::Input,
        0,
        NfChainPolicy::Drop,
    ));
    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::INet,
        table: JOB_TABLE.into(),
        name: "guest".into(),
        ..Chain::default()
    }));
    let established = || {
        matches(
            ct_state(),
            Operator::IN,
            Expression::List(vec![s("established"), s("related")]),
        )
    };
    let from_guest = || {
        matches(
            meta(MetaKey::Iifname),
            Operator::EQ,
            s(guest_if.to_string()),
        )
    };

    batch.add(rule(
        "forward",
        vec![established(), Statement::Accept(None)],
    ));
    batch.add(rule(
        "forward",
        vec![
            matches(ct_state(), Operator::IN, s("invalid")),
            Statement::Drop(None),
        ],
    ));
    batch.add(rule(
        "forward",
        vec![
            from_guest(),
            Statement::Jump(JumpTarget {
                target: "guest".into(),
            }),
        ],
    ));

    let (outside_verdict, outside_class, bypass_verdict) = if policy.mode.blocks() {
        (Statement::Drop(None), LogClass::Deny, Statement::Drop(None))
    } else {
        (
            Statement::Accept(None),
            LogClass::Audit,
            Statement::Accept(None),
        )
    };
    batch.add(rule(
        "guest",
        vec![
            tcp_or_udp(),
            matches(payload("th", "dport"), Operator::EQ, Expression::Number(53)),
            log(LogClass::DnsBypass),
            bypass_verdict,
        ],
    ));
    for learned in [false, true] {
        let class = if learned {
            LogClass::AllowDns
        } else {
            LogClass::Allow
        };
        for v6 in [false, true] {
            let daddr = if v6 {
                payload("ip6", "daddr")
            } else {
                payload("ip", "daddr")
            };
            let any_port = SetId::new(v6, learned, false);
            batch.add(rule(
                "guest",
                vec![
                    matches(
                        daddr.clone(),
                        Operator::EQ,
                        s(format!("@{}", any_port.name())),
                    ),
                    log(class),
                    Statement::Accept(None),
                ],
            ));
            let with_port = SetId::new(v6, learned, true);
            batch.add(rule(
                "guest",
                vec![
                    tcp_or_udp(),
                    matches(
                        concat(vec![daddr, payload("th", "dport")]),
                        Operator::EQ,
                        s(format!("@{}", with_port.name())),
                    ),
                    log(class),
                    Statement::Accept(None),
                ],
            ));
        }
    }
    batch.add(rule("guest", vec![log(outside_class), outside_verdict]));

    batch.add(rule("input", vec![established(), Statement::Accept(None)]));
    batch.add(rule(
        "input",
        vec![
            matches(meta(MetaKey::Iifname), Operator::EQ, s("lo")),
            Statement::Accept(None),
        ],
    ));
    batch.add(rule(
        "input",
        vec![
            matches(
                meta(MetaKey::L4proto),
                Operator::IN,
                anonymous_set(&["icmp", "ipv6-icmp"]),
            ),
            Statement::Accept(None),
        ],
    ));
    batch.add(rule(
        "input",
        vec![
            from_guest(),
            tcp_or_udp(),
            matches(payload("th", "dport"), Operator::EQ, Expression::Number(53)),
            Statement::Accept(None),
        ],
    ));
    batch.to_nftables()
}

fn static_elements(policy: &EgressPolicy, id: SetId) -> Vec<Expression<'static>> {
    policy
        .allow
        .iter()
        .filter_map(|entry| match entry {
            AllowEntry::Network { net, port } => {
                let family_fits = matches!(net, IpNet::V6(_)) == id.v6;
                (family_fits && port.is_some() == id.with_port).then(|| match port {
                    Some(port) => concat(vec![network(*net), Expression::Number(u32::from(*port))]),
                    None => network(*net),
                })
            }
            AllowEntry::Name { .. } => None,
        })
        .collect()
}

/// The uplink namespace's table `table_name`: masquerade of the guest's addresses leaving by
/// any interface but `uplink_if` (the job's veth).
pub(crate) fn uplink_ruleset(
    table_name: &str,
    uplink_if: &str,
    guest4: Ipv4Net,
    guest6: Option<Ipv6Net>,
) -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.add(table(table_name));
    batch.add(base_chain(
        table_name,
        "postrouting",
        NfChainType::NAT,
        NfHook::Postrouting,
        100,
        NfChainPolicy::Accept,
    ));
    let mut sources = vec![(payload("ip", "saddr"), IpNet::V4(guest4))];
    if let Some(guest6) = guest6 {
        sources.push((payload("ip6", "saddr"), IpNet::V6(guest6)));
    }
    for (saddr, net) in sources {
        batch.add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: table_name.to_string().into(),
            chain: "postrouting".into(),
            expr: vec![
                matches(saddr, Operator::EQ, network(net)),
                matches(
                    meta(MetaKey::Oifname),
                    Operator::NEQ,
                    s(uplink_if.to_string()),
                ),
                Statement::Masquerade(None),
            ]
            .into(),
            handle: None,
            index: None,
            comment: None,
        }));
    }
    batch.to_nftables()
}

/// Deletes table `inet name`.
pub(crate) fn delete_table(name: &str) -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.delete(table(name));
    batch.to_nftables()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::policy::EgressMode;

    fn json(ruleset: &Nftables<'_>) -> String {
        serde_json::to_string(ruleset).unwrap()
    }

    #[test]
    fn static_sets_hold_the_allowlists_networks_by_family_and_port() {
        let policy = EgressPolicy::parse(
            EgressMode::Block,
            [
                "10.1.0.0/16",
                "10.1.2.3:443",
                "[2001:db8::/32]:443",
                "example.org",
            ],
        )
        .unwrap();
        let v4 = static_elements(&policy, SetId::new(false, false, false));
        let v4_port = static_elements(&policy, SetId::new(false, false, true));
        let v6 = static_elements(&policy, SetId::new(true, false, false));
        let v6_port = static_elements(&policy, SetId::new(true, false, true));
        assert_eq!(v4.len(), 1);
        assert_eq!(v4_port.len(), 1);
        assert!(v6.is_empty());
        assert_eq!(v6_port.len(), 1);
        let text = serde_json::to_string(&v6_port).unwrap();
        assert!(
            text.contains("2001:db8::") && text.contains("443"),
            "{text}"
        );
    }

    #[test]
    fn blocking_ruleset_drops_by_default_and_logs_every_decision() {
        let policy = EgressPolicy::parse(EgressMode::Block, ["10.1.0.0/16"]).unwrap();
        let text = json(&job_ruleset(&policy, "tap0"));
        assert!(
            text.contains(r#""hook":"forward","prio":0,"policy":"drop""#),
            "{text}"
        );
        assert!(text.contains(r#""prefix":"hrun deny","group":1"#), "{text}");
        assert!(!text.contains("hrun audit"));
        // Every accepting rule of the guest chain logs first.
        let ruleset = job_ruleset(&policy, "tap0");
        for object in ruleset.objects.iter() {
            let nftables::schema::NfObject::CmdObject(nftables::schema::NfCmd::Add(
                NfListObject::Rule(rule),
            )) = object
            else {
                continue;
            };
            if rule.chain == "guest" {
                assert!(
                    rule.expr
                        .iter()
                        .any(|stmt| matches!(stmt, Statement::Log(_))),
                    "unlogged rule {rule:?}"
                );
            }
        }
    }

    #[test]
    fn audit_ruleset_logs_and_accepts_what_is_not_allowed() {
        let policy = EgressPolicy::parse(EgressMode::Audit, ["10.1.0.0/16"]).unwrap();
        let text = json(&job_ruleset(&policy, "gw0"));
        assert!(text.contains(r#""prefix":"hrun audit""#), "{text}");
        assert!(!text.contains("hrun deny"));
    }

    #[test]
    fn log_prefixes_read_back_as_their_class() {
        for class in [
            LogClass::Allow,
            LogClass::AllowDns,
            LogClass::Deny,
            LogClass::Audit,
            LogClass::DnsBypass,
        ] {
            assert_eq!(LogClass::from_prefix(class.prefix()), Some(class));
        }
        assert_eq!(LogClass::from_prefix("other"), None);
    }
}
