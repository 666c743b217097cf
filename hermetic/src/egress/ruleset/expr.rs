//! Small constructors for the `nftables` crate's expressions and statements, so that the
//! rulesets read close to `nft` syntax.

use std::borrow::Cow;
use std::collections::HashSet;

use ipnet::IpNet;
use nftables::expr::{
    Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, SetItem, CT,
};
use nftables::schema::{Chain, NfListObject, Rule, Set, SetFlag, SetType, SetTypeValue, Table};
use nftables::stmt::{Log, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{LogClass, SetId, JOB_TABLE, LOG_GROUP, LOG_SNAPLEN};

pub(super) fn s(text: impl Into<Cow<'static, str>>) -> Expression<'static> {
    Expression::String(text.into())
}

pub(super) fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

pub(super) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

pub(super) fn ct_state() -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: "state".into(),
        family: None,
        dir: None,
    }))
}

pub(super) fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

pub(super) fn anonymous_set(items: &[&'static str]) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        items
            .iter()
            .map(|item| SetItem::Element(s(*item)))
            .collect(),
    ))
}

pub(super) fn tcp_or_udp() -> Statement<'static> {
    matches(
        meta(MetaKey::L4proto),
        Operator::IN,
        anonymous_set(&["tcp", "udp"]),
    )
}

pub(super) fn log(class: LogClass) -> Statement<'static> {
    let mut log = Log::new(Some(u32::from(LOG_GROUP)));
    log.prefix = Some(class.prefix().into());
    log.snaplen = Some(LOG_SNAPLEN);
    log.queue_threshold = Some(1);
    Statement::Log(Some(log))
}

pub(super) fn network(net: IpNet) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(net.addr().to_string())),
        len: u32::from(net.prefix_len()),
    }))
}

pub(super) fn concat(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(items))
}

pub(super) fn rule(chain: &'static str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::INet,
        table: JOB_TABLE.into(),
        chain: chain.into(),
        expr: expr.into(),
        handle: None,
        index: None,
        comment: None,
    })
}

pub(super) fn base_chain(
    table: &str,
    name: &'static str,
    kind: NfChainType,
    hook: NfHook,
    prio: i32,
    policy: NfChainPolicy,
) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NfFamily::INet,
        table: table.to_string().into(),
        name: name.into(),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(policy),
        ..Chain::default()
    })
}

pub(super) fn table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::INet,
        name: name.to_string().into(),
        handle: None,
    })
}

pub(super) fn set(id: SetId, elements: Vec<Expression<'static>>) -> NfListObject<'static> {
    let address = if id.v6 {
        SetType::Ipv6Addr
    } else {
        SetType::Ipv4Addr
    };
    let set_type = if id.with_port {
        SetTypeValue::Concatenated(vec![address, SetType::InetService].into())
    } else {
        SetTypeValue::Single(address)
    };
    let flag = if id.learned {
        SetFlag::Timeout
    } else {
        SetFlag::Interval
    };
    NfListObject::Set(Box::new(Set {
        family: NfFamily::INet,
        table: JOB_TABLE.into(),
        name: id.name().into(),
        set_type,
        flags: Some(HashSet::from([flag])),
        elem: (!elements.is_empty()).then(|| elements.into()),
        ..Set::default()
    }))
}
